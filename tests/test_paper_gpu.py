"""The language model's `gpu` profile: selected and validated on CPU (no GPU here); mixed precision only on CUDA."""
import pytest
import torch

from collapse_lab import cli, lm


def test_gpu_profile_is_the_paper_model_on_a_slice():
    s, p = lm.sizes("gpu"), lm.sizes("paper")
    assert s.profile == "gpu" and s.base == p.base == "facebook/opt-125m"
    assert s.generations == p.generations and s.n_train < 37_000 and s.n_test < 4_400 and s.gen_batch is None
    assert lm.base_source("gpu") == "facebook/opt-125m"


def test_gpu_profile_from_the_command_line(monkeypatch):
    seen = {}
    monkeypatch.setattr(lm, "run_experiment", lambda **kw: seen.update(kw))
    assert cli.main(["run", "lm", "--profile", "gpu", "--generations", "2", "--out", "x"]) == 0
    assert seen["profile"] == "gpu" and seen["generations"] == 2
    with pytest.raises(ValueError, match="profile"):
        lm.sizes("gpu-large")


def test_mixed_precision_only_on_cuda(monkeypatch):
    assert lm.amp_dtype("cpu") is None
    if torch.cuda.is_available():  # pragma: no cover - no GPU on the development machine
        assert lm.amp_dtype("cuda") in (torch.bfloat16, torch.float16)
        monkeypatch.setenv("COLLAPSE_LAB_AMP", "0")
        assert lm.amp_dtype("cuda") is None


def test_generation_batch_from_memory_falls_back_on_cpu():
    model = torch.nn.Linear(2, 2)
    assert lm.gen_batch(model, None) == 64 and lm.gen_batch(model, 12) == 12
    with pytest.raises(ValueError, match="batch"):
        lm.gen_batch(model, 0)
