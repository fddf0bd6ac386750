import numpy as np
import pytest
import torch

from collapse_lab import runtime


def test_seed_all_makes_numpy_and_torch_repeatable():
    g1 = runtime.seed_all(7)
    a = (g1.normal(size=3), np.random.rand(2), torch.rand(2))
    g2 = runtime.seed_all(7)
    b = (g2.normal(size=3), np.random.rand(2), torch.rand(2))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert torch.equal(a[2], b[2])
    g3 = runtime.seed_all(8)
    assert not np.allclose(a[0], g3.normal(size=3))


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None, True])
def test_seed_all_rejects_bad_seeds(bad):
    with pytest.raises((TypeError, ValueError), match="seed"):
        runtime.seed_all(bad)


def test_as_rng_and_device():
    g = np.random.default_rng(0)
    assert runtime.as_rng(g) is g
    assert runtime.as_rng(3).integers(100) == np.random.default_rng(3).integers(100)
    with pytest.raises(TypeError, match="rng"):
        runtime.as_rng("seed")
    assert runtime.device() in ("cpu", "cuda", "mps")
    assert runtime.device("cpu") == "cpu"
    with pytest.raises(ValueError, match="prefer"):
        runtime.device("tpu")


def test_progress_is_quiet_under_tests():
    assert runtime.progress_silent()
    bar = runtime.progress(range(3))
    assert bar.disable and list(bar) == [0, 1, 2]
