"""Sampling loses the tails: the categorical (Zipf) chain, and light- versus heavy-tailed distributions.

Part 1, categorical. A distribution p over K categories is refitted each generation from M samples by maximum
likelihood (counts / M). A category of probability p is absent from M samples with chance (1-p)^M; once its
count is 0 its fitted probability is 0, so it is never sampled again: loss is permanent (an absorbing state), and
the rarest categories go first. :func:`expected_lost` is the exact expected number lost in one generation,
:func:`lost_once` the simulation, :func:`survival` the survival of every category over generations.

Part 2, tails of continuous distributions. Each distribution of :data:`DISTRIBUTIONS` goes through the same refit
loop (draw M points from the current model, fit the next model to them) and we measure how much of the original
mass beyond the original 1st and 99th percentiles (2% in all) the n-th model still puts there.

The model. A Gaussian is refitted as a Gaussian (mean, unbiased variance), as in the paper's Theorem 3.1. The
others need a model that can represent their shape; we use a kernel density estimate (KDE), not the empirical
distribution: resampling the empirical distribution only ever copies the M points, so its behaviour depends on the
ranks of the points alone, and every distribution would give the same table (the categorical chain again, with
M categories). The KDE is Silverman's rule-of-thumb Gaussian kernel, h = 0.9 min(sd, IQR/1.34) M^(-1/5), with the
variance correction of the smoothed bootstrap (Silverman 1986, sec. 6.4.1): centres shrink towards the mean by
r = sqrt(s^2 / (s0^2 + h^2)) and the kernel width is r h, so the model's variance equals the sample's unbiased
variance s^2 (s0^2: the ddof=0 variance). Without the correction each generation would add h^2 of variance and
the chain would blow up instead of showing the tails. Because the kernel is Gaussian, the model's tail mass is
known exactly (a mean of normal tail probabilities), so the measured fraction carries no extra sampling noise.
A Gaussian is also run through the KDE ("gaussian, KDE") to separate the effect of the model from that of the tail.

Every model is a mixture of equal-weight Gaussians with common width: ``(centres (chains, J), width (chains,))``;
the Gaussian fit is the case J = 1. That one representation gives sampling, density and exact tail mass for all.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import optimize, special, stats

from . import loop, metrics, plots, profiles
from .runtime import as_rng, blocks, in_threads, progress, workers
from . import validate
from .validate import integer as _int, seed as _seed

SIZES = {
    # zipf_K, zipf_a: the Zipf law; M: samples per generation; lost_M: sample sizes of the one-generation table,
    # lost_trials its simulations; survival_*: the survival figure; experiment_generations: loop.run chain;
    # tail_*: the light-vs-heavy tail table (n = fits made, chains averaged).
    "quick": {"zipf_K": 1000, "zipf_a": 1.1, "M": 1000, "lost_M": (100, 1000, 10000), "lost_trials": 2000,
              "survival_chains": 200, "survival_generations": 200, "experiment_generations": 200,
              "tail_M": 100, "tail_chains": 400, "tail_n": (1, 10, 30, 100, 300), "explore_chains": 100},
    "standard": {"zipf_K": 1000, "zipf_a": 1.1, "M": 1000, "lost_M": (100, 1000, 10000), "lost_trials": 10000,
                 "survival_chains": 1000, "survival_generations": 500, "experiment_generations": 500,
                 "tail_M": 100, "tail_chains": 2000, "tail_n": (1, 10, 30, 100, 300), "explore_chains": 200},
    "paper": {"zipf_K": 1000, "zipf_a": 1.1, "M": 1000, "lost_M": (100, 1000, 10000), "lost_trials": 50000,
              "survival_chains": 5000, "survival_generations": 1000, "experiment_generations": 1000,
              "tail_M": 100, "tail_chains": 20000, "tail_n": (1, 10, 30, 100, 300, 1000), "explore_chains": 400},
}


# chains per block when many chains run on threads (tail_chains, survival): a fixed size, so the numbers do not
# depend on the cores; the quick and standard sizes fit in one block
CHAIN_BLOCK = 2500


def sizes(profile: str | None = None):
    """This chapter's sizes for ``profile`` (default: the active profile), as attributes."""
    return profiles.pick(SIZES, profile)




def _probs(p, name="p"):
    """p as a float array over categories (last axis), non-negative, each row summing to 1."""
    try:
        a = np.asarray(p, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of probabilities; got {type(p).__name__}") from None
    if a.ndim not in (1, 2) or a.shape[-1] == 0:
        raise ValueError(f"{name} must have shape (K,) or (chains, K) with K >= 1; got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a < 0) or not np.allclose(a.sum(-1), 1.0, atol=1e-8):
        raise ValueError(f"{name} must hold non-negative probabilities that sum to 1 (along the last axis)")
    return a


# ---------------------------------------------------------------------------------------------------------------
# part 1: the categorical chain


def zipf(K: int, a: float = 1.0) -> np.ndarray:
    """Zipf law over ``K`` categories: p_i proportional to i^(-a), i = 1..K (most common first). Shape (K,)."""
    K = _int("K", K, 1)
    if isinstance(a, bool) or not isinstance(a, (int, float, np.integer, np.floating)) or not 0 <= a < 50:
        raise ValueError(f"a must be a number in [0, 50) (the Zipf exponent); got {a!r}")
    w = np.arange(1, K + 1, dtype=float) ** -float(a)
    return w / w.sum()


def refit(p, M: int, rng) -> np.ndarray:
    """One generation: draw ``M`` samples from ``p`` and refit by maximum likelihood (counts / M).

    ``p``: (K,) or (chains, K) probabilities (one row per chain). Returns the same shape; a category with
    probability 0 stays at 0.
    """
    p, M, rng = _probs(p), _int("M", M, 1), as_rng(rng)
    return rng.multinomial(M, p) / M


def expected_lost(p, M: int):
    """Expected number of categories with p > 0 that are absent from M samples: sum over p_i > 0 of (1-p_i)^M.

    ``p``: (K,) -> float, or (chains, K) -> (chains,).
    """
    p, M = _probs(p), _int("M", M, 1)
    out = np.where(p > 0, (1.0 - p) ** M, 0.0).sum(-1)
    return float(out) if out.ndim == 0 else out


_LOST_TRIALS = 1000  # trials per multinomial call in lost_once


def lost_once(p, M: int, trials: int, seed=0) -> np.ndarray:
    """Simulated number of categories (of those with p > 0) lost in one refit, for ``trials`` trials. (trials,) ints."""
    p, M, trials = _probs(p), _int("M", M, 1), _int("trials", trials, 1)
    if p.ndim != 1:
        raise ValueError(f"p must have shape (K,) here; got {p.shape}")
    validate.fits_memory(f"trials = {trials:,} (one count each)", 8.0 * trials)
    rng, out = as_rng(seed), np.empty(trials, dtype=np.int64)
    for i in range(0, trials, _LOST_TRIALS):  # trials in turn, one stream in order: the numbers of one call, without
        counts = rng.multinomial(M, p, size=min(trials - i, _LOST_TRIALS))  # a (trials, K) array of counts
        np.sum((counts == 0) & (p > 0), axis=1, out=out[i:i + counts.shape[0]])
    return out


def lost_once_each(p, sizes: Sequence[int], trials: int, seeds: Sequence) -> list:
    """:func:`lost_once` for each sample size M of ``sizes``, seeded with the seed at the same place in ``seeds``:
    a list of (trials,) int arrays, the arrays of one :func:`lost_once` call per size. The sizes run side by side on
    threads (multinomial releases the GIL), the largest first: it takes longest."""
    if not isinstance(sizes, (list, tuple, range, np.ndarray)) or np.ndim(sizes) != 1 or len(sizes) == 0:
        raise validate.ArgumentError(f"sizes must be a non-empty list of sample sizes M; got {sizes!r:.60}")
    sizes = [_int(f"sizes[{i}]", M, 1) for i, M in enumerate(sizes)]
    if not isinstance(seeds, (list, tuple, range, np.ndarray)) or np.ndim(seeds) != 1:
        raise validate.ArgumentError(f"seeds must be a list of one seed per size; got {seeds!r:.60}")
    if len(seeds) != len(sizes):
        raise validate.ArgumentError(f"sizes and seeds must have the same length (one seed per size); got "
                                     f"{len(sizes)} sizes and {len(seeds)} seeds")
    seeds = [s if isinstance(s, np.random.Generator) else _seed(f"seeds[{i}]", s) for i, s in enumerate(seeds)]
    gens = [id(s) for s in seeds if isinstance(s, np.random.Generator)]
    if len(set(gens)) != len(gens):  # one stream drawn by two threads at once: numbers that depend on timing
        raise validate.ArgumentError("seeds must not hold the same Generator twice (the sizes run side by side)")
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i])
    done = in_threads(lost_once, [p] * len(order), [sizes[i] for i in order], [trials] * len(order),
                      [seeds[i] for i in order])
    out = [None] * len(order)
    for i, sim in zip(order, done):
        out[i] = sim
    return out


# chains refitted per multinomial call in survival: rows that share their list of live categories
_MULTINOMIAL_ROWS = 25


def survival(p, M: int, generations: int, chains: int, seed=0) -> np.ndarray:
    """Fraction of ``chains`` in which each category still has positive probability, after n = 0..generations refits.

    Returns shape (generations + 1, K); row 0 is ``p > 0``. Many chains are refitted together with one
    ``multinomial`` call per generation: a chain is a row of a (chains, K) array (vectorised numpy: a python loop
    over chains through loop.run would be ~100x slower for the same numbers); more than :data:`CHAIN_BLOCK` chains
    run in blocks on threads, as in :func:`tail_chains`.
    """
    p, M = _probs(p), _int("M", M, 1)
    generations, chains = _int("generations", generations, 0), _int("chains", chains, 1)
    if p.ndim != 1:
        raise ValueError(f"p must have shape (K,); got {p.shape}")
    parts = blocks(chains, CHAIN_BLOCK, as_rng(seed))
    bar = progress(total=generations * len(parts), desc="categorical chains")

    def run(size, rng):
        # The chains in groups of rows, each group with only the categories still alive in one of its chains
        # (cols) and the last category. multinomial goes through a row's categories in order and draws nothing
        # for a probability of 0, and the last category gets what the others left: without the dead categories,
        # the same counts from the same random numbers, at the cost of the live ones only (most die early).
        groups = [(np.arange(p.size), np.tile(p, (min(_MULTINOMIAL_ROWS, size - i), 1)))
                  for i in range(0, size, _MULTINOMIAL_ROWS)]
        alive = np.zeros((generations + 1, p.size))
        alive[0] = size * (p > 0)
        for g in range(1, generations + 1):
            for k, (cols, q) in enumerate(groups):  # rows in turn: one stream, in order (one call's numbers)
                counts = rng.multinomial(M, q)
                chains_alive = (counts != 0).sum(axis=0)
                alive[g, cols] += chains_alive
                if chains_alive[:-1].all():
                    groups[k] = cols, counts / M
                else:
                    live = chains_alive > 0
                    live[-1] = True
                    groups[k] = cols[live], counts[:, live] / M
            bar.update()
        return alive

    try:
        return sum(in_threads(run, *zip(*parts))) / chains
    finally:
        bar.close()


def tv(p, q) -> float:
    """Total variation distance 0.5 * sum |p - q| between two distributions over the same K categories."""
    p, q = _probs(p, "p"), _probs(q, "q")
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"p and q must have the same shape (K,); got {p.shape} and {q.shape}")
    return float(0.5 * np.abs(p - q).sum())


def family(K: int) -> loop.Family:
    """The categorical family for :func:`loop.run`: data = (N,) category ids in [0, K) -> model p (K,) -> ids."""
    K = _int("K", K, 1)

    def fit(data, rng):
        x = np.asarray(data)
        if x.ndim != 1 or x.size == 0 or not np.issubdtype(x.dtype, np.integer) or x.min() < 0 or x.max() >= K:
            raise ValueError(f"data must be a non-empty (N,) array of category ids in [0, {K})")
        return np.bincount(x, minlength=K) / x.size

    def sample(p, n, rng):
        return rng.choice(K, size=n, p=p)

    return loop.Family(fit, sample, name="categorical")


def experiment(policy="replace", *, generations: int | None = None, seed: int = 0, profile: str | None = None,
               K: int | None = None, a: float | None = None, M: int | None = None) -> loop.History:
    """One Zipf chain through :func:`loop.run`: M real samples from zipf(K, a), refit, resample.

    Columns: ``generation`` (generation g is fit n = g + 1), ``alive`` (categories with p > 0), ``entropy`` (nats)
    and ``distance`` = total variation to the original Zipf law. Sizes default to the profile's.
    """
    s = sizes(profile)
    generations = s.experiment_generations if generations is None else _int("generations", generations, 0)
    K = s.zipf_K if K is None else _int("K", K, 1)
    M = s.M if M is None else _int("M", M, 1)
    p = zipf(K, s.zipf_a if a is None else a)
    seed = _seed("seed", seed)
    real = np.random.default_rng([seed, 1]).choice(K, size=M, p=p)
    return loop.run(family(K), real, generations, policy=policy, seed=seed,
                    metrics={"alive": lambda q, d: int((q > 0).sum()), "entropy": lambda q, d: metrics.entropy(q),
                             "distance": lambda q, d: tv(q, p)})


# ---------------------------------------------------------------------------------------------------------------
# part 2: light versus heavy tails

DISTRIBUTIONS = ("gaussian", "student-t", "uniform", "mixture")
MODELS = ("gaussian", "kde")
T_DF = 3          # Student-t degrees of freedom: power-law tail p(x) ~ |x|^-4, finite variance
MIX = (0.95, 0.0, 1.0, 4.0, 0.5)   # weight of the main component, its mean, sd; the minor component's mean, sd


def _dist(name):
    if not isinstance(name, str) or name not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}; got {name!r}")
    return name


def draw(distribution: str, size, rng) -> np.ndarray:
    """Samples of the original ``distribution`` (one of :data:`DISTRIBUTIONS`), array of shape ``size``.

    gaussian: N(0, 1); student-t: t with 3 degrees of freedom scaled to variance 1; uniform: on [-sqrt 3, sqrt 3]
    (variance 1, bounded); mixture: 0.95 N(0, 1) + 0.05 N(4, 0.5^2) (a small far mode).
    """
    _dist(distribution)
    rng = as_rng(rng)
    if isinstance(size, (tuple, list)):
        size = tuple(_int("size", v, 0) for v in size)
        validate.fits_memory("draw", 8 * float(np.prod(size)))
    else:
        size = _int("size", size, 0)
    if distribution == "gaussian":
        return rng.standard_normal(size)
    if distribution == "student-t":
        return rng.standard_t(T_DF, size) / np.sqrt(T_DF / (T_DF - 2))
    if distribution == "uniform":
        return rng.uniform(-np.sqrt(3), np.sqrt(3), size)
    w, m0, s0, m1, s1 = MIX
    minor = rng.random(size) > w
    return np.where(minor, m1 + s1 * rng.standard_normal(size), m0 + s0 * rng.standard_normal(size))


def cdf(distribution: str, x) -> np.ndarray:
    """CDF of the original ``distribution`` at ``x`` (array)."""
    _dist(distribution)
    x = validate.array("x", x, min_size=0)
    if distribution == "gaussian":
        return special.ndtr(x)
    if distribution == "student-t":
        return stats.t.cdf(x * np.sqrt(T_DF / (T_DF - 2)), T_DF)
    if distribution == "uniform":
        return np.clip((x + np.sqrt(3)) / (2 * np.sqrt(3)), 0, 1)
    w, m0, s0, m1, s1 = MIX
    return w * special.ndtr((x - m0) / s0) + (1 - w) * special.ndtr((x - m1) / s1)


def pdf(distribution: str, x) -> np.ndarray:
    """Density of the original ``distribution`` at ``x`` (array)."""
    _dist(distribution)
    x = validate.array("x", x, min_size=0)
    if distribution == "gaussian":
        return stats.norm.pdf(x)
    if distribution == "student-t":
        c = np.sqrt(T_DF / (T_DF - 2))
        return c * stats.t.pdf(x * c, T_DF)
    if distribution == "uniform":
        return np.where(np.abs(x) <= np.sqrt(3), 1 / (2 * np.sqrt(3)), 0.0)
    w, m0, s0, m1, s1 = MIX
    return w * stats.norm.pdf(x, m0, s0) + (1 - w) * stats.norm.pdf(x, m1, s1)


def tail_bounds(distribution: str, q: float = 0.01) -> tuple[float, float]:
    """The original ``q`` and ``1-q`` quantiles (exact, by root finding on :func:`cdf`)."""
    _dist(distribution)
    if isinstance(q, bool) or not isinstance(q, (float, int)) or not 0 < q < 0.5:
        raise ValueError(f"q must be a number in (0, 0.5); got {q!r}")
    lo = optimize.brentq(lambda x: cdf(distribution, x) - q, -50, 50, xtol=1e-12)
    hi = optimize.brentq(lambda x: cdf(distribution, x) - (1 - q), -50, 50, xtol=1e-12)
    return float(lo), float(hi)


def _data(x):
    x = validate.array("x", x, finite=False)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] < 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"x must be finite data of shape (M,) or (chains, M) with M >= 2; got shape {x.shape}")
    return x


def fit_gaussian(x):
    """Gaussian fit (mean, unbiased variance) of each row of ``x`` (chains, M).

    Returned as a model (centres (chains, 1) = the means, width (chains,) = the standard deviations).
    """
    x = _data(x)
    return _fit_gaussian(x, np.empty_like(x))


def _fit_gaussian(x, work):
    """:func:`fit_gaussian` of checked ``x`` with ``work`` (x's shape) as scratch: numpy's own ``mean`` and
    ``std(ddof=1)`` step by step (sum / M, deviations squared, sum / (M - 1), root), so the same numbers to the
    last bit, without allocating (chains, M) arrays each generation."""
    M = x.shape[1]
    m = np.add.reduce(x, axis=1, keepdims=True)
    m /= M
    np.subtract(x, m, out=work)
    np.square(work, out=work)
    sd = np.add.reduce(work, axis=1)
    sd /= M - 1
    return m, np.sqrt(sd, out=sd)


def fit_kde(x):
    """Variance-corrected Gaussian KDE of each row of ``x`` (chains, M) (see the module docstring).

    Returns the model (centres (chains, M), width (chains,)); its variance equals each row's unbiased variance.
    """
    x = _data(x)
    return _fit_kde(x, np.empty_like(x), np.empty_like(x))


def _fit_kde(x, centres, work):
    """:func:`fit_kde` of checked ``x``, the centres written into ``centres`` and ``work`` used for the sort
    (both of x's shape; ``x`` is left as it is)."""
    M = x.shape[1]
    m = x.mean(1, keepdims=True)
    d = np.subtract(x, m, out=centres)
    var0 = np.einsum("ij,ij->i", d, d) / M  # one pass for both variances (ddof 0 and 1)
    s0 = np.sqrt(var0)
    q75, q25 = _quartiles(x, work)
    spread = np.minimum(s0, (q75 - q25) / 1.34)
    spread = np.where(spread > 0, spread, s0)          # IQR is 0 when over half the points coincide
    h = 0.9 * spread * M ** -0.2
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(s0 > 0, np.sqrt(var0 * (M / (M - 1)) / (s0 ** 2 + h ** 2)), 0.0)
    d *= r[:, None]
    d += m
    return d, r * h


def _quartiles(x, work=None):
    """75th and 25th percentiles of each row (numpy's default linear interpolation), from one sort (of a copy of
    ``x`` in ``work``, when given)."""
    M = x.shape[1]
    pos = np.array([0.75, 0.25]) * (M - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, M - 1)
    if work is None:
        work = np.empty_like(x)
    np.copyto(work, x)
    work.sort(axis=1)  # rows are short: a sort is several times faster than a partition at 4 positions
    frac = pos - lo
    return tuple(work[:, l] + (work[:, h] - work[:, l]) * f for l, h, f in zip(lo, hi, frac))


FITS = {"gaussian": fit_gaussian, "kde": fit_kde}


def _model(model):
    try:
        c, w = model
        c, w = np.asarray(c, dtype=float), np.asarray(w, dtype=float)
    except (TypeError, ValueError):
        raise TypeError("model must be a pair (centres (chains, J), width (chains,))") from None
    if c.ndim != 2 or w.shape != (c.shape[0],) or np.any(w < 0):
        raise ValueError(f"model must be (centres (chains, J), width (chains,) >= 0); got shapes {c.shape}, {w.shape}")
    return c, w


def sample_model(model, n: int, rng) -> np.ndarray:
    """``n`` samples from each chain's model: a uniformly chosen centre plus width * N(0, 1). Shape (chains, n)."""
    c, w = _model(model)
    n, rng = _int("n", n, 1), as_rng(rng)
    out = np.empty((c.shape[0], n))
    return _sample(c, w, rng, out, None if c.shape[1] == 1 else np.empty_like(out))


# rows of the centre indices drawn per call in _sample: small enough to reuse memory, not a (chains, n) array a draw
_PICK_ROWS = 500


def _sample(c, w, rng, out, work):
    """:func:`sample_model` into ``out`` (chains, n), with ``work`` (out's shape; unused for one centre) for the
    chosen centres. The centre indices are drawn in blocks of rows: the same numbers as one call (one stream, in
    order), without a new (chains, n) array each generation."""
    if c.shape[1] == 1:  # one centre (a Gaussian): drawing index 0 would consume no random numbers anyway
        rng.standard_normal(out=out)
        out *= w[:, None]
        out += c
        return out
    chains, n, J = out.shape[0], out.shape[1], c.shape[1]
    flat = np.ascontiguousarray(c).ravel()
    for i in range(0, chains, _PICK_ROWS):
        k = min(chains, i + _PICK_ROWS)
        pick = rng.integers(J, size=(k - i, n))
        pick += (np.arange(i, k) * J)[:, None]  # flat indices: a 1-d take beats take_along_axis
        flat.take(pick, out=work[i:k], mode="clip")  # in range already: "clip" writes straight into work
    rng.standard_normal(out=out)
    out *= w[:, None]
    out += work
    return out


def model_tail_mass(model, lo: float, hi: float) -> np.ndarray:
    """Exact mass each chain's model puts outside [lo, hi], shape (chains,)."""
    c, w = _model(model)
    for name, v in (("lo", lo), ("hi", hi)):  # +-inf allowed: one-sided tails
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) or v != v:
            raise validate.ArgumentError(f"{name} must be a number (+-inf allowed, not NaN); got {v!r:.60}")
    if not lo <= hi:
        raise ValueError(f"need lo <= hi; got lo={lo}, hi={hi}")
    w = np.maximum(w, 1e-300)[:, None]
    return (special.ndtr((lo - c) / w) + special.ndtr((c - hi) / w)).mean(1)


def model_pdf(model, x) -> np.ndarray:
    """Density of each chain's model at points ``x`` (X,), shape (chains, X)."""
    c, w = _model(model)
    x = validate.array("x", x, ndim=(0, 1)).ravel()
    w = np.maximum(w, 1e-300)[:, None, None]
    z = (x[None, None, :] - c[:, :, None]) / w
    return (np.exp(-0.5 * z ** 2) / (np.sqrt(2 * np.pi) * w)).mean(1)


def tail_chains(distribution: str, model: str, M: int, generations: int, chains: int, seed=0, at=None):
    """Run ``chains`` refit chains and track the surviving tail fraction.

    Each chain starts from M samples of the original ``distribution``; fit n (n = 1..generations) fits ``model``
    ('gaussian' or 'kde') to M samples of fit n-1 (fit 1: to the real samples). The surviving fraction is the
    exact mass the n-th model (a Gaussian, or a mixture of M Gaussian kernels) puts beyond the original 1st and
    99th percentiles, divided by the original 2%.

    Returns (fraction, final model). Without ``at``: fraction (generations + 1, chains), row 0 (the original) is 1.
    With ``at`` (a list of fits n in 1..generations): fraction (len(at), chains) for those fits only; the chains
    are the same, and the tail mass, which costs more than a generation's fit and draw, is computed only there.
    All chains advance together as rows of a (chains, M) array: vectorised numpy, because loop.run handles one
    chain at a time and thousands of chains through it would cost ~100x more python overhead for the same
    computation. More than :data:`CHAIN_BLOCK` chains are split into blocks of that size, each with its own random
    stream spawned from ``seed``, run on :func:`~collapse_lab.runtime.workers` threads (the same numbers whatever
    the number of cores; up to :data:`CHAIN_BLOCK` chains use ``seed``'s stream directly).
    """
    _dist(distribution)
    if not isinstance(model, str) or model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}; got {model!r:.60}")
    M, generations, chains = _int("M", M, 2), _int("generations", generations, 1), _int("chains", chains, 1)
    at = None if at is None else _fits_at(at, generations)
    # the fractions kept, plus a few (block, M) arrays per thread at work
    validate.fits_memory("tail_chains", 8 * (float(len(at) if at else generations + 1) * chains
                                             + 6 * float(M) * min(chains, CHAIN_BLOCK * workers())))
    rng = as_rng(seed)
    lo, hi = tail_bounds(distribution)
    rows = {g: [g] for g in range(1, generations + 1)} if at is None else {}
    for i, g in enumerate(at or ()):
        rows.setdefault(g, []).append(i)
    parts = blocks(chains, CHAIN_BLOCK, rng)
    bar = progress(total=generations * len(parts), desc=f"{distribution} · {model}")

    def run(size, r):
        out = np.ones((generations + 1, size)) if at is None else np.empty((len(at), size))
        x = draw(distribution, (size, M), r)
        # the block's arrays, made once: fit and draw write into them instead of allocating (size, M) arrays
        # (page faults) every generation
        centres, work = np.empty_like(x), np.empty_like(x)
        for g in range(1, generations + 1):
            m = _fit_gaussian(x, work) if model == "gaussian" else _fit_kde(x, centres, work)
            if not np.all(np.isfinite(m[1])):
                raise ValueError(f"{distribution} · {model}: a chain's model is not finite at fit {g}")
            if g in rows:
                out[rows[g]] = model_tail_mass(m, lo, hi) / 0.02
            if g < generations:
                x = _sample(*m, r, x, work)
            bar.update()
        return out, m

    try:
        return _joined(in_threads(run, *zip(*parts)))
    finally:
        bar.close()


def _fits_at(at, generations: int) -> list:
    """:func:`tail_chains`'s ``at`` checked: a non-empty list of fits n in 1..``generations``."""
    if isinstance(at, (str, bytes)) or not hasattr(at, "__iter__") or getattr(at, "ndim", 1) != 1:
        raise validate.ArgumentError(f"at must be a list of fits n in 1..generations; got {at!r:.60}")
    at = [_int("at[i]", g, 1, generations) for g in at]
    if not at:
        raise ValueError("at must list at least one fit n in 1..generations")
    return at


def _joined(parts):
    """The blocks' ``(fraction (rows, block), model (centres, widths))`` of :func:`tail_chains` as one result,
    the blocks' chains side by side in their order."""
    if len(parts) == 1:
        return parts[0]
    return (np.concatenate([p[0] for p in parts], axis=1),
            (np.concatenate([p[1][0] for p in parts]), np.concatenate([p[1][1] for p in parts])))


# the rows of the measured table: (distribution, model)
TAIL_CASES = (("gaussian", "gaussian"), ("gaussian", "kde"), ("student-t", "kde"), ("uniform", "kde"),
              ("mixture", "kde"))


def tail_table(n: Sequence[int] | None = None, *, M: int | None = None, chains: int | None = None, seed: int = 0,
               cases=TAIL_CASES, profile: str | None = None) -> loop.History:
    """The measured light-vs-heavy tail table: one row per (distribution, model) of ``cases``.

    Columns: ``distribution``, ``model``, then for each n of ``n`` (fits made; default the profile's ``tail_n``)
    ``median_n`` = median over chains of the surviving tail fraction (1 = the original 2% beyond the 1st/99th
    percentiles is intact; > 1 = the model puts more mass there than the original), ``mean_n`` its mean (pulled up
    by the few chains whose spread grew: see the notebook) and ``lost_n`` the share of chains that kept less than
    10% of the original tail mass.
    Returned as a :class:`loop.History` (a plain table) with ``meta`` holding M, chains and seed.
    """
    s = sizes(profile)
    if isinstance(cases, (str, bytes)) or not hasattr(cases, "__iter__") or not list(cases) or not all(
            isinstance(c, (tuple, list)) and len(c) == 2 for c in cases):
        raise ValueError(f"cases must be a non-empty list of (distribution, model) pairs; got {cases!r:.60}")
    for dist, model in cases:
        _dist(dist)
        if model not in MODELS:
            raise ValueError(f"cases: model must be one of {MODELS}; got {model!r}")
    if n is not None and (isinstance(n, (str, bytes)) or not hasattr(n, "__iter__")):
        raise ValueError(f"n must be a non-empty list of ints >= 1 (fits made); got {n!r:.60}")
    n = tuple(s.tail_n if n is None else n)
    if not n or any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1 for x in n):
        raise ValueError(f"n must be a non-empty list of ints >= 1 (fits made); got {n!r}")
    M = s.tail_M if M is None else _int("M", M, 2)
    chains = s.tail_chains if chains is None else _int("chains", chains, 1)
    seed = _seed("seed", seed)
    table = loop.History(meta={"M": M, "chains": chains, "seed": seed, "n": list(n)})
    for i, (dist, model) in enumerate(progress(list(cases), desc="tail table")):
        frac, _ = tail_chains(dist, model, M, max(n), chains, seed=np.random.default_rng([seed, i]), at=n)
        row = {"distribution": dist, "model": model}
        for j, k in enumerate(n):
            row[f"median_{k}"] = float(np.median(frac[j]))
            row[f"mean_{k}"] = float(frac[j].mean())
            row[f"lost_{k}"] = float(np.mean(frac[j] < 0.1))
        table.append(row)
    return table


def kde_family() -> loop.Family:
    """The variance-corrected KDE as a :class:`loop.Family` for one chain: data (N,) floats -> model -> samples (n,)."""

    def fit(data, rng):
        return fit_kde(np.asarray(data, dtype=float).ravel())

    def sample(model, n, rng):
        return sample_model(model, n, rng)[0]

    return loop.Family(fit, sample, name="kde")


# ---------------------------------------------------------------------------------------------------------------
# the explorer


#: What the explorer's figure shows, for every setting (its text alternative; the settings drawn are appended).
DESCRIPTION = (
    "Two panels. Left: the original density (thick black line) and the densities fitted by a few chains after the "
    "chosen number of fits (thin lines, each in its own colour and dash pattern), on a log density axis, with dotted "
    "vertical lines at the original's 1% and 99% quantiles; a collapsed chain is a narrow spike that misses both "
    "tails. Right: the surviving tail mass (mass outside those quantiles, relative to the original's) over fits, "
    "mean and median over the chains with a band for the 10-90% range of chains, and a black line at 1 (no loss); "
    "the median typically lies below the mean, and with a smaller M the tails are typically lost sooner.")


def draw_explorer(M: int = 100, generations: int = 100, distribution: str = "student-t", chains: int = 100,
                  seed: int = 0):
    """Figure of the explorer: the original density next to a few chains' models after ``generations`` fits
    (left), and the surviving tail fraction over generations, mean and median over ``chains`` (right).

    Gaussian data are refitted as a Gaussian, the others with the KDE (as in :func:`tail_table`).
    """
    import matplotlib.pyplot as plt

    _dist(distribution)
    model = "gaussian" if distribution == "gaussian" else "kde"
    frac, final = tail_chains(distribution, model, M, generations, chains, seed=seed)
    lo, hi = tail_bounds(distribution)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    x = np.linspace(-5, 6, 600)
    orig = pdf(distribution, x)
    a.plot(x, orig, "k", lw=2.5, label="original")
    dens = model_pdf((final[0][:5], final[1][:5]), x)
    for i, d in enumerate(dens):
        a.plot(x, d, lw=1, alpha=0.8, label=f"chain {i} after {generations} fits" if i < 2 else None,
               **plots.series(i, marker=False))
    for q in (lo, hi):
        a.axvline(q, color="grey", ls=":", lw=1)
    # A collapsed KDE is a spike (density up to ~1e17): the axis stops at 10x the original's peak so the original
    # stays readable, and the title says when a model is cut off.
    top = 10 * float(orig.max())
    title = f"{distribution}, {model} refit, M={M} (dotted: original 1%/99%)"
    if dens.max() > top:
        title += f"\nmodels clipped at density {top:.2g} (peak {dens.max():.1e}: collapsed to a spike)"
    a.set(xlabel="x", ylabel="density", yscale="log", ylim=(1e-4, top), title=title)
    a.legend(fontsize=8)
    g = np.arange(generations + 1)
    b.plot(g, frac.mean(1), label="mean over chains", **plots.series(0))
    b.plot(g, np.median(frac, 1), label="median over chains", **plots.series(1))
    b.fill_between(g, *np.percentile(frac, [10, 90], axis=1), alpha=0.2, label="10-90% of chains")
    b.axhline(1, color="k", lw=0.8)
    b.set(xlabel="fits n", ylabel="tail mass / original 2%", title="surviving tail mass")
    b.legend(fontsize=8)
    return fig


def explore(M: Sequence[int] = (100, 20, 1000), generations: Sequence[int] = (100, 10, 300),
            distribution: Sequence[str] = DISTRIBUTIONS, chains: int | None = None, profile: str | None = None):
    """The explorer of M, generations and distribution (:func:`collapse_lab.widgets.explore`): the first value of
    each list is drawn first; numbers become sliders over their sorted values.

    Live (JupyterLab with ipywidgets) it displays the controls and a figure that redraws; elsewhere (nbval,
    ``make course``, ``COLLAPSE_LAB_STATIC=1``) the one figure. Returns the first figure in both modes; it is already
    on screen, so assign it or end the notebook line with ``;``.
    """
    from . import widgets

    chains = sizes(profile).explore_chains if chains is None else _int("chains", chains, 1)
    for name, values in (("M", M), ("generations", generations), ("distribution", distribution)):
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) == 0:
            raise ValueError(f"{name} must be a non-empty list of values; got {values!r}")
    for x in M:
        _int("M", x, 2)
    for x in generations:
        _int("generations", x, 1)
    for d in distribution:
        _dist(d)

    def draw(M, generations, distribution):
        return draw_explorer(M, generations, distribution, chains)

    return widgets.explore(draw, DESCRIPTION, M=list(M), generations=list(generations),
                           distribution=list(distribution))
