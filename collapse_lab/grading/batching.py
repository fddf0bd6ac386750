"""Speculative batching of the calls a check makes through a proxy: a fast path beside the plain one.

A check that draws many times from the learner's function on the same arguments (a Monte Carlo check: hundreds of
calls with one Generator) would pay one round trip to the kernel per call. When a call repeats the previous one
exactly -- the same encoded arguments, with the Generators where the previous call left them -- the grader asks the
kernel for several calls at once (twice as many each time the pattern holds, up to :data:`MAX_AHEAD`); the kernel
runs them in a row on the same arguments, its Generators advancing as in separate calls (:func:`run_ahead`, for at
most :data:`BUDGET` seconds), and the grader serves the next calls from those replies while they match
(:class:`Ahead`). Nothing is guessed: a reply is used only for a call whose arguments and Generator states are
exactly those it was computed on, so the results are those of the plain path.

The plain path (``Ahead(enabled=False)``, a channel made with ``batching=False``) asks for one call at a time; a test
(tests/test_grading_wire.py) compares the two on the course's checks.

Both sides import this module: the grader (:mod:`.remote`) and the kernel (:mod:`.shim`).
"""
from __future__ import annotations

import time

from ..validate import flag

MAX_AHEAD = 512  # calls asked for in one round trip, at most
BUDGET = 0.25  # seconds the kernel spends on calls asked for ahead before it replies


class Ahead:
    """The grader's side for one proxied function: the replies computed ahead, and how many to ask for next.

    ``enabled``: False for the plain path (one call per round trip)."""

    def __init__(self, enabled: bool = True):
        self.enabled = flag("enabled", enabled)
        self.cache: list = []  # (key, Generator states before the call, reply) of the calls computed ahead
        self.last = None  # (key, Generator states after) of the last call
        self.repeat = 1

    def take(self, key: str, gens: list):
        """The reply computed ahead for a call on the encoded arguments ``key`` with the Generator states ``gens``
        (lists of encoded states), or None."""
        if self.cache and self.cache[0][0] == key and self.cache[0][1] == gens:
            return self.cache.pop(0)[2]
        return None

    def how_many(self, key: str, gens: list) -> int:
        """How many calls to ask the kernel for: more when this call repeats the last one, else 1."""
        again = self.enabled and self.last is not None and self.last == (key, gens)
        self.repeat = min(self.repeat * 2, MAX_AHEAD) if again else 1
        return self.repeat

    def keep(self, key: str, batch: list) -> dict:
        """The first reply of the kernel's ``batch`` (a list of reply dicts); the others kept for the calls that
        repeat it (each valid for the Generator states the one before it left)."""
        self.cache = [(key, prev.get("gens"), r) for prev, r in zip(batch, batch[1:])]
        return batch[0]

    def done(self, key: str | None, gens: list | None = None) -> None:
        """Record the call just served (None: none, e.g. after an error)."""
        self.last = None if key is None else (key, gens)


def run_ahead(call_once, repeat: int, on_error) -> list:
    """The kernel's side: ``call_once()`` ``repeat`` times (at least once, at most 1024), stopping after an error
    (its reply from ``on_error(exception)``) or after :data:`BUDGET` seconds; returns the replies."""
    replies, t0 = [], time.monotonic()
    for j in range(max(1, min(repeat, 1024))):
        if j and time.monotonic() - t0 > BUDGET:
            break
        try:
            replies.append(call_once())
        except BaseException as e:  # noqa: BLE001 - the learner's error goes back as data
            replies.append(on_error(e))
            break
    return replies
