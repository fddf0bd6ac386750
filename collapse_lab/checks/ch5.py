"""Checks for Chapter 5 (what prevents collapse). Each runs the learner's code on several inputs against a
reference computed here."""
from __future__ import annotations

import math

import numpy as np

from .. import loop
from .. import mitigation as mi
from .core import CheckFailed, call, close, expect, passed


def linreg_errors(fn):
    """``fn(n, d, T, s) -> (replace, accumulate)``: the expected excess risks of Gerstgrasser et al."""
    cases = [(1, 10, 50, 1.0), (10, 10, 50, 1.0), (20, 10, 50, 1.0), (3, 5, 12, 2.0), (7, 2, 40, 0.5)]
    for n, d, T, s in cases:
        got = call(fn, n, d, T, s, name="linreg_errors")
        want = (mi.linreg_formula(n, d, T, s, "replace"), mi.linreg_formula(n, d, T, s, "accumulate"))
        expect(isinstance(got, (tuple, list)) and len(got) == 2, f"linreg_errors({n}, {d}, {T}, {s}) must return "
               "a pair (replace, accumulate)", "a tuple of 2 numbers", got, "return replace_error, accumulate_error")
        expect(close(got[0], want[0], rtol=1e-6), f"replace error at n={n}, d={d}, T={T}, s={s}", want[0], got[0],
               "each iteration adds s^2 d/(T-d-1): the errors add up, n of them")
        expect(close(got[1], want[1], rtol=1e-6), f"accumulate error at n={n}, d={d}, T={T}, s={s}", want[1], got[1],
               "iteration i adds s^2 d/(T-d-1) / i^2: sum 1/i^2 for i = 1..n")
    passed(f"linreg_errors matches both formulas on {len(cases)} settings (e.g. d=10, T=50, n=10: "
           f"{mi.linreg_formula(10):.3f} vs {mi.linreg_formula(10, policy='accumulate'):.3f})")


def _toy_family():
    def fit(data, rng):
        return float(np.mean(data))

    def sample(model, n, rng):
        return model + rng.standard_normal(n)

    return loop.Family(fit, sample, name="toy")


def window_policy(cls):
    """``cls(window)``: a data policy (n_synthetic, build) training on the real data plus the last ``window``
    synthetic sets."""
    if not isinstance(cls, type):
        raise CheckFailed("expected the class itself\n  expected: Window (the class)\n  got:      "
                          f"{type(cls).__name__}\n  hint: pass the class, not an instance: check(Window)")
    rng = np.random.default_rng(0)
    real = np.arange(4.0)
    sets = [np.full(4, 10.0 * (i + 1)) for i in range(5)]
    for w in (1, 2, 3, 7):
        pol = call(cls, w, name=f"{cls.__name__}({w})")
        expect(getattr(pol, "keeps_history", False) is True, f"{cls.__name__}({w}).keeps_history",
               True, getattr(pol, "keeps_history", None),
               "set keeps_history = True so the loop passes every synthetic set so far, not only the last")
        for n in (4, 50):
            got = call(pol.n_synthetic, n, name="n_synthetic")
            expect(got == n, f"{cls.__name__}({w}).n_synthetic({n})", n, got,
                   "the previous model writes as many samples as there are real ones")
        for upto in (1, 3, 5):
            got = call(pol.build, real, sets[:upto], rng, name="build")
            want = np.concatenate([real, *sets[:upto][-w:]])
            expect(isinstance(got, np.ndarray) and close(np.sort(got), np.sort(want)),
                   f"{cls.__name__}({w}).build(real, {upto} synthetic sets) (sorted values)", want, got,
                   "concatenate the real data with synthetic_sets[-window:] (use loop.concat)")
    pol = call(cls, 2, name=f"{cls.__name__}(2)")
    h = loop.run(_toy_family(), np.zeros(30), 6, policy=pol, seed=1)
    want = [30 * (1 + min(g, 2)) for g in range(7)]
    expect(list(h["n_train"]) == want, f"training-set sizes of loop.run with {cls.__name__}(2)", want,
           list(h["n_train"]), "generation g trains on the real data plus min(g, window) synthetic sets")
    passed(f"{cls.__name__} works with loop.run: training sets of {want[:4]}... examples for window 2")


def _mix_chain(f, seed, generations=60, M=200):
    """Final W2^2 to N(0, 1) of a Gaussian chain keeping a real fraction f (the check's own reference run)."""
    from ..metrics import w2_gaussian

    def fit(x, rng):
        return float(np.mean(x)), float(np.var(x, ddof=1))

    def sample(m, n, rng):
        return rng.normal(m[0], math.sqrt(m[1]), n)

    real = np.random.default_rng([seed, 3]).standard_normal(M)
    h = loop.run(loop.Family(fit, sample), real, generations, policy=loop.policy("mix", fraction=f), seed=seed,
                 metrics={"d": lambda m, _: w2_gaussian(m[0], m[1], 0.0, 1.0)})
    return float(h["d"][-1])


def _ref_minimal(run, fractions, tol, seeds):
    for f in sorted(fractions):
        if np.mean([run(f, s) for s in range(seeds)]) <= tol:
            return f
    return None


def minimal_fraction(fn):
    """``fn(run, fractions, tol, seeds)``: the smallest fraction whose mean of ``run(f, seed)`` over
    ``seeds`` seeds is <= tol (None when none is)."""
    cases = [
        (lambda f, s: 1.0 / (1.0 + 100 * f) + 0.01 * s, [0.0, 0.01, 0.05, 0.1, 0.25, 0.5], 0.2, 3),
        (lambda f, s: 1.0 / (1.0 + 100 * f) + 0.01 * s, [0.5, 0.05, 0.25, 0.0, 0.1, 0.01], 0.05, 2),
        (lambda f, s: 1.0 - f, [0.0, 0.1, 0.2], 0.5, 1),
        (lambda f, s: 0.0 if s == 0 else 1.0, [0.0, 0.5], 0.4, 2),
        (_mix_chain, [0.0, 0.05, 0.1, 0.25], 0.05, 4),
    ]
    for i, (run, fr, tol, seeds) in enumerate(cases):
        want = _ref_minimal(run, fr, tol, seeds)
        got = call(fn, run, list(fr), tol, seeds, name="minimal_fraction")
        ok = (got is None and want is None) or (got is not None and want is not None and close(got, want))
        expect(ok, f"minimal_fraction on case {i + 1} (fractions {fr}, tol {tol}, seeds {seeds})", want, got,
               "try the fractions from the smallest up; average run(f, seed) over seed = 0..seeds-1; "
               "return None when no fraction is good enough")
    passed(f"minimal_fraction finds the smallest real fraction within tolerance (the Gaussian chain case: "
           f"{_ref_minimal(_mix_chain, [0.0, 0.05, 0.1, 0.25], 0.05, 4)})")


def _ref_alarm(samples_by_gen, reference, q, tol):
    mon = mi.Monitor(reference, "tails", q=q, tol=tol)
    for g, x in enumerate(samples_by_gen):
        st = mon.stats(x)
        drops = [1 - st[k] / mon.ref[k] for k in ("lower", "upper") if mon.ref[k] > 0]
        if drops and max(drops) > tol:
            return g
    return None


def tail_alarm(fn):
    """``fn(samples_by_gen, reference, q, tol)``: the first generation whose lower or upper tail mass beyond the
    reference's q and 1 - q quantiles dropped by more than ``tol`` (relative), or None."""
    rng = np.random.default_rng(5)
    ref = rng.standard_normal(40000)
    shrink = [s * rng.standard_normal(40000) for s in (1.0, 0.98, 0.95, 0.9, 0.8, 0.6)]
    shift = [rng.standard_normal(40000) + m for m in (0.0, 0.02, 0.05, 0.1, 0.3)]
    grow = [s * rng.standard_normal(40000) for s in (1.0, 1.1, 1.3)]
    cases = [(shrink, 0.01, 0.3), (shrink, 0.01, 0.6), (shrink, 0.05, 0.3), (shift, 0.01, 0.25), (grow, 0.01, 0.2),
             (shrink, 0.02, 0.99)]
    for i, (gens, q, tol) in enumerate(cases):
        want = _ref_alarm(gens, ref, q, tol)
        got = call(fn, gens, ref, q, tol, name="tail_alarm")
        expect(got == want, f"tail_alarm on case {i + 1} (q={q}, tol={tol})", want, got,
               "lo, hi = np.quantile(reference, [q, 1 - q]); compare np.mean(x < lo) and np.mean(x > hi) with the "
               "reference's own, side by side; fire when either fell by more than tol (relative)")
    passed("tail_alarm fires on the shrinking and the drifting chains, and stays quiet when the tails grow")


# ---------------------------------------------------------------------------------------------------------------
# conceptual questions: the answer is a value (the check never calls it)


def anchor_or_prior(answer) -> None:
    """Conceptual question: ``answer = (p_anchor, p_map)``, the long-run mean of the fitted p of two Bernoulli chains
    with truth p* = 0.3, M = 20: one real point per generation, and one pseudo-count per category (Beta(2, 2))."""
    expect(not callable(answer), "anchor_or_prior: (p_anchor, p_map)", "two numbers, e.g. (0.25, 0.75)",
           type(answer).__name__, "write the two numbers (no function)")
    ok = isinstance(answer, (tuple, list)) and len(answer) == 2 and all(
        isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) for v in answer)
    expect(ok, "anchor_or_prior: (p_anchor, p_map)", "a tuple of two numbers", answer,
           "answer = (p_anchor, p_map)")
    p_star, M = 0.3, 20
    # fixed points of E[p'] = (M p + p*) / (M + 1) and E[p'] = (M p + 1) / (M + 2)
    want = (p_star, 0.5)
    expect(abs(float(answer[0]) - want[0]) < 0.01, "anchor_or_prior: long-run mean p with one real point",
           "the fixed point of E[p'] = (M p + p*) / (M + 1)", answer[0],
           "in the long run E[p'] = E[p]: solve p = (M p + p*) / (M + 1) for p")
    expect(abs(float(answer[1]) - want[1]) < 0.01, "anchor_or_prior: long-run mean p with the Beta(2, 2) prior",
           "the fixed point of E[p'] = (M p + 1) / (M + 2)", answer[1],
           "in the long run E[p'] = E[p]: solve p = (M p + 1) / (M + 2) for p; does p* appear?")
    passed(f"anchor_or_prior: one real point centres the chain on the truth ({want[0]}), "
           f"the prior on its own centre ({want[1]})")


def anchored_variance(fn) -> None:
    """Conceptual question: ``fn`` is a number, the long-run mean E[s^2] of the anchored Gaussian chain (M = 20,
    one real N(0, 1) point per generation, unbiased variance)."""
    expect(not callable(fn), "anchored_variance: the long-run mean of s^2", "a number", type(fn).__name__,
           "write the number itself (no function)")
    ok = isinstance(fn, (int, float, np.floating, np.integer)) and not isinstance(fn, bool)
    expect(ok, "anchored_variance: the long-run mean of s^2", "a number", fn, "answer = a float")
    want = mi.anchored_stationary(20, ddof=1, chains=20, burn=0, generations=1)["mean_var"]
    expect(abs(float(fn) - want) < 0.01, "anchored_variance: E[s^2] in the long run (M = 20, unbiased)",
           "the solution of the two long-run equations", fn,
           "set a = E[s^2], b = E[mu^2]; with N = M + 1 and the unbiased divisor N - 1 = M the equations are "
           "M a = (1 - 1/N)(M a + 1) + (M/N) b and b (N^2 - M^2) = M a + 1; solve them")
    passed(f"anchored_variance: E[s^2] = {want:.0f}, E[mu^2] = 1: the average chain is twice as wide as the "
           "truth")
