"""The pieces every chapter's checks are built from.

A check touches the learner's code only through :func:`call` (or :func:`call_with_grads`) and passes it plain data
(numbers, strings, numpy arrays, torch tensors, numpy Generators, lists/tuples/dicts of these), so the grader can
run the same check with the learner's function in another process. After every call :func:`last_call` says whether
the call changed numpy's legacy global random state or torch's default generator.

A failure is a :class:`CheckFailed` (an ``AssertionError``) whose message has three parts: what was tried, what was
expected and what came back, and a hint naming the likeliest mistake. A second, more specific hint is kept for
``checks.chN.hint("name")``. In an IPython kernel the failure shows only that message (and the learner's own
frames when their code crashed), not the check's internals; the cell still fails.
"""
from __future__ import annotations

import contextvars
import functools
import math
import sys
import textwrap
import traceback
from pathlib import Path
from typing import Callable

import numpy as np

from ..validate import ArgumentError, flag, integer, is_tensor, number as _finite

MARK = "\u2713"  # the check mark a passing check prints first
WIDTH = 110  # message lines are wrapped to fit a notebook


class CheckFailed(AssertionError):
    """A check failed: the message says what was expected, what came back, and a hint."""


def letters(answer, want: str, allowed: str, unit: str, example: str) -> str:
    """A conceptual answer given as a string of letters (one per ``unit``), checked for type and form against
    ``want``; returns it upper-cased with spaces, commas, semicolons and dashes dropped."""
    if not isinstance(allowed, str) or not allowed:
        raise ArgumentError(f"allowed must be a non-empty str of letters; got {allowed!r:.60}")
    if not isinstance(want, str) or not want or not set(want) <= set(allowed):
        raise ArgumentError(f"want must be a non-empty str of letters from allowed ({allowed!r}); got {want!r:.60}")
    choices = ", ".join(allowed)
    expect(isinstance(answer, str), "your answer is a string of letters", f"a str of {len(want)} letters {choices}",
           answer if not callable(answer) else "a function", f"assign a string such as {example!r}, not a function")
    got = "".join(ch for ch in answer.upper() if not ch.isspace() and ch not in ",;-")
    expect(len(got) == len(want) and set(got) <= set(allowed), f"{len(want)} letters, each {choices}",
           f"{len(want)} letters from {choices}", answer, f"one letter per {unit}, in the order of the list")
    return got


def passed(message: str) -> None:
    """Print the one line of a passing check (wrapped to :data:`WIDTH` characters when longer)."""
    print(textwrap.fill(f"{MARK} {message}", WIDTH, subsequent_indent="  ", break_on_hyphens=False))


# ---------------------------------------------------------------------------------------------------------------
# showing values: plain numbers, arrays with their shape


def _plain(x):
    """numpy/torch scalars as Python numbers, so messages read ``5.0``, not ``np.float64(5.0)``."""
    if isinstance(x, np.generic):
        return x.item()
    return x


def _num(x) -> str:
    x = _plain(x)
    if isinstance(x, float):
        if math.isfinite(x) and x == round(x) and abs(x) < 1e15:
            return repr(float(x))
        return f"{x:.10g}"
    return repr(x)


def _array_text(a: np.ndarray, limit: int) -> str:
    edge = 4 if a.ndim < 2 else 2
    if a.dtype.kind in "fc":
        body = np.array2string(a, precision=6, threshold=12, edgeitems=edge, max_line_width=10_000,
                               separator=", ", floatmode="maxprec")
    else:
        body = np.array2string(a, threshold=12, edgeitems=edge, max_line_width=10_000, separator=", ")
    body = " ".join(body.split())  # rows of a matrix on one line
    return f"array {a.shape} {a.dtype}: {body}"


def show(x, limit: int = 240) -> str:
    """A short readable text for a value in a message: plain numbers, shapes of arrays and tensors.

    ``limit``: the longest text returned, in characters (an int >= 4; longer texts end in ``...``).
    """
    limit = integer("limit", limit, 4)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    x = _plain(x)
    if torch is not None and isinstance(x, torch.Tensor):
        grad = ", requires_grad" if x.requires_grad else ""
        if x.ndim == 0:
            s = f"tensor({_num(float(x.detach()))}{grad})"
        else:
            s = "tensor" + _array_text(x.detach().cpu().numpy(), limit)[5:].replace(":", grad + ":", 1)
    elif isinstance(x, np.ndarray):
        s = _array_text(x, limit)
    elif isinstance(x, (float, int, bool)) or x is None:
        s = _num(x)
    elif isinstance(x, tuple) and not hasattr(x, "_fields"):
        s = "(" + ", ".join(show(v, limit) for v in x) + ("," if len(x) == 1 else "") + ")"
    elif isinstance(x, list):
        inner = ", ".join(show(v, limit) for v in x[:8]) + (", ..." if len(x) > 8 else "")
        s = f"list of {len(x)}: [{inner}]"
    elif isinstance(x, str):
        s = x
    else:
        s = f"a {type(x).__module__}.{type(x).__qualname__}" if not isinstance(x, type) else f"class {x.__name__}"
        if type(x).__module__ == "builtins":
            s = repr(x)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _first_difference(expected, got) -> str | None:
    """Where two arrays of one shape first differ, as a line for the message (None when not two such arrays)."""
    try:
        e = np.asarray(expected, dtype=float)
        g = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return None
    if e.ndim == 0 or g.ndim == 0 or not all(isinstance(x, (np.ndarray, list)) for x in (expected, got)):
        return None
    if e.shape != g.shape:
        return f"shapes differ: expected {e.shape}, got {g.shape}"
    bad = ~np.isclose(g, e, rtol=1e-6, atol=1e-9, equal_nan=True)
    if not bad.any():
        return None
    i = tuple(int(v) for v in np.argwhere(bad)[0])
    idx = ", ".join(str(v) for v in i)
    ev, gv = np.asarray(expected)[i], np.asarray(got)[i]
    return f"first difference at [{idx}]: expected {_num(ev)}, got {_num(gv)} ({int(bad.sum())} differ)"


# ---------------------------------------------------------------------------------------------------------------
# the exercise being checked, and second hints


_CURRENT: contextvars.ContextVar = contextvars.ContextVar("collapse_lab_check", default=None)
_REGISTRY: dict[str, "Hints"] = {}


class Hints:
    """``checks.chN.hint("name")``: the second, more specific hint of an exercise of chapter N.

    It prints the hint kept by the last failure of that exercise's check in this kernel (the one naming the
    mistake observed), else the exercise's general second hint. Either stops short of the answer.
    """

    def __init__(self, chapter: str, general: dict[str, str]):
        if not isinstance(chapter, str) or not chapter:
            raise ArgumentError(f"chapter must be a non-empty str such as 'ch1'; got {chapter!r:.60}")
        if not isinstance(general, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in general.items()):
            raise ArgumentError(f"general must be a dict {{exercise name: hint text}} of str; got {general!r:.60}")
        self.chapter = chapter
        self.general = dict(general)
        self.last: dict[str, str] = {}
        _REGISTRY[chapter] = self

    def text(self, exercise: str) -> str:
        if not isinstance(exercise, str):
            raise ArgumentError(f"exercise must be the name (a str) of one of this chapter's checks; "
                                f"got {exercise!r:.60}")
        if exercise not in self.general and exercise not in self.last:
            names = ", ".join(sorted(self.general)) or "none"
            raise ArgumentError(f"exercise must be one of this chapter's checks ({names}); got {exercise!r}")
        return self.last.get(exercise) or self.general[exercise]

    def __call__(self, exercise: str) -> None:
        print(textwrap.fill(f"more help on {exercise}: {self.text(exercise)}", WIDTH, subsequent_indent="  "))

    def __repr__(self):
        return f"checks.{self.chapter}.hint: call hint('<exercise>') for more help on a failed check"


KINDS = ("code", "concept")


def exercise(chapter: str, refs=(), kind: str = "code"):
    """Decorator of a check function: failures name it, so they can point at ``checks.<chapter>.hint(name)``.

    ``refs``: the package functions that answer this exercise (``"module.qualname"`` relative to ``collapse_lab``,
    e.g. ``"tails.refit"`` or ``"loop.Mix.build"``): a graded run's kernel gets them as stubs that raise
    (:mod:`collapse_lab.grading.keyless`). ``kind``: ``"code"`` (the learner writes a function or class) or
    ``"concept"`` (the learner gives a value). Both are kept on the check as ``refs`` and ``kind``.
    The wrapped check keeps its own signature: ``checks.ch5.window_policy(cls=Window)`` works as documented.
    """
    if not isinstance(chapter, str) or not chapter:
        raise ArgumentError(f"chapter must be a non-empty str such as 'ch1'; got {chapter!r:.60}")
    if isinstance(refs, str) or not isinstance(refs, (tuple, list)) or not all(
            isinstance(r, str) and r.replace(".", "").replace("_", "").isalnum() and "." in r for r in refs):
        raise ArgumentError(f"refs must be a tuple of 'module.qualname' strings; got {refs!r:.80}")
    if kind not in KINDS:
        raise ArgumentError(f"kind must be one of {KINDS}; got {kind!r:.60}")

    def wrap(check):
        @functools.wraps(check)
        def run(*args, **kwargs):
            if kind == "concept" and args and args[0] is None:  # the answer cell's stub, left as it was
                raise CheckFailed(f"{check.__name__} is not answered yet\n  expected: your answer\n  got:      None\n"
                                  "  hint: replace None with your answer and run the cell again")
            token = _CURRENT.set((chapter, check.__name__))
            try:
                return check(*args, **kwargs)
            finally:
                _CURRENT.reset(token)

        run.refs, run.kind, run.chapter = tuple(refs), kind, chapter
        return run

    return wrap


def expect(ok: bool, what: str, expected, got, hint: str, more: str | None = None, diff: bool = True) -> None:
    """Raise :class:`CheckFailed` with a three-part message unless ``ok``.

    ``hint`` names the likeliest mistake for this failure and nudges towards the concept; ``more`` is the second,
    more specific hint shown by ``checks.chN.hint(name)`` (never the solution line). ``ok`` and ``diff`` are bools
    (numpy's too); ``what``, ``hint`` and ``more`` are shown as text.
    """
    ok = flag("ok", ok)
    diff = flag("diff", diff)
    if ok:
        return
    what, hint = str(what), str(hint)
    more = None if more is None else str(more)
    lines = [what, f"  expected: {show(expected)}", f"  got:      {show(got)}"]
    where = _first_difference(expected, got) if diff else None
    if where:
        lines.append(f"  {where}")
    lines.append(f"  hint: {hint}")
    current = _CURRENT.get()
    if current is not None:
        chapter, name = current
        hints = _REGISTRY.get(chapter)
        if hints is not None:
            if more:
                hints.last[name] = more
            else:
                hints.last.pop(name, None)
            if more or name in hints.general:
                lines.append(f"  more help: checks.{chapter}.hint({name!r})")
    raise CheckFailed(_wrap(lines))


def _wrap(lines: list[str]) -> str:
    """Join message lines, each wrapped to :data:`WIDTH` characters (continuations indented under their text)."""
    out = []
    for line in lines:
        if len(line) <= WIDTH:
            out.append(line)
            continue
        body = line.lstrip()
        head = len(line) - len(body)
        if body.startswith(("hint: ", "expected: ", "got:      ", "more help: ")):
            head += body.index(" ") + 1 + (len(body.split(" ", 1)[1]) - len(body.split(" ", 1)[1].lstrip()))
        out += textwrap.wrap(line, WIDTH, subsequent_indent=" " * min(head, 12), break_on_hyphens=False)
    return "\n".join(out)


def fail(what: str, expected, got, hint: str, more: str | None = None):
    """Raise :class:`CheckFailed` (``expect`` with ``ok=False``)."""
    expect(False, what, expected, got, hint, more)


# ---------------------------------------------------------------------------------------------------------------
# calling the learner's code


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


# ---------------------------------------------------------------------------------------------------------------
# comparisons


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


# ---------------------------------------------------------------------------------------------------------------
# a failed check in a notebook: the message, not the check's frames


_PACKAGE = str(Path(__file__).resolve().parent.parent)


def _learner_frames(exc: BaseException) -> list[str]:
    """The frames of ``exc``'s traceback outside collapse_lab (the learner's own code), formatted."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not str(Path(f.filename).resolve())
              .startswith(_PACKAGE) and "site-packages/IPython" not in f.filename]
    return traceback.format_list(frames) if frames else []


def render(value: BaseException) -> list[str]:
    """The lines a notebook shows for a failed check: its message, and the learner's frames of a crash."""
    if not isinstance(value, BaseException):
        raise ArgumentError(f"value must be an exception (a failed check); got {show(value, 60)} "
                            f"({type(value).__name__})")
    red, bold, reset = "\x1b[31m", "\x1b[1m", "\x1b[0m"
    msg = str(value).splitlines() or [""]
    out = [f"{red}{bold}Check failed{reset}{red}: {msg[0]}{reset}", *msg[1:]]
    cause = value.__cause__
    if cause is not None:
        frames = _learner_frames(cause)
        if frames:
            out += ["", "where your code raised it:", *"".join(frames).rstrip("\n").splitlines(),
                    f"{type(cause).__name__}: {cause}"]
    return ["\n".join(out)]


def _custom_exc(shell, etype, value, tb, tb_offset=None):
    stb = render(value)
    shell._showtraceback(etype, value, stb)  # ipykernel sends it as the error output (ename, evalue kept)
    return stb


def install_ipython_handler() -> bool:
    """In an IPython kernel, show failed checks as their message only. Returns True when installed."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    known = tuple(getattr(shell, "custom_exceptions", ()) or ())
    if CheckFailed in known:
        return True
    if known:  # someone else's handler is in place: keep it (IPython holds one handler)
        return False
    shell.set_custom_exc((CheckFailed,), _custom_exc)
    return True
