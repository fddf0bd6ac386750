"""exercises/ generated from solutions/, and grading a learner's notebook.

A solution notebook (``solutions/NN_name.ipynb``) marks its answers nbgrader-style::

    def categorical_step(p, M, rng):
        ### BEGIN SOLUTION
        counts = rng.multinomial(M, p)
        return counts / M
        ### END SOLUTION

:func:`build` replaces each marked region with ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` (the
indentation of the ``BEGIN`` line kept) and clears all outputs. A *check cell* is a code cell that calls
``checks.chN.<name>(...)``; :func:`grade` executes a notebook and reports each check cell as passed or failed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .checks.core import MARK

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CHECK_CALL = re.compile(r"\bchecks\.(ch\d+)\.(\w+)\s*\(")


def strip_solutions(source: str) -> str:
    """``source`` with every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region replaced by a stub."""
    if not isinstance(source, str):
        raise TypeError(f"source must be a str; got {type(source).__name__}")
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


def exercise_notebook(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The exercise version of a solution notebook (a new object; the input is not changed)."""
    nb = nbformat.from_dict(solution)
    nb = nbformat.from_dict(nbformat.reads(nbformat.writes(nb), as_version=4))
    for i, cell in enumerate(nb.cells):
        cell.setdefault("id", f"cell-{i}")  # stable ids keep the generated file byte-identical run after run
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    return nb


def _text(nb) -> str:
    return nbformat.writes(nb) + "\n"


def build(solutions_dir="solutions", exercises_dir="exercises", check: bool = False) -> list[Path]:
    """Write ``exercises/NN_name.ipynb`` for every solution notebook; with ``check``, write nothing.

    Returns the exercise paths that were (or, with ``check``, would be) changed: stale or missing ones.
    """
    src, dst = Path(solutions_dir), Path(exercises_dir)
    if not src.is_dir():
        raise ValueError(f"solutions_dir {src} is not a folder")
    changed = []
    for sol in sorted(src.glob("*.ipynb")):
        nb = nbformat.read(sol, as_version=4)
        if not any(BEGIN in c.source for c in nb.cells if c.cell_type == "code"):
            raise ValueError(f"{sol} has no '{BEGIN}' region: every solution notebook must hold an exercise")
        text = _text(exercise_notebook(nb))
        out = dst / sol.name
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            changed.append(out)
            if not check:
                dst.mkdir(parents=True, exist_ok=True)
                out.write_text(text, encoding="utf-8")
    # an exercise whose solution is gone is stale too
    orphans = [e for e in sorted(dst.glob("*.ipynb")) if not (src / e.name).exists()] if dst.is_dir() else []
    return changed + orphans


@dataclass
class Result:
    exercise: str
    passed: bool
    feedback: str
    cell: int


def _code_lines(source: str) -> str:
    """``source`` without comment lines, so a commented-out check is not a check."""
    return "\n".join(ln for ln in source.splitlines() if not ln.lstrip().startswith("#"))


def check_cells(nb) -> list[tuple[int, str]]:
    """(cell index, exercise name) of every check cell of a notebook (commented-out calls do not count)."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            m = CHECK_CALL.search(_code_lines(cell.source))
            if m:
                out.append((i, m.group(2)))
    return out


def reference_for(path) -> Path | None:
    """The solution notebook a learner's notebook is graded against: ``solutions/<same name>`` beside its folder,
    or in the course root; None when there is none."""
    path = Path(path).resolve()
    for base in (path.parent.parent, Path(__file__).resolve().parent.parent):
        ref = base / "solutions" / path.name
        if ref.is_file():
            return ref
    return None


def _feedback(err) -> str:
    """First line of a failure, plus its hint line when the check gave one."""
    lines = f"{err.ename}: {err.evalue}".splitlines()
    hint = next((ln.strip() for ln in lines[1:] if ln.strip().startswith("hint:")), "")
    return lines[0] + (f" | {hint}" if hint else "")


def grade(path, timeout: int = 600, profile: str = "quick", cwd=None, reference=None) -> list[Result]:
    """Execute a learner's notebook and grade it: one :class:`Result` per exercise of the reference notebook.

    The exercises and their check calls come from the reference (``solutions/<same name>`` by default, see
    :func:`reference_for`), not from the learner's copy: after the learner's notebook has run (errors allowed, a cell
    running longer than ``timeout`` seconds is interrupted), the grader appends each reference check cell, with the
    chapter's check module freshly reloaded, and grades those. So a deleted, commented-out or edited check cell
    cannot change the score, and one hanging exercise does not stop the others from being graded.
    """
    from .course import run_notebook

    path = Path(path)
    if not path.is_file() or path.suffix != ".ipynb":
        raise ValueError(f"path must be an existing .ipynb file; got {path}")
    nb = nbformat.read(path, as_version=4)
    ref_path = Path(reference) if reference is not None else reference_for(path)
    ref = nbformat.read(ref_path, as_version=4) if ref_path is not None else nb
    cells = check_cells(ref)
    if not cells:
        raise ValueError(f"{ref_path or path} has no check cells (cells calling checks.chN.<name>(...))")
    first = len(nb.cells)
    for i, name in cells:
        chapter = CHECK_CALL.search(_code_lines(ref.cells[i].source)).group(1)
        nb.cells.append(nbformat.v4.new_code_cell(
            "import importlib as _importlib\nfrom collapse_lab import checks\ntry:\n"
            f"    checks.{chapter} = _importlib.reload(_importlib.import_module('collapse_lab.checks.{chapter}'))\n"
            "except ModuleNotFoundError:\n    pass\n" + ref.cells[i].source))
    env = {"COLLAPSE_LAB_PROFILE": profile, "COLLAPSE_LAB_STATIC": "1", "COLLAPSE_LAB_QUIET": "1", "MPLBACKEND": "Agg"}
    run_notebook(nb, cwd or path.parent, env, timeout=timeout, allow_errors=True)
    results = []
    for j, (_, name) in enumerate(cells):
        cell = nb.cells[first + j]
        outs = cell.get("outputs", [])
        err = next((o for o in outs if o.output_type == "error"), None)
        text = "".join(o.get("text", "") for o in outs if o.output_type == "stream")
        line = next((ln for ln in text.splitlines() if ln.strip()), "")
        if err is not None:
            results.append(Result(name, False, _feedback(err), first + j))
        elif not line.startswith(MARK):  # a check that ran but printed no check mark did not pass
            results.append(Result(name, False, "the check did not report a pass", first + j))
        else:
            results.append(Result(name, True, line, first + j))
    return results


def report(results: list[Result]) -> str:
    """A text table of graded results with a score line."""
    w = max([len("exercise")] + [len(r.exercise) for r in results])
    lines = [f"{'exercise'.ljust(w)}  result  feedback"]
    for r in results:
        lines.append(f"{r.exercise.ljust(w)}  {'passed' if r.passed else 'FAILED':6}  {r.feedback[:160]}")
    n = sum(r.passed for r in results)
    lines.append(f"score: {n}/{len(results)} ({100 * n / max(len(results), 1):.0f}%)")
    return "\n".join(lines)
