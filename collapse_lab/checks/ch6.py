"""Checks for the capstone, collapse forensics (``collapse_lab.forensics``). ``diagnostics`` runs the learner's code
on several inputs against a reference; the three inference items compare the learner's answer with the hidden
configuration of the learner's own case (``forensics.configuration`` of the student id: computed here, by the
grader in a graded run, never in the learner's kernel)."""
from __future__ import annotations

import os

import numpy as np

from .. import forensics as fo
from . import variants
from .core import Hints, call, close, exercise, expect, passed, show, unchanged

hint = Hints("ch6", {
    "diagnostics": "np.quantile(real, [q, 1 - q]) on all the real data at once gives the two cut points; a boolean "
                   "array averaged over the last axis is a share; np.var(..., axis=2, ddof=1) is the unbiased "
                   "variance of each generation of each chain.",
    "which_policy": "how do the chains' means behave late in the run: do they still wander (nothing pulls them), "
                    "get pulled back towards the real mean, or hardly move any more?",
    "real_fraction": "under mix, how strongly is a chain's mean pulled back each generation? Simulate the candidate "
                     "fractions and compare that pull (and the variance it holds) with your case's.",
    "verifier_bias": "a verifier centred off the real mean moves the chains towards its centre and cuts the tail on "
                     "the far side; compare the chains' location and the two tails with simulated candidates.",
})


def _ref(samples, real):
    lo, hi = np.quantile(real, [0.01, 0.99])
    return np.mean((samples < lo) | (samples > hi), axis=2), np.var(samples, axis=2, ddof=1)


def _inputs():
    """(samples, real, label) cases: shapes, a pooled 2-D real array, values exactly at the cut points."""
    rng = np.random.default_rng(61)
    grid = np.arange(101.0)  # quantiles 1.0 and 99.0 exactly: samples equal to them are not beyond
    at_cut = np.stack([np.stack([np.r_[0.0, 1.0, 1.0, 50.0, 99.0, 99.0, 100.0, 3.0],
                                 np.r_[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 99.0, 100.0]])])
    rows = rng.standard_normal((4, 30)) * np.array([[0.5], [1.0], [1.5], [3.0]])  # rows differ: pool them
    return [
        (rng.standard_normal((3, 5, 200)) * np.linspace(1.0, 0.2, 5)[None, :, None], rng.standard_normal(400),
         "3 chains, 5 generations, shrinking"),
        (at_cut, grid, "samples exactly at the real data's quantiles"),
        (rng.standard_normal((2, 4, 60)) + np.array([0.0, 1.0, 2.0, 3.0])[None, :, None], rows,
         "2 chains drifting up; real data given as 4 rows of 30"),
        (rng.standard_normal((1, 2, 2)), rng.standard_normal(50), "1 chain, 2 generations, 2 samples each"),
    ]


@exercise("ch6", refs=("forensics.diagnostics",))
def diagnostics(fn):
    """``fn(samples, real) -> (tail, bulk)``: per chain and generation, the share of samples beyond the pooled real
    data's 1% and 99% quantiles and the unbiased variance, each (chains, generations + 1)."""
    for samples, real, label in _inputs():
        s_arg, r_arg = samples.copy(), real.copy()
        got = call(fn, s_arg, r_arg, name="diagnostics")
        unchanged({"samples": samples, "real": real}, {"samples": s_arg, "real": r_arg}, "diagnostics")
        want = _ref(samples, real)
        shape = samples.shape[:2]
        expect(isinstance(got, (tuple, list)) and len(got) == 2, f"diagnostics on {label}: a pair (tail, bulk)",
               "a tuple of 2 arrays", show(got, 80), "return both statistics together, the tail statistic first")
        tail, bulk = (np.asarray(x, dtype=float) if np.ndim(x) else None for x in got)
        ok = tail is not None and bulk is not None and tail.shape == shape and bulk.shape == shape
        hint_ = f"one value per chain and generation: shape {shape} (average over the samples, the last axis)"
        if tail is not None and tail.shape == shape[::-1]:
            hint_ = "the first axis is the chain, the second the generation: do not transpose"
        expect(ok, f"diagnostics on {label}: the shapes of (tail, bulk)", f"two arrays of shape {shape}",
               f"{getattr(tail, 'shape', None)} and {getattr(bulk, 'shape', None)}", hint_)
        hint_ = "the share of samples below the 1% or above the 99% quantile of all the real data"
        lo, hi = np.quantile(real, [0.01, 0.99])
        mistakes = [
            ("'beyond' is strict: a sample equal to a quantile is not in the tail",
             np.mean((samples <= lo) | (samples >= hi), axis=2)),
            ("count both tails: below the 1% quantile and above the 99% one", np.mean(samples > hi, axis=2)),
            ("count both tails: below the 1% quantile and above the 99% one", np.mean(samples < lo, axis=2)),
            ("the cut points are the quantiles of the real data (all of it pooled), not of the samples",
             np.mean((samples < np.quantile(samples, 0.01, axis=2, keepdims=True))
                     | (samples > np.quantile(samples, 0.99, axis=2, keepdims=True)), axis=2)),
        ]
        if real.ndim == 2:
            q = np.quantile(real, [0.01, 0.99], axis=1)
            mistakes.append(("pool all the real data before taking the quantiles (np.quantile of the whole array)",
                             np.mean((samples < q[0].min()) | (samples > q[1].max()), axis=2)))
        for text, res in mistakes:
            if not close(res, want[0]) and close(tail, res):
                hint_ = text
                break
        if close(tail, want[1]) and close(bulk, want[0]):
            hint_ = "the pair is (tail, bulk): the tail statistic first"
        expect(close(tail, want[0]), f"diagnostics on {label}: the tail statistic", want[0], tail, hint_)
        hint_ = "the variance of each generation's samples, unbiased (divide by S - 1)"
        if close(bulk, np.var(samples, axis=2)):
            hint_ = "the bulk statistic is the unbiased variance: ddof=1"
        elif close(bulk, np.std(samples, axis=2, ddof=1)):
            hint_ = "the variance, not the standard deviation"
        expect(close(bulk, want[1]), f"diagnostics on {label}: the bulk statistic", want[1], bulk, hint_)
    passed(f"diagnostics gives the tail and bulk statistics of every chain and generation on {len(_inputs())} cases")


def _truth() -> fo.Config | None:
    """The hidden configuration of the case this learner investigates (the grader's student, else the self-study
    case); None for an instructor's case file checked without the instructor's case key (its configuration cannot
    be computed here, so only the answer's form is checked: the grader decides)."""
    path = fo._find()
    if path is not None and not os.environ.get(fo.KEY_ENV):
        try:
            found = fo.load_case(path)
        except (OSError, ValueError):
            found = None
        if found is not None and found.student is not None:
            return None
    return fo.configuration(variants.student_id())


def _undecided(name: str) -> None:
    passed(f"{name}: the answer has the right form; your instructor's case is judged when it is graded")


def _shown(value, what: str):
    """What a failed inference item shows as expected: the value for the self-study case (its answer is public:
    ``forensics.reveal``), else only what it is (the feedback of a graded case names no answer)."""
    return value if variants.student_id() is None else f"the case's own {what}"


_POLICY_HINTS = {
    "replace": "nothing pulls the chains back: their means keep wandering and their variance keeps falling",
    "accumulate": "late in the run the chains' means hardly move any more: each new set is a small share of an "
                  "ever larger training set",
    "mix": "the chains' means keep moving but are pulled back towards the real mean every generation, and the "
           "variance levels off",
}


@exercise("ch6", refs=("forensics.configuration", "forensics.hidden_seed"), kind="concept")
def which_policy(answer) -> None:
    """Conceptual question: ``answer`` is the data policy of your case: 'replace', 'accumulate' or 'mix'."""
    expect(isinstance(answer, str) and answer.strip().lower() in fo.POLICIES, "which_policy: the name of a policy",
           f"one of {', '.join(repr(p) for p in fo.POLICIES)}", answer if not callable(answer) else "a function",
           "answer = 'replace', 'accumulate' or 'mix' (a string)")
    truth = _truth()
    if truth is None:
        return _undecided("which_policy")
    want = truth.policy
    expect(answer.strip().lower() == want, "which_policy: the data policy of your case", _shown(want, "policy"),
           answer, f"that is not what your case shows; the {answer.strip().lower()!r} chains would look different: "
                   f"{_POLICY_HINTS[answer.strip().lower()]}. Does your case show that?")
    passed(f"which_policy: {want}")


@exercise("ch6", refs=("forensics.configuration", "forensics.hidden_seed"), kind="concept")
def real_fraction(answer) -> None:
    """Conceptual question: ``answer`` is the real fraction f of every training set (a number in [0, 1]) when your
    case's policy is 'mix', the string 'none' for the other policies; strictly within 0.1."""
    none = isinstance(answer, str) and answer.strip().lower() == "none"
    ok = none or (isinstance(answer, (int, float, np.integer, np.floating)) and not isinstance(answer, bool)
                  and 0.0 <= float(answer) <= 1.0)
    expect(ok, "real_fraction: a number in [0, 1], or 'none'", "a number such as 0.2, or 'none'",
           answer if not callable(answer) else "a function", "answer = the fraction (a float), or the string 'none' "
           "when the policy is not mix")
    truth = _truth()
    if truth is None:
        return _undecided("real_fraction")
    if truth.fraction is None:
        expect(none, "real_fraction: your case's policy mixes no fixed real fraction", _shown("none", "answer"),
               answer, "the fraction belongs to the mix policy only; is your case's policy mix?")
    else:
        expect(not none and abs(float(answer) - truth.fraction) < fo.TOL_FRACTION - 1e-9,
               f"real_fraction: the real fraction of your case, within {fo.TOL_FRACTION}",
               _shown(truth.fraction, "fraction"), answer,
               "your case's policy is mix: give its fraction" if none else
               ("too low" if float(answer) < truth.fraction else "too high") + ": a larger real fraction pulls the "
               "means back harder (they persist less from one generation to the next) and holds the variance "
               "closer to the real one")
    passed("real_fraction: " + ("none" if truth.fraction is None else f"{truth.fraction:g}"))


@exercise("ch6", refs=("forensics.configuration", "forensics.hidden_seed"), kind="concept")
def verifier_bias(answer) -> None:
    """Conceptual question: ``answer`` is the verifier's bias b of your case (a number >= 0; 0: no verifier),
    strictly within 0.5."""
    ok = isinstance(answer, (int, float, np.integer, np.floating)) and not isinstance(answer, bool) \
        and np.isfinite(float(answer)) and float(answer) >= 0
    expect(ok, "verifier_bias: a number >= 0", "a number such as 1.5 (0: no verifier)",
           answer if not callable(answer) else "a function", "answer = the bias (a float; 0 when no verifier)")
    truth = _truth()
    if truth is None:
        return _undecided("verifier_bias")
    expect(abs(float(answer) - truth.bias) < fo.TOL_BIAS - 1e-9,
           f"verifier_bias: the verifier bias of your case, within {fo.TOL_BIAS}", _shown(truth.bias, "bias"), answer,
           "too low: the chains sit further from the real mean than that bias explains" if float(answer) < truth.bias
           else "too high: a verifier with that bias would move the chains further and cut the lower tail harder")
    passed(f"verifier_bias: {truth.bias:g}")


def answers(student: str | None) -> dict:
    """The answers of ``student``'s case (a str id; None: the self-study case), under the case key."""
    cfg = fo.configuration(student)
    return {"which_policy": cfg.policy, "real_fraction": "none" if cfg.fraction is None else cfg.fraction,
            "verifier_bias": cfg.bias}


def prepare(folder) -> None:
    """Before a graded kernel starts in ``folder``: write the case of the student being graded
    (:func:`variants.student_id`) there, so the notebook runs on that student's own data."""
    fo.write_case(folder, variants.student_id())
