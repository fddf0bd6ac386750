"""Chapter 1's asserted claims hold for the experiment, not for one lucky draw.

Each test runs the package functions behind one `assert` cell of notebooks/01_sampling_loses_the_tails.ipynb, at the
active profile's sizes, over several seeds: 5 in ``quick`` (what ``make test`` runs), 3 in ``standard``. Seed 0 is
the notebook's own draw; the others replace every seed of the cell by a new stream. The asserts are the notebook's.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import stats

from collapse_lab import gaussian, profiles, tails

PROFILE = profiles.active_profile()
SEEDS = list(range(5 if PROFILE == "quick" else 3))
TS, GS = tails.sizes(PROFILE), gaussian.sizes(PROFILE)
M, T = GS.M, GS.generations
KEEP = np.unique(np.r_[np.arange(0, 20), np.arange(20, T + 1, 10), T])


def rng_seed(seed: int, notebook_seed: int):
    """The notebook's seed for seed 0, an independent stream otherwise."""
    return notebook_seed if seed == 0 else np.random.default_rng([seed, notebook_seed])


@functools.lru_cache(maxsize=None)
def chains(seed: int, ddof: int = 1):
    """Section 3's many chains (``ch``; ``ml`` for ddof=0), as the notebook draws them for seed 0."""
    return gaussian.fast_chains(M, T, GS.chains, seed=rng_seed(seed, 0 if ddof else 1), record=KEEP, ddof=ddof)


def test_expected_lost_is_large_in_number_small_in_mass():
    p = tails.zipf(TS.zipf_K, TS.zipf_a)
    M_big = max(TS.lost_M)
    assert tails.expected_lost(p, M_big) > 100 and np.sum(p * (1 - p) ** M_big) < 0.05


@pytest.mark.parametrize("seed", SEEDS)
def test_one_generation_loss_matches_the_formula(seed):
    p = tails.zipf(TS.zipf_K, TS.zipf_a)
    for M_ in TS.lost_M:
        sim = tails.lost_once(p, M_, TS.lost_trials, seed=rng_seed(seed, M_))
        se = sim.std() / np.sqrt(sim.size)
        assert abs(sim.mean() - tails.expected_lost(p, M_)) < 5 * se + 1e-9, (M_, seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_lost_category_never_returns(seed):
    h = tails.experiment(seed=seed)
    assert np.all(np.diff(h["alive"]) <= 0)


@pytest.mark.parametrize("seed", SEEDS)
def test_survival_law_and_order(seed):
    p = tails.zipf(TS.zipf_K, TS.zipf_a)
    S = tails.survival(p, TS.M, TS.survival_generations, TS.survival_chains, seed=rng_seed(seed, 1))
    se1 = np.sqrt(0.25 / TS.survival_chains)
    assert np.all(np.abs(S[1] - (1 - (1 - p) ** TS.M)) < 5 * se1)
    assert np.all(np.diff(S, axis=0) <= 0)
    assert S[-1, -100:].mean() < S[-1, :10].mean()


@pytest.mark.parametrize("seed", SEEDS)
def test_the_bare_loop_is_loop_run(seed):
    real = np.random.default_rng([seed, 1]).standard_normal(M)
    rng = np.random.default_rng(seed)
    data, fits = real, []
    for _ in range(T + 1):
        mu, var = data.mean(), data.var(ddof=1)
        fits.append((mu, var))
        data = rng.normal(mu, np.sqrt(var), M)
    fits = np.array(fits)
    h = gaussian.experiment(seed=seed, generations=T)
    assert np.allclose(h["mean"], fits[:, 0]) and np.allclose(h["var"], fits[:, 1])


@pytest.mark.parametrize("seed", SEEDS)
def test_the_typical_chain_is_not_the_expected_one(seed):
    ch = chains(seed)
    last, exp_last = ch.w2()[-1], gaussian.expected_w2(T, M)
    above = np.mean(last > exp_last)
    top = np.sort(last)[::-1][: max(1, last.size // 100)].sum() / last.sum()
    assert np.median(ch.var[-1]) < 0.01
    assert 0.9 < np.median(last) < 3
    assert np.median(last) < exp_last / 2
    assert above < 0.25 and top > 0.2


@pytest.mark.parametrize("seed", SEEDS)
def test_tail_ranking(seed):
    table = tails.tail_table(seed=seed)
    rows = {(r["distribution"], r["model"]): r for r in table.rows}
    last, cmp_n = max(TS.tail_n), 100
    key = {k: (k[0] if k != ("gaussian", "kde") else "gaussian-kde") for k in rows}
    med = {key[k]: r[f"median_{cmp_n}"] for k, r in rows.items()}
    lost = {key[k]: r[f"lost_{cmp_n}"] for k, r in rows.items()}
    assert med["student-t"] < min(med["mixture"], med["gaussian"]) <= max(med["mixture"], med["gaussian"]) < 1 \
        < med["uniform"]
    assert lost["uniform"] < min(lost["gaussian"], lost["mixture"]) <= max(lost["gaussian"], lost["mixture"]) \
        < lost["student-t"]
    assert rows["student-t", "kde"]["median_10"] < 0.1 < rows["gaussian", "gaussian"]["median_10"]
    assert abs(lost["gaussian-kde"] - lost["gaussian"]) < 0.1
    assert all(r[f"median_{last}"] < 0.1 and r[f"lost_{last}"] > r[f"lost_{cmp_n}"] for r in table.rows)


# ---- Going deeper ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_exact_laws_at_n_100(seed):
    ch, ml = chains(seed), chains(seed, ddof=0)
    i = int(np.searchsorted(ch.n, 100))
    v100, m100 = ch.var[i], ml.var[i]
    sd_var = np.sqrt(((1 + 2 / (M - 1)) ** 100 - 1) / GS.chains)
    assert abs(v100.mean() - 1) < 5 * sd_var
    se_log_median = np.sqrt(np.pi / 2) * np.log(v100).std() / np.sqrt(GS.chains)
    assert abs(np.log(np.median(v100) / gaussian.median_var(100, M))) < 5 * se_log_median
    for x, exact in ((np.sqrt(v100), gaussian.expected_std(100, M)), (ch.w2()[i], gaussian.expected_w2(100, M)),
                     (m100, gaussian.expected_var(100, M, ddof=0))):
        assert abs(x.mean() - exact) < 5 * x.std() / np.sqrt(GS.chains)


@pytest.mark.parametrize("seed", SEEDS)
def test_most_chains_collapse_and_few_carry_the_variance(seed):
    v = chains(seed).var[-1]
    share_top = np.sort(v)[::-1][: max(1, len(v) // 100)].sum() / v.sum()
    assert np.mean(v < 0.01) > 0.5 and share_top > 0.2


@pytest.mark.parametrize("seed", SEEDS)
def test_exact_median_table(seed):
    tn = np.array(GS.table_n)
    big = gaussian.fast_chains(M, int(tn.max()), GS.chains, seed=rng_seed(seed, 3), record=tn)
    med_exact = gaussian.median_var(tn, M)
    _, sdlog = gaussian.log_var_moments(tn, M)
    se_log = np.sqrt(np.pi / 2) * sdlog / np.sqrt(GS.chains)
    assert np.all(np.abs(np.log(np.median(big.var, axis=1) / med_exact)) < 5 * se_log)
    assert np.all(np.abs(gaussian.median_var_approx(tn, M, corrected=True) / med_exact - 1) < 1e-3)


@pytest.mark.parametrize("seed", SEEDS)
def test_fast_sampler_agrees_with_direct(seed):
    checkpoints = [1, 10, GS.direct_generations]
    fast = gaussian.fast_chains(M, GS.direct_generations, GS.direct_chains, seed=rng_seed(seed, 4), record=checkpoints)
    direct = gaussian.direct_chains(M, GS.direct_generations, GS.direct_chains, seed=rng_seed(seed, 5),
                                    record=checkpoints)
    pvals = [stats.ks_2samp(getattr(fast, k)[j], getattr(direct, k)[j]).pvalue
             for j in range(len(checkpoints)) for k in ("var", "mean")]
    assert min(pvals) > 1e-3
