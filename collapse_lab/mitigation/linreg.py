"""Replace against accumulate in ridgeless linear regression (Gerstgrasser et al. 2024): the exact formulas, a
vectorised simulation, and the same model as a family of the generational loop."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .. import loop
from ..runtime import as_rng, progress
from ..validate import array as _array, integer as _int, number as _num, seed as _seed


def _lr_args(d, T, s):
    d = _int("d", d, 1)
    T = _int("T", T, 1)
    if T < d + 2:
        raise ValueError(f"T must be >= d + 2 (the formulas need T - d - 1 > 0); got d={d}, T={T}")
    return d, T, _num("s", s, 0, lo_open=True)



# ---------------------------------------------------------------------------------------------------------------
# 1. replace vs accumulate in linear regression (Gerstgrasser et al. 2024)


def linreg_formula(n, d: int = 10, T: int = 50, s: float = 1.0, policy: str = "replace"):
    """The expected excess risk E||w_n - w*||^2 after n fits (n = 1: the fit on real data).

    Parameters
    ----------
    n : int >= 1 or array of ints >= 1, the iteration (number of fits made so far).
    d : number of features (int >= 1); T : samples per iteration (int >= d + 2); s : label-noise std (> 0).
    policy : ``'replace'`` (E_n = s^2 d/(T-d-1) n) or ``'accumulate'`` (E_n = s^2 d/(T-d-1) sum_{i<=n} 1/i^2).

    Returns
    -------
    float (or array shaped like ``n``), in squared units of the weights.
    """
    d, T, s = _lr_args(d, T, s)
    if not isinstance(policy, str) or policy not in ("replace", "accumulate"):
        raise ValueError(f"policy must be 'replace' or 'accumulate'; got {policy!r}")
    arr = np.asarray(n)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer) or arr.size == 0 or np.any(arr < 1):
        raise ValueError(f"n must be an int >= 1 or an array of them; got {n!r}")
    base = s**2 * d / (T - d - 1)
    if policy == "replace":
        out = base * arr.astype(float)
    else:
        h2 = np.cumsum(1.0 / np.arange(1, int(arr.max()) + 1) ** 2)
        out = base * h2[arr - 1]
    return float(out) if out.ndim == 0 else out


def linreg_bound(d: int = 10, T: int = 50, s: float = 1.0) -> float:
    """The accumulate error's limit as n -> infinity: s^2 d/(T-d-1) * pi^2/6."""
    d, T, s = _lr_args(d, T, s)
    return s**2 * d / (T - d - 1) * math.pi**2 / 6


def linreg_simulate(policy: str = "replace", *, d: int = 10, T: int = 50, s: float = 1.0, n: int = 20,
                    reps: int = 2000, seed: int = 0) -> loop.History:
    """Simulate the replace / accumulate chains of ridgeless linear regression, ``reps`` replications at once.

    Each replication draws a design X (T, d) with i.i.d. N(0, 1) entries (isotropic features) and true weights
    w* ~ N(0, I/d). Iteration 1 fits least squares on y = X w* + s e; iteration i > 1 draws labels
    y_i = X w_{i-1} + s e_i from the previous fit on the same X, and fits either on (X, y_i) alone (replace) or on
    all the pairs (X, y_1), ..., (X, y_i) stacked (accumulate; computed exactly through the accumulated normal
    equations sum X^T X and sum X^T y, so memory stays flat). The error is ||w_i - w*||^2, the excess risk.

    Returns
    -------
    History with one row per iteration: ``n`` (1..n), ``generation`` (= n - 1, the loop's numbering), ``error``
    (mean over replications), ``se`` (its standard error) and ``formula`` (:func:`linreg_formula`).
    """
    d, T, s = _lr_args(d, T, s)
    if not isinstance(policy, str) or policy not in ("replace", "accumulate"):
        raise ValueError(f"policy must be 'replace' or 'accumulate'; got {policy!r}")
    n = _int("n", n, 1)
    reps = _int("reps", reps, 2)
    rng = as_rng(_seed("seed", seed))
    X = rng.standard_normal((reps, T, d))
    w_star = rng.standard_normal((reps, d)) / np.sqrt(d)
    XtX = np.einsum("rtd,rte->rde", X, X)
    w = w_star
    Xty_sum = np.zeros((reps, d))
    h = loop.History(meta={"policy": policy, "d": d, "T": T, "s": s, "reps": reps})
    for i in progress(range(1, n + 1), desc=f"linear regression · {policy}"):
        y = np.einsum("rtd,rd->rt", X, w) + s * rng.standard_normal((reps, T))
        Xty = np.einsum("rtd,rt->rd", X, y)
        if policy == "replace":
            w = np.linalg.solve(XtX, Xty[..., None])[..., 0]
        else:
            Xty_sum += Xty
            # the stacked design is X repeated i times: its Gram matrix is i X^T X
            w = np.linalg.solve(i * XtX, Xty_sum[..., None])[..., 0]
        err = np.sum((w - w_star) ** 2, axis=1)
        h.append({"n": i, "generation": i - 1, "error": float(err.mean()),
                  "se": float(err.std(ddof=1) / np.sqrt(reps)), "formula": linreg_formula(i, d, T, s, policy)})
    return h


def linreg_family(X=None, s: float = 1.0, d: int | None = None) -> loop.Family:
    """Ridgeless linear regression as a :class:`loop.Family`, ``R`` independent replications side by side.

    Data are arrays (N, R, d + 1): example i of replication r is the features ``[..., :d]`` and the label
    ``[..., d]``. ``fit`` solves least squares per replication -> weights (R, d). ``sample(w, n, rng)`` writes labels
    ``x . w + s e`` on the rows of the fixed design ``X`` (T, R, d) (the paper's setting; rows are reused
    cyclically if n > T), or on fresh N(0, I) features when ``X`` is None (then give ``d``; R = 1).
    """
    s = _num("s", s, 0, lo_open=True)
    if X is not None:
        X = _array("X", X, min_size=0, finite=False)
        if X.ndim != 3 or X.shape[0] < 1:
            raise ValueError(f"X must be a (T, R, d) array of features; got shape {X.shape}")
        dim = X.shape[2]
    else:
        dim = _int("d", d, 1) if d is not None else None
        if dim is None:
            raise ValueError("d must be given (an int >= 1) when X is None (fresh features)")

    def fit(data, rng):
        data = np.asarray(data, dtype=float)
        if data.ndim != 3 or data.shape[2] != dim + 1:
            raise ValueError(f"data must be (N, R, d + 1) = (N, R, {dim + 1}); got {data.shape}")
        # one Gram matrix of features and label gives X^T X and X^T y; optimize=True hands it to BLAS (4x faster
        # than einsum's own loop once accumulate has stacked thousands of examples)
        S = np.einsum("nrd,nre->rde", data, data, optimize=True)
        G, b = S[:, :dim, :dim], S[:, :dim, dim]
        # pinv: a filtered set can hold fewer than d examples; then this is the minimum-norm solution
        return np.einsum("rde,re->rd", np.linalg.pinv(G), b)

    def sample(w, n, rng):
        if X is not None:
            Xs = X[np.arange(n) % X.shape[0]]
        else:
            Xs = rng.standard_normal((n, w.shape[0], dim))
        y = np.einsum("nrd,rd->nr", Xs, w) + s * rng.standard_normal((n, w.shape[0]))
        return np.concatenate([Xs, y[..., None]], axis=2)

    return loop.Family(fit, sample, name="linear regression")


def linreg_error(w_star) -> Callable:
    """A loop metric: mean over replications of ||w - w*||^2, and its standard error (columns ``_mean``, ``_se``)."""
    w_star = _array("w_star", w_star, ndim=(1, 2), min_size=0, finite=False)
    w_star = np.atleast_2d(w_star)
    if w_star.ndim != 2 or w_star.size == 0 or not np.all(np.isfinite(w_star)):
        raise ValueError(f"w_star must be finite true weights, shape (R, d) or (d,); got shape {w_star.shape}")

    def metric(w, train):
        e = np.sum((np.asarray(w) - w_star) ** 2, axis=1)
        se = float(e.std(ddof=1) / np.sqrt(e.size)) if e.size > 1 else math.nan
        return {"mean": float(e.mean()), "se": se}

    return metric


def linreg_experiment(policy="replace", *, generations: int = 19, d: int = 10, T: int = 50, s: float = 1.0,
                      reps: int = 200, seed: int = 0) -> loop.History:
    """The linear-regression chain through :func:`loop.run`, ``reps`` replications side by side, any policy.

    Columns: ``generation`` (g; the paper's iteration is n = g + 1), ``n_train`` and ``error_mean`` / ``error_se``
    (E||w - w*||^2 over the replications). Real data: X (T, reps, d) ~ N(0, 1), w* ~ N(0, I/d), y = X w* + s e.
    """
    d, T, s = _lr_args(d, T, s)
    generations = _int("generations", generations, 0)
    reps = _int("reps", reps, 2)
    rng = np.random.default_rng([_seed("seed", seed), 5])
    X = rng.standard_normal((T, reps, d))
    w_star = rng.standard_normal((reps, d)) / np.sqrt(d)
    y = np.einsum("trd,rd->tr", X, w_star) + s * rng.standard_normal((T, reps))
    real = np.concatenate([X, y[..., None]], axis=2)
    return loop.run(linreg_family(X, s), real, generations, policy=policy, seed=seed,
                    metrics={"error": linreg_error(w_star)}, desc=f"linear regression · {loop.policy(policy)!r}")
