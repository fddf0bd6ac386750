"""Chains without EM, to split the early loss of a mode between sampling (drift) and EM's approximation.

Two chains isolate statistical error, both without any fitting algorithm that can go wrong:

- :func:`drift_chains`: **pure weight drift** (Wright-Fisher): each generation the components' counts among ``n``
  samples are multinomial and the next weights are the counts / ``n``; the means and covariances stay the
  original's. Only the weights carry sampling error.
- :func:`exact_chains`: an **exact fit**: each generation samples ``n`` labelled points (each point knows its
  component) and fits every component by maximum likelihood on its own points (weight = count / ``n``, the sample
  mean and covariance, plus scikit-learn's ``reg_covar`` = 1e-6 on the diagonal). The labels stand in for a perfect
  EM: no local optimum, no component merged into another. Weights, means and covariances all carry sampling error.

Generation 0 of both is fitted on ``n`` points drawn from the original, as the EM chain's generation 0 is fitted on
``n`` real points. :func:`loss_generations` gives, per chain and mode, the first generation at which the mode's mass
(:func:`~collapse_lab.gmm.mode_masses`) falls below ``LOST_BELOW`` of the original's: the same definition of a lost
mode as the EM chains'.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from ..runtime import as_rng, in_threads, progress
from .measures import inside_shares, mode_mass, total_variance
from .mixture import _as_mixture, LOST_BELOW, TEACHING

REG_COVAR = 1e-6   # scikit-learn GaussianMixture's default: added to every fitted covariance's diagonal


def _args(ref, n, generations, chains):
    ref = _as_mixture(ref, "ref")
    return (ref, validate.integer("n", n, 2), validate.integer("generations", generations, 0),
            validate.integer("chains", chains, 1))


def drift_chains(ref=TEACHING, n: int = 100, generations: int = 100, chains: int = 1000, seed=0) -> np.ndarray:
    """Pure weight drift from ``ref``'s weights: weights of shape (generations + 1, chains, K).

    ``n``: points per generation (>= 2); generation 0 = multinomial counts of ``n`` draws from ``ref`` / ``n``.
    A weight that reaches 0 stays 0 (an absorbing state)."""
    ref, n, generations, chains = _args(ref, n, generations, chains)
    rng = as_rng(seed)
    w = np.empty((generations + 1, chains, ref.k))
    p = np.broadcast_to(ref.weights, (chains, ref.k))
    for g in range(generations + 1):
        p = rng.multinomial(n, p) / n
        w[g] = p
    return w


def exact_chains(ref=TEACHING, n: int = 100, generations: int = 100, chains: int = 200, seed=0):
    """Exact-fit chains (labelled points, per-component maximum likelihood) from ``ref``.

    Returns ``(weights, means, covs)`` of shapes (generations + 1, chains, K), (..., K, d), (..., K, d, d). A
    component with no point keeps weight 0 for ever (its mean and covariance are kept but carry no mass); a
    component with one point gets the covariance ``REG_COVAR * I`` (a spike), as EM's floor would give it."""
    ref, n, generations, chains = _args(ref, n, generations, chains)
    rng = as_rng(seed)
    K, d = ref.k, ref.dim
    validate.fits_memory("exact_chains", 8.0 * (generations + 1) * chains * K * (1 + d + d * d))
    W = np.empty((generations + 1, chains, K))
    Mu = np.empty((generations + 1, chains, K, d))
    S = np.empty((generations + 1, chains, K, d, d))
    w = np.tile(ref.weights, (chains, 1))
    mu = np.tile(ref.means, (chains, 1, 1))
    cov = np.tile(ref.covs, (chains, 1, 1, 1))
    stream = _Draws(rng, n, w, chains * n, d)
    halves = [(0, chains // 2), (chains // 2, chains)] if chains > 1 else [(0, chains)]
    for g in progress(range(generations + 1), desc=f"{chains} exact-fit chains"):
        counts, z = stream.next(more=g < generations)        # (chains, K) points per component; their draws
        L = np.linalg.cholesky(cov).reshape(-1, d, d)
        new_mu, new_cov = mu.copy(), cov.copy()
        # the two halves of the chains fitted on two threads (each component's numbers do not depend on the split)
        in_threads(lambda lo, hi: _fit_chains(lo, hi, n, K, d, counts, z, L, mu, new_mu, new_cov), *zip(*halves))
        w, mu, cov = counts / n, new_mu, new_cov
        W[g], Mu[g], S[g] = w, mu, cov
    return W, Mu, S


def _fit_chains(lo, hi, n, K, d, counts, z, L, mu, new_mu, new_cov) -> None:
    """Fit every component with points of chains ``lo``..``hi`` - 1 of :func:`exact_chains` by maximum likelihood on
    its own points (``z`` (d, chains * n): the draws, chain by chain, component by component), into ``new_mu`` and
    ``new_cov``."""
    size = counts[lo:hi].ravel()
    full = np.flatnonzero(size)                         # components with points, in (chain, component) order
    per = size[full]
    first = np.r_[0, np.cumsum(per)[:-1]]               # each component's first point
    comp = full + lo * K                                # their indices among all chains' components
    zz = z[:, lo * n:hi * n]
    x = np.empty(zz.shape)                              # (d, points), coordinate by coordinate
    m = np.empty((full.size, d))
    for i in range(d):                                  # x = mu + L z (L lower triangular), then centred
        x[i] = np.repeat(mu.reshape(-1, d)[comp, i], per)
        for j in range(i + 1):
            x[i] += np.repeat(L[comp, i, j], per) * zz[j]
        m[:, i] = np.add.reduceat(x[i], first) / per
        x[i] -= np.repeat(m[:, i], per)
    sq = np.empty((full.size, d, d))
    for i in range(d):                                  # the maximum-likelihood covariance of each component
        for j in range(i + 1):
            sq[:, i, j] = sq[:, j, i] = np.add.reduceat(x[i] * x[j], first) / per
    sq += REG_COVAR * np.eye(d)
    new_mu.reshape(-1, d)[comp] = m
    new_cov.reshape(-1, d, d)[comp] = sq


class _Draws:
    """The random numbers of :func:`exact_chains`, one generation ahead on a thread of their own.

    A generation draws the multinomial counts of the components, then every point of every component of every
    chain in one call (the same stream as drawing them component by component, chain by chain: n points per chain,
    in the order of (chain, component)). The next weights are the counts / n, so the whole stream is known before
    any component is fitted: the next generation's numbers are drawn while this one is fitted."""

    def __init__(self, rng, n, w, points, d):
        from concurrent.futures import ThreadPoolExecutor

        self.rng, self.n, self.w, self.shape = rng, n, w, (points, d)
        self.pool = ThreadPoolExecutor(1)
        self.ahead = self.pool.submit(self._draw)

    def _draw(self):
        counts = self.rng.multinomial(self.n, self.w)
        self.w = counts / self.n
        return counts, self.rng.standard_normal(self.shape).T

    def next(self, more: bool):
        """This generation's ``(counts, draws (d, points))``; with ``more`` the next one starts drawing."""
        out = self.ahead.result()
        if more:
            self.ahead = self.pool.submit(self._draw)
        else:
            self.pool.shutdown()
        return out


def drift_masses(weights, ref=TEACHING) -> np.ndarray:
    """Mode masses (G, chains, K_ref) of pure-drift mixtures: ``ref``'s components with drifted ``weights``
    (G, chains, K) from :func:`drift_chains` (the mass near a mode is linear in the weights)."""
    ref = _as_mixture(ref, "ref")
    w = validate.array("weights", weights, ndim=3)
    if w.shape[-1] != ref.k:
        raise validate.ArgumentError(f"weights must have {ref.k} components on the last axis; got {w.shape}")
    per = np.stack([mode_mass(((np.eye(ref.k)[j]), ref.means, ref.covs), ref) for j in range(ref.k)])  # (K, J)
    return w @ per


def exact_masses(fits, ref=TEACHING, modes=None, draws: int = 1024) -> np.ndarray:
    """Mode masses (G, chains, len(modes)) of the fits ``(weights, means, covs)`` returned by :func:`exact_chains`.

    As :func:`~collapse_lab.gmm.mode_mass` (each component's mass in a mode's 99% ellipse, from fixed
    standard-normal draws), with the first ``draws`` of its 4096 draws (a Monte Carlo error of about 1% of a
    component's mass: far below the tenth that marks a lost mode) and only the modes asked for (default: all)."""
    from scipy.stats import chi2

    from .measures import _Z
    from .mixture import LEVEL

    ref = _as_mixture(ref, "ref")
    if not (isinstance(fits, tuple) and len(fits) == 3):
        raise validate.ArgumentError("fits must be the (weights, means, covs) tuple returned by exact_chains")
    W, Mu, S = (validate.array(n, v) for n, v in zip(("weights", "means", "covs"), fits))
    if ref.dim != 2 or W.ndim != 3 or Mu.shape != W.shape + (2,) or S.shape != W.shape + (2, 2):
        raise validate.ArgumentError(f"fits must be 2-D mixtures of shapes (G, chains, K), (G, chains, K, 2), "
                                     f"(G, chains, K, 2, 2); got {W.shape}, {Mu.shape}, {S.shape}")
    modes = list(range(ref.k)) if modes is None else [validate.integer("modes[i]", j, 0, ref.k - 1) for j in modes]
    z = _Z[:validate.integer("draws", draws, 16, len(_Z))]
    r2 = chi2.ppf(LEVEL, 2)
    out = np.empty(W.shape[:2] + (len(modes),))

    def generation(g):
        inside = inside_shares(Mu[g], S[g], ref, z, r2, modes)                          # (chains, modes, K)
        for i in range(len(modes)):
            out[g, :, i] = (inside[:, i] * W[g]).sum(-1)

    # the generations are independent, each computed as alone: the same numbers on any number of threads
    in_threads(generation, range(len(W)))
    return out


def loss_generations(masses, original, below: float = LOST_BELOW) -> np.ndarray:
    """First generation at which each chain's mode mass falls below ``below * original``: (chains, K) floats, inf
    where it never does. ``masses``: (G, chains, K); ``original``: (K,) masses of the original (> 0)."""
    m = validate.array("masses", masses, ndim=3)
    o = validate.array("original", original, ndim=1)
    if o.shape[0] != m.shape[-1] or np.any(o <= 0):
        raise validate.ArgumentError(f"original must hold {m.shape[-1]} positive masses; got {o}")
    below = validate.number("below", below, 0, 1, lo_open=True, hi_open=True)
    hit = m < below * o
    first = np.argmax(hit, axis=0).astype(float)
    first[~hit.any(axis=0)] = np.inf
    return first


def lost_by(first, g) -> np.ndarray:
    """Share of chains whose loss generation (``first``, shape (chains,), inf = never) is <= each generation of
    ``g`` (a number or a 1-D array): shape of ``g``."""
    f = validate.array("first", first, ndim=1, min_size=1, finite=False)
    g = validate.array("g", g, min_size=1)
    return (f <= g[..., None]).mean(axis=-1)


def _l2_batch(W, Mu, S, ref) -> np.ndarray:
    """L2 distance of each mixture of a batch (weights (C, K), means (C, K, d), covs (C, K, d, d)) to ``ref``, as
    :func:`~collapse_lab.gmm.l2` computes it one mixture at a time: shape (C,)."""
    def overlap(ma, sa, mb, sb):   # N(ma; mb, sa + sb) for every pair of the last-but-one axes
        cov = sa[..., :, None, :, :] + sb[..., None, :, :, :]
        diff = ma[..., :, None, :] - mb[..., None, :, :]
        sol = np.linalg.solve(cov, diff[..., None])[..., 0]
        d = diff.shape[-1]
        return np.exp(-0.5 * (diff * sol).sum(-1)) / np.sqrt((2 * np.pi) ** d * np.linalg.det(cov))

    pp = ref.weights @ overlap(ref.means, ref.covs, ref.means, ref.covs) @ ref.weights
    pq = np.einsum("i,cij,cj->c", ref.weights, overlap(ref.means[None], ref.covs[None], Mu, S), W)
    qq = np.einsum("ci,cij,cj->c", W, overlap(Mu, S, Mu, S), W)
    return np.sqrt(np.maximum(pp - 2 * pq + qq, 0.0))


def histories(fits, masses, modes, ref=TEACHING) -> list:
    """One :class:`~collapse_lab.loop.History` per chain of :func:`exact_chains` (``fits``) with the columns
    ``generation``, ``distance`` (L2 to ``ref``), ``variance`` (total variance) and ``mass_j`` for each mode j of
    ``modes`` (``masses`` from :func:`exact_masses` with the same ``modes``); ``meta["original_mass"]`` as the EM
    chains' histories have it, so :mod:`collapse_lab.stages` reads both alike."""
    from ..loop import History

    ref = _as_mixture(ref, "ref")
    W, Mu, S = fits
    m = validate.array("masses", masses, ndim=3)
    modes = [validate.integer("modes[i]", j, 0, ref.k - 1) for j in modes]
    if m.shape != W.shape[:2] + (len(modes),):
        raise validate.ArgumentError(f"masses must have shape {W.shape[:2] + (len(modes),)} (generations, chains, "
                                     f"modes); got {m.shape}")
    dist = np.stack([_l2_batch(W[g], Mu[g], S[g], ref) for g in range(len(W))])   # (G, chains)
    mean = np.einsum("gck,gckd->gcd", W, Mu)
    var = ((W * np.trace(S, axis1=-2, axis2=-1)).sum(-1)
           + (W * ((Mu - mean[:, :, None, :]) ** 2).sum(-1)).sum(-1))                # total variance (G, chains)
    orig = [float(x) for x in mode_mass(ref, ref)]
    meta = {"family": "gmm exact fit", "original_mass": orig, "original_variance": total_variance(ref)}
    return [History([{"generation": g, "distance": float(dist[g, c]), "variance": float(var[g, c]),
                      **{f"mass_{j}": float(m[g, c, i]) for i, j in enumerate(modes)}} for g in range(len(W))],
                    meta=dict(meta)) for c in range(W.shape[1])]
