"""Every exercise check, across chapters, refuses a function that returns a constant, with an AssertionError."""
import importlib
import inspect

import pytest

CHECKS = [(ch, name, f) for ch in range(1, 7)
          for name, f in inspect.getmembers(importlib.import_module(f"collapse_lab.checks.ch{ch}"), inspect.isfunction)
          if f.__module__ == f"collapse_lab.checks.ch{ch}" and getattr(f, "kind", None)]


def test_every_chapter_has_checks():
    assert {ch for ch, _, _ in CHECKS} == {1, 2, 3, 4, 5, 6}


@pytest.mark.parametrize("ch,name,check", CHECKS, ids=[f"ch{c}.{n}" for c, n, _ in CHECKS])
@pytest.mark.parametrize("constant", [0.0, 1.0, None])
def test_a_constant_answer_fails_as_a_check(ch, name, check, constant):
    with pytest.raises(AssertionError):
        check(lambda *args, **kwargs: constant)


# ---------------------------------------------------------------------------------------------------------------
# the pieces checks are built from

import numpy as np  # noqa: E402
import torch  # noqa: E402

from collapse_lab import checks  # noqa: E402
from collapse_lab.checks import core  # noqa: E402


def test_last_call_records_a_change_of_global_random_state():
    core.call(lambda: 1.0, name="f")
    assert core.last_call() == {"global_rng_changed": False, "name": "f"}
    core.call(lambda: np.random.random())
    assert core.last_call()["global_rng_changed"] is True
    core.call(lambda rng: rng.random(), np.random.default_rng(0))
    assert core.last_call()["global_rng_changed"] is False
    core.call(lambda: torch.rand(1))
    assert core.last_call()["global_rng_changed"] is True
    with pytest.raises(checks.CheckFailed, match="raised ZeroDivisionError"):
        core.call(lambda: (np.random.random(), 1 / 0))
    assert core.last_call()["global_rng_changed"] is True  # recorded for a crash too


def test_call_with_grads_gives_numpy_gradients_or_none():
    a, b = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])
    out, (ga, gb) = core.call_with_grads(lambda x, y: (x * y).sum(), a, b, wrt=(0, 1))
    assert float(out.detach()) == 11.0 and np.allclose(ga, [3.0, 4.0]) and np.allclose(gb, [1.0, 2.0])
    assert not a.requires_grad and a.grad is None  # the caller's tensors are left alone
    out, grads = core.call_with_grads(lambda x, y: float((x * y).sum()), a, b, wrt=(0, 1))
    assert out == 11.0 and grads == [None, None]
    out, grads = core.call_with_grads(lambda x, y: (x.detach() * y).sum(), a, b, wrt=(0, 1))
    assert grads[0] is None and np.allclose(grads[1], [1.0, 2.0])
    with pytest.raises(TypeError, match="wrt"):
        core.call_with_grads(lambda x: x, 1.0, wrt=(0,))


def test_messages_show_plain_numbers_shapes_and_the_first_difference():
    with pytest.raises(checks.CheckFailed) as err:
        core.expect(False, "thing", np.float64(5.0), np.int64(3), "a hint")
    text = str(err.value)
    assert "expected: 5.0" in text and "got:      3" in text and "np." not in text
    with pytest.raises(checks.CheckFailed) as err:
        core.expect(False, "arrays", np.arange(6.0), np.r_[0.0, 1.0, 2.0, 7.0, 4.0, 5.0], "h " * 80)
    text = str(err.value)
    assert "array (6,)" in text and "first difference at [3]: expected 3.0, got 7.0" in text
    assert max(map(len, text.splitlines())) <= core.WIDTH
    with pytest.raises(checks.CheckFailed, match="shapes differ: expected \\(3,\\), got \\(2,\\)"):
        core.expect(False, "lengths", np.zeros(3), np.zeros(2), "h")


def test_a_failure_points_to_a_second_hint(capsys):
    with pytest.raises(AssertionError) as err:
        checks.ch2.weight_sd(lambda w, n, g: (w * (1 - w) / n) ** 0.5)
    assert "more help: checks.ch2.hint('weight_sd')" in str(err.value)
    checks.ch2.hint("weight_sd")
    out = capsys.readouterr().out
    assert out.startswith("more help on weight_sd:") and "total variance" in out
    assert "(1 - 1/n)" not in out  # the second hint still stops short of the answer
    with pytest.raises(ValueError, match="weight_sd"):
        checks.ch2.hint("no_such_exercise")


def test_in_ipython_a_failed_check_shows_its_message_and_the_learners_frames_only(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        assert core.install_ipython_handler()
        res = shell.run_cell("from collapse_lab import checks\n"
                             "def c_factor(M):\n    return 1 / 0\n"
                             "checks.ch1.c_factor(c_factor)")
        assert isinstance(res.error_in_exec, checks.CheckFailed)  # the cell still fails
        out = capsys.readouterr().out
        assert "c_factor(2) raised ZeroDivisionError" in out and "hint:" in out
        assert "return 1 / 0" in out  # the learner's frame
        assert "collapse_lab/checks/" not in out  # none of the checks' own frames (calls.py, ch1.py, ...)
    finally:
        shell.set_custom_exc((), None)
        InteractiveShell.clear_instance()


def test_proxies_report_their_call_facts_and_gradients():
    class Proxy:
        __name__ = "proxy"

        def __init__(self, fn):
            self.fn = fn

        def __call__(self, *args, **kwargs):
            return self.fn(*args, **kwargs)

        def __collapse_lab_call_facts__(self):
            return {"global_rng_changed": True}

    core.call(Proxy(lambda: 1.0))
    assert core.last_call()["global_rng_changed"] is True  # as the proxy says, though nothing changed here
    out, (g,) = core.call_with_grads(Proxy(lambda x: (x ** 2).sum()), torch.tensor([1.0, 3.0]), wrt=(0,))
    assert float(out.detach()) == 10.0 and np.allclose(g, [2.0, 6.0])
    with pytest.raises(checks.CheckFailed, match="not written yet"):
        core.call_with_grads(Proxy(lambda x: (_ for _ in ()).throw(NotImplementedError())), torch.ones(2), wrt=(0,))


@pytest.mark.parametrize("ch,name,check", CHECKS, ids=[f"ch{c}.{n}" for c, n, _ in CHECKS])
def test_every_item_has_a_hint_and_declares_its_kind(ch, name, check, capsys):
    """Conceptual items included: checks.chN.hint(name) answers for every exercise, and each check says whether it
    is code or a conceptual value (the keyless editions need it)."""
    mod = importlib.import_module(f"collapse_lab.checks.ch{ch}")
    mod.hint(name)
    assert f"more help on {name}:" in capsys.readouterr().out
    assert check.kind in ("code", "concept") and isinstance(check.refs, tuple)
