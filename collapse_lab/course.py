"""Execute the course headless: every lecture notebook -> HTML with its figures, a timing table and a home page.

The build keeps going when a chapter fails: the failed notebook is still written (executed ``.ipynb`` and HTML, its
error visible), the home page and the timing table mark it failed, and :func:`build` reports it in its rows so the
command line can exit non-zero at the end. Math in every page is rendered by the MathJax copy that the
``jupyter-server-mathjax`` package ships, copied into ``build/mathjax/``: the pages need no network.
"""
from __future__ import annotations

import csv
import html
import io
import json
import os
import platform
import re
import shutil
import time
from pathlib import Path

import nbformat

from . import validate
from .profiles import active_profile
from .runtime import progress

MATHJAX_DIR = "mathjax"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
STATUSES = ("passed", "failed")


def run_notebook(nb: nbformat.NotebookNode, cwd, env: dict, timeout: int = 3600, allow_errors: bool = False) -> float:
    """Execute ``nb`` in place in a fresh ``python3`` kernel started in ``cwd``, with ``env`` added to the
    kernel's environment; return the seconds it took. The caller's environment is restored afterwards."""
    from nbclient import NotebookClient

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    t0 = time.perf_counter()
    try:
        # interrupt a cell that runs too long instead of giving up on the notebook (matters when grading);
        # the kernel's log level keeps its 'TCP without encryption' warning (local loopback only) off the console
        NotebookClient(nb, timeout=timeout, allow_errors=allow_errors, interrupt_on_timeout=allow_errors,
                       kernel_name="python3", extra_arguments=["--IPKernelApp.log_level=ERROR"],
                       resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return time.perf_counter() - t0


def _course_env(profile: str, figdir=None) -> dict:
    # quiet: a progress bar saved mid-run in the HTML would look like a hung cell
    env = {"COLLAPSE_LAB_PROFILE": active_profile(profile), "COLLAPSE_LAB_STATIC": "1", "COLLAPSE_LAB_QUIET": "1",
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    if figdir is not None:
        env["COLLAPSE_LAB_FIGDIR"] = str(Path(figdir).resolve())
    return env


def execute(path, profile: str, figdir=None, timeout: int = 3600) -> tuple[nbformat.NotebookNode, float]:
    """Execute one notebook in its own folder under ``profile``; return the executed notebook and its seconds.
    A failing cell raises (nbclient's ``CellExecutionError``); the notebook passed in keeps the outputs so far."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    return nb, run_notebook(nb, path.parent, _course_env(profile, figdir), timeout=timeout)


# --------------------------------------------------------------------------------------------- the build
def build(notebooks_dir="notebooks", out="build", profile: str | None = None, only=None,
          timeout: int = 3600) -> list[dict]:
    """Execute every ``notebooks/*.ipynb`` (or those whose name contains one of ``only``) into ``out``.

    Writes ``out/NN_name.html`` and ``out/NN_name.ipynb`` (executed), figures into ``out/figures/NN_name/``,
    ``out/timings.md`` and ``out/timings.csv`` (notebook, seconds, profile, status), the exercises as HTML in
    ``out/exercises/``, the instructor guide as ``out/instructors.html`` (when ``docs/instructors.md`` exists beside
    ``notebooks_dir``) and the course home page ``out/index.html``.

    A chapter that fails does not stop the build: its executed notebook and HTML are written with the error
    visible (and a banner at the top of the page), its row has ``status == "failed"`` and ``error`` (the first line
    of the error and the failing cell's number). Returns one row per notebook run:
    ``{"notebook", "seconds", "profile", "status", "error"}``. ``timeout``: seconds per cell.
    """
    profile = active_profile(profile)
    src, out = Path(notebooks_dir), Path(out)
    if not src.is_dir():
        raise ValueError(f"notebooks_dir {src} is not a folder (run from the course folder, or pass --notebooks)")
    if only is not None and (isinstance(only, str) or not all(isinstance(o, str) for o in only)):
        raise TypeError(f"only must be a list of strings; got {only!r}")
    paths = sorted(src.glob("[0-9]*.ipynb"))
    if only:
        paths = [p for p in paths if any(o in p.name for o in only)]
    if not paths:
        raise ValueError(f"no notebooks to run in {src} (only={only})")
    out.mkdir(parents=True, exist_ok=True)
    install_mathjax(out)
    records = _previous_records(out, profile)
    rows = []
    try:
        for p in progress(paths, desc=f"course · {profile}", disable=False, leave=True):
            print(f"running {p.name} ({profile}) ...", flush=True)
            row = _build_one(p, out, profile, timeout)
            rows.append(row)
            records[p.name] = row
            _write_records(out, records)
            print(f"  {p.name}: {row['seconds']:.1f} s" + ("" if row["status"] == "passed" else
                                                          f"  FAILED: {row['error']}"), flush=True)
    finally:
        _write_timings(out, rows)
        write_home(src, out, profile, records)
    return rows


def _build_one(path: Path, out: Path, profile: str, timeout: int) -> dict:
    figdir = out / "figures" / path.stem
    if figdir.is_dir():  # figures of an earlier build must not pass for this one's
        shutil.rmtree(figdir)
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    error = ""
    try:
        run_notebook(nb, path.parent, _course_env(profile, figdir), timeout=timeout)
    except Exception as e:  # noqa: BLE001 - any failure of a chapter is reported, and the build goes on
        error = _describe_failure(nb, e)
    secs = time.perf_counter() - t0
    nbformat.write(nb, out / path.name)
    page = nb
    if error:
        page = nbformat.from_dict(json.loads(json.dumps(nb)))  # the banner goes into the HTML only
        page.cells.insert(0, nbformat.v4.new_markdown_cell(
            f"<div style='border:2px solid #c0392b;padding:8px;background:#fdecea'><b>This chapter failed in the "
            f"{profile} profile:</b> {html.escape(error)}. The error is shown below the failing cell; the cells "
            "after it did not run.</div>"))
    (out / f"{path.stem}.html").write_text(notebook_html(page), encoding="utf-8")
    return {"notebook": path.name, "seconds": round(secs, 1), "profile": profile,
            "status": "failed" if error else "passed", "error": error}


def _describe_failure(nb, exc: Exception) -> str:
    """One line: the failing cell's number and the error's first line (from the notebook's error output)."""
    for i, cell in enumerate(nb.cells):
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                first = f"{o.get('ename', '')}: {o.get('evalue', '')}".strip(": ").splitlines()
                return f"cell {i + 1}: {first[0] if first else 'error'}"
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _previous_records(out: Path, profile: str) -> dict:
    """Rows of earlier builds into the same folder and profile (so ``--only`` keeps the other chapters listed)."""
    f = out / "course.json"
    try:
        old = json.loads(f.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in old.items() if isinstance(v, dict) and v.get("profile") == profile
            and (out / f"{Path(k).stem}.html").exists()}


def _write_records(out: Path, records: dict) -> None:
    (out / "course.json").write_text(json.dumps(records, indent=1, sort_keys=True))


def _notebook(name: str, nb):
    """``nb`` checked to be a notebook as nbformat reads it (a mapping with a list of ``cells``)."""
    if not (hasattr(nb, "get") and isinstance(nb.get("cells"), list)):
        raise validate.ArgumentError(f"{name} must be a notebook (nbformat.read(path, as_version=4)); got "
                                     f"{type(nb).__name__}")
    return nb if isinstance(nb, nbformat.NotebookNode) else nbformat.from_dict(nb)


def _depth(depth) -> int:
    return validate.integer("depth", depth, 0, 100)


def failed(rows: list[dict]) -> list[dict]:
    """The rows of chapters that failed."""
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, dict) for r in rows):
        raise validate.ArgumentError(f"rows must be a list of dicts (the rows build() returns); got {rows!r:.80}")
    return [r for r in rows if r.get("status") != "passed"]


# ------------------------------------------------------------------------------------------ math, offline
def mathjax_source() -> Path | None:
    """The MathJax 2.7 folder shipped by the ``jupyter-server-mathjax`` package, or None when it is missing."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        return None
    d = Path(jupyter_server_mathjax.__file__).parent / "static"
    return d if (d / "MathJax.js").is_file() else None


def install_mathjax(out) -> bool:
    """Copy MathJax into ``out/mathjax`` (once); False (pages then fall back to the CDN) when it is not installed."""
    src, dest = mathjax_source(), validate.path("out", out, kind="dir") / MATHJAX_DIR
    if src is None:
        print("note: jupyter-server-mathjax is not installed; the pages load MathJax from the internet")
        return False
    if not (dest / "MathJax.js").is_file():
        # other languages' menus and the SVG output are never used by these pages: 5 MB less to copy
        shutil.copytree(src, dest, dirs_exist_ok=True,
                        ignore=lambda d, names: [n for n in names if (Path(d).name == "localization" and n != "en")
                                                 or (Path(d).name == "output" and n == "SVG")])
    return True


def mathjax_url(depth: int = 0) -> str:
    """The MathJax URL for a page ``depth`` folders below the build folder (the CDN when no local copy exists)."""
    depth = _depth(depth)
    if mathjax_source() is None:
        return f"https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/latest.js?config={MATHJAX_CONFIG}"
    return "../" * depth + f"{MATHJAX_DIR}/MathJax.js?config={MATHJAX_CONFIG}"


# jupyter-server-mathjax ships the STIX web fonts only: say so, or MathJax first asks for its TeX fonts (404s)
_FONTS = ("<script type='text/x-mathjax-config'>MathJax.Hub.Config({'HTML-CSS': {availableFonts: [], "
          "webFont: 'STIX-Web', imageFont: null}});</script>")


def _mathjax_head(depth: int = 0) -> str:
    # the same configuration as nbconvert's pages: $...$ inline, $$...$$ displayed
    return (f"<script src='{mathjax_url(depth)}'></script><script type='text/x-mathjax-config'>"
            "MathJax.Hub.Config({tex2jax: {inlineMath: [['$','$'], ['\\\\(','\\\\)']], displayMath: [['$$','$$'], "
            "['\\\\[','\\\\]']], processEscapes: true}, messageStyle: 'none'});</script>"
            + (_FONTS if mathjax_source() is not None else ""))


def notebook_html(nb, depth: int = 0) -> str:
    """A notebook as a standalone HTML page whose math renders offline (see :func:`install_mathjax`)."""
    from nbconvert import HTMLExporter

    nb, depth = _notebook("nb", nb), _depth(depth)
    body, _ = HTMLExporter(mathjax_url=mathjax_url(depth)).from_notebook_node(nb)
    # require.js (from a CDN) only serves live widgets, which a built page never has (COLLAPSE_LAB_STATIC=1):
    # without it the page loads nothing from the internet
    body = re.sub(r"<script[^>]*src=\"https://[^\"]*/require(\.min)?\.js\"[^>]*>\s*</script>\n?", "", body)
    if mathjax_source() is not None:
        body = body.replace("</head>", _FONTS + "\n</head>", 1)
    return body


# ------------------------------------------------------------------------------------ what a notebook says
def describe(nb) -> dict:
    """What a lecture notebook says about itself, read from its Markdown (missing parts are empty).

    ``title``: the first heading, without a leading "Chapter N" label; ``summary``: the first sentence of the
    first paragraph after it; ``objectives``: the bullet or numbered items under the first heading (or bold
    line) containing "objective"; ``time``: the line that states the expected time (a line with "time" and
    "min" or "hour"), or "".
    """
    nb = _notebook("nb", nb)
    md = [c.source for c in nb.cells if c.cell_type == "markdown"]
    lines = "\n".join(md).splitlines()
    title, summary, objectives, time_line = "", "", [], ""
    for i, ln in enumerate(lines):
        m = re.match(r"\s{0,3}#{1,6}\s+(.*)", ln)
        if m and not title:
            title = re.sub(r"^(chapter|part)\s+\w+\s*[·:.\-–—]\s*", "", m.group(1).strip(), flags=re.I)
            summary = _first_sentence(lines[i + 1:])
    for i, ln in enumerate(lines):
        heading = re.match(r"\s{0,3}(#{1,6}\s+|\*\*|__)(.*)", ln)
        if heading and "objective" in heading.group(2).lower():
            objectives = _items(lines[i + 1:])
            if objectives:
                break
    for ln in lines:
        low = ln.lower()
        if ("time" in low or "takes" in low) and re.search(r"\d+\s*(min|minutes|h\b|hour)", low):
            time_line = _plain(ln.strip(" >-*#"))
            break
    title = _plain(title)
    return {"title": title[:1].upper() + title[1:], "summary": summary, "objectives": objectives, "time": time_line}


def _plain(text: str) -> str:
    """Markdown emphasis and links reduced to their text (math kept as is)."""
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)", r"\1", text)
    return re.sub(r"<[^>]+>", "", text).strip()


_ABBREV = re.compile(r"(\b(et al|e\.g|i\.e|Fig|Figs|Eq|Sec|vs|cf|No|approx)|\b[A-Z])\.$")


def _first_sentence(lines: list[str]) -> str:
    """The summary: a paragraph that announces itself ("In one sentence", "Summary", a blockquote) if there is
    one, else the first sentence of the first paragraph."""
    paras, para = [], []
    for ln in lines:
        if re.match(r"\s{0,3}#", ln) or re.match(r"\s*([-*+]|\d+[.)])\s", ln) or ln.strip().startswith("|") \
                or not ln.strip():
            if para:
                paras.append(para)
                para = []
            if re.match(r"\s{0,3}#", ln) and paras:
                break
            continue
        para.append(ln.strip())
    if para:
        paras.append(para)
    if not paras:
        return ""
    texts = [_plain(" ".join(p)) for p in paras]
    for p, t in zip(paras, texts):
        m = re.match(r"(>\s*)?(in one sentence|summary|in short)\s*[:.\-–—]\s*(.+)", t, re.I)
        if m:
            return _clip(m.group(3))
        if p[0].startswith(">"):
            return _clip(t.lstrip("> ").replace(" > ", " "))
    text = texts[0]
    for m in re.finditer(r"[.!?](?=\s+[A-Z(\"*]|$)", text):
        if m.end() >= 20 and not _ABBREV.search(text[:m.end()]):
            return _clip(text[:m.end()])
    return _clip(text)


def _clip(text: str, n: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= n else text[:n - 3].rsplit(" ", 1)[0] + " ..."


def _items(lines: list[str]) -> list[str]:
    items: list[str] = []
    for ln in lines:
        m = re.match(r"\s*([-*+]|\d+[.)])\s+(.*)", ln)
        if m:
            items.append(m.group(2).strip())
        elif items and ln.strip() and ln.startswith((" ", "\t")):
            items[-1] += " " + ln.strip()  # a wrapped item
        elif items or re.match(r"\s{0,3}#", ln):
            break
    return [_plain(x) for x in items]


# ------------------------------------------------------------------------------------------ the home page
def _exercise_for(stem: str, exercises_dir: Path) -> Path | None:
    exact = exercises_dir / f"{stem}.ipynb"
    if exact.is_file():
        return exact
    m = re.match(r"(\d+)", stem)  # 05a_... and 05b_... share the exercises of chapter 05
    same = sorted(exercises_dir.glob(f"{m.group(1)}*.ipynb")) if m else []
    return same[0] if same else None


def _thumbnails(out: Path, stem: str) -> list[tuple[str, str]]:
    """(figure, thumbnail) paths relative to ``out`` for a chapter's saved figures, in the order they were drawn."""
    figdir = out / "figures" / stem
    if not figdir.is_dir():
        return []
    pngs = sorted(figdir.glob("*.png"), key=lambda p: (p.stat().st_mtime, p.name))
    result = []
    for png in pngs:
        thumb = out / "figures" / "thumbs" / stem / png.name
        if not thumb.exists() or thumb.stat().st_mtime < png.stat().st_mtime:
            try:
                from PIL import Image

                thumb.parent.mkdir(parents=True, exist_ok=True)
                with Image.open(png) as im:
                    im.thumbnail((360, 240))
                    im.save(thumb)
            except (ImportError, OSError):
                thumb = png
        result.append((png.relative_to(out).as_posix(), thumb.relative_to(out).as_posix()))
    return result


def _count_exercises(nb) -> int:
    return sum(1 for c in nb.cells if c.cell_type == "code" and re.search(r"^\s*checks\.\w+\.\w+\(", c.source, re.M))


def write_home(notebooks_dir, out, profile: str, records: dict) -> Path:
    """Write ``out/index.html``: one card per lecture notebook of ``notebooks_dir`` (title, summary, objectives,
    figure thumbnails, minutes, status, links to the executed chapter and its exercises) and the instructor guide."""
    src = validate.path("notebooks_dir", notebooks_dir, kind="dir", must_exist=True)
    out = validate.path("out", out, kind="dir")
    profile = active_profile(profile)
    if not isinstance(records, dict):
        raise validate.ArgumentError(f"records must be a dict notebook name -> row; got {type(records).__name__}")
    root = src.resolve().parent
    exercises_dir = root / "exercises"
    guide = _write_guide(root / "docs" / "instructors.md", out)
    cards, total = [], 0.0
    for p in sorted(src.glob("[0-9]*.ipynb")):
        rec = records.get(p.name)
        try:
            info = describe(nbformat.read(out / p.name if rec else p, as_version=4))
        except (OSError, ValueError):
            info = {"title": p.stem, "summary": "", "objectives": [], "time": ""}
        status = rec["status"] if rec else "not run"
        total += rec["seconds"] if rec else 0.0
        ex = _exercise_for(p.stem, exercises_dir)
        links = [f"<a href='{html.escape(p.stem)}.html'>read the executed chapter</a>"] if rec else []
        if ex is not None:
            exnb = nbformat.read(ex, as_version=4)
            (out / "exercises").mkdir(exist_ok=True)
            expage = out / "exercises" / f"{ex.stem}.html"
            if not expage.exists() or expage.stat().st_mtime < ex.stat().st_mtime:
                expage.write_text(notebook_html(exnb, depth=1), encoding="utf-8")
            n = _count_exercises(exnb)
            rel = os.path.relpath(ex.resolve(), out.resolve())
            links.append(f"<a href='exercises/{html.escape(ex.stem)}.html'>{n} exercise{'s' * (n != 1)}</a> "
                         f"(<a href='{html.escape(Path(rel).as_posix())}'>notebook</a>)")
        links.append(f"<a href='{html.escape(os.path.relpath(p.resolve(), out.resolve()))}'>lecture notebook</a>")
        thumbs = "".join(f"<a href='{html.escape(f)}'><img src='{html.escape(t)}' alt='{html.escape(Path(f).stem)}' "
                         f"title='{html.escape(Path(f).stem)}'></a>" for f, t in _thumbnails(out, p.stem))
        objectives = "".join(f"<li>{html.escape(o)}</li>" for o in info["objectives"])
        minutes = f"{rec['seconds'] / 60:.1f} min to run ({html.escape(rec['profile'])})" if rec else "not built"
        error = f"<p class='error'>{html.escape(rec['error'])}</p>" if rec and rec.get("error") else ""
        cards.append(
            f"<section class='card {status.replace(' ', '-')}'><div class='head'><span class='num'>"
            f"{html.escape(p.stem.split('_')[0])}</span><h2>{html.escape(info['title'] or p.stem)}</h2>"
            f"<span class='status {status.replace(' ', '-')}'>{status}</span></div>"
            f"<p class='summary'>{html.escape(info['summary'])}</p>{error}"
            + (f"<h3>Learning objectives</h3><ul>{objectives}</ul>" if objectives else "")
            + f"<p class='meta'>{minutes}" + (f" · {html.escape(info['time'])}" if info["time"] else "") + "</p>"
            + (f"<div class='thumbs'>{thumbs}</div>" if thumbs else "")
            + f"<p class='links'>{' · '.join(links)}</p></section>")
    nfail = sum(1 for r in records.values() if r.get("status") == "failed")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    banner = (f"<p class='error'>{nfail} chapter{'s' * (nfail != 1)} failed in this build: see the red cards.</p>"
              if nfail else "")
    guide_link = (f"<a href='{guide.name}'>Instructor guide</a> (objectives, discussion questions, a 3-hour "
                  "workshop and a 5-week lab) · " if guide else "")
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
        "content='width=device-width, initial-scale=1'><title>collapse-lab: a course on model collapse</title>"
        f"<style>{_CSS}</style>{_mathjax_head(0)}</head><body><header><h1>collapse-lab</h1>"
        "<p class='lead'>A hands-on course on model collapse: what happens when generative models are trained, "
        "generation after generation, on data produced by earlier models (Shumailov et al., <i>AI models "
        "collapse when trained on recursively generated data</i>, Nature 631:755-759, 2024).</p>"
        f"<p class='nav'>{guide_link}<a href='timings.md'>timings</a> · profile <b>{html.escape(profile)}</b> · "
        f"{total / 60:.1f} min of compute in this build</p>{banner}</header><main>{''.join(cards)}</main>"
        f"<footer>Built {time.strftime('%Y-%m-%d %H:%M')} on {html.escape(machine)}. Minutes are the time the "
        "computer took to run each chapter, not the time a student needs to study it (the instructor guide "
        "estimates that).</footer></body></html>")
    page = page.replace("<main>", stages_html(out) + "<main>", 1)
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def stages_html(out) -> str:
    """The course map's measured table for the home page: the rows every chapter's recap wrote with
    :func:`collapse_lab.stages.show` (``stages-*.json`` under ``out/figures``), as an accessible HTML table (a
    caption, column headers with ``scope``, text not colour for the verdict). Empty string when no chapter wrote
    rows (a build of other chapters only)."""
    from . import stages

    out = validate.path("out", out, kind="dir")
    figures = out / "figures"
    rows = stages.read(figures) if figures.is_dir() else []
    if not rows:
        return ""
    cols = (("chapter", "Ch."), ("experiment", "Experiment"), ("sources", "Error sources"),
            ("tail_alarm", "Tail alarm (generation)"), ("bulk_alarm", "Bulk alarm (generation)"),
            ("verdict", "Stage reached"), ("remedy", "Remedy of Chapter 5"))

    def cell(r, key):
        v = r.get(key)
        if key.endswith("_alarm"):
            v = f"not raised by generation {r.get('generations', '?')}" if v is None else v
        if key == "experiment" and r.get("chains", 1) > 1:
            v = f"{v} (median of {r['chains']} chains)"
        return html.escape(str(v))

    head = "".join(f"<th scope='col'>{html.escape(t)}</th>" for _, t in cols)
    body = "".join("<tr>" + "".join(f"<td>{cell(r, k)}</td>" for k, _ in cols) + "</tr>" for r in rows)
    style = "style='border:1px solid #bbb;padding:0.2em 0.5em;text-align:left'"
    head, body = head.replace("<th ", f"<th {style} "), body.replace("<td>", f"<td {style}>")
    return ("<section class='stages' aria-labelledby='stages-title'><h2 id='stages-title'>The course map, "
            "measured</h2><p>Each chapter's recap measured its rows in this build. Tail alarm: the first generation "
            f"where the tail statistic has lost at least {stages.TAIL_LOSS:.0%} of the real data's value (early "
            f"collapse); bulk alarm: the first generation where the bulk statistic has moved by at least "
            f"{stages.BULK_MOVE:.0%} (late collapse). The course map (notebook 00) explains the criterion.</p>"
            "<table style='border-collapse:collapse;margin:0.5em 0 1.5em'><caption>Early and late collapse "
            f"measured in each chapter's run</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            "</section>")


def _write_guide(md_path: Path, out: Path) -> Path | None:
    if not md_path.is_file():
        return None
    import mistune  # nbconvert's Markdown renderer

    text = md_path.read_text(encoding="utf-8")
    body = mistune.html(text)
    dest = out / "instructors.html"
    dest.write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>collapse-lab: instructor guide</title>"
        f"<style>{_CSS} body{{max-width:900px}}</style>{_mathjax_head(0)}</head><body>"
        f"<p class='nav'><a href='index.html'>&larr; course home</a></p>{body}</body></html>", encoding="utf-8")
    return dest


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:1.5em;
color:#1d2329;line-height:1.45}
h1{margin-bottom:.2em} .lead{font-size:1.1em;color:#444} .nav{color:#555}
.card{border:1px solid #d5dae0;border-left:6px solid #2e7d32;border-radius:6px;padding:.8em 1.2em;margin:1.2em 0;
background:#fff;box-shadow:0 1px 3px rgba(0,0,0,.06)}
.card.failed{border-left-color:#c0392b} .card.not-run{border-left-color:#9aa3ad}
.head{display:flex;align-items:baseline;gap:.8em} .head h2{margin:.2em 0;font-size:1.3em;flex:1}
.num{font-weight:700;color:#fff;background:#34495e;border-radius:4px;padding:.1em .5em}
.status{font-size:.85em;padding:.15em .6em;border-radius:1em;background:#e8f5e9;color:#2e7d32}
.status.failed{background:#fdecea;color:#c0392b} .status.not-run{background:#eceff1;color:#555}
.summary{margin:.4em 0} .error{color:#c0392b;font-weight:600} .meta{color:#555;font-size:.9em}
h3{font-size:1em;margin:.6em 0 .2em} ul{margin:.2em 0}
.thumbs{display:flex;flex-wrap:wrap;gap:6px;margin:.5em 0}
.thumbs img{height:90px;border:1px solid #ddd;border-radius:3px;background:#fff}
footer{color:#777;font-size:.85em;margin-top:2em} table{border-collapse:collapse} td,th{border:1px solid #ccc;
padding:.3em .6em}
"""


def _write_timings(out: Path, rows: list[dict]) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"
    total = sum(r["seconds"] for r in rows)
    md = ["| notebook | seconds | profile | status |", "|---|---:|---|---|"]
    md += [f"| {r['notebook']} | {r['seconds']:.1f} | {r['profile']} | "
           f"{r['status'] if r['status'] == 'passed' else '**FAILED**: ' + r['error'].replace('|', '/')} |"
           for r in rows]
    md += [f"| **total** | {total:.1f} | | |", "", f"Measured on {machine}, {time.strftime('%Y-%m-%d %H:%M')}."]
    (out / "timings.md").write_text("\n".join(md) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["notebook", "seconds", "profile", "status"])
    w.writerows([r["notebook"], r["seconds"], r["profile"], r["status"]] for r in rows)
    (out / "timings.csv").write_text(buf.getvalue())


# ------------------------------------------------------------------------------------------ JupyterLab
def lab_command(root=".", chapter: str | None = None, extra=()) -> list[str]:
    """The command that opens JupyterLab on the course folder ``root`` (``notebooks/`` and ``exercises/`` side by
    side in its file browser); with ``chapter`` (e.g. ``"02"``) it also opens that chapter's lecture and exercises."""
    import importlib.util
    import sys

    root = validate.path("root", root, kind="dir").resolve()
    if not (root / "notebooks").is_dir():
        raise ValueError(f"root must be the course folder (the one with notebooks/); got {root}")
    if not isinstance(extra, (list, tuple)) or not all(isinstance(a, str) for a in extra):
        raise validate.ArgumentError(f"extra must be a list of str (more JupyterLab arguments); got {extra!r:.80}")
    if importlib.util.find_spec("jupyterlab") is None:
        raise ValueError("JupyterLab is not installed here: pip install 'jupyterlab>=4' (or pip install '.[lab]')")
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}"]
    if chapter is not None:
        if not isinstance(chapter, str) or not re.fullmatch(r"\d{1,2}[a-z]?", chapter):
            raise ValueError(f"chapter must be a chapter number such as '02' or '05a'; got {chapter!r}")
        files = [p for sub in ("notebooks", "exercises") for p in sorted((root / sub).glob(f"{chapter}*.ipynb"))]
        if not files:
            raise ValueError(f"chapter {chapter!r}: no notebook notebooks/{chapter}*.ipynb in {root}")
        cmd += [p.relative_to(root).as_posix() for p in files]
    return cmd + list(extra)
