"""What a notebook's exercises are: its check cells ``checks.chN.name(<expr>)``, each check's chapter, name and
expression, and its points. One reader for the exercise builder (:mod:`collapse_lab.exercises`), the grader
(:mod:`collapse_lab.grading.grader`) and nbgrader's metadata; points are finite numbers >= 0 (NaN and infinity are
refused), 1 by default.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from .validate import ArgumentError


@dataclass(frozen=True)
class Exercise:
    """One exercise of a solution notebook, as :func:`exercises_of` reads it from a check cell (which is where its
    fields are checked: a check's name, its chapter, the expression passed, the cell's points)."""

    name: str
    chapter: str  # "ch1"
    expr: str  # what the check cell passes to the check
    points: float = 1.0


def _check_call(node):
    """(chapter, name, expr node) when ``node`` is ``checks.chN.name(<one argument>)``."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Attribute) and isinstance(node.func.value.value, ast.Name)
            and node.func.value.value.id == "checks" and re.fullmatch(r"ch\d+", node.func.value.attr)):
        if len(node.args) == 1 and not node.keywords:
            return node.func.value.attr, node.func.attr, node.args[0]
    return None


def points_of(cell) -> float:
    """The points of a check cell (a :class:`Cell` or an nbformat cell): its ``nbgrader.points`` (or ``points``)
    metadata, 1 by default."""
    md = getattr(cell, "metadata", None)
    if not isinstance(md, dict) or not isinstance(md.get("nbgrader", {}), dict):
        raise ArgumentError(f"cell must be a notebook cell with a metadata dict; got {cell!r:.60} "
                            f"({type(cell).__name__})")
    p = md.get("nbgrader", {}).get("points", md.get("points", 1))
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not p >= 0 or p == float("inf"):
        raise ArgumentError(f"cell's points metadata must be a finite number >= 0; got {p!r}")
    return float(p)


def _cells(name: str, nb) -> list:
    """The cells of a notebook (a :class:`Notebook` or an nbformat notebook), each with a str cell_type and source
    and a metadata dict."""
    cells = getattr(nb, "cells", None)
    if not isinstance(cells, list):
        raise ArgumentError(f"{name} must be a notebook (with a list of cells); got {nb!r:.60} ({type(nb).__name__})")
    for i, c in enumerate(cells):
        if not (isinstance(getattr(c, "cell_type", None), str) and isinstance(getattr(c, "source", None), str)
                and isinstance(getattr(c, "metadata", None), dict)):
            raise ArgumentError(f"{name} must be a notebook whose cells have a str cell_type and source and a "
                                f"metadata dict; cell {i + 1} is {c!r:.60}")
    return cells


def checks_in(source: str) -> list[tuple[str, str]]:
    """(chapter, name) of the check calls in a cell's source (a str; none when it does not parse)."""
    if not isinstance(source, str):
        raise ArgumentError(f"source must be a str (a cell's code); got {source!r:.60} ({type(source).__name__})")
    src = "\n".join(ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError):
        return []
    return [found[:2] for node in ast.walk(tree) if (found := _check_call(node))]


def exercises_of(nb) -> list[Exercise]:
    """The exercises of a solution notebook (a :class:`Notebook` or an nbformat notebook): one per check cell, in
    order."""
    out = []
    for i, cell in enumerate(_cells("nb", nb)):
        if cell.cell_type != "code" or "checks." not in cell.source:
            continue
        src = "\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(src)
        except SyntaxError as e:
            raise ValueError(f"cell {i + 1} of the solution does not parse: {e}") from None
        for node in ast.walk(tree):
            found = _check_call(node)
            if found:
                chapter, name, arg = found
                out.append(Exercise(name, chapter, ast.unparse(arg), points_of(cell)))
                break
    names = [e.name for e in out]
    if len(set(names)) != len(names):
        raise ValueError(f"a check is called twice: {names}")
    return out


def check_cells(nb) -> list[tuple[int, str]]:
    """(cell index, exercise name) of every check cell of a notebook (a :class:`Notebook`, an nbformat notebook or
    its dict): the first check call of each code cell that parses (:func:`checks_in`; commented-out calls do not
    count)."""
    if isinstance(nb, dict) and not hasattr(nb, "cells"):  # a notebook's dict, as json.load gives it
        import nbformat

        nb = nbformat.from_dict(nb)
    out = []
    for i, cell in enumerate(_cells("nb", nb)):
        if cell.cell_type == "code":
            found = checks_in(cell.source)
            if found:
                out.append((i, found[0][1]))
    return out
