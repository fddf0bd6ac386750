"""Chapter 5's asserted claims (notebooks 05a and 05b), checked over several seeds, not one draw.

Each test runs the package functions behind one of the notebooks' assert cells for seeds 0..4 in the quick profile
(and seeds 0..2 in the standard profile where that is cheap) and checks the same claim with the same tolerance.
Averages the notebook takes over several seeds (the policy table, the real-fraction sweep) are re-taken here over
disjoint blocks of seeds. The language model and the VAE are left out: the notebook asserts nothing about their
rows but the robust replace > accumulate, and their chains are covered by tests/test_claims_ch4.py.
"""
import numpy as np
import pytest

from collapse_lab import gaussian, gmm, loop, mitigation as mi, stages

SEEDS = range(5)
Q = mi.sizes("quick")


# ---- 05a: replace vs accumulate, policies, real fraction, one real point --------------------------------------

def claim_linreg(S, seed):
    sim = {p: mi.linreg_simulate(p, d=S.lr_d, T=S.lr_T, s=S.lr_s, n=S.lr_n, reps=S.lr_reps, seed=seed)
           for p in ("replace", "accumulate")}
    for p, h in sim.items():
        rel = np.abs(h["error"] / h["formula"] - 1)
        for n in (10, S.lr_n):
            assert rel[n - 1] < 0.05, (p, n, rel[n - 1])
    assert sim["accumulate"]["error"].max() < mi.linreg_bound(S.lr_d, S.lr_T, S.lr_s)


@pytest.mark.parametrize("seed", SEEDS)
def test_linreg_matches_the_formulas_quick(seed):
    claim_linreg(Q, seed)


@pytest.mark.parametrize("seed", range(3))
def test_linreg_matches_the_formulas_standard(seed):
    claim_linreg(mi.sizes("standard"), seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_loop_policies_order(seed):
    e = {p: mi.linreg_experiment(p, generations=Q.lr_n - 1, d=Q.lr_d, T=Q.lr_T, s=Q.lr_s, reps=Q.loop_reps,
                                 seed=seed)["error_mean"][-1] for p in ("replace", "accumulate", "mix")}
    assert e["accumulate"] < e["mix"] < e["replace"], e


def _table_row(mod, k, g, block):
    """The notebook's policy-table row for one family: final distance averaged over seeds block*k .. block*k+k-1."""
    out = {}
    for label, spec in mi.TABLE_POLICIES.items():
        pol = mi.make_policy(spec)
        out[label] = np.mean([mod.experiment(pol, generations=g, seed=block * k + i)["distance"][-1]
                              for i in range(k)])
    return out


@pytest.mark.parametrize("block", SEEDS)
def test_policy_table_orders_gaussian(block):
    r = _table_row(gaussian, Q.table_seeds["gaussian"], Q.table_generations["gaussian"], block)
    assert r["replace"] > r["accumulate"] and r["anchor"] > r["mix 10%"], r
    assert r["accumulate"] < r["mix 10%"] < r["replace"], r   # 05a: mix sits between the two


@pytest.mark.parametrize("seed", SEEDS)
def test_policy_table_orders_gmm(seed):
    r = _table_row(gmm, 1, Q.table_generations["gmm"], seed)
    assert r["replace"] > r["accumulate"] and r["anchor"] > r["mix 10%"], r
    assert r["accumulate"] < r["mix 10%"] < r["replace"], r   # 05a: mix sits between the two


def claim_sweep(d, start):
    assert d[0.0] > 2 * d[0.1] and d[0.5] < d[0.0]
    share10 = np.log(d[0.0] / d[0.1]) / np.log(d[0.0] / d[0.5])
    assert share10 > 0.5, share10


@pytest.mark.parametrize("block", SEEDS)
def test_real_fraction_sweep_gaussian(block):
    k, g, last = Q.sweep_seeds["gaussian"], Q.sweep_generations["gaussian"], Q.sweep_last
    d, starts = {}, []
    for f in (0.0, 0.1, 0.5):
        vals = []
        for i in range(k):
            h = gaussian.experiment(loop.policy("mix", fraction=f), generations=g, seed=block * k + i)
            vals.append(np.mean(h["distance"][-last:]))
            starts.append(h["distance"][0])
        d[f] = np.mean(vals)
    claim_sweep(d, np.mean(starts))


@pytest.mark.parametrize("seed", SEEDS)
def test_bernoulli_anchor_and_prior(seed):
    p_true, M, G, C = np.array([0.7, 0.3]), Q.chain_M, Q.chain_generations, Q.chains
    runs = {"mle": mi.categorical_chain(p_true, M, G, C, seed=seed)[:, :, 1],
            "anchor": mi.categorical_chain(p_true, M, G, C, k=1, seed=seed)[:, :, 1],
            "map": mi.categorical_chain(p_true, M, G, C, alpha=1.0, seed=seed)[:, :, 1]}
    edge = {k: ((p == 0) | (p == 1)).mean(axis=1)[-1] for k, p in runs.items()}
    assert edge["mle"] > 0.95 and edge["map"] == 0 and edge["anchor"] < 0.3, edge
    tail = max(1, G // 3)
    assert abs(runs["anchor"][-tail:].mean() - 0.3) < 0.05, "anchored chains centred on the truth"
    assert abs(runs["map"][-tail:].mean() - 0.5) < abs(runs["map"][-tail:].mean() - 0.3), "MAP: nearer the prior"


def claim_gaussian_anchor(S, seed):
    """The notebook's claims on the Gaussian chains, against the exact long-run values."""
    GM, GG, C = S.gauss_M, S.gauss_generations, S.chains
    _, v_mle = mi.gaussian_chain(GM, GG, C, seed=seed)
    assert np.median(v_mle[-1]) < 1e-3
    tail = GG // 2
    for ddof in (0, 1):
        m, v = mi.gaussian_chain(GM, GG, C, k=1, ddof=ddof, seed=seed)
        st = mi.anchored_stationary(GM, ddof=ddof, seed=seed)
        # chains are independent: the standard error of a long-run mean comes from the per-chain time averages
        per_v, per_mu2 = v[-tail:].mean(axis=0), (m[-tail:] ** 2).mean(axis=0)
        mean_v, mean_mu2 = per_v.mean(), per_mu2.mean()
        med = np.median(v[-tail:])
        assert abs(med / st["median_var"] - 1) < 0.1, (ddof, med, st)
        if ddof == 0:  # the notebook's claim: within 4 standard errors of the exact long-run means
            for sim, per, exact in ((mean_v, per_v, st["mean_var"]), (mean_mu2, per_mu2, st["mean_mu2"])):
                z = (sim - exact) / (per.std(ddof=1) / np.sqrt(per.size))
                assert abs(z) < 4, (ddof, sim, exact, z)
        else:  # heavy right tail: the simulated mean wanders; only its place far above the median is a claim
            assert mean_v > 1.3 and mean_v > 1.5 * med, (ddof, mean_v, med)


# more seeds than the notebook was written with, including the block where a 20% tolerance failed (3001)
ANCHOR_SEEDS = [*range(5), *range(1000, 1005), *range(3000, 3005)]


@pytest.mark.parametrize("seed", ANCHOR_SEEDS)
def test_anchored_gaussian_long_run_quick(seed):
    claim_gaussian_anchor(Q, seed)


def stage_rows(S, block):
    """05a's recap: the course map's two alarms on the Gaussian chain under the four policies (one seed block)."""
    n = S.table_seeds["gaussian"]
    seeds = list(range(1000 * block, 1000 * block + n))
    return {name: stages.row(gaussian.experiments(seeds, policy=mi.make_policy(spec),
                                                  generations=S.table_generations["gaussian"], profile=S.profile),
                             "gaussian", chapter="5a", experiment=name, sources="S", remedy=name)
            for name, spec in mi.TABLE_POLICIES.items()}


@pytest.mark.parametrize("block", range(4))
def test_stage_rows_of_the_policies(block):
    """Replace reaches late collapse; accumulate raises no alarm; mix 10% delays the bulk alarm but still reaches
    late collapse; one anchor point still reaches late collapse within the run."""
    r = stage_rows(Q, block)
    assert r["replace"]["verdict"] == "late collapse", r["replace"]
    assert r["accumulate"]["verdict"] == "no collapse yet", r["accumulate"]
    assert r["mix 10%"]["verdict"] == "late collapse", r["mix 10%"]
    assert r["mix 10%"]["bulk_alarm"] > r["replace"]["bulk_alarm"], (r["mix 10%"], r["replace"])
    assert r["anchor"]["verdict"] == "late collapse", r["anchor"]


@pytest.mark.parametrize("block", range(4))
def test_stage_row_of_the_monitored_gaussian_chain(block):
    """05b's recap: the Gaussian chain (M = 100) raises the tail alarm before the bulk alarm."""
    seeds = list(range(1000 * block, 1000 * block + Q.monitor_chains))
    r = stages.row(gaussian.experiments(seeds, generations=Q.monitor_generations, M=100, profile="quick"),
                   "gaussian", chapter="5b", experiment="Gaussian chain", sources="S", remedy="tail monitoring")
    assert r["tail_alarm"] is not None and r["bulk_alarm"] is not None and r["tail_alarm"] < r["bulk_alarm"], r


def test_stage_rows_of_the_word_chain():
    """05b's recap: the unigram chain reaches early collapse (tail alarm), its entropy has not moved by half."""
    S = mi.sizes("quick")
    ids, _ = mi.words("valid")
    for seed in range(3):
        chain = mi.word_chain(ids, S.words_M, S.words_generations, seed=seed)
        rows = []
        for g, x in enumerate(chain):
            c = np.bincount(x)
            p = c[c > 0] / c.sum()
            rows.append({"generation": g, "alive": int((c > 0).sum()), "entropy": float(-(p * np.log(p)).sum())})
        r = stages.row(loop.History(rows), "zipf", chapter="5b", experiment="words", sources="S", remedy="monitor")
        assert r["verdict"] == "early collapse" and r["tail_alarm"] is not None, r


# ---- 05b: verification and monitoring ---------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_verification(seed):
    VG, VC, bias = Q.verify_generations, Q.verify_chains, 0.4
    perfect = mi.verified_chains(0.0, generations=VG, chains=VC, seed=seed)
    imp = mi.verified_chains(bias, generations=VG, chains=VC, seed=seed)
    assert perfect["error"][1] < perfect["error"][0]
    assert imp["to_center"][-1] < imp["error"][-1] and imp["error"][-1] > imp["bias2"]


@pytest.mark.parametrize("seed", SEEDS)
def test_gaussian_tail_monitor_fires_first(seed):
    mon = mi.gaussian_monitor_runs(M=100, generations=Q.monitor_generations, chains=Q.monitor_chains,
                                   n=Q.monitor_n, tol=0.3, seed=seed)
    assert np.median(mon["tail"]) < np.median(mon["mean"])


@pytest.mark.parametrize("seed", SEEDS)
def test_gmm_mode_alert_first(seed):
    gh = gmm.experiment("replace", generations=Q.table_generations["gmm"], seed=seed)
    mass = np.stack([gh[c] for c in gh.columns if c.startswith("mass_")], axis=1)
    mode_drop = np.max(1 - mass / mass[0], axis=1)
    ll_shift = np.abs(gh["loglik"] / gh["loglik"][0] - 1)
    first = lambda x: next((int(g) for g, v in zip(gh["generation"], x) if v > 0.3), None)  # noqa: E731
    a = (first(mode_drop), first(ll_shift))
    assert a[0] is not None and (a[1] is None or a[0] <= a[1]), a


@pytest.fixture(scope="module")
def word_ids():
    return mi.words("valid")[0]


@pytest.mark.parametrize("seed", SEEDS)
def test_word_alert_first(word_ids, seed):
    chain = mi.word_chain(word_ids, Q.words_M, Q.words_generations, seed=seed)
    wh = mi.Monitor(chain[0], "categories", tol=0.2).report(chain)
    a = (mi.first_alert(wh, "tail_alert"), mi.first_alert(wh, "mean_alert"))
    assert a[0] is not None and (a[1] is None or a[0] < a[1]), a
