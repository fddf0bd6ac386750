"""What a check says: a :class:`CheckFailed` (an ``AssertionError``) whose message has three parts, what was tried,
what was expected and what came back, and a hint naming the likeliest mistake; values shown short (numbers plain,
arrays and tensors with their shape); the exercise being checked, so a second, more specific hint is kept for
``checks.chN.hint("name")``."""
from __future__ import annotations

import contextvars
import functools
import math
import textwrap

import numpy as np

from ..validate import ArgumentError, flag, integer

MARK = "\u2713"  # the check mark a passing check prints first
WIDTH = 110  # message lines are wrapped to fit a notebook


class CheckFailed(AssertionError):
    """A check failed: the message says what was expected, what came back, and a hint."""


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
