"""Checks for Chapter 2 (Gaussian mixture collapse). Each takes the learner's function and tests it on several
inputs against references from :mod:`collapse_lab.gmm`. Mixtures are passed as plain tuples
``(weights, means, covs)``; inputs must come back unchanged; random functions draw only from the ``rng`` given."""
from __future__ import annotations

import numpy as np

from .. import gmm, loop
from . import variants
from .core import (Hints, call, close, exercise, expect, last_call, letters_in_order, number, passed, rng_contract,
                   show, unchanged)

hint = Hints("ch2", {
    "l2_distance": "one helper for the double sum over the components of two mixtures, used three "
                   "times, saves writing it out thrice; mind the coefficient of the cross term when "
                   "you expand (p - q)^2, and return the square root.",
    "gmm_family": "a fitted GaussianMixture keeps weights_, means_ and covariances_; a random_state "
                  "for sklearn can be drawn with rng.integers; rng.multinomial splits n among the "
                  "components and rng.multivariate_normal draws with a full covariance.",
    "lost_at": "compare every generation's mass with below * original at once (a boolean array) and find the first "
               "True; the comparison is strict: a mass exactly at the threshold is not lost yet.",
    "weight_sd": "law of total variance: Var(w_g) = E[Var(w_g | w_{g-1})] + Var(E[w_g | w_{g-1}]). The first term "
                 "needs E[w_{g-1}(1 - w_{g-1})], which you can write with E[w_{g-1}] = w and Var(w_{g-1}). Solve the "
                 "resulting linear recursion from Var(w_0) = 0.",
    "match_modes": "build the (J, K) matrix of squared distances between every original mean and every fitted "
                   "mean; linear_sum_assignment returns matched (row, column) pairs; rows it leaves out get -1.",
    "isolated_sources": "in each experiment, which of the three still varies: the number of points (S), the number "
                        "of components against the truth's (E), or how EM is started and run (A)? That one is "
                        "isolated. Answer in the order of your variant.order.",
    "drift_swamps": "the weight's variance after g generations is w(1-w)(1-(1-1/n)^g); compare its square root "
                    "with w/2 for g = 0, 1, 2, ... with your variant's w and n.",
})


def _random_mixture(rng, k, d):
    w = rng.dirichlet(np.ones(k) * 2)
    m = rng.normal(0, 2, (k, d))
    a = rng.normal(0, 0.6, (k, d, d))
    c = a @ np.swapaxes(a, 1, 2) + 0.3 * np.eye(d)
    return gmm.mixture(w, m, c)


def _plain(mix):
    """A mixture as the plain tuple the text promises: (weights (K,), means (K, d), covs (K, d, d)) arrays."""
    return tuple(np.array(a, dtype=float) for a in mix)


def _copies(t):
    return tuple(a.copy() for a in t)


@exercise("ch2", refs=("gmm.mixture.l2", "gmm.mixture.overlaps"))
def l2_distance(fn) -> None:
    """``fn(p, q)`` -> the L2 distance between mixtures ``p`` and ``q`` (each ``(weights, means, covs)``)."""
    rng = np.random.default_rng(2)
    cases = [(_random_mixture(rng, kp, d), _random_mixture(rng, kq, d)) for kp, kq, d in
             ((3, 3, 2), (2, 4, 2), (1, 1, 1), (3, 2, 1), (2, 2, 3))]
    cases.append((gmm.TEACHING, gmm.TEACHING))
    cases.append((gmm.TEACHING, gmm.mixture([0.7, 0.3], gmm.TEACHING.means[:2], gmm.TEACHING.covs[:2])))
    for p, q in cases:
        p0, q0 = _plain(p), _plain(q)
        pa, qa = _copies(p0), _copies(q0)
        got = call(fn, pa, qa, name="l2_distance")
        for nm, a, b in (("p", p0, pa), ("q", q0, qa)):
            unchanged(dict(zip(("weights", "means", "covs"), a)), dict(zip(("weights", "means", "covs"), b)),
                      f"l2_distance ({nm})")
        want = gmm.l2(p, q)
        label = f"L2 distance between a {p.k}- and a {q.k}-component mixture in {p.dim}-D"
        g = number(got)
        expect(g is not None, f"{label}: one number", "a float", show(got, 80),
               "the distance is one number: add up the double sums, then take the square root")
        hint_ = ("expand (p - q)^2 into three double sums over pairs of components; each pair contributes both "
                 "weights times a Gaussian density of one mean at the other, with the two covariances added")
        more = None
        if close(g, want ** 2, rtol=1e-5, atol=1e-10):
            hint_ = "that is the integral of (p - q)^2; the distance is its square root"
        elif abs(want) > 1e-6 and close(g, gmm.l2(p, q, squared=True) ** 0.5 / np.sqrt(2), rtol=1e-3):
            hint_ = "check the factor of the cross term (p, q): it appears twice when the square is expanded"
        elif want == 0 and g != 0:
            hint_ = "the distance of a mixture to itself must be 0: the three sums cancel when p = q"
        expect(close(g, want, rtol=1e-5, atol=1e-8), label, want, got, hint_, more)
    passed(f"l2_distance matches the closed form on {len(cases)} pairs of mixtures (1-D to 3-D, 1 to 4 components)")


# three far-apart modes: k-means starts EM in the right basin for any seed, so only a wrong fit can fail the check
_SEPARATED = gmm.mixture([0.5, 0.3, 0.2], [[-8.0, 0.0], [8.0, 0.0], [0.0, 8.0]],
                         [[[1.0, 0.3], [0.3, 0.5]], [[0.6, 0.0], [0.0, 1.2]], [[0.5, 0.0], [0.0, 0.5]]])
# a model to sample from, with strongly correlated components: a sampler that drops correlations shows
_CORRELATED = (np.array([0.5, 0.3, 0.2]), np.array([[-8.0, 0.0], [8.0, 0.0], [0.0, 8.0]]),
               np.array([[[1.0, 0.8], [0.8, 1.0]], [[0.6, -0.5], [-0.5, 1.2]], [[0.5, 0.0], [0.0, 0.5]]]))


def _region_fractions(y, ref):
    from scipy.stats import chi2

    r2 = chi2.ppf(gmm.LEVEL, 2)
    out = []
    for mu, c in zip(ref.means, ref.covs):
        d = y - mu
        out.append(np.mean(np.einsum("ni,ij,nj->n", d, np.linalg.inv(c), d) <= r2))
    return np.array(out)


def _model_tuple(model, k, d, label):
    ok = isinstance(model, (tuple, list)) and len(model) == 3
    expect(ok, f"{label} must return the mixture as a tuple (weights, means, covs)", "(weights, means, covs)",
           show(model, 80), "return the fitted arrays (weights_, means_, covariances_), not the sklearn object: the "
           "notebook and your sample function take the tuple")
    shapes = tuple(np.shape(a) for a in model)
    expect(shapes == ((k,), (k, d), (k, d, d)) and all(isinstance(a, np.ndarray) for a in model),
           f"{label}: shapes of (weights, means, covs) for k={k} components in {d}-D", ((k,), (k, d), (k, d, d)),
           shapes, "fit exactly k components (the k given to gmm_family) with full covariances",
           "GaussianMixture(k, covariance_type='full', ...): a fixed number of components ignores k")


def _family(fam, label):
    expect(callable(getattr(fam, "fit", None)) and callable(getattr(fam, "sample", None)),
           f"{label} returns something with fit and sample", "loop.Family(fit=..., sample=...)", show(fam, 80),
           "return loop.Family(fit=fit, sample=sample) with the two inner functions")


@exercise("ch2", refs=("gmm.fitting.family", "gmm.fitting.fit", "em.fit"))
def gmm_family(fn) -> None:
    """``fn(k)`` -> a ``loop.Family`` whose ``fit`` is the paper's EM with ``k`` components and ``sample`` draws."""
    with gmm.one_thread():  # the learner's EM fits, single-threaded like the package's
        _gmm_family(fn)


def _gmm_family(fn) -> None:
    fam3 = call(fn, 3, name="gmm_family")
    _family(fam3, "gmm_family(3)")
    # sample: on a model given here (plain tuple), shapes, rng discipline, input untouched, the law of the points
    runs = []
    for seed in (2, 2, 3):
        model = _copies(_CORRELATED)
        y = call(fam3.sample, model, 17, np.random.default_rng(seed), name="sample")
        runs.append((y, last_call()["global_rng_changed"]))
        unchanged(dict(zip(("weights", "means", "covs"), _CORRELATED)), dict(zip(("weights", "means", "covs"), model)),
                  "sample (model)")
        expect(isinstance(y, np.ndarray) and y.shape == (17, 2), "sample(model, 17, rng): n points in d = 2",
               "a numpy array of shape (17, 2)", show(y, 80), "n rows, one point per row; the counts of all "
               "components must add up to n (a multinomial draw does)")
    rng_contract(runs, "sample(model, n, rng)", lambda a, b: np.array_equal(a, b))
    n = 4000
    y = call(fam3.sample, _copies(_CORRELATED), n, np.random.default_rng(4), name="sample")
    expect(isinstance(y, np.ndarray) and y.shape == (n, 2), f"sample(model, {n}, rng) shape", (n, 2),
           show(y, 80), "return an (n, d) numpy array of points")
    w, m, c = _CORRELATED
    nearest = np.argmin(((y[:, None, :] - m[None]) ** 2).sum(-1), axis=1)
    frac = np.bincount(nearest, minlength=3) / n
    expect(np.all(np.abs(frac - w) < 6 * np.sqrt(w * (1 - w) / n)), f"share of {n} samples from each component",
           w, frac, "each point comes from component j with probability weight j: the counts come from one "
           "multinomial draw with the weights", diff=False)
    for j in range(3):
        cj = np.cov(y[nearest == j], rowvar=False)
        expect(close(cj, c[j], rtol=0.2, atol=0.12), f"covariance of the samples of component {j}", c[j], cj,
               "draw each component's points with its full covariance matrix (correlations included), not only "
               "its variances" if abs(c[j][0, 1]) > 0.1 and abs(cj[0, 1]) < 0.2 else
               "draw each component's points from N(mean_j, cov_j)", diff=False)
    counts = [np.bincount(np.argmin(((call(fam3.sample, _copies(_CORRELATED), 40, np.random.default_rng(10 + i),
                                             name="sample")[:, None, :] - m[None]) ** 2).sum(-1), axis=1),
                          minlength=3)[0] for i in range(12)]
    expect(len(set(counts)) > 1, "component counts of sample(model, 40, rng) over 12 seeds", "random counts",
           counts, "the number of points per component is random (rng.multinomial), not round(weight * n)")
    # fit: k varied, the tuple, the data untouched, rng discipline, a correct EM
    x0 = gmm.sample(_SEPARATED, 3000, np.random.default_rng(0))
    for k in (3, 1, 2):
        fam = fam3 if k == 3 else call(fn, k, name="gmm_family")
        _family(fam, f"gmm_family({k})")
        x = x0.copy()
        model = call(fam.fit, x, np.random.default_rng(1), name="fit")
        unchanged({"data": x0}, {"data": x}, "fit")
        _model_tuple(model, k, 2, f"gmm_family({k}).fit(data, rng)")
        if k == 3:
            got = gmm.mode_mass(gmm.mixture(*model), _SEPARATED)
            want = gmm.mode_mass(_SEPARATED, _SEPARATED)
            expect(close(got, want, atol=0.03), "mass the 3-component fit puts in each original mode's 99% ellipse "
                   "(3000 points from three far-apart modes)", want, got,
                   "fit a GaussianMixture with k components and full covariances to the data")
        if k == 1:
            expect(close(model[2][0], np.cov(x0, rowvar=False, ddof=0), rtol=1e-3, atol=1e-4),
                   "gmm_family(1).fit: the one component's covariance is the data's", np.cov(x0, rowvar=False, ddof=0),
                   model[2][0], "use k components, with full covariances")
    # points evenly on a circle: every rotation of a 3-component fit is as good as any other, so EM ends where its
    # start sends it, with one start or the best of several (n_init): fits from different seeds differ, whichever
    # seeds are drawn, unless the seed is fixed inside
    t = np.linspace(0, 2 * np.pi, 360, endpoint=False)
    ring = np.c_[np.cos(t), np.sin(t)]
    fits = []
    for seed in (21, 21, 22, 23, 24):
        model = call(fam3.fit, ring.copy(), np.random.default_rng(seed), name="fit")
        _model_tuple(model, 3, 2, "gmm_family(3).fit(data, rng)")
        fits.append((np.concatenate([np.ravel(a) for a in model]), last_call()["global_rng_changed"]))
    rng_contract(fits, "fit(data, rng)", np.array_equal)
    # one more generation, as loop.run chains them: fit on the samples of a fit
    model = call(fam3.fit, x0[:300].copy(), np.random.default_rng(6), name="fit")
    y = call(fam3.sample, model, 300, np.random.default_rng(7), name="sample")
    _model_tuple(call(fam3.fit, y, np.random.default_rng(8), name="fit"), 3, 2, "fit on sample's output")
    passed("gmm_family fits k components by EM (random start from rng), samples (n, d) points with full "
           "covariances, and runs in loop.run")


@exercise("ch2", refs=("gmm.measures.lost_generation",))
def lost_at(fn) -> None:
    """``fn(mass, original, below)`` -> first generation where ``mass < below * original``, or None."""
    rng = np.random.default_rng(5)
    cases = [
        (np.array([0.1, 0.09, 0.05, 0.02, 0.005, 0.0]), 0.1, 0.1),
        (np.array([0.3, 0.31, 0.29, 0.3]), 0.3, 0.1),          # never lost
        (np.array([0.001, 0.05, 0.1]), 0.1, 0.1),              # lost at generation 0
        (np.array([0.1, 0.009, 0.02, 0.001]), 0.1, 0.1),       # first passage: it came back, still lost at 1
        (np.array([0.6, 0.4, 0.25, 0.1]), 0.6, 0.5),           # another threshold
        (np.array([0.4, 0.2, 0.1, 0.1, 0.05]), 0.4, 0.25),     # on the threshold (0.1 = 0.25 * 0.4) is not lost
        (np.array([0.5, 0.125, 0.125]), 0.5, 0.25),            # on the threshold to the end: never lost
        (np.array([0.2, 0.15, 0.12, 0.05]), 0.8, 0.2),         # original differs from mass[0]
        (np.abs(0.1 + np.cumsum(rng.normal(0, 0.01, 200))), 0.1, 0.1),
    ]
    for mass0, orig, below in cases:
        mass = mass0.copy()
        got = call(fn, mass, orig, below, name="lost_at")
        unchanged({"mass": mass0}, {"mass": mass}, "lost_at")
        want = gmm.lost_generation(mass0, orig, below)
        label = f"lost_at(mass={show(np.round(mass0, 3), 70)}, original={orig}, below={below})"
        if want is None:
            ok = got is None
            hint_ = "when no generation falls below the threshold, return None (not -1, not len(mass))"
            if isinstance(got, (int, np.integer)) and not isinstance(got, bool) and 0 <= got < len(mass0) and \
                    mass0[got] == below * orig:
                hint_ = "a mass exactly at below * original is not below it: the comparison is strict"
        else:
            is_int = isinstance(got, (int, np.integer)) and not isinstance(got, (bool, np.bool_))
            ok = is_int and int(got) == want
            hint_ = "the first generation index (0-based, an int) whose mass is strictly below below * original"
            if got is not None and not is_int:
                hint_ = "return the index as an int (int(...)), not a float, bool or array"
            elif is_int and int(got) < want and mass0[int(got)] == below * orig:
                hint_ = "a mass exactly at below * original is not below it: the comparison is strict"
            elif is_int and int(got) > want:
                hint_ = (f"generation {want} is already below the threshold: the first passage counts (even if the "
                         "mass comes back later), and generations are numbered from 0")
        if not ok and got == gmm.lost_generation(mass0, mass0[0], below) != want:
            hint_ = "the threshold is below times `original`, which need not be mass[0]"
        elif not ok and below != 0.1 and got == gmm.lost_generation(mass0, orig, 0.1):
            hint_ = "use the `below` argument: the fraction that counts as lost is not always 0.1"
        expect(ok, label, want, got, hint_)
    passed(f"lost_at finds the first passage below the threshold in {len(cases)} trajectories (incl. never and at 0)")


@exercise("ch2", refs=("gmm.measures.weight_sd",))
def weight_sd(fn) -> None:
    """``fn(w, n, g)`` -> standard deviation of a mode's weight after g generations of resampling n points."""
    cases = [(0.1, 1000, 1), (0.1, 1000, 100), (0.3, 250, 10), (0.6, 50, 0), (0.5, 20, 1000), (0.02, 100, 5),
             (0.9, 7, 3)]
    for w, n, g in cases:
        got = call(fn, w, n, g, name="weight_sd")
        want = gmm.weight_sd(w, n, g)
        x = number(got)
        hint_ = ("the weight's mean stays w; find how much variance one generation adds given the previous weight, "
                 "and note that it depends on the variance already there")
        if x is None:
            hint_ = "return one float"
        elif g == 0 and x != 0:
            hint_ = "after 0 generations the weight is w itself: no spread"
        elif close(x, want ** 2, rtol=1e-6):
            hint_ = "that is a variance: return the standard deviation"
        elif g > 1 and close(x, np.sqrt(w * (1 - w) / n), rtol=1e-6):
            hint_ = "that is the spread after one generation; the drift accumulates over g generations"
        elif g > 1 and close(x, np.sqrt(g * w * (1 - w) / n), rtol=1e-6):
            hint_ = ("the variance cannot grow by w(1-w)/n forever (a weight stays in [0, 1]): each generation adds "
                     "less, because E[w(1-w)] shrinks as the weights spread")
        expect(x is not None and close(x, want, rtol=1e-6, atol=1e-12), f"weight_sd(w={w}, n={n}, g={g})", want, got,
               hint_)
    # and the formula is the simulation's: a binomial chain of counts
    rng = np.random.default_rng(6)
    w, n, g = 0.1, 200, 30
    p = np.full(4000, w)
    for _ in range(g):
        p = rng.binomial(n, p) / n
    got = call(fn, w, n, g, name="weight_sd")
    expect(abs(got - p.std()) < 0.1 * p.std(), f"weight_sd({w}, {n}, {g}) against 4000 simulated binomial chains",
           round(float(p.std()), 4), got, "simulate: p <- Binomial(n, p) / n, g times, and compare")
    passed(f"weight_sd matches the binomial drift on {len(cases)} cases and a simulated binomial chain")


def _assign(cost):
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost)
    out = np.full(cost.shape[0], -1)
    out[rows] = cols
    return out


def _greedy(cost):
    out, used = np.full(cost.shape[0], -1), set()
    for i in range(cost.shape[0]):
        free = [j for j in range(cost.shape[1]) if j not in used]
        if free:
            out[i] = min(free, key=lambda j: cost[i, j])
            used.add(out[i])
    return out


@exercise("ch2", refs=("gmm.measures.match",))
def match_modes(fn) -> None:
    """``fn(ref_means, fit_means)`` -> for each original mode the index of its fitted component (or -1)."""
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(7)
    ref = gmm.TEACHING.means
    cases = []
    for perm in ([2, 0, 1], [1, 2, 0], [0, 1, 2]):
        cases.append((ref, ref[perm] + rng.normal(0, 0.3, (3, 2))))
    cases.append((ref, np.array([[-3.2, 0.1], [2.8, 0.4], [-2.5, -0.5]])))        # minor mode gone, major split
    cases.append((ref, np.array([[0.0, 2.0], [-3.0, 0.0]])))                       # two components for three modes
    cases.append((ref, np.array([[3.0, 0.4], [0.6, 4.4], [-3.1, 0.0], [9.0, 9.0]])))  # a spare component
    # greedy, per-mode nearest and unsquared distances each pick another assignment here
    cases.append((np.array([[-2.8, 2.6], [1.5, 2.3], [-2.5, 2.4]]), np.array([[-2.5, -3.3], [2.8, 2.9], [3.0, -0.2]])))
    for r0, f0 in cases:
        r, f = r0.copy(), f0.copy()
        got = call(fn, r, f, name="match_modes")
        unchanged({"ref_means": r0, "fit_means": f0}, {"ref_means": r, "fit_means": f}, "match_modes")
        cost = ((r0[:, None] - f0[None]) ** 2).sum(-1)
        rows, cols = linear_sum_assignment(cost)
        want = np.full(len(r0), -1)
        want[rows] = cols
        label = f"match_modes({len(r0)} modes, fitted means {np.round(f0, 1).tolist()})"
        expect(isinstance(got, np.ndarray) and got.shape == want.shape and np.issubdtype(got.dtype, np.integer),
               f"{label}: an int array, one entry per original mode", f"int array of shape {want.shape}",
               show(got, 80), "one entry per original mode (J of them), -1 where no component is assigned; "
               "np.full(J, -1) then fill in the matched ones")
        hint_ = "each component serves at most one mode, and the total squared distance is the smallest possible"
        more = None
        if len(set(int(v) for v in got if v >= 0)) < int(np.sum(got >= 0)):
            hint_ = "a component is used twice: the nearest component of each mode on its own is not an assignment"
        elif close(got, _assign(np.sqrt(cost))) and close(got, _greedy(cost)):
            hint_ = ("minimise the total squared distance over all modes at once (not mode by mode, not plain "
                     "distances)")
        elif close(got, _assign(np.sqrt(cost))):
            hint_ = "the cost is the squared Euclidean distance, not the distance"
        elif close(got, _greedy(cost)):
            hint_ = "taking the modes one by one (greedy) is not the optimal assignment: minimise the total"
        expect(close(got, want, rtol=0, atol=0), label, want, got, hint_, more)
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


# how isolated_sources reads and answers: one letter per experiment, the error source S, E or A it isolates
_SOURCES_FORM = dict(
    allowed="SEA", unit="experiment", example="SSEAA", differ="isolate a different error source",
    expected="the source that remains when the other two are switched off",
    hint="for each experiment ask: would more data remove this error (statistical), a bigger model (expressivity), "
         "or a better fitting procedure (approximation)?")


@exercise("ch2", refs=("gmm.chains.error_sources",), kind="concept")
def isolated_sources(answer) -> None:
    """``answer``: a string of five letters S / E / A, the error source each experiment of the exercise isolates, in
    the order of the learner's ``checks.variant("02").order``."""
    v = variants.variant("02")
    want = answers(v)["isolated_sources"]
    letters_in_order(answer, want, v.order, **_SOURCES_FORM)
    passed(f"isolated_sources: all {len(want)} experiments matched to the error source they isolate")


def _first_swamped(w, n, frac=0.5, horizon=100_000):
    g = np.arange(horizon + 1)
    hit = np.flatnonzero(gmm.weight_sd(w, n, g) >= frac * w)
    return int(hit[0]) if hit.size else None


@exercise("ch2", refs=("gmm.measures.weight_sd",), kind="concept")
def drift_swamps(answer) -> None:
    """``answer``: ``(g_minor, g_major)``: the first generation at which pure drift's standard deviation of a
    weight reaches half the weight, for ``w = w_minor`` and for ``w = w_major``, with ``n`` points per generation
    (the three from the learner's ``checks.variant("02")``)."""
    v = variants.variant("02")
    want = answers(v)["drift_swamps"]
    ok = isinstance(answer, (tuple, list)) and len(answer) == 2
    expect(ok, "your answer is a pair (g_minor, g_major)", "(an int, an int)",
           answer if not callable(answer) else "a function", "assign a tuple of two generations, not a function")
    got = []
    for a in answer:
        try:
            got.append(int(a) if float(a).is_integer() else None)
        except (TypeError, ValueError, OverflowError):
            got.append(None)
    for i, (name, w) in enumerate((("g_minor", v.w_minor), ("g_major", v.w_major))):
        expect(got[i] == want[i], f"{name}: first generation with sd(weight) >= {w} / 2 (w = {w}, n = {v.n}, your "
               "variant)", "a whole generation", answer[i], "Var_g = w(1-w)(1-(1-1/n)^g): solve Var_g >= (w/2)^2 "
               "for the smallest whole g, or evaluate your weight_sd for g = 0, 1, 2, ...")
    passed(f"drift_swamps: a w = {v.w_minor} mode is swamped by drift at generation {want[0]}, a w = {v.w_major} "
           f"mode only at {want[1]}")


def answers(v) -> dict:
    """The answers of this chapter's variant items for the variant ``v`` (``checks.variant("02", student)``)."""
    return {"drift_swamps": (_first_swamped(v.w_minor, v.n), _first_swamped(v.w_major, v.n)),
            "isolated_sources": "".join(_ISOLATED[i - 1][0] for i in v.order)}
