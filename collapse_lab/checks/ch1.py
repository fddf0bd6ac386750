"""Checks of Chapter 1, sampling loses the tails.

Statistical checks draw many samples from fixed seeds and size their tolerance to the sampling error (about 6
standard errors, or a KS p-value below 1e-4), so any correct implementation passes whatever random calls it makes,
while a constant, a wrong law or a wrong normalisation fails.
"""
from __future__ import annotations

import numpy as np
from scipy import special, stats

from .core import call, close, expect, passed


def _zipf(K, a):
    w = np.arange(1, K + 1, dtype=float) ** -a
    return w / w.sum()


def categorical_step(fn) -> None:
    """``fn(p, M, rng) -> q``: one generation of the categorical chain (M samples from p, refit counts / M)."""
    cases = [(_zipf(8, 1.0), 20), (np.array([0.5, 0.3, 0.0, 0.15, 0.05]), 7), (_zipf(30, 1.2), 200)]
    reps = 3000
    for case, (p, M) in enumerate(cases):
        rng = np.random.default_rng(100 + case)
        qs = []
        for _ in range(reps):
            q = call(fn, p.copy(), M, rng, name="categorical_step")
            try:
                q = np.asarray(q, dtype=float)
            except (TypeError, ValueError):
                q = None
            expect(q is not None and q.shape == p.shape,
                   f"categorical_step(p, M={M}, rng) must return an array shaped like p", p.shape,
                   None if q is None else q.shape, "return counts / M as an array of K floats")
            qs.append(q)
        qs = np.array(qs)
        expect(np.allclose(qs.sum(1), 1.0), f"each result must sum to 1 (p={np.round(p, 3)}, M={M})", 1.0,
               qs.sum(1)[:3], "divide the counts by M")
        expect(np.allclose(qs * M, np.round(qs * M), atol=1e-6), f"each q_i must be a count divided by M={M}",
               "multiples of 1/M", qs[0], "draw M samples (rng.multinomial(M, p)) and return counts / M")
        expect(np.all(qs[:, p == 0] == 0), "a category with p = 0 must stay at 0 (it is never sampled)", 0,
               qs[:, p == 0].max(initial=0), "sample from p itself, never add pseudo-counts")
        se = np.sqrt(p * (1 - p) / M / reps) + 1e-12
        expect(np.all(np.abs(qs.mean(0) - p) < 6 * se + 1e-9), f"the refit must be unbiased: mean of q over {reps} "
               f"calls ~ p (M={M})", p, qs.mean(0), "use counts / M, the maximum-likelihood refit")
        var, ref = qs.var(0), p * (1 - p) / M
        expect(np.allclose(var, ref, rtol=0.2, atol=1e-9), f"the spread of q must be that of M={M} samples: "
               "var(q_i) = p_i (1 - p_i) / M", ref, var, "draw exactly M samples per call, with rng "
               "(a fixed result, or a different number of samples, has the wrong spread)")
        absent = (qs == 0).mean(0)
        want = (1 - p) ** M
        expect(np.all(np.abs(absent - want) < 6 * np.sqrt((want + 1 / reps) / reps)),
               f"P(q_i = 0) must be (1 - p_i)^M (M={M})", want, absent, "draw M samples per call")
    passed("categorical_step: unbiased, spread p(1-p)/M, categories absent with probability (1-p)^M")


def expected_lost(fn) -> None:
    """``fn(p, M) -> float``: expected number of categories with p > 0 that are absent from M samples."""
    cases = [(_zipf(100, 1.0), 100), (_zipf(1000, 1.1), 1000), (np.array([0.5, 0.25, 0.25]), 3),
             (np.array([0.7, 0.0, 0.2, 0.1, 0.0]), 10), (np.full(50, 0.02), 1)]
    for p, M in cases:
        want = float(np.where(p > 0, (1 - p) ** M, 0).sum())
        got = call(fn, p.copy(), M, name="expected_lost")
        hint = "sum (1 - p_i)^M over the categories with p_i > 0 (those with p_i = 0 are already lost)"
        if close(got, want + np.sum(p == 0)):
            hint = "the categories with p_i = 0 are already lost: count only those with p_i > 0"
        expect(np.ndim(got) == 0 and close(got, want, rtol=1e-9),
               f"expected_lost(p with K={p.size}, M={M})", want, got, hint)
    passed("expected_lost: sum of (1 - p_i)^M over live categories, on 5 distributions")


def gaussian_step(fn) -> None:
    """``fn(mean, var, M, rng) -> (new_mean, new_var)`` for arrays of chains, by the sufficient statistics."""
    n = 20000
    for case, M in enumerate((3, 10, 100)):
        rng = np.random.default_rng(200 + case)
        mean = rng.normal(0, 3, n)
        var = rng.uniform(0.2, 5.0, n)
        out = call(fn, mean.copy(), var.copy(), M, np.random.default_rng(300 + case), name="gaussian_step")
        ok = isinstance(out, (tuple, list)) and len(out) == 2
        expect(ok, "gaussian_step must return a pair (new_mean, new_var)", "(array, array)", type(out).__name__,
               "return new_mean, new_var")
        m2, v2 = (np.asarray(x, dtype=float) for x in out)
        expect(m2.shape == (n,) and v2.shape == (n,), f"one new mean and variance per chain ({n} chains)",
               ((n,), (n,)), (m2.shape, v2.shape), "draw one normal and one chi-square per chain: "
               "size=np.shape(var)")
        expect(np.all(np.isfinite(m2)) and np.all(v2 >= 0), "new means finite, new variances >= 0", "finite, >= 0",
               (m2[:3], v2[:3]), "variances are scaled chi-square draws")
        z = (m2 - mean) / np.sqrt(var / M)
        q = (M - 1) * v2 / var
        pz = stats.kstest(z, "norm").pvalue
        expect(pz > 1e-4, f"(new_mean - mean) / sqrt(var/M) must be N(0, 1) (M={M}, KS test)", "p-value > 1e-4",
               f"p-value {pz:.2g}; mean {z.mean():.3f}, sd {z.std():.3f}",
               "the mean of M points from N(mean, var) is N(mean, var/M): scale a standard normal by sqrt(var/M)")
        pq = stats.kstest(q, "chi2", args=(M - 1,)).pvalue
        expect(pq > 1e-4, f"(M-1) new_var / var must be chi-square with M-1 = {M - 1} degrees of freedom "
               f"(M={M}, KS test)", f"p-value > 1e-4, mean {M - 1}", f"p-value {pq:.2g}, mean {q.mean():.3f}",
               "unbiased variance: var * chi2(M-1) / (M-1), one draw per chain")
        r = np.corrcoef(z, q)[0, 1]
        expect(abs(r) < 6 / np.sqrt(n), "new mean and new variance must be independent", "correlation ~ 0",
               round(float(r), 4), "draw them from separate random numbers")
    passed("gaussian_step: new mean ~ N(mean, var/M), (M-1) new_var/var ~ chi2(M-1), independent, for M = 3, 10, 100")


def w2_gaussian(fn) -> None:
    """``fn(m1, v1, m2, v2)``: squared 2-Wasserstein distance between N(m1, v1) and N(m2, v2) (v = variance)."""
    rng = np.random.default_rng(400)
    cases = [(0.0, 1.0, 0.0, 1.0), (1.0, 4.0, -1.0, 1.0), (0.5, 0.09, 0.0, 2.25), (3.0, 1.0, 3.0, 0.0)]
    cases.append((rng.uniform(-2, 2, 6), rng.uniform(0.1, 3, 6), rng.uniform(-2, 2, 6), rng.uniform(0.1, 3, 6)))
    for m1, v1, m2, v2 in cases:
        m1, v1, m2, v2 = (np.asarray(x, dtype=float) for x in (m1, v1, m2, v2))
        want = (m1 - m2) ** 2 + (np.sqrt(v1) - np.sqrt(v2)) ** 2
        got = call(fn, m1, v1, m2, v2, name="w2_gaussian")
        hint = "W2^2 = (m1 - m2)^2 + (sd1 - sd2)^2 with sd = sqrt(variance)"
        if close(got, (m1 - m2) ** 2 + (v1 - v2) ** 2):
            hint = "the arguments are variances: the formula uses standard deviations, sqrt(v)"
        elif close(got, np.sqrt(want)):
            hint = "return the squared distance W2^2 (no square root)"
        expect(close(got, want, rtol=1e-9), f"w2_gaussian(m1={np.round(m1, 3)}, v1={np.round(v1, 3)}, "
               f"m2={np.round(m2, 3)}, v2={np.round(v2, 3)})", want, got, hint)
    passed("w2_gaussian: (m1 - m2)^2 + (sd1 - sd2)^2 on scalars and arrays")


def c_factor(fn) -> None:
    """``fn(M) -> float``: E[s'] / s = sqrt(2/(M-1)) Gamma(M/2) / Gamma((M-1)/2), stable for large M."""
    for M in (2, 3, 10, 100, 1000, 10000):
        want = float(np.sqrt(2 / (M - 1)) * np.exp(special.gammaln(M / 2) - special.gammaln((M - 1) / 2)))
        got = call(fn, M, name="c_factor")
        hint = "sqrt(2/(M-1)) * exp(gammaln(M/2) - gammaln((M-1)/2))"
        if M >= 1000 and not np.all(np.isfinite(np.asarray(got, dtype=float))):
            hint = "Gamma(M/2) overflows for M > 343: subtract logs with scipy.special.gammaln, then exponentiate"
        expect(np.ndim(got) == 0 and close(got, want, rtol=1e-9), f"c_factor({M})", want, got, hint)
    passed("c_factor: exact for M = 2 ... 10000 (no overflow)")


# ---------------------------------------------------------------------------------------------------------------
# conceptual questions: the learner's answer is a value, passed as ``fn`` and never called. A wrong answer is told
# where it is wrong and given a hint about the idea, never the answer itself.

_NOT_ANSWERED = "replace None with your answer and run the cell again"


def _letters(x):
    """An answer such as 'S', 'SA', 'S+A' or ['S', 'A'] as a set of upper-case letters; None if it is not one."""
    if isinstance(x, str):
        letters = [c for c in x.upper() if c.isalpha()]
    elif isinstance(x, (list, tuple, set, frozenset)) and all(isinstance(c, str) for c in x):
        letters = [c.strip().upper() for c in x]
    else:
        return None
    return set(letters) if letters and all(c in ("S", "E", "A") for c in letters) else None


_SOURCE_HINTS = {
    "a": "the Gaussian family contains the truth and the sample mean and variance are exact: what is left?",
    "b": "with infinitely many points there is no sampling noise, and the moment fit is exact: what is left?",
    "c": "a huge sample and a family that contains the truth: what can still go wrong in EM?",
    "d": "count the sample size per generation, and how EM is started; the family has enough components",
}


def error_sources(fn) -> None:
    """``fn``: a dict {'a': letters, 'b': ..., 'c': ..., 'd': ...}, the error sources of four experiments, each
    a string of the letters S (statistical), E (functional expressivity) and A (functional approximation)."""
    answer = fn
    expect(answer is not None, "error_sources is not answered yet", "a dict {'a': 'S', 'b': ..., ...}", None,
           _NOT_ANSWERED)
    keys = sorted(_SOURCE_HINTS)
    expect(isinstance(answer, dict) and sorted(answer) == keys, "the answer must be a dict with the keys "
           f"{keys}, one per experiment", f"a dict with keys {keys}",
           sorted(answer) if isinstance(answer, dict) else type(answer).__name__,
           "answer each experiment with a string of letters, e.g. {'a': 'S', 'b': 'EA', ...}")
    want = {"a": {"S"}, "b": {"E"}, "c": {"A"}, "d": {"S", "A"}}
    for k in keys:
        got = _letters(answer[k])
        expect(got is not None, f"experiment ({k}): the answer must be letters among S, E and A",
               "a string such as 'S' or 'SA'", answer[k], "S = statistical, E = functional expressivity, "
               "A = functional approximation")
        expect(got == want[k], f"experiment ({k}): which error sources does it contain?",
               "the sources present in this experiment, no more and no fewer", "".join(sorted(got)), _SOURCE_HINTS[k])
    passed("error_sources: each experiment's error sources identified")


_STAGE_HINTS = (
    "many categories went, yet they carried little probability and the entropy hardly moved",
    "a variance of 1e-4 is the distribution itself shrinking, not only its tails",
    "rare words are the tail of the text distribution; the perplexity of typical text is an average",
    "one narrow component far from the original modes: is that the tails only, or the whole distribution?",
    "the tail mass went while the variance is still close to the original",
)


def early_or_late(fn) -> None:
    """``fn``: a list of five strings, 'early' or 'late', one per observation of the exercise."""
    answer = fn
    expect(answer is not None, "early_or_late is not answered yet", "a list of five strings 'early' or 'late'",
           None, _NOT_ANSWERED)
    ok = isinstance(answer, (list, tuple)) and len(answer) == 5 and all(isinstance(a, str) for a in answer)
    expect(ok, "the answer must be a list of five strings", "['early' or 'late', ...] (5 entries)", answer,
           "one entry per observation, in the order of the exercise")
    want = ("early", "late", "early", "late", "early")
    for i, (a, w) in enumerate(zip(answer, want)):
        got = a.strip().lower()
        expect(got in ("early", "late"), f"observation {i + 1}: answer 'early' or 'late'", "'early' or 'late'", a,
               "early = the tails go while averages barely move; late = the distribution itself collapses")
        expect(got == w, f"observation {i + 1}: early or late collapse?", "the other stage", got, _STAGE_HINTS[i])
    passed("early_or_late: the two stages of collapse told apart")


def median_collapse(fn) -> None:
    """``fn``: a pair (n, share): the fits after which the median chain keeps 10% of the variance (M = 50), and the
    share of chains whose variance is below 10% of the original at that n."""
    answer = fn
    expect(answer is not None, "median_collapse is not answered yet", "a pair (n, share)", None, _NOT_ANSWERED)
    ok = isinstance(answer, (list, tuple)) and len(answer) == 2
    if ok:
        try:
            n, share = float(answer[0]), float(answer[1])
        except (TypeError, ValueError):
            ok = False
    expect(ok, "the answer must be a pair of numbers (n, share)", "(n, share), e.g. (250, 0.3)", answer,
           "n: a number of fits; share: a fraction between 0 and 1")
    M = 50
    exact = float(np.log(10) / (1 / (M - 1) + 1 / (3 * (M - 1) ** 2)))   # the exact median hits 0.1 here (~112)
    rule = (M - 1) * np.log(10)                                              # the rule of thumb e^{-n/(M-1)} (~113)
    hint_n = "the median of s_n^2 is about exp(-n/(M-1)): solve exp(-n/(M-1)) = 0.1 for n"
    if n < 20:
        hint_n = "the mean of s_n^2 never reaches 0.1; it is the median that falls, exponentially in n/(M-1)"
    expect(min(exact, rule) - 4 <= n <= max(exact, rule) + 4, "n: after how many fits does the median chain keep "
           "10% of the original variance (M = 50)?", "a number of fits (within 4 of the right one)", n, hint_n)
    expect(0.45 <= share <= 0.55, "share: which fraction of the chains is below 10% of the variance at that n?",
           "a fraction", share, "what does 'median' mean? The mean over chains is still 1 at that n")
    passed("median_collapse: the typical chain collapses while the mean stays at 1")
