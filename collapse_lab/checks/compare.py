"""Comparisons a check makes: numbers within tolerance, inputs left unchanged, randomness only through the rng given."""
from __future__ import annotations

import sys
from typing import Callable

import numpy as np

from ..validate import ArgumentError, is_tensor, number as _finite
from .messages import expect, show

def close(got, expected, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """True when ``got`` has ``expected``'s shape and matches it within tolerance (no exceptions raised for any
    ``got`` or ``expected``). ``rtol`` and ``atol``: finite numbers >= 0."""
    rtol = _finite("rtol", rtol, 0)
    atol = _finite("atol", atol, 0)
    try:
        g = np.asarray(got, dtype=float)
        e = np.asarray(expected, dtype=float)
    except (TypeError, ValueError):
        return False
    return g.shape == e.shape and bool(np.allclose(g, e, rtol=rtol, atol=atol))


def number(x):
    """A scalar result (Python, numpy or one-element tensor) as a float, else None."""
    try:
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(x, torch.Tensor):
            return float(x.detach()) if x.numel() == 1 and x.ndim == 0 else None
        if isinstance(x, (bool, np.bool_)) or x is None:
            return None
        if isinstance(x, (int, float, np.integer, np.floating)):
            return float(x)
    except (TypeError, ValueError):
        return None
    return None


def is_number(x) -> bool:
    """A plain number (Python or numpy scalar, not a bool, not an array)."""
    return number(x) is not None


def unchanged(before: dict, after: dict, label: str) -> None:
    """Fail when one of the caller's arrays (``after``, by argument name) differs from its copy ``before``.

    ``before`` and ``after``: dicts {argument name: numpy array or torch tensor} with the same keys.
    """
    for arg, d in (("before", before), ("after", after)):
        if not isinstance(d, dict) or not all(isinstance(v, np.ndarray) or is_tensor(v) for v in d.values()):
            raise ArgumentError(f"{arg} must be a dict {{argument name: numpy array or torch tensor}}; "
                                f"got {show(d, 60)}")
    if set(after) != set(before):
        raise ArgumentError(f"after must have the keys of before ({sorted(before)}); got {sorted(after)}")
    for arg, b in before.items():
        a = after[arg]
        a_, b_ = (np.asarray(a), np.asarray(b)) if not is_tensor(a) else (None, None)
        same = (np.array_equal(a_, b_, equal_nan=a_.dtype.kind in "fc" and b_.dtype.kind in "fc") if a_ is not None
                else bool(a.shape == b.shape and (a == b).all()))
        if not same:
            expect(False, f"{label} changed its argument `{arg}` in place", "the input left as it was",
                   "a changed input", f"an in-place change (x[...] = ..., +=, .sort(), rng.shuffle) reaches the "
                   f"caller's array: build a new array instead; the notebook reuses `{arg}` after the call",
                   "in-place operations (x[...] = ..., x /= ..., x.sort(), rng.shuffle(x)) change the "
                   "caller's array; views (x[:k], x.reshape(...)) share memory with it too")


def rng_contract(results: list, label: str, equal: Callable) -> None:
    """Randomness only through the rng given.

    ``results``: ``(result, global_rng_changed)`` of calls with generators of seeds a, a, b, c, ... (one or more
    other seeds). Fails when a call changed the global state, when the two calls with seed a differ, or when every
    other seed gives seed a's result. ``equal(r1, r2) -> bool`` compares two results.
    """
    if not isinstance(results, (list, tuple)) or len(results) < 3 or not all(
            isinstance(p, tuple) and len(p) == 2 and isinstance(p[1], (bool, np.bool_)) for p in results):
        raise ArgumentError(f"results must be a list of at least 3 pairs (result, global_rng_changed: bool); "
                            f"got {show(results, 60)}")
    if not callable(equal):
        raise ArgumentError(f"equal must be a function equal(a, b) -> bool; got {show(equal, 60)}")
    for r, changed in results:
        expect(not changed, f"{label} changed numpy's global random state (np.random.*) or torch's",
               "every random draw from the rng argument", "a draw from the global generator",
               "draw only from the `rng` you are given (rng.normal, rng.integers, ...), never np.random.* or "
               "torch's global generator: results must be reproducible from the rng alone",
               "np.random.seed/np.random.normal/np.random.choice and sklearn's random_state=None all use the global "
               "generator; a seed for another library can be drawn from rng with rng.integers(2**31 - 1)")
    (a, _), (a2, _) = results[:2]
    expect(equal(a, a2), f"{label} with two generators of the same seed", "the same result",
           "two different results", "use only the rng argument for randomness (no global state, no time, "
           "no os.urandom)")
    others = [r for r, _ in results[2:]]
    expect(not all(equal(a, b) for b in others), f"{label} with generators of {len(others) + 1} different seeds",
           "different results", "the same result every time", "the result must depend on the rng you are given: "
           "draw with it, and no fixed seed or random_state=0 inside",
           "a fixed random_state (or a fresh default_rng(0)) makes every call alike; draw whatever seed another "
           "library needs from rng")
