"""The pieces every chapter's checks are built from, one concept per module, gathered here for ``checks/chN.py``:
what a check says (:mod:`.messages`: :class:`CheckFailed`, :func:`expect`, :func:`show`, :class:`Hints`,
:func:`exercise`), calling the learner's code (:mod:`.calls`), the comparisons a check makes (:mod:`.compare`), and a
failed check in a notebook (:mod:`.display`); and :func:`letters`, the reader of conceptual answers given as letters.
"""
from __future__ import annotations

from ..validate import ArgumentError
from .calls import call, call_with_grads, last_call
from .compare import close, is_number, number, rng_contract, unchanged
from .display import install_ipython_handler, render
from .messages import (KINDS, MARK, WIDTH, CheckFailed, Hints, _REGISTRY, exercise, expect, fail, passed,  # noqa: F401
                       show)


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


def letters_in_order(answer, want: str, order, allowed: str, unit: str, example: str, differ: str, expected: str,
                     hint: str) -> str:
    """:func:`letters` for an item whose ``unit``s come in the learner's own ``order`` (a variant): one failure
    naming the wrong entries, both by position and by the ``unit`` number of the exercise text."""
    got = letters(answer, want, allowed, unit, example)
    wrong = [j for j in range(len(want)) if got[j] != want[j]]
    expect(not wrong, f"entries {[j + 1 for j in wrong]} ({unit}s {[order[j] for j in wrong]} in your order "
           f"{tuple(order)}) {differ}", expected, got, hint)
    return got
