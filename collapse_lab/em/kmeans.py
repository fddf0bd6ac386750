"""scikit-learn's k-means start of ``GaussianMixture``, for every chain of a batch at once.

Greedy k-means++ seeding, then Lloyd iterations, with the random draws sklearn's ``KMeans`` makes from each chain's
``RandomState``: a chain gets sklearn's start (labels equal up to floating-point ties).
"""
from __future__ import annotations

import math

import numpy as np

from .. import validate
from ..validate import integer as _int
from .kernels import _as_batch, _bmm, _compact, _rowsq, _scratch, _sqsum

KMEANS_MAX_ITER, KMEANS_TOL = 300, 1e-4  # sklearn KMeans defaults


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
            _compact(xa[:idx.size], keep)  # xa is this function's own
            idx, la, ca, ta = idx[keep], new_labels[keep], new[keep], ta[keep]
            xaa = xa[:idx.size]
            if idx.size == 0:
                break
        else:
            la, ca = new_labels, new
    else:
        labels[idx] = la
    return labels.astype(np.intp)
