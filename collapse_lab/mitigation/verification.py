"""Verification and filtering of synthetic data (Yi, Liu, Cheng, Xu 2025): a verifier and a policy that keeps only
what it accepts."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import loop
from ..runtime import progress
from ..validate import array as _array, integer as _int, number as _num, seed as _seed
from .linreg import linreg_family, _lr_args


# ---------------------------------------------------------------------------------------------------------------
# 4. verification and filtering (Yi, Liu, Cheng, Xu 2025)


class Verifier:
    """Accepts a synthetic regression example (x, y) when |y - x . center| <= radius * s.

    ``center`` (d,) is the verifier's own "knowledge centre" (its weights): equal to w* for a perfect verifier,
    off by some bias for an imperfect one. Called on data (N, R, d + 1) (or (N, d + 1)) it returns a boolean mask
    (N,) computed on replication 0 (the verifier experiment runs one replication per chain).
    """

    def __init__(self, center, radius: float = 1.0, s: float = 1.0):
        self.center = _array("center", center, ndim=1, min_size=0, finite=False)
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
        """Candidates written per generation: ``oversample`` times the real size."""
        return self.oversample * _int("n_real", n_real, 0)

    def build(self, real, synthetic_sets, rng):
        loop.Policy.check(real, synthetic_sets, rng)
        if loop.size(real) == 0:
            raise ValueError("real must hold at least one example: the verified set keeps as many accepted "
                             "candidates as there are real examples")
        cand = synthetic_sets[-1]
        mask = np.asarray(self.verifier(cand), dtype=bool)
        if mask.shape != (loop.size(cand),):
            raise ValueError(f"the verifier must return one boolean per example ({loop.size(cand)}); got {mask.shape}")
        self.accepted.append(float(mask.mean()))
        idx = np.flatnonzero(mask)[: loop.size(real)]
        if idx.size == 0:
            raise ValueError(f"the verifier accepted none of the {mask.size} candidates: nothing to train on; "
                             f"loosen the verifier or raise oversample (now {self.oversample})")
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
    rng = np.random.default_rng([_seed("seed", seed), 7])
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
