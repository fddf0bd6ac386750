"""Following the modes of the original mixture through the fits, and the held-out measures of a fitted mixture."""
from __future__ import annotations

import functools
import math
import threading

import numpy as np

from .. import validate
from ..em.kernels import _scratch
from ..validate import integer as _int
from .mixture import _as_mixture, density, l2, LEVEL, logpdf, LOST_BELOW, _points, TEACHING


# ---------------------------------------------------------------------------------------------------------------
# following the modes


def match(ref, model) -> np.ndarray:
    """For each mode j of ``ref`` the index of the ``model`` component matched to it, or -1 when none is left.

    Hungarian assignment (``scipy.optimize.linear_sum_assignment``) minimising the sum of squared Euclidean
    distances between matched means: each fitted component serves at most one original mode, so two modes merged
    into one broad component cannot both claim it. Returns an int array (K_ref,).
    """
    from scipy.optimize import linear_sum_assignment

    ref, model = _as_mixture(ref, "ref"), _as_mixture(model, "model")
    cost = ((ref.means[:, None, :] - model.means[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    out = np.full(ref.k, -1)
    out[rows] = cols
    return out


def tracked(ref, model, level: float = LEVEL) -> dict:
    """Weight and covariance determinant of the component that represents each mode of ``ref``.

    Mode j's representative is its :func:`match` partner, provided the partner's mean lies inside mode j's
    ``level`` ellipse; otherwise (a spare component EM uses elsewhere, or no partner at all) the mode has no
    representative: weight 0 and det NaN. Returns ``{"weight": (K_ref,), "det": (K_ref,)}``.
    """
    ref, model = _as_mixture(ref, "ref"), _as_mixture(model, "model")
    if not (isinstance(level, float) and 0 < level < 1):
        raise ValueError(f"level must be a float in (0, 1); got {level!r}")
    j = match(ref, model)
    k = np.maximum(j, 0)
    diff = model.means[k] - ref.means
    m2 = np.einsum("ji,jil,jl->j", diff, np.linalg.inv(ref.covs), diff)
    ok = (j >= 0) & (m2 <= radius2(level, ref.dim))
    w = np.where(ok, model.weights[k], 0.0)
    det = np.where(ok, np.linalg.det(model.covs[k]), np.nan)
    return {"weight": w, "det": det}


@functools.lru_cache(maxsize=16)
def radius2(level: float, d: int) -> float:
    """The squared Mahalanobis radius of a ``level`` ellipse in ``d`` dimensions: ``chi2.ppf(level, d)`` (computed
    once per pair: every generation of every chain asks for the same one)."""
    from scipy.stats import chi2

    return chi2.ppf(level, d)


_Z = np.random.default_rng(20240724).standard_normal((4096, 2))  # fixed draws: mode_mass is deterministic


def mode_mass(model, ref=TEACHING, level: float = LEVEL) -> np.ndarray:
    """Probability ``model`` gives to each mode's ``level`` ellipse of ``ref``, shape (K_ref,).

    Mode j's ellipse: ``{x : (x - mu_j)^T Sigma_j^-1 (x - mu_j) <= chi2_d(level)}`` under the reference mixture.
    Computed per fitted component from 4096 fixed standard-normal draws mapped through its Cholesky factor (the
    same draws every call: deterministic, and no grid to outgrow when a component shrinks).
    """
    model, ref = _as_mixture(model, "model"), _as_mixture(ref, "ref")
    if not (isinstance(level, float) and 0 < level < 1):
        raise ValueError(f"level must be a float in (0, 1); got {level!r}")
    d = ref.dim
    if model.dim != d:
        raise ValueError(f"model and ref must have the same dimension; got {model.dim} and {d}")
    z = _Z if d == 2 else np.random.default_rng(20240724).standard_normal((4096, d))
    inside = inside_shares(model.means[None], model.covs[None], ref, z, radius2(level, d))[0]  # (J, K)
    return inside @ model.weights


def mode_masses(weights, means, covs, ref=TEACHING, level: float = LEVEL) -> np.ndarray:
    """:func:`mode_mass` of C mixtures at once: ``weights`` (C, K), ``means`` (C, K, d), ``covs`` (C, K, d, d)
    (e.g. the fields of a batch of fits, :class:`collapse_lab.em.Fit`) -> (C, K_ref), the same numbers as one
    :func:`mode_mass` call per mixture (the same fixed draws)."""
    ref = _as_mixture(ref, "ref")
    if not (isinstance(level, float) and 0 < level < 1):
        raise ValueError(f"level must be a float in (0, 1); got {level!r}")
    w, m, c = (validate.array(a, v, min_size=0, finite=False)
               for a, v in (("weights", weights), ("means", means), ("covs", covs)))
    d = ref.dim
    if w.ndim != 2 or m.shape != w.shape + (d,) or c.shape != w.shape + (d, d):
        raise ValueError(f"weights, means, covs must have shapes (C, K), (C, K, {d}), (C, K, {d}, {d}); got "
                         f"{w.shape}, {m.shape}, {c.shape}")
    z = _Z if d == 2 else np.random.default_rng(20240724).standard_normal((4096, d))
    return np.einsum("cjk,ck->cj", inside_shares(m, c, ref, z, radius2(level, d)), w)


def inside_shares(means, covs, ref, z, r2: float, modes=None) -> np.ndarray:
    """Share of each component's points ``means[b, k] + chol(covs[b, k]) z_i`` inside each mode's ellipse of
    ``ref``: (B, J, K) for ``means`` (B, K, d), ``covs`` (B, K, d, d), fixed draws ``z`` (n, d), the squared
    Mahalanobis radius ``r2`` and the modes ``modes`` (default all J of ``ref``); what :func:`mode_mass` and
    :func:`mode_masses` weight by the components' weights.

    A point is inside mode j when ``|((x - mu_j) @ L_j)|^2 <= r2`` (``L_j L_j^T`` the mode's precision). Most pairs
    of a component and a mode are decided for all n points at once: the points lie within ``|z|max`` of the
    component's centre in its own metric, so when the whole ball is more than a safety margin outside the ellipse
    (or inside it) every point is (1e-8 relative: far wider than the rounding of the points' own computation).
    The other pairs are computed point by point exactly as one product over the whole batch would compute them
    (each component's points are one matrix product of their own), so the shares are the same numbers to the bit.
    """
    B, K, d = means.shape
    modes = list(range(ref.k) if modes is None else modes)
    n = len(z)
    chol = np.linalg.cholesky(covs)  # (B, K, d, d): x = m + z @ chol^T
    Li = np.linalg.cholesky(np.linalg.inv(ref.covs))  # (J, d, d): |(x - mu) Li|^2 = Mahalanobis^2
    zmax = float(np.sqrt((z * z).sum(1).max()))
    radius = math.sqrt(r2)
    out = np.empty((len(modes), B, K))
    need = np.zeros((len(modes), B, K), bool)
    for i, j in enumerate(modes):
        centre = np.sqrt(_sqsum((means - ref.means[j]) @ Li[j]))                   # (B, K): |(m - mu) L|
        spread = zmax * np.sqrt(((np.swapaxes(chol, -1, -2) @ Li[j]) ** 2).sum((-1, -2)))  # >= |z| |chol^T L|_2
        scale = np.sqrt((Li[j] ** 2).sum()) * (np.sqrt(_sqsum(means)) + np.sqrt(_sqsum(ref.means[j])))
        margin = 1e-8 * (1 + centre + spread + scale)
        out[i] = np.where(centre - spread > radius + margin, 0.0, 1.0)
        need[i] = (centre - spread <= radius + margin) & (centre + spread >= radius - margin)
    rows = np.flatnonzero(need.any(0).ravel())  # (b, k) pairs with some mode to compute point by point
    U = np.swapaxes(chol.reshape(B * K, d, d)[rows], -1, -2)
    centres = means.reshape(B * K, 1, d)[rows]
    for lo in range(0, rows.size, _PAIRS):  # a few pairs at a time, in arrays kept from call to call (cache-sized)
        at = slice(lo, min(lo + _PAIRS, rows.size))
        x = np.matmul(z, U[at], out=_scratch("mass_x", (at.stop - lo, n, d)))
        x += centres[at]                                                      # (pairs, n, d), as one batch would
        for i, j in enumerate(modes):
            sel = np.flatnonzero(need[i].ravel()[rows[at]])
            if not sel.size:
                continue
            part = x if sel.size == x.shape[0] else x[sel]
            y = np.subtract(part, ref.means[j], out=_scratch("mass_d", part.shape))
            y = np.matmul(y, Li[j], out=_scratch("mass_y", part.shape))
            np.square(y, out=y)
            # the sum over the coordinates: for d = 2 the one addition a sum over the last axis makes
            sq = y[..., 0] + y[..., 1] if d == 2 else y.sum(-1)
            out[i].reshape(-1)[rows[at][sel]] = np.count_nonzero(sq <= r2, axis=-1) / n
    return np.ascontiguousarray(np.swapaxes(out, 0, 1))


_PAIRS = 16  # (component, mode) pairs whose 4096 points are computed together: 16 x 4096 x 2 values, 1 MB


def _sqsum(a):
    """Sum of squares over the last axis, element-wise over its entries (short axes)."""
    out = a[..., 0] ** 2
    for c in range(1, a.shape[-1]):
        out = out + a[..., c] ** 2
    return out


def lost_generation(mass, original: float, below: float = LOST_BELOW):
    """First generation (index into ``mass``) where ``mass[g] < below * original``; None if it never happens.

    ``mass``: 1-D sequence, a mode's mass per generation (e.g. a ``mass_j`` column); ``original``: the mass the
    original distribution puts there (> 0); ``below``: the fraction in (0, 1) that counts as lost.
    """
    m = validate.array("mass", mass, min_size=0)
    if m.ndim != 1:
        raise ValueError(f"mass must be a 1-D sequence of masses per generation; got shape {m.shape}")
    original = validate.number("original", original, 0, lo_open=True)
    if not (isinstance(below, (int, float, np.floating)) and 0 < below < 1):
        raise ValueError(f"below must be a number in (0, 1); got {below!r}")
    hit = np.flatnonzero(m < below * original)
    return int(hit[0]) if hit.size else None


def weight_sd(w, n: int, g):
    """Standard deviation of a mode's weight after ``g`` generations of pure resampling of ``n`` points.

    Each generation the mode's count is Binomial(n, w): the weight keeps its mean and gains variance
    ``w (1 - w) / n`` scaled by what is left; after g generations ``Var = w (1 - w) (1 - (1 - 1/n)^g)``
    (Wright-Fisher drift). ``w`` in [0, 1] and ``g >= 0`` broadcast.
    """
    w, g = validate.array("w", w, min_size=1), validate.array("g", g, min_size=1)
    _int("n", n, 1)
    if np.any((w < 0) | (w > 1)) or np.any(g < 0):
        raise ValueError("w must lie in [0, 1] and g must be >= 0")
    out = np.sqrt(w * (1 - w) * (1 - (1 - 1 / n) ** g))
    return float(out) if out.ndim == 0 else out


def total_variance(model) -> float:
    """Total variance of a mixture: the trace of its covariance, within-component plus between-component spread
    (squared length units). The bulk statistic of a mixture chain: it collapses as the mixture narrows."""
    m = _as_mixture(model, "model")
    mean = m.weights @ m.means
    within = m.weights @ np.trace(m.covs, axis1=1, axis2=2)
    between = m.weights @ ((m.means - mean) ** 2).sum(1)
    return float(within + between)


# ---------------------------------------------------------------------------------------------------------------
# held-out measures


def heldout_loglik(model, x) -> float:
    """Mean log-likelihood (nats per point) of held-out real points ``x`` (m, d) under ``model``."""
    return float(np.mean(logpdf(_as_mixture(model, "model"), x)))


def tail_threshold(ref, x, q: float = 0.01) -> float:
    """``tau``: the ``q``-quantile of the reference density over points ``x`` drawn from it.

    Below ``tau`` the reference mixture keeps a fraction ``q`` of its points: its own "almost no density" region.
    """
    validate.number("q", q, 0, 1, lo_open=True, hi_open=True)
    return float(np.quantile(density(_as_mixture(ref, "ref"), x), q))


def tail_fraction(model, x, tau: float) -> float:
    """Fraction of held-out real points ``x`` (m, d) where ``model``'s density is below ``tau`` (> 0)."""
    validate.number("tau", tau, 0, lo_open=True)
    return float(np.mean(density(_as_mixture(model, "model"), x) < tau))


def metrics(ref, test, tau: float | None = None) -> dict:
    """Per-generation metrics for :func:`loop.run` against reference ``ref`` with held-out real points ``test``.

    Columns: ``distance`` (:func:`l2`), ``variance`` (:func:`total_variance`), ``loglik``, ``tail`` (with ``tau``,
    default :func:`tail_threshold`),
    ``weight_j``, ``det_j`` (:func:`tracked`) and ``mass_j`` (:func:`mode_mass`) for each mode j of ``ref``.
    """
    ref = _as_mixture(ref, "ref")
    test = _points(test, ref.dim, "test")
    tau = tail_threshold(ref, test) if tau is None else validate.number("tau", tau, 0, lo_open=True)
    last = threading.local()

    def logp(m):   # the held-out log-densities of the model, computed once for loglik and tail
        if getattr(last, "model", None) is not m:
            last.model, last.value = m, logpdf(_as_mixture(m, "model"), test)
        return last.value

    def follow(m):  # the tracked components, found once for weight and det
        if getattr(last, "tracked_model", None) is not m:
            last.tracked_model, last.tracked = m, tracked(ref, m)
        return last.tracked

    return {
        "distance": lambda m, _: l2(m, ref),
        "variance": lambda m, _: total_variance(m),
        "loglik": lambda m, _: float(np.mean(logp(m))),
        "tail": lambda m, _: float(np.mean(np.exp(logp(m)) < tau)),
        "weight": lambda m, _: dict(enumerate(follow(m)["weight"])),
        "det": lambda m, _: dict(enumerate(follow(m)["det"])),
        "mass": lambda m, _: dict(enumerate(mode_mass(m, ref))),
    }
