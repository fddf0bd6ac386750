"""Chains without EM (collapse_lab.gmm.drift): pure weight drift and exact fits, their masses and loss times."""
from __future__ import annotations

import numpy as np
import pytest

from collapse_lab import gmm, stages
from collapse_lab.gmm.drift import _l2_batch
from collapse_lab.validate import ArgumentError


def test_drift_keeps_the_mean_weight_and_absorbs_at_zero():
    w = gmm.drift_chains(n=50, generations=30, chains=4000, seed=1)
    assert w.shape == (31, 4000, 3) and np.allclose(w.sum(-1), 1)
    assert np.allclose(w[-1].mean(0), gmm.TEACHING.weights, atol=0.02)        # a martingale
    dead = w[:-1] == 0
    assert dead.any() and np.all(w[1:][dead] == 0)                            # 0 is absorbing
    sd = gmm.weight_sd(0.1, 50, np.arange(1, 32))[-1]                          # 31 multinomial draws in all
    assert w[-1, :, 2].std() == pytest.approx(sd, rel=0.1)


def test_exact_chains_fit_each_component_on_its_own_points():
    W, Mu, S = gmm.exact_chains(n=60, generations=5, chains=8, seed=3)
    assert W.shape == (6, 8, 3) and Mu.shape == (6, 8, 3, 2) and S.shape == (6, 8, 3, 2, 2)
    assert np.allclose(W.sum(-1), 1) and np.allclose(W * 60, np.round(W * 60))    # weights are counts / n
    assert np.all(np.linalg.eigvalsh(S) > 0)
    again = gmm.exact_chains(n=60, generations=5, chains=8, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((W, Mu, S), again))          # one seed, the same numbers


def test_exact_chains_are_the_component_by_component_fits():
    """All components of all chains are drawn and fitted at once; the same draws and, to rounding, the same fits as
    drawing and fitting each component of each chain on its own (the loop below)."""
    from collapse_lab.gmm.drift import REG_COVAR

    n, G, C, ref = 50, 8, 5, gmm.TEACHING
    W, Mu, S = gmm.exact_chains(n=n, generations=G, chains=C, seed=9)
    rng = np.random.default_rng(9)
    w, mu, cov = np.tile(ref.weights, (C, 1)), np.tile(ref.means, (C, 1, 1)), np.tile(ref.covs, (C, 1, 1, 1))
    for g in range(G + 1):
        counts = rng.multinomial(n, w)
        L = np.linalg.cholesky(cov)
        mu, cov = mu.copy(), cov.copy()
        for c in range(C):
            for j in np.flatnonzero(counts[c]):
                x = mu[c, j] + rng.standard_normal((counts[c, j], 2)) @ L[c, j].T
                mu[c, j] = x.mean(0)
                cov[c, j] = (x - x.mean(0)).T @ (x - x.mean(0)) / len(x) + REG_COVAR * np.eye(2)
        w = counts / n
        assert np.array_equal(W[g], w)
        np.testing.assert_allclose(Mu[g], mu, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(S[g], cov, rtol=1e-9, atol=1e-12)


def test_masses_loss_times_and_histories_agree_with_the_em_definitions():
    fits = gmm.exact_chains(n=100, generations=12, chains=6, seed=4)
    m = gmm.exact_masses(fits, modes=[2])
    full = gmm.mode_masses(fits[0][7], fits[1][7], fits[2][7])[:, 2]
    assert np.allclose(m[7, :, 0], full, atol=0.02)                           # 1,024 of the 4,096 draws
    first = gmm.loss_generations(m, [gmm.mode_mass(gmm.TEACHING)[2]])[:, 0]
    for c in range(6):
        g = gmm.lost_generation(m[:, c, 0], gmm.mode_mass(gmm.TEACHING)[2])
        assert first[c] == (np.inf if g is None else g)
    assert gmm.lost_by(np.array([1.0, 3.0, np.inf]), np.array([0, 1, 3, 99])).tolist() == [0, 1 / 3, 2 / 3, 2 / 3]
    hs = gmm.histories(fits, m, [2])
    assert len(hs) == 6 and hs[0].columns == ["generation", "distance", "variance", "mass_2"]
    one = gmm.Mixture(fits[0][5][2], fits[1][5][2], fits[2][5][2])
    assert hs[2]["distance"][5] == pytest.approx(gmm.l2(gmm.TEACHING, one))
    assert hs[2]["variance"][5] == pytest.approx(gmm.total_variance(one))
    assert stages.row(hs, "gmm", chapter=2, experiment="exact", sources="S", remedy="mix")["chains"] == 6
    dm = gmm.drift_masses(gmm.drift_chains(n=100, generations=3, chains=5))
    assert dm.shape == (4, 5, 3) and np.all(dm >= 0) and np.all(dm <= 1)


def test_l2_batch_is_l2():
    fits = gmm.exact_chains(n=40, generations=2, chains=4, seed=5)
    one = [gmm.l2(gmm.TEACHING, gmm.Mixture(fits[0][2][c], fits[1][2][c], fits[2][2][c])) for c in range(4)]
    assert np.allclose(_l2_batch(fits[0][2], fits[1][2], fits[2][2], gmm.TEACHING), one)


@pytest.mark.parametrize("call, match", [
    (lambda: gmm.drift_chains(n=1), "n must be"),
    (lambda: gmm.exact_chains(chains=0), "chains must be"),
    (lambda: gmm.exact_masses((1, 2)), "fits must be"),
    (lambda: gmm.loss_generations(np.ones((3, 2, 2)), [0.1, 0.0]), "original must hold"),
    (lambda: gmm.loss_generations(np.ones((3, 2, 2)), [0.1, 0.1], below=1.5), "below must be"),
    (lambda: gmm.lost_by(np.ones((2, 2)), 3), "first must be"),
    (lambda: gmm.drift_masses(np.ones((2, 3, 2))), "components"),
])
def test_bad_input(call, match):
    with pytest.raises(ArgumentError, match=match):
        call()
