"""Chapter 5: replace vs accumulate formulas, the policy table, real data, verification, monitoring."""
import math

import numpy as np
import pytest

from collapse_lab import loop
from collapse_lab import mitigation as mi


# ---------------------------------------------------------------------------------------------------------------
# linear regression (Gerstgrasser et al. 2024)


def test_formulas_match_the_papers_numbers():
    base = 10 / 39  # s^2 d / (T - d - 1) for d=10, T=50, s=1
    assert mi.linreg_formula(10, 10, 50, 1.0, "replace") == pytest.approx(2.564, abs=1e-3)
    assert mi.linreg_formula(10, 10, 50, 1.0, "accumulate") == pytest.approx(0.397, abs=1e-3)
    n = np.arange(1, 200)
    acc = mi.linreg_formula(n, 10, 50, 1.0, "accumulate")
    assert np.all(np.diff(acc) > 0) and acc[-1] < mi.linreg_bound(10, 50, 1.0) == pytest.approx(base * math.pi**2 / 6)
    np.testing.assert_allclose(mi.linreg_formula(n, 10, 50, 2.0, "replace"), 4 * base * n)


@pytest.mark.parametrize("policy", ["replace", "accumulate"])
def test_simulated_errors_within_5_percent_of_the_formulas(policy):
    h = mi.linreg_simulate(policy, d=10, T=50, s=1.0, n=20, reps=4000, seed=0)
    assert list(h["n"]) == list(range(1, 21)) and list(h["generation"]) == list(range(20))
    for n in (10, 20):
        row = h.rows[n - 1]
        assert row["error"] == pytest.approx(mi.linreg_formula(n, 10, 50, 1.0, policy), rel=0.05)
        assert row["se"] < 0.02 * row["error"]  # the 5% test has room: the Monte-Carlo error is below 2%


def test_simulation_is_deterministic_and_seed_dependent():
    a = mi.linreg_simulate("replace", n=3, reps=50, seed=1)["error"]
    b = mi.linreg_simulate("replace", n=3, reps=50, seed=1)["error"]
    c = mi.linreg_simulate("replace", n=3, reps=50, seed=2)["error"]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_the_loop_version_agrees_with_the_formulas_and_orders_the_policies():
    ends = {}
    for pol in ("replace", "accumulate", "mix", "anchor"):
        h = mi.linreg_experiment(pol, generations=9, reps=300, seed=0)
        ends[pol] = h["error_mean"][-1]
        if pol in ("replace", "accumulate"):
            assert ends[pol] == pytest.approx(mi.linreg_formula(10, policy=pol), rel=0.12)
    assert h["n_train"][-1] == 51  # anchor: 50 synthetic + 1 real
    assert ends["accumulate"] < ends["mix"] < ends["replace"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=0), "n must"), (dict(n=1.5), "n must"), (dict(T=11), "T must"), (dict(s=0), "s must"),
    (dict(d=0), "d must"), (dict(policy="mix"), "policy must"),
])
def test_formula_rejects_bad_input(kwargs, match):
    args = dict(n=5, d=10, T=50, s=1.0, policy="replace")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        mi.linreg_formula(**args)


def test_simulate_and_family_reject_bad_input():
    with pytest.raises(ValueError, match="policy"):
        mi.linreg_simulate("mix")
    with pytest.raises(ValueError, match="reps"):
        mi.linreg_simulate(reps=1)
    with pytest.raises(ValueError, match="X must"):
        mi.linreg_family(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="d must"):
        mi.linreg_family(None)
    fam = mi.linreg_family(None, d=3)
    with pytest.raises(ValueError, match="data must"):
        fam.fit(np.zeros((5, 1, 3)), None)


# ---------------------------------------------------------------------------------------------------------------
# the cross-family table and the real-fraction sweep


def test_available_families_skips_what_is_missing():
    found, skipped = mi.available_families(["gaussian", "no_such_chapter"])
    assert "gaussian" in found and "no_such_chapter" in skipped
    with pytest.raises(TypeError):
        mi.available_families("gaussian")


@pytest.mark.parametrize("name", ["gaussian", "gmm"])
def test_replace_is_worse_than_accumulate_for_the_cheap_families(name):
    found, skipped = mi.available_families([name])
    if name not in found:
        pytest.skip(f"chapter module {name} not available yet: {skipped[name]}")
    (row,) = mi.policy_table([name], profile="quick")
    assert "error" not in row, row.get("error")
    assert row["replace"] > 2 * row["accumulate"], row
    assert row["replace"] > row["mix 10%"], row


def test_table_reports_a_broken_family_instead_of_failing():
    rows = mi.policy_table(["no_such_chapter"], profile="quick")
    assert rows == [{"family": "no_such_chapter", "error": rows[0]["error"]}] and "skipped" in rows[0]["error"]
    with pytest.raises(ValueError, match="policy spec"):
        mi.make_policy(("keep", 3))


def _rows(h):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in h.rows]


def _counted(monkeypatch, module, *names):
    """Replace ``module.NAME`` by a wrapper that counts its calls; returns the counts."""
    calls = dict.fromkeys(names, 0)
    for name in names:
        f = getattr(module, name)

        def counted(*a, _f=f, _name=name, **k):
            calls[_name] += 1
            return _f(*a, **k)
        monkeypatch.setattr(module, name, counted)
    return calls


def test_table_trains_the_vaes_generation_zero_once_with_the_same_numbers(monkeypatch):
    from collapse_lab import vae

    tiny = {"channels": (8, 16), "epochs": 1, "batch": 256, "clf_epochs": 1, "n_eval": 200}
    monkeypatch.setitem(vae.SIZES, "quick", {**vae.SIZES["quick"], **tiny})
    trains = _counted(monkeypatch, vae, "train")
    policies = {"replace": "replace", "mix 10%": ("mix", 0.1), "anchor": ("anchor", 1)}
    alone = {p: vae.experiment(mi.make_policy(spec), generations=1, profile="quick") for p, spec in policies.items()}
    assert trains["train"] == 2 * len(alone)
    trains["train"] = 0
    (row,) = mi.policy_table(["vae"], policies=policies, profile="quick", seeds=1, generations=1)
    assert trains["train"] == 1 + len(alone), "generation 0 is trained once for the row's policies"
    assert row["start"] == alone["replace"]["distance"][0]
    assert {p: row[p] for p in alone} == {p: h["distance"][-1] for p, h in alone.items()}
    # a shared dict never serves another seed or other sizes
    shared: dict = {}
    first = vae.experiment("replace", generations=0, profile="quick", shared=shared)
    other = vae.experiment("replace", generations=0, profile="quick", seed=1, shared=shared)
    monkeypatch.setitem(vae.SIZES, "quick", {**vae.SIZES["quick"], "epochs": 2})
    longer = vae.experiment("replace", generations=0, profile="quick", shared=shared)
    assert trains["train"] == 1 + len(alone) + 3 and len(shared) == 3
    assert len({first.models[0], other.models[0], longer.models[0]}) == 3
    with pytest.raises(TypeError, match="shared"):
        vae.experiment("replace", generations=0, profile="quick", shared=[])


def test_lm_chains_share_generation_zero_and_the_text_it_writes(monkeypatch):
    import torch
    from types import SimpleNamespace
    from transformers import OPTForCausalLM

    from collapse_lab import lm

    torch.manual_seed(0)
    base = OPTForCausalLM(lm.config(dict(layers=1, width=32, heads=2, vocab=300))).eval()
    g = torch.Generator().manual_seed(0)
    parts = (base, None, SimpleNamespace(train=torch.randint(4, 300, (8, 64), generator=g),
                                         test=torch.randint(4, 300, (4, 64), generator=g)))
    calls = _counted(monkeypatch, lm, "finetune", "generate")
    policies = [loop.policy(p) for p in ("replace", "accumulate", "mix")]

    def chains(shared=None, seed=0, epochs=1, policies=policies):
        return [lm.chain("a", generations=1, seed=seed, profile="quick", policy=p, epochs=epochs, parts=parts,
                         shared=shared) for p in policies]
    alone = chains()
    assert calls == {"finetune": 6, "generate": 3}
    calls.update(finetune=0, generate=0)
    shared: dict = {}
    together = chains(shared)
    # mix asks for fewer blocks (7 of 8), so it writes its own; replace and accumulate write the same 8
    assert calls == {"finetune": 4, "generate": 2}
    assert [_rows(h) for h in together] == [_rows(h) for h in alone]
    assert [h.meta["seq_ppl"] for h in together] == [h.meta["seq_ppl"] for h in alone]
    chains(shared, seed=1, policies=policies[:1]), chains(shared, epochs=2, policies=policies[:1])
    assert calls["finetune"] == 4 + 2 * 2 and len(shared) == 3, "another seed or epochs trains its own"
    with pytest.raises(ValueError, match="shared"):
        lm.chain("a", profile="quick", parts=parts, shared={}, start=(0, base, []), ref=base)


def test_real_fraction_sweep_on_the_gaussian():
    sw = mi.fraction_sweep("gaussian", (0.0, 0.1, 0.5), seeds=10, generations=100, last=10)
    d = dict(zip(sw["fractions"], sw["distance"]))
    assert d[0.0] > 3 * d[0.1] > 0 and d[0.1] > d[0.5]
    assert mi.minimal_fraction(sw, d[0.1] * 1.01) == 0.1 and mi.minimal_fraction(sw, 0.0) is None
    with pytest.raises(ValueError, match="fractions"):
        mi.fraction_sweep("gaussian", (0.1, 1.5))
    with pytest.raises(ValueError, match="not available"):
        mi.fraction_sweep("no_such_chapter")
    with pytest.raises(TypeError):
        mi.minimal_fraction([0.1], 0.5)


# ---------------------------------------------------------------------------------------------------------------
# one real point per generation (Jangjoo, Marsili, Roudi 2026)


def test_bernoulli_mle_is_absorbed_and_an_anchor_or_a_prior_prevents_it():
    p = [0.7, 0.3]
    mle = mi.categorical_chain(p, 20, 150, 300, seed=0)[:, :, 1]
    anchor = mi.categorical_chain(p, 20, 150, 300, k=1, seed=0)[:, :, 1]
    mapf = mi.categorical_chain(p, 20, 150, 300, alpha=1.0, seed=0)[:, :, 1]
    edge = lambda x: np.mean((x[-50:] == 0) | (x[-50:] == 1))  # noqa: E731
    assert edge(mle) > 0.99  # (nearly) every chain absorbed, and it stays there
    assert edge(anchor) < 0.3 and edge(mapf) == 0.0
    assert abs(mle[-1].mean() - 0.3) < 0.1  # a martingale: absorbed at 1 with probability 0.3
    assert abs(anchor[-50:].mean() - 0.3) < 0.05  # the anchor centres the chain on the truth
    assert abs(mapf[-50:].mean() - 0.5) < 0.05  # a symmetric prior centres it on 1/2, not on the truth
    np.testing.assert_allclose(mi.categorical_chain(p, 5, 3, 2, p0=[0.5, 0.5], seed=1)[0], [[0.5, 0.5]] * 2)


def test_gaussian_chain_anchor_keeps_the_variance():
    _, v = mi.gaussian_chain(20, 300, 300, seed=0)
    _, va = mi.gaussian_chain(20, 300, 300, k=1, ddof=1, seed=0)
    m, vp = mi.gaussian_chain(20, 300, 300, prior=1.0, prior_mean=1.0, prior_var=2.0, seed=0)
    assert np.median(v[-1]) < 1e-3
    assert 0.6 < np.median(va[-1]) < 1.1 and np.mean(va[-1] < 0.01) == 0
    assert abs(m[-1].mean() - 1.0) < 0.2  # the regularised chain converges to the prior's centre


def test_chains_reject_bad_input():
    with pytest.raises(ValueError, match="p_true"):
        mi.categorical_chain([0.5, 0.6], 10, 5, 5)
    with pytest.raises(ValueError, match="alpha"):
        mi.categorical_chain([0.5, 0.5], 10, 5, 5, alpha=-1)
    with pytest.raises(ValueError, match="p0"):
        mi.categorical_chain([0.5, 0.5], 10, 5, 5, p0=[1.0])
    with pytest.raises(ValueError, match="ddof"):
        mi.gaussian_chain(10, 5, 5, ddof=2)
    with pytest.raises(ValueError, match="M must"):
        mi.gaussian_chain(1, 5, 5)


# ---------------------------------------------------------------------------------------------------------------
# verification (Yi et al. 2025)


def test_verification_gains_then_converges_to_the_verifiers_centre():
    plain = mi.verified_chains(None, generations=15, chains=20, seed=0)
    good = mi.verified_chains(0.0, generations=15, chains=20, seed=0)
    off = mi.verified_chains(0.5, generations=15, chains=20, seed=0)
    assert plain["error"][-1] > 10 * good["error"][-1]  # unverified replace keeps growing
    assert good["error"][1] < 0.6 * good["error"][0]  # the near-term gain
    assert off["error"][-1] > 0.8 * off["bias2"] > good["error"][-1]  # an imperfect verifier: error -> bias^2
    assert off["to_center"][-1] < 0.5 * off["error"][-1]  # ... because the fit sits at the verifier's centre
    assert 0.4 < np.nanmean(off["accept"]) < 0.9


def test_filtered_policy_follows_the_loop_interface():
    ver = lambda data: np.asarray(data)[:, 0] > 0  # noqa: E731
    pol = mi.Filtered(ver, oversample=4)
    assert pol.n_synthetic(10) == 40
    out = pol.build(np.zeros((10, 1)), [np.arange(-20, 20, dtype=float)[:, None]], np.random.default_rng(0))
    np.testing.assert_array_equal(out[:, 0], np.arange(1, 11))
    assert pol.accepted == [pytest.approx(19 / 40)]
    with pytest.raises(TypeError):
        mi.Filtered("no")
    with pytest.raises(ValueError, match="one boolean"):
        mi.Filtered(lambda d: np.ones(3, bool)).build(np.zeros((2, 1)), [np.zeros((5, 1))], np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least one example"):
        pol.build(np.zeros((0, 1)), [np.ones((5, 1))], np.random.default_rng(0))
    with pytest.raises(ValueError, match="accepted none of the 5"):
        pol.build(np.zeros((2, 1)), [-np.ones((5, 1))], np.random.default_rng(0))
    with pytest.raises(ValueError, match="radius"):
        mi.Verifier(np.zeros(3), radius=0)


# ---------------------------------------------------------------------------------------------------------------
# monitoring


def test_tail_monitor_fires_before_the_moments():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(50000)
    mon = mi.Monitor(ref, "tails", q=0.01, tol=0.3)
    stds = [1.0, 0.98, 0.96, 0.93, 0.9, 0.85, 0.75, 0.6]  # a spread that shrinks: tails go first
    h = mon.report([s * rng.standard_normal(50000) for s in stds])
    assert mi.first_alert(h, "tail_alert") == 3 and mi.first_alert(h, "mean_alert") == 7
    assert h.rows[0]["tail_alert"] is False and abs(h.rows[0]["tail_drop"]) < 0.15
    runs = mi.gaussian_monitor_runs(M=100, generations=40, chains=10, n=20000, tol=0.3, seed=0)
    assert np.median(runs["tail"]) < np.median(runs["mean"])


def test_category_and_ngram_monitors():
    mon = mi.Monitor(np.arange(100) % 10, "categories", tol=0.25)
    row = mon.check(np.arange(100) % 7)
    assert row["distinct"] == 7 and row["tail_drop"] == pytest.approx(0.3) and row["tail_alert"]
    # 30% of the categories gone, but the entropy (a mean) moved only 15%: below the tolerance
    assert row["mean_shift"] == pytest.approx(1 - math.log(7) / math.log(10), rel=0.05) and not row["mean_alert"]
    txt = mi.Monitor([["a", "b", "c", "d"], ["b", "c", "e"]], "ngrams", n=2, tol=0.5)
    r = txt.check([["a", "b", "a", "b"]])
    assert txt.ref["distinct"] == 4 and r["distinct"] == 2 and r["tail_drop"] == pytest.approx(0.5)
    assert first_or_none([False, False]) is None


def first_or_none(flags):
    return mi.first_alert({"generation": np.arange(len(flags)), "a": np.asarray(flags)}, "a")


def test_word_chain_loses_words_long_before_entropy_moves():
    ids, vocab = mi.words()
    assert ids.max() == len(vocab) - 1 and len(vocab) > 10000
    ch = mi.word_chain(ids, 5000, 10, seed=0)
    h = mi.Monitor(ch[0], "categories", tol=0.2).report(ch)
    assert mi.first_alert(h, "tail_alert") <= 2 and mi.first_alert(h, "mean_alert") is None


def test_monitor_rejects_bad_input():
    with pytest.raises(ValueError, match="kind"):
        mi.Monitor([1.0, 2.0], "means")
    with pytest.raises(ValueError, match="tol"):
        mi.Monitor([1.0, 2.0], tol=0)
    with pytest.raises(ValueError, match="integer labels"):
        mi.Monitor([0.5, 1.5], "categories")
    with pytest.raises(ValueError, match="non-empty list"):
        mi.Monitor([1.0, 2.0]).report([])
    with pytest.raises(TypeError):
        mi.first_alert({"generation": [0]}, 3)
    with pytest.raises(ValueError, match="M must"):
        mi.word_chain(np.arange(5), 10, 1)


def test_the_other_entry_points_reject_bad_input():
    with pytest.raises(ValueError, match="T must"):
        mi.linreg_bound(10, 11)
    with pytest.raises(ValueError, match="w_star"):
        mi.linreg_error([np.nan, 1.0])
    with pytest.raises(ValueError, match="generations"):
        mi.linreg_experiment(generations=-1)
    with pytest.raises(ValueError, match="policy must"):
        mi.linreg_experiment("keep", generations=1)
    with pytest.raises(TypeError, match="policies"):
        mi.policy_table(["gaussian"], policies=["replace"])
    with pytest.raises(TypeError, match="names"):
        mi.policy_table("gaussian")
    with pytest.raises(ValueError, match="bias"):
        mi.verified_chains(-0.1)
    with pytest.raises(ValueError, match="chains"):
        mi.gaussian_monitor_runs(chains=0)
    with pytest.raises(ValueError, match="split"):
        mi.words("dev")


def test_format_table_and_sizes():
    text = mi.format_table([{"a": 1.23456, "b": "x"}, {"a": float("nan")}])
    assert text.splitlines()[0].split() == ["a", "b"] and "1.23" in text and "nan" in text
    with pytest.raises(TypeError):
        mi.format_table({"a": 1})
    for p in ("quick", "standard", "paper"):
        s = mi.sizes(p)
        assert s.lr_d == 10 and s.lr_T == 50 and tuple(s.sweep_fractions) == (0.0, 0.01, 0.05, 0.1, 0.25, 0.5)


def test_anchored_stationary_exact_means_and_simulated_median():
    from collapse_lab import mitigation as mi

    for M in (5, 20, 100):
        ub, ml = mi.anchored_stationary(M, ddof=1, chains=40, burn=0, generations=1), \
            mi.anchored_stationary(M, ddof=0, chains=40, burn=0, generations=1)
        assert np.isclose(ub["mean_var"], 2) and np.isclose(ub["mean_mu2"], 1)
        assert np.isclose(ml["mean_var"], 2 * M / (3 * M + 1)) and np.isclose(ml["mean_mu2"], (M + 1) / (3 * M + 1))
    # the exact means agree with a long simulation of the chain itself; the median is well below the mean
    r = mi.anchored_stationary(10, ddof=1, chains=400, burn=100, generations=200, seed=3)
    m, v = mi.gaussian_chain(10, 300, 400, k=1, ddof=1, seed=4)
    # heavy right tail: the sample mean converges slowly (and mostly from below), hence 20%
    assert abs(v[100:].mean() / r["mean_var"] - 1) < 0.2 and abs((m[100:] ** 2).mean() / r["mean_mu2"] - 1) < 0.2
    assert r["median_var"] < 0.7 * r["mean_var"] and r["median_var_se"] < 0.05 * r["median_var"]
    # k real points per generation: the more real points, the closer the long-run means are to the truth
    assert abs(mi.anchored_stationary(20, k=10, ddof=1, chains=20, burn=0, generations=1)["mean_var"] - 1) < \
        abs(r["mean_var"] - 1)
    with pytest.raises(ValueError, match="ddof"):
        mi.anchored_stationary(10, ddof=2)
    with pytest.raises(ValueError, match="k"):
        mi.anchored_stationary(10, k=0)


def test_gaussian_chain_blocks_give_the_same_numbers_on_any_number_of_threads(monkeypatch):
    from collapse_lab.mitigation import anchor

    monkeypatch.setattr(anchor, "CHAIN_BLOCK", 7)
    monkeypatch.setenv("COLLAPSE_LAB_WORKERS", "1")
    one = mi.gaussian_chain(10, 5, 30, k=1, seed=2)
    monkeypatch.setenv("COLLAPSE_LAB_WORKERS", "3")
    three = mi.gaussian_chain(10, 5, 30, k=1, seed=2)
    for a, b in zip(one, three):
        assert a.shape == (6, 30)
        np.testing.assert_array_equal(a, b)
    assert len({float(x) for x in one[0][0]}) == 30  # every block draws its own numbers
