"""Inputs the checks hand to a learner's function: module-level functions, so the grader passes them to the
learner's kernel by name. They hold no answer, and a graded kernel keeps this module whole (see
:mod:`collapse_lab.grading.keyless`)."""
from __future__ import annotations

import functools
import math

import numpy as np

from .. import loop
from ..runtime import silence_progress


@functools.lru_cache(maxsize=64)  # a pure function of its arguments: the reference and the learner share runs
def mix_chain(f, seed, generations=60, M=200):
    """Final W2^2 to N(0, 1) of a Gaussian chain keeping a real fraction f (the check's own reference run)."""
    from ..metrics import w2_gaussian

    def fit(x, rng):
        return float(np.mean(x)), float(np.var(x, ddof=1))

    def sample(m, n, rng):
        return rng.normal(m[0], math.sqrt(m[1]), n)

    real = np.random.default_rng([seed, 3]).standard_normal(M)
    with silence_progress():
        h = loop.run(loop.Family(fit, sample), real, generations, policy=loop.policy("mix", fraction=f), seed=seed,
                     metrics={"d": lambda m, _: w2_gaussian(m[0], m[1], 0.0, 1.0)})
    return float(h["d"][-1])


# the chains minimal_fraction is tried on: module-level functions run(f, seed) (the grader passes them by name)

def decay(f, seed):
    return 1.0 / (1.0 + 100 * f) + 0.01 * seed


def linear(f, seed):
    return 1.0 - f


def first_seed_good(f, seed):
    return 0.0 if seed == 0 else 1.0


def seed_ramp(f, seed):
    return 0.1 * seed + (0.0 if f >= 0.3 else 1.0)


def at_tol(f, seed):
    """Exactly tol = 0.25 on average at f = 0.2 (0.0 and 0.5 over seeds 0 and 1)."""
    if f < 0.15:
        return 0.5
    if f < 0.3:
        return 0.5 if seed % 2 else 0.0
    return 0.0


STOP = "stop at the first fraction that passes"


def costly(f, seed):
    """Passes from f = 0.1 on; running a larger fraction is an error (every run costs compute)."""
    if f > 0.1 + 1e-12:
        raise RuntimeError(f"run(f={f}) was called although a smaller fraction passes: {STOP}")
    return 1.0 / (1.0 + 100 * f)


def skewed(f, seed):
    """One bad seed in three below f = 0.5: the mean over seeds 0..2 is 1/3 there, the median 0."""
    return 1.0 if seed == 0 and f < 0.5 else 0.0
