"""The capstone's cases: what a student receives holds data only, the configuration depends on a key only the
instructor and the grader hold, a neighbour's answer fails, and a graded run grades each student on their own case
(honest work full marks; delegation to the package (the configuration behind an id), a copied neighbour's answers
and an empty notebook earn no inference point)."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from collapse_lab import forensics as fo
from collapse_lab.checks import ch6, variants
from collapse_lab.grading import grader
from collapse_lab.grading.kernel import bwrap_path
from collapse_lab.validate import ArgumentError

ROOT = Path(__file__).resolve().parent.parent
NB6 = "06_collapse_forensics.ipynb"


def _two_students():
    """Two ids whose configurations differ (in every part they can)."""
    ids = [f"student{i}" for i in range(40)]
    a = ids[0]
    b = next(s for s in ids[1:] if fo.configuration(s).policy != fo.configuration(a).policy)
    return a, b


def test_the_same_id_gives_the_same_case_and_two_students_differ():
    a, b = _two_students()
    assert fo.configuration(a) == fo.configuration(a) and fo.hidden_seed(a) == fo.hidden_seed(a)
    assert fo.hidden_seed(a) != fo.hidden_seed(b) and fo.hidden_seed(a) > 2**32
    assert len({fo.configuration(f"s{i}") for i in range(60)}) >= 10  # the draw covers the grid


def test_a_neighbours_answers_fail():
    a, b = _two_students()
    want = ch6.answers(a)
    with variants.grading(a):
        ch6.which_policy(want["which_policy"])
        ch6.real_fraction(want["real_fraction"])
        ch6.verifier_bias(want["verifier_bias"])
    with variants.grading(b), pytest.raises(AssertionError) as e:
        ch6.which_policy(want["which_policy"])
    expected = next(ln for ln in str(e.value).splitlines() if "expected:" in ln)
    assert fo.configuration(b).policy not in expected  # a graded case's feedback names no answer


def test_the_case_key_decides_the_configuration(monkeypatch):
    ids = [f"s{i}" for i in range(30)]
    monkeypatch.delenv(fo.KEY_ENV, raising=False)
    default = [(fo.configuration(s), fo.hidden_seed(s)) for s in ids]
    monkeypatch.setenv(fo.KEY_ENV, "a secret of the instructor")
    keyed = [(fo.configuration(s), fo.hidden_seed(s)) for s in ids]
    assert all(d[1] != k[1] for d, k in zip(default, keyed))
    assert sum(d[0] != k[0] for d, k in zip(default, keyed)) >= 15


def test_a_case_file_holds_data_and_sizes_only(tmp_path):
    path = fo.write_case(tmp_path, "alice")
    with np.load(path, allow_pickle=False) as d:
        assert set(d.files) == {"format", "student", "real", "samples"}
        assert d["samples"].shape == (fo.CHAINS, fo.GENERATIONS + 1, fo.SAMPLES)
    raw = path.read_bytes()
    for word in (b"replace", b"accumulate", b"mix", b"bias", b"fraction", b"seed"):
        assert word not in raw
    c = fo.load_case(path)
    sim = fo.simulate(fo.configuration("alice"), fo.hidden_seed("alice"))
    assert c.student == "alice" and np.array_equal(c.samples, sim.samples) and np.array_equal(c.real, sim.real)


def test_case_finds_the_file_beside_the_notebook(tmp_path, monkeypatch):
    monkeypatch.delenv(fo.CASE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert fo.case().student is None  # no file: the self-study case
    fo.write_case(tmp_path, "bob")
    c = fo.case()
    assert c.student == "bob" and c.source.endswith(fo.FILE)
    fo.reveal(c)


def test_the_graded_kernel_gets_no_case_key(monkeypatch, tmp_path):
    monkeypatch.setenv(fo.KEY_ENV, "secret")
    env = grader.kernel_env("quick", tmp_path, "alice")
    assert fo.KEY_ENV not in env and env["COLLAPSE_LAB_STUDENT"] == "alice"


def test_write_cases_needs_a_key_and_reports_bad_ids_line_by_line(tmp_path, monkeypatch):
    monkeypatch.delenv(fo.KEY_ENV, raising=False)
    with pytest.raises(ValueError, match=fo.KEY_ENV):
        fo.write_cases(["a"], tmp_path / "none")
    monkeypatch.setenv(fo.KEY_ENV, "k")
    roster = ["Zoë Ñandú", "张伟", "../up", "", "a b", "a b"]
    files, problems = fo.write_cases(roster, tmp_path / "cases")
    assert len(problems) == 3 and problems[0].startswith("line 3") and "twice" in problems[2]
    assert {p.parent.name for p in files if p.name == fo.FILE} == {"Zoë Ñandú", "张伟", "a b"}
    with open(tmp_path / "cases" / "key.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["student"] for r in rows] == ["Zoë Ñandú", "张伟", "a b"]
    assert rows[1]["policy"] == fo.configuration("张伟").policy


def test_the_case_command_writes_a_roster_and_prints_a_student(tmp_path):
    (tmp_path / "ids.txt").write_text("s1\nJosé Ñ\nbad/id\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "collapse_lab.cli", "case", "--roster", str(tmp_path / "ids.txt"), "--out",
           str(tmp_path / "cases")]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop(fo.KEY_ENV, None)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert p.returncode == 2 and fo.KEY_ENV in p.stderr and not (tmp_path / "cases").exists()
    env[fo.KEY_ENV] = "k"
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert p.returncode == 1 and "line 3" in p.stderr, p.stderr
    assert (tmp_path / "cases" / "José Ñ" / fo.FILE).is_file() and (tmp_path / "cases" / "key.csv").is_file()
    p = subprocess.run([sys.executable, "-m", "collapse_lab.cli", "case", "--student", "s1"], env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("s1: policy "), p.stdout


@pytest.mark.parametrize("bad", [("mixed", None, 0), ("mix", 0.2, 0), ("replace", 0.1, 0), ("mix", 0.3, -1),
                                 ("accumulate", None, 0.7), ("mix", "0.3", 0)])
def test_bad_configurations_are_named(bad):
    with pytest.raises(ArgumentError):
        fo.simulate(bad, 0)


def test_bad_input_to_the_case_functions(tmp_path):
    with pytest.raises(ArgumentError):
        fo.case(student="")
    with pytest.raises(ArgumentError):
        fo.simulate(fo.SELF_STUDY, -1)
    with pytest.raises(ArgumentError):
        fo.diagnostics(np.zeros((2, 3)), np.zeros(4))
    (tmp_path / "x.npz").write_bytes(b"not a case")
    with pytest.raises(ValueError, match="not a forensics case file"):
        fo.load_case(tmp_path / "x.npz")


# -- a graded run -------------------------------------------------------------------------------------------------


def _answers_cell(nb, source: str) -> None:
    """Replace the solution's inference (the solution cells of Exercise 2) by ``source``."""
    starts = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.startswith(
        ("### BEGIN SOLUTION\ndef summary", "policy = None", "fraction = None", "bias = None"))]
    for i in starts[1:]:
        nb.cells[i].source = "pass"
    nb.cells[starts[0]].source = source


def _write(base, student, nb):
    d = base / student
    d.mkdir(parents=True)
    nbformat.write(nb, d / NB6)
    return d / NB6


@pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap is not installed")
def test_graded_run_grades_each_student_on_their_own_case(tmp_path):
    a, b = _two_students()
    subs = tmp_path / "subs"
    honest = _write(subs, a, nbformat.read(ROOT / "solutions" / NB6, as_version=4))
    deleg = nbformat.read(ROOT / "solutions" / NB6, as_version=4)
    # the package holds no inference; what it has (the configuration behind an id) is stubbed in a graded run
    _answers_cell(deleg, "from collapse_lab.checks import variants\n"
                         "best = forensics.configuration(variants.student_id())\npolicy, bias = best.policy, best.bias\n"
                         "fraction = 'none' if best.fraction is None else best.fraction")
    delegator = _write(subs, b + "-delegator", deleg)
    want = ch6.answers(a)
    copy = nbformat.read(ROOT / "solutions" / NB6, as_version=4)
    _answers_cell(copy, f"policy, fraction, bias = {want['which_policy']!r}, {want['real_fraction']!r}, "
                        f"{want['verifier_bias']!r}")
    copier = _write(subs, b, copy)
    lazy = _write(subs, "lazy", nbformat.read(ROOT / "exercises" / NB6, as_version=4))
    cmd = [sys.executable, "-m", "collapse_lab.cli", "check", *map(str, (honest, delegator, copier, lazy)),
           "--solutions", str(ROOT / "solutions"), "--csv", str(tmp_path / "long.csv"), "--timeout", "300"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLLAPSE_LAB_QUIET="1")
    env.pop("COLLAPSE_LAB_STUDENT", None)
    p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    assert p.returncode in (0, 1, 3), p.stderr[-2000:]
    with open(tmp_path / "long.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["passed"] != ""]
    got = {}
    for r in rows:
        got.setdefault(r["student"], {})[r["exercise"]] = r["passed"] == "True"
    items = ("which_policy", "real_fraction", "verifier_bias")
    assert all(got[a].values()) and len(got[a]) == 4, rows
    assert not any(got[b + "-delegator"][k] for k in items), rows
    assert not got[b]["which_policy"] and got[b]["diagnostics"], rows
    assert not any(got["lazy"].values()), rows


def test_an_instructors_case_checked_without_the_key_is_not_judged(tmp_path, monkeypatch):
    """A student who checks an instructor's case file at home (no case key there) gets a form check, never a verdict
    computed from the public default key (which would mark a right answer wrong)."""
    from collapse_lab.checks import ch6

    monkeypatch.setenv(fo.KEY_ENV, "instructor-secret")
    fo.write_case(tmp_path, "ana")
    right = fo.configuration("ana")
    monkeypatch.delenv(fo.KEY_ENV)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(fo.CASE_ENV, raising=False)
    wrong = next(p for p in fo.POLICIES if p != right.policy)
    for answer in (right.policy, wrong):
        ch6.which_policy(answer)  # the form is right: no verdict either way
    with pytest.raises(AssertionError):
        ch6.which_policy("sometimes")
