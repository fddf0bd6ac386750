"""Chapter 2: Gaussian mixture collapse (Shumailov et al., Nature 2024, the GMM experiment of the Methods).

A Gaussian mixture is fitted by EM (scikit-learn ``GaussianMixture``), N points are sampled from the fit, the next
mixture is fitted to those samples only, and so on. Three things go wrong at once, the paper's three error sources:

- **statistical** error: N samples never reproduce the mixture exactly; the weights drift like allele frequencies
  in a Wright-Fisher population (a binomial resampling) and the covariances shrink on average;
- **functional approximation** error: EM from a random (k-means) start can land in a local optimum, e.g. one
  component over two modes and two over one;
- **functional expressivity** error: a mixture with fewer components than modes cannot represent the truth at all.

A mixture is a :class:`Mixture` ``(weights (K,), means (K, d), covs (K, d, d))``. The two reference mixtures:

- :data:`TEACHING`: 2-D, three well separated modes with weights 0.6 / 0.3 / 0.1 (``MODES`` names them major,
  middle, minor): the minor mode is the one to watch;
- :data:`PAPER`: 2-D, two modes, for the paper's reference setting (:func:`paper`: 2 components, N = 1000,
  snapshots 0, 50, 100, 150, 200, 350, 2000). The paper's released code drew its data from one blob; here the data
  really are a mixture.

Definitions used throughout (the notebook explains them):

- **distance**: the L2 distance ``sqrt(integral (p - q)^2 dx)`` between two mixtures, in closed form (:func:`l2`).
- **matching**: original mode j is matched to a fitted component by the Hungarian algorithm on the squared
  Euclidean distances between means (:func:`match`), so per-mode weights and covariance determinants can be
  followed although EM numbers its components arbitrarily; a partner whose mean lies outside the mode's 99% ellipse
  does not represent it (weight 0, :func:`tracked`).
- **mass near a mode**: the probability the fitted mixture gives to mode j's original 99% ellipse
  ``{x : (x - mu_j)^T Sigma_j^-1 (x - mu_j) <= chi2_d(0.99)}`` (:func:`mode_mass`). It depends on the density only,
  not on how EM labels or splits its components.
- **mode lost**: mode j is lost at the first generation where its mass falls below ``LOST_BELOW`` = 1/10 of the mass
  the original mixture puts there (:func:`lost_generation`). The threshold is relative, so the minor mode is not
  declared lost sooner merely because it starts small; it is a first passage: a lost mode can, rarely, come back.
- **tail fraction**: the fraction of held-out real points where the generation-n density is below ``tau``, the
  density level under which the original mixture keeps only 1% of its own points (:func:`tail_threshold`); it starts
  near 1% and grows as the model forgets the regions it no longer covers.
"""
from __future__ import annotations

import math
import threading
import warnings
from contextlib import contextmanager
from typing import NamedTuple, Sequence

import numpy as np

from . import em, loop
from .profiles import pick
from .runtime import as_rng, in_threads, progress, threads
from . import validate
from .validate import integer as _int

# ---------------------------------------------------------------------------------------------------------------
# sizes

_PAPER_SNAPSHOTS = (0, 50, 100, 150, 200, 350, 2000)


def _scaled(factor):
    return tuple(int(round(g * factor)) for g in _PAPER_SNAPSHOTS)


SIZES = {
    "quick": {
        "N": 200, "n_test": 2000, "generations": 60, "snapshots": (0, 5, 15, 30, 60),
        "seeds": 20, "seed_generations": 100, "seed_N": 100,
        "sweep_N": (100, 300, 1000), "sweep_seeds": 3, "sweep_generations": 50,
        "n_big": 5000, "init_seeds": 20, "stat_N": (100, 300, 1000, 3000), "stat_reps": 5,
        "paper_N": 1000, "paper_snapshots": _scaled(1 / 50),
        "explore_N": (200, 100, 1000), "explore_generations": (40, 20, 100),
    },
    "standard": {
        "N": 500, "n_test": 5000, "generations": 300, "snapshots": (0, 25, 50, 100, 200, 300),
        "seeds": 60, "seed_generations": 400, "seed_N": 500,
        "sweep_N": (100, 300, 1000, 3000), "sweep_seeds": 4, "sweep_generations": 150,
        "n_big": 20000, "init_seeds": 50, "stat_N": (100, 300, 1000, 3000, 10000), "stat_reps": 10,
        "paper_N": 1000, "paper_snapshots": _scaled(1 / 10),
        "explore_N": (500, 250, 2000), "explore_generations": (100, 50, 300),
    },
    "paper": {
        "N": 1000, "n_test": 10000, "generations": 2000, "snapshots": (0, 50, 100, 150, 200, 350, 2000),
        "seeds": 100, "seed_generations": 2000, "seed_N": 1000,
        "sweep_N": (100, 300, 1000, 3000, 10000), "sweep_seeds": 10, "sweep_generations": 1000,
        "n_big": 100000, "init_seeds": 100, "stat_N": (100, 300, 1000, 3000, 10000, 30000), "stat_reps": 20,
        "paper_N": 1000, "paper_snapshots": _PAPER_SNAPSHOTS,
        "explore_N": (1000, 250, 3000), "explore_generations": (200, 50, 1000),
    },
}


def sizes(profile: str | None = None):
    """The chapter's sizes for ``profile`` (default: the active one) as attributes, e.g. ``sizes().N``.

    ``N`` real points per generation, ``n_test`` held-out real points, ``generations`` and ``snapshots`` of the
    teaching chain; ``seeds`` x ``seed_generations`` (at ``seed_N``) for the many-seeds count; ``sweep_*`` for the
    N-sweep; ``n_big``, ``init_seeds``, ``stat_N``, ``stat_reps`` for the three error sources; ``paper_N`` and
    ``paper_snapshots`` for the paper's reference setting (its 0..2000 snapshots scaled by 1/50 in quick, 1/10 in
    standard); ``explore_*`` the explorer's choices.
    """
    return pick(SIZES, profile)


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
        raise ValueError(f"weights, means, covs must have shapes (K,), (K, d), (K, d, d); got {w.shape}, {m.shape}, {c.shape}")
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
    sq = (p.weights @ overlaps(p, p) @ p.weights - 2 * p.weights @ overlaps(p, q) @ q.weights
          + q.weights @ overlaps(q, q) @ q.weights)
    sq = max(float(sq), 0.0)  # rounding can leave a tiny negative when p == q
    return sq if squared else math.sqrt(sq)


# ---------------------------------------------------------------------------------------------------------------
# fitting: the paper's EM


_single = [0]  # nesting depth of one_thread(): only the outermost one pays threadpoolctl's few milliseconds


@contextmanager
def one_thread():
    """Run BLAS/OpenMP single-threaded: small EM fits are faster and steadier that way on a shared machine."""
    if _single[0]:
        _single[0] += 1
        try:
            yield
        finally:
            _single[0] -= 1
        return
    import scipy.linalg  # noqa: F401  load the BLAS/OpenMP libraries first: threadpoolctl only limits loaded ones
    import sklearn.mixture  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        _single[0] += 1
        try:
            yield
        finally:
            _single[0] -= 1


INITS = ("kmeans", "k-means++", "random", "random_from_data", "warm")


def fit(data, k: int = 3, rng=None, init: str = "kmeans", n_init: int = 1, start: Mixture | None = None) -> Mixture:
    """Fit a ``k``-component full-covariance mixture to ``data`` (n, d) by EM, the paper's way.

    scikit-learn ``GaussianMixture(k, covariance_type="full", tol=1e-5, max_iter=2000)``; ``init`` is sklearn's
    ``init_params`` (default ``"kmeans"``, as in the paper) with ``n_init`` restarts, the best kept; or ``"warm"``:
    EM starts from the mixture ``start`` (which must have ``k`` components). The random state comes from ``rng``.
    With ``init="kmeans"`` or ``"warm"`` and one start, the fit is computed by :func:`collapse_lab.em.fit` (the
    same algorithm and random draws as sklearn, so the same mixture to rounding, several times faster).
    """
    from sklearn.mixture import GaussianMixture

    _int("k", k, 1)
    _int("n_init", n_init, 1)
    if not isinstance(init, str) or init not in INITS:
        raise ValueError(f"init must be one of {INITS}; got {init!r}")
    x = validate.array("data", data)
    if x.ndim != 2 or len(x) < k:
        raise ValueError(f"data must have shape (n, d) with n >= k={k}; got {x.shape}")
    rng = as_rng(rng)
    kw = dict(covariance_type="full", tol=1e-5, max_iter=2000, random_state=int(rng.integers(2**31 - 1)))
    if init == "warm":
        start = _as_mixture(start, "start") if start is not None else None
        if start is None or start.k != k:
            raise ValueError("init='warm' needs start, a Mixture with k components")
        kw.update(weights_init=start.weights, means_init=start.means,
                  precisions_init=np.linalg.inv(start.covs + 1e-6 * np.eye(x.shape[1])))
    else:
        kw.update(init_params=init, n_init=n_init)
    if init in ("kmeans", "warm") and n_init == 1:  # the same fit from the batched EM, without sklearn's overhead
        start = (start.weights, start.means, start.covs + 1e-6 * np.eye(x.shape[1])) if init == "warm" else None
        with one_thread():
            f = em.fit(x, k, [kw["random_state"]], init=init, start=start)
        return Mixture(*f.chain(0))
    with one_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on collapsed data is expected, and recorded as is
        g = GaussianMixture(k, **kw).fit(x)
    return Mixture(g.weights_.copy(), g.means_.copy(), g.covariances_.copy())


def family(k: int = 3, init: str = "kmeans", n_init: int = 1) -> loop.Family:
    """The GMM as a :class:`loop.Family`: ``fit(data, rng) -> Mixture`` (see :func:`fit`), ``sample(model, n, rng)``.

    With ``init="warm"`` each fit starts EM from the previous fit of the same family object (the first one from
    k-means), so use a fresh ``family(...)`` per chain.
    """
    _int("k", k, 1)
    _int("n_init", n_init, 1)
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}; got {init!r}")
    last = []

    def fit_(data, rng):
        if init == "warm":
            m = fit(data, k, rng, init="warm", start=last[-1]) if last else fit(data, k, rng, n_init=n_init)
            last[:] = [m]
            return m
        return fit(data, k, rng, init=init, n_init=n_init)

    return loop.Family(fit=fit_, sample=sample, name=f"gmm k={k} {init}")


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
    from scipy.stats import chi2

    ref, model = _as_mixture(ref, "ref"), _as_mixture(model, "model")
    if not (isinstance(level, float) and 0 < level < 1):
        raise ValueError(f"level must be a float in (0, 1); got {level!r}")
    j = match(ref, model)
    k = np.maximum(j, 0)
    diff = model.means[k] - ref.means
    m2 = np.einsum("ji,jil,jl->j", diff, np.linalg.inv(ref.covs), diff)
    ok = (j >= 0) & (m2 <= chi2.ppf(level, ref.dim))
    w = np.where(ok, model.weights[k], 0.0)
    det = np.where(ok, np.linalg.det(model.covs[k]), np.nan)
    return {"weight": w, "det": det}


_Z = np.random.default_rng(20240724).standard_normal((4096, 2))  # fixed draws: mode_mass is deterministic


def mode_mass(model, ref=TEACHING, level: float = LEVEL) -> np.ndarray:
    """Probability ``model`` gives to each mode's ``level`` ellipse of ``ref``, shape (K_ref,).

    Mode j's ellipse: ``{x : (x - mu_j)^T Sigma_j^-1 (x - mu_j) <= chi2_d(level)}`` under the reference mixture.
    Computed per fitted component from 4096 fixed standard-normal draws mapped through its Cholesky factor (the
    same draws every call: deterministic, and no grid to outgrow when a component shrinks).
    """
    from scipy.stats import chi2

    model, ref = _as_mixture(model, "model"), _as_mixture(ref, "ref")
    if not (isinstance(level, float) and 0 < level < 1):
        raise ValueError(f"level must be a float in (0, 1); got {level!r}")
    d = ref.dim
    if model.dim != d:
        raise ValueError(f"model and ref must have the same dimension; got {model.dim} and {d}")
    z = _Z if d == 2 else np.random.default_rng(20240724).standard_normal((4096, d))
    r2 = chi2.ppf(level, d)
    x = model.means[:, None, :] + z @ np.swapaxes(np.linalg.cholesky(model.covs), 1, 2)  # (K, n, d)
    Li = np.linalg.cholesky(np.linalg.inv(ref.covs))  # (J, d, d): |(x - mu) Li|^2 = Mahalanobis^2
    inside = np.stack([(((x - mu) @ L) ** 2).sum(-1) <= r2 for mu, L in zip(ref.means, Li)])  # (J, K, n)
    return inside.mean(-1) @ model.weights


def mode_masses(weights, means, covs, ref=TEACHING, level: float = LEVEL) -> np.ndarray:
    """:func:`mode_mass` of C mixtures at once: ``weights`` (C, K), ``means`` (C, K, d), ``covs`` (C, K, d, d)
    (e.g. the fields of a batch of fits, :class:`collapse_lab.em.Fit`) -> (C, K_ref), the same numbers as one
    :func:`mode_mass` call per mixture (the same fixed draws)."""
    from scipy.stats import chi2

    ref = _as_mixture(ref, "ref")
    if not (isinstance(level, float) and 0 < level < 1):
        raise ValueError(f"level must be a float in (0, 1); got {level!r}")
    w, m, c = (np.asarray(v, dtype=float) for v in (weights, means, covs))
    d = ref.dim
    if w.ndim != 2 or m.shape != w.shape + (d,) or c.shape != w.shape + (d, d):
        raise ValueError(f"weights, means, covs must have shapes (C, K), (C, K, {d}), (C, K, {d}, {d}); got "
                         f"{w.shape}, {m.shape}, {c.shape}")
    z = _Z if d == 2 else np.random.default_rng(20240724).standard_normal((4096, d))
    r2 = chi2.ppf(level, d)
    x = m[:, :, None, :] + z @ np.swapaxes(np.linalg.cholesky(c), -1, -2)  # (C, K, n, d)
    Li = np.linalg.cholesky(np.linalg.inv(ref.covs))
    inside = np.stack([(((x - mu) @ L) ** 2).sum(-1) <= r2 for mu, L in zip(ref.means, Li)], 1)  # (C, J, K, n)
    return np.einsum("cjk,ck->cj", inside.mean(-1), w)


def lost_generation(mass, original: float, below: float = LOST_BELOW):
    """First generation (index into ``mass``) where ``mass[g] < below * original``; None if it never happens.

    ``mass``: 1-D sequence, a mode's mass per generation (e.g. a ``mass_j`` column); ``original``: the mass the
    original distribution puts there (> 0); ``below``: the fraction in (0, 1) that counts as lost.
    """
    m = validate.array("mass", mass, min_size=0)
    if m.ndim != 1:
        raise ValueError(f"mass must be a 1-D sequence of masses per generation; got shape {m.shape}")
    if not (isinstance(original, (int, float, np.floating)) and original > 0):
        raise ValueError(f"original must be a number > 0; got {original!r}")
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
    return float(np.quantile(density(ref, x), q))


def tail_fraction(model, x, tau: float) -> float:
    """Fraction of held-out real points ``x`` (m, d) where ``model``'s density is below ``tau`` (> 0)."""
    validate.number("tau", tau, 0, lo_open=True)
    return float(np.mean(density(_as_mixture(model, "model"), x) < tau))


def metrics(ref, test, tau: float | None = None) -> dict:
    """Per-generation metrics for :func:`loop.run` against reference ``ref`` with held-out real points ``test``.

    Columns: ``distance`` (:func:`l2`), ``loglik``, ``tail`` (with ``tau``, default :func:`tail_threshold`),
    ``weight_j``, ``det_j`` (:func:`tracked`) and ``mass_j`` (:func:`mode_mass`) for each mode j of ``ref``.
    """
    ref = _as_mixture(ref, "ref")
    test = _points(test, ref.dim, "test")
    tau = tail_threshold(ref, test) if tau is None else tau
    return {
        "distance": lambda m, _: l2(m, ref),
        "loglik": lambda m, _: heldout_loglik(m, test),
        "tail": lambda m, _: tail_fraction(m, test, tau),
        "weight": lambda m, _: dict(enumerate(tracked(ref, m)["weight"])),
        "det": lambda m, _: dict(enumerate(tracked(ref, m)["det"])),
        "mass": lambda m, _: dict(enumerate(mode_mass(m, ref))),
    }


# ---------------------------------------------------------------------------------------------------------------
# experiments


def data(seed: int = 0, n: int | None = None, n_test: int | None = None, ref=TEACHING, profile=None):
    """Real training points (n, d) and held-out real points (n_test, d) from ``ref``; independent streams of ``seed``."""
    _int("seed", seed, 0)
    s = sizes(profile)
    n = s.N if n is None else n
    n_test = s.n_test if n_test is None else n_test
    _int("n", n, 1)
    _int("n_test", n_test, 1)
    return (sample(ref, n, np.random.default_rng([seed, 0])), sample(ref, n_test, np.random.default_rng([seed, 1])))


def experiment(policy="replace", *, generations=None, seed=0, profile=None, n=None, k=3, init="kmeans",
               n_init=1, keep=None, ref=TEACHING, full=True) -> loop.History:
    """The chapter's chain: EM on N points of the teaching mixture, sample N, refit, ``generations`` times.

    Parameters
    ----------
    policy : a :func:`loop.policy` name or object (``replace``: the model's own samples only).
    generations : int >= 0; default ``sizes().generations``.
    seed : int >= 0; the same seed gives the same numbers (real data, held-out data and the chain).
    n : real points per generation; default ``sizes().N``.
    k, init, n_init : the EM fitted each generation (see :func:`fit`; ``k`` != 3 is the expressivity experiment,
        ``init="warm"`` removes the random restarts of EM).
    keep : generations whose fitted :class:`Mixture` is kept in ``history.models``; default ``sizes().snapshots``.
    ref : the original mixture (default :data:`TEACHING`).
    full : False records only ``distance`` and ``mass_j`` (faster: what the many-seeds study needs).

    Returns
    -------
    :class:`loop.History` with ``distance`` (L2 to ``ref``), and with ``full``: ``loglik``, ``tail``,
    ``weight_j``, ``det_j``, ``mass_j``; ``meta`` holds ``original_mass``, ``lost`` (mode -> generation or None),
    ``tau``.
    """
    s = sizes(profile)
    generations = s.generations if generations is None else generations
    _int("generations", generations, 0)
    ref = _as_mixture(ref, "ref")
    real, test = data(seed, n=s.N if n is None else n, n_test=s.n_test, ref=ref)
    keep = tuple(g for g in (s.snapshots if keep is None else keep) if g <= generations)
    ms = metrics(ref, test)
    if not full:
        ms = {"distance": ms["distance"], "mass": ms["mass"]}
    with one_thread():
        h = loop.run(family(k, init, n_init), real, generations, policy=policy, metrics=ms,
                     seed=np.random.default_rng([seed, 2]), keep=keep, desc=f"gmm k={k} seed {seed}")
    _annotate(h, ref, test)
    return h


def _annotate(h, ref, test):
    orig = mode_mass(ref, ref)
    h.meta.update(original_mass=[float(x) for x in orig], tau=tail_threshold(ref, test))
    h.meta["lost"] = {j: lost_generation(h[f"mass_{j}"], float(orig[j])) for j in range(ref.k)}


class _Lost(Exception):
    pass


def first_loss(seed: int = 0, *, n=None, generations=None, k=3, init="kmeans", profile=None, ref=TEACHING) -> dict:
    """Run the chain of ``experiment(seed=seed, n=n, k=k, init=init)`` until the first mode is lost.

    Stops at the first generation where some mode's mass is below ``LOST_BELOW`` of the original (or after
    ``generations``, default ``sizes().seed_generations``; ``n`` defaults to ``sizes().seed_N``). Returns
    ``{"seed", "generation" (None if nothing was lost), "lost" (tuple of mode indices lost at that generation),
    "first" (the mode name, "tie" when several are lost together, "none")}``.
    """
    s = sizes(profile)
    generations = s.seed_generations if generations is None else generations
    n = s.seed_N if n is None else n
    _int("generations", generations, 0)
    ref = _as_mixture(ref, "ref")
    real, _ = data(seed, n=n, n_test=1, ref=ref)
    orig = mode_mass(ref, ref)
    hit = {}

    def stop(g, model, history):
        lost = np.flatnonzero(mode_mass(model, ref) < LOST_BELOW * orig)
        if lost.size:
            hit.update(generation=g, lost=tuple(int(j) for j in lost))
            raise _Lost

    with one_thread():
        try:
            loop.run(family(k, init), real, generations, seed=np.random.default_rng([seed, 2]), callback=stop,
                     desc=f"seed {seed}")
        except _Lost:
            pass
    names = MODES if ref is TEACHING else tuple(str(j) for j in range(ref.k))
    if not hit:
        return {"seed": seed, "generation": None, "lost": (), "first": "none"}
    first = names[hit["lost"][0]] if len(hit["lost"]) == 1 else "tie"
    return {"seed": seed, **hit, "first": first}


def _seeds(seeds) -> list:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        _int("seeds", seeds, 1)
        seeds = range(int(seeds))
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must be an int >= 1 or a non-empty list of seeds")
    for v in seeds:
        _int("seeds[i]", v, 0)
    return seeds


def lockstep(reals, generations: int, *, seeds, k: int = 3, init: str = "kmeans", callback=None, measure=None,
             desc="chains"):
    """Many ``replace`` chains of the GMM advanced together: one batched EM (:func:`collapse_lab.em.fit`) per
    generation for all chains still running.

    Chain i starts from ``reals[i]`` (n, d) (the same n for all) and draws from ``np.random.default_rng([seeds[i],
    2])`` exactly what :func:`experiment` draws, so each chain is the chain ``experiment(seed=seeds[i], ...)``
    runs alone (the same numbers to rounding). ``init``: ``"kmeans"`` or ``"warm"`` (as :func:`family`).
    ``callback(g, i, model, train)`` after each fit; a True return stops chain i. With ``measure`` (a function of
    a batch of fits, :class:`collapse_lab.em.Fit`, returning one value per chain), the callback is
    ``callback(g, i, model, train, value)``: one vectorised measurement for the batch instead of one per chain.
    The chains are split into :func:`~collapse_lab.runtime.threads` groups advanced on parallel threads (a chain's
    numbers do not depend on its group). Returns nothing.
    """
    if init not in ("kmeans", "warm"):
        raise ValueError(f"init must be 'kmeans' or 'warm' for chains in lockstep; got {init!r}")
    _int("generations", generations, 0)
    x = np.stack([np.asarray(r, dtype=float) for r in reals])
    rngs = [np.random.default_rng([int(sd), 2]) for sd in seeds]
    groups = [g for g in np.array_split(np.arange(len(x)), min(threads(), len(x))) if g.size]
    bar = progress(total=(generations + 1) * len(groups), desc=desc)

    def run(group):
        active = [int(i) for i in group]
        models: dict = {}
        for g in range(generations + 1):
            if not active:
                break
            states = [int(rngs[i].integers(2**31 - 1)) for i in active]  # gmm.fit's draw
            if init == "warm" and g > 0:
                prev = [models[i] for i in active]
                start = (np.stack([m.weights for m in prev]), np.stack([m.means for m in prev]),
                         np.stack([m.covs for m in prev]) + 1e-6 * np.eye(x.shape[2]))
                f = em.fit(x[active], k, states, init="warm", start=start)
            else:
                f = em.fit(x[active], k, states)
            values = None if measure is None else measure(f)
            keep = []
            for j, i in enumerate(active):
                models[i] = Mixture(*f.chain(j))
                if callback is None:
                    stop = False
                elif measure is None:
                    stop = callback(g, i, models[i], x[i])
                else:
                    stop = callback(g, i, models[i], x[i], values[j])
                if not stop:
                    keep.append(i)
            active = keep
            if g < generations:
                for i in active:
                    x[i] = sample(models[i], x.shape[1], rngs[i])
            bar.update()

    try:
        in_threads(run, groups)
    finally:
        bar.close()


def experiments(seeds, *, generations=None, n=None, k=3, init="kmeans", keep=(), ref=TEACHING, full=False,
                profile=None) -> list[loop.History]:
    """:func:`experiment` (``replace`` policy) for every seed of ``seeds`` (an int: seeds 0..seeds-1), all chains
    fitted together by the batched EM; the same histories as one :func:`experiment` call per seed, to rounding.

    Defaults as :func:`experiment` except ``keep`` (no models kept) and ``full`` (False: ``distance`` and
    ``mass_j`` only). ``seconds``: the time of the generation's batch so far (its fit, then the metrics of the
    chains recorded before) divided by the chains recorded: about the cost per chain.
    """
    import time

    seeds = _seeds(seeds)
    s = sizes(profile)
    generations = s.generations if generations is None else generations
    _int("generations", generations, 0)
    n = s.N if n is None else n
    ref = _as_mixture(ref, "ref")
    pairs = [data(sd, n=n, n_test=s.n_test, ref=ref) for sd in seeds]
    hs = []
    for sd, (real, test) in zip(seeds, pairs):
        ms = metrics(ref, test)
        if not full:
            ms = {"distance": ms["distance"], "mass": ms["mass"]}
        hs.append(loop.History(meta={"policy": repr(loop.policy("replace")), "n": int(n), "generations": generations,
                                     "family": f"gmm k={k} {init}"}))
        hs[-1].meta["_metrics"] = ms
    keep = {int(g) for g in keep}
    clocks: dict = {}  # per thread (a group of chains): start of the generation, its number, chains in it

    def record(g, i, model, train, mass):
        clock = clocks.setdefault(threading.get_ident(), [0.0, -1, 0, set()])
        if g != clock[1]:
            clock[:] = [time.perf_counter(), g, 0, set()]
        clock[3].add(i)
        clock[2] = len(clock[3])
        h = hs[i]
        row = {"generation": g, "n_train": len(train)}
        for name, f in h.meta["_metrics"].items():
            v = dict(enumerate(mass)) if name == "mass" else f(model, train)
            if isinstance(v, dict):
                row.update({f"{name}_{kk}": float(x) for kk, x in v.items()})
            else:
                row[name] = float(v)
        row["seconds"] = (time.perf_counter() - clock[0]) / max(1, clock[2])
        h.append(row)
        if g in keep:
            h.models[g] = model
        return False

    with one_thread():
        lockstep([p[0] for p in pairs], generations, seeds=seeds, k=k, init=init, callback=record,
                 measure=lambda f: mode_masses(f.weights, f.means, f.covs, ref),
                 desc=f"{len(seeds)} chains, N = {n}")
    for h, (_, test) in zip(hs, pairs):
        del h.meta["_metrics"]
        _annotate(h, ref, test)
    return hs


def first_losses(seeds, *, n=None, generations=None, k=3, init="kmeans", profile=None, ref=TEACHING) -> list[dict]:
    """:func:`first_loss` for every seed of ``seeds`` (an int: seeds 0..seeds-1), all chains advanced together by
    the batched EM (the same rows as one :func:`first_loss` call per seed, to rounding)."""
    seeds = _seeds(seeds)
    s = sizes(profile)
    generations = s.seed_generations if generations is None else generations
    n = s.seed_N if n is None else n
    _int("generations", generations, 0)
    ref = _as_mixture(ref, "ref")
    orig = mode_mass(ref, ref)
    names = MODES if ref is TEACHING else tuple(str(j) for j in range(ref.k))
    rows = [{"seed": sd, "generation": None, "lost": (), "first": "none"} for sd in seeds]

    def stop(g, i, model, train, mass):
        lost = tuple(int(j) for j in np.flatnonzero(mass < LOST_BELOW * orig))
        if lost:
            rows[i].update(generation=g, lost=lost, first=names[lost[0]] if len(lost) == 1 else "tie")
        return bool(lost)

    with one_thread():
        lockstep([data(sd, n=n, n_test=1, ref=ref)[0] for sd in seeds], generations, seeds=seeds, k=k, init=init,
                 callback=stop, measure=lambda f: mode_masses(f.weights, f.means, f.covs, ref),
                 desc=f"{len(seeds)} seeds")
    return rows


def count_first(rows) -> dict:
    """How often each mode was lost first: ``{name: count}`` over ``MODES`` plus ``"tie"`` and ``"none"``."""
    out = {name: 0 for name in (*MODES, "tie", "none")}
    for r in rows:
        if r.get("first") not in out:
            raise ValueError(f"rows must come from first_loss(); got first={r.get('first')!r}")
        out[r["first"]] += 1
    return out


def sweep(ns: Sequence[int] | None = None, seeds: int | None = None, generations: int | None = None,
          profile=None) -> dict:
    """The N-sweep: ``{N: [History, ...]}`` (``seeds`` chains per N, distance and masses only)."""
    s = sizes(profile)
    ns = tuple(s.sweep_N if ns is None else ns)
    seeds = s.sweep_seeds if seeds is None else seeds
    generations = s.sweep_generations if generations is None else generations
    _int("seeds", seeds, 1)
    for v in ns:
        _int("ns[i]", v, 10)
    return {N: experiments(seeds, generations=generations, n=N, profile=profile) for N in progress(ns, desc="N-sweep")}


def trend(ns, values) -> tuple[float, float]:
    """Least-squares line ``log10(value) = a + b log10(N)``: returns ``(a, b)`` (``b``: the power-law exponent)."""
    x, y = np.log10(np.asarray(ns, dtype=float)), np.log10(np.asarray(values, dtype=float))
    if x.shape != y.shape or x.size < 2 or not np.all(np.isfinite(x)) or not np.all(np.isfinite(y)):
        raise ValueError("ns and values must be positive, finite and of the same length >= 2")
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b)


def error_sources(seed: int = 0, profile=None, ref=TEACHING) -> dict:
    """The paper's three error sources, each isolated in one fit-only experiment (no generational loop).

    - ``expressivity``: ``{k: L2}`` for k = 1..4 components, best of 10 EM restarts on ``n_big`` points (so the
      other two errors are small): k < 3 cannot reach the truth.
    - ``approximation``: L2 of the k = 3 fit on the same ``n_big`` points from ``init_seeds`` single k-means starts
      (array): only the start changes, so the spread is EM's local optima.
    - ``statistical``: ``{N: mean L2}`` of the k = 3 fit started at the truth (no local-optimum error) on N fresh
      points, ``stat_reps`` repetitions: shrinks like N^-1/2 and never reaches 0.
    - ``best``: the best L2 seen on the ``n_big`` points.
    """
    _int("seed", seed, 0)
    s = sizes(profile)
    ref = _as_mixture(ref, "ref")
    big = sample(ref, s.n_big, np.random.default_rng([seed, 3]))
    rng = np.random.default_rng([seed, 4])
    with one_thread():
        expr = {kk: l2(fit(big, kk, rng, n_init=10), ref) for kk in progress(range(1, 5), desc="expressivity")}
        approx = np.array([l2(fit(big, ref.k, np.random.default_rng([seed, 5, i])), ref)
                           for i in progress(range(s.init_seeds), desc="initialisations")])
        stat = {}
        for N in progress(s.stat_N, desc="statistical"):
            d = [l2(fit(sample(ref, N, rng), ref.k, rng, init="warm", start=ref), ref) for _ in range(s.stat_reps)]
            stat[N] = float(np.mean(d))
    return {"expressivity": expr, "approximation": approx, "statistical": stat,
            "best": float(min(min(expr.values()), approx.min()))}


def paper(generations=None, seed: int = 0, profile=None) -> loop.History:
    """The paper's reference setting in one call: sklearn EM (full covariance, tol 1e-5, max_iter 2000), 2
    components, N = 1000 per generation, fit -> sample 1000 -> refit, on the 2-mode mixture :data:`PAPER`.

    Runs to the last snapshot of ``sizes().paper_snapshots`` (0, 50, 100, 150, 200, 350, 2000 in the paper profile;
    divided by 10 in standard and by 50 in quick) unless ``generations`` is given; the snapshot models are kept in
    ``history.models``. Columns as :func:`experiment` (``distance`` is the L2 distance to :data:`PAPER`).
    """
    s = sizes(profile)
    generations = s.paper_snapshots[-1] if generations is None else generations
    return experiment(generations=generations, seed=seed, profile=profile, n=s.paper_N, k=2,
                      keep=s.paper_snapshots, ref=PAPER)


# ---------------------------------------------------------------------------------------------------------------
# figures


def extent(ref=TEACHING, pad: float = 3.5) -> tuple[float, float, float, float]:
    """Plot limits ``(x0, x1, y0, y1)`` around a 2-D mixture: every mean +- ``pad`` of its largest sd."""
    ref = _as_mixture(ref, "ref")
    if ref.dim != 2:
        raise ValueError(f"ref must be a 2-D mixture; got dimension {ref.dim}")
    sd = np.sqrt(np.linalg.eigvalsh(ref.covs).max(1))[:, None]
    lo, hi = (ref.means - pad * sd).min(0), (ref.means + pad * sd).max(0)
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def plot_density(mix, ax=None, ref=TEACHING, points=None, title: str | None = None, n: int = 160):
    """Density contours of a 2-D mixture ``mix`` (solid) over the reference's (grey, dashed), on ``ax``.

    The contour levels are fixed fractions (1%, 5%, 20%, 50%) of the reference's peak density, so panels of
    different generations are comparable; crosses mark the reference means; ``points`` (m, 2) are scattered lightly.
    """
    import matplotlib.pyplot as plt

    mix, ref = _as_mixture(mix, "mix"), _as_mixture(ref, "ref")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    x0, x1, y0, y1 = extent(ref)
    xx, yy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    top = density(ref, grid).max()
    levels = top * np.array([0.01, 0.05, 0.2, 0.5])
    if points is not None:
        pts = _points(points, 2)
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.25, color="0.5")
    ax.contour(xx, yy, density(ref, grid).reshape(xx.shape), levels=levels, colors="0.6", linestyles="--",
               linewidths=0.8)
    ax.contour(xx, yy, density(mix, grid).reshape(xx.shape), levels=levels, cmap="viridis", linewidths=1.2)
    ax.plot(ref.means[:, 0], ref.means[:, 1], "k+", ms=8)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
    if title:
        ax.set_title(title)
    return ax
