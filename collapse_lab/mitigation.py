"""Chapter 5: what prevents collapse. Accumulate, keep real data, verify, monitor the tails.

Everything here sits on top of the generational loop (:mod:`collapse_lab.loop`) and the family chapters; it adds no
new model of its own except the small ones the mitigation papers reason with:

- **Replace vs accumulate** (Gerstgrasser et al. 2024, "Is Model Collapse Inevitable?"): ridgeless
  linear regression, d isotropic Gaussian features, T samples per iteration, label noise s. The *test error* here
  is the excess risk ``E||w_n - w*||^2`` (with isotropic features the test MSE is s^2 plus this): iteration n = 1
  is the fit on the real data, each later iteration refits on labels the previous fit wrote on the same design
  matrix X (the paper's fixed design). Then, averaged over X and the noise,

      replace:     E_n = s^2 d/(T-d-1) * n
      accumulate:  E_n = s^2 d/(T-d-1) * sum_{i<=n} 1/i^2   (< s^2 d/(T-d-1) * pi^2/6)

  :func:`linreg_formula` gives both, :func:`linreg_simulate` simulates them (vectorised, many replications),
  :func:`linreg_family` + :func:`linreg_experiment` run the same model through :func:`loop.run` with any policy.
  The loop's generation g is the paper's iteration n = g + 1.
- **The cross-family policy table**: :func:`policy_table` runs every available family's ``experiment`` with the
  policies replace / accumulate / mix 10% / anchor (one real point) and reports the final ``distance``.
- **How much real data is enough**: :func:`fraction_sweep` (mix with fraction f of real data each generation).
- **One real point per generation** (Jangjoo, Marsili, Roudi, PRL 136, 197301, 2026): :func:`categorical_chain`
  (Bernoulli = 2 categories) and :func:`gaussian_chain`, maximum likelihood vs an anchor of k real points vs a
  MAP / regularised fit.
- **Verification** (Yi, Liu, Cheng, Xu 2025): :class:`Verifier` and the policy :class:`Filtered`.
- **Tail monitoring**: :class:`Monitor`, a per-generation report with a tunable tolerance and alerts.
- **Synthesis**: :func:`format_table` prints the closing table the notebook builds from measured numbers.
"""
from __future__ import annotations

import math
import time
from collections import Counter
from importlib import import_module
from typing import Callable, Mapping, Sequence

import numpy as np

from . import loop, metrics, profiles
from .runtime import as_rng, progress
from .validate import integer as _int, number as _num

SIZES = {
    # lr_*: the linear regression of Gerstgrasser et al. (d features, T samples, noise s, n iterations, reps
    #   Monte-Carlo replications for the vectorised simulation, loop_reps for the loop.run version);
    # table_*: the cross-family table (generations None = the family's own default; seeds averaged per family;
    #   table_profiles: a family run in another profile's sizes, e.g. the VAE and the language model in 'quick'
    #   inside the standard profile, so that the table stays a few minutes);
    # sweep_*: the real-fraction sweep; chain_*: the one-real-point chains; verify_*: the verifier experiment;
    # monitor_*: the tail monitor (monitor_n fresh samples per generation, words_M tokens per generation).
    "quick": {"lr_d": 10, "lr_T": 50, "lr_s": 1.0, "lr_n": 20, "lr_reps": 4000, "loop_reps": 200,
              "table_generations": {"gaussian": 100, "gmm": 50, "vae": 1, "lm": 2},
              "table_seeds": {"gaussian": 10, "gmm": 1}, "table_profiles": {},
              "sweep_fractions": (0.0, 0.01, 0.05, 0.1, 0.25, 0.5), "sweep_seeds": {"gaussian": 20, "gmm": 2},
              "sweep_generations": {"gaussian": 100, "gmm": 50}, "sweep_last": 10,
              "chain_M": 20, "chain_generations": 150, "chains": 400, "gauss_M": 20, "gauss_generations": 300,
              "verify_generations": 25, "verify_chains": 30,
              "monitor_generations": 60, "monitor_n": 20000, "monitor_chains": 20, "words_M": 20000,
              "words_generations": 30},
    "standard": {"lr_d": 10, "lr_T": 50, "lr_s": 1.0, "lr_n": 20, "lr_reps": 10000, "loop_reps": 500,
                 "table_generations": {"gaussian": 300, "gmm": 50, "vae": 2, "lm": 2},
                 "table_seeds": {"gaussian": 20, "gmm": 2}, "table_profiles": {"vae": "quick", "lm": "quick"},
                 "sweep_fractions": (0.0, 0.01, 0.05, 0.1, 0.25, 0.5), "sweep_seeds": {"gaussian": 50, "gmm": 2},
                 "sweep_generations": {"gaussian": 300, "gmm": 50}, "sweep_last": 20,
                 "chain_M": 20, "chain_generations": 300, "chains": 2000, "gauss_M": 20, "gauss_generations": 1000,
                 "verify_generations": 40, "verify_chains": 100,
                 "monitor_generations": 100, "monitor_n": 50000, "monitor_chains": 50, "words_M": 50000,
                 "words_generations": 50},
    "paper": {"lr_d": 10, "lr_T": 50, "lr_s": 1.0, "lr_n": 50, "lr_reps": 50000, "loop_reps": 2000,
              # the GMM at the paper's N = 1,000 for 300 generations (the paper's figure shows the collapse by
              # 350); the VAE and the language model at their standard sizes: their paper scale is Chapters 3
              # and 4's (GPU), and this table compares policies, not model sizes
              "table_generations": {"gaussian": 1000, "gmm": 300, "vae": 2, "lm": 2},
              "table_seeds": {"gaussian": 50, "gmm": 5}, "table_profiles": {"vae": "standard", "lm": "standard"},
              "sweep_fractions": (0.0, 0.01, 0.05, 0.1, 0.25, 0.5), "sweep_seeds": {"gaussian": 200, "gmm": 5},
              "sweep_generations": {"gaussian": 1000, "gmm": 300}, "sweep_last": 50,
              "chain_M": 20, "chain_generations": 1000, "chains": 10000, "gauss_M": 20, "gauss_generations": 3000,
              "verify_generations": 100, "verify_chains": 500,
              "monitor_generations": 300, "monitor_n": 200000, "monitor_chains": 200, "words_M": 200000,
              "words_generations": 100},
}


def sizes(profile: str | None = None):
    """This chapter's sizes for ``profile`` (default: the active profile), as attributes."""
    return profiles.pick(SIZES, profile)


# ---------------------------------------------------------------------------------------------------------------
# input checks






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
    rng = as_rng(_int("seed", seed, 0))
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
        X = np.asarray(X, dtype=float)
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
        Xd, y = data[..., :dim], data[..., dim]
        G = np.einsum("nrd,nre->rde", Xd, Xd)
        b = np.einsum("nrd,nr->rd", Xd, y)
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
    w_star = np.atleast_2d(np.asarray(w_star, dtype=float))
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
    rng = np.random.default_rng([_int("seed", seed, 0), 5])
    X = rng.standard_normal((T, reps, d))
    w_star = rng.standard_normal((reps, d)) / np.sqrt(d)
    y = np.einsum("trd,rd->tr", X, w_star) + s * rng.standard_normal((T, reps))
    real = np.concatenate([X, y[..., None]], axis=2)
    return loop.run(linreg_family(X, s), real, generations, policy=policy, seed=seed,
                    metrics={"error": linreg_error(w_star)}, desc=f"linear regression · {loop.policy(policy)!r}")


# ---------------------------------------------------------------------------------------------------------------
# 2. the cross-family table and the real-fraction sweep

# The chapter modules the table and the sweep use when they are importable and expose experiment(); a module that
# is missing or broken is skipped (and reported by available_families), so nothing here needs editing when one lands.
FAMILIES = ("gaussian", "gmm", "vae", "lm")

TABLE_POLICIES = {"replace": "replace", "accumulate": "accumulate", "mix 10%": ("mix", 0.1), "anchor": ("anchor", 1)}


def make_policy(spec):
    """A loop policy from a table spec: a name, ``('mix', fraction)``, ``('anchor', k)`` or a policy object."""
    if isinstance(spec, tuple):
        if len(spec) != 2 or spec[0] not in ("mix", "anchor"):
            raise ValueError(f"policy spec must be ('mix', fraction) or ('anchor', k); got {spec!r}")
        return loop.policy(spec[0], fraction=spec[1]) if spec[0] == "mix" else loop.policy(spec[0], k=spec[1])
    return loop.policy(spec)


def available_families(names: Sequence[str] = FAMILIES) -> tuple[dict, dict]:
    """Import each chapter module of ``names``; return ({name: module with experiment()}, {name: why skipped})."""
    if isinstance(names, str) or not all(isinstance(x, str) for x in names):
        raise TypeError(f"names must be a list of module names such as {FAMILIES}; got {names!r}")
    found, skipped = {}, {}
    for name in names:
        try:
            mod = import_module(f"collapse_lab.{name}")
        except Exception as e:  # a chapter still being written must not break this one
            skipped[name] = f"{type(e).__name__}: {e}".splitlines()[0]
            continue
        if callable(getattr(mod, "experiment", None)):
            found[name] = mod
        else:
            skipped[name] = "no experiment() function"
    return found, skipped


def _distance_only(mod) -> dict:
    """``{"full": False}`` for a family whose experiment can skip the metrics other than ``distance`` (the GMM's
    held-out likelihood and tail columns cost more than its fit); the table and the sweep read only ``distance``."""
    import inspect

    return {"full": False} if "full" in inspect.signature(mod.experiment).parameters else {}


def _final(h, column="distance", last: int = 1) -> float:
    return float(np.mean(np.asarray(h[column], dtype=float)[-last:]))


def policy_table(families: Sequence[str] | None = None, *, policies: Mapping | None = None, seeds=None,
                 generations=None, profile: str | None = None, family_profiles: Mapping | None = None,
                 last: int = 1) -> list[dict]:
    """One row per family: its final ``distance`` under each policy (mean over seeds), plus its start.

    Parameters
    ----------
    families : chapter module names (default :data:`FAMILIES`, those importable); each needs
        ``experiment(policy, *, generations, seed, profile) -> History`` with a ``distance`` column.
    policies : column label -> policy spec (default :data:`TABLE_POLICIES`: replace, accumulate, mix 10%, anchor).
    seeds : int (seeds 0..seeds-1 for every family) or mapping family -> int; default the profile's ``table_seeds``
        (1 for families it does not list).
    generations : int or mapping family -> int | None (None: the family's own default); default the profile's.
    profile : the profile of this chapter's sizes, passed on to each family's experiment ...
    family_profiles : ... except for the families listed here (family -> profile); default the profile's
        ``table_profiles`` (in ``standard``, the VAE and the language model run their ``quick`` sizes).
    last : average the distance over the last ``last`` generations (1 = the final generation).

    Returns
    -------
    list of dicts: ``family``, ``generations``, ``seeds``, ``start`` (generation-0 distance), one key per policy
    label, ``profile`` and ``seconds``. Families that failed are listed in the rows with ``error`` set.
    """
    sz = sizes(profile)
    if policies is not None and not isinstance(policies, Mapping):
        raise TypeError(f"policies must be a mapping column label -> policy spec; got {type(policies).__name__}")
    if family_profiles is not None and not isinstance(family_profiles, Mapping):
        raise TypeError(f"family_profiles must be a mapping family -> profile; got {type(family_profiles).__name__}")
    family_profiles = dict(sz.table_profiles if family_profiles is None else family_profiles)
    policies = dict(TABLE_POLICIES if policies is None else policies)
    if not policies:
        raise ValueError("policies must name at least one policy")
    specs = {label: make_policy(spec) for label, spec in policies.items()}
    found, skipped = available_families(FAMILIES if families is None else families)
    seeds = sz.table_seeds if seeds is None else seeds
    generations = sz.table_generations if generations is None else generations
    last = _int("last", last, 1)
    rows = []
    for name, mod in found.items():
        k = _int("seeds", seeds.get(name, 1) if isinstance(seeds, Mapping) else seeds, 1)
        g = generations.get(name) if isinstance(generations, Mapping) else generations
        prof = family_profiles.get(name, profile)
        row = {"family": name, "profile": prof or sz.profile, "generations": g, "seeds": k, "start": math.nan}
        t0 = time.perf_counter()
        try:
            for label, pol in specs.items():
                vals, starts = [], []
                for seed in range(k):
                    h = mod.experiment(pol, generations=g, seed=seed, profile=prof, **_distance_only(mod))
                    vals.append(_final(h, "distance", last))
                    starts.append(float(h["distance"][0]))
                    row["generations"] = int(h["generation"][-1])
                row[label] = float(np.mean(vals))
                row["start"] = float(np.mean(starts))
        except Exception as e:  # keep the other rows; say what broke
            row["error"] = f"{type(e).__name__}: {e}".splitlines()[0]
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    for name, why in skipped.items():
        rows.append({"family": name, "error": f"skipped ({why})"})
    return rows


def fraction_sweep(family: str, fractions: Sequence[float] | None = None, *, seeds: int | None = None,
                   generations: int | None = None, profile: str | None = None, last: int | None = None) -> dict:
    """Final distance to the original when a fraction f of every training set is fresh real data (``mix``).

    Parameters
    ----------
    family : a chapter module name with ``experiment`` (e.g. ``'gaussian'``, ``'gmm'``).
    fractions : real fractions in [0, 1]; default the profile's ``sweep_fractions`` (0, 1%, 5%, 10%, 25%, 50%).
    seeds : replications averaged per fraction; default the profile's ``sweep_seeds[family]`` (else 1).
    generations : default the profile's ``sweep_generations[family]`` (None = the family's default).
    last : average the distance over the last ``last`` generations of each run (default the profile's
        ``sweep_last``, capped by the run's length): with real data the chain settles into a stationary
        band, and averaging over it gives the band's level rather than one noisy endpoint.

    Returns
    -------
    dict with ``fractions`` (array), ``distance`` (mean final distance per fraction), ``se`` (standard error over
    seeds, nan with one seed), ``start`` (mean generation-0 distance) and ``generations``.
    """
    if not isinstance(family, str):
        raise TypeError(f"family must be a chapter module name such as 'gaussian'; got {family!r}")
    found, skipped = available_families([family])
    if family not in found:
        raise ValueError(f"family {family!r} is not available: {skipped.get(family)}")
    mod = found[family]
    sz = sizes(profile)
    fractions = sz.sweep_fractions if fractions is None else fractions
    fr = np.asarray([_num("fractions[i]", f, 0, 1) for f in fractions])
    if fr.size == 0:
        raise ValueError("fractions must hold at least one value in [0, 1]")
    seeds = _int("seeds", sz.sweep_seeds.get(family, 1) if seeds is None else seeds, 1)
    if generations is None:
        generations = sz.sweep_generations.get(family)
    last = _int("last", sz.sweep_last if last is None else last, 1)
    dist, se, starts, gens = [], [], [], None
    for f in progress(fr, desc=f"{family} · real fraction"):
        vals = []
        for seed in range(seeds):
            h = mod.experiment(loop.policy("mix", fraction=float(f)), generations=generations, seed=seed,
                               profile=profile, **_distance_only(mod))
            vals.append(_final(h, "distance", last))
            starts.append(float(h["distance"][0]))
            gens = int(h["generation"][-1])
        dist.append(np.mean(vals))
        se.append(np.std(vals, ddof=1) / np.sqrt(len(vals)) if len(vals) > 1 else math.nan)
    return {"fractions": fr, "distance": np.asarray(dist), "se": np.asarray(se), "start": float(np.mean(starts)),
            "generations": gens, "family": family}


def minimal_fraction(sweep: Mapping, tol: float):
    """The smallest swept real fraction whose final distance is <= ``tol`` (None when none is)."""
    tol = _num("tol", tol, 0)
    if not isinstance(sweep, Mapping) or "fractions" not in sweep or "distance" not in sweep:
        raise TypeError("sweep must be the dict fraction_sweep returns (keys 'fractions' and 'distance')")
    for f, d in sorted(zip(sweep["fractions"], sweep["distance"])):
        if d <= tol:
            return float(f)
    return None


# ---------------------------------------------------------------------------------------------------------------
# 3. one real point per generation (Jangjoo, Marsili, Roudi 2026)


def categorical_chain(p_true, M: int, generations: int, chains: int, *, k: int = 0, alpha: float = 0.0,
                      p0=None, seed: int = 0) -> np.ndarray:
    """Refit a categorical distribution on its own samples, ``chains`` independent chains at once.

    Each generation draws M samples from the current fit; the next fit counts them, plus ``k`` fresh real points
    drawn from ``p_true`` (the anchor), plus ``alpha`` pseudo-counts per category (a MAP fit under a symmetric
    Dirichlet(1 + alpha) prior; alpha = 0 is maximum likelihood):

        p' = (counts + real counts + alpha) / (M + k + K alpha)

    With k = 0 and alpha = 0 the counts are a martingale and every chain is absorbed by a corner (one category
    left); k >= 1 or alpha > 0 make the chain ergodic. Bernoulli is K = 2.

    Parameters
    ----------
    p_true : (K,) probabilities, the ground truth (K >= 2). M : samples per generation (int >= 1).
    generations : int >= 0; chains : int >= 1; k : real points per generation (int >= 0); alpha : >= 0.
    p0 : (K,) starting fit; default: the maximum-likelihood fit on M real samples (the loop's generation 0).

    Returns
    -------
    array (generations + 1, chains, K): the fitted probabilities of every generation.
    """
    p = np.asarray(p_true, dtype=float)
    if p.ndim != 1 or p.size < 2 or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
        raise ValueError(f"p_true must be a 1-D probability vector with >= 2 entries summing to 1; got {p_true!r}")
    M, generations, chains = _int("M", M, 1), _int("generations", generations, 0), _int("chains", chains, 1)
    k, alpha = _int("k", k, 0), _num("alpha", alpha, 0)
    rng = as_rng(_int("seed", seed, 0))
    K = p.size
    out = np.empty((generations + 1, chains, K))
    if p0 is None:
        cur = rng.multinomial(M, p, size=chains) / M
    else:
        q = np.asarray(p0, dtype=float)
        if q.shape != p.shape or np.any(q < 0) or not np.isclose(q.sum(), 1.0):
            raise ValueError(f"p0 must be a probability vector shaped like p_true {p.shape}; got {p0!r}")
        cur = np.tile(q, (chains, 1))
    out[0] = cur
    for g in range(1, generations + 1):
        counts = rng.multinomial(M, cur)  # one row per chain
        if k:
            counts = counts + rng.multinomial(k, p, size=chains)
        cur = (counts + alpha) / (M + k + K * alpha)
        out[g] = cur
    return out


def gaussian_chain(M: int, generations: int, chains: int, *, k: int = 0, prior: float = 0.0,
                   prior_mean: float = 0.0, prior_var: float = 1.0, ddof: int = 0, seed: int = 0):
    """The 1-D Gaussian chain (truth N(0, 1)) with an anchor of k real points and/or a regularised fit.

    Every generation draws M points from the current fit N(mean, var), adds ``k`` fresh real points from N(0, 1)
    and refits. ``ddof=0`` is maximum likelihood (the exponential-family MLE of Jangjoo et al.; ``ddof=1`` the
    unbiased variance of Shumailov et al.'s Theorem 3.1). ``prior`` > 0 is a conjugate-style regularised fit that
    adds ``prior`` pseudo-observations at ``prior_mean`` with spread ``prior_var``:

        mean' = (sum x + prior * prior_mean) / (N + prior)
        var'  = (sum (x - mean')^2 + prior * prior_var) / (N + prior - ddof)

    Returns
    -------
    (means, variances): two arrays (generations + 1, chains); generation 0 is fitted on M real points (+ prior).
    """
    M, generations, chains = _int("M", M, 2), _int("generations", generations, 0), _int("chains", chains, 1)
    k, ddof = _int("k", k, 0), _int("ddof", ddof, 0)
    if ddof > 1:
        raise ValueError(f"ddof must be 0 (maximum likelihood) or 1 (unbiased); got {ddof}")
    prior = _num("prior", prior, 0)
    prior_mean = _num("prior_mean", prior_mean)
    prior_var = _num("prior_var", prior_var, 0, lo_open=True)
    rng = as_rng(_int("seed", seed, 0))

    def fit(x):
        n = x.shape[1]
        m = (x.sum(1) + prior * prior_mean) / (n + prior)
        v = (((x - m[:, None]) ** 2).sum(1) + prior * prior_var) / (n + prior - ddof)
        return m, v

    means = np.empty((generations + 1, chains))
    varis = np.empty((generations + 1, chains))
    means[0], varis[0] = fit(rng.standard_normal((chains, M)))
    for g in range(1, generations + 1):
        x = means[g - 1][:, None] + np.sqrt(varis[g - 1])[:, None] * rng.standard_normal((chains, M))
        if k:
            x = np.concatenate([x, rng.standard_normal((chains, k))], axis=1)
        means[g], varis[g] = fit(x)
    return means, varis


def anchored_stationary(M: int, *, k: int = 1, ddof: int = 0, chains: int = 1000, burn: int = 200,
                        generations: int = 300, seed: int = 0) -> dict:
    """Long-run (stationary) law of the anchored Gaussian chain of :func:`gaussian_chain` (no prior).

    Each generation pools M points from N(mu, s^2) with k real N(0, 1) points (N = M + k) and refits
    mu' = mean, s'^2 = sum (x - mu')^2 / (N - ddof). Taking expectations given (mu, s^2):

        E[mu'^2]      = (M^2 mu^2 + M s^2 + k) / N^2
        E[sum (x - mu')^2] = (1 - 1/N) (M s^2 + k) + (M k / N) mu^2

    so the long-run means a = E[s^2], b = E[mu^2] solve a linear 2 x 2 system, solved exactly here. For k = 1:
    ddof = 1 gives a = 2, b = 1; ddof = 0 gives a = 2M/(3M + 1), b = (M + 1)/(3M + 1). The stationary law has no
    closed-form median: ``median_var`` is the median of s^2 pooled over ``chains`` chains and ``generations``
    generations run after ``burn`` generations (the chain forgets its start within tens of generations), with a
    Monte-Carlo standard error ``median_var_se`` (the spread of the medians of 20 batches of chains).

    Returns
    -------
    dict: ``mean_var`` (exact E[s^2]), ``mean_mu2`` (exact E[mu^2]), ``median_var`` and ``median_var_se``
    (simulated), ``M``, ``k``, ``ddof``.
    """
    M, k = _int("M", M, 2), _int("k", k, 1)
    ddof = _int("ddof", ddof, 0)
    if ddof > 1:
        raise ValueError(f"ddof must be 0 (maximum likelihood) or 1 (unbiased); got {ddof}")
    chains, burn = _int("chains", chains, 20), _int("burn", burn, 0)
    generations = _int("generations", generations, 1)
    N = M + k
    # unknowns (a, b): a (N - ddof) = (1 - 1/N)(M a + k) + (M k / N) b ;  b (N^2 - M^2) = M a + k
    A = np.array([[(N - ddof) - (1 - 1 / N) * M, -M * k / N], [-M, N**2 - M**2]], dtype=float)
    rhs = np.array([(1 - 1 / N) * k, k], dtype=float)
    a, b = np.linalg.solve(A, rhs)
    _, v = gaussian_chain(M, burn + generations, chains, k=k, ddof=ddof, seed=_int("seed", seed, 0))
    tail = v[burn + 1:]
    med = float(np.median(tail))
    batches = np.array_split(np.arange(chains), 20)
    se = float(np.std([np.median(tail[:, i]) for i in batches], ddof=1) / np.sqrt(len(batches)))
    return {"mean_var": float(a), "mean_mu2": float(b), "median_var": med, "median_var_se": se, "M": M, "k": k,
            "ddof": ddof}


# ---------------------------------------------------------------------------------------------------------------
# 4. verification and filtering (Yi, Liu, Cheng, Xu 2025)


class Verifier:
    """Accepts a synthetic regression example (x, y) when |y - x . center| <= radius * s.

    ``center`` (d,) is the verifier's own "knowledge centre" (its weights): equal to w* for a perfect verifier,
    off by some bias for an imperfect one. Called on data (N, R, d + 1) (or (N, d + 1)) it returns a boolean mask
    (N,) computed on replication 0 (the verifier experiment runs one replication per chain).
    """

    def __init__(self, center, radius: float = 1.0, s: float = 1.0):
        self.center = np.asarray(center, dtype=float).ravel()
        if self.center.size == 0 or not np.all(np.isfinite(self.center)):
            raise ValueError(f"center must be a non-empty vector of finite weights; got {center!r}")
        self.radius = _num("radius", radius, 0, lo_open=True)
        self.s = _num("s", s, 0, lo_open=True)

    def __call__(self, data) -> np.ndarray:
        data = np.asarray(data, dtype=float)
        d = self.center.size
        if data.ndim == 3:
            data = data[:, 0]
        if data.ndim != 2 or data.shape[1] != d + 1:
            raise ValueError(f"data must be (N, R, {d + 1}) or (N, {d + 1}); got {np.shape(data)}")
        return np.abs(data[:, d] - data[:, :d] @ self.center) <= self.radius * self.s


class Filtered:
    """A data policy (the loop's interface: ``n_synthetic`` and ``build``): keep only what a verifier accepts.

    The previous model writes ``oversample`` times the usual number of samples; the training set is the first
    ``n_real`` accepted ones (all accepted ones if fewer pass). ``accepted`` records the acceptance rate of every
    generation, the price of verification in samples drawn per sample kept.
    """

    keeps_history = False

    def __init__(self, verifier: Callable, oversample: int = 3):
        if not callable(verifier):
            raise TypeError("verifier must be callable: data -> boolean mask over the examples")
        self.verifier = verifier
        self.oversample = _int("oversample", oversample, 1)
        self.name = f"verified x{self.oversample}"
        self.accepted: list[float] = []

    def n_synthetic(self, n_real: int) -> int:
        return self.oversample * n_real

    def build(self, real, synthetic_sets, rng):
        cand = synthetic_sets[-1]
        mask = np.asarray(self.verifier(cand), dtype=bool)
        if mask.shape != (loop.size(cand),):
            raise ValueError(f"the verifier must return one boolean per example ({loop.size(cand)}); got {mask.shape}")
        self.accepted.append(float(mask.mean()))
        idx = np.flatnonzero(mask)[: loop.size(real)]
        return loop.take(cand, idx)

    def __repr__(self):
        return self.name


def verified_chains(bias: float | None, *, generations: int = 25, chains: int = 30, d: int = 10, T: int = 50,
                    s: float = 1.0, radius: float = 1.0, oversample: int = 3, seed: int = 0) -> dict:
    """Linear-regression chains trained on verified synthetic data (fresh N(0, I) features every generation).

    ``bias`` is the verifier's error: its centre is w* + bias * u (u a random unit vector per chain), so
    ||centre - w*||^2 = bias^2; ``bias=None`` runs the unverified replace chain for comparison.

    Returns
    -------
    dict of arrays (generations + 1,) averaged over chains: ``error`` (||w - w*||^2), ``to_center``
    (||w - centre||^2, nan without verifier), ``accept`` (acceptance rate, nan at generation 0 and without
    verifier), plus ``bias2`` (= bias^2).
    """
    d, T, s = _lr_args(d, T, s)
    generations, chains = _int("generations", generations, 0), _int("chains", chains, 1)
    if bias is not None:
        bias = _num("bias", bias, 0)
    rng = np.random.default_rng([_int("seed", seed, 0), 7])
    err = np.zeros(generations + 1)
    to_c = np.zeros(generations + 1)
    acc = np.full(generations + 1, np.nan)
    acc_sum = np.zeros(generations + 1)
    fam = linreg_family(None, s, d=d)
    for c in progress(range(chains), desc="verified chains"):
        w_star = rng.standard_normal(d) / np.sqrt(d)
        u = rng.standard_normal(d)
        center = w_star + (0.0 if bias is None else bias) * u / np.linalg.norm(u)
        X = rng.standard_normal((T, 1, d))
        y = X[:, 0] @ w_star + s * rng.standard_normal(T)
        real = np.concatenate([X, y[:, None, None]], axis=2)
        pol = "replace" if bias is None else Filtered(Verifier(center, radius, s), oversample)
        h = loop.run(fam, real, generations, policy=pol, seed=int(rng.integers(2**31)), keep=range(generations + 1))
        ws = np.stack([h.models[g][0] for g in range(generations + 1)])
        err += np.sum((ws - w_star) ** 2, axis=1)
        to_c += np.sum((ws - center) ** 2, axis=1)
        if bias is not None:
            acc_sum[1:] += np.asarray(pol.accepted)
    out = {"error": err / chains, "to_center": to_c / chains if bias is not None else np.full(generations + 1, np.nan),
           "accept": acc, "bias2": 0.0 if bias is None else bias**2}
    if bias is not None:
        out["accept"][1:] = acc_sum[1:] / chains
    return out


# ---------------------------------------------------------------------------------------------------------------
# 5. tail monitoring


KINDS = ("tails", "categories", "ngrams")


class Monitor:
    """A per-generation collapse monitor: a tail statistic and a mean-based statistic, each with an alert.

    ``kind='tails'`` (1-D numbers): tail mass below the reference's ``q`` quantile and above its ``1 - q``
    quantile, each side compared with the reference's own; the tail drop is the larger relative loss of the two
    sides. The mean-based statistic is the shift of the first two moments, max(|mean - mean_ref| / std_ref,
    |std / std_ref - 1|): what a dashboard of means and spreads shows.

    ``kind='categories'`` (integer labels): the tail drop is the share of the reference's categories no longer seen;
    the mean-based statistic is the relative change of the entropy (the log of the unigram perplexity).

    ``kind='ngrams'`` (token sequences): the tail drop is the share of distinct ``n``-grams lost; the mean-based
    statistic is the relative change of the unigram entropy.

    Both alerts fire when their statistic exceeds ``tol`` (a relative change, e.g. 0.2 = 20%). Use enough samples
    per generation that sampling noise stays well below ``tol`` (tails: 1/sqrt(q * N) << tol).
    """

    def __init__(self, reference, kind: str = "tails", *, q: float = 0.01, tol: float = 0.2, n: int = 2):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
        self.kind = kind
        self.q = _num("q", q, 0, 0.5, lo_open=True)
        self.tol = _num("tol", tol, 0, lo_open=True)
        self.n = _int("n", n, 1)
        if kind == "tails":
            ref = np.asarray(reference, dtype=float).ravel()
            if ref.size < 2 or not np.all(np.isfinite(ref)):
                raise ValueError("reference must hold at least 2 finite numbers for kind='tails'")
            self.lo, self.hi = np.quantile(ref, [self.q, 1 - self.q])
            self.mean, self.std = float(ref.mean()), float(ref.std())
        self.ref = None
        self.ref = self.stats(reference)

    def _tokens(self, data):
        if self.kind == "categories":
            x = np.asarray(data).ravel()
            if x.size == 0 or not np.issubdtype(x.dtype, np.integer):
                raise ValueError("data must be a non-empty array of integer labels for kind='categories'")
            return x
        if isinstance(data, (str, bytes)) or len(data) == 0:
            raise ValueError("data must be a non-empty list of token sequences for kind='ngrams'")
        return data

    def stats(self, data) -> dict:
        """The raw statistics of one sample: tails -> lower, upper, mean, std; else -> distinct, entropy."""
        if self.kind == "tails":
            x = np.asarray(data, dtype=float).ravel()
            if x.size == 0 or not np.all(np.isfinite(x)):
                raise ValueError("data must be a non-empty array of finite numbers for kind='tails'")
            return {"lower": float(np.mean(x < self.lo)), "upper": float(np.mean(x > self.hi)),
                    "mean": float(x.mean()), "std": float(x.std())}
        x = self._tokens(data)
        if self.kind == "categories":
            counts = np.unique(x, return_counts=True)[1]
            return {"distinct": int(counts.size), "entropy": metrics.entropy(counts)}
        distinct, _ = metrics.distinct_n(x, self.n)
        uni = Counter(t for seq in x for t in seq)
        return {"distinct": int(distinct), "entropy": metrics.entropy(np.fromiter(uni.values(), float))}

    def check(self, data) -> dict:
        """One generation's row: the raw stats, ``tail_drop``, ``mean_shift`` and the two alerts."""
        st = self.stats(data)
        r = self.ref
        if self.kind == "tails":
            drops = [1 - st[k] / r[k] if r[k] > 0 else 0.0 for k in ("lower", "upper")]
            tail = max(drops)
            mean = max(abs(st["mean"] - self.mean) / self.std, abs(st["std"] / self.std - 1))
        else:
            tail = 1 - st["distinct"] / r["distinct"]
            mean = abs(st["entropy"] - r["entropy"]) / r["entropy"]
        return {**st, "tail_drop": float(tail), "mean_shift": float(mean),
                "tail_alert": bool(tail > self.tol), "mean_alert": bool(mean > self.tol)}

    def __call__(self, model, train) -> dict:
        """As a :func:`loop.run` metric: monitor each generation's training set."""
        return self.check(train)

    def report(self, samples_by_generation: Sequence) -> loop.History:
        """A History with one :meth:`check` row per generation (0, 1, ...) of ``samples_by_generation``."""
        if isinstance(samples_by_generation, (str, bytes)) or len(samples_by_generation) == 0:
            raise ValueError("samples_by_generation must be a non-empty list: one sample per generation")
        h = loop.History(meta={"kind": self.kind, "q": self.q, "tol": self.tol})
        for g, x in enumerate(samples_by_generation):
            h.append({"generation": g, **self.check(x)})
        return h


def first_alert(history, column: str):
    """The first generation whose boolean ``column`` (e.g. ``'tail_alert'``) is true, or None."""
    if not isinstance(column, str):
        raise TypeError(f"column must be a column name such as 'tail_alert'; got {column!r}")
    flags = np.asarray(history[column], dtype=bool)
    gens = np.asarray(history["generation"])
    hit = np.flatnonzero(flags)
    return int(gens[hit[0]]) if hit.size else None


def gaussian_monitor_runs(*, M: int = 100, generations: int = 60, chains: int = 20, n: int = 20000,
                          q: float = 0.01, tol: float = 0.2, seed: int = 0) -> dict:
    """Tail monitor vs moment monitor on Gaussian chains (truth N(0, 1), M points per generation, unbiased fit).

    For every chain, ``n`` fresh samples of each generation's fit are checked by :class:`Monitor`, whose reference
    is an independent sample of n points of the chain's generation-0 model (the model fitted on real data, what
    an operator starts from). Returns a dict: ``tail``, ``mean`` (first alert generation per chain;
    generations + 1 = never) and ``example`` (the History of chain 0).
    """
    M, generations = _int("M", M, 2), _int("generations", generations, 1)
    chains, n = _int("chains", chains, 1), _int("n", n, 10)
    rng = np.random.default_rng([_int("seed", seed, 0), 11])
    means, varis = gaussian_chain(M, generations, chains, ddof=1, seed=int(rng.integers(2**31)))
    tail, mean, example = [], [], None
    for c in progress(range(chains), desc="monitored chains"):
        draw = lambda g: means[g, c] + np.sqrt(varis[g, c]) * rng.standard_normal(n)  # noqa: E731
        mon = Monitor(draw(0), "tails", q=q, tol=tol)
        h = mon.report([draw(g) for g in range(generations + 1)])
        example = h if example is None else example
        t, m = first_alert(h, "tail_alert"), first_alert(h, "mean_alert")
        tail.append(generations + 1 if t is None else t)
        mean.append(generations + 1 if m is None else m)
    return {"tail": np.asarray(tail), "mean": np.asarray(mean), "example": example}


def words(split: str = "valid") -> tuple[np.ndarray, list[str]]:
    """WikiText-2 (offline) as integer word ids: (ids (N,), vocabulary list), whitespace tokens, '<unk>' kept."""
    from . import data

    toks = data.wikitext(split).split()
    vocab, ids = np.unique(np.asarray(toks), return_inverse=True)
    return ids.astype(np.int64), list(vocab)


def word_chain(ids, M: int, generations: int, seed: int = 0) -> list[np.ndarray]:
    """A unigram language model refit on its own text: M word ids per generation, maximum likelihood.

    Generation 0 is M words of the real corpus ``ids`` (a contiguous slice); generation g >= 1 is M words drawn
    from the word frequencies of generation g - 1. Returns the list of word-id samples, one per generation.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError("ids must be a non-empty 1-D array of integer word ids")
    M, generations = _int("M", M, 1), _int("generations", generations, 0)
    if M > ids.size:
        raise ValueError(f"M must be <= len(ids) = {ids.size}; got {M}")
    rng = as_rng(_int("seed", seed, 0))
    start = int(rng.integers(0, ids.size - M + 1))
    out = [ids[start:start + M]]
    for _ in range(generations):
        vals, counts = np.unique(out[-1], return_counts=True)
        out.append(vals[rng.choice(vals.size, size=M, p=counts / M)])
    return out


# ---------------------------------------------------------------------------------------------------------------
# 6. tables


def format_table(rows: Sequence[Mapping], columns: Sequence[str] | None = None, digits: int = 3) -> str:
    """Rows (dicts) as an aligned text table; floats with ``digits`` significant digits, missing cells blank."""
    if isinstance(rows, Mapping) or not all(isinstance(r, Mapping) for r in rows):
        raise TypeError("rows must be a list of dicts")
    cols = list(columns) if columns is not None else list(dict.fromkeys(k for r in rows for k in r))

    def fmt(v):
        if isinstance(v, (float, np.floating)):
            return "nan" if not math.isfinite(v) else f"{v:.{digits}g}"
        return "" if v is None else str(v)

    cells = [[fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(x[i]) for x in cells]) for i, c in enumerate(cols)]
    line = lambda xs: "  ".join(x.ljust(w) for x, w in zip(xs, widths)).rstrip()  # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in widths]), *(line(x) for x in cells)])
