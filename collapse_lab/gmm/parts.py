"""One long chain in parts: the parts of :func:`~collapse_lab.gmm.experiment`'s chain one after another, each
part's measures beside the next part in another process, so that the chain and its measures use two cores."""
from __future__ import annotations

import contextlib
from typing import NamedTuple

import numpy as np

from .. import loop
from ..runtime import in_processes_after, in_worker, silence_progress, workers
from .fitting import family, one_thread
from .measures import _metrics
from .mixture import Mixture


class _Chain(NamedTuple):
    """What :func:`experiment` runs (checked): the policy, real and held-out points, the seed, the EM and the
    measures' reference and columns."""

    policy: object
    real: np.ndarray
    seed: int
    k: int
    init: str
    n_init: int
    ref: Mixture
    test: np.ndarray
    full: bool


#: generations of one part of a long :func:`experiment` chain: the parts run one after another, and each part's
#: measures (about a third of a generation's time) in another process while the next part runs
PART = 100


def _in_parts(spec: _Chain, generations: int) -> bool:
    """Whether :func:`experiment` runs the chain in parts (:func:`_parts`): a chain of at least 4 parts, with
    another core to measure on, a policy that can be sent to another process and that keeps no older synthetic sets
    (a part resumes from its last model and random stream alone), and fits that keep no state (not ``warm``)."""
    import pickle

    if generations < 4 * PART or workers() < 2 or spec.init == "warm" or getattr(spec.policy, "keeps_history", False):
        return False
    try:
        pickle.dumps(spec.policy)
    except Exception:  # noqa: BLE001 - any failure to pickle: one process
        return False
    return True


def _parts(spec: _Chain, generations: int, keep: tuple) -> loop.History:
    """The history of :func:`experiment`'s chain, run in parts of :data:`PART` generations one after another, the
    measures of each part side by side with the next part in processes: the chain draws what it draws in one run
    (each part continues the last one's model and random stream), so every row is the row of one run, to the bit
    (but the seconds, which are the part's fit plus its measures)."""
    ends = list(range(PART - 1, generations, PART)) + [generations]
    jobs, chain = [], []
    for i, hi in enumerate(ends):  # [chain 0, chain 1, measures 0, chain 2, measures 1, ...]: the chain goes first
        jobs.append((_chain_part, (None, spec, hi), None) if i == 0 else (_chain_part, (spec, hi), chain[-1]))
        chain.append(len(jobs) - 1)
        if i > 0:
            jobs.append((_measure_part, (spec,), chain[-2]))
    jobs.append((_measure_part, (spec,), chain[-1]))
    done = in_processes_after(jobs)
    first = done[0]
    h = loop.History(meta={**first["meta"], "generations": generations})
    for part in (r for r in done if isinstance(r, list)):
        for row, model in part:
            h.append(row)
            if row["generation"] in keep:
                h.models[row["generation"]] = model
    return h


def _chain_part(last, spec: _Chain, hi: int) -> dict:
    """The chain of ``spec`` from the end of the part ``last`` (None: from generation 0) up to generation ``hi``:
    ``{"meta", "end": (generation, model, random stream), "rows", "models"}`` (rows without measures)."""
    fam = family(spec.k, spec.init, spec.n_init)
    quiet = silence_progress() if in_worker() else contextlib.nullcontext()
    with one_thread(), quiet:
        if last is None:
            rng, lo = np.random.default_rng([spec.seed, 2]), 0
            h = loop.run(fam, spec.real, hi, policy=spec.policy, seed=rng, keep=range(hi + 1),
                         desc=f"gmm k={spec.k} seed {spec.seed}")
        else:
            g, model, rng = last["end"]
            lo = g + 1
            h = loop.run(fam, spec.real, hi, policy=spec.policy, seed=rng, start=(g, model, []),
                         keep=range(lo, hi + 1), desc=f"gmm k={spec.k} seed {spec.seed}")
    return {"meta": h.meta, "end": (hi, h.models[hi], rng), "rows": h.rows, "models": h.models}


def _measure_part(part: dict, spec: _Chain) -> list:
    """The rows of the chain part ``part`` with :func:`experiment`'s measures: ``[(row, model), ...]``."""
    import time

    from threadpoolctl import threadpool_limits

    ms = _metrics(spec.ref, spec.test, spec.full)
    out = []
    # numpy's BLAS on one thread, as in one run; not one_thread(), which loads torch and scikit-learn first (a
    # second or two in a fresh worker process) for the fits, and the measures fit nothing
    with threadpool_limits(1):
        for r in part["rows"]:
            t0 = time.perf_counter()
            model = part["models"][r["generation"]]
            row = loop.metric_row(ms, r["generation"], model, None, r["n_train"])
            row["seconds"] = r["seconds"] + time.perf_counter() - t0
            out.append((row, model))
    return out
