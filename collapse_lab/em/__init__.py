"""EM for many independent Gaussian mixtures at once: one batch of arrays with a leading chain axis.

The package: :mod:`.kmeans` (sklearn's k-means start), :mod:`.steps` (the E- and M-steps), :mod:`.kernels` (the
batch, its matrix products and exponentials); :func:`fit` here runs the iterations.

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
- Speed, without changing the algorithm: the chains still iterating are compacted in place as others converge;
  the large working arrays are kept per thread from one fit to the next; the k-means distances and cluster sums,
  the E-step's log densities and the M-step's sums are one batched matrix product each, through torch like the
  exponentials (:mod:`.kernels`); in two dimensions (the course's mixtures) one short step computes the M-step and
  the next E-step's coefficients in the distinct entries of the 2 x 2 matrices, with their closed-form inverse
  (the same numbers to rounding). ``benchmarks/em.py`` measures the result against sklearn.
- ``init="warm"``: EM starts from given parameters (sklearn's ``weights_init``, ``means_init``,
  ``precisions_init``); ``init=resp`` (C, n, k): from given responsibilities (e.g. sklearn's own k-means labels,
  which is how the tests compare the two implementations step by step).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import validate
from ..validate import integer as _int, number as _num
from .kernels import _as_batch, _scratch
from .kmeans import KMEANS_MAX_ITER, KMEANS_TOL, _kmeans, kmeans_labels
from .steps import _REG_ROWS, _Work, _coefficients, _features, _full, _mstep, _step2

__all__ = ["Fit", "fit", "kmeans_labels", "TOL", "MAX_ITER", "REG_COVAR", "KMEANS_MAX_ITER", "KMEANS_TOL"]

TOL, MAX_ITER, REG_COVAR = 1e-5, 2000, 1e-6  # the paper's tolerance and cap; sklearn's default reg_covar


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
    xt = _scratch("x", (C, d, n))  # (C, d, n): passes over the points run along contiguous rows
    np.copyto(xt, np.swapaxes(x, 1, 2))
    shift = xt.mean(2)[:, None, :]  # EM is shift-equivariant: centred data keep the moment products accurate
    xt -= np.swapaxes(shift, 1, 2)
    work = _Work(_features(xt), k)
    if start is not None and not (isinstance(init, str) and init == "warm"):
        raise validate.ArgumentError("start is used with init='warm' only; pass init='warm' or leave start out")
    if isinstance(init, str) and init == "kmeans":
        labels = _kmeans(xt, k, random_state)
        resp = np.equal(labels[:, None, :], np.arange(k)[None, :, None], out=work.lp)  # (C, k, n), one-hot
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
        resp = np.ascontiguousarray(np.swapaxes(resp, 1, 2))
    if resp is not None:
        nk, m0, c0 = _mstep(np.swapaxes(work.sums_of(resp), 1, 2), d, reg_covar)
        w0 = nk / n
    # results by chain; the arrays the loop works on hold only the chains still iterating (compacted as chains
    # converge, so no step copies or computes the finished ones)
    weights, means, covs = w0.copy(), m0.copy(), c0.copy()
    n_iter = np.zeros(C, int)
    converged = np.zeros(C, bool)
    loglik = np.full(C, -np.inf)
    idx, last = np.arange(C), np.full(C, -np.inf)
    coef = _coefficients(w0, m0, c0)
    guard = not np.isfinite(coef[..., 0]).all()  # a warm start with a weight of 0
    reg_rows = reg_covar * _REG_ROWS
    for it in range(1, max_iter + 1):
        ll, resp = work.estep(coef, guard and it == 1)
        sums = work.sums_of(resp)
        # the next coefficients here, as sklearn checks the new covariances before its next E-step
        if d == 2:
            w, mom, cov, coef = _step2(sums, reg_rows)
        else:
            nk, m, c = _mstep(np.swapaxes(sums, 1, 2), d, reg_covar)
            w = nk / nk.sum(1, keepdims=True)
            coef = _coefficients(w, m, c)
        conv = np.abs(ll - last) < tol
        last = ll
        done = conv if it < max_iter else np.ones_like(conv)
        if done.any():
            out = idx[done]
            converged[out] = conv[done]
            weights[out] = w[done]
            if d == 2:
                means[out], covs[out] = np.swapaxes(mom[done, :2], 1, 2), _full(cov[done])
            else:
                means[out], covs[out] = m[done], c[done]
            n_iter[out], loglik[out] = it, ll[done]
            keep = ~done
            work.keep(keep)
            idx, coef, last = idx[keep], coef[keep], last[keep]
            if idx.size == 0:
                break
    return Fit(weights, means + shift, covs, n_iter, converged, loglik)
