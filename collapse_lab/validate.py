"""Argument validation shared by every module: one message style, naming the argument and what is allowed."""
from __future__ import annotations

import math
import sys

import numpy as np


# The default upper bound of an int argument: no size, count or number of generations in the course comes near it.
MAX_INT = 10_000_000


class ArgumentError(TypeError, ValueError):
    """A public function got an argument of the wrong type or out of range.

    It is both a ``TypeError`` and a ``ValueError``, so callers may catch either.
    """


def _int_bound(arg: str, v) -> None:
    """A bound of an int range: None or an int (checked so a bad bound is named, not a comparison failing)."""
    if v is not None and (isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer))):
        raise ArgumentError(f"{arg} must be an int or None; got {v!r:.60} ({type(v).__name__})")


def _empty(lo, hi) -> str:
    """The end of an out-of-range message when the range itself is empty (a bad ``lo``/``hi``, not a bad value)."""
    return f" (no value fits: lo={lo!r} > hi={hi!r})" if lo is not None and hi is not None and lo > hi else ""


def is_tensor(x) -> bool:
    """Whether ``x`` is a torch tensor, without importing torch (a module that never saw torch has none)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def flag(name: str, value) -> bool:
    """``value`` as a bool (Python's, numpy's or a one-element bool tensor), or :class:`ArgumentError`."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if is_tensor(value) and value.dtype == sys.modules["torch"].bool and value.numel() == 1:
        return bool(value)
    raise ArgumentError(f"{name} must be a bool (True or False); got {value!r:.60} ({type(value).__name__})")


def integer(name: str, value, lo: int | None = None, hi: int | None = MAX_INT) -> int:
    """``value`` as an int, or :class:`ArgumentError` naming ``name`` and the allowed range ``[lo, hi]``.

    ``hi`` defaults to :data:`MAX_INT`, so a typo such as ``generations=10**12`` fails at once instead of running for
    days or allocating terabytes; ``hi=None`` is no upper bound (seeds: see :func:`seed`).
    """
    _int_bound("lo", lo)
    _int_bound("hi", hi)
    allowed = "an int" + (f" >= {lo}" if lo is not None else "") + (f" and <= {hi}" if hi is not None else "")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentError(f"{name} must be {allowed}; got {value!r} ({type(value).__name__})")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ArgumentError(f"{name} must be {allowed}; got {value!r}{_empty(lo, hi)}")
    return int(value)


def seed(name: str, value, hi: int | None = None) -> int:
    """``value`` as a seed: an int >= 0, with no upper bound unless ``hi`` (numpy takes any such int; a seed that
    goes to torch needs ``hi=2**63 - 1``), or :class:`ArgumentError`."""
    return integer(name, value, 0, hi)


def number(name: str, value, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           hi_open: bool = False) -> float:
    """``value`` as a finite float, or :class:`ArgumentError` naming ``name`` and the allowed interval.

    ``lo``, ``hi``: the bounds (numbers, not NaN; None for none); ``lo_open``/``hi_open``: bools, True to exclude
    the bound itself.
    """
    for arg, b in (("lo", lo), ("hi", hi)):
        if b is not None and (isinstance(b, (bool, np.bool_)) or not isinstance(b, (int, float, np.integer,
                                                                                     np.floating)) or b != b):
            raise ArgumentError(f"{arg} must be a number (not NaN) or None; got {b!r:.60} ({type(b).__name__})")
    lo_open = flag("lo_open", lo_open)
    hi_open = flag("hi_open", hi_open)
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
        raise ArgumentError(f"{name} must be {allowed}; got {v}{_empty(lo, hi)}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise ArgumentError(f"{name} must be {allowed}; got {v}{_empty(lo, hi)}")
    return v


# Counts above this are refused outright: nothing in the course needs more generations, seeds, epochs or chains,
# and a typo such as 10**12 should fail at once instead of running for days.
MAX_COUNT = 1_000_000

# Estimated allocations above this many bytes are refused before they start (COLLAPSE_LAB_MEMORY_BUDGET overrides,
# in GiB): a learner's kernel should get a message, not a MemoryError from deep inside numpy or a dead kernel.
DEFAULT_MEMORY_GIB = 8.0


def count(name: str, value, lo: int = 1, hi: int = MAX_COUNT) -> int:
    """An int count in ``[lo, hi]`` (``hi`` defaults to :data:`MAX_COUNT`), or :class:`ArgumentError`."""
    _int_bound("lo", lo)
    _int_bound("hi", hi)
    return integer(name, value, lo, hi)


def seeds(name: str, value, hi: int = MAX_COUNT) -> list:
    """A list of seeds (ints >= 0) from an int ``k`` (seeds ``0..k-1``, ``k`` in ``[1, hi]``) or a non-empty list."""
    hi = integer("hi", hi, 1)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return list(range(count(name, value, 1, hi)))
    if not isinstance(value, (list, tuple, range, np.ndarray)):
        raise ArgumentError(f"{name} must be an int >= 1 or a non-empty list of seeds; got {value!r:.60}")
    out = [seed(f"{name}[i]", v) for v in value]
    if not out:
        raise ArgumentError(f"{name} must be an int >= 1 or a non-empty list of seeds; got an empty list")
    if len(out) > hi:
        raise ArgumentError(f"{name} must hold at most {hi:,} seeds; got {len(out):,}")
    return out


def memory_budget() -> float:
    """The allocation budget in bytes (``COLLAPSE_LAB_MEMORY_BUDGET`` GiB, default 8)."""
    import os

    raw = os.environ.get("COLLAPSE_LAB_MEMORY_BUDGET", "")
    try:
        gib = float(raw) if raw else DEFAULT_MEMORY_GIB
    except ValueError:
        raise ArgumentError(f"COLLAPSE_LAB_MEMORY_BUDGET must be a number of GiB; got {raw!r}") from None
    if not math.isfinite(gib) or gib <= 0:
        raise ArgumentError(f"COLLAPSE_LAB_MEMORY_BUDGET must be a positive number of GiB; got {raw!r}")
    return gib * 2**30


def fits_memory(what: str, n_bytes: float) -> None:
    """Refuse an allocation of about ``n_bytes`` (a number >= 0) above :func:`memory_budget`, saying what
    (``what``, a str) would need it."""
    if not isinstance(what, str) or not what:
        raise ArgumentError(f"what must say what would be allocated (a non-empty str); got {what!r:.60}")
    if isinstance(n_bytes, (bool, np.bool_)) or not isinstance(n_bytes, (int, float, np.integer, np.floating)) \
            or not n_bytes >= 0:  # inf stays allowed: an overflowing estimate is still refused below, by size
        raise ArgumentError(f"n_bytes must be a number of bytes >= 0; got {n_bytes!r:.60}")
    budget = memory_budget()
    if n_bytes > budget:
        raise ArgumentError(f"{what} would need about {n_bytes / 2**30:.3g} GiB, above the memory budget of "
                            f"{budget / 2**30:.3g} GiB; use smaller sizes (or raise COLLAPSE_LAB_MEMORY_BUDGET, in GiB)")


def array(name: str, value, *, ndim: int | tuple | None = None, min_size: int = 1, finite: bool = True,
          dtype=float) -> np.ndarray:
    """``value`` as a numpy array of ``dtype``, checked for dimensions, size and finiteness.

    Raises :class:`ArgumentError` naming ``name``, what came in and what is allowed. The input is never changed
    (a copy is made when the dtype changes; callers that write into the result must copy it). ``ndim``: None (any),
    an int or a tuple of ints >= 0; ``min_size``: an int >= 0; ``finite``: a bool; ``dtype``: a numpy dtype (or
    None to keep the input's).
    """
    if ndim is not None:
        dims_ok = isinstance(ndim, tuple) and len(ndim) > 0 and all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and 0 <= d <= 32 for d in ndim)
        one_ok = isinstance(ndim, (int, np.integer)) and not isinstance(ndim, bool) and 0 <= ndim <= 32
        if not (dims_ok or one_ok):
            raise ArgumentError(f"ndim must be None, an int in [0, 32] or a tuple of them; got {ndim!r:.60}")
    min_size = integer("min_size", min_size, 0)
    finite = flag("finite", finite)
    if dtype is not None:
        try:
            if np.dtype(dtype).kind not in "biufc":
                raise TypeError
        except (TypeError, ValueError):
            raise ArgumentError(f"dtype must be a numpy dtype such as float, int or bool (or None); "
                                f"got {dtype!r:.60}") from None
    want = "an array" if ndim is None else f"a {ndim}-D array" if isinstance(ndim, int) else \
        f"an array with {' or '.join(str(d) for d in ndim)} dimensions"
    if value is None or isinstance(value, (str, bytes, dict, set, bool, np.bool_)):
        raise ArgumentError(f"{name} must be {want} of numbers; got {value!r:.40} ({type(value).__name__})")
    try:
        a = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise ArgumentError(f"{name} must be {want} of numbers; got {type(value).__name__} ({e})") from None
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if dims is not None and a.ndim not in dims:
        raise ArgumentError(f"{name} must be {want}; got shape {a.shape}")
    if a.size < min_size:
        raise ArgumentError(f"{name} must hold at least {min_size} value{'s' if min_size != 1 else ''}; "
                            f"got shape {a.shape}")
    if finite and np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a)):
        bad = np.flatnonzero(~np.isfinite(a.ravel()))
        raise ArgumentError(f"{name} must hold finite numbers; got {bad.size} NaN/inf value(s), the first at flat "
                            f"index {int(bad[0])} ({a.ravel()[bad[0]]})")
    return a


def path(name: str, value, *, kind: str | None = None, must_exist: bool = False):
    """``value`` as a ``pathlib.Path``: a str or os.PathLike, non-empty. ``kind``: ``"dir"`` or ``"file"`` (what
    it must be if it exists, and must exist as with ``must_exist``)."""
    import os
    from pathlib import Path

    must_exist = flag("must_exist", must_exist)
    if isinstance(value, bool) or not isinstance(value, (str, os.PathLike)) or str(value) == "":
        raise ArgumentError(f"{name} must be a path (a non-empty str or pathlib.Path); got {value!r:.80}")
    if not (kind is None or isinstance(kind, str) and kind in ("dir", "file")):
        raise ArgumentError(f"kind must be 'dir', 'file' or None; got {kind!r}")
    p = Path(value)
    what = {"dir": "a folder", "file": "a file", None: "a path"}[kind]
    if must_exist and not p.exists():
        raise ArgumentError(f"{name} must be {what} that exists; {str(p)!r} does not")
    if p.exists() and kind == "dir" and not p.is_dir():
        raise ArgumentError(f"{name} must be {what}; {str(p)!r} is a file")
    if p.exists() and kind == "file" and p.is_dir():
        raise ArgumentError(f"{name} must be {what}; {str(p)!r} is a folder")
    return p
