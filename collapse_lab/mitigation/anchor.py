"""One real point per generation (Jangjoo, Marsili, Roudi 2026): Bernoulli and Gaussian chains, maximum likelihood
against an anchor of real points or a prior, and the anchored chains' exact long-run values."""
from __future__ import annotations


import numpy as np

from .. import validate
from ..runtime import as_rng, blocks, in_threads
from ..validate import integer as _int, number as _num, seed as _seed


# ---------------------------------------------------------------------------------------------------------------
# 3. one real point per generation (Jangjoo, Marsili, Roudi 2026)


def categorical_chain(p_true, M: int, generations: int, chains: int, *, k: int = 0, alpha: float = 0.0,
                      p0=None, seed: int = 0) -> np.ndarray:
    """Refit a categorical distribution on its own samples, ``chains`` independent chains at once.

    Each generation draws M samples from the current fit; the next fit counts them, plus ``k`` fresh real points
    drawn from ``p_true`` (the anchor), plus ``alpha`` pseudo-counts per category (a MAP fit under a symmetric
    Dirichlet(1 + alpha) prior; alpha = 0 is maximum likelihood):

        p' = (counts + real counts + alpha) / (M + k + K alpha)

    With k = 0 and alpha = 0 the counts are a martingale and every chain is absorbed by a corner (one category
    left); k >= 1 or alpha > 0 make the chain ergodic. Bernoulli is K = 2.

    Parameters
    ----------
    p_true : (K,) probabilities, the ground truth (K >= 2). M : samples per generation (int >= 1).
    generations : int >= 0; chains : int >= 1; k : real points per generation (int >= 0); alpha : >= 0.
    p0 : (K,) starting fit; default: the maximum-likelihood fit on M real samples (the loop's generation 0).

    Returns
    -------
    array (generations + 1, chains, K): the fitted probabilities of every generation.
    """
    p = validate.array("p_true", p_true, ndim=1, min_size=2)
    if np.any(p < 0) or not np.isclose(p.sum(), 1.0):
        raise ValueError(f"p_true must be a 1-D probability vector with >= 2 entries summing to 1; got {p_true!r}")
    M, generations, chains = _int("M", M, 1), _int("generations", generations, 0), _int("chains", chains, 1)
    k, alpha = _int("k", k, 0), _num("alpha", alpha, 0)
    rng = as_rng(_seed("seed", seed))
    K = p.size
    out = np.empty((generations + 1, chains, K))
    if p0 is None:
        cur = rng.multinomial(M, p, size=chains) / M
    else:
        q = validate.array("p0", p0, min_size=0, finite=False)
        if q.shape != p.shape or np.any(q < 0) or not np.isclose(q.sum(), 1.0):
            raise ValueError(f"p0 must be a probability vector shaped like p_true {p.shape}; got {p0!r}")
        cur = np.tile(q, (chains, 1))
    out[0] = cur
    for g in range(1, generations + 1):
        counts = rng.multinomial(M, cur)  # one row per chain
        if k:
            counts = counts + rng.multinomial(k, p, size=chains)
        cur = (counts + alpha) / (M + k + K * alpha)
        out[g] = cur
    return out


CHAIN_BLOCK = 2500  # chains per block of gaussian_chain (the standard profile's 2,000 chains are one block)


def gaussian_chain(M: int, generations: int, chains: int, *, k: int = 0, prior: float = 0.0,
                   prior_mean: float = 0.0, prior_var: float = 1.0, ddof: int = 0, seed: int = 0):
    """The 1-D Gaussian chain (truth N(0, 1)) with an anchor of k real points and/or a regularised fit.

    Every generation draws M points from the current fit N(mean, var), adds ``k`` fresh real points from N(0, 1)
    and refits. ``ddof=0`` is maximum likelihood (the exponential-family MLE of Jangjoo et al.; ``ddof=1`` the
    unbiased variance of Shumailov et al.'s Theorem 3.1). ``prior`` > 0 is a conjugate-style regularised fit that
    adds ``prior`` pseudo-observations at ``prior_mean`` with spread ``prior_var``:

        mean' = (sum x + prior * prior_mean) / (N + prior)
        var'  = (sum (x - mean')^2 + prior * prior_var) / (N + prior - ddof)

    Returns
    -------
    (means, variances): two arrays (generations + 1, chains); generation 0 is fitted on M real points (+ prior).
    """
    M, generations, chains = _int("M", M, 2), _int("generations", generations, 0), _int("chains", chains, 1)
    k, ddof = _int("k", k, 0), _int("ddof", ddof, 0)
    if ddof > 1:
        raise ValueError(f"ddof must be 0 (maximum likelihood) or 1 (unbiased); got {ddof}")
    prior = _num("prior", prior, 0)
    prior_mean = _num("prior_mean", prior_mean)
    prior_var = _num("prior_var", prior_var, 0, lo_open=True)
    rng = as_rng(_seed("seed", seed))

    def fit(x):
        n = x.shape[1]
        m = (x.sum(1) + prior * prior_mean) / (n + prior)
        v = (((x - m[:, None]) ** 2).sum(1) + prior * prior_var) / (n + prior - ddof)
        return m, v

    def run(size, rng):
        means = np.empty((generations + 1, size))
        varis = np.empty((generations + 1, size))
        means[0], varis[0] = fit(rng.standard_normal((size, M)))
        for g in range(1, generations + 1):
            x = means[g - 1][:, None] + np.sqrt(varis[g - 1])[:, None] * rng.standard_normal((size, M))
            if k:
                x = np.concatenate([x, rng.standard_normal((size, k))], axis=1)
            means[g], varis[g] = fit(x)
        return means, varis

    # fixed blocks of chains, each with its own stream, run on the cores: the same numbers on every machine
    parts = in_threads(run, *zip(*blocks(chains, CHAIN_BLOCK, rng)))
    return np.concatenate([p[0] for p in parts], axis=1), np.concatenate([p[1] for p in parts], axis=1)


def anchored_stationary(M: int, *, k: int = 1, ddof: int = 0, chains: int = 1000, burn: int = 200,
                        generations: int = 300, seed: int = 0) -> dict:
    """Long-run (stationary) law of the anchored Gaussian chain of :func:`gaussian_chain` (no prior).

    Each generation pools M points from N(mu, s^2) with k real N(0, 1) points (N = M + k) and refits
    mu' = mean, s'^2 = sum (x - mu')^2 / (N - ddof). Taking expectations given (mu, s^2):

        E[mu'^2]      = (M^2 mu^2 + M s^2 + k) / N^2
        E[sum (x - mu')^2] = (1 - 1/N) (M s^2 + k) + (M k / N) mu^2

    so the long-run means a = E[s^2], b = E[mu^2] solve a linear 2 x 2 system, solved exactly here. For k = 1:
    ddof = 1 gives a = 2, b = 1; ddof = 0 gives a = 2M/(3M + 1), b = (M + 1)/(3M + 1). The stationary law has no
    closed-form median: ``median_var`` is the median of s^2 pooled over ``chains`` chains and ``generations``
    generations run after ``burn`` generations (the chain forgets its start within tens of generations), with a
    Monte-Carlo standard error ``median_var_se`` (the spread of the medians of 20 batches of chains).

    Returns
    -------
    dict: ``mean_var`` (exact E[s^2]), ``mean_mu2`` (exact E[mu^2]), ``median_var`` and ``median_var_se``
    (simulated), ``M``, ``k``, ``ddof``.
    """
    M, k = _int("M", M, 2), _int("k", k, 1)
    ddof = _int("ddof", ddof, 0)
    if ddof > 1:
        raise ValueError(f"ddof must be 0 (maximum likelihood) or 1 (unbiased); got {ddof}")
    chains, burn = _int("chains", chains, 20), _int("burn", burn, 0)
    generations = _int("generations", generations, 1)
    N = M + k
    # unknowns (a, b): a (N - ddof) = (1 - 1/N)(M a + k) + (M k / N) b ;  b (N^2 - M^2) = M a + k
    A = np.array([[(N - ddof) - (1 - 1 / N) * M, -M * k / N], [-M, N**2 - M**2]], dtype=float)
    rhs = np.array([(1 - 1 / N) * k, k], dtype=float)
    a, b = np.linalg.solve(A, rhs)
    _, v = gaussian_chain(M, burn + generations, chains, k=k, ddof=ddof, seed=_seed("seed", seed))
    tail = v[burn + 1:]
    med = float(np.median(tail))
    batches = np.array_split(np.arange(chains), 20)
    se = float(np.std([np.median(tail[:, i]) for i in batches], ddof=1) / np.sqrt(len(batches)))
    return {"mean_var": float(a), "mean_mu2": float(b), "median_var": med, "median_var_se": se, "M": M, "k": k,
            "ddof": ddof}
