"""The pieces every chapter's checks are built from."""
from __future__ import annotations

import sys
from typing import Callable

import numpy as np

MARK = "\u2713"  # the check mark a passing check prints first


class CheckFailed(AssertionError):
    """A check failed: the message says what was expected, what came back, and a hint."""


def passed(message: str) -> None:
    """Print the one line of a passing check."""
    print(f"{MARK} {message}")


def _short(x, limit: int = 160) -> str:
    if isinstance(x, np.ndarray):
        s = np.array2string(x, precision=4, threshold=8, edgeitems=3)
    else:
        s = repr(x)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def expect(ok: bool, what: str, expected, got, hint: str) -> None:
    """Raise :class:`CheckFailed` with a three-part message unless ``ok``."""
    if not ok:
        raise CheckFailed(f"{what}\n  expected: {_short(expected)}\n  got:      {_short(got)}\n  hint: {hint}")


_LAST: dict = {"global_rng_changed": False, "name": None}


def _global_rng_state():
    st = np.random.get_state()
    out = [st[1].tobytes(), st[2:]]
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_rng_state"):
        out.append(torch.get_rng_state().numpy().tobytes())
    return out


def last_call() -> dict:
    """Facts about the last :func:`call`: ``{"global_rng_changed": bool, "name": str}``."""
    return dict(_LAST)


def call(fn: Callable, *args, name: str | None = None, **kwargs):
    """Call the learner's ``fn``; turn 'not written yet' and crashes into a clear failed check."""
    if not callable(fn):
        raise CheckFailed(f"expected a function, got {type(fn).__name__}\n  hint: pass the function itself, "
                          "without calling it, e.g. check(my_function)")
    label = name or getattr(fn, "__name__", "your function")
    before = _global_rng_state()
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailed(f"{label} is not written yet\n  expected: an implementation\n  got:      NotImplementedError"
                          "\n  hint: replace `raise NotImplementedError()` with your code") from None
    except CheckFailed:
        raise
    except Exception as e:  # a crash in the learner's code is a failed check, with the original error chained
        raise CheckFailed(f"{label}{_fmt_args(args, kwargs)} raised {type(e).__name__}: {e}\n  expected: a result\n"
                          f"  got:      an exception\n  hint: run the function on these arguments in a cell and "
                          "read the traceback") from e
    finally:
        _LAST.clear()
        _LAST.update(global_rng_changed=_global_rng_state() != before, name=label)
        facts = getattr(fn, "__collapse_lab_call_facts__", None)  # the grader's proxy: the call ran in a kernel
        if facts is not None:
            _LAST.update(facts())


def _fmt_args(args, kwargs) -> str:
    parts = [_short(a, 40) for a in args] + [f"{k}={_short(v, 40)}" for k, v in kwargs.items()]
    return "(" + ", ".join(parts) + ")"


def close(got, expected, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """True when ``got`` has ``expected``'s shape and matches it within tolerance (no exceptions raised)."""
    try:
        g = np.asarray(got, dtype=float)
        e = np.asarray(expected, dtype=float)
    except (TypeError, ValueError):
        return False
    return g.shape == e.shape and bool(np.allclose(g, e, rtol=rtol, atol=atol))
