"""Every chapter grades through the grader: solutions get full marks, exercises nothing, wrong answers what they get
when checked in the notebook.

Two parts. The remote proxies in one process (the kernel's shim on a thread): for each exercise, correct answers and
the wrong answers most likely to behave differently through a proxy (mutation, random state, gradients, objects
returned, lists) get the same verdict and the same hint as when the check calls them directly. Then one sandboxed
batch grades every solution and exercise notebook of the course (slow: it runs every notebook in the quick
profile).
"""
from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
from pathlib import Path

import pytest

from collapse_lab.grading import grader, remote, shim, wire
from collapse_lab.grading.kernel import bwrap_path

import test_wrong_answers as answers

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")

# the wrong answers that lean on what a proxy must carry across: in-place changes, rng, gradients, returned objects
RISKY = ("place", "global", "fixed", "shuffle", "no_grad", "detach", "numpy", "float", "sorted", "pops", "keyword",
         "history", "sklearn", "list")


def _cases():
    out = []
    for e in answers.RIGHT:
        out.append((e, "right", next(iter(answers.RIGHT[e]))))
        wrongs = list(answers.WRONG[e])
        picked = [w for w in wrongs if any(k in w for k in RISKY)] or wrongs[:1]
        out += [(e, "wrong", w) for w in picked[:4]]
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def kernel():
    """The kernel's side on a thread, its namespace, and the grader's channel to it."""
    ns = {}
    a, b = socket.socketpair()
    t = threading.Thread(target=shim.Server(ns).loop, args=(b,), daemon=True)
    t.start()
    yield ns, remote.Channel(a, timeout=120, deadline=float("inf"), on_timeout=lambda: None)
    wire.send(a, {"op": "bye"})
    t.join(5)


def _verdict(check, fn) -> tuple[bool, str]:
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            check(fn)
    except AssertionError as e:
        return False, grader._split(str(e))[1]
    return True, ""


@pytest.mark.parametrize("exercise,kind,label", CASES, ids=[f"{e}:{k}:{lbl}" for e, k, lbl in CASES])
def test_a_proxied_answer_gets_the_local_verdict(kernel, exercise, kind, label):
    ns, channel = kernel
    fn = (answers.RIGHT if kind == "right" else answers.WRONG)[exercise][label]
    check = answers._check(exercise)
    here = _verdict(check, fn)
    ns["answer"] = fn
    there = _verdict(check, remote.evaluate(channel, "answer"))
    assert here[0] == (kind == "right")
    assert there == here


def _channel(ns: dict, batching: bool):
    a, b = socket.socketpair()
    t = threading.Thread(target=shim.Server(ns).loop, args=(b,), daemon=True)
    t.start()
    return remote.Channel(a, timeout=120, deadline=float("inf"), on_timeout=lambda: None, batching=batching), t


# checks that call the learner's function many times (Monte Carlo draws with one Generator) and a few that do not
BATCHED = ("ch1.categorical_step", "ch1.gaussian_step", "ch4.mix_training_set", "ch5.window_policy")


@pytest.mark.parametrize("exercise", BATCHED)
def test_batched_and_plain_proxy_calls_give_the_same_verdicts(exercise):
    """The fast path (calls asked for ahead, .batching) against the plain one (one call per round trip): the same
    verdict and hint for the right answer and wrong ones; fewer round trips where the check repeats a call."""
    check = answers._check(exercise)
    fns = [*answers.RIGHT[exercise].values(), *list(answers.WRONG[exercise].values())[:2]]
    got, trips = {}, {}
    for batching in (True, False):
        ns = {}
        channel, thread = _channel(ns, batching)
        got[batching] = []
        for fn in fns:
            ns["answer"] = fn
            got[batching].append(_verdict(check, remote.evaluate(channel, "answer")))
        trips[batching] = channel.calls
        wire.send(channel.sock, {"op": "bye"})
        thread.join(5)
    assert got[True] == got[False] and got[True][0] == (True, "")
    assert trips[True] <= trips[False]
    if exercise == "ch1.categorical_step":
        assert trips[True] < trips[False] / 5, trips


def test_hints_wrapped_over_lines_are_joined():
    text = ("f(1)\n  expected: 2\n  got:      3\n  hint: a long hint that the check wrapped\n        over two lines"
            "\n  more help: checks.ch1.hint('f')")
    message, hint = grader._split(text)
    assert hint == "a long hint that the check wrapped over two lines"
    assert "more help" in message and "over two lines" not in message


def test_missing_language_model_base_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("COLLAPSE_LAB_CACHE", str(tmp_path))
    why = grader.missing_lm_base("quick")
    assert str(tmp_path) in why and "ensure_base('quick')" in why
    sol = grader.load_solution(ROOT / "solutions" / "04_language_model_collapse.ipynb")
    assert sol.needs_lm_base
    assert not grader.load_solution(ROOT / "solutions" / "01_sampling_loses_the_tails.ipynb").needs_lm_base


def _notebook(path, code: str, meta: dict) -> None:
    cells = [{"cell_type": "code", "source": code, "metadata": {}, "outputs": [], "execution_count": None},
             {"cell_type": "code", "source": "checks.ch1.c_factor(c_factor)", "metadata": {}, "outputs": [],
              "execution_count": None}]
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": meta, "cells": cells}))


def test_what_a_chapter_needs_is_read_from_its_metadata(tmp_path):
    """The solution's metadata says whether its kernel needs the language model's base; the code it runs does not."""
    _notebook(tmp_path / "says.ipynb", "x = 1", {"collapse_lab": {"chapter": "09", "needs": ["lm-base"]}})
    _notebook(tmp_path / "calls.ipynb", "base, tok = lm.load_base()", {"collapse_lab": {"chapter": "08"}})
    assert grader.load_solution(tmp_path / "says.ipynb").needs_lm_base
    assert not grader.load_solution(tmp_path / "calls.ipynb").needs_lm_base
    _notebook(tmp_path / "typo.ipynb", "x = 1", {"collapse_lab": {"needs": ["lm_base"]}})
    with pytest.raises(ValueError, match="lm-base"):
        grader.load_solution(tmp_path / "typo.ipynb")
    meta = json.loads((ROOT / "exercises" / "04_language_model_collapse.ipynb").read_text())["metadata"]
    assert meta["collapse_lab"]["needs"] == ["lm-base"]  # carried into exercises/ by the exercise builder


def test_a_submission_stripped_of_its_metadata_still_needs_its_chapters_base(monkeypatch, tmp_path):
    """Matched to its solution by file name, a chapter-4 submission without metadata gets the solution's needs: with
    no cached base it is an error row saying so (no kernel started)."""
    monkeypatch.setenv("COLLAPSE_LAB_CACHE", str(tmp_path / "cache"))
    nb = json.loads((ROOT / "exercises" / "04_language_model_collapse.ipynb").read_text())
    nb["metadata"] = {}
    sub = tmp_path / "subs" / "dana" / "04_language_model_collapse.ipynb"
    sub.parent.mkdir(parents=True)
    sub.write_text(json.dumps(nb))
    [s] = grader.grade_batch([sub], options=grader.Options(profile="quick", workdir=tmp_path), log=lambda m: None)
    assert s.solution is not None and s.solution.needs_lm_base
    assert s.status == "error" and "not cached" in s.reason, s.reason


@pytest.mark.slow
@pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap is not installed")
def test_every_chapter_grades_in_one_sandboxed_batch(tmp_path):
    if grader.missing_lm_base("quick"):  # what the batch asks an instructor to do first (trained once per machine)
        from collapse_lab import lm

        lm.ensure_base("quick")
    sols = sorted((ROOT / "solutions").glob("0*.ipynb"))
    exs = sorted((ROOT / "exercises").glob("0*.ipynb"))
    assert len(sols) == len(exs) >= 5
    subs = grader.grade_batch(sols + exs, options=grader.Options(profile="quick", timeout=600,
                                                                 notebook_timeout=1200, workdir=tmp_path),
                              log=lambda m: None)
    for s in subs[:len(sols)]:
        assert s.status == "graded", (s.path.name, s.reason)
        assert s.points == s.solution.max_points > 0, (s.path.name, [(v.exercise, v.message) for v in s.verdicts if not v.passed])
    for s in subs[len(sols):]:
        assert s.status == "graded", (s.path.name, s.reason)
        assert s.points == 0 and s.verdicts, s.path.name
        for v in s.verdicts:  # a function "not written yet", a conceptual question left as None "not answered yet"
            assert "not written yet" in v.message or "not answered yet" in v.message, (s.path.name, v.exercise,
                                                                                       v.message, v.hint)
            assert v.hint, (s.path.name, v.exercise)
