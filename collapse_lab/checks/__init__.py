"""Checks that exercise cells call, one module per chapter: ``checks.ch1`` ... ``checks.ch5``.

Every check takes the learner's function, runs it on several inputs (never one magic value) and compares with a
reference computed here. Pass: one line starting with a check mark. Fail: a :class:`CheckFailed` (an
``AssertionError``) whose message says what was tried, what was expected and what came back, and a hint;
``checks.chN.hint("name")`` gives a second, more specific one. A function that still raises
``NotImplementedError`` fails with a message that says so. Imported in an IPython kernel, a failed check shows its
message without the check's own frames (the cell still fails).
"""
from importlib import import_module as _import_module

from .core import CheckFailed, call, call_with_grads, close, expect, install_ipython_handler, last_call, passed

__all__ = ["CheckFailed", "call", "call_with_grads", "close", "expect", "last_call", "passed"]

install_ipython_handler()


def __getattr__(name):
    if name.startswith("ch") and name[2:].isdigit():
        return _import_module(f".{name}", __name__)
    raise AttributeError(f"module 'collapse_lab.checks' has no attribute {name!r}")
