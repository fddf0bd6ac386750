"""Checks of Chapter 1, sampling loses the tails.

Statistical checks draw many samples from fixed seeds and size their tolerance to the sampling error (about 6
standard errors, or a KS p-value below 1e-4), so any correct implementation passes whatever random calls it makes,
while a constant, a wrong law or a wrong normalisation fails. Every random function must draw only from the
``rng`` it is given: the checks call it twice with one seed (same result) and once with another (another result),
and fail when numpy's global state changes. Inputs must come back unchanged.
"""
from __future__ import annotations

import numpy as np
from scipy import special, stats

from . import variants
from .core import Hints, call, close, exercise, expect, last_call, letters, passed, rng_contract, show, unchanged

hint = Hints("ch1", {
    "categorical_step": "one generation is a multinomial draw of M samples from p; the refit divides the counts by "
                        "the number of samples. Return a numpy array of K floats, and leave p itself unchanged.",
    "expected_lost": "linearity of expectation: the expected number of absent categories is the sum, over the live "
                     "categories, of the probability that each one is absent.",
    "gaussian_step": "the sample mean of M points from N(mean, var) has variance var / M; the unbiased sample "
                     "variance is var times a chi-square with M - 1 degrees of freedom divided by its degrees of "
                     "freedom. Two independent draws per chain, both from rng.",
    "w2_gaussian": "for 1-D Gaussians W2 compares the means and the standard deviations; the arguments are "
                   "variances. numpy functions (np.sqrt) work on numbers and arrays alike; math.sqrt does not.",
    "c_factor": "work with logarithms: scipy.special.gammaln(x) = log Gamma(x) stays finite where "
                "Gamma overflows; exponentiate only at the end, and return float(...).",
    "error_sources": "for each experiment ask which errors could be removed, and how: more data removes the "
                     "statistical error (S), a richer family the expressivity error (E), a better fitting procedure "
                     "the approximation error (A). An experiment may hold one source or several.",
    "early_or_late": "early collapse: the rare events go while averages (mean, variance, perplexity of typical data) "
                     "barely move; late collapse: the bulk of the distribution itself narrows or moves. Classify in "
                     "the order of your variant.order.",
    "median_collapse": "log s_n^2 is a sum of n independent terms with mean about -1/(M-1) each, so the median of "
                       "s_n^2 falls like exp(-n/(M-1)) while the mean stays 1; and by definition half of the chains "
                       "lie below the median.",
})


def _zipf(K, a):
    w = np.arange(1, K + 1, dtype=float) ** -a
    return w / w.sum()


def _array_like(q, K, label):
    """q must be a numpy float array of shape (K,): the next cell compares it with 0 and feeds it back."""
    expect(isinstance(q, np.ndarray), f"{label} must return a numpy array", f"a numpy array of shape ({K},)",
           type(q).__name__, "the chain feeds q back in as the next p and counts (q > 0): return an array, "
           "not a list (np.asarray or array arithmetic keeps it one)",
           "counts / M with counts a numpy array is already an array; .tolist() or a list comprehension is not")
    expect(q.shape == (K,), f"{label} must return one probability per category", (K,), q.shape,
           "one entry per category, zeros included (np.bincount needs minlength=K)")


@exercise("ch1", refs=("tails.refit",))
def categorical_step(fn) -> None:
    """``fn(p, M, rng) -> q``: one generation of the categorical chain (M samples from p, refit counts / M)."""
    label = "categorical_step(p, M, rng)"
    # randomness only through rng, the input untouched, the next cell's types
    p0 = _zipf(12, 1.1)
    runs = []
    for seed in (7, 7, 8):
        p = p0.copy()
        q = call(fn, p, 40, np.random.default_rng(seed), name="categorical_step")
        runs.append((q, last_call()["global_rng_changed"]))
        unchanged({"p": p0}, {"p": p}, "categorical_step")
        _array_like(q, p0.size, label)
    rng_contract(runs, label, lambda a, b: np.array_equal(np.asarray(a), np.asarray(b)))
    # the law of q, case by case (M varied, a zero category, a category of probability near 1)
    cases = [(_zipf(8, 1.0), 20), (np.array([0.5, 0.3, 0.0, 0.15, 0.05]), 7), (_zipf(30, 1.2), 200)]
    reps = 250  # calls per case: enough for 5-6 standard errors, few enough for a grader's remote calls
    for case, (p, M) in enumerate(cases):
        rng = np.random.default_rng(100 + case)
        qs = []
        for _ in range(reps):
            q = call(fn, p.copy(), M, rng, name="categorical_step")
            _array_like(q, p.size, label)
            qs.append(q.astype(float))
        qs = np.array(qs)
        expect(np.allclose(qs.sum(1), 1.0), f"each result must sum to 1 (p={np.round(p, 3)}, M={M})", 1.0,
               float(qs.sum(1)[np.argmax(np.abs(qs.sum(1) - 1))]),
               "q is a probability vector: divide the counts by the number of samples drawn",
               "if the sum is M, you returned the counts; if it is off by a little, you divided by another number "
               "than the number of samples")
        expect(np.allclose(qs * M, np.round(qs * M), atol=1e-6), f"each q_i must be a count divided by M={M}",
               "multiples of 1/M", qs[0], "draw exactly M samples and count them: the refit gives count / M",
               "pseudo-counts (adding 1), smoothing or p itself are not maximum-likelihood refits of M samples")
        expect(np.all(qs[:, p == 0] == 0), "a category with p = 0 must stay at 0 (it is never sampled)", 0.0,
               float(qs[:, p == 0].max(initial=0)), "sample from p itself; a lost category never comes back")
        se = np.sqrt(p * (1 - p) / M / reps) + 1e-12
        expect(np.all(np.abs(qs.mean(0) - p) < 6 * se + 1e-9), f"the refit must be unbiased: mean of q over {reps} "
               f"calls ~ p (M={M})", p, qs.mean(0), "the maximum-likelihood refit of a multinomial sample has "
               "mean p: sample from p, not from a changed or sorted copy", diff=False)
        var, ref = qs.var(0), p * (1 - p) / M
        live = p > 0
        expect(np.allclose(var[live], ref[live], rtol=0.45, atol=1e-9), f"the spread of q must be that of M={M} "
               "samples: var(q_i) = p_i (1 - p_i) / M", ref, var, "a fresh random draw of exactly M samples "
               "per call, from the rng passed in (the same draw every call has no spread)", diff=False)
        absent = (qs == 0).mean(0)
        want = (1 - p) ** M
        expect(np.all(np.abs(absent - want) < 6 * np.sqrt((want * (1 - want) + 1 / reps) / reps)),
               f"P(q_i = 0) must be (1 - p_i)^M (M={M})", want, absent, "M independent samples per call", diff=False)
    passed("categorical_step: unbiased, spread p(1-p)/M, categories absent with probability (1-p)^M")


@exercise("ch1", refs=("tails.expected_lost",))
def expected_lost(fn) -> None:
    """``fn(p, M) -> float``: expected number of categories with p > 0 that are absent from M samples."""
    cases = [(_zipf(100, 1.0), 100), (_zipf(1000, 1.1), 1000), (np.array([0.5, 0.25, 0.25]), 3),
             (np.array([0.7, 0.0, 0.2, 0.1, 0.0]), 10), (np.full(50, 0.02), 1), (np.array([0.0, 1.0, 0.0]), 5),
             (np.array([0.6, 0.0, 0.4]), 1)]
    for p0, M in cases:
        want = float(np.where(p0 > 0, (1 - p0) ** M, 0).sum())
        p = p0.copy()
        got = call(fn, p, M, name="expected_lost")
        unchanged({"p": p0}, {"p": p}, "expected_lost")
        label = f"expected_lost(p with K={p0.size} ({int((p0 == 0).sum())} zeros), M={M})"
        expect(np.ndim(got) == 0 and not isinstance(got, (bool, np.bool_)) and close(got, got),
               f"{label} must return one number", "a float", show(got, 80),
               "sum over the categories: one expected count for the whole distribution, not one per category")
        hint_ = "the probability that a category is absent from all M samples, summed over the live categories"
        more = None
        g = float(np.asarray(got, dtype=float))
        if close(g, want + np.sum(p0 == 0)):
            hint_ = "the categories with p_i = 0 are already lost: count only those with p_i > 0"
        elif close(g, float(np.sum(p0[p0 > 0] ** M))):
            hint_ = "that is the chance each category is drawn every time; lost means drawn no time"
        elif close(g, float(np.where(p0 > 0, (1 - p0) ** (M - 1), 0).sum())):
            hint_ = "check the exponent: each of the M samples misses the category independently"
        elif close(g, float(1 - np.prod(1 - np.where(p0 > 0, (1 - p0) ** M, 0)))):
            hint_ = "that is the probability that at least one is lost; the expected number is a sum"
        expect(close(g, want, rtol=1e-9), label, want, g, hint_, more)
    passed("expected_lost: sum of (1 - p_i)^M over live categories, on 7 distributions")


@exercise("ch1", refs=("gaussian.step",))
def gaussian_step(fn) -> None:
    """``fn(mean, var, M, rng) -> (new_mean, new_var)`` for arrays of chains, by the sufficient statistics."""
    label = "gaussian_step(mean, var, M, rng)"

    def pair(out, n):
        ok = isinstance(out, (tuple, list)) and len(out) == 2
        expect(ok, "gaussian_step must return a pair (new_mean, new_var)", "(array, array)", show(out, 80),
               "return the two arrays as a tuple, mean first; the notebook unpacks `mu, v = gaussian_step(...)`")
        for nm, x in zip(("new_mean", "new_var"), out):
            expect(isinstance(x, np.ndarray) and x.shape == (n,), f"{nm}: one value per chain ({n} chains)",
                   f"a numpy array of shape ({n},)", show(x, 80), "draw one value per chain: pass size=np.shape(var) "
                   "to the rng's methods so the result is an array like the input")
        return tuple(np.asarray(x, dtype=float) for x in out)

    mean0, var0 = np.linspace(-1, 1, 6), np.linspace(0.5, 2, 6)
    runs = []
    for seed in (5, 5, 6):
        mean, var = mean0.copy(), var0.copy()
        out = call(fn, mean, var, 10, np.random.default_rng(seed), name="gaussian_step")
        runs.append((out, last_call()["global_rng_changed"]))
        unchanged({"mean": mean0, "var": var0}, {"mean": mean, "var": var}, "gaussian_step")
        pair(out, 6)
    rng_contract(runs, label, lambda a, b: all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b)))
    n = 20000
    for case, M in enumerate((3, 10, 100)):
        rng = np.random.default_rng(200 + case)
        mean = rng.normal(0, 3, n)
        var = rng.uniform(0.2, 5.0, n)
        out = call(fn, mean.copy(), var.copy(), M, np.random.default_rng(300 + case), name="gaussian_step")
        m2, v2 = pair(out, n)
        expect(np.all(np.isfinite(m2)) and np.all(v2 >= 0), "new means finite, new variances >= 0", "finite, >= 0",
               (m2[:3], v2[:3]), "variances are scaled chi-square draws, never negative")
        z = (m2 - mean) / np.sqrt(var / M)
        q = (M - 1) * v2 / var
        pz = stats.kstest(z, "norm").pvalue
        more = None
        hint_ = "the mean of M points from N(mean, var) is normal around mean with variance var / M"
        d = m2 - mean
        if abs(np.std(d / (var / M)) - 1) < 0.05:
            hint_ = "the scale of a normal draw is a standard deviation: var / M is a variance"
        elif abs(np.std(d / np.sqrt(var)) - 1) < 0.05:
            hint_ = "the spread of the new mean shrinks with M: it is the mean of M points, not one point"
        expect(pz > 1e-4, f"(new_mean - mean) / sqrt(var/M) must be N(0, 1) (M={M}, KS test)", "p-value > 1e-4",
               f"p-value {pz:.2g}; mean {z.mean():.3f}, sd {z.std():.3f}", hint_, more)
        pq = stats.kstest(q, "chi2", args=(M - 1,)).pvalue
        hint_ = ("the unbiased variance of M points: var times a chi-square with M - 1 degrees of freedom, divided by "
                 "M - 1")
        if abs(q.mean() - (M - 1) ** 2 / M) < 0.05 * (M - 1):
            hint_ = "that is the maximum-likelihood (biased, divide by M) variance; the text asks for the unbiased one"
        elif abs(q.mean() - M) < abs(q.mean() - (M - 1)) and M < 50:
            hint_ = "count the degrees of freedom: estimating the mean uses one of the M"
        expect(pq > 1e-4, f"(M-1) new_var / var must be chi-square with M-1 = {M - 1} degrees of freedom "
               f"(M={M}, KS test)", f"p-value > 1e-4, mean {M - 1}", f"p-value {pq:.2g}, mean {q.mean():.3f}", hint_)
        r = np.corrcoef(z, q)[0, 1]
        expect(abs(r) < 6 / np.sqrt(n), "new mean and new variance must be independent", "correlation ~ 0",
               round(float(r), 4), "the sample mean and variance of a Gaussian sample are independent: use two "
               "separate random draws")
    passed("gaussian_step: new mean ~ N(mean, var/M), (M-1) new_var/var ~ chi2(M-1), independent, for M = 3, 10, 100")


@exercise("ch1", refs=("metrics.w2_gaussian", "gaussian.Chains.w2"))
def w2_gaussian(fn) -> None:
    """``fn(m1, v1, m2, v2)``: squared 2-Wasserstein distance between N(m1, v1) and N(m2, v2) (v = variance)."""
    rng = np.random.default_rng(400)
    cases = [(0.0, 1.0, 0.0, 1.0), (1.0, 4.0, -1.0, 1.0), (0.5, 0.09, 0.0, 2.25), (3.0, 1.0, 3.0, 0.0),
             (2.0, 9.0, 0.5, 0.25)]
    cases.append((rng.uniform(-2, 2, 6), rng.uniform(0.1, 3, 6), rng.uniform(-2, 2, 6), rng.uniform(0.1, 3, 6)))
    cases.append((rng.uniform(-2, 2, 5), rng.uniform(0.1, 3, 5), 0.0, 1.0))  # as the notebook calls it
    for m1, v1, m2, v2 in cases:
        args0 = [np.array(x, dtype=float) if np.ndim(x) else float(x) for x in (m1, v1, m2, v2)]
        args = [x.copy() if isinstance(x, np.ndarray) else x for x in args0]
        a1, b1, a2, b2 = (np.asarray(x, dtype=float) for x in args0)
        want = (a1 - a2) ** 2 + (np.sqrt(b1) - np.sqrt(b2)) ** 2
        got = call(fn, *args, name="w2_gaussian")
        unchanged({k: v for k, v in zip(("m1", "v1", "m2", "v2"), args0) if isinstance(v, np.ndarray)},
                  {k: v for k, v in zip(("m1", "v1", "m2", "v2"), args) if isinstance(v, np.ndarray)}, "w2_gaussian")
        hint_ = "W2 between 1-D Gaussians compares the means and the spreads; which quantity measures the spread?"
        more = None
        if close(got, (a1 - a2) ** 2 + (b1 - b2) ** 2):
            hint_ = "the arguments are variances; the spread term compares standard deviations"
        elif close(got, np.sqrt(want)):
            hint_ = "return the squared distance W2^2 (no square root)"
        elif close(got, np.abs(a1 - a2) + np.abs(np.sqrt(b1) - np.sqrt(b2))):
            hint_ = "squared differences, not absolute ones"
        elif close(got, (a1 - a2) ** 2) or close(got, (np.sqrt(b1) - np.sqrt(b2)) ** 2):
            hint_ = "both terms are needed: the means and the standard deviations"
        where = ", ".join(f"{k}={show(np.round(v, 3), 60)}" for k, v in zip(("m1", "v1", "m2", "v2"), args0))
        shape = np.shape(want)
        expect(np.shape(got) == shape if not isinstance(got, (list, tuple)) else False,
               f"w2_gaussian({where}): shape", f"shape {shape} (like the broadcast inputs)",
               show(got, 80), "use array arithmetic (np.sqrt, **): the notebook passes arrays of chains and plain "
               "numbers in one call")
        expect(close(got, want, rtol=1e-9), f"w2_gaussian({where})", want, got, hint_, more)
    passed("w2_gaussian: (m1 - m2)^2 + (sd1 - sd2)^2 on scalars, arrays and arrays against numbers")


@exercise("ch1", refs=("gaussian.c_factor",))
def c_factor(fn) -> None:
    """``fn(M) -> float``: E[s'] / s = sqrt(2/(M-1)) Gamma(M/2) / Gamma((M-1)/2), stable for large M."""
    for M in (2, 3, 10, 100, 344, 1000, 10000, 10**6):
        want = float(np.sqrt(2 / (M - 1)) * np.exp(special.gammaln(M / 2) - special.gammaln((M - 1) / 2)))
        got = call(fn, M, name="c_factor")
        g = np.asarray(got, dtype=float) if np.ndim(got) == 0 and close(got, got) else None
        hint_ = "compare your expression with the text's formula term by term (which Gamma arguments, which root)"
        more = None
        if g is None:
            hint_ = "return one float"
        elif not np.isfinite(g):
            hint_ = "Gamma(M/2) overflows a float for M > 343: work with logarithms of the Gammas, then exponentiate"
            more = "scipy.special.gammaln(x) is log Gamma(x); a ratio of Gammas is the exponential of a difference"
        elif close(g, np.sqrt(2 / M) * np.exp(special.gammaln(M / 2) - special.gammaln((M - 1) / 2))):
            hint_ = "the square-root factor has M - 1, not M, in the denominator"
        elif close(g, np.sqrt(2 / (M - 1)) * np.exp(special.gammaln((M + 1) / 2) - special.gammaln(M / 2))):
            hint_ = "the Gamma arguments are M/2 over (M-1)/2"
        elif close(g, np.log(want)):
            hint_ = "exponentiate the difference of log-Gammas"
        elif 0 < g < 1 and abs(g - want) < 1e-3:
            hint_ = "an approximation is close but not exact: the check wants the exact value to 1e-9"
        expect(g is not None and close(g, want, rtol=1e-9), f"c_factor({M})", want, got, hint_, more)
    passed("c_factor: exact for M = 2 ... 10000 (no overflow)")


# ---------------------------------------------------------------------------------------------------------------
# conceptual questions: the learner's answer is a value, passed as ``answer`` and never called. A wrong answer is told
# where it is wrong and given a hint about the idea, never the answer itself.

_NOT_ANSWERED = "replace None with your answer and run the cell again"


def _sources(x) -> set:
    """An answer such as 'S', 'SA', 'S+A' or ['S', 'A'] as a set of upper-case letters S, E, A (the course's one
    letter parser, :func:`.core.letters`, checks its type and form; a failed check when it is not one)."""
    if isinstance(x, (list, tuple, set, frozenset)) and all(isinstance(c, str) for c in x):
        x = "".join(sorted(x))
    text = x.replace("+", "") if isinstance(x, str) else x
    n = sum(not c.isspace() and c not in ",;-" for c in text) if isinstance(text, str) else 1
    return set(letters(text, "S" * max(n, 1), "SEA", "source", "SA"))


_SOURCE_HINTS = {
    "a": "the Gaussian family contains the truth and the sample mean and variance are exact: what is left?",
    "b": "with infinitely many points there is no sampling noise, and the moment fit is exact: what is left?",
    "c": "a huge sample and a family that contains the truth: what can still go wrong in the fitting?",
    "d": "count the sample size per generation, and how the variance is found; the family contains the truth",
}


@exercise("ch1", refs=(), kind="concept")
def error_sources(answer) -> None:
    """``answer``: a dict {'a': letters, 'b': ..., 'c': ..., 'd': ...}, the error sources of four experiments, each
    a string of the letters S (statistical), E (functional expressivity) and A (functional approximation)."""
    expect(answer is not None, "error_sources is not answered yet", "a dict {'a': 'S', 'b': ..., ...}", None,
           _NOT_ANSWERED)
    keys = sorted(_SOURCE_HINTS)
    expect(isinstance(answer, dict) and sorted(answer) == keys, "the answer must be a dict with the keys "
           f"{keys}, one per experiment", f"a dict with keys {keys}",
           sorted(answer) if isinstance(answer, dict) else type(answer).__name__,
           "answer each experiment with a string of letters, e.g. {'a': 'S', 'b': 'EA', ...}")
    want = {"a": {"S"}, "b": {"E"}, "c": {"A"}, "d": {"S", "A"}}
    for k in keys:
        got = _sources(answer[k])
        expect(got == want[k], f"experiment ({k}): which error sources does it contain?",
               "the sources present in this experiment, no more and no fewer", "".join(sorted(got)), _SOURCE_HINTS[k])
    passed("error_sources: each experiment's error sources identified")


_STAGE_HINTS = (
    "many categories went, yet they carried little probability and the entropy hardly moved",
    "a variance of 1e-4 is the distribution itself shrinking, not only its tails",
    "three quarters of the distinct words (the tail) are gone, while the perplexity (an average) moved by a fifth, "
    "far less than the half that marks late collapse",
    "one narrow component far from the original modes: is that the tails only, or the whole distribution?",
    "the tail mass went while the variance is still close to the original",
)


@exercise("ch1", refs=(), kind="concept")
def early_or_late(answer) -> None:
    """``answer``: a list of five strings, 'early' or 'late', one per observation of the exercise, in the order of the
    learner's ``checks.variant("01").order``."""
    order = variants.variant("01").order
    expect(answer is not None, "early_or_late is not answered yet", "a list of five strings 'early' or 'late'",
           None, _NOT_ANSWERED)
    ok = isinstance(answer, (list, tuple)) and len(answer) == 5 and all(isinstance(a, str) for a in answer)
    expect(ok, "the answer must be a list of five strings", "['early' or 'late', ...] (5 entries)", answer,
           f"one entry per observation, in the order of your variant.order {order}")
    want = answers(variants.variant("01"))["early_or_late"]
    for j, (a, w) in enumerate(zip(answer, want)):
        got, i = a.strip().lower(), order[j] - 1
        expect(got in ("early", "late"), f"entry {j + 1} (observation {i + 1}): answer 'early' or 'late'",
               "'early' or 'late'", a, "early = the tails go while averages barely move; late = the distribution "
               "itself collapses")
        expect(got == w, f"entry {j + 1} (observation {i + 1} in your order {order}): early or late collapse?",
               "the other stage", got, _STAGE_HINTS[i])
    passed("early_or_late: the two stages of collapse told apart")


@exercise("ch1", refs=("gaussian.median_var", "gaussian.median_var_approx"), kind="concept")
def median_collapse(answer) -> None:
    """``answer``: a pair (n, share): the fits after which the median chain keeps the share ``keep`` of the variance
    (``M`` points per generation; both from the learner's ``checks.variant("01")``), and the share of chains whose
    variance is below ``keep`` times the original at that n."""
    expect(answer is not None, "median_collapse is not answered yet", "a pair (n, share)", None, _NOT_ANSWERED)
    ok = isinstance(answer, (list, tuple)) and len(answer) == 2
    if ok:
        try:
            n, share = float(answer[0]), float(answer[1])
        except (TypeError, ValueError):
            ok = False
    expect(ok, "the answer must be a pair of numbers (n, share)", "(n, share), e.g. (250, 0.3)", answer,
           "n: a number of fits; share: a fraction between 0 and 1")
    v = variants.variant("01")
    M, keep = v.M, v.keep
    lo, hi = answers(v)["median_collapse"]
    hint_n = f"the median of s_n^2 is about exp(-n/(M-1)): solve exp(-n/(M-1)) = {keep} for n (M = {M})"
    if n < 20:
        hint_n = f"the mean of s_n^2 never reaches {keep}; it is the median that falls, exponentially in n/(M-1)"
    expect(lo - 4 <= n <= hi + 4, f"n: after how many fits does the median chain keep the share {keep} of the "
           f"original variance (M = {M}, your variant)?", "a number of fits (within 4 of the right one)", n, hint_n)
    expect(0.45 <= share <= 0.55, f"share: which fraction of the chains is below {keep} of the variance at that n?",
           "a fraction", share, "what does 'median' mean? The mean over chains is still 1 at that n")
    passed("median_collapse: the typical chain collapses while the mean stays at 1")


def answers(v) -> dict:
    """The answers of this chapter's variant items for the variant ``v`` (``checks.variant("01", student)``):
    ``early_or_late`` (the five stages in ``v.order``) and ``median_collapse`` (the range of n that is right: the
    exact median's n and the rule of thumb's, then the share)."""
    stage = ("early", "late", "early", "late", "early")
    M, keep = v.M, v.keep
    exact = float(np.log(1 / keep) / (1 / (M - 1) + 1 / (3 * (M - 1) ** 2)))   # E[log s_n^2] = log keep
    rule = float((M - 1) * np.log(1 / keep))                                      # the rule of thumb e^{-n/(M-1)}
    return {"early_or_late": tuple(stage[i - 1] for i in v.order),
            "median_collapse": (min(exact, rule), max(exact, rule)), "median_collapse_share": 0.5}
