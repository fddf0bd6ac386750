"""Checks that exercise cells call, one module per chapter: ``checks.ch1`` ... ``checks.ch5``.

Every check takes the learner's function, runs it on several inputs (never one magic value) and compares with a
reference computed here. Pass: one line starting with a check mark. Fail: an ``AssertionError`` whose message says
what was expected, what came back, and a hint. A function that still raises ``NotImplementedError`` fails with a
message that says so.
"""
from importlib import import_module as _import_module

from .core import CheckFailed, call, close, expect, passed

__all__ = ["CheckFailed", "call", "close", "expect", "passed"]


def __getattr__(name):
    if name.startswith("ch") and name[2:].isdigit():
        return _import_module(f".{name}", __name__)
    raise AttributeError(f"module 'collapse_lab.checks' has no attribute {name!r}")
