"""The facts the instructor guide and the README state about each chapter, read from the notebooks themselves.

:func:`chapters` reads every lecture notebook (title, one-line summary, objectives, the times of its time line,
its key figure: the first figure saved after its first "Predict first." prompt) and its exercise notebook in
``solutions/`` (the exercises, by their check cells and headings). :func:`write` puts these facts, as Markdown, between
the markers ``<!-- begin: collapse-lab guide -->`` and ``<!-- end: collapse-lab guide -->`` of ``docs/instructors.md``
and ``README.md``; :func:`stale` lists the files whose block differs from what the notebooks say now
(``collapse-lab guide --check``), so the guide cannot drift from the course.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from . import reading, validate
from .cells import check_cells

BEGIN, END = "<!-- begin: collapse-lab guide -->", "<!-- end: collapse-lab guide -->"
_SAVE = re.compile(r"plots\.save\(\s*\w+\s*,\s*[\"']([\w.-]+)[\"']")
_EXERCISE = re.compile(r"^#{2,3}\s+Exercise\s+(\d+)\b[^\n]*", re.M)


def key_figure(nb) -> str:
    """Name of the first figure saved (``plots.save``) after the notebook's first "Predict first." prompt, or ""."""
    seen = False
    for c in nb.cells:
        if c.cell_type == "markdown" and "predict first" in c.source.lower():
            seen = True
        elif seen and c.cell_type == "code":
            m = _SAVE.search(c.source)
            if m:
                return m.group(1)
    return ""


def exercises(solution) -> list[dict]:
    """The exercises of a solution notebook: one per check cell, with the title of the heading above it and
    whether it is conceptual (its heading says so)."""
    out, heading = [], ""
    checks = dict(check_cells(solution))
    for i, c in enumerate(solution.cells):
        if c.cell_type == "markdown":
            m = _EXERCISE.search(c.source)
            if m:
                heading = m.group(0).lstrip("#").strip()
        if i in checks:
            title = re.sub(r"^Exercise\s+\d+\s*(\([^)]*\)\s*)?[·:.\-–—]?\s*", "", heading).strip()
            out.append({"name": checks[i], "title": title, "conceptual": "conceptual" in heading.lower()})
    return out


def _solution_for(stem: str, solutions: Path) -> Path | None:
    num = re.match(r"\d+", stem).group(0)
    found = sorted(solutions.glob(f"{num}_*.ipynb"))
    return found[0] if found else None


def chapters(root=".") -> list[dict]:
    """Facts of every lecture notebook ``notebooks/NN*.ipynb`` of the course at ``root``: ``id`` ("01", "05a"),
    ``title``, ``summary``, ``objectives``, ``times`` (``reading.stated_times``, or None), ``main_words``,
    ``key_figure``, ``exercises`` (list of dicts; empty for the course map) and ``exercise_notebook`` (the
    ``solutions/`` file they come from, shared by 05a and 05b, or None). A solution notebook without a lecture (the
    capstone) is a chapter of its own, its facts read from it, with ``folder`` 'exercises' (lectures: none)."""
    from .course import describe

    root = validate.path("root", root, kind="dir", must_exist=True)
    if not (root / "notebooks").is_dir():
        raise ValueError(f"root must be the course folder (with notebooks/); got {root.resolve()}")
    out, used = [], set()
    for p in sorted((root / "notebooks").glob("[0-9]*.ipynb")):
        nb = nbformat.read(p, as_version=4)
        info = describe(nb)
        sol = _solution_for(p.stem, root / "solutions") if p.stem[:2] != "00" else None
        ex = exercises(nbformat.read(sol, as_version=4)) if sol is not None else []
        shared = sol is not None and sol.name in used
        if sol is not None:
            used.add(sol.name)
        out.append({"id": p.stem.split("_")[0], "file": p.name, "title": info["title"], "summary": info["summary"],
                    "objectives": info["objectives"], "times": reading.stated_times(nb),
                    "main_words": reading.words(reading.split(nb)[0]), "key_figure": key_figure(nb),
                    "exercises": [] if shared else ex, "exercise_notebook": sol.name if sol else None,
                    "shared_with": next((c["id"] for c in out if c["exercise_notebook"] == sol.name), None)
                    if shared else None})
    for sol in sorted((root / "solutions").glob("[0-9]*.ipynb")) if (root / "solutions").is_dir() else ():
        if sol.name in used:
            continue
        # a chapter of exercises only (the capstone): its facts come from the solution notebook itself
        nb = nbformat.read(sol, as_version=4)
        info = describe(nb)
        out.append({"id": sol.stem.split("_")[0], "file": sol.name, "folder": "exercises", "title": info["title"],
                    "summary": info["summary"], "objectives": info["objectives"],
                    "times": reading.stated_times(nb), "main_words": reading.words(reading.split(nb)[0]),
                    "key_figure": key_figure(nb), "exercises": exercises(nb), "exercise_notebook": sol.name,
                    "shared_with": None})
    return out


def _min(v) -> str:
    return "not stated" if v is None else f"{v} min"


def _exercise_title(e: dict) -> str:
    title = e["title"] or e["name"]
    return title + " (conceptual)" if e["conceptual"] and "conceptual" not in title.lower() else title


def guide_block(chs: list[dict]) -> str:
    """The guide's generated part: the times and exercises table, then each chapter's objectives and key figure."""
    lines = ["| chapter | main path | going deeper | exercises | exercises (conceptual) | key figure |",
             "|---|---:|---:|---:|---|---|"]
    for c in chs:
        t = c["times"] or {}
        if c["shared_with"]:
            ex = f"with {c['shared_with']} (`{c['exercise_notebook']}`)"
        elif c["exercise_notebook"]:
            ex = f"{len(c['exercises'])} ({sum(e['conceptual'] for e in c['exercises'])} conceptual)"
        else:
            ex = "none"
        lines.append(f"| {c['id']} · {c['title']} | {_min(t.get('main'))} | "
                     f"{'-' if t.get('deeper') is None and t else _min(t.get('deeper'))} | "
                     f"{'-' if t.get('exercises') is None and t else _min(t.get('exercises'))} | {ex} | "
                     f"{('`' + c['key_figure'] + '`') if c['key_figure'] else 'not marked'} |")
    lines.append("")
    for c in chs:
        lines.append(f"**{c['id']} · {c['title']}.** {c['summary']}")
        lines.append("")
        if c["objectives"]:
            lines.append("Learning objectives (from the notebook):")
            lines.append("")
            lines += [f"{i}. {o}" for i, o in enumerate(c["objectives"], 1)]
            lines.append("")
        if c["exercises"]:
            lines.append(f"Exercises (`solutions/{c['exercise_notebook']}`): "
                         + "; ".join(f"{i} · {_exercise_title(e)}" for i, e in enumerate(c["exercises"], 1)))
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def readme_block(chs: list[dict]) -> str:
    """The README's chapter map: link, one-line summary and the times each notebook states."""
    lines = ["| # | chapter | what you learn | main path | going deeper | exercises |", "|---|---|---|---:|---:|---:|"]
    for c in chs:
        t = c["times"] or {}
        lines.append(f"| {c['id']} | [{c['title']}]({c.get('folder', 'notebooks')}/{c['file']}) | {c['summary']} | "
                     f"{_min(t.get('main'))} | "
                     f"{'-' if t.get('deeper') is None and t else _min(t.get('deeper'))} | "
                     f"{'-' if t.get('exercises') is None and t else _min(t.get('exercises'))} |")
    return "\n".join(lines) + "\n"


TARGETS = {"docs/instructors.md": guide_block, "README.md": readme_block}


def _replace(text: str, block: str, where: str) -> str:
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"{where} must hold the markers {BEGIN!r} and {END!r} once each, in this order")
    head, rest = text.split(BEGIN)
    return f"{head}{BEGIN}\n{block}{END}{rest.split(END, 1)[1]}"


def render(root=".") -> dict[str, str]:
    """The text each target file should have now (file path relative to ``root`` -> text)."""
    root = validate.path("root", root, kind="dir", must_exist=True)
    chs = chapters(root)
    return {rel: _replace((root / rel).read_text(encoding="utf-8"), make(chs), rel)
            for rel, make in TARGETS.items() if (root / rel).is_file()}


def stale(root=".") -> list[str]:
    """The target files whose generated block disagrees with the notebooks."""
    root = Path(root)
    return [rel for rel, text in render(root).items() if (root / rel).read_text(encoding="utf-8") != text]


def write(root=".") -> list[str]:
    """Rewrite the generated blocks from the notebooks; return the files changed."""
    root = Path(root)
    changed = stale(root)
    for rel, text in render(root).items():
        if rel in changed:
            (root / rel).write_text(text, encoding="utf-8")
    return changed
