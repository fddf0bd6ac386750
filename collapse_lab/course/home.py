"""The course home page (one card per chapter: title, summary, objectives, figures, minutes, status, links), the
instructor guide's page and the course map's measured table."""
from __future__ import annotations

import html
import os
import platform
import re
import time
from pathlib import Path

import nbformat

from .. import cells, validate
from ..profiles import active_profile
from .pages import _mathjax_head, notebook_html
from .summary import describe


def _exercise_for(stem: str, exercises_dir: Path) -> Path | None:
    exact = exercises_dir / f"{stem}.ipynb"
    if exact.is_file():
        return exact
    m = re.match(r"(\d+)", stem)  # 05a_... and 05b_... share the exercises of chapter 05
    same = sorted(exercises_dir.glob(f"{m.group(1)}*.ipynb")) if m else []
    return same[0] if same else None


def _thumbnails(out: Path, stem: str) -> list[tuple[str, str, str]]:
    """(figure, thumbnail, description) for a chapter's saved figures, in the order they were drawn: paths relative
    to ``out``; the description that ``plots.save`` wrote into the PNG ("figure NAME (no description)" when it has
    none, which the browser test's site audit reports)."""
    from ..plots import read_description

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
        try:
            text = read_description(png)
        except (ImportError, OSError):
            text = None
        result.append((png.relative_to(out).as_posix(), thumb.relative_to(out).as_posix(),
                       text or f"figure {png.stem} (no description)"))
    return result


def _count_exercises(nb) -> int:
    """The check cells of an exercise notebook, read by the course's one exercise parser."""
    return sum(1 for c in nb.cells if c.cell_type == "code" and cells.checks_in(c.source))


def _exercise_link(ex: Path, out: Path) -> str:
    """The link to an exercise notebook's page (written into ``out/exercises`` when missing or older) and file."""
    exnb = nbformat.read(ex, as_version=4)
    (out / "exercises").mkdir(exist_ok=True)
    expage = out / "exercises" / f"{ex.stem}.html"
    if not expage.exists() or expage.stat().st_mtime < ex.stat().st_mtime:
        expage.write_text(notebook_html(exnb, depth=1), encoding="utf-8")
    n = _count_exercises(exnb)
    rel = os.path.relpath(ex.resolve(), out.resolve())
    return (f"<a href='exercises/{html.escape(ex.stem)}.html'>{n} exercise{'s' * (n != 1)}</a> "
            f"(<a href='{html.escape(Path(rel).as_posix())}'>notebook</a>)")


def _exercises_only_card(ex: Path, out: Path) -> str:
    """A card for an exercise notebook without a lecture of its own (the capstone): title, summary, time, links."""
    try:
        info = describe(nbformat.read(ex, as_version=4))
    except (OSError, ValueError):
        info = {"title": ex.stem, "summary": "", "time": ""}
    return (
        f"<section class='card exercises-only'><div class='head'><span class='num'>"
        f"{html.escape(ex.stem.split('_')[0])}</span><h2>{html.escape(info['title'] or ex.stem)}</h2>"
        "<span class='status exercises-only'>exercises only</span></div>"
        f"<p class='summary'>{html.escape(info['summary'])}</p>"
        + (f"<p class='meta'>{html.escape(info['time'])}</p>" if info["time"] else "")
        + f"<p class='links'>{_exercise_link(ex, out)}</p></section>")


def _card(p: Path, rec: dict | None, out: Path, exercises_dir: Path) -> str:
    """One chapter's card on the home page: notebook ``p``, its row of the build ``rec`` (None: not built)."""
    try:
        info = describe(nbformat.read(out / p.name if rec else p, as_version=4))
    except (OSError, ValueError):
        info = {"title": p.stem, "summary": "", "objectives": [], "time": ""}
    status = rec["status"] if rec else "not run"
    ex = _exercise_for(p.stem, exercises_dir)
    links = [f"<a href='{html.escape(p.stem)}.html'>read the executed chapter</a>"] if rec else []
    if ex is not None:
        links.append(_exercise_link(ex, out))
    links.append(f"<a href='{html.escape(os.path.relpath(p.resolve(), out.resolve()))}'>lecture notebook</a>")
    thumbs = "".join(f"<a href='{html.escape(f)}'><img src='{html.escape(t)}' alt='{html.escape(d)}'></a>"
                     for f, t, d in _thumbnails(out, p.stem))
    objectives = "".join(f"<li>{html.escape(o)}</li>" for o in info["objectives"])
    minutes = f"{rec['seconds'] / 60:.1f} min to run ({html.escape(rec['profile'])})" if rec else "not built"
    error = f"<p class='error'>{html.escape(rec['error'])}</p>" if rec and rec.get("error") else ""
    return (
        f"<section class='card {status.replace(' ', '-')}'><div class='head'><span class='num'>"
        f"{html.escape(p.stem.split('_')[0])}</span><h2>{html.escape(info['title'] or p.stem)}</h2>"
        f"<span class='status {status.replace(' ', '-')}'>{status}</span></div>"
        f"<p class='summary'>{html.escape(info['summary'])}</p>{error}"
        + (f"<h3>Learning objectives</h3><ul>{objectives}</ul>" if objectives else "")
        + f"<p class='meta'>{minutes}" + (f" · {html.escape(info['time'])}" if info["time"] else "") + "</p>"
        + (f"<div class='thumbs'>{thumbs}</div>" if thumbs else "")
        + f"<p class='links'>{' · '.join(links)}</p></section>")


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
    paths = sorted(src.glob("[0-9]*.ipynb"))
    cards = [_card(p, records.get(p.name), out, exercises_dir) for p in paths]
    # exercise notebooks no lecture leads to (the capstone) get a card of their own, after the chapters
    numbers = {re.match(r"\d+", p.stem).group() for p in paths}
    cards += [_exercises_only_card(ex, out) for ex in sorted(exercises_dir.glob("[0-9]*.ipynb"))
              if re.match(r"\d+", ex.stem).group() not in numbers]
    total = sum(records[p.name]["seconds"] for p in paths if records.get(p.name))
    nfail = sum(1 for r in records.values() if r.get("status") == "failed")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    banner = (f"<p class='error'>{nfail} chapter{'s' * (nfail != 1)} failed in this build: see the red cards.</p>"
              if nfail else "")
    guide_link = (f"<a href='{guide.name}'>Instructor guide</a> (objectives, discussion questions, a 3-hour "
                  "workshop and a 6-week lab) · " if guide else "")
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
    from .. import stages

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
h1{margin-bottom:.2em} .lead{font-size:1.1em;color:#444} .nav{color:#555} a{color:#1a4f8b;text-decoration:underline}
.card{border:1px solid #d5dae0;border-left:6px solid #2e7d32;border-radius:6px;padding:.8em 1.2em;margin:1.2em 0;
background:#fff;box-shadow:0 1px 3px rgba(0,0,0,.06)}
.card.failed{border-left-color:#c0392b} .card.not-run,.card.exercises-only{border-left-color:#9aa3ad}
.head{display:flex;align-items:baseline;gap:.8em} .head h2{margin:.2em 0;font-size:1.3em;flex:1}
.num{font-weight:700;color:#fff;background:#34495e;border-radius:4px;padding:.1em .5em}
.status{font-size:.85em;padding:.15em .6em;border-radius:1em;background:#e8f5e9;color:#2e7d32}
.status.failed{background:#fdecea;color:#c0392b} .status.not-run,.status.exercises-only{background:#eceff1;color:#555}
.summary{margin:.4em 0} .error{color:#c0392b;font-weight:600} .meta{color:#555;font-size:.9em}
h3{font-size:1em;margin:.6em 0 .2em} ul{margin:.2em 0}
.thumbs{display:flex;flex-wrap:wrap;gap:6px;margin:.5em 0}
.thumbs img{height:90px;border:1px solid #ddd;border-radius:3px;background:#fff}
footer{color:#595959;font-size:.85em;margin-top:2em} table{border-collapse:collapse} td,th{border:1px solid #ccc;
padding:.3em .6em}
"""
