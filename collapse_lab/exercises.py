"""exercises/ generated from solutions/, with nbgrader cell metadata.

A solution notebook (``solutions/NN_name.ipynb``) marks its answers nbgrader-style::

    def categorical_step(p, M, rng):
        ### BEGIN SOLUTION
        counts = rng.multinomial(M, p)
        return counts / M
        ### END SOLUTION

:func:`build` replaces each marked region with ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` (the
indentation of the ``BEGIN`` line kept), clears all outputs, and gives the cells nbgrader metadata: answer cells are
solution cells, check cells (``checks.chN.<name>(...)``) locked grade cells worth their ``nbgrader.points`` (1 by
default) with the check's name as ``grade_id``, and the set-up cells before the first answer locked read-only cells.
:func:`nbgrader_source` is the solution with the same metadata: what nbgrader's ``source/`` folder holds.
Which cells are check cells, and their points, is :mod:`collapse_lab.cells` (shared with the grader). Grading with
``collapse-lab check`` lives in :mod:`collapse_lab.grading`.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from .cells import check_cells, points_of
from .validate import ArgumentError, flag, path as _path


BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def strip_solutions(source: str) -> str:
    """``source`` with every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region replaced by a stub."""
    if not isinstance(source, str):
        raise ArgumentError(f"source must be a str (a cell's code); got {type(source).__name__}")
    out, inside, indent = [], False, ""
    for lineno, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"line {lineno}: nested '{BEGIN}'")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
        elif stripped == END:
            if not inside:
                raise ValueError(f"line {lineno}: '{END}' without '{BEGIN}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"'{BEGIN}' without '{END}'")
    return "\n".join(out)


def _notebook(name: str, nb, node: bool = False):
    """``nb`` checked to be a notebook: a dict (``node``: an ``nbformat.NotebookNode``) with a list of cells."""
    ok = isinstance(nb, nbformat.NotebookNode if node else dict) and isinstance(nb.get("cells"), list) and all(
        isinstance(c, dict) and isinstance(c.get("cell_type"), str) and isinstance(c.get("source", ""), str)
        for c in nb["cells"])
    if not ok:
        want = "an nbformat.NotebookNode" if node else "a notebook (an nbformat.NotebookNode or its dict)"
        raise ArgumentError(f"{name} must be {want} with a list of cells, as nbformat.read returns (version 4, "
                            f"sources as str); got {type(nb).__name__}")
    return nb if node or isinstance(nb, nbformat.NotebookNode) else nbformat.from_dict(nb)


def exercise_notebook(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The exercise version of a solution notebook (a new object; the input is not changed)."""
    _notebook("solution", solution)
    nb = nbformat.from_dict(solution)
    nb = nbformat.from_dict(nbformat.reads(nbformat.writes(nb), as_version=4))
    answers = {i for i, c in enumerate(nb.cells) if c.cell_type == "code" and BEGIN in c.source}
    for i, cell in enumerate(nb.cells):
        cell.setdefault("id", f"cell-{i}")  # stable ids keep the generated file byte-identical run after run
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    add_nbgrader_metadata(nb, answers)
    return nb


def _defined_name(source: str) -> str | None:
    m = re.search(r"^\s*(?:def|class)\s+(\w+)", source, re.M)
    return m.group(1) if m else None


def _written(cell) -> bool:
    md = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "markdown" and isinstance(md, dict) and bool(md.get("grade") and md.get("solution"))


def add_nbgrader_metadata(nb: nbformat.NotebookNode, answers: set[int]) -> None:
    """nbgrader metadata on the cells of ``nb`` (in place); ``answers`` = indices of the answer cells."""
    _notebook("nb", nb, node=True)
    if isinstance(answers, (str, bytes, dict)) or not hasattr(answers, "__iter__") or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(nb.cells) for i in answers):
        raise ArgumentError(f"answers must be a set of cell indices (ints in 0..{len(nb.cells) - 1}); "
                            f"got {answers!r:.60}")
    answers = set(answers)
    checks = dict(check_cells(nb))
    first = min(answers) if answers else len(nb.cells)
    used = set()
    for i, cell in enumerate(nb.cells):
        md = {"schema_version": 3, "solution": False, "grade": False, "locked": False, "task": False}
        if i in answers:
            gid = f"{_defined_name(cell.source) or 'cell_' + str(cell.get('id', i))}_answer"
            md.update(solution=True)
        elif i in checks:
            gid = checks[i]
            p = points_of(cell)
            md.update(grade=True, locked=True, points=int(p) if p.is_integer() else p)
        elif _written(cell):  # a manually graded written answer (grading/rubric.py): kept as the solution has it
            gid = cell.metadata["nbgrader"]["grade_id"]
            p = points_of(cell)
            md.update(grade=True, solution=True, points=int(p) if p.is_integer() else p)
        elif cell.cell_type == "code" and i < first:
            gid = f"setup_{cell.get('id', i)}"
            md.update(locked=True)
        else:
            cell.metadata.pop("nbgrader", None)
            continue
        while gid in used:
            gid += "_"
        used.add(gid)
        md["grade_id"] = gid
        cell.metadata["nbgrader"] = md


def nbgrader_source(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The solution notebook with nbgrader metadata (a new object): what goes into nbgrader's ``source/``."""
    _notebook("solution", solution)
    nb = nbformat.from_dict(nbformat.reads(nbformat.writes(nbformat.from_dict(solution)), as_version=4))
    answers = {i for i, c in enumerate(nb.cells) if c.cell_type == "code" and BEGIN in c.source}
    for i, cell in enumerate(nb.cells):
        cell.setdefault("id", f"cell-{i}")
    add_nbgrader_metadata(nb, answers)
    return nb


def _text(nb) -> str:
    return nbformat.writes(nb) + "\n"


def build(solutions_dir="solutions", exercises_dir="exercises", check: bool = False,
          nbgrader_dir=None) -> list[Path]:
    """Write ``exercises/NN_name.ipynb`` for every solution notebook; with ``check``, write nothing. With
    ``nbgrader_dir`` (e.g. ``course/source/ps1``), also write there the solutions with nbgrader metadata.

    Returns the exercise paths that were (or, with ``check``, would be) changed: stale or missing ones.
    """
    src = _path("solutions_dir", solutions_dir, kind="dir")
    dst = _path("exercises_dir", exercises_dir, kind="dir")
    check = flag("check (True: write nothing, list what would change)", check)
    if nbgrader_dir is not None:
        nbgrader_dir = _path("nbgrader_dir", nbgrader_dir, kind="dir")
    if not src.is_dir():
        raise ArgumentError(f"solutions_dir must be an existing folder of solution notebooks; {str(src)!r} is not "
                            "a folder")
    changed = []
    for sol in sorted(src.glob("*.ipynb")):
        nb = nbformat.read(sol, as_version=4)
        if not any(BEGIN in c.source for c in nb.cells if c.cell_type == "code"):
            raise ValueError(f"{sol} has no '{BEGIN}' region: every solution notebook must hold an exercise")
        text = _text(exercise_notebook(nb))
        if nbgrader_dir is not None and not check:
            Path(nbgrader_dir).mkdir(parents=True, exist_ok=True)
            nbformat.write(nbgrader_source(nb), Path(nbgrader_dir) / sol.name)
        out = dst / sol.name
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            changed.append(out)
            if not check:
                dst.mkdir(parents=True, exist_ok=True)
                out.write_text(text, encoding="utf-8")
    # an exercise whose solution is gone is stale too
    orphans = [e for e in sorted(dst.glob("*.ipynb")) if not (src / e.name).exists()] if dst.is_dir() else []
    return changed + orphans
