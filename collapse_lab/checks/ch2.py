"""Checks for Chapter 2 (Gaussian mixture collapse). Each takes the learner's function and tests it on several
inputs against references from :mod:`collapse_lab.gmm`."""
from __future__ import annotations

import numpy as np

from .. import gmm, loop
from .core import call, close, expect, passed


def _random_mixture(rng, k, d):
    w = rng.dirichlet(np.ones(k) * 2)
    m = rng.normal(0, 2, (k, d))
    a = rng.normal(0, 0.6, (k, d, d))
    c = a @ np.swapaxes(a, 1, 2) + 0.3 * np.eye(d)
    return gmm.mixture(w, m, c)


def l2_distance(fn) -> None:
    """``fn(p, q)`` -> the L2 distance between mixtures ``p`` and ``q`` (each ``(weights, means, covs)``)."""
    rng = np.random.default_rng(2)
    cases = [(_random_mixture(rng, kp, d), _random_mixture(rng, kq, d)) for kp, kq, d in
             ((3, 3, 2), (2, 4, 2), (1, 1, 1), (3, 2, 1), (2, 2, 3))]
    cases.append((gmm.TEACHING, gmm.TEACHING))
    for p, q in cases:
        got = call(fn, p, q, name="l2_distance")
        want = gmm.l2(p, q)
        expect(close(got, want, rtol=1e-5, atol=1e-8), f"L2 distance between a {p.k}- and a {q.k}-component mixture "
               f"in {p.dim}-D", want, got, "||p-q||^2 = sum_ij w_i w_j N(mu_i; mu_j, S_i+S_j) - 2 sum_ij w_i v_j "
               "N(mu_i; nu_j, S_i+T_j) + sum_ij v_i v_j N(nu_i; nu_j, T_i+T_j); return its square root")
    passed(f"l2_distance matches the closed form on {len(cases)} pairs of mixtures (1-D to 3-D, 1 to 4 components)")


def gmm_family(fn) -> None:
    """``fn(k)`` -> a ``loop.Family`` whose ``fit`` is the paper's EM with ``k`` components and ``sample`` draws."""
    with gmm.one_thread():  # the learner's EM fits, single-threaded like the package's
        _gmm_family(fn)


def _gmm_family(fn) -> None:
    fam3 = call(fn, 3, name="gmm_family")
    expect(callable(getattr(fam3, "fit", None)) and callable(getattr(fam3, "sample", None)),
           "gmm_family(3) returns something with fit and sample", "loop.Family(fit=..., sample=...)", fam3,
           "return loop.Family(fit=fit, sample=sample) with the two inner functions")
    x = gmm.sample(_SEPARATED, 4000, np.random.default_rng(0))
    model = call(fam3.fit, x, np.random.default_rng(1), name="fit")
    for n in (17, 3000):
        y = call(fam3.sample, model, n, np.random.default_rng(2), name="sample")
        expect(isinstance(y, np.ndarray) and y.shape == (n, 2), f"sample(model, {n}, rng) shape", (n, 2),
               getattr(y, "shape", y), "return an (n, d) numpy array of points")
    want = gmm.mode_mass(_SEPARATED, _SEPARATED)
    got = _region_fractions(y, _SEPARATED)
    expect(close(got, want, atol=0.03), "fraction of 3000 samples inside each original mode's 99% ellipse "
           "(a 3-component fit of 4000 points from three far-apart modes)", want, got,
           "fit a GaussianMixture(k, covariance_type='full', tol=1e-5, max_iter=2000) and sample from it")
    y2 = call(fam3.sample, model, 3000, np.random.default_rng(3), name="sample")
    expect(not np.allclose(y, y2), "different rng, different samples", "different arrays", "identical arrays",
           "draw the samples with the rng argument")
    fam1 = call(fn, 1, name="gmm_family")
    y1 = call(fam1.sample, call(fam1.fit, x, np.random.default_rng(1), name="fit"), 4000, np.random.default_rng(4),
              name="sample")
    expect(close(np.cov(y1, rowvar=False), np.cov(x, rowvar=False), rtol=0.1, atol=0.1),
           "with k=1 the samples' covariance equals the data's (one Gaussian)", np.cov(x, rowvar=False),
           np.cov(y1, rowvar=False), "use k components, not a fixed number")
    h = loop.run(fam3, x[:300], 3, seed=0)
    expect(len(h) == 4, "loop.run(your family, data, 3) gives generations 0..3", 4, len(h), "fit and sample must "
           "accept (data, rng) and (model, n, rng)")
    passed("gmm_family fits the paper's EM, samples (n, d) points with the rng, and runs in loop.run")


# three far-apart modes: k-means starts EM in the right basin for any seed, so only a wrong fit can fail the check
_SEPARATED = gmm.mixture([0.5, 0.3, 0.2], [[-8.0, 0.0], [8.0, 0.0], [0.0, 8.0]],
                         [[[1.0, 0.3], [0.3, 0.5]], [[0.6, 0.0], [0.0, 1.2]], [[0.5, 0.0], [0.0, 0.5]]])


def _region_fractions(y, ref):
    from scipy.stats import chi2

    r2 = chi2.ppf(gmm.LEVEL, 2)
    out = []
    for mu, c in zip(ref.means, ref.covs):
        d = y - mu
        out.append(np.mean(np.einsum("ni,ij,nj->n", d, np.linalg.inv(c), d) <= r2))
    return np.array(out)


def lost_at(fn) -> None:
    """``fn(mass, original, below)`` -> first generation where ``mass < below * original``, or None."""
    rng = np.random.default_rng(5)
    cases = [
        (np.array([0.1, 0.09, 0.05, 0.02, 0.005, 0.0]), 0.1, 0.1),
        (np.array([0.3, 0.31, 0.29, 0.3]), 0.3, 0.1),          # never lost
        (np.array([0.001, 0.05, 0.1]), 0.1, 0.1),              # lost at generation 0
        (np.array([0.1, 0.009, 0.02, 0.001]), 0.1, 0.1),       # first passage: it came back, still lost at 1
        (np.array([0.6, 0.4, 0.25, 0.1]), 0.6, 0.5),           # another threshold
        (np.abs(0.1 + np.cumsum(rng.normal(0, 0.01, 200))), 0.1, 0.1),
    ]
    for mass, orig, below in cases:
        got = call(fn, mass, orig, below, name="lost_at")
        want = gmm.lost_generation(mass, orig, below)
        ok = got is None if want is None else (got is not None and int(got) == want)
        expect(ok, f"lost_at(mass={np.round(mass[:6], 3)}..., original={orig}, below={below})", want, got,
               "return the first index g with mass[g] < below * original (an int), or None when there is none")
    passed(f"lost_at finds the first passage below the threshold in {len(cases)} trajectories (incl. never and at 0)")


def weight_sd(fn) -> None:
    """``fn(w, n, g)`` -> standard deviation of a mode's weight after g generations of resampling n points."""
    cases = [(0.1, 1000, 1), (0.1, 1000, 100), (0.3, 250, 10), (0.6, 50, 0), (0.5, 20, 1000), (0.02, 100, 5)]
    for w, n, g in cases:
        got = call(fn, w, n, g, name="weight_sd")
        want = gmm.weight_sd(w, n, g)
        expect(close(got, want, rtol=1e-6, atol=1e-12), f"weight_sd(w={w}, n={n}, g={g})", want, got,
               "one generation adds Var = w(1-w)/n times what the previous ones left: "
               "Var_g = w(1-w)(1-(1-1/n)^g)")
    # and the formula is the simulation's: a binomial chain of counts
    rng = np.random.default_rng(6)
    w, n, g = 0.1, 200, 30
    p = np.full(4000, w)
    for _ in range(g):
        p = rng.binomial(n, p) / n
    got = call(fn, w, n, g, name="weight_sd")
    expect(abs(got - p.std()) < 0.1 * p.std(), f"weight_sd({w}, {n}, {g}) against 4000 simulated binomial chains",
           round(float(p.std()), 4), got, "simulate: p <- Binomial(n, p) / n, g times")
    passed(f"weight_sd matches Var = w(1-w)(1-(1-1/n)^g) on {len(cases)} cases and a simulated binomial chain")


def match_modes(fn) -> None:
    """``fn(ref_means, fit_means)`` -> for each original mode the index of its fitted component (or -1)."""
    rng = np.random.default_rng(7)
    ref = gmm.TEACHING.means
    cases = []
    for perm in ([2, 0, 1], [1, 2, 0], [0, 1, 2]):
        cases.append((ref, ref[perm] + rng.normal(0, 0.3, (3, 2))))
    cases.append((ref, np.array([[-3.2, 0.1], [2.8, 0.4], [-2.5, -0.5]])))        # minor mode gone, major split
    cases.append((ref, np.array([[0.0, 2.0], [-3.0, 0.0]])))                       # two components for three modes
    cases.append((ref, np.array([[3.0, 0.4], [0.6, 4.4], [-3.1, 0.0], [9.0, 9.0]])))  # a spare component
    for r, f in cases:
        got = call(fn, r, f, name="match_modes")
        want = gmm.match(gmm.mixture(np.ones(len(r)), r, np.tile(np.eye(2), (len(r), 1, 1))),
                         gmm.mixture(np.ones(len(f)), f, np.tile(np.eye(2), (len(f), 1, 1))))
        expect(close(got, want, rtol=0, atol=0), f"match_modes for fitted means {np.round(f, 1).tolist()}", want, got,
               "Hungarian: scipy.optimize.linear_sum_assignment on the squared distances; -1 for unmatched modes")
    passed(f"match_modes solves the assignment in {len(cases)} cases (permuted, merged, missing and spare components)")


# ---------------------------------------------------------------------------------------------------------------
# conceptual exercises: the answer is a value, never called

# the experiments of the question, in order, with the one error source each isolates and why (used in the hints)
_ISOLATED = (
    ("E", "k = 1..4 on a large sample with the best of 10 starts: sampling and local optima hardly matter, only k"),
    ("A", "one k = 3 fit per k-means start on the same large sample: only EM's start changes"),
    ("S", "k = 3 started at the truth on N fresh points: no local optimum, a model that fits, only finite N"),
    ("S", "binomial resampling of a weight, no EM at all: nothing but finite samples"),
    ("A", "warm start against k-means start on the same chain: only how EM is started differs"),
)
_SOURCE_NAMES = {"S": "statistical", "E": "functional expressivity", "A": "functional approximation"}


def isolated_sources(answer) -> None:
    """``answer``: a string of five letters S / E / A, the error source each experiment of the exercise isolates."""
    want = "".join(letter for letter, _ in _ISOLATED)
    ok_type = isinstance(answer, str)
    expect(ok_type, "your answer is a string of letters", f"a str of {len(want)} letters S, E or A, e.g. 'SSEAA'",
           answer if not callable(answer) else "a function", "assign a string such as 'SSEAA', not a function")
    got = "".join(ch for ch in answer.upper() if not ch.isspace() and ch not in ",;-")
    expect(len(got) == len(want) and set(got) <= set(_SOURCE_NAMES), "five letters, each S, E or A",
           f"{len(want)} letters from S, E, A", answer, "one letter per experiment, in the order of the list")
    wrong = [i for i in range(len(want)) if got[i] != want[i]]
    expect(not wrong, f"experiments {[i + 1 for i in wrong]} isolate a different error source",
           "the source that remains when the other two are switched off", got,
           "for each experiment ask: would more data remove this error (statistical), a bigger model "
           "(expressivity), or a better fitting procedure (approximation)?")
    passed(f"isolated_sources: all {len(want)} experiments matched to the error source they isolate")


def _first_swamped(w, n, frac=0.5, horizon=100_000):
    g = np.arange(horizon + 1)
    hit = np.flatnonzero(gmm.weight_sd(w, n, g) >= frac * w)
    return int(hit[0]) if hit.size else None


def drift_swamps(answer) -> None:
    """``answer``: ``(g_minor, g_half)``: the first generation at which pure drift's standard deviation of a weight
    reaches half the weight, for ``w = 0.1`` and for ``w = 0.5``, with ``n = 100`` points per generation."""
    want = (_first_swamped(0.1, 100), _first_swamped(0.5, 100))
    ok = isinstance(answer, (tuple, list)) and len(answer) == 2
    expect(ok, "your answer is a pair (g_minor, g_half)", "(an int, an int)",
           answer if not callable(answer) else "a function", "assign a tuple of two generations, not a function")
    got = []
    for a in answer:
        try:
            got.append(int(a) if float(a).is_integer() else None)
        except (TypeError, ValueError):
            got.append(None)
    for i, (name, w) in enumerate((("g_minor", 0.1), ("g_half", 0.5))):
        expect(got[i] == want[i], f"{name}: first generation with sd(weight) >= {w} / 2 (w = {w}, n = 100)",
               want[i], answer[i], "Var_g = w(1-w)(1-(1-1/n)^g): solve Var_g >= (w/2)^2 for the smallest whole g, "
               "or evaluate your weight_sd for g = 0, 1, 2, ...")
    passed(f"drift_swamps: a w = 0.1 mode is swamped by drift at generation {want[0]}, a w = 0.5 mode only at "
           f"{want[1]}")
