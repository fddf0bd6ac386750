"""Calling the learner's code: a check touches it only through :func:`call` (or :func:`call_with_grads`) and passes
it plain data (numbers, strings, numpy arrays, torch tensors, numpy Generators, lists/tuples/dicts of these), so the
grader can run the same check with the learner's function in another process. After every call :func:`last_call`
says whether the call changed numpy's legacy global random state or torch's default generator."""
from __future__ import annotations

import sys
from typing import Callable

import numpy as np

from ..validate import ArgumentError, is_tensor
from .messages import CheckFailed, _plain, _wrap, show

_LAST: dict = {"global_rng_changed": False, "name": None}


def _global_rng_state():
    """numpy's legacy global state and torch's default generator state (torch only when already imported)."""
    st = np.random.get_state()
    out = [st[0], st[1].copy(), *st[2:]]
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_rng_state"):
        out.append(torch.get_rng_state().numpy().copy())
    return out


def _same_state(a, b) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, np.ndarray):
            if not np.array_equal(x, y):
                return False
        elif x != y:
            return False
    return True


def last_call() -> dict:
    """Facts about the last :func:`call`: ``{"global_rng_changed": bool, "name": str}``."""
    return dict(_LAST)


def call(fn: Callable, *args, name: str | None = None, **kwargs):
    """Call the learner's ``fn``; turn 'not written yet' and crashes into a clear failed check.

    Records in :func:`last_call` whether numpy's legacy global random state or torch's default generator changed.
    """
    if name is not None and not isinstance(name, str):
        raise ArgumentError(f"name must be a str (how messages call the function) or None; got {show(name, 60)}")
    if not callable(fn):
        raise CheckFailed(f"expected a function, got {show(fn, 60)} ({type(fn).__name__})\n  hint: pass the function "
                          "itself, without calling it, e.g. check(my_function)")
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
        msg = str(e).splitlines()[0] if str(e) else ""
        raise CheckFailed(_wrap([f"{label}{_fmt_args(args, kwargs)} raised {type(e).__name__}: {msg}",
                                 "  expected: a result", "  got:      an exception",
                                 f"  hint: {_crash_hint(e)}"])) from e
    finally:
        _LAST.clear()
        _LAST.update(global_rng_changed=not _same_state(before, _global_rng_state()), name=label)
        facts = getattr(fn, "__collapse_lab_call_facts__", None)  # the grader's proxy: the call ran in a kernel
        if facts is not None:
            _LAST.update(facts())


def call_with_grads(fn: Callable, *args, wrt=(0,), name: str | None = None, **kwargs):
    """Call ``fn`` with the positional tensor arguments ``wrt`` made leaves that require gradients.

    Returns ``(result, grads)``: ``grads[j]`` is the gradient (a numpy array) of ``result`` with respect to
    ``args[wrt[j]]``, or None when no gradient flows (``result`` is not a tensor, does not require a gradient, or
    is not a scalar). The caller's tensors are not changed. (The grader's remote proxy carries the leaves and their
    gradients across to the learner's kernel and back: :mod:`collapse_lab.grading.remote`.)
    """
    import torch

    if name is not None and not isinstance(name, str):
        raise ArgumentError(f"name must be a str (how messages call the function) or None; got {show(name, 60)}")
    if not isinstance(wrt, (tuple, list)) or not wrt or not all(
            isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)) and 0 <= i < len(args)
            for i in wrt):
        raise ArgumentError(f"wrt must be a non-empty tuple of positions of args (ints in 0..{len(args) - 1}); "
                            f"got {show(wrt, 60)}")
    wrt = tuple(int(i) for i in wrt)
    args = list(args)
    for i in wrt:
        if not isinstance(args[i], torch.Tensor) or not (args[i].is_floating_point() or args[i].is_complex()):
            raise ArgumentError(f"args[{i}] must be a float torch tensor (wrt={wrt} asks for its gradient); "
                                f"got {show(args[i], 60)} ({type(args[i]).__name__})")
        args[i] = args[i].detach().clone().requires_grad_(True)
    result = call(fn, *args, name=name, **kwargs)
    grads = [None] * len(wrt)
    if isinstance(result, torch.Tensor) and result.requires_grad and result.numel() == 1:
        leaves = [args[i] for i in wrt]
        got = torch.autograd.grad(result.reshape(()), leaves, allow_unused=True)
        grads = [None if g is None else g.detach().cpu().numpy() for g in got]
    return result, grads


def _brief(x) -> str:
    """An argument in one short word: arrays and tensors by shape, generators as rng."""
    x = _plain(x)
    if isinstance(x, np.ndarray) or is_tensor(x):
        kind = "array" if isinstance(x, np.ndarray) else "tensor"
        return f"<{kind} {tuple(x.shape)}>"
    if isinstance(x, np.random.Generator):
        return "rng"
    if callable(x) and not isinstance(x, type) and hasattr(x, "__name__"):
        return f"<function {x.__name__.lstrip('_')}>"
    if isinstance(x, (list, tuple)) and len(x) > 3:
        return f"<{type(x).__name__} of {len(x)}>"
    return show(x, 40)


def _fmt_args(args, kwargs) -> str:
    parts = [_brief(a) for a in args] + [f"{k}={_brief(v)}" for k, v in kwargs.items()]
    return "(" + ", ".join(parts) + ")"


def _crash_hint(e: Exception) -> str:
    text = str(e)
    if "only 0-dimensional arrays" in text or "only length-1 arrays" in text or "only one element tensors" in text:
        return ("a function made for single numbers (math.*, float(), int(), an if on an array) got an array: "
                "use numpy's array versions")
    if isinstance(e, TypeError) and "unexpected keyword argument" in text:
        return "a function was called with a keyword it does not take: use the argument names the text writes"
    if isinstance(e, ZeroDivisionError):
        return "a division by zero: the text says what to return when there is nothing to divide by"
    if isinstance(e, IndexError):
        return "an index ran past an array's end: compare the shapes you assume with the ones passed in"
    return "run the function on such arguments in a cell and read the traceback"
