"""Argument validation shared by every module: one message style, naming the argument and what is allowed."""
from __future__ import annotations

import math

import numpy as np


class ArgumentError(TypeError, ValueError):
    """A public function got an argument of the wrong type or out of range.

    It is both a ``TypeError`` and a ``ValueError``, so callers may catch either.
    """


def integer(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int, or :class:`ArgumentError` naming ``name`` and the allowed range ``[lo, hi]``."""
    allowed = "an int" + (f" >= {lo}" if lo is not None else "") + (f" and <= {hi}" if hi is not None else "")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentError(f"{name} must be {allowed}; got {value!r} ({type(value).__name__})")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ArgumentError(f"{name} must be {allowed}; got {value!r}")
    return int(value)


def number(name: str, value, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           hi_open: bool = False) -> float:
    """``value`` as a finite float, or :class:`ArgumentError` naming ``name`` and the allowed interval."""
    allowed = "a finite number"
    if lo is not None:
        allowed += f" {'>' if lo_open else '>='} {lo}"
    if hi is not None:
        allowed += f"{' and' if lo is not None else ''} {'<' if hi_open else '<='} {hi}"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):
        raise ArgumentError(f"{name} must be {allowed}; got {value!r}")
    v = float(value)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ArgumentError(f"{name} must be {allowed}; got {v}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise ArgumentError(f"{name} must be {allowed}; got {v}")
    return v
