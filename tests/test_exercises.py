"""Exercises are generated from solutions, never stale, and every check fails on the unsolved exercise."""
from pathlib import Path

import nbformat
import pytest

from collapse_lab import cells, exercises
from collapse_lab.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))

SOLVED = '''def square(x):
    """x squared."""
    ### BEGIN SOLUTION
    y = x * x
    return y
    ### END SOLUTION
'''


def test_strip_solutions_keeps_indentation_and_signature():
    out = exercises.strip_solutions(SOLVED)
    assert out.splitlines() == ["def square(x):", '    """x squared."""', "    # YOUR CODE HERE",
                                "    raise NotImplementedError()"]
    assert exercises.strip_solutions("a = 1") == "a = 1"


@pytest.mark.parametrize("bad", ["### BEGIN SOLUTION\nx", "### END SOLUTION", "### BEGIN SOLUTION\n### BEGIN SOLUTION"])
def test_unbalanced_markers_are_errors(bad):
    with pytest.raises(ValueError, match="SOLUTION"):
        exercises.strip_solutions(bad)
    with pytest.raises(TypeError):
        exercises.strip_solutions(None)


def make_solution(path: Path, body: str = SOLVED):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Tiny"),
        nbformat.v4.new_code_cell(body, outputs=[nbformat.v4.new_output("stream", text="out")], execution_count=3),
        nbformat.v4.new_code_cell("from collapse_lab import checks\n\ndef check(fn):\n"
                                  "    for x in (2, 3, -1.5):\n"
                                  "        got = checks.call(fn, x)\n"
                                  "        checks.expect(got == x * x, f'square({x})', x * x, got, 'multiply x by itself')\n"
                                  "    checks.passed('square works')"),
        nbformat.v4.new_code_cell("import types\nchecks.ch0 = types.SimpleNamespace(square=check)\n"
                                  "checks.ch0.square(square)"),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def test_build_writes_clean_exercises_and_detects_stale_ones(tmp_path):
    sol, ex = tmp_path / "solutions", tmp_path / "exercises"
    make_solution(sol / "01_tiny.ipynb")
    assert exercises.build(sol, ex, check=True) == [ex / "01_tiny.ipynb"]  # missing = stale
    assert exercises.build(sol, ex) == [ex / "01_tiny.ipynb"]
    assert exercises.build(sol, ex, check=True) == []
    nb = nbformat.read(ex / "01_tiny.ipynb", as_version=4)
    code = nb.cells[1]
    assert "raise NotImplementedError()" in code.source and "x * x" not in code.source
    assert code.outputs == [] and code.execution_count is None
    make_solution(sol / "01_tiny.ipynb", SOLVED.replace("x * x", "x ** 2"))  # the solution changed
    assert exercises.build(sol, ex, check=True) == [ex / "01_tiny.ipynb"]
    (ex / "99_orphan.ipynb").write_text("{}")
    assert ex / "99_orphan.ipynb" in exercises.build(sol, ex, check=True)


def test_solution_without_exercise_is_an_error(tmp_path):
    make_solution(tmp_path / "s" / "01.ipynb", "x = 1")
    with pytest.raises(ValueError, match="BEGIN SOLUTION"):
        exercises.build(tmp_path / "s", tmp_path / "e")
    with pytest.raises(ValueError, match="not a folder"):
        exercises.build(tmp_path / "nope", tmp_path / "e")


def test_exercises_carry_nbgrader_metadata(tmp_path):
    sol, ex = tmp_path / "solutions", tmp_path / "exercises"
    make_solution(sol / "01_tiny.ipynb")
    exercises.build(sol, ex)
    nb = nbformat.read(ex / "01_tiny.ipynb", as_version=4)
    md = [c.metadata.get("nbgrader") for c in nb.cells]
    assert md[0] is None  # markdown
    assert md[1]["solution"] and not md[1]["grade"] and md[1]["grade_id"] == "square_answer"
    assert md[2] is None  # an ordinary cell after the first answer: the learner may change it
    assert md[3]["grade"] and md[3]["locked"] and md[3]["points"] == 1 and md[3]["grade_id"] == "square"
    src = exercises.nbgrader_source(nbformat.read(sol / "01_tiny.ipynb", as_version=4))
    assert "x * x" in src.cells[1].source and src.cells[3].metadata["nbgrader"] == md[3]


@pytest.mark.parametrize("path", EXERCISES, ids=[p.name for p in EXERCISES])
def test_shipped_exercises_are_nbgrader_assignments(path):
    nb = nbformat.read(path, as_version=4)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids))
    checks = dict(cells.check_cells(nb))
    for i, c in enumerate(nb.cells):
        if i in checks:
            assert c.metadata["nbgrader"]["grade"] and c.metadata["nbgrader"]["locked"], c.source
            assert c.metadata["nbgrader"]["grade_id"] == checks[i]
        if c.cell_type == "code" and "# YOUR CODE HERE" in c.source:
            assert c.metadata["nbgrader"]["solution"], c.source


def test_committed_exercises_are_up_to_date():
    assert exercises.build(ROOT / "solutions", ROOT / "exercises", check=True) == []


def test_every_solution_has_an_exercise_and_checks():
    sols = sorted((ROOT / "solutions").glob("*.ipynb"))
    assert [p.name for p in sols] == [p.name for p in EXERCISES]
    for p in sols:
        assert cells.check_cells(nbformat.read(p, as_version=4)), f"{p.name} has no check cell"


@pytest.mark.parametrize("path", EXERCISES, ids=[p.name for p in EXERCISES])
def test_every_check_fails_on_the_unsolved_exercise(path):
    """What an unsolved exercise hands each check: a function raising NotImplementedError (a code exercise) or None
    (a conceptual one). Every check fails on it, saying it is not done yet. In-process: the grader's own path, a
    kernel and its proxies, is covered by tests/test_grading.py and the chapters' sandboxed batch."""
    import importlib

    found = cells.exercises_of(nbformat.read(path, as_version=4))
    assert len(found) >= 3
    for ex in found:
        check = getattr(importlib.import_module(f"collapse_lab.checks.{ex.chapter}"), ex.name)

        def unsolved(*args, **kwargs):
            raise NotImplementedError()

        class Unsolved:
            def __init__(self, *args, **kwargs):
                raise NotImplementedError()

        stub = None if check.kind == "concept" else Unsolved if ex.name == "window_policy" else unsolved
        with pytest.raises(AssertionError, match="not written yet|not answered yet"):
            check(stub)
