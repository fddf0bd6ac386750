"""The cached language-model base is keyed by everything that shapes it (config, sizes, trainer code, versions)."""
import types

import pytest

from collapse_lab import lm


def _key(**changes):
    s = lm.sizes("quick")
    return lm.base_key(types.SimpleNamespace(**{**vars(s), **changes}))


def test_same_inputs_same_key():
    assert _key() == _key() == lm.base_key(lm.sizes("standard"))
    assert lm.base_key(lm.sizes("quick")).startswith("opt-")


@pytest.mark.parametrize("changes", [
    dict(model=dict(layers=3, width=128, heads=4, vocab=2048)),
    dict(model=dict(layers=2, width=128, heads=4, vocab=4096)),
    dict(pretrain=dict(epochs=4, lr=2e-3, batch=32)),
    dict(pretrain=dict(epochs=3, lr=1e-3, batch=32)),
])
def test_config_and_sizes_change_the_key(changes):
    assert _key(**changes) != _key()


def test_trainer_code_changes_the_key(monkeypatch):
    before, code = _key(), lm.trainer_code()

    def train(model, blocks, *, epochs, batch, lr, seed=0, desc="", warmup=0.0):
        return model.train()  # another trainer

    monkeypatch.setattr(lm, "train", train)
    assert lm.trainer_code() != code and _key() != before
    monkeypatch.undo()
    assert lm.trainer_code() == code
    monkeypatch.setattr(lm, "TRAINER_VERSION", lm.TRAINER_VERSION + 1)
    assert _key() != before


def test_docstrings_do_not_change_the_key(monkeypatch):
    code = lm.trainer_code()

    def a(x):
        """one text"""
        return x + 1

    def b(x):
        """another text"""
        return x + 1  # a comment

    monkeypatch.setattr(lm, "TRAINER_CODE", ("a",))
    monkeypatch.setitem(lm.__dict__, "a", a)
    ka = lm.trainer_code()
    monkeypatch.setitem(lm.__dict__, "a", b)
    assert lm.trainer_code() == ka != code


@pytest.mark.parametrize("module", ["torch", "transformers", "tokenizers"])
def test_library_versions_change_the_key(monkeypatch, module):
    import importlib

    before = _key()
    monkeypatch.setattr(importlib.import_module(module), "__version__", "0.0.1-other")
    assert _key() != before
