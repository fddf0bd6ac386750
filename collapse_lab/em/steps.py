"""EM's steps for a batch of chains: the points' features, the M-step's sums and parameters, and the E-step's
log densities as one matrix product of coefficients and features.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .kernels import _bmm, _compact, _exp_, _scratch, _sum_log

_EPS = 10 * np.finfo(float).eps


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
    of their E- and M-steps (kept from fit to fit, :func:`~collapse_lab.em.kernels._scratch`): new arrays of
    megabytes every step cost more in page faults than the arithmetic done on them."""

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
        self.a = _compact(self.ft[:self.a], keep)

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
        np.copyto(total[:, :n], lp[:, 0])
        for j in range(1, k):
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
