"""Gaussian mixtures: the :class:`Mixture` type, the two reference mixtures, sampling, densities and the
closed-form L2 distance between two mixtures."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import validate
from ..runtime import as_rng
from ..validate import integer as _int


# ---------------------------------------------------------------------------------------------------------------
# mixtures


class Mixture(NamedTuple):
    """A Gaussian mixture: ``weights`` (K,) summing to 1, ``means`` (K, d), ``covs`` (K, d, d) positive definite."""

    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray

    @property
    def k(self) -> int:
        return len(self.weights)

    @property
    def dim(self) -> int:
        return self.means.shape[1]


def mixture(weights, means, covs) -> Mixture:
    """A validated :class:`Mixture` (weights are renormalised to sum 1; covariances symmetrised)."""
    try:
        w = np.asarray(weights, dtype=float).ravel()
        m = np.atleast_2d(np.asarray(means, dtype=float))
        c = np.asarray(covs, dtype=float)
    except (TypeError, ValueError):
        raise TypeError("weights, means and covs must be numeric arrays of shapes (K,), (K, d), (K, d, d)") from None
    k = w.size
    if k == 0 or m.shape[0] != k or c.ndim != 3 or c.shape != (k, m.shape[1], m.shape[1]):
        raise ValueError(f"weights, means, covs must have shapes (K,), (K, d), (K, d, d); got {w.shape}, {m.shape}, "
                         f"{c.shape}")
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(m)) and np.all(np.isfinite(c))):
        raise ValueError("weights, means and covs must be finite")
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be >= 0 with a positive sum; got {w}")
    c = (c + np.swapaxes(c, 1, 2)) / 2
    if np.any(np.linalg.eigvalsh(c) <= 0):
        raise ValueError("covs must be positive definite")
    return Mixture(w / w.sum(), m, c)


def _as_mixture(x, name: str) -> Mixture:
    if isinstance(x, Mixture):
        return x
    if isinstance(x, tuple) and len(x) == 3:
        try:
            return mixture(*x)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{name} must be a valid (weights, means, covs) mixture: {e}") from None
    raise TypeError(f"{name} must be a gmm.Mixture or a (weights, means, covs) tuple; got {type(x).__name__}")


def _rot(deg, sx, sy):
    t = math.radians(deg)
    r = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return r @ np.diag([sx ** 2, sy ** 2]) @ r.T


#: the teaching mixture: weights 0.6 / 0.3 / 0.1, modes at least 4.7 units apart with standard deviations <= 1.1
TEACHING = mixture([0.6, 0.3, 0.1], [[-3.0, 0.0], [3.0, 0.5], [0.5, 4.5]],
                   [_rot(25, 1.1, 0.7), _rot(-40, 0.9, 0.7), _rot(0, 0.6, 0.6)])
MODES = ("major", "middle", "minor")
#: the paper's reference setting: two 2-D modes (weights 0.6 / 0.4)
PAPER = mixture([0.6, 0.4], [[-2.0, 0.0], [2.0, 1.0]], [_rot(30, 1.0, 0.6), _rot(-20, 0.8, 0.8)])
LOST_BELOW = 0.1
LEVEL = 0.99


def sample(mix: Mixture, n: int, rng=None) -> np.ndarray:
    """``n`` points (n, d) from the mixture: component counts from a multinomial, then Gaussian draws."""
    mix = _as_mixture(mix, "mix")
    _int("n", n, 0)
    rng = as_rng(rng)
    counts = rng.multinomial(n, mix.weights)
    k = np.repeat(np.arange(mix.k), counts)
    L = np.linalg.cholesky(mix.covs)
    x = mix.means[k] + np.einsum("nij,nj->ni", L[k], rng.standard_normal((n, mix.dim)))
    return x[rng.permutation(n)]


def logpdf(mix: Mixture, x) -> np.ndarray:
    """Log-density of the mixture at points ``x`` (m, d) -> (m,), in nats."""
    mix = _as_mixture(mix, "mix")
    x = _points(x, mix.dim)
    # one Cholesky factor per component, then plain matrix products over the points (fast for large m)
    Li = np.linalg.inv(np.linalg.cholesky(mix.covs))  # (K, d, d)
    logdet = -2 * np.log(np.diagonal(Li, axis1=1, axis2=2)).sum(-1)
    comp = np.stack([-0.5 * (((x - mu) @ L.T) ** 2).sum(-1) for mu, L in zip(mix.means, Li)], axis=1)  # (m, K)
    comp -= 0.5 * (logdet + mix.dim * math.log(2 * math.pi))
    with np.errstate(divide="ignore"):
        lw = np.log(mix.weights)
    a = comp + lw
    top = np.max(a, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return (top + np.log(np.exp(a - top).sum(1, keepdims=True)))[:, 0]


def density(mix: Mixture, x) -> np.ndarray:
    """Density of the mixture at points ``x`` (m, d) -> (m,)."""
    return np.exp(logpdf(mix, x))


def _gauss_logpdf(x, mean, cov):
    """log N(x; mean, cov), broadcasting over leading axes: x, mean (..., d), cov (..., d, d)."""
    d = x.shape[-1]
    diff = np.broadcast_to(x - mean, np.broadcast_shapes(x.shape, mean.shape))
    cov = np.broadcast_to(cov, diff.shape + (d,))
    L = np.linalg.cholesky(cov)
    z = np.linalg.solve(L, diff[..., None])[..., 0]
    logdet = 2 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(-1)
    return -0.5 * (np.sum(z * z, -1) + logdet + d * math.log(2 * math.pi))


def _points(x, d, name: str = "x") -> np.ndarray:
    x = validate.array(name, x, ndim=(1, 2))
    if x.ndim == 1 and d == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"{name} must be points of shape (m, {d}); got {x.shape}")
    return x




# ---------------------------------------------------------------------------------------------------------------
# the closed-form L2 distance


def overlaps(a: Mixture, b: Mixture) -> np.ndarray:
    """``G[i, j] = integral N(x; a_i) N(x; b_j) dx = N(mu_ai; mu_bj, Sigma_ai + Sigma_bj)``, shape (Ka, Kb)."""
    a, b = _as_mixture(a, "a"), _as_mixture(b, "b")
    if a.dim != b.dim:
        raise ValueError(f"a and b must have the same dimension; got {a.dim} and {b.dim}")
    return np.exp(_gauss_logpdf(a.means[:, None], b.means[None], a.covs[:, None] + b.covs[None]))


def l2(p: Mixture, q: Mixture, squared: bool = False) -> float:
    """L2 distance ``sqrt(integral (p(x) - q(x))^2 dx)`` between two Gaussian mixtures, in closed form.

    Expanding the square, every term is an integral of a product of two Gaussians, which is a Gaussian density:
    ``||p - q||^2 = w^T G(p, p) w - 2 w^T G(p, q) v + v^T G(q, q) v`` with :func:`overlaps` ``G``.
    Units: density units (1 / area^(1/2) in 2-D). ``squared=True`` returns the integral itself.
    """
    p, q = _as_mixture(p, "p"), _as_mixture(q, "q")
    if not isinstance(squared, (bool, np.bool_)):
        raise validate.ArgumentError(f"squared must be True or False; got {squared!r:.60}")
    if p.dim != q.dim:
        raise ValueError(f"p and q must have the same dimension; got {p.dim} and {q.dim}")
    sq = float(_l2_squared(p.weights[None], p.means[None], p.covs[None], q)[0])
    return sq if squared else math.sqrt(sq)


def l2s(weights, means, covs, ref) -> np.ndarray:
    """:func:`l2` of C mixtures ``(weights[c], means[c], covs[c])`` to ``ref`` at once: ``weights`` (C, K),
    ``means`` (C, K, d), ``covs`` (C, K, d, d) (e.g. the fields of a batch of fits, :class:`collapse_lab.em.Fit`)
    -> (C,), each distance the number :func:`l2` gives, to the bit (:func:`l2` is the case C = 1)."""
    ref = _as_mixture(ref, "ref")
    w, m, c = (validate.array(a, v) for a, v in (("weights", weights), ("means", means), ("covs", covs)))
    d = ref.dim
    if w.ndim != 2 or m.shape != w.shape + (d,) or c.shape != w.shape + (d, d):
        raise ValueError(f"weights, means, covs must have shapes (C, K), (C, K, {d}), (C, K, {d}, {d}); got "
                         f"{w.shape}, {m.shape}, {c.shape}")
    return np.sqrt(_l2_squared(w, m, c, ref))


def _l2_squared(w, m, c, q: Mixture) -> np.ndarray:
    """The squared L2 distance of each of C mixtures (``w`` (C, K), ``m`` (C, K, d), ``c`` (C, K, d, d)) to ``q``,
    (C,): the overlaps of all C are one batch of the same operations (each mixture's numbers do not depend on the
    others), each mixture's sum the same products in the same order."""
    gpp = np.exp(_gauss_logpdf(m[:, :, None], m[:, None], c[:, :, None] + c[:, None]))          # (C, K, K)
    gpq = np.exp(_gauss_logpdf(m[:, :, None], q.means[None, None], c[:, :, None] + q.covs[None, None]))
    v = q.weights
    qq = v @ overlaps(q, q) @ v
    out = np.empty(len(w))
    for i in range(len(w)):
        # rounding can leave a tiny negative when the mixture is q
        out[i] = max(float(w[i] @ gpp[i] @ w[i] - 2 * w[i] @ gpq[i] @ v + qq), 0.0)
    return out
