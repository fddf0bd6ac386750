"""The 1-D Gaussian chain of the paper's Theorem 3.1 (Shumailov et al., Nature 2024, Methods).

Generation n fits a Gaussian to M samples drawn from the Gaussian of generation n-1, with the sample mean and the
sample variance (``ddof=1``, unbiased: the theorem; ``ddof=0``, maximum likelihood: the variant). The original
distribution is N(mu, s^2) and counts as n = 0; "n" below is always the number of fits made so far, so n = 1 is
the model fitted on M real samples.

Exact results (k = M - 1 degrees of freedom, r = (M - 1)/(M - ddof)):

- ``expected_var``:  E[s_n^2] = s^2 r^n, i.e. s^2 for every n with ddof=1 (a martingale), s^2 (1-1/M)^n for ML;
- ``expected_std``:  E[s_n] = s c^n, c = sqrt(2/(M-ddof)) Gamma(M/2)/Gamma((M-1)/2) (= c_M for ddof=1), while
  s_n -> 0 almost surely: log s_n^2 is a random walk with negative drift E[log chi2_k/k] < 0;
- ``median_var``:    the exact median of s_n^2 (Gil-Pelaez inversion of the characteristic function of
  log s_n^2, a sum of n i.i.d. log chi-square terms); ``median_var_approx`` = s^2 exp(-n/(M-1)), the rule of thumb;
- ``expected_w2``:   E[W2^2] between the n-th fit and the original: s^2 [n/M + 2(1 - c_M^n)] for ddof=1
  (about 1.5 s^2 n/M while n << M).

Samplers: the next fit depends on the M samples only through their mean and variance, whose laws are known
(mean ~ N(mu, s^2/M), (M-1) s'^2/s^2 ~ chi2(M-1), independent), so :func:`fast_chains` advances many chains without
drawing the M points; :func:`direct_chains` draws them (the reference the fast sampler must agree with).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, Sequence

import numpy as np
from scipy import optimize, special

from . import loop, metrics, profiles
from .runtime import as_rng, blocks, in_threads, progress, workers
from . import validate
from .validate import integer as _int, seed as _seed

# chains per block of fast_chains on threads: fixed, so the numbers do not depend on the cores; the quick and
# standard sizes fit in one block
CHAIN_BLOCK = 25000

SIZES = {
    # M: samples per generation; chains, generations: the fast-sampler figures; direct_*: the direct sampler's
    # comparison; table_n: generations of the median table; experiment_generations: the loop.run chain.
    "quick": {"M": 100, "chains": 4000, "generations": 1000, "direct_chains": 2000, "direct_generations": 100,
              "table_n": (10, 100, 300, 1000), "experiment_generations": 300},
    "standard": {"M": 100, "chains": 20000, "generations": 1000, "direct_chains": 5000, "direct_generations": 100,
                 "table_n": (10, 100, 300, 1000, 3000), "experiment_generations": 1000},
    "paper": {"M": 100, "chains": 100000, "generations": 2000, "direct_chains": 20000, "direct_generations": 200,
              "table_n": (10, 100, 300, 1000, 3000, 10000), "experiment_generations": 2000},
}


def sizes(profile: str | None = None):
    """This chapter's sizes for ``profile`` (default: the active profile), as attributes."""
    return profiles.pick(SIZES, profile)


# ---------------------------------------------------------------------------------------------------------------
# input checks




def _ns(n):
    """n as an int array (>= 0) plus whether it was a scalar."""
    a = np.asarray(n)
    if a.dtype == bool or not np.issubdtype(a.dtype, np.integer) or np.any(a < 0):
        raise ValueError(f"n must be an int >= 0 or an array of them (the number of fits); got {n!r}")
    return a.astype(np.int64), a.ndim == 0


def _M(M):
    return _int("M", M, 2)


def _ddof(ddof):
    if isinstance(ddof, bool) or not isinstance(ddof, (int, np.integer)) or ddof not in (0, 1):
        raise ValueError(f"ddof must be 1 (unbiased variance, Theorem 3.1) or 0 (maximum likelihood); got {ddof!r}")
    return int(ddof)


def _pos(name, v, allow_zero=False):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v) \
            or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0; got {v!r}")
    return float(v)


def _out(x, scalar):
    return float(x) if scalar else x


# ---------------------------------------------------------------------------------------------------------------
# exact formulas


def c_factor(M: int, ddof: int = 1) -> float:
    """E[s'] / s after one fit: sqrt(2/(M-ddof)) Gamma(M/2) / Gamma((M-1)/2), written c_M in Chapter 1 for ddof=1.

    Computed through ``gammaln``: Gamma(M/2) alone overflows a float for M > 343.
    """
    M, ddof = _M(M), _ddof(ddof)
    return float(np.sqrt(2.0 / (M - ddof)) * np.exp(special.gammaln(M / 2) - special.gammaln((M - 1) / 2)))


def expected_var(n, M: int, s2: float = 1.0, ddof: int = 1):
    """E[s_n^2] after ``n`` fits (int or int array) of ``M`` samples each, from N(mu, s2): s2 ((M-1)/(M-ddof))^n."""
    n, scalar = _ns(n)
    M, ddof, s2 = _M(M), _ddof(ddof), _pos("s2", s2)
    return _out(s2 * ((M - 1) / (M - ddof)) ** n, scalar)


def expected_std(n, M: int, s2: float = 1.0, ddof: int = 1):
    """E[s_n] = s c^n with c = :func:`c_factor` (s = sqrt(s2)): it decays although E[s_n^2] does not (ddof=1)."""
    n, scalar = _ns(n)
    M, ddof, s2 = _M(M), _ddof(ddof), _pos("s2", s2)
    return _out(np.sqrt(s2) * c_factor(M, ddof) ** n, scalar)


def expected_w2(n, M: int, s2: float = 1.0, ddof: int = 1):
    """E[W2^2] between the n-th fit N(mu_n, s_n^2) and the original N(mu, s2).

    E[(mu_n - mu)^2] = sum_{i<n} E[s_i^2]/M and E[(s_n - s)^2] = E[s_n^2] - 2 s E[s_n] + s^2; for ddof=1 this is
    s2 [n/M + 2 (1 - c_M^n)].
    """
    n, scalar = _ns(n)
    M, ddof, s2 = _M(M), _ddof(ddof), _pos("s2", s2)
    r = (M - 1) / (M - ddof)
    drift = n / M if r == 1 else (1 - r ** n) / (1 - r) / M   # sum of r^i for i < n, over M
    out = s2 * (drift + r ** n - 2 * c_factor(M, ddof) ** n + 1)
    return _out(out, scalar)


def log_var_moments(n, M: int, ddof: int = 1):
    """Exact mean and standard deviation of log(s_n^2 / s^2), a sum of n i.i.d. log(chi2_{M-1}/(M-ddof)) terms."""
    n, scalar = _ns(n)
    M, ddof = _M(M), _ddof(ddof)
    k = M - 1
    m1 = special.digamma(k / 2) + np.log(2.0 / (M - ddof))
    v1 = special.polygamma(1, k / 2)
    return _out(n * m1, scalar), _out(np.sqrt(n * v1), scalar)


def median_var_approx(n, M: int, s2: float = 1.0, corrected: bool = False):
    """Approximate median of s_n^2 for unbiased fits (ddof=1), k = M - 1.

    ``corrected=False``: the rule of thumb s2 exp(-n/k). ``corrected=True``: s2 exp(-n/k - (n-k)/(3k^2)), which
    adds the next terms: the drift E[log chi2_k/k] = -1/k - 1/(3k^2) + O(k^-4), and the median-vs-mean shift
    +1/(3k) of the left-skewed sum (median ~ mean - skewness * sd / 6). The rule of thumb is therefore off by
    about -(n-k)/(3k^2) relatively: exact near n = k, -3% at n = 10k. :func:`median_var` is exact.
    """
    n, scalar = _ns(n)
    M, s2 = _M(M), _pos("s2", s2)
    if not isinstance(corrected, bool):
        raise TypeError(f"corrected must be True or False; got {corrected!r}")
    k = M - 1
    log_med = -n / k - ((n - k) / (3 * k ** 2) if corrected else 0.0)
    return _out(s2 * np.exp(log_med), scalar)


def median_var(n, M: int, s2: float = 1.0, ddof: int = 1):
    """Exact median of s_n^2 after ``n`` fits (int or int array), by inverting the law of log s_n^2.

    log(s_n^2/s2) = sum of n i.i.d. Y = log(chi2_k/(M-ddof)), k = M-1, whose characteristic function is
    E[exp(i t Y)] = (2/(M-ddof))^{i t} Gamma(k/2 + i t) / Gamma(k/2). The CDF of the sum follows from the
    Gil-Pelaez formula F(x) = 1/2 - (1/pi) int_0^inf Im[exp(-i t x) phi(t)^n] / t dt (trapezoid rule on a fine
    grid in standardised units, accurate to ~1e-8), and the median is its root F(x) = 1/2.
    """
    n, scalar = _ns(n)
    M, ddof, s2 = _M(M), _ddof(ddof), _pos("s2", s2)
    flat = [int(x) for x in n.ravel()]  # each n on its own: spread over the cores (the same numbers)
    out = np.array(in_threads(_median_log, flat, [M] * len(flat), [ddof] * len(flat)), dtype=float).reshape(n.shape)
    return _out(s2 * np.exp(out), scalar)


def _median_log(n: int, M: int, ddof: int) -> float:
    if n == 0:
        return 0.0
    k = M - 1
    mean, sd = log_var_moments(n, M, ddof)
    # standardised variable Z = (L - mean)/sd; its characteristic function at u is phi_L(u/sd) exp(-i u mean/sd)
    u = (np.arange(40000) + 0.5) * 1e-3                        # midpoints on (0, 40]: |phi_Z| ~ exp(-u^2/2) there
    t = u / sd
    log_phi1 = 1j * t * np.log(2.0 / (M - ddof)) + special.loggamma(k / 2 + 1j * t) - special.gammaln(k / 2)
    phi = np.exp(n * log_phi1 - 1j * u * mean / sd)

    def cdf(z):
        return 0.5 - np.sum(np.imag(np.exp(-1j * u * z) * phi) / u) * 1e-3 / np.pi

    z = optimize.brentq(lambda z: cdf(z) - 0.5, -3.0, 3.0, xtol=1e-12)
    return mean + sd * z


# ---------------------------------------------------------------------------------------------------------------
# samplers


class Chains(NamedTuple):
    """Recorded states of many chains: ``n`` (T,) fits made; ``mean``, ``var`` (T, chains) the fitted Gaussians."""

    n: np.ndarray
    mean: np.ndarray
    var: np.ndarray

    def w2(self, mu: float = 0.0, s2: float = 1.0) -> np.ndarray:
        """W2^2 of every recorded fit to the original N(mu, s2), shape (T, chains)."""
        mu, s2 = validate.number("mu", mu), validate.number("s2", s2, 0)
        return metrics.w2_gaussian(self.mean, self.var, mu, s2)


def step(mean, var, M: int, rng, ddof: int = 1):
    """One exact generation for many chains at once, without drawing the M points.

    ``mean``, ``var``: arrays of the current fits (any shape, one entry per chain). The M samples' mean is
    N(mean, var/M) and (M-1) * (their unbiased variance) / var is chi2(M-1), independently, so the new fit is
    (mean + sqrt(var/M) Z, var * chi2(M-1)/(M-ddof)). Returns (new_mean, new_var), same shape.
    """
    M, ddof, rng = _M(M), _ddof(ddof), as_rng(rng)
    mean, var = validate.array("mean", mean), validate.array("var", var)
    if mean.shape != var.shape:
        raise ValueError(f"mean and var must have the same shape; got {mean.shape} and {var.shape}")
    if np.any(var < 0):
        raise ValueError("var must be >= 0 (variances, not standard deviations)")
    new_mean = mean + np.sqrt(var / M) * rng.standard_normal(mean.shape)
    new_var = var * rng.chisquare(M - 1, size=var.shape) / (M - ddof)
    return new_mean, new_var


def _record(generations, record):
    if record is None:
        return np.arange(generations + 1)
    r = np.unique(np.asarray(record))
    if r.size == 0 or not np.issubdtype(r.dtype, np.integer) or r.min() < 0 or r.max() > generations:
        raise ValueError(f"record must be None or ints in [0, generations={generations}]; got {record!r}")
    return r


def _chain_args(M, generations, chains, mean, var, ddof):
    M, ddof = _M(M), _ddof(ddof)
    generations, chains = _int("generations", generations, 0), _int("chains", chains, 1)
    if isinstance(mean, bool) or not isinstance(mean, (int, float, np.integer, np.floating)) or not np.isfinite(mean):
        raise ValueError(f"mean must be a finite number; got {mean!r}")
    return M, generations, chains, float(mean), _pos("var", var), ddof


def fast_chains(M: int, generations: int, chains: int, seed=0, *, mean: float = 0.0, var: float = 1.0,
                ddof: int = 1, record: Sequence[int] | None = None) -> Chains:
    """Advance ``chains`` independent chains by ``generations`` exact fits with :func:`step` (no M points drawn).

    Starts from the original N(mean, var) at n = 0. ``record``: the fits n to keep (default all, 0..generations);
    pass a few values for big runs (10,000 chains x 1,000 generations x every n would be 160 MB).
    Cost: O(chains) per generation, independent of M. More than :data:`CHAIN_BLOCK` chains run in blocks of
    that size on threads, each block with its own stream spawned from ``seed`` (the same numbers on any machine).
    """
    M, generations, chains, mean, var, ddof = _chain_args(M, generations, chains, mean, var, ddof)
    keep = _record(generations, record)

    def run(size, rng):
        mu, v = np.full(size, mean), np.full(size, var)
        means, vars_ = np.empty((keep.size, size)), np.empty((keep.size, size))
        sd, z = np.empty(size), np.empty(size)
        j = 0
        for g in range(generations + 1):
            if g > 0:  # step(), in place: the same draws in the same order, without re-checking its arguments
                np.divide(v, M, out=sd)
                np.sqrt(sd, out=sd)
                rng.standard_normal(out=z)
                sd *= z
                mu += sd
                # chisquare(k) is 2 standard_gamma(k / 2), numpy's own definition: drawn into z, not a new array
                rng.standard_gamma((M - 1) / 2, out=z)
                z *= 2
                v *= z
                v /= M - ddof
            if j < keep.size and keep[j] == g:
                means[j], vars_[j] = mu, v
                j += 1
        return means, vars_

    parts = in_threads(run, *zip(*blocks(chains, CHAIN_BLOCK, as_rng(seed))))
    return Chains(keep, np.concatenate([p[0] for p in parts], 1), np.concatenate([p[1] for p in parts], 1))


def direct_chains(M: int, generations: int, chains: int, seed=0, *, mean: float = 0.0, var: float = 1.0,
                  ddof: int = 1, record: Sequence[int] | None = None, per_chain: bool = False) -> Chains:
    """The same chains by brute force: each generation draws M points per chain and refits mean and variance.

    ``per_chain=False`` draws a (chains, M) matrix per generation (numpy-vectorised across chains);
    ``per_chain=True`` is the naive loop, one chain after another with M points per generation (the baseline of
    benchmarks/gaussian_chains.py). Same law as :func:`fast_chains`, different random numbers.
    """
    M, generations, chains, mean, var, ddof = _chain_args(M, generations, chains, mean, var, ddof)
    keep = _record(generations, record)
    if not isinstance(per_chain, (bool, np.bool_)):
        raise TypeError(f"per_chain must be True or False; got {per_chain!r:.60}")
    rng = as_rng(seed)
    means, vars_ = np.empty((keep.size, chains)), np.empty((keep.size, chains))
    if per_chain:
        for c in progress(range(chains), desc="direct, per chain"):
            mu, v, j = mean, var, 0
            for g in range(generations + 1):
                if g > 0:
                    x = rng.normal(mu, np.sqrt(v), M)
                    mu, v = x.mean(), x.var(ddof=ddof)
                if j < keep.size and keep[j] == g:
                    means[j, c], vars_[j, c] = mu, v
                    j += 1
        return Chains(keep, means, vars_)
    mu, v, j = np.full(chains, mean), np.full(chains, var), 0
    # The standard normals Z of a generation do not depend on the fits, so with a second core a thread draws the
    # next generation's Z (the same stream, in the same order) while this one refits: two (chains, M) arrays, made
    # once and used in turn.
    bufs = [np.empty((chains, M)) for _ in range(2 if generations > 1 else 1)]
    ahead = ThreadPoolExecutor(1) if workers() > 1 and generations > 1 else None

    def draw(g):  # Z of generation g (1..generations) into its array
        out = bufs[g % len(bufs)]
        return ahead.submit(rng.standard_normal, out=out) if ahead else rng.standard_normal(out=out)

    nxt = draw(1) if generations > 0 else None
    try:
        _direct_loop(generations, M, ddof, keep, mu, v, means, vars_, draw, nxt)
    finally:
        if ahead:
            ahead.shutdown(wait=True)
    return Chains(keep, means, vars_)


def _direct_loop(generations, M, ddof, keep, mu, v, means, vars_, draw, nxt):
    """:func:`direct_chains`' vectorised loop; ``draw(g)`` gives generation g's standard normals (an array, or a
    future of one), ``nxt`` generation 1's."""
    j = 0
    for g in progress(range(generations + 1), desc="direct sampler"):
        if g > 0:  # mu + sd * Z, then numpy's mean and var step by step (the same numbers), in place
            x = nxt.result() if hasattr(nxt, "result") else nxt
            if g < generations:
                nxt = draw(g + 1)
            x *= np.sqrt(v)[:, None]
            x += mu[:, None]
            mu = np.add.reduce(x, axis=1)
            mu /= M
            x -= mu[:, None]
            np.square(x, out=x)
            v = np.add.reduce(x, axis=1)
            v /= M - ddof
        if j < keep.size and keep[j] == g:
            means[j], vars_[j] = mu, v
            j += 1


# ---------------------------------------------------------------------------------------------------------------
# the family and the headline experiment through loop.run


def family(ddof: int = 1) -> loop.Family:
    """The Gaussian family for :func:`loop.run`: data (N,) floats -> model (mean, var) -> samples (n,)."""
    ddof = _ddof(ddof)

    def fit(data, rng):
        x = np.asarray(data, dtype=float).ravel()
        if x.size < 2:
            raise ValueError(f"a Gaussian fit needs at least 2 points; got {x.size}")
        return float(x.mean()), float(x.var(ddof=ddof))

    def sample(model, n, rng):
        mu, v = model
        return rng.normal(mu, np.sqrt(v), n)

    return loop.Family(fit, sample, name="gaussian" if ddof == 1 else "gaussian (ML)")


def experiment(policy="replace", *, generations: int | None = None, seed: int = 0, profile: str | None = None,
               M: int | None = None, ddof: int = 1) -> loop.History:
    """One Gaussian chain through :func:`loop.run`: M real points from N(0, 1), refit, resample.

    Columns: ``generation`` (generation g is fit n = g + 1: generation 0 is already fitted on the M real points),
    ``mean``, ``var`` (the fitted Gaussian) and ``distance`` = W2^2 between the fit and N(0, 1).
    ``generations`` and ``M`` default to the profile's sizes; ``policy`` as in :func:`loop.run`.
    """
    s = sizes(profile)
    generations = s.experiment_generations if generations is None else _int("generations", generations, 0)
    M = s.M if M is None else _M(M)
    seed = _seed("seed", seed)
    real = np.random.default_rng([seed, 1]).standard_normal(M)   # its own stream: the data do not depend on policy
    return loop.run(family(ddof), real, generations, policy=policy, seed=seed,
                    metrics={"mean": lambda m, d: m[0], "var": lambda m, d: m[1],
                             "distance": lambda m, d: metrics.w2_gaussian(m[0], m[1], 0.0, 1.0)})


def experiments(seeds, *, policy="replace", generations: int | None = None, profile: str | None = None,
                M: int | None = None, ddof: int = 1) -> list[loop.History]:
    """:func:`experiment` for every seed of ``seeds`` (an int: seeds 0..seeds-1), the chains advanced together.

    Each chain draws from its seed's streams exactly what :func:`experiment` draws, and the fits of all chains are
    one vectorised mean and variance, so the histories equal one :func:`experiment` call per seed (to rounding)
    at a fraction of the cost: the policy table and the real-fraction sweep of Chapter 5 run hundreds of chains.
    The policy must build training sets of one size for every chain (the built-in ones do).
    """
    s = sizes(profile)
    seeds = validate.seeds("seeds", seeds)
    generations = s.experiment_generations if generations is None else _int("generations", generations, 0)
    M = s.M if M is None else _M(M)
    ddof = _ddof(ddof)
    pol = loop.policy(policy)
    validate.fits_memory("the chains' training sets", 8.0 * len(seeds) * M
                         * ((generations + 1) if getattr(pol, "keeps_history", False) else 2))
    reals = [np.random.default_rng([sd, 1]).standard_normal(M) for sd in seeds]
    rngs = [np.random.default_rng(sd) for sd in seeds]
    builders = [loop.Builder(pol, r) for r in reals]
    hs = [loop.History(meta={"policy": repr(pol), "n": M, "generations": generations,
                             "family": "gaussian" if ddof == 1 else "gaussian (ML)"}) for _ in seeds]
    train = np.stack(reals)
    t0 = time.perf_counter()
    for g in progress(range(generations + 1), desc=f"{len(seeds)} Gaussian chains · {pol!r}"):
        if g > 0:
            ns = pol.n_synthetic(M)
            if type(pol) is loop.Replace:  # the training set is the synthetic set itself: no builder to call
                # rng.normal(mu, sd, ns) is mu + sd * N(0, 1) element by element: each chain draws its standard
                # normals into its row, then all rows are scaled and shifted at once (the same numbers)
                train = np.empty((len(rngs), ns))
                for rng, row in zip(rngs, train):
                    rng.standard_normal(out=row)
                train *= np.sqrt(var)[:, None]
                train += mean[:, None]
            else:
                nxt = [b(rng.normal(mu, np.sqrt(v), ns), rng).ravel()
                       for b, rng, mu, v in zip(builders, rngs, mean.tolist(), var.tolist())]
                if len({x.size for x in nxt}) != 1:
                    raise ValueError(f"policy {pol!r} built training sets of different sizes for different chains; "
                                     f"run experiment() once per seed instead")
                train = np.stack(nxt)
        mean, var = train.mean(axis=1), train.var(axis=1, ddof=ddof)
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(var))):
            raise ValueError(f"a chain's fit is not finite at generation {g}: the model diverged")
        dist = metrics.w2_gaussian(mean, var, 0.0, 1.0)
        sec = (time.perf_counter() - t0) / len(seeds)
        for h, m, v, d in zip(hs, mean.tolist(), var.tolist(), dist.tolist()):
            h.rows.append({"generation": g, "n_train": train.shape[1], "mean": m, "var": v, "distance": d,
                           "seconds": sec})
        t0 = time.perf_counter()
    return hs
