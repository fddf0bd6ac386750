"""Checks for Chapter 5 (what prevents collapse). Each runs the learner's code on several inputs against a
reference computed here. The chains passed to ``minimal_fraction`` are module-level functions ``run(f, seed)``, so
they can be called positionally or with ``seed=`` as the text writes; inputs must come back unchanged."""
from __future__ import annotations

import functools
import math

import numpy as np

from .. import loop
from .. import mitigation as mi
from .inputs import (STOP as _STOP, at_tol as _at_tol, costly as _costly, decay as _decay,
                     first_seed_good as _first_seed_good, linear as _linear, mix_chain as _mix_chain,
                     seed_ramp as _seed_ramp, skewed as _skewed)
from . import variants
from .core import CheckFailed, Hints, call, close, exercise, expect, last_call, number, passed, show, unchanged
from ..runtime import silence_progress

hint = Hints("ch5", {
    "linreg_errors": "compute the common factor s**2 * d / (T - d - 1) once; replace multiplies it by the number of "
                     "fits n, accumulate by the sum of 1/i**2 over i = 1..n (a loop or np.arange(1, n + 1)).",
    "window_policy": "a negative slice start counts from the end of a list, and a slice longer than "
                     "the list simply stops at its start; loop.concat joins a list of data sets into "
                     "one array.",
    "minimal_fraction": "sorted(...) returns a new sorted list (list.sort() would change the "
                        "caller's); a return inside the loop stops at the first fraction that passes;"
                        " range(seeds) gives the seeds.",
    "tail_alarm": "np.quantile(reference, [q, 1 - q]) gives both cut points; np.mean(x < lo) is a "
                  "tail mass; compare each side with the reference's own; enumerate() numbers the "
                  "generations from 0.",
    "anchor_or_prior": "in the long run the expected estimate stops moving: write E[p'] of each scheme as a "
                       "function of p (the count is Binomial(M, p), the real point Bernoulli(p*)) and solve "
                       "E[p'] = p, with your variant's numbers.",
    "anchored_variance": "write E[s^2] and E[mu^2] one generation later in terms of their values now; the long run is"
                         " where both stop changing: two linear equations in two unknowns, with your variant's M, A and ddof.",
})


@exercise("ch5", refs=("mitigation.linreg.linreg_formula", "mitigation.linreg.linreg_bound"))
def linreg_errors(fn):
    """``fn(n, d, M, sigma) -> (replace, accumulate)``: the expected excess risks of Gerstgrasser et al."""
    cases = [(1, 10, 50, 1.0), (10, 10, 50, 1.0), (20, 10, 50, 1.0), (3, 5, 12, 2.0), (7, 2, 40, 0.5),
             (4, 3, 6, 1.5)]
    for n, d, T, s in cases:
        got = call(fn, n, d, T, s, name="linreg_errors")
        want = (mi.linreg_formula(n, d, T, s, "replace"), mi.linreg_formula(n, d, T, s, "accumulate"))
        label = f"linreg_errors(n={n}, d={d}, M={T}, sigma={s})"
        expect(isinstance(got, (tuple, list)) and len(got) == 2, f"{label} must return a pair (replace, accumulate)",
               "a tuple of 2 numbers", show(got, 80), "return both errors together, replace first")
        base = s ** 2 * d / (T - d - 1)
        r, a = (number(x) for x in got)
        expect(r is not None and a is not None, f"{label}: two numbers", "two floats", show(got, 80),
               "each error is one number (the value after n fits, not the whole sequence)")
        hint_ = "replacing: every fit adds the same error, and nothing removes it"
        if close(r, want[1]) and close(a, want[0]):
            hint_ = "the pair is (replace, accumulate): replace grows without bound, accumulate stays bounded"
        elif close(r, base * n * (T - d - 1) / (T - d)):
            hint_ = "check the denominator against the text: M - d - 1"
        elif s != 1 and close(r, base * n / s):
            hint_ = "sigma is the noise standard deviation: the error scales with its square"
        elif close(r, base * (n - 1)):
            hint_ = "n counts the fits including the first one on real data (n = 1: one fit)"
        expect(close(r, want[0], rtol=1e-6), f"replace error at n={n}, d={d}, M={T}, sigma={s}", want[0], got[0], hint_)
        hint_ = "accumulating: fit i sees i data sets, so its added error shrinks like 1/i^2"
        if close(a, base * sum(1 / i for i in range(1, n + 1))):
            hint_ = "the terms go as 1/i^2, not 1/i"
        elif n > 1 and close(a, base * sum(1 / i ** 2 for i in range(1, n))):
            hint_ = "the sum runs over i = 1..n inclusive"
        expect(close(a, want[1], rtol=1e-6), f"accumulate error at n={n}, d={d}, M={T}, sigma={s}", want[1], got[1],
               hint_)
    passed(f"linreg_errors matches both formulas on {len(cases)} settings (e.g. d=10, M=50, n=10: "
           f"{mi.linreg_formula(10):.3f} vs {mi.linreg_formula(10, policy='accumulate'):.3f})")


def _toy_family():
    def fit(data, rng):
        return float(np.mean(data))

    def sample(model, n, rng):
        return model + rng.standard_normal(n)

    return loop.Family(fit, sample, name="toy")


@exercise("ch5", refs=("loop.Accumulate.build",))
def window_policy(cls):
    """``cls(window)``: a data policy (n_synthetic, build) training on the real data plus the last ``window``
    synthetic sets."""
    if not isinstance(cls, type) and (hasattr(cls, "build") or not callable(cls)):  # a proxy of a class passes
        raise CheckFailed("expected the class itself\n  expected: Window (the class)\n  got:      "
                          f"{show(cls, 60)}\n  hint: pass the class, not an instance: check(Window)")
    name = getattr(cls, "__name__", None) or "Window"
    rng = np.random.default_rng(0)
    real0 = np.arange(4.0)
    sets0 = [np.full(4, 10.0 * (i + 1)) for i in range(5)]
    for w in (1, 2, 3, 7):
        pol = call(cls, w, name=f"{name}({w})")
        expect(getattr(pol, "keeps_history", False) is True, f"{name}({w}).keeps_history",
               True, getattr(pol, "keeps_history", None),
               "set keeps_history = True so the loop passes every synthetic set so far, not only the last")
        for n in (4, 50, 7):
            got = call(pol.n_synthetic, n, name="n_synthetic")
            hint_ = "the previous model writes as many samples as there are real ones"
            if got == n * w:
                hint_ = "n_synthetic is the size of one new synthetic set; the window is applied in build"
            expect(isinstance(got, (int, np.integer)) and got == n, f"{name}({w}).n_synthetic({n})", n, got, hint_)
        for upto in (1, 3, 5):
            real, sets = real0.copy(), [x.copy() for x in sets0[:upto]]
            got = call(pol.build, real, sets, rng, name="build")
            expect(len(sets) == upto, f"{name}({w}).build changed the list synthetic_sets", f"{upto} sets",
                   f"{len(sets)} sets", "the loop keeps that list as its history: read it, do not pop or extend it")
            unchanged({"real": real0, **{f"synthetic_sets[{i}]": x for i, x in enumerate(sets0[:upto])}},
                      {"real": real, **{f"synthetic_sets[{i}]": x for i, x in enumerate(sets)}}, f"{name}.build")
            want = np.concatenate([real0, *sets0[:upto][-w:]])
            hint_ = "the real data plus the last `window` synthetic sets (all of them while there are fewer)"
            if isinstance(got, np.ndarray) and got.size == want.size - real0.size:
                hint_ = "the real data are part of every training set: keep them"
            elif isinstance(got, np.ndarray) and got.size > want.size:
                hint_ = "only the last `window` synthetic sets: the older ones leave the window"
            elif isinstance(got, np.ndarray) and got.size == want.size and upto > w:
                hint_ = "the newest sets are at the end of synthetic_sets (oldest first)"
            expect(isinstance(got, np.ndarray) and close(np.sort(got), np.sort(want)),
                   f"{name}({w}).build(real, {upto} synthetic sets) (sorted values)", want, got, hint_)
            expect(np.array_equal(got[:real0.size], real0), f"{name}({w}).build(real, {upto} synthetic sets): the "
                   "first rows", real0, got[:real0.size], "the text asks for the real rows first, then the synthetic "
                   "ones: put real at the start of the concatenation")
    pol = call(cls, 2, name=f"{name}(2)")

    class Through(loop.Policy):  # the loop reaches the learner's object only through call
        keeps_history = True
        name = "window 2"

        def n_synthetic(self, n_real):
            return call(pol.n_synthetic, n_real, name="n_synthetic")

        def build(self, real, synthetic_sets, rng):
            return call(pol.build, real, list(synthetic_sets), rng, name="build")

    with silence_progress():
        h = loop.run(_toy_family(), np.zeros(30), 6, policy=Through(), seed=1)
    want = [30 * (1 + min(g, 2)) for g in range(7)]
    expect(list(h["n_train"]) == want, f"training-set sizes of loop.run with {name}(2)", want,
           list(h["n_train"]), "generation g trains on the real data plus min(g, window) synthetic sets")
    passed(f"{name} works with loop.run: training sets of {want[:4]}... examples for window 2")


_CASES = [  # run, fractions, tol, seeds, seeds passed as a keyword
    (_decay, [0.0, 0.01, 0.05, 0.1, 0.25, 0.5], 0.2, 3, False),
    (_seed_ramp, [0.1, 0.3, 0.6], 0.15, 3, False),                   # seeds are 0 .. seeds-1
    (_first_seed_good, [0.0, 0.5], 0.4, 2, True),                    # every seed counts
    (_linear, (0.0, 0.1, 0.2), 0.5, 1, False),                      # none passes; a tuple, as mi.sizes() gives
    (_at_tol, np.array([0.1, 0.2, 0.4]), 0.25, 2, True),             # exactly at tol passes
    (_decay, [0.5, 0.05, 0.25, 0.0, 0.1, 0.01], 0.05, 1, True),     # unsorted
    (_costly, [0.25, 0.0, 0.05, 0.1, 0.5], 0.1, 2, True),            # runs above the answer are not made
    (_skewed, [0.1, 0.5], 0.2, 3, True),                             # the mean over seeds, not the median
    (_mix_chain, [0.0, 0.05, 0.1, 0.25], 0.05, 4, True),
]

def _ref_minimal(run, fractions, tol, seeds):
    for f in sorted(fractions):
        if np.mean([run(f, s) for s in range(seeds)]) <= tol:
            return f
    return None


@exercise("ch5", refs=("mitigation.policies.minimal_fraction",))
def minimal_fraction(fn):
    """``fn(run, fractions, tol, seeds)``: the smallest fraction whose mean of ``run(f, seed)`` over
    ``seeds`` seeds is <= tol (None when none is)."""
    for i, (run, fr, tol, seeds, kw) in enumerate(_CASES):
        want = _ref_minimal(run, fr, tol, seeds)
        arg = fr.copy() if isinstance(fr, (list, np.ndarray)) else fr
        shown = ", ".join(f"{float(v):g}" for v in fr)
        label = f"minimal_fraction on case {i + 1} ({run.__name__.strip('_')}, fractions [{shown}], tol {tol}, " \
                f"seeds {seeds})"
        try:
            got = (call(fn, run, arg, tol, seeds=seeds, name="minimal_fraction") if kw else
                   call(fn, run, arg, tol, seeds, name="minimal_fraction"))
        except CheckFailed as e:
            if _STOP in str(e):
                expect(False, label, f"no run for fractions above {want}", "a run for a larger fraction",
                       "try the fractions from the smallest up and stop at the first that passes: each run is a "
                       "whole chain of generations")
            raise
        if isinstance(fr, (list, np.ndarray)):
            unchanged({"fractions": np.asarray(fr)}, {"fractions": np.asarray(arg)}, "minimal_fraction")
        ok = (got is None and want is None) or (number(got) is not None and want is not None and close(got, want))
        hint_ = "the smallest fraction whose average over the seeds is at most tol; None when none is"
        mean = lambda f, seeds_: np.mean([run(f, s) for s in seeds_])  # noqa: E731
        variants = [
            ("the mean of run(f, seed) over the seeds, not their median (one bad seed in three counts)",
             next((f for f in sorted(fr) if np.median([run(f, s) for s in range(seeds)]) <= tol), None)),
            ("'at most tol' includes an average exactly equal to tol",
             next((f for f in sorted(fr) if mean(f, range(seeds)) < tol), None)),
            ("average over every seed 0 .. seeds-1, not the first seed alone",
             next((f for f in sorted(fr) if run(f, 0) <= tol), None)),
            ("the seeds are 0, 1, ..., seeds-1 (range(seeds))",
             next((f for f in sorted(fr) if mean(f, range(1, seeds + 1)) <= tol), None)),
            ("the fractions may come in any order: try them from the smallest up",
             next((f for f in fr if mean(f, range(seeds)) <= tol), None)),
        ] if run is not _costly else []
        for text, res in variants:
            if (res is None) != (want is None) or (res is not None and not close(res, want)):
                if (res is None and got is None) or (res is not None and number(got) is not None and close(got, res)):
                    hint_ = text
                    break
        else:
            if want is None and got is not None:
                hint_ = "no fraction reaches the tolerance here: return None"
        expect(ok, label, want, got, hint_)
    passed(f"minimal_fraction finds the smallest fraction whose mean over the seeds is within tolerance, on "
           f"{len(_CASES)} cases")


def _ref_alarm(samples_by_gen, reference, q, tol):
    lo, hi = np.quantile(reference, [q, 1 - q])
    ref = np.array([np.mean(reference < lo), np.mean(reference > hi)])
    for g, x in enumerate(samples_by_gen):
        now = np.array([np.mean(x < lo), np.mean(x > hi)])
        if np.max(1 - now[ref > 0] / ref[ref > 0]) > tol:
            return g
    return None


def _alarm_variants(gens, ref, q, tol):
    """What likely mistakes return on a case: name -> result."""
    lo, hi = np.quantile(ref, [q, 1 - q])
    r = np.array([np.mean(ref < lo), np.mean(ref > hi)])
    nows = [np.array([np.mean(x < lo), np.mean(x > hi)]) for x in gens]
    first = lambda cond: next((g for g, n in enumerate(nows) if cond(n)), None)  # noqa: E731
    return {  # the first whose result matches names the mistake: the narrowest first
        "<= at the cut": next((g for g, x in enumerate(gens) if np.max(1 - np.array(
            [np.mean(x <= lo), np.mean(x >= hi)]) / np.array([np.mean(ref <= lo), np.mean(ref >= hi)])) > tol), None),
        "both tails summed": first(lambda n: 1 - n.sum() / r.sum() > tol),
        "lower tail only": first(lambda n: 1 - n[0] / r[0] > tol),
        "upper tail only": first(lambda n: 1 - n[1] / r[1] > tol),
        "any change, growth included": first(lambda n: np.max(np.abs(1 - n / r)) > tol),
        "q fixed at 1%": _ref_alarm(gens, ref, 0.01, tol),
        ">= tol": first(lambda n: np.max(1 - n / r) >= tol),
        "baseline q": first(lambda n: np.max(1 - n / q) > tol),
    }


_ALARM_HINTS = {
    "both tails summed": "each side is taken on its own: a shift can empty one tail while the other fills",
    "lower tail only": "watch both tails: the upper one can drop while the lower one does not",
    "upper tail only": "watch both tails: the lower one can drop while the upper one does not",
    "any change, growth included": "only a drop is an alarm: growing tails are not",
    "q fixed at 1%": "use the q argument for the quantiles",
    ">= tol": "'more than tol' is strict: a drop of exactly tol is not an alarm",
    "baseline q": "the baseline is the reference's own tail mass beyond the cut points, measured like the samples' "
                  "(on a finite reference it is not exactly q)",
    "<= at the cut": "a tail holds the points strictly beyond a cut point: a point equal to it is in neither tail",
}


def _tailed(lo, hi, below, at, above, n=100):
    """n points: the share ``below`` strictly below ``lo``, ``at`` exactly at ``lo``, ``above`` strictly above
    ``hi``, the rest in between."""
    k = [int(round(share * n)) for share in (below, at, above)]
    return np.r_[np.full(k[0], lo - 1.0), np.full(k[1], lo), np.full(k[2], hi + 1.0),
                 np.full(n - sum(k), (lo + hi) / 2)]


@exercise("ch5", refs=("mitigation.monitoring.Monitor.check", "mitigation.monitoring.Monitor.stats",
                       "mitigation.monitoring.first_alert"))
def tail_alarm(fn):
    """``fn(samples_by_gen, reference, q, tol)``: the first generation whose lower or upper tail mass (the share
    strictly below the reference's q quantile, strictly above its 1 - q quantile) dropped by more than ``tol``
    relative to the reference's own tail mass measured the same way, or None."""
    rng = np.random.default_rng(5)
    ref = rng.standard_normal(40000)
    shrink = [s * rng.standard_normal(40000) for s in (1.0, 0.98, 0.95, 0.9, 0.8, 0.6)]
    shift = [rng.standard_normal(40000) + m for m in (0.0, 0.02, 0.05, 0.1, 0.3)]
    left = [rng.standard_normal(40000) - m for m in (0.0, 0.1, 0.3, 0.6)]
    grow = [s * rng.standard_normal(40000) for s in (1.0, 1.1, 1.3)]
    grid = np.arange(1000.0)  # quantiles at 99.9 and 899.1: tail masses of exactly 0.1
    exact = [np.r_[np.arange(50.0) + 0.5, np.full(850, 500.0), np.arange(100.0) + 900.5],  # lower drop exactly 0.5
             np.r_[np.arange(40.0) + 0.5, np.full(860, 500.0), np.arange(100.0) + 900.5]]  # lower drop 0.6
    # a reference of 10 points: with q = 0.15 its tails beyond the cut points hold 0.2 each, not q
    small = np.arange(10.0)
    lo, hi = np.quantile(small, [0.15, 0.85])
    baseline = [_tailed(lo, hi, b, 0.0, 0.2) for b in (0.2, 0.16, 0.12, 0.09)]    # drops 0, 20, 40, 55% of 0.2
    boundary = [_tailed(lo, hi, 0.2, 0.0, 0.2), _tailed(lo, hi, 0.1, 0.1, 0.2)]   # half the lower tail moved onto lo
    cases = [(shrink, ref, 0.01, 0.3), (shrink, ref, 0.01, 0.6), (shrink, ref, 0.05, 0.3), (shift, ref, 0.01, 0.25),
             (grow, ref, 0.01, 0.2), (shrink, ref, 0.02, 0.99), (shrink, ref, 0.05, 0.45), (left, ref, 0.01, 0.5),
             (exact, grid, 0.1, 0.5), (baseline, small, 0.15, 0.3), (boundary, small, 0.15, 0.3)]
    for i, (gens, reference, q, tol) in enumerate(cases):
        want = _ref_alarm(gens, reference, q, tol)
        gens_arg, ref_arg = [x.copy() for x in gens], reference.copy()
        got = call(fn, gens_arg, ref_arg, q, tol, name="tail_alarm")
        unchanged({"reference": reference, **{f"samples_by_gen[{g}]": x for g, x in enumerate(gens)}},
                  {"reference": ref_arg, **{f"samples_by_gen[{g}]": x for g, x in enumerate(gens_arg)}},
                  "tail_alarm")
        is_int = isinstance(got, (int, np.integer)) and not isinstance(got, (bool, np.bool_))
        hint_ = "the first generation (0-based) where the lower or the upper tail lost more than tol of its mass"
        for mistake, res in _alarm_variants(gens, reference, q, tol).items():
            if res != want and got == res:
                hint_ = _ALARM_HINTS[mistake]
                break
        else:
            if want is None and got is not None:
                hint_ = "when no generation fires, return None"
            elif got is not None and not is_int:
                hint_ = "return the generation as an int (or None)"
            elif is_int and want is not None and int(got) == want + 1:
                hint_ = "generations are numbered from 0: samples_by_gen[0] is generation 0"
        expect((got is None and want is None) or (is_int and want is not None and int(got) == want),
               f"tail_alarm on case {i + 1} (q={q}, tol={tol})", want, got, hint_)
    passed(f"tail_alarm fires on the shrinking and the drifting chains, and stays quiet when the tails grow "
           f"({len(cases)} cases)")


# ---------------------------------------------------------------------------------------------------------------
# conceptual questions: the answer is a value (the check never calls it)


@exercise("ch5", refs=("mitigation.anchor.categorical_chain",), kind="concept")
def anchor_or_prior(answer) -> None:
    """Conceptual question: ``answer = (p_map, p_both)``, the long-run mean of the fitted p of two Bernoulli chains
    with M samples per generation and a prior of ``a`` pseudo-counts for x = 1 and ``b`` for x = 0: the prior alone,
    and the prior with one real point of truth p* per generation (p*, M, a, b from the learner's
    ``checks.variant("05")``: ``prior = (a, b)``)."""
    expect(not callable(answer), "anchor_or_prior: (p_map, p_both)", "two numbers, e.g. (0.25, 0.75)",
           type(answer).__name__, "write the two numbers (no function)")
    ok = isinstance(answer, (tuple, list)) and len(answer) == 2 and all(
        isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, bool) for x in answer)
    expect(ok, "anchor_or_prior: (p_map, p_both)", "a tuple of two numbers", answer, "answer = (p_map, p_both)")
    v = variants.variant("05")
    want = answers(v)["anchor_or_prior"]
    mine = f"your variant: p* = {v.p_star}, M = {v.M}, (a, b) = {v.prior}"
    expect(abs(float(answer[0]) - want[0]) < 0.005, "anchor_or_prior: long-run mean p with the prior alone",
           f"the fixed point of E[p'] = (M p + a) / (M + a + b) ({mine})", answer[0],
           "in the long run E[p'] = E[p]: solve p = (M p + a) / (M + a + b) for p; does p* appear?")
    expect(abs(float(answer[1]) - want[1]) < 0.005, "anchor_or_prior: long-run mean p with the prior and one real "
           "point", f"the fixed point of E[p'] = (M p + p* + a) / (M + 1 + a + b) ({mine})", answer[1],
           "the real point adds p* in expectation: solve p = (M p + p* + a) / (M + 1 + a + b) for p")
    passed(f"anchor_or_prior: the prior alone centres the chain on its own centre ({want[0]:.3f}); one real point "
           f"pulls it towards the truth ({want[1]:.3f}) but not onto it")


def _anchored_mean_var(M: int, A: int, ddof: int) -> float:
    """E[s^2] in the long run of the anchored Gaussian chain: the 2 x 2 system of 5a's Going deeper part."""
    N = M + A
    system = np.array([[(N - ddof) - (1 - 1 / N) * M, -M * A / N], [-M, N**2 - M**2]], dtype=float)
    return float(np.linalg.solve(system, [(1 - 1 / N) * A, A])[0])


@exercise("ch5", refs=("mitigation.anchor.anchored_stationary", "mitigation.anchor.gaussian_chain"), kind="concept")
def anchored_variance(answer) -> None:
    """Conceptual question: ``answer`` is a number, the long-run mean E[s^2] of the anchored Gaussian chain with M
    points of the current fit and A real N(0, 1) points per generation, variance with divisor M + A - ddof (M, A,
    ddof from the learner's ``checks.variant("05")``)."""
    expect(not callable(answer), "anchored_variance: the long-run mean of s^2", "a number", type(answer).__name__,
           "write the number itself (no function)")
    ok = isinstance(answer, (int, float, np.floating, np.integer)) and not isinstance(answer, bool)
    expect(ok, "anchored_variance: the long-run mean of s^2", "a number", answer, "answer = a float")
    v = variants.variant("05")
    want = answers(v)["anchored_variance"]
    # within 3 decimals: the variants' answers lie at least 0.0019 apart, so a neighbour's answer fails
    expect(abs(float(answer) - want) < 6e-4, f"anchored_variance: E[s^2] in the long run (your variant: M = {v.M}, "
           f"A = {v.A}, ddof = {v.ddof})", "the solution of the two long-run equations (to 3 decimals)", answer,
           "set a = E[s^2], b = E[mu^2] and N = M + A; with divisor N - ddof the equations are "
           "(N - ddof) a = (1 - 1/N)(M a + A) + (M A / N) b and b (N^2 - M^2) = M a + A; solve them")
    side = "wider" if want > 1 else "narrower"
    passed(f"anchored_variance: E[s^2] = {want:.3f}: the average chain is {side} than the truth (variance 1)")


def answers(v) -> dict:
    """The answers of this chapter's variant items for the variant ``v`` (``checks.variant("05", student)``)."""
    a, b = v.prior
    return {"anchor_or_prior": (a / (a + b), (v.p_star + a) / (1 + a + b)),
            "anchored_variance": _anchored_mean_var(v.M, v.A, v.ddof)}
