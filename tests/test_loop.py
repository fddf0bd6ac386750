import json

import numpy as np
import pytest
import torch

from collapse_lab import loop
from collapse_lab.validate import ArgumentError


def gauss_family():
    def fit(data, rng):
        return float(np.mean(data)), float(np.var(data, ddof=1))

    def sample(model, n, rng):
        return rng.normal(model[0], np.sqrt(model[1]), size=n)

    return loop.Family(fit=fit, sample=sample, name="gauss")


REAL = np.random.default_rng(0).normal(size=200)
VAR = {"var": lambda m, train: m[1]}


def test_replace_runs_every_generation_and_records_metrics():
    h = loop.run(gauss_family(), REAL, 30, metrics=VAR, seed=1)
    assert list(h["generation"]) == list(range(31))
    assert np.all(h["n_train"] == 200)
    assert h["var"][0] == pytest.approx(np.var(REAL, ddof=1))
    assert set(h.columns) >= {"generation", "n_train", "var", "seconds"}


def test_same_seed_same_numbers_other_seed_other_numbers():
    a = loop.run(gauss_family(), REAL, 20, metrics=VAR, seed=3)["var"]
    b = loop.run(gauss_family(), REAL, 20, metrics=VAR, seed=3)["var"]
    c = loop.run(gauss_family(), REAL, 20, metrics=VAR, seed=4)["var"]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_policy_training_set_sizes():
    n, g = 200, 5
    acc = loop.run(gauss_family(), REAL, g, policy="accumulate", seed=0)
    assert list(acc["n_train"]) == [n * (i + 1) for i in range(g + 1)]
    mix = loop.run(gauss_family(), REAL, g, policy=loop.policy("mix", fraction=0.25), seed=0)
    assert np.all(mix["n_train"] == n)
    anc = loop.run(gauss_family(), REAL, g, policy=loop.policy("anchor", k=3), seed=0)
    assert list(anc["n_train"][1:]) == [n + 3] * g


def test_mix_draws_the_stated_real_fraction():
    real = np.arange(100.0)  # real points are < 100, synthetic ones are >= 1000
    pol = loop.policy("mix", fraction=0.1)
    train = pol.build(real, [np.full(pol.n_synthetic(100), 1000.0)], np.random.default_rng(0))
    assert len(train) == 100 and np.sum(train < 100) == 10
    assert len(np.unique(train[train < 100])) == 10  # without replacement


def test_mix_keeps_the_chain_closer_than_replace_over_many_seeds():
    # the paper's 10% real data: the variance stays near 1 instead of drifting to 0
    def final(policy):
        return np.median([loop.run(gauss_family(), REAL[:20], 200, policy=policy, metrics=VAR, seed=s)["var"][-1]
                          for s in range(20)])

    assert final("replace") < 0.3 < final(loop.policy("mix", fraction=0.5))


@pytest.mark.parametrize("pol", [loop.policy("replace"), loop.policy("accumulate"), loop.policy("mix", fraction=0.3),
                                 loop.policy("anchor", k=3), loop.policy("anchor", k=50)])
def test_builder_gives_what_build_gives_with_the_same_draws(pol):
    real = np.arange(20.0)
    b, sets = loop.Builder(pol, real), []
    r1, r2 = np.random.default_rng(4), np.random.default_rng(4)
    for g in range(4):
        syn = np.full(pol.n_synthetic(20), 100.0 + g)
        sets = [*sets, syn] if pol.keeps_history else [syn]
        np.testing.assert_array_equal(b(syn, r1), pol.build(real, sets, r2))
    assert r1.random() == r2.random()


def test_builder_draws_through_the_policys_own_build(monkeypatch):
    """One construction path: a subclass's build (or a patched one) is what the builder uses, not a copy of it."""
    calls = []
    build = loop.Mix.build
    monkeypatch.setattr(loop.Mix, "build", lambda self, *a: calls.append(1) or build(self, *a))
    b = loop.Builder(loop.policy("mix", fraction=0.5), np.arange(10.0))
    b(np.zeros(5), np.random.default_rng(0))
    b(np.zeros(5), np.random.default_rng(1))
    assert calls == [1, 1]


def test_builder_refuses_what_is_not_a_policy_or_numpy_data():
    with pytest.raises(ValueError, match="policy"):
        loop.Builder("mix", np.zeros(3))
    with pytest.raises(ValueError, match="real"):
        loop.Builder(loop.policy("mix"), [1.0, 2.0])
    with pytest.raises(ValueError, match="real"):
        loop.Builder(loop.policy("mix"), np.zeros(0))


def test_custom_policy_and_keeps_history():
    class LastTwo:
        keeps_history = True
        seen = []

        def n_synthetic(self, n_real):
            return 10

        def build(self, real, synthetic_sets, rng):
            self.seen.append(len(synthetic_sets))
            return loop.concat(synthetic_sets[-2:])

    pol = LastTwo()
    h = loop.run(gauss_family(), REAL, 4, policy=pol, seed=0)
    assert pol.seen == [1, 2, 3, 4]
    assert list(h["n_train"]) == [200, 10, 20, 20, 20]


def test_subset_keep_callback_and_resume(tmp_path):
    calls = []
    h = loop.run(gauss_family(), REAL, 3, n=50, keep=(0, 3), seed=0, callback=lambda g, m, hist: calls.append(g))
    assert calls == [0, 1, 2, 3] and sorted(h.models) == [0, 3]
    assert h["n_train"][0] == 50
    resumed = loop.run(gauss_family(), REAL, 5, start=(3, h.models[3], []), seed=0)
    assert list(resumed["generation"]) == [4, 5]
    h.to_csv(tmp_path / "h.csv")
    h.to_json(tmp_path / "h.json")
    assert (tmp_path / "h.csv").read_text().splitlines()[0].startswith("generation,n_train")
    back = loop.History.from_json(tmp_path / "h.json")
    np.testing.assert_allclose(back["n_train"], h["n_train"])
    assert json.loads((tmp_path / "h.json").read_text())["meta"]["policy"] == "replace"


def test_data_of_every_kind():
    for data in (np.arange(6).reshape(3, 2), torch.arange(6).reshape(3, 2), [[0, 1], [2, 3], [4, 5]]):
        assert loop.size(data) == 3
        part = loop.take(data, [2, 0])
        both = loop.concat([part, part])
        assert loop.size(both) == 4
    assert loop.concat([[1], []]) == [1]


def test_dict_metrics_and_table():
    h = loop.run(gauss_family(), REAL, 2, metrics={"m": lambda m, t: {"mean": m[0], "var": m[1]}}, seed=0)
    assert "m_mean" in h.columns and "m_var" in h.columns
    assert "generation" in h.table() and len(h) == 3
    with pytest.raises(KeyError, match="columns are"):
        h["nope"]
    with pytest.raises(TypeError):
        h[0]


def test_bad_input_is_rejected():
    """Every bad argument of the loop is one error type, ArgumentError (a TypeError and a ValueError)."""
    fam = gauss_family()
    cases = [("fit", lambda: loop.run(object(), REAL, 3)), ("generations", lambda: loop.run(fam, REAL, -1)),
             ("policy must be one of", lambda: loop.run(fam, REAL, 3, policy="keep")),
             ("policy", lambda: loop.policy(3)), ("fraction", lambda: loop.policy("mix", fraction=1.5)),
             ("k must", lambda: loop.policy("anchor", k=-1)), ("n must", lambda: loop.run(fam, REAL, 3, n=10_000)),
             ("at least one", lambda: loop.run(fam, np.array([]), 3)),
             ("metrics", lambda: loop.run(fam, REAL, 1, metrics={"x": 3})),
             ("keep", lambda: loop.run(fam, REAL, 1, keep=3)), ("callback", lambda: loop.run(fam, REAL, 1, callback=3)),
             ("start", lambda: loop.run(fam, REAL, 1, start=(1, 2))), ("desc", lambda: loop.run(fam, REAL, 1, desc=3)),
             ("gen0", lambda: loop.run(fam, REAL, 1, gen0=[])), ("not both", lambda: loop.run(fam, REAL, 1, gen0={},
                                                                                             start=(0, None, []))),
             ("finite", lambda: loop.run(fam, np.array([1.0, np.nan]), 1)), ("data must", lambda: loop.size(3)),
             ("data must", lambda: loop.take(object.__new__(type("Odd", (), {"__len__": lambda s: 2})), [0]))]
    for what, bad in cases:
        with pytest.raises(ArgumentError, match=what):
            bad()


def test_policy_options_must_match_the_policy():
    assert loop.policy("mix").fraction == 0.1 and loop.policy("anchor").k == 1
    with pytest.raises(ValueError, match="fraction goes with policy 'mix'"):
        loop.policy("replace", fraction=0.1)
    with pytest.raises(ValueError, match="k goes with policy 'anchor'"):
        loop.policy("mix", k=3)
    with pytest.raises(ValueError, match="policy name"):
        loop.policy(loop.Replace(), fraction=0.2)
    with pytest.raises(TypeError, match="metrics must be a dict"):
        loop.run(gauss_family(), REAL, 1, metrics=lambda m, t: 1.0)


def _rows(h):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in h.rows]


def test_gen0_is_fitted_once_and_every_policy_gives_the_numbers_of_its_own_run():
    fits = []
    fam = gauss_family()
    counted = loop.Family(fit=lambda x, rng: fits.append(len(x)) or fam.fit(x, rng), sample=fam.sample, name="gauss")
    policies = ["replace", "accumulate", loop.policy("mix", fraction=0.3), loop.policy("anchor", k=5)]
    alone = [loop.run(counted, REAL, 6, policy=p, metrics=VAR, seed=2, n=150) for p in policies]
    assert len(fits) == 4 * 7
    fits.clear()
    gen0: dict = {}
    together = [loop.run(counted, REAL, 6, policy=p, metrics=VAR, seed=2, n=150, gen0=gen0, keep=(0,))
                for p in policies]
    assert len(fits) == 7 + 3 * 6, "generation 0 is fitted by the first run only"
    assert [_rows(h) for h in together] == [_rows(h) for h in alone]
    assert all(h.models[0] is gen0["model"] for h in together)


def test_gen0_of_another_run_is_refused():
    fam = gauss_family()
    gen0: dict = {}
    loop.run(fam, REAL, 1, seed=2, gen0=gen0)
    h = loop.run(fam, REAL, 1, seed=np.random.default_rng(2), gen0=gen0)  # the same random state: accepted
    assert h.models == {} and len(h) == 2
    moved = np.random.default_rng(2)
    moved.random()
    for kw in (dict(seed=3), dict(seed=moved), dict(n=150)):
        with pytest.raises(ValueError, match="another run"):
            loop.run(fam, REAL, 1, **{"seed": 2, **kw}, gen0=gen0)
    with pytest.raises(ValueError, match="another run"):
        loop.run(fam, REAL + 1e-12, 1, seed=2, gen0=gen0)
    with pytest.raises(ValueError, match="another run"):
        loop.run(loop.Family(fam.fit, fam.sample, name="other"), REAL, 1, seed=2, gen0=gen0)
    with pytest.raises(ValueError, match="gen0 must be empty or filled by loop.run"):
        loop.run(fam, REAL, 1, gen0={"model": (0.0, 1.0)})
    with pytest.raises(TypeError, match="gen0 must be a dict"):
        loop.run(fam, REAL, 1, gen0=[])
    with pytest.raises(ValueError, match="gen0"):
        loop.run(fam, REAL, 1, start=(0, (0.0, 1.0), []), gen0={})
