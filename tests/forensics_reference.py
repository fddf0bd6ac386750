"""The capstone's reference inference, kept with the tests and out of the package: a learner's installed copy of the
package must not compute the answer to the capstone's inference items from a case file. The method is the solution
notebook's: simulate every configuration of the grid several times, summarise each run by ten numbers, and take the
configuration whose mean summary is nearest in units of the run-to-run spread."""
from __future__ import annotations

import numpy as np

from collapse_lab import validate
from collapse_lab.forensics import GAUSSIAN_TAIL_Q, Case, Config, configs, diagnostics, simulate
from collapse_lab.validate import ArgumentError

CANDIDATE_SEED = 10_000  # the reference inference's own simulations use seeds CANDIDATE_SEED + i


def features(c: Case) -> np.ndarray:
    """Ten numbers summarising a case (the reference inference's evidence), from the chains' means (``loc``, each
    generation's sample mean) and the diagnostics: the means' persistence (the slope of the next mean on this one,
    about the chain's real mean), the late bulk level, how much the means' steps shrink from the first generations
    to the last, the late and the early location, the early bulk level, the early tail statistic, how much a
    chain's mean still moves late in the run, the lower minus the upper tail early on, and how far apart the
    chains end up."""
    if not isinstance(c, Case):
        raise ArgumentError(f"c must be a forensics Case; got {c!r:.60}")
    tail, bulk = diagnostics(c.samples, c.real)
    loc = c.samples.mean(axis=2)
    m = loc - c.real.mean(axis=1, keepdims=True)
    x, y = m[:, :-1].ravel(), m[:, 1:].ravel()
    step = np.abs(np.diff(loc, axis=1))
    lo, hi = np.quantile(c.real, [GAUSSIAN_TAIL_Q, 1 - GAUSSIAN_TAIL_Q])
    early = c.samples[:, 1:4]
    return np.array([np.sum(x * y) / np.sum(x * x), np.log(np.median(bulk[:, -10:])),
                     np.log(step[:, -10:].mean() / step[:, :5].mean()), loc[:, -10:].mean(), loc[:, 1:4].mean(),
                     np.log(np.median(bulk[:, 1:4])), tail[:, 1:4].mean(), np.log(np.var(loc[:, -15:], axis=1).mean()),
                     np.mean(early < lo) - np.mean(early > hi), np.log(np.var(loc[:, -10:].mean(axis=1)))])


def candidates(seeds: int = 6) -> dict:
    """The features of every configuration of the grid, simulated ``seeds`` times each (seeds CANDIDATE_SEED + i):
    ``{config: (seeds, 10) array}``."""
    seeds = validate.integer("seeds", seeds, 2, 1000)
    return {cfg: np.array([features(simulate(cfg, CANDIDATE_SEED + 1000 * j + i)) for i in range(seeds)])
            for j, cfg in enumerate(configs())}


def infer(c: Case, table: dict | None = None) -> Config:
    """The configuration of the grid whose simulated features are nearest to the case's (each feature in units of
    its spread between runs of one configuration). ``table``: :func:`candidates` (made here when None)."""
    table = candidates() if table is None else table
    x = features(c)
    centre = {k: v.mean(axis=0) for k, v in table.items()}
    spread = np.sqrt(np.mean([v.var(axis=0, ddof=1) for v in table.values()], axis=0))
    return min(centre, key=lambda k: float(np.sum(((x - centre[k]) / spread) ** 2)))
