"""What students receive: the course without its answers.

:func:`student` copies the lecture notebooks, the exercise notebooks, the package, the set-up files and the
documents a student reads into a new folder, and writes a student README. It never copies ``solutions/``, the
tests, the instructor guide, the grading documents or the maintainers' pages, and the package's checks modules
are their keyless editions (:func:`collapse_lab.grading.keyless.keyless_checks`): a check cell says whether an
answer has the right form and what idea it rests on, never whether it is right (``checks.mode()`` is
``'student'``).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat

from . import validate

# What a student gets, relative to the course root; folders are copied whole (minus caches).
FILES = ("LICENSE", "CITATION.cff", "pyproject.toml", "environment.yml", "Makefile")
FOLDERS = ("collapse_lab", "binder")
# Documents for instructors and maintainers only (the rest of docs/ goes to students).
INSTRUCTOR_DOCS = ("instructors.md", "accessibility.md", "grading.md", "rubrics.md", "workshop.md", "compute.md",
                   "decisions.md", "testing.md")
# README sections a student needs, by the start of their heading (the rest is for instructors and developers).
README_SECTIONS = ("set up", "data", "licence", "license", "citing", "further reading")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")


def student(dest, root=".") -> list[Path]:
    """Write the student bundle of the course at ``root`` into the folder ``dest``; return the files written.

    ``dest`` must not exist or be an empty folder (a bundle never overwrites anything). The bundle holds
    ``notebooks/`` and ``exercises/`` (outputs cleared), ``docs/`` without the instructor documents, the package
    and its set-up files, and ``README.md`` for students. ``solutions/`` is never copied.
    """
    root, dest = validate.path("root", root, kind="dir"), validate.path("dest", dest, kind="dir")
    if not (root / "notebooks").is_dir() or not (root / "exercises").is_dir():
        raise ValueError(f"root must be the course folder (with notebooks/ and exercises/); got {root.resolve()}")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ValueError(f"--student folder {dest} already exists and is not empty; give a new folder")
    if dest.resolve().is_relative_to(root.resolve() / "solutions"):
        raise ValueError(f"--student folder {dest} is inside solutions/")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for sub in ("notebooks", "exercises"):
        (dest / sub).mkdir()
        for nb_path in sorted((root / sub).glob("*.ipynb")):
            nb = nbformat.read(nb_path, as_version=4)
            for cell in nb.cells:  # committed notebooks carry no outputs; make sure of it
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
            nbformat.write(nb, dest / sub / nb_path.name)
            written.append(dest / sub / nb_path.name)
    docs = root / "docs"
    if docs.is_dir():
        for f in sorted(docs.rglob("*")):
            if f.is_file() and f.name not in INSTRUCTOR_DOCS and "solution" not in f.name.lower():
                target = dest / "docs" / f.relative_to(docs)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, target)
                written.append(target)
    for name in FILES:
        if (root / name).is_file():
            shutil.copy2(root / name, dest / name)
            written.append(dest / name)
    for name in FOLDERS:
        if (root / name).is_dir():
            shutil.copytree(root / name, dest / name, ignore=_IGNORE)
            if name == "collapse_lab":  # no answer key: the checks look at the form of an answer only
                from .grading import keyless

                keyless.keyless_checks(dest / name)
            written += [p for p in (dest / name).rglob("*") if p.is_file()]
    readme = dest / "README.md"
    readme.write_text(student_readme(root), encoding="utf-8")
    written.append(readme)
    return written


def _sections(markdown: str) -> list[tuple[str, str]]:
    """(heading, text) of each ``## `` section of a Markdown document; the text before the first is ("", text)."""
    parts, heading, buf, fence = [], "", [], False
    for ln in markdown.splitlines():
        if ln.startswith("```"):
            fence = not fence
        if not fence and ln.startswith("## "):
            parts.append((heading, "\n".join(buf)))
            heading, buf = ln[3:].strip(), []
        else:
            buf.append(ln)
    parts.append((heading, "\n".join(buf)))
    return parts


# Paragraphs about testing, CI or the solutions are for the people who maintain or teach the course.
_NOT_FOR_STUDENTS = re.compile(r"solutions/|make test|A test |nbval|\bgrad(e|ing)\b", re.I)


def _for_students(text: str) -> str:
    paragraphs, buf, fence = [], [], False
    for ln in text.splitlines():
        if ln.startswith("```"):
            fence = not fence
        if not ln.strip() and not fence:
            paragraphs.append("\n".join(buf))
            buf = []
        else:
            buf.append(ln)
    paragraphs.append("\n".join(buf))
    return "\n\n".join(p for p in paragraphs if p.strip() and not _NOT_FOR_STUDENTS.search(p)) + "\n"


def student_readme(root=".") -> str:
    """The README for students: the course's introduction, its chapters, how the exercises work, and the
    README's set-up, data and licence sections (no grading, no development notes)."""
    from .course import describe

    root = validate.path("root", root, kind="dir", must_exist=True)
    readme = (root / "README.md").read_text(encoding="utf-8") if (root / "README.md").is_file() else ""
    sections = _sections(readme)
    intro = sections[0][1].strip() if sections else ""
    intro = re.sub(r"\n\*\*Who it is for\.\*\*.*?(\n\n|$)", "\n\n", intro, flags=re.S).strip()
    chapters = []
    for nb_path in sorted((root / "notebooks").glob("[0-9]*.ipynb")):
        info = describe(nbformat.read(nb_path, as_version=4))
        ex = root / "exercises" / nb_path.name
        line = f"- [{info['title'] or nb_path.stem}](notebooks/{nb_path.name})"
        if ex.is_file():
            line += f" · [exercises](exercises/{ex.name})"
        if info["summary"]:
            line += f"  \n  {info['summary']}"
        chapters.append(line)
    lectures = {p.stem.split("_")[0][:2] for p in (root / "notebooks").glob("[0-9]*.ipynb")}
    for ex in sorted((root / "exercises").glob("[0-9]*.ipynb")):  # exercises without a lecture: the capstone
        if ex.stem.split("_")[0][:2] not in lectures:
            info = describe(nbformat.read(ex, as_version=4))
            line = f"- [{info['title'] or ex.stem}](exercises/{ex.name})"
            chapters.append(line + (f"  \n  {info['summary']}" if info["summary"] else ""))
    keep = [f"## {h}\n{_for_students(t).rstrip()}\n" for h, t in sections[1:]
            if h.lower().startswith(README_SECTIONS)]
    out = [
        intro or "# collapse-lab: a hands-on course on model collapse",
        "",
        "This folder is the student edition of the course: the lecture notebooks, the exercise notebooks and "
        "the helper package they import. Your instructor has the solutions.",
        "",
        "## Chapters",
        "",
        *chapters,
        "",
        "## How the exercises work",
        "",
        "Each exercise asks you to write a function in a cell marked `# YOUR CODE HERE` (delete the "
        "`raise NotImplementedError()` line). The cell after it runs a check, `checks.chN.<name>(your_function)`: "
        "in this edition it says whether your answer has the right form and gives the idea it rests on, but not "
        "whether it is right: your instructor's grader runs the full checks on your functions, in a sandbox, "
        "whatever your copy of the cells says. The notebook ends with a written question, graded by hand.",
        "",
        "Read the lecture notebook of a chapter first (`notebooks/`), then open its exercises (`exercises/`) beside "
        "it: `python -m collapse_lab lab` opens JupyterLab on this folder.",
        "",
        *keep,
    ]
    return "\n".join(out).rstrip() + "\n"
