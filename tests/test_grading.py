"""Grading a class: honest submissions get their points, hostile ones get nothing they did not solve, batches go on.

The grader runs in a subprocess on a temporary copy of the package (with a small extra check chapter ``ch0``), so no
submission can touch the real package, even unsandboxed.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from collapse_lab import exercises
from collapse_lab.grading.kernel import bwrap_path

ROOT = Path(__file__).resolve().parent.parent

CH0 = '''"""A small chapter for the grading tests."""
import numpy as np

from .core import call, expect, last_call, passed


def square(fn):
    for x in (2, 3.5, -1):
        got = call(fn, x, name="square")
        expect(got == x * x, f"square({x})", x * x, got, "multiply x by itself")
    passed("square works")


def fill(fn):
    a, rng, ref = np.zeros(5), np.random.default_rng(7), np.random.default_rng(7)
    out = call(fn, a, rng, name="fill")
    want = ref.random(5)
    expect(out is None and np.array_equal(a, want), "fill(a, rng) fills a in place", want, a, "a[:] = rng.random(a.size)")
    expect(rng.bit_generator.state == ref.bit_generator.state, "rng advanced by one draw of 5", "", "", "use rng")
    expect(not last_call()["global_rng_changed"], "no global random state", False, True, "use rng only")
    passed("fill works")


def letter(value):
    expect(value == "b", "the answer", "b", value, "think again")
    passed("right letter")


def counter(cls):
    expect(isinstance(cls, type), "a class", "a class", type(cls).__name__, "pass the class")
    c = call(cls, 2, name="Counter")
    expect(c.step == 2 and call(c.add, 3, name="add") == 5, "Counter(2).add(3)", 5, "", "add step")
    passed("Counter works")


def many(fn):
    rng, ref = np.random.default_rng(1), np.random.default_rng(1)
    got = [call(fn, rng, name="draw") for _ in range(3000)]
    want = [ref.normal() for _ in range(3000)]
    expect(np.allclose(got, want), "3000 draws", want[:3], got[:3], "return rng.normal()")
    passed("draw works")
'''

ANSWERS = {
    "square": ("def square(x):\n", "    return x * x\n"),
    "fill": ("def fill(a, rng):\n", "    a[:] = rng.random(a.size)\n"),
    "letter": ("", "answer = 'b'\n"),
    "counter": ("class Counter:\n    def __init__(self, step):\n",
                "        self.step = step\n\n    def add(self, x):\n        return x + self.step\n"),
    "many": ("def draw(rng):\n", "    return rng.normal()\n"),
}
EXPR = {"square": "square", "fill": "fill", "letter": "answer", "counter": "Counter", "many": "draw"}


def answer_cell(name):
    head, body = ANSWERS[name]
    indent = "        " if name == "counter" else "    " if head else ""
    if name == "letter":
        return "answer = None\n### BEGIN SOLUTION\nanswer = 'b'\n### END SOLUTION"
    return f"{head}{indent}### BEGIN SOLUTION\n{body}{indent}### END SOLUTION"


def solution_nb():
    cells = [nbformat.v4.new_markdown_cell("# Tiny"),
             nbformat.v4.new_code_cell("import numpy as np\nfrom collapse_lab import checks")]
    for name in ANSWERS:
        cells.append(nbformat.v4.new_code_cell(answer_cell(name)))
        check = nbformat.v4.new_code_cell(f"checks.ch0.{name}({EXPR[name]})")
        if name == "square":
            check.metadata["nbgrader"] = {"points": 2}
        cells.append(check)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A temporary course: a copy of the package with checks/ch0.py, solutions/00_tiny.ipynb, and submissions."""
    base = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "collapse_lab", base / "collapse_lab", ignore=shutil.ignore_patterns("__pycache__"))
    (base / "collapse_lab" / "checks" / "ch0.py").write_text(CH0)
    (base / "solutions").mkdir()
    nbformat.write(solution_nb(), base / "solutions" / "00_tiny.ipynb")
    return base


def exercise_nb():
    return exercises.exercise_notebook(solution_nb())


def submit(course, student, nb=None, extra=None, after=1, name="00_tiny.ipynb", solved=()):
    """Write a submission: the exercise with ``solved`` answers filled in and ``extra`` cells after cell ``after``."""
    nb = nb or exercise_nb()
    sol = solution_nb()
    for i, cell in enumerate(sol.cells):
        if any(f"{EXPR[n]}" in cell.source and "BEGIN" in cell.source for n in solved if n in ANSWERS):
            nb.cells[i].source = cell.source
    for j, src in enumerate(extra or []):
        nb.cells.insert(after + 1 + j, nbformat.v4.new_code_cell(src))
    d = course / "subs" / student
    d.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, d / name)
    return d / name


def grade(course, paths, *args, env=None):
    out = course / f"out-{len(list(course.glob('out-*')))}"
    out.mkdir()
    cmd = [sys.executable, "-m", "collapse_lab.cli", "check", *map(str, paths), "--solutions",
           str(course / "solutions"), "--csv", str(out / "long.csv"), "--wide", str(out / "wide.csv"),
           "--feedback", str(out / "feedback"), *args]
    e = dict(os.environ, PYTHONPATH=str(course), COLLAPSE_LAB_QUIET="1", **(env or {}))
    p = subprocess.run(cmd, cwd=course, env=e, capture_output=True, text=True, timeout=900)
    with open(out / "long.csv") as f:
        rows = list(csv.DictReader(f))
    with open(out / "wide.csv") as f:
        wide = {r["student"]: r for r in csv.DictReader(f)}
    return p, rows, wide, out


def passed(rows, student):
    return {r["exercise"] for r in rows if r["student"] == student and r["passed"] == "True"}


ALL = set(ANSWERS)

ATTACKS = {
    "patch_checks": "import sys, collapse_lab.checks.core as c\nc.expect = lambda *a, **k: None\n"
                    "c.call = lambda fn, *a, **k: 0\nfor n, m in list(sys.modules.items()):\n"
                    "    if n.startswith('collapse_lab.checks'):\n"
                    "        m.__dict__.update(expect=c.expect, call=c.call)",
    "patch_numpy_scipy": "import numpy as np, scipy.stats\nnp.allclose = lambda *a, **k: True\n"
                         "np.array_equal = lambda *a, **k: True\nscipy.stats.kstest = lambda *a, **k: None",
    "patch_reload": "import importlib, collapse_lab.checks.core as c\nimportlib.reload = lambda m: m\n"
                    "c.expect = lambda *a, **k: None",
    "custom_exc": "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: print('\u2713 works'))",
    "read_solutions": "import json\ntry:\n    nb = json.load(open(SOL))\n"
                      "    exec('\\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code'),"
                      " globals())\nexcept Exception as e:\n    print(e)",
    # the kernel imports a keyless copy of the package: the attack also writes where the course's own file is
    "rewrite_check_file": "import collapse_lab.checks.ch0 as m\nfor f in (m.__file__, CH0FILE):\n    try:\n"
                          "        open(f, 'w').write('def square(fn): print(1)\\nfill = letter = counter = many = "
                          "square\\n')\n    except OSError as e:\n        print(e)",
    "delete_solutions": "import os, glob\nfor f in glob.glob(SOLDIR + '/*'):\n    try:\n        os.remove(f)\n"
                        "    except OSError as e:\n        print(e)",
    "replace_builtins": "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.eval = lambda *a, **k: 0",
    "patch_torch": "import torch\ntorch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True",
    "sys_modules": "import sys, types\nfake = types.ModuleType('numpy')\nsys.modules['collapse_lab.checks.ch0'] = fake"
                   "\nsys.modules['numpy'] = fake",
    "chdir_write_outside": "import os\nos.chdir('/')\ntry:\n    open(OUTSIDE, 'w').write('x')\n"
                           "except OSError as e:\n    print(e)",
    "kill_kernel": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(os.getpid(), signal.SIGKILL)",
}


def hostile(course, name):
    src = ATTACKS[name].replace("SOLDIR", repr(str(course / "solutions")))
    src = src.replace("SOL", repr(str(course / "solutions" / "00_tiny.ipynb")))
    src = src.replace("CH0FILE", repr(str(course / "collapse_lab" / "checks" / "ch0.py")))
    src = src.replace("OUTSIDE", repr(str(course / "written-by-a-submission")))
    return submit(course, name, extra=[src], solved=("square",))


@pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap is not installed")
def test_sandboxed_batch_hostile_and_honest(course):
    paths = [submit(course, "good", solved=ALL), submit(course, "half", solved=("square", "letter")),
             submit(course, "none")]
    for name in ATTACKS:
        paths.append(hostile(course, name))
        if name == "rewrite_check_file":
            paths.append(submit(course, "after_rewrite"))  # unmodified, right after the rewrite
        if name == "delete_solutions":  # its own check cells only print a check mark
            nb = exercise_nb()
            for c in nb.cells:
                if c.source.startswith("checks."):
                    c.source = "print('\u2713 passed')"
            paths.append(submit(course, "after_delete", nb=nb))
    p, rows, wide, out = grade(course, paths, "--timeout", "30", "--notebook-timeout", "300")
    status = {s: wide[s]["status"] for s in wide}
    # these break their own kernel so badly that the grader cannot call their functions: error rows, 0 points
    assert {s for s in status if status[s] != "graded"} <= {"kill_kernel", "replace_builtins", "sys_modules"}, status
    assert "UNSANDBOXED" not in p.stderr
    assert passed(rows, "good") == ALL and wide["good"]["total"] == "6" and wide["good"]["max"] == "6"
    assert passed(rows, "half") == {"square", "letter"} and wide["half"]["total"] == "3"
    assert passed(rows, "none") == set() and wide["none"]["total"] == "0"
    for student in ("after_rewrite", "after_delete"):
        assert passed(rows, student) == set() and wide[student]["status"] == "graded", wide[student]
    for name in ATTACKS:
        assert passed(rows, name) <= {"square"}, (name, passed(rows, name))
    assert passed(rows, "patch_checks") == {"square"}  # what it solved still counts
    assert p.returncode == 3 and "died" in status["kill_kernel"], p.stderr
    assert not (course / "written-by-a-submission").exists()
    assert (course / "solutions" / "00_tiny.ipynb").exists()
    assert "def many" in (course / "collapse_lab" / "checks" / "ch0.py").read_text()
    fb = (out / "feedback" / "half.md").read_text()
    assert "square: passed (2 / 2)" in fb and "fill: not passed" in fb and "*Hint:*" in fb


def test_unsandboxed_batch_detects_changed_files_and_stops(course):
    paths = [submit(course, "u_good", solved=ALL), submit(course, "u_half", solved=("square", "letter")),
             hostile(course, "rewrite_check_file"), submit(course, "u_after")]
    original = (course / "collapse_lab" / "checks" / "ch0.py").read_text()
    try:
        p, rows, wide, _ = grade(course, paths, "--unsandboxed", "--timeout", "60")
    finally:
        (course / "collapse_lab" / "checks" / "ch0.py").write_text(original)
    assert p.stderr.count("UNSANDBOXED") == 1
    assert p.returncode == 3
    assert passed(rows, "u_good") == ALL and passed(rows, "u_half") == {"square", "letter"}
    assert passed(rows, "rewrite_check_file") == set()
    assert "changed the course's files" in wide["rewrite_check_file"]["status"]
    assert "batch stopped" in wide["u_after"]["status"] and passed(rows, "u_after") == set()


def test_batches_survive_bad_submissions(course):
    bad = course / "subs" / "notjson"
    bad.mkdir(parents=True, exist_ok=True)
    (bad / "00_tiny.ipynb").write_text("this is not JSON")
    other = submit(course, "nochapter", name="99_unknown.ipynb")
    dies = submit(course, "exits", extra=["import os\nos._exit(1)"], solved=("square",))
    syntax = submit(course, "syntax", solved=("letter",))
    nb = nbformat.read(syntax, as_version=4)
    i = next(i for i, c in enumerate(nb.cells) if c.source.startswith("def square"))
    nb.cells[i].source = "def square(x):\n    return x *\n"
    nbformat.write(nb, syntax)
    loop = submit(course, "loops", extra=["while True:\n    pass"], solved=("square",))
    stubborn = submit(course, "stubborn", extra=["import time\nwhile True:\n    try:\n        time.sleep(0.1)\n"
                                                 "    except KeyboardInterrupt:\n        pass"])
    good = submit(course, "good2", solved=ALL)
    p, rows, wide, _ = grade(course, [bad / "00_tiny.ipynb", other, dies, syntax, loop, stubborn, good],
                             "--timeout", "8", "--notebook-timeout", "120")
    assert p.returncode == 3, p.stderr
    st = {s: wide[s]["status"] for s in wide}
    assert "not a notebook" in st["notjson"] and "no matching chapter" in st["nochapter"]
    assert "died" in st["exits"] and "timed out" in st["stubborn"]
    assert st["loops"] == "graded" and passed(rows, "loops") == {"square"}  # the loop was interrupted, no more
    sq = next(r for r in rows if r["student"] == "syntax" and r["exercise"] == "square")
    assert "SyntaxError in cell" in sq["message"] and "line 2" in sq["message"], sq
    assert passed(rows, "syntax") == {"letter"}
    assert passed(rows, "good2") == ALL and st["good2"] == "graded"


def test_a_function_that_hangs_in_a_check_is_interrupted(course):
    """A learner's function that never returns when the grader's check calls it: the call is interrupted (by a
    message to the kernel) after --timeout, that check fails saying so, and the others are graded."""
    hangs = submit(course, "hangs", solved=ALL)
    nb = nbformat.read(hangs, as_version=4)
    i = next(i for i, c in enumerate(nb.cells) if c.source.startswith("def square"))
    nb.cells[i].source = "def square(x):\n    while True:\n        pass\n"
    nbformat.write(nb, hangs)
    p, rows, wide, _ = grade(course, [hangs], "--timeout", "8", "--notebook-timeout", "120")
    assert wide["hangs"]["status"] == "graded", wide["hangs"]
    sq = next(r for r in rows if r["student"] == "hangs" and r["exercise"] == "square")
    assert sq["passed"] == "False" and "did not return within 8 s" in sq["message"], sq
    assert passed(rows, "hangs") == ALL - {"square"}


def test_usage_errors_and_exit_codes(course, tmp_path):
    good = submit(course, "good3", solved=ALL)
    base = [sys.executable, "-m", "collapse_lab.cli", "check", str(good), "--solutions", str(course / "solutions")]
    env = dict(os.environ, PYTHONPATH=str(course))
    for extra in (["--timeout", "0"], ["--notebook-timeout", "-1"], ["--csv", str(tmp_path / "no" / "x.csv")]):
        p = subprocess.run(base + extra, env=env, capture_output=True, text=True, cwd=course)
        assert p.returncode == 2, (extra, p.stderr)
    p = subprocess.run(base + ["--timeout", "60"], env=env, capture_output=True, text=True, cwd=course)
    assert p.returncode == 0 and "score: 6/6" in p.stdout, p.stdout + p.stderr
    half = submit(course, "half3", solved=("square",))
    p = subprocess.run(base[:4] + [str(half)] + base[5:], env=env, capture_output=True, text=True, cwd=course)
    assert p.returncode == 1 and "score: 2/6" in p.stdout, p.stdout + p.stderr


def test_each_check_runs_once_per_submission_and_never_in_the_kernel(tmp_path):
    """The grader runs each exercise's check once, in its own process; the learner's own check cell (the keyless
    edition in a graded kernel) does not call the learner's function, so the check is not run a second time there:
    the notebook below ends its kernel if its check cell called ``c_factor``."""
    from collapse_lab.grading import grader

    src = ROOT / "solutions" / "01_sampling_loses_the_tails.ipynb"
    solution = grader.load_solution(src)
    c_factor = next(ex for ex in solution.exercises if ex.name == "c_factor")
    solution = grader.Solution(solution.path, [c_factor])
    code = ("import numpy as np\nfrom scipy import special\nfrom collapse_lab import checks\ncalls = []\n"
            "def c_factor(M):\n    calls.append(M)\n"
            "    return float(np.sqrt(2 / (M - 1)) * np.exp(special.gammaln(M / 2) - special.gammaln((M - 1) / 2)))")
    nb = grader.read_notebook(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "source": code, "metadata": {}, "outputs": [], "execution_count": None},
        {"cell_type": "code", "source": "checks.ch1.c_factor(c_factor)", "metadata": {}, "outputs": [],
         "execution_count": None},
        {"cell_type": "code", "source": "if calls:\n    import os\n    os._exit(3)", "metadata": {}, "outputs": [],
         "execution_count": None}]}))
    runs = []
    check = grader.check_function(c_factor)

    def counted(fn):
        runs.append(1)
        return check(fn)

    box = tmp_path / "box"
    box.mkdir()
    options = grader.Options(profile="quick", sandbox=bwrap_path() is not None, timeout=120, notebook_timeout=300)
    verdicts, reason = grader.grade_notebook(nb, solution, {("ch1", "c_factor"): counted}, options, box,
                                             hidden=[], needed=grader.needed_paths(), student="alice")
    assert reason == "" and [v.passed for v in verdicts] == [True], (reason, verdicts)
    assert len(runs) == 1
