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

__all__ = ["CheckFailed", "call", "call_with_grads", "close", "expect", "last_call", "mode", "passed", "variant"]

MODE_ENV = "COLLAPSE_LAB_MODE"
MODES = ("self-study", "student", "graded")


def mode() -> str:
    """How this kernel's checks behave: ``'self-study'`` (the full course: every check says what is right and what
    is wrong), ``'student'`` (a student bundle: form and idea only, the answers are not here) or ``'graded'`` (the
    kernel of a ``collapse-lab check`` run: form only, reference functions stubbed out). ``$COLLAPSE_LAB_MODE``
    names it where it is set (the grader sets ``graded``); otherwise the checks in this copy decide."""
    import os

    from .edition import EDITION

    env = os.environ.get(MODE_ENV, "")
    if env in MODES:
        return env
    return "self-study" if EDITION == "full" else "student"


def variant(chapter, student=None):
    """This learner's parameters of a chapter's exercises (:func:`collapse_lab.checks.variants.variant`)."""
    from .variants import variant as _variant

    return _variant(chapter, student)

install_ipython_handler()


def __getattr__(name):
    if name.startswith("ch") and name[2:].isdigit():
        return _import_module(f".{name}", __name__)
    raise AttributeError(f"module 'collapse_lab.checks' has no attribute {name!r}")
