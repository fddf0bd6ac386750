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
- Speed, without changing the algorithm: the chains still iterating are compacted in place as others converge;
  the scratch arrays are allocated once per fit; the exponentials and the small batched matrix products go
  through torch (vectorised on AVX2 machines, where numpy's float64 ``exp`` is not); in two dimensions the
  precisions come from the closed-form inverse of the 2 x 2 covariances rather than Cholesky factors (the same
  numbers to rounding). ``benchmarks/em.py`` measures the result against sklearn.
- ``init="warm"``: EM starts from given parameters (sklearn's ``weights_init``, ``means_init``,
  ``precisions_init``); ``init=resp`` (C, n, k): from given responsibilities (e.g. sklearn's own k-means labels,
  which is how the tests compare the two implementations step by step).
"""
from __future__ import annotations

import functools
import math
import threading
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


def _rowsq(xt):
    """Squared norms (C, n) of the points xt (C, d, n), summed over coordinates in order as :func:`_sqsum` does."""
    out = xt[:, 0] ** 2
    for j in range(1, xt.shape[1]):
        out += xt[:, j] ** 2
    return out


def _exp_(a):
    """``a = exp(a)`` in place. torch's float64 exponential is vectorised on AVX2 (numpy's only on AVX-512): about
    3 ns per value against 9, and it is a third of an E-step. Blocks of at most torch's grain size (32,768 values)
    run on the calling thread, so chains already spread over the cores do not also compete for torch's pool."""
    torch = _torch()
    flat = torch.from_numpy(a.reshape(-1))
    if flat.numel() <= _GRAIN:
        torch.exp(flat, out=flat)
        return
    for s in range(0, flat.numel(), _GRAIN):
        part = flat[s:s + _GRAIN]
        torch.exp(part, out=part)


def _sum_log(t, m):
    """``log(t).sum(-1)`` for t (C, n) with every value in [1, k] (a sum of exponentials whose largest is 1), as the
    logarithms of products of ``m`` values (``m <= 690 / log k``: no overflow; n a multiple of m, padded with ones):
    n logarithms cost more than an E-step's other passes. Each product rounds by at most about 1e-13 relative, far
    below the 1e-5 stopping tolerance."""
    return np.log(t.reshape(t.shape[0], -1, m).prod(-1)).sum(-1)


def _bmm(a, b, out):
    """``out = a @ b`` for stacks of small matrices, through torch: twice as fast as numpy's stacked products and,
    like them, each matrix of the stack gets the same numbers whatever else is in the stack or how many threads run."""
    torch = _torch()
    torch.bmm(torch.from_numpy(np.ascontiguousarray(a)), torch.from_numpy(b), out=torch.from_numpy(out))
    return out


_GRAIN = 32768
_SCRATCH = threading.local()
_SCRATCH_VALUES = 1 << 22  # the largest scratch array kept between fits (32 MB); larger ones are made each time


def _scratch(name, shape):
    """An uninitialised float64 array of ``shape`` for one fit's working data, kept per thread from one fit to the
    next: a fresh array of megabytes costs a page fault per 4 kB on first touch, about 5% of a whole fit. Each name
    is one role, never returned to the caller; a thread runs one fit at a time."""
    size = math.prod(shape)
    if size > _SCRATCH_VALUES:
        return np.empty(shape)
    pool = _SCRATCH.__dict__
    buf = pool.get(name)
    if buf is None or buf.size < size:
        buf = pool[name] = np.empty(size)
    return buf[:size].reshape(shape)


@functools.lru_cache(maxsize=1)
def _torch():
    import torch  # on first use: importing it takes a second, and most of the course's chapters never fit a mixture

    return torch


def _aug(centres):
    """Rows (C, k, 1 + d) ``(|c|^2, -2 c)`` of the centres (C, k, d): times the points' rows (1, x) they give
    ``|x - c|^2 - |x|^2 = |c|^2 - 2 c.x`` in one matrix product (as sklearn computes it, with a matrix product)."""
    out = np.empty(centres.shape[:2] + (1 + centres.shape[2],))
    out[..., 0] = _sqsum(centres)
    np.multiply(centres, -2, out=out[..., 1:])
    return out


def _nearest(xa, centres, score):
    """Index (C, n) of the nearest centre (C, k, d) to each point of xa (C, 1 + d, n) (a row of ones, then the
    coordinates), in the smallest integer type that holds k; ties go to the lower index. ``score``: scratch
    (C, k, n)."""
    _bmm(_aug(centres), xa, score)  # |x|^2 is the same for every c
    k = score.shape[1]
    small = np.int8 if k < 128 else np.intp
    if k == 1:
        return np.zeros(score[:, 0].shape, small)
    lab = (score[:, 1] < score[:, 0]).view(np.int8).astype(small, copy=False)
    best = np.minimum(score[:, 0], score[:, 1], out=_scratch("best", score[:, 0].shape))
    for j in range(2, k):  # k is small: element-wise passes beat a reduction over a short axis
        better = score[:, j] < best
        # arithmetic on bytes, not a masked store: a store under a random mask is several times slower
        lab += better.view(np.int8).astype(small, copy=False) * (j - lab)
        np.minimum(best, score[:, j], out=best)
    return lab


def _seeding_draws(random_state, C, n, k):
    """What sklearn's k-means++ draws from each chain's RandomState: the first centre (``choice(n, p=1/n)``: one
    uniform, searched in the cumulative weights) and ``2 + floor(log k)`` uniforms per further centre (``uniform``
    with its default bounds returns the uniform itself). Drawn in one call per chain: the same stream, 10x cheaper."""
    trials = 2 + int(math.log(k))
    cdf = np.full(n, 1 / n).cumsum()
    cdf /= cdf[-1]
    v = np.empty((C, 1 + max(k - 1, 0) * trials))
    for c, r in enumerate(_states(random_state, C)):
        v[c] = r.random_sample(v.shape[1])
    return cdf.searchsorted(v[:, 0], side="right"), v[:, 1:].reshape(C, max(k - 1, 0), trials)


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
    if x.shape[1] < k:
        raise ValueError(f"x must have at least k={k} points per chain; got {x.shape[1]}")
    return _kmeans(np.ascontiguousarray(np.swapaxes(x, 1, 2)), k, random_state)


def _kmeans(xt, k, random_state):
    """:func:`kmeans_labels` of the points xt (C, d, n) (coordinates first: numpy reduces over a short middle axis
    slowly, and every pass below is over contiguous rows of n points)."""
    C, d, n = xt.shape
    xa = _scratch("xa", (C, 1 + d, n))  # a row of ones, then the coordinates: see _aug
    xa[:, 0] = 1.0
    xt = np.subtract(xt, xt.mean(2, keepdims=True), out=xa[:, 1:])  # sklearn centres the data first (precision)
    ar = np.arange(C)
    first, u_all = _seeding_draws(random_state, C, n, k)
    centres = np.empty((C, k, d))
    centres[:, 0] = xt[ar, :, first]
    x2 = _rowsq(xt)  # (C, n)
    # squared distances as sklearn's _euclidean_distances: |c|^2 - 2 c.x + |x|^2, at least 0
    dist = _scratch("dist", (C, max(u_all.shape[2], 1), n))
    closest = _bmm(_aug(centres[:, :1]), xa, _scratch("closest", (C, 1, n)))[:, 0]
    closest += x2
    np.maximum(closest, 0, out=closest)
    pot = closest.sum(1)
    for j in range(1, k):
        u = u_all[:, j - 1]
        cum = np.cumsum(closest, axis=1, out=_scratch("cum", (C, n)))
        # searchsorted (left) in each chain's cumulative sum, as a count: how many partial sums lie below the draw
        cand = np.count_nonzero(cum[:, None, :] < (u * pot[:, None])[:, :, None], axis=-1)
        cand = np.minimum(cand, n - 1)  # (C, trials)
        cx = xt[ar[:, None], :, cand]  # (C, trials, d)
        dc = _bmm(_aug(cx), xa, dist)  # (C, trials, n)
        dc += x2[:, None, :]
        np.maximum(dc, 0, out=dc)
        np.minimum(closest[:, None, :], dc, out=dc)
        pots = dc.sum(-1)
        best = pots.argmin(1)
        centres[:, j] = xt[ar, :, cand[ar, best]]
        closest, pot = dc[ar, best], pots[ar, best]  # copies: dist is written again
    tol = KMEANS_TOL / (n * d) * x2.sum(1)  # (C,): the mean variance over the coordinates (xt is centred)
    score = _scratch("score", (C, k, n))
    labels = _nearest(xa, centres, score)
    # the chains still iterating, compacted as chains stop so that no step copies the finished ones
    idx, xaa, la, ca, ta = ar, xa, labels, centres, tol
    ks, onehot, cs = np.arange(k, dtype=labels.dtype)[:, None], _scratch("onehot", (C, k, n)), np.empty((C, k, 1 + d))
    for _ in range(KMEANS_MAX_ITER):
        a = idx.size
        # each cluster's count and coordinate sums: the one-hot rows of the labels times the points' rows (1, x)
        # (summed in another order than sklearn's loop over the points: the same to rounding)
        np.equal(la[:, None, :], ks, out=onehot[:a])
        _bmm(onehot[:a], np.swapaxes(xaa, 1, 2), cs[:a])
        cnt, sums = cs[:a, :, 0], cs[:a, :, 1:]
        new = np.where(cnt[:, :, None] > 0, sums / np.maximum(cnt, 1)[:, :, None], ca)
        # sklearn's order: the labels of these centres were computed with the old centres; compare and stop
        shift = _sqsum(new - ca).sum(1)
        new_labels = _nearest(xaa, new, score[:a])
        stop = (new_labels == la).all(1) | (shift <= ta)
        if stop.any():
            labels[idx[stop]] = new_labels[stop]
            keep = ~stop
            for j, src in enumerate(np.flatnonzero(keep)):  # in place: xa is this function's own
                if src != j:
                    xa[j] = xa[src]
            idx, la, ca, ta = idx[keep], new_labels[keep], new[keep], ta[keep]
            xaa = xa[:idx.size]
            if idx.size == 0:
                break
        else:
            la, ca = new_labels, new
    else:
        labels[idx] = la
    return labels.astype(np.intp)


def _as_batch(x):
    x = validate.array("x", x, ndim=(2, 3))
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError(f"x must be data sets of shape (C, n, d) (or one (n, d)); got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x must be finite")
    return x


@functools.lru_cache(maxsize=16)
def _pairs(d):
    """The coordinate pairs (i <= j) whose products are features; for each (i, j) of a d x d matrix the index of
    its pair (a symmetric matrix is carried as its d (d + 1) / 2 distinct entries); and the weight of each pair in
    ``x^T P x`` times -1/2 (an off-diagonal pair counts twice)."""
    i, j = np.triu_indices(d)
    where = np.empty((d, d), np.intp)
    where[i, j] = where[j, i] = np.arange(i.size)
    return i, j, where, np.where(i == j, -0.5, -1.0)


def _features(xt):
    """Per point of xt (C, d, n): 1, its coordinates and the distinct products of its coordinates, as rows
    (C, 1 + d + d (d + 1) / 2, n). With them an M-step's sums (count, first and second moments per component) are
    one matrix product ``F @ resp^T``, and an E-step's log densities one product ``W @ F``."""
    C, d, n = xt.shape
    i, j = _pairs(d)[:2]
    f = _scratch("features", (C, 1 + d + i.size, n))
    f[:, 0] = 1.0
    f[:, 1:1 + d] = xt
    for p, (a, b) in enumerate(zip(i, j)):  # pair by pair: a product of fancy-indexed rows runs 20x slower
        np.multiply(xt[:, a], xt[:, b], out=f[:, 1 + d + p])
    return f


def _mstep(sums, d, reg_covar):
    """sklearn's ``_estimate_gaussian_parameters`` (full) for each chain, from ``sums = resp @ F^T`` (C, k, f):
    nk (C, k), means (C, k, d), covs (C, k, d, d).

    ``sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T / nk`` is computed as ``sum_i r_ik x_i x_i^T / nk - mu_k mu_k^T`` (one
    matrix product over the points; :func:`fit` centres each data set first, so nothing large cancels).
    """
    C, k = sums.shape[:2]
    nk = sums[..., 0] + _EPS
    means = sums[..., 1:1 + d] / nk[:, :, None]
    second = sums[..., 1 + d + _pairs(d)[2]] / nk[:, :, None, None]
    # (nk - eps) / nk: the exact weight of mu mu^T in the expanded square, as sklearn's diff form gives
    covs = second - ((nk - _EPS) / nk)[:, :, None, None] * means[:, :, :, None] * means[:, :, None, :]
    covs[..., np.arange(d), np.arange(d)] += reg_covar
    return nk, means, covs


def _prec_chol(covs):
    """Cholesky factors of the precisions, as sklearn: ``solve(chol(cov), I).T`` (upper triangular), (C, k, d, d).

    Written out over the d x d entries, each step for all chains and components at once: numpy.linalg's stacked
    routines cost about a microsecond per 2 x 2 matrix, more than the rest of an M-step.
    """
    d = covs.shape[-1]
    L = np.zeros(covs.shape)
    for j in range(d):
        s = covs[..., j, j] - (L[..., j, :j] ** 2).sum(-1)
        if not np.all(s > 0):
            raise ValueError("a fitted covariance is not positive definite (collapsed data); raise reg_covar")
        L[..., j, j] = np.sqrt(s)
        for i in range(j + 1, d):
            L[..., i, j] = (covs[..., i, j] - (L[..., i, :j] * L[..., j, :j]).sum(-1)) / L[..., j, j]
    inv = np.zeros(covs.shape)  # L^-1, lower triangular, by forward substitution
    for i in range(d):
        inv[..., i, i] = 1 / L[..., i, i]
        for r in range(i + 1, d):
            inv[..., r, i] = -(L[..., r, i:r] * inv[..., i:r, i]).sum(-1) / L[..., r, r]
    return np.swapaxes(inv, -1, -2)


def _coefficients(weights, means, covs):
    """W (C, k, f) with ``log w_k N(x | mu_k, Sigma_k) = W[k] . F(x)`` for the features F of :func:`_features`.

    The squared Mahalanobis distance ``(x - mu)^T P (x - mu)`` (P the precision) is expanded as
    ``x^T P x - 2 (P mu)^T x + mu^T P mu``, so the log densities of all points are one matrix product. P and
    ``log det P`` come from the Cholesky factors as in sklearn; in two dimensions (the course's mixtures) from the
    closed-form inverse of the 2 x 2 matrices, the same numbers to rounding at a fifth of the cost per EM step.
    """
    C, k, d = means.shape
    if d == 2:
        c00, c01, c11 = covs[..., 0, 0], covs[..., 0, 1], covs[..., 1, 1]
        det = c00 * c11 - c01 * c01
        if not ((c00 > 0).all() and (det > 0).all()):
            raise ValueError("a fitted covariance is not positive definite (collapsed data); raise reg_covar")
        prec = np.empty(covs.shape)
        prec[..., 0, 0], prec[..., 1, 1] = c11 / det, c00 / det
        prec[..., 0, 1] = prec[..., 1, 0] = -c01 / det
        half_logdet = -0.5 * np.log(det)
    else:
        pc = _prec_chol(covs)
        prec = pc @ np.swapaxes(pc, -1, -2)  # (C, k, d, d)
        half_logdet = np.log(np.diagonal(pc, axis1=-2, axis2=-1)).sum(-1)  # (C, k)
    pm = (prec @ means[..., None])[..., 0]  # (C, k, d)
    i, j, _, half = _pairs(d)
    w = np.empty((C, k, 1 + d + i.size))
    with np.errstate(divide="ignore"):
        w[..., 0] = -0.5 * (d * math.log(2 * math.pi) + (pm * means).sum(-1)) + half_logdet + np.log(weights)
    w[..., 1:1 + d] = pm
    w[..., 1 + d:] = half * prec[..., i, j]
    return w


class _Work:
    """The features of the chains still iterating, compacted in place as chains converge, and the scratch arrays
    of their E- and M-steps, allocated once per fit: new arrays of megabytes every step cost more in page faults
    than the arithmetic done on them."""

    def __init__(self, ft, k):
        C, f, n = ft.shape
        self.ft, self.a, self.n = ft, C, n
        self.lp, self.top = _scratch("lp", (C, k, n)), _scratch("top", (C, 1, n))
        # each point's sum over components, padded with ones to whole products of m values (see _sum_log)
        m = n if k == 1 else min(n, int(690 / math.log(k)))
        self.m = -(-n // -(-n // m))  # the same bound, spread evenly over the products
        self.total = _scratch("total", (C, -(-n // self.m) * self.m))
        self.total[:, n:] = 1.0
        self.sums = np.empty((C, f, k))

    def keep(self, keep):
        """Keep the active chains where ``keep`` (a,) is True, in their order."""
        src = np.flatnonzero(keep)
        for j, s in enumerate(src):
            if s != j:
                self.ft[j] = self.ft[s]
        self.a = src.size

    def estep(self, w, guard=False):
        """Mean log-likelihood (a,) and responsibilities (a, k, n) for the coefficients W (a, k, f) of
        :func:`_coefficients`. Components come first (k, n): reductions over them are element-wise over the points.
        ``guard``: some weight may be 0 (a warm start), so a point's best log density may be -inf."""
        a, n = self.a, self.n
        lp = _bmm(w, self.ft[:a], self.lp[:a])
        k = lp.shape[1]
        top = self.top[:a]  # max and sum over the k components as element-wise passes (numpy reduces k slowly)
        np.maximum(lp[:, :1], lp[:, 1:2] if k > 1 else lp[:, :1], out=top)
        for j in range(2, k):
            np.maximum(top, lp[:, j:j + 1], out=top)
        if guard:
            top[~np.isfinite(top)] = 0.0
        lp -= top
        _exp_(lp)  # one exponential per point and component: the responsibilities, then their sum
        total = self.total[:a]
        np.add(lp[:, 0], lp[:, 1], out=total[:, :n]) if k > 1 else np.copyto(total[:, :n], lp[:, 0])
        for j in range(2, k):
            total[:, :n] += lp[:, j]
        lp /= total[:, None, :n]
        ll = top[:, 0].sum(-1)
        ll += _sum_log(total, self.m)
        ll /= n
        return ll, lp

    def sums_of(self, resp):
        """``F @ resp^T`` (a, f, k): per component, the responsibilities' sum and first and second moments."""
        return _bmm(self.ft[:self.a], np.swapaxes(resp, 1, 2), self.sums[:self.a])


_REG_ROWS = np.array([[1.0], [0.0], [1.0]])  # reg_covar goes on the diagonal entries (xx, yy) of (xx, xy, yy)
_QUAD_ROWS = np.array([[-0.5], [1.0], [-0.5]])  # (c11, c01, c00) / det times these: the x x^T coefficients


def _step2(sums, reg_rows):
    """A 2-d M-step and the next E-step's coefficients together, from the sums (a, 6, k) of :meth:`_Work.sums_of`,
    in the distinct entries of the 2 x 2 matrices: about 30 array operations in all, whatever the number of chains
    (the separate :func:`_mstep` and :func:`_coefficients` take twice as many, and a chain that needs many
    iterations pays for each). The same formulas as theirs, in another order (the same numbers to rounding).
    ``reg_rows``: reg_covar times ``[[1], [0], [1]]`` (it goes on the diagonal entries).

    Returns weights (a, k), the moments (a, 5, k) (rows: mean x, mean y, then E xx, E xy, E yy), the covariances'
    entries (a, 3, k) (rows: xx, xy, yy) and the coefficients W (a, k, 6) of :func:`_coefficients`.
    """
    nk = sums[:, 0] + _EPS
    r = 1 / nk
    mom = sums[:, 1:] * r[:, None]
    cov = np.empty(mom[:, 2:].shape)
    np.multiply(mom[:, :2], mom[:, :1], out=cov[:, :2])
    np.multiply(mom[:, 1], mom[:, 1], out=cov[:, 2])
    r *= sums[:, 0]  # the weight of mu mu^T in the expanded square (sum of resp / nk), as sklearn's diff form gives
    cov *= r[:, None]
    np.subtract(mom[:, 2:], cov, out=cov)
    cov += reg_rows
    det = cov[:, 0] * cov[:, 2]
    det -= cov[:, 1] ** 2
    if not np.minimum(cov[:, 0], det).min() > 0:
        raise ValueError("a fitted covariance is not positive definite (collapsed data); raise reg_covar")
    pn = cov[:, ::-1] / det[:, None]  # (p00, -p01, p11): the precision's entries
    w = nk / nk.sum(1, keepdims=True)
    wt = np.empty(sums.shape)
    np.multiply(pn, _QUAD_ROWS, out=wt[:, 3:])
    np.subtract(pn[:, ::2] * mom[:, :2], pn[:, 1:2] * mom[:, 1::-1], out=wt[:, 1:3])  # P mu
    quad = wt[:, 1] * mom[:, 0]
    quad += wt[:, 2] * mom[:, 1]
    np.multiply(quad, -0.5, out=wt[:, 0])
    np.sqrt(det, out=det)
    det *= 2 * math.pi
    np.divide(w, det, out=det)
    wt[:, 0] += np.log(det, out=det)  # log w - log det / 2 - log 2 pi - mu^T P mu / 2
    return w, mom, cov, np.swapaxes(wt, 1, 2)


def _full(cov):
    """2 x 2 covariances (a, k, 2, 2) from their entries (a, 3, k) (rows xx, xy, yy)."""
    out = np.empty(cov.shape[:1] + cov.shape[2:] + (2, 2))
    out[..., 0, 0], out[..., 1, 1] = cov[:, 0], cov[:, 2]
    out[..., 0, 1] = out[..., 1, 0] = cov[:, 1]
    return out


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
