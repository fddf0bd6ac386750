"""Every exercise check, across chapters, refuses a function that returns a constant, with an AssertionError."""
import importlib
import inspect

import pytest

CHECKS = [(ch, name, f) for ch in range(1, 6)
          for name, f in inspect.getmembers(importlib.import_module(f"collapse_lab.checks.ch{ch}"), inspect.isfunction)
          if f.__module__ == f"collapse_lab.checks.ch{ch}" and not name.startswith("_")]


def test_every_chapter_has_checks():
    assert {ch for ch, _, _ in CHECKS} == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("ch,name,check", CHECKS, ids=[f"ch{c}.{n}" for c, n, _ in CHECKS])
@pytest.mark.parametrize("constant", [0.0, 1.0, None])
def test_a_constant_answer_fails_as_a_check(ch, name, check, constant):
    with pytest.raises(AssertionError):
        check(lambda *args, **kwargs: constant)
