import numpy as np
import pytest
from scipy import integrate, stats

from collapse_lab import metrics


def test_w2_gaussian_matches_quantile_integral():
    m1, s1, m2, s2 = 0.3, 1.7, -0.4, 0.6
    # W2^2 in 1-D is the integral over u of (F^-1(u) - G^-1(u))^2
    num, _ = integrate.quad(lambda u: (stats.norm.ppf(u, m1, s1) - stats.norm.ppf(u, m2, s2)) ** 2, 0, 1, limit=200)
    assert metrics.w2_gaussian(m1, s1**2, m2, s2**2) == pytest.approx(num, rel=1e-6)
    np.testing.assert_allclose(metrics.w2_gaussian(np.zeros(3), np.ones(3), np.arange(3), np.ones(3)), [0, 1, 4])


def test_frechet_reduces_to_w2_in_1d_and_is_zero_on_equal():
    assert metrics.frechet([0.3], [[1.7**2]], [-0.4], [[0.6**2]]) == pytest.approx(metrics.w2_gaussian(0.3, 1.7**2, -0.4, 0.36))
    c = np.array([[2.0, 0.5], [0.5, 1.0]])
    assert metrics.frechet([1, 2], c, [1, 2], c) == pytest.approx(0, abs=1e-9)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4000, 3)), rng.normal(size=(4000, 3)) * 2
    assert metrics.frechet_from_features(a, b) == pytest.approx(3 * (2 - 1) ** 2, rel=0.1)


def test_entropy_and_label_entropy():
    assert metrics.entropy([1, 1, 1, 1], base=2) == pytest.approx(2.0)
    assert metrics.entropy([5, 0, 0]) == 0.0
    assert metrics.label_entropy(np.array([0, 1, 2, 3]), 4) == pytest.approx(np.log(4))


def test_tail_mass_distinct_n_and_perplexity():
    assert metrics.tail_mass(np.arange(100), 10, 89) == pytest.approx(0.2)
    assert metrics.distinct_n([[1, 2, 3, 1, 2]], 2) == (3, 0.75)
    assert metrics.distinct_n([[1, 1, 1], [1, 1]], 1) == (1, 0.2)
    assert metrics.perplexity([np.log(10)] * 5) == pytest.approx(10.0)


def test_bad_input():
    with pytest.raises(ValueError, match="var1 and var2"):
        metrics.w2_gaussian(0, -1, 0, 1)
    with pytest.raises(ValueError, match="finite"):
        metrics.w2_gaussian(np.nan, 1, 0, 1)
    with pytest.raises(ValueError, match="shapes"):
        metrics.frechet([0, 0], np.eye(3), [0, 0], np.eye(2))
    with pytest.raises(ValueError, match="non-negative"):
        metrics.entropy([-1, 2])
    with pytest.raises(ValueError, match="labels must lie"):
        metrics.label_entropy(np.array([0, 5]), 3)
    with pytest.raises(ValueError, match="lo <= hi"):
        metrics.tail_mass([1.0], 2, 1)
    with pytest.raises(ValueError, match="n must"):
        list(metrics.ngrams([1, 2], 0))
    with pytest.raises(TypeError, match="token sequences"):
        metrics.distinct_n("hello", 1)
    with pytest.raises(ValueError, match="non-empty|at least 1 value"):
        metrics.perplexity([])
