"""EM for many independent Gaussian mixtures at once: one batch of arrays with a leading chain axis.

Chapter 2 fits a full-covariance mixture every generation of every chain; at the paper's sizes that is hundreds of
thousands of fits of N = 1,000 points, and scikit-learn's ``GaussianMixture`` spends most of each fit in per-call
overhead (validation, a KMeans object, small matrix products). :func:`fit` runs the same algorithm for C data sets
``x`` (C, n, d) together in numpy: each step is a handful of array operations over all chains, and a chain stops
updating as soon as it has converged, exactly as it would alone.

What is reproduced from scikit-learn (1.3-1.9), with the settings :func:`collapse_lab.gmm.fit` uses:

- ``GaussianMixture(k, covariance_type="full", tol=1e-5, max_iter=2000, reg_covar=1e-6, n_init=1)``: the E-step
  through the Cholesky factors of the precisions, the M-step (``nk = sum resp + 10 eps``, weights renormalised,
  ``reg_covar`` added to every covariance diagonal), the stopping rule (stop after the first iteration whose change
  of the mean log-likelihood, measured in the E-step before the M-step, is below ``tol``) and the iteration cap.
- ``init="kmeans"``: sklearn's rule, one k-means run (greedy k-means++ seeding with ``2 + floor(log k)`` candidate
  centres per step, then Lloyd iterations until the labels repeat or the centres move less than 1e-4 times the
  mean per-feature variance, at most 300), and the one-hot responsibilities of its labels as the starting point.
  The random draws are sklearn's own: each chain has a ``RandomState`` from its ``random_state`` and draws from
  it exactly what ``KMeans`` draws, so a chain gets sklearn's start (labels equal up to floating-point ties).
  An empty k-means cluster keeps its centre (sklearn moves it to a far point; with k-means++ seeding this does
  not happen on the course's data).
- ``init="warm"``: EM starts from given parameters (sklearn's ``weights_init``, ``means_init``,
  ``precisions_init``); ``init=resp`` (C, n, k): from given responsibilities (e.g. sklearn's own k-means labels,
  which is how the tests compare the two implementations step by step).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from . import validate
from .validate import integer as _int, number as _num

TOL, MAX_ITER, REG_COVAR = 1e-5, 2000, 1e-6  # the paper's tolerance and cap; sklearn's default reg_covar
KMEANS_MAX_ITER, KMEANS_TOL = 300, 1e-4  # sklearn KMeans defaults
_EPS = 10 * np.finfo(float).eps


class Fit(NamedTuple):
    """Fitted mixtures of C chains: ``weights`` (C, k), ``means`` (C, k, d), ``covs`` (C, k, d, d);
    ``n_iter`` (C,) EM iterations run, ``converged`` (C,) bool, ``loglik`` (C,) mean log-likelihood per point (nats)
    at the last E-step (sklearn's ``lower_bound_``)."""

    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    loglik: np.ndarray

    def chain(self, c: int) -> tuple:
        """``(weights, means, covs)`` of chain ``c``."""
        c = _int("c", c, 0, len(self.weights) - 1)
        return self.weights[c], self.means[c], self.covs[c]


def _states(random_state, c):
    """A ``np.random.RandomState`` for each chain in turn, from sklearn-style ``random_state``: an int (chain i gets
    int + i), None (fresh entropy) or a list of C ints / RandomStates. Int seeds reseed one shared RandomState
    (the same stream as a new one, a hundred times cheaper to make): use each before asking for the next."""
    if isinstance(random_state, (list, tuple, np.ndarray)):
        if len(random_state) != c:
            raise ValueError(f"random_state must be one int or a list of one per chain ({c}); got a list of "
                             f"{len(random_state)}")
        seeds = random_state
    elif random_state is None:
        seeds = [None] * c
    elif isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if not 0 <= random_state <= 2**32 - c:
            raise validate.ArgumentError(f"random_state must be an int in [0, 2**32 - {c}] (chain i gets it + i); got "
                                         f"{random_state}")
        seeds = [int(random_state) + i for i in range(c)]
    else:
        raise TypeError(f"random_state must be an int, None or a list of ints; got {type(random_state).__name__}")
    for r in seeds:
        if not (r is None or isinstance(r, np.random.RandomState)
                or (isinstance(r, (int, np.integer)) and not isinstance(r, bool) and 0 <= r < 2**32)):
            raise validate.ArgumentError(f"random_state must hold ints in [0, 2**32), RandomStates or None; got {r!r}")
    shared = np.random.RandomState(0)
    for r in seeds:
        if isinstance(r, np.random.RandomState):
            yield r
        elif r is None:
            yield np.random.RandomState()
        else:
            shared.seed(int(r))
            yield shared


def _sqsum(a):
    """Sum of squares over the last (short) axis, as element-wise passes: numpy reduces a short axis slowly."""
    out = a[..., 0] ** 2
    for j in range(1, a.shape[-1]):
        out += a[..., j] ** 2
    return out


def _nearest(xt, centres):
    """Index (C, n) of the nearest centre (C, k, d) to each point of xt (C, d, n); ties go to the lower index."""
    score = centres @ xt  # (C, k, n); |x - c|^2 = |x|^2 - 2 c.x + |c|^2, and |x|^2 is the same for every c
    score *= -2
    score += (centres * centres).sum(-1)[:, :, None]
    best, lab = score[:, 0].copy(), np.zeros(score[:, 0].shape, int)
    for j in range(1, score.shape[1]):  # k is small: element-wise passes beat a reduction over a short axis
        better = score[:, j] < best
        best[better] = score[:, j][better]
        lab[better] = j
    return lab


def kmeans_labels(x, k: int, random_state=None) -> np.ndarray:
    """sklearn's k-means start of ``GaussianMixture`` for every chain: labels (C, n) in 0..k-1.

    Greedy k-means++ seeding (``2 + floor(log k)`` candidates per new centre, the one that lowers the potential
    most is kept), then Lloyd iterations (stop when the labels repeat, or the squared centre shift summed over
    centres is at most 1e-4 x the mean per-feature variance of the chain's data; at most 300 iterations).
    ``random_state``: sklearn's, one per chain (see :func:`fit`); the draws are the ones sklearn's ``KMeans``
    makes from it, so the labels are sklearn's (up to floating-point ties).
    """
    x = _as_batch(x)
    k = _int("k", k, 1)
    C, n, d = x.shape
    if n < k:
        raise ValueError(f"x must have at least k={k} points per chain; got {n}")
    x = x - x.mean(1, keepdims=True)  # sklearn centres the data first (for precision)
    ar = np.arange(C)
    trials = 2 + int(math.log(k))
    p = np.full(n, 1 / n)
    # every draw of the seeding is made before the data are looked at (what is drawn does not depend on them)
    first, u_all = np.empty(C, int), np.empty((C, max(k - 1, 0), trials))
    for c, r in enumerate(_states(random_state, C)):
        first[c] = r.choice(n, p=p)
        for j in range(k - 1):
            u_all[c, j] = r.uniform(size=trials)
    centres = np.empty((C, k, d))
    centres[:, 0] = x[ar, first]
    xt = np.ascontiguousarray(np.swapaxes(x, 1, 2))  # (C, d, n)
    x2 = _sqsum(x)  # (C, n)
    closest = _sqsum(x - centres[:, :1])  # (C, n)
    pot = closest.sum(1)
    for j in range(1, k):
        u = u_all[:, j - 1]
        cum = np.cumsum(closest, axis=1)
        cand = np.stack([np.searchsorted(cum[c], u[c] * pot[c]) for c in range(C)])
        cand = np.minimum(cand, n - 1)  # (C, trials)
        cx = x[ar[:, None], cand]  # (C, trials, d)
        dc = cx @ xt  # (C, trials, n): squared distances |x|^2 - 2 c.x + |c|^2
        dc *= -2
        dc += x2[:, None, :]
        dc += _sqsum(cx)[:, :, None]
        np.maximum(dc, 0, out=dc)
        dc = np.minimum(closest[:, None, :], dc)
        pots = dc.sum(-1)
        best = pots.argmin(1)
        centres[:, j] = x[ar, cand[ar, best]]
        closest, pot = dc[ar, best], pots[ar, best]
    tol = KMEANS_TOL * x.var(1).mean(1)  # (C,)
    labels = _nearest(xt, centres)
    active = np.ones(C, bool)
    for _ in range(KMEANS_MAX_ITER):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        sub = idx.size < C
        xa, xta = (x[idx], xt[idx]) if sub else (x, xt)
        la, ca = labels[idx], centres[idx]
        one = np.empty((idx.size, k, n))  # one-hot labels (c, k, n)
        for j in range(k):
            np.equal(la, j, out=one[:, j])
        cnt = one.sum(2)  # (c, k)
        new = np.where(cnt[:, :, None] > 0, one @ xa / np.maximum(cnt, 1)[:, :, None], ca)
        # sklearn's order: the labels of these centres were computed with the old centres; compare and stop
        shift = _sqsum(new - ca).sum(1)
        new_labels = _nearest(xta, new)
        strict = (new_labels == la).all(1)
        centres[idx] = new
        labels[idx] = new_labels
        active[idx[strict | (shift <= tol[idx])]] = False
    return labels


def _as_batch(x):
    x = validate.array("x", x, ndim=(2, 3))
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError(f"x must be data sets of shape (C, n, d) (or one (n, d)); got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x must be finite")
    return x


def _outer(x):
    """Products of coordinates x_i x_j of every point, (C, n, d*d): first and second moments become matrix products."""
    C, n, d = x.shape
    return (x[:, :, :, None] * x[:, :, None, :]).reshape(C, n, d * d)


def _params(x, xx, resp, reg_covar):
    """sklearn's ``_estimate_gaussian_parameters`` (full) for each chain: resp (C, k, n) -> nk, means, covs.

    ``sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T / nk`` is computed as ``sum_i r_ik x_i x_i^T / nk - mu_k mu_k^T`` (one
    matrix product over the points; :func:`fit` centres each data set first, so nothing large cancels).
    """
    C, n, d = x.shape
    nk = resp.sum(2) + _EPS  # (C, k)
    means = resp @ x / nk[:, :, None]  # (C, k, d)
    second = (resp @ xx).reshape(C, -1, d, d) / nk[:, :, None, None]
    # (nk - eps) / nk: the exact weight of mu mu^T in the expanded square, as sklearn's diff form gives
    covs = second - ((nk - _EPS) / nk)[:, :, None, None] * means[:, :, :, None] * means[:, :, None, :]
    covs[..., np.arange(d), np.arange(d)] += reg_covar
    return nk, means, covs


def _prec_chol(covs):
    """Cholesky factors of the precisions, as sklearn: ``solve(chol(cov), I).T`` (upper triangular)."""
    try:
        L = np.linalg.cholesky(covs)
    except np.linalg.LinAlgError:
        raise ValueError("a fitted covariance is not positive definite (collapsed data); raise reg_covar") from None
    eye = np.broadcast_to(np.eye(covs.shape[-1]), covs.shape)
    return np.swapaxes(np.linalg.solve(L, eye), -1, -2)


def _estep(xt, xxt, weights, means, pc):
    """Mean log-likelihood (C,) and responsibilities (C, k, n), from the points xt (C, d, n), their products
    xxt (C, d*d, n) and the parameters.

    The squared Mahalanobis distance ``(x - mu)^T P (x - mu)`` (``P = pc pc^T``, the precision) is expanded as
    ``x^T P x - 2 (P mu)^T x + mu^T P mu``: two matrix products over the points instead of one small product
    per point and component. Components come first (k, n): reductions over them are element-wise over the points.
    """
    C, d, n = xt.shape
    prec = pc @ np.swapaxes(pc, -1, -2)  # (C, k, d, d)
    pm = (prec @ means[..., None])[..., 0]  # (C, k, d)
    lp = prec.reshape(C, -1, d * d) @ xxt  # (C, k, n): x^T P x
    lp -= 2 * (pm @ xt)
    logdet = np.log(np.diagonal(pc, axis1=-2, axis2=-1)).sum(-1)  # (C, k)
    with np.errstate(divide="ignore"):
        const = -0.5 * (d * math.log(2 * math.pi) + (pm * means).sum(-1)) + logdet + np.log(weights)
    lp *= -0.5
    lp += const[:, :, None]
    top = lp.max(1, keepdims=True)
    top[~np.isfinite(top)] = 0.0
    lp -= top
    np.exp(lp, out=lp)  # one exponential per point and component: the responsibilities, then their sum
    total = lp.sum(1, keepdims=True)  # (C, 1, n)
    lp /= total
    return (top[:, 0] + np.log(total[:, 0])).mean(-1), lp


def fit(x, k: int = 3, random_state=None, *, init="kmeans", start=None, tol: float = TOL, max_iter: int = MAX_ITER,
        reg_covar: float = REG_COVAR) -> Fit:
    """Fit a ``k``-component full-covariance Gaussian mixture by EM to each of C data sets at once.

    Parameters
    ----------
    x : (C, n, d) array, C independent data sets of n points (or one (n, d) set: C = 1).
    k : components per mixture.
    random_state : sklearn's ``random_state`` of each chain: a list of C ints (or RandomStates), or one int (chain
        i gets int + i), or None; used by the k-means start only, with sklearn's draws, so chain i's fit is the
        one ``GaussianMixture(random_state=random_state[i])`` gives (to rounding), whatever else is in the batch.
    init : ``"kmeans"`` (sklearn's default), ``"warm"`` (start from ``start``) or an array (C, n, k) of starting
        responsibilities (rows summing to 1).
    start : with ``init="warm"``, ``(weights (C, k), means (C, k, d), covs (C, k, d, d))`` for the first E-step.
    tol, max_iter, reg_covar : as sklearn's ``GaussianMixture`` (defaults: 1e-5 and 2000, the paper's; 1e-6).

    Returns
    -------
    :class:`Fit` with a leading chain axis (C, ...).
    """
    x = _as_batch(x)
    C, n, d = x.shape
    k = _int("k", k, 1)
    if n < k:
        raise ValueError(f"x must have at least k={k} points per chain; got {n}")
    tol = _num("tol", tol, 0.0)
    max_iter = _int("max_iter", max_iter, 1)
    reg_covar = _num("reg_covar", reg_covar, 0.0)
    shift = x.mean(1, keepdims=True)  # EM is shift-equivariant: centred data keep the moment products accurate
    x = x - shift
    xx = _outer(x)
    xt, xxt = np.ascontiguousarray(np.swapaxes(x, 1, 2)), np.ascontiguousarray(np.swapaxes(xx, 1, 2))
    if start is not None and not (isinstance(init, str) and init == "warm"):
        raise validate.ArgumentError("start is used with init='warm' only; pass init='warm' or leave start out")
    if isinstance(init, str) and init == "kmeans":
        labels = kmeans_labels(x, k, random_state)
        resp = (labels[:, :, None] == np.arange(k)).astype(float)
    elif isinstance(init, str) and init == "warm":
        if not (isinstance(start, tuple) and len(start) == 3):
            raise ValueError("init='warm' needs start=(weights (C, k), means (C, k, d), covs (C, k, d, d))")
        w0, m0, c0 = (np.asarray(a, dtype=float) for a in start)
        w0, m0, c0 = (np.broadcast_to(a, (C,) + s).copy() for a, s in
                      ((w0, (k,)), (m0, (k, d)), (c0, (k, d, d))))
        m0 = m0 - shift
        resp = None
    elif isinstance(init, str):
        raise ValueError(f"init must be 'kmeans', 'warm' or an array (C, n, k) of responsibilities; got {init!r}")
    else:
        resp = np.asarray(init, dtype=float)
        if resp.ndim == 2:
            resp = resp[None]
        if resp.shape != (C, n, k):
            raise ValueError(f"init as responsibilities must have shape {(C, n, k)}; got {resp.shape}")
    if resp is not None:
        nk, m0, c0 = _params(x, xx, np.ascontiguousarray(np.swapaxes(resp, 1, 2)), reg_covar)
        w0 = nk / n
    weights, means, covs = w0, m0, c0
    pc = _prec_chol(covs)
    n_iter = np.zeros(C, int)
    converged = np.zeros(C, bool)
    loglik = np.full(C, -np.inf)
    active = np.arange(C)
    for it in range(1, max_iter + 1):
        sub = active.size < C
        xa, xxa = (x[active], xx[active]) if sub else (x, xx)
        xta, xxta = (xt[active], xxt[active]) if sub else (xt, xxt)
        ll, resp = _estep(xta, xxta, weights[active], means[active], pc[active])
        nk, m, c = _params(xa, xxa, resp, reg_covar)
        weights[active], means[active], covs[active] = nk / nk.sum(1, keepdims=True), m, c
        pc[active] = _prec_chol(c)
        change = ll - loglik[active]
        loglik[active] = ll
        n_iter[active] = it
        done = np.abs(change) < tol
        converged[active[done]] = True
        active = active[~done]
        if active.size == 0:
            break
    return Fit(weights, means + shift, covs, n_iter, converged, loglik)
