"""The same data policies on every family of the course: the cross-family table and the real-fraction sweep."""
from __future__ import annotations

import math
import time
from importlib import import_module
from typing import Mapping, Sequence

import numpy as np

from .. import loop
from ..runtime import in_processes
from ..validate import ArgumentError, integer as _int, number as _num
from .sizes import sizes


# ---------------------------------------------------------------------------------------------------------------
# 2. the cross-family table and the real-fraction sweep

# The chapter modules the table and the sweep use when they are importable and expose experiment(); a module that
# is missing or broken is skipped (and reported by available_families), so nothing here needs editing when one lands.
FAMILIES = ("gaussian", "gmm", "vae", "lm")
_LONGEST_FIRST = ("lm", "vae", "gmm", "gaussian")  # the policy table's rows by their seconds in every profile

MAX_SEEDS = 10_000  # replications per cell of the table or the sweep: each is a whole chain

TABLE_POLICIES = {"replace": "replace", "accumulate": "accumulate", "mix 10%": ("mix", 0.1), "anchor": ("anchor", 1)}


def make_policy(spec):
    """A loop policy from a table spec: a name, ``('mix', fraction)``, ``('anchor', k)`` or a policy object."""
    if isinstance(spec, tuple):
        if len(spec) != 2 or not isinstance(spec[0], str) or spec[0] not in ("mix", "anchor"):
            raise ArgumentError(f"policy spec must be ('mix', fraction) or ('anchor', k); got {spec!r:.60}")
        return loop.policy(spec[0], fraction=spec[1]) if spec[0] == "mix" else loop.policy(spec[0], k=spec[1])
    try:
        return loop.policy(spec)
    except ArgumentError as e:
        raise ArgumentError(f"spec must be a policy name, ('mix', fraction), ('anchor', k) or a policy object "
                            f"({e})") from None


def available_families(names: Sequence[str] = FAMILIES) -> tuple[dict, dict]:
    """Import each chapter module of ``names``; return ({name: module with experiment()}, {name: why skipped})."""
    return _available(names, "names")


def _available(names, arg):
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(x, str) for x in names):
        raise ArgumentError(f"{arg} must be a non-empty list of module names such as {FAMILIES}; got {names!r:.60}")
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


def _histories(mod, policy, seeds: int, generations, profile, shared: dict) -> list:
    """The family's histories for seeds 0..seeds-1 under ``policy``: one batched ``experiments`` call when the
    family has one that takes a policy (the Gaussian and the GMM: the same numbers, all chains advanced together),
    else one ``experiment`` call per seed. ``shared`` (a dict, empty at first) goes to an ``experiment`` that takes
    it (the VAE, the language model): calls that differ only in the policy then train generation 0 once."""
    import inspect

    kw = dict(generations=generations, profile=profile, **_distance_only(mod))
    many = getattr(mod, "experiments", None)
    if callable(many) and "policy" in inspect.signature(many).parameters:
        return many(seeds, policy=policy, **kw)
    if "shared" in inspect.signature(mod.experiment).parameters:
        kw["shared"] = shared
    return [mod.experiment(policy, seed=seed, **kw) for seed in range(seeds)]


def _final(h, column="distance", last: int = 1) -> float:
    return float(np.mean(np.asarray(h[column], dtype=float)[-last:]))


def policy_table(families: Sequence[str] | None = None, *, policies: Mapping | None = None, seeds=None,
                 generations=None, profile: str | None = None, family_profiles: Mapping | None = None,
                 last: int = 1) -> list[dict]:
    """One row per family: its final ``distance`` under each policy (mean over seeds), plus its start.

    Parameters
    ----------
    families : chapter module names (default :data:`FAMILIES`, those importable); each needs
        ``experiment(policy, *, generations, seed, profile) -> History`` with a ``distance`` column. When it also
        takes ``shared`` (the VAE, the language model), the row's policies share one generation 0 per seed: it is
        trained on real data only, the same model under every policy, so it is trained once (same numbers).
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
    found, skipped = _available(FAMILIES if families is None else families, "families")
    seeds = sz.table_seeds if seeds is None else seeds
    generations = sz.table_generations if generations is None else generations
    last = _int("last", last, 1)
    jobs = []
    for name in found:
        k = _int("seeds", seeds.get(name, 1) if isinstance(seeds, Mapping) else seeds, 1, MAX_SEEDS)
        g = generations.get(name) if isinstance(generations, Mapping) else generations
        if g is not None:
            g = _int("generations", g, 0)
        jobs.append((name, k, g, family_profiles.get(name, profile) or sz.profile))
    # the rows are independent and each seeds its own chains: one process per row (runtime.in_processes), the
    # same numbers with any number of them; the longest rows first, so that a short one finishes last
    order = sorted(range(len(jobs)), key=lambda i: _LONGEST_FIRST.index(jobs[i][0])
                   if jobs[i][0] in _LONGEST_FIRST else len(_LONGEST_FIRST))
    done = in_processes(_table_row, [jobs[i] for i in order], [specs] * len(jobs), [last] * len(jobs))
    rows = [row for _, row in sorted(zip(order, done))]
    for name, why in skipped.items():
        rows.append({"family": name, "error": f"skipped ({why})"})
    return rows


def _table_row(job: tuple, specs: dict, last: int) -> dict:
    """One row of :func:`policy_table`: ``job`` = (family, seeds, generations, profile); runs in a worker process."""
    name, k, g, prof = job
    mod = import_module(f"collapse_lab.{name}")
    row = {"family": name, "profile": prof, "generations": g, "seeds": k, "start": math.nan}
    t0 = time.perf_counter()
    shared: dict = {}  # generation 0 of each seed, trained once for the row's policies, freed after the row
    try:
        for label, pol in specs.items():
            hs = _histories(mod, pol, k, g, prof, shared)
            row[label] = float(np.mean([_final(h, "distance", last) for h in hs]))
            row["start"] = float(np.mean([h["distance"][0] for h in hs]))
            row["generations"] = int(hs[-1]["generation"][-1])
    except Exception as e:  # keep the other rows; say what broke
        row["error"] = f"{type(e).__name__}: {e}".splitlines()[0]
    row["seconds"] = time.perf_counter() - t0
    return row


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
    if isinstance(fractions, (str, bytes)) or not hasattr(fractions, "__iter__"):
        raise TypeError(f"fractions must be a list of real fractions in [0, 1]; got {fractions!r:.60}")
    fr = np.asarray([_num("fractions[i]", f, 0, 1) for f in fractions])
    if fr.size == 0:
        raise ValueError("fractions must hold at least one value in [0, 1]")
    seeds = _int("seeds", sz.sweep_seeds.get(family, 1) if seeds is None else seeds, 1, MAX_SEEDS)
    if generations is None:
        generations = sz.sweep_generations.get(family)
    else:
        generations = _int("generations", generations, 0)
    last = _int("last", sz.sweep_last if last is None else last, 1)
    # the fractions are independent and each seeds its own chains: one process per fraction
    # (runtime.in_processes), the same numbers with any number of them
    n = len(fr)
    points = in_processes(_sweep_point, [family] * n, [float(f) for f in fr], [seeds] * n, [generations] * n,
                          [profile] * n, [last] * n)
    dist = [np.mean(vals) for vals, _, _ in points]
    se = [np.std(vals, ddof=1) / np.sqrt(len(vals)) if len(vals) > 1 else math.nan for vals, _, _ in points]
    starts = [s for _, st, _ in points for s in st]
    return {"fractions": fr, "distance": np.asarray(dist), "se": np.asarray(se), "start": float(np.mean(starts)),
            "generations": points[-1][2], "family": family}


def _sweep_point(family: str, fraction: float, seeds: int, generations, profile, last: int) -> tuple:
    """One point of :func:`fraction_sweep` (runs in a worker process): the seeds' final distances, their
    generation-0 distances and the generations run."""
    mod = import_module(f"collapse_lab.{family}")
    hs = _histories(mod, loop.policy("mix", fraction=fraction), seeds, generations, profile, {})
    return ([_final(h, "distance", last) for h in hs], [float(h["distance"][0]) for h in hs],
            int(hs[-1]["generation"][-1]))


def minimal_fraction(sweep: Mapping, tol: float):
    """The smallest swept real fraction whose final distance is <= ``tol`` (None when none is)."""
    tol = _num("tol", tol, 0)
    if not isinstance(sweep, Mapping) or "fractions" not in sweep or "distance" not in sweep:
        raise TypeError("sweep must be the dict fraction_sweep returns (keys 'fractions' and 'distance')")
    for f, d in sorted(zip(sweep["fractions"], sweep["distance"])):
        if d <= tol:
            return float(f)
    return None


def by_policy(fn, policies: Sequence[str], **kwargs) -> dict:
    """``{p: fn(p, **kwargs) for p in policies}`` with the policies side by side, one process each at a time
    (:func:`collapse_lab.runtime.in_processes`). ``fn``: a function of this package that takes the policy first
    and seeds itself from ``kwargs`` (e.g. :func:`linreg_simulate`, :func:`linreg_experiment`), so the results
    are the same as one after the other, on any number of cores."""
    if not callable(fn) or not getattr(fn, "__module__", "").startswith("collapse_lab."):
        raise ArgumentError(f"fn must be a function of collapse_lab taking the policy first (e.g. "
                            f"mitigation.linreg_experiment); got {fn!r:.60}")
    if isinstance(policies, (str, bytes)) or not hasattr(policies, "__iter__"):
        raise ArgumentError(f"policies must be a list of policy names; got {policies!r:.60}")
    policies = list(policies)
    if not policies or not all(isinstance(p, str) for p in policies):
        raise ArgumentError(f"policies must be a non-empty list of policy names; got {policies!r:.60}")
    results = in_processes(_policy_call, [fn] * len(policies), policies, [kwargs] * len(policies))
    return dict(zip(policies, results))


def _policy_call(fn, policy: str, kwargs: dict):
    return fn(policy, **kwargs)
