"""Chapter 2: Gaussian mixture collapse (collapse_lab.gmm and checks.ch2)."""
import numpy as np
import pytest

from collapse_lab import gmm, loop
from collapse_lab.checks import CheckFailed, ch2


def rand_mix(rng, k, d=2):
    a = rng.normal(0, 0.7, (k, d, d))
    return gmm.mixture(rng.dirichlet(np.ones(k)), rng.normal(0, 2, (k, d)), a @ a.transpose(0, 2, 1) + 0.2 * np.eye(d))


# ---------------------------------------------------------------------------------------------------------------
# closed-form L2 distance


def grid_l2_squared(p, q, lim=12.0, n=481):
    # Riemann sum on a 0.05-spaced grid: for Gaussians with sd >= 0.4 it is accurate far below 1e-3
    t = np.linspace(-lim, lim, n)
    xx, yy = np.meshgrid(t, t)
    x = np.column_stack([xx.ravel(), yy.ravel()])
    diff = gmm.density(p, x) - gmm.density(q, x)
    return float(np.sum(diff ** 2) * (t[1] - t[0]) ** 2)


@pytest.mark.parametrize("case", range(4))
def test_l2_closed_form_matches_grid_integration(case):
    rng = np.random.default_rng(case)
    if case == 0:
        p, q = gmm.TEACHING, gmm.fit(gmm.sample(gmm.TEACHING, 300, rng), 3, rng)
    elif case == 1:
        p, q = gmm.TEACHING, gmm.mixture([0.5, 0.5], [[-3, 0], [3, 0.5]], np.tile(np.eye(2) * 0.3, (2, 1, 1)))
    else:
        p, q = rand_mix(rng, 3), rand_mix(rng, 2 + case)
    exact, numeric = gmm.l2(p, q, squared=True), grid_l2_squared(p, q)
    assert abs(exact - numeric) / numeric < 1e-3
    assert abs(gmm.l2(p, q) - np.sqrt(numeric)) / np.sqrt(numeric) < 1e-3


def test_l2_properties_and_1d_overlap():
    rng = np.random.default_rng(1)
    p, q = rand_mix(rng, 3), rand_mix(rng, 2)
    assert gmm.l2(p, p) == pytest.approx(0.0, abs=1e-7)
    assert gmm.l2(p, q) == pytest.approx(gmm.l2(q, p), rel=1e-12)
    a = gmm.mixture([1.0], [[0.0]], [[[1.0]]])
    b = gmm.mixture([1.0], [[1.0]], [[[1.0]]])
    # integral N(x;0,1) N(x;1,1) dx = N(0; 1, 2)
    assert gmm.overlaps(a, b)[0, 0] == pytest.approx(np.exp(-0.25) / np.sqrt(4 * np.pi), rel=1e-12)
    # ||N(0,1) - N(1,1)||^2 = 2 (1/(2 sqrt(pi))) - 2 N(0;1,2)
    want = 1 / np.sqrt(np.pi) - 2 * np.exp(-0.25) / np.sqrt(4 * np.pi)
    assert gmm.l2(a, b, squared=True) == pytest.approx(want, rel=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# mixtures, fitting, matching


def test_sample_density_and_fit_recover_the_teaching_mixture():
    x = gmm.sample(gmm.TEACHING, 20000, np.random.default_rng(0))
    assert x.shape == (20000, 2)
    assert np.array_equal(x, gmm.sample(gmm.TEACHING, 20000, np.random.default_rng(0)))
    assert gmm.density(gmm.TEACHING, x[:5]).shape == (5,)
    m = gmm.fit(x, 3, np.random.default_rng(1), n_init=3)
    t = gmm.tracked(gmm.TEACHING, m)
    assert np.allclose(t["weight"], gmm.TEACHING.weights, atol=0.01)
    assert np.allclose(t["det"], np.linalg.det(gmm.TEACHING.covs), rtol=0.1)
    assert gmm.l2(m, gmm.TEACHING) < 0.02
    assert gmm.heldout_loglik(m, x) == pytest.approx(gmm.heldout_loglik(gmm.TEACHING, x), abs=0.01)


def test_match_is_hungarian_on_means():
    ref = gmm.TEACHING
    perm = np.array([2, 0, 1])
    model = gmm.mixture(ref.weights[perm], ref.means[perm] + 0.2, ref.covs[perm])
    assert gmm.match(ref, model).tolist() == [1, 2, 0]
    # two components for three modes: the farthest mode (minor) has nothing left and reads weight 0
    two = gmm.mixture([0.7, 0.3], [[-3, 0], [2.5, 1.5]], np.tile(np.eye(2), (2, 1, 1)))
    assert gmm.match(ref, two).tolist() == [0, 1, -1]
    t = gmm.tracked(ref, two)
    assert t["weight"][2] == 0 and np.isnan(t["det"][2])


def test_mode_mass_and_lost_generation():
    mass = gmm.mode_mass(gmm.TEACHING)
    assert np.allclose(mass, 0.99 * gmm.TEACHING.weights, atol=0.004)
    # a model that only covers the two big modes puts (almost) nothing on the minor one
    two = gmm.mixture([0.65, 0.35], gmm.TEACHING.means[:2], gmm.TEACHING.covs[:2])
    assert gmm.mode_mass(two)[2] < 1e-3
    assert gmm.lost_generation([0.1, 0.05, 0.009, 0.02], 0.1) == 2
    assert gmm.lost_generation([0.1, 0.05], 0.1) is None
    assert gmm.lost_generation([0.5, 0.2], 0.6, below=0.5) == 1


def test_weight_sd_matches_binomial_simulation():
    rng = np.random.default_rng(0)
    p = np.full(20000, 0.1)
    for _ in range(20):
        p = rng.binomial(100, p) / 100
    assert p.std() == pytest.approx(gmm.weight_sd(0.1, 100, 20), rel=0.03)
    assert gmm.weight_sd(0.3, 50, 0) == 0.0
    assert gmm.weight_sd(0.3, 50, 1) == pytest.approx(np.sqrt(0.21 / 50))


def test_tail_threshold_and_fraction():
    x = gmm.sample(gmm.TEACHING, 5000, np.random.default_rng(3))
    tau = gmm.tail_threshold(gmm.TEACHING, x)
    assert gmm.tail_fraction(gmm.TEACHING, x, tau) == pytest.approx(0.01, abs=0.001)
    narrow = gmm.mixture([1.0], [[-3, 0]], [np.eye(2) * 0.1])
    assert gmm.tail_fraction(narrow, x, tau) > 0.5


# ---------------------------------------------------------------------------------------------------------------
# experiments


def test_experiment_columns_determinism_and_collapse():
    h = gmm.experiment(generations=40, seed=0, n=100, profile="quick")
    for c in ("generation", "distance", "loglik", "tail", "weight_0", "det_2", "mass_2"):
        assert c in h.columns
    assert len(h) == 41 and h.meta["lost"][0] is None
    again = gmm.experiment(generations=40, seed=0, n=100, profile="quick")
    assert np.array_equal(h["distance"], again["distance"])
    d = h["distance"]
    assert d[-10:].mean() > 3 * d[0]          # the chain drifts away from the truth
    assert h["tail"][-1] > h["tail"][0]       # and forgets the regions it no longer covers
    assert h["loglik"][-1] < h["loglik"][0]
    assert sorted(h.models) == [g for g in gmm.sizes("quick").snapshots if g <= 40]
    # the same chain, seen by first_loss, stops where experiment says the first mode is lost
    lost = [g for g in h.meta["lost"].values() if g is not None]
    row = gmm.first_loss(0, n=100, generations=40, profile="quick")
    assert row["generation"] == (min(lost) if lost else None)


def _rows(h):
    return [{c: v for c, v in r.items() if c != "seconds"} for r in h.rows]   # seconds: the clock, not the chain


@pytest.mark.parametrize("k", [3, 2])
def test_experiments_until_settled_report_what_the_full_run_reports(k):
    """until="settled" stops a chain once its smallest mode is lost and its variance moved by half: every row kept
    is the full run's, and what the chapter reads (first loss, the minor mode's loss, the course map's row) is
    identical."""
    from collapse_lab import stages

    full = gmm.experiments(12, n=100, generations=60, k=k, profile="quick")
    cut = gmm.experiments(12, n=100, generations=60, k=k, profile="quick", until="settled")
    if k == 3:
        assert sum(len(c) < len(f) for c, f in zip(cut, full)) >= 6     # most chains settle early at M = 100
    for f, c in zip(full, cut):
        assert _rows(c) == _rows(f)[:len(c)]
        last = len(c) - 1
        assert c.meta["lost"][2] == f.meta["lost"][2]
        assert c.meta["lost"] == {j: g if g is not None and g <= last else None for j, g in f.meta["lost"].items()}
        assert stages.alarms(c, "gmm") == stages.alarms(f, "gmm")
        if len(c) < len(f):   # stopped at the generation both events were known, no later
            t, b = stages.alarms(f, "gmm")
            assert last == max(f.meta["lost"][2], b)
        assert c.meta["planned"] == 60
    kw = dict(chapter=2, experiment="x", sources="S", remedy="y")
    assert stages.row(cut, "gmm", **kw) == stages.row(full, "gmm", **kw)
    first = lambda h: min([g for g in h.meta["lost"].values() if g is not None], default=None)  # noqa: E731
    assert [first(h) for h in cut] == [first(h) for h in full]
    with pytest.raises(ValueError, match="until"):
        gmm.experiments(2, n=100, generations=2, profile="quick", until="never")


def test_experiments_in_blocks_and_processes_give_the_histories_of_one_batch(monkeypatch):
    """experiments() runs its seeds in blocks, side by side in processes: every row (but the clock's seconds) and
    the meta are those of one batch of all seeds on one thread, to the bit; the N-sweep's rows are experiments'
    without the mode masses."""
    from collapse_lab.gmm import chains

    monkeypatch.setenv("COLLAPSE_LAB_WORKERS", "1")
    one = gmm.experiments(5, n=100, generations=40, profile="quick", until="settled")
    monkeypatch.setenv("COLLAPSE_LAB_WORKERS", "2")
    monkeypatch.setattr(chains, "BLOCK", 2)
    assert chains._blocks(list(range(5))) == [[0, 1], [2, 3], [4]]
    blocks = gmm.experiments(5, n=100, generations=40, profile="quick", until="settled")
    assert [_rows(h) for h in blocks] == [_rows(h) for h in one]
    assert [h.meta for h in blocks] == [h.meta for h in one]
    sw = gmm.sweep(ns=(100, 300), seeds=5, generations=10, profile="quick")
    for N in (100, 300):
        alone = gmm.experiments(5, n=N, generations=10, profile="quick")
        assert [_rows(h) for h in sw[N]] == [[{c: v for c, v in r.items() if not c.startswith("mass_")} for r in
                                              _rows(h)] for h in alone]
        assert all("lost" not in h.meta for h in sw[N])


def test_l2s_equals_l2_per_mixture_to_the_bit():
    """The batched distances the chains record are l2's own numbers, for fresh, shrunken and k = 2 fits."""
    from collapse_lab import em
    from collapse_lab.gmm.mixture import l2s

    for k, scale in ((3, 1.0), (3, 0.01), (2, 1.0)):
        x = np.stack([gmm.sample(gmm.TEACHING, 200, np.random.default_rng(s)) for s in range(9)]) * scale
        f = em.fit(x, k, list(range(9)))
        for ref in (gmm.TEACHING, gmm.PAPER):
            got = l2s(f.weights, f.means, f.covs, ref)
            assert got.tolist() == [gmm.l2(gmm.Mixture(*f.chain(c)), ref) for c in range(9)]
    with pytest.raises(ValueError, match="shapes"):
        l2s(f.weights[0], f.means, f.covs, gmm.TEACHING)


def test_inside_shares_equal_the_whole_batch_product_to_the_bit():
    """mode_mass / mode_masses / exact_masses decide most (component, mode) pairs from a bound; the shares are
    the ones the direct product over all 4096 draws gives, to the bit, for fresh, shrunken and spread mixtures."""
    from scipy.stats import chi2

    from collapse_lab.gmm.measures import _Z

    ref, r2 = gmm.TEACHING, chi2.ppf(0.99, 2)
    Li = np.linalg.cholesky(np.linalg.inv(ref.covs))

    def direct(w, m, c, z=_Z):   # the formula before the bound: every draw of every pair
        x = m[:, :, None, :] + z @ np.swapaxes(np.linalg.cholesky(c), -1, -2)
        inside = np.stack([(((x - mu) @ L) ** 2).sum(-1) <= r2 for mu, L in zip(ref.means, Li)], 1)
        return inside.mean(-1), np.einsum("cjk,ck->cj", inside.mean(-1), w)

    rng = np.random.default_rng(7)
    for scale in (1e-3, 1e-1, 1.0, 4.0):
        C = 300
        w = rng.dirichlet(np.ones(3), C)
        m = ref.means[rng.integers(0, 3, (C, 3))] + rng.normal(0, 2 * scale, (C, 3, 2))
        a = rng.normal(0, scale, (C, 3, 2, 2))
        c = a @ np.swapaxes(a, -1, -2) + 1e-6 * np.eye(2)
        shares, masses = direct(w, m, c)
        assert np.array_equal(gmm.mode_masses(w, m, c, ref), masses)
        one = gmm.mixture(w[0], m[0], c[0])
        assert np.array_equal(gmm.mode_mass(one, ref), direct(one.weights[None], one.means[None], one.covs[None])[0][0]
                              @ one.weights)
        ex = gmm.exact_masses((w[None], m[None], c[None]), ref, modes=[2, 0], draws=1024)
        sub = direct(w, m, c, _Z[:1024])[0]
        assert np.array_equal(ex[0], np.stack([(sub[:, j] * w).sum(-1) for j in (2, 0)], -1))


def test_experiment_policies_for_chapter_5():
    hs = {p: gmm.experiment(p, generations=25, seed=1, n=100, profile="quick") for p in ("replace", "accumulate")}
    assert hs["accumulate"]["n_train"][-1] == 100 * 26
    assert hs["accumulate"]["distance"][-5:].mean() < hs["replace"]["distance"][-5:].mean()
    assert len(gmm.experiment(loop.policy("mix", fraction=0.5), generations=3, n=100, profile="quick")) == 4


def test_minor_mode_is_lost_first_in_a_large_majority():
    # 20 seeds at N = 100 (the quick profile's seed_N) for at most 100 generations; the notebook runs
    # sizes().seeds chains (60 in standard at N = 500 for 400 generations) of the same first_loss.
    rows = gmm.first_losses(20, n=100, generations=100, profile="quick")
    counts = gmm.count_first(rows)
    assert counts["minor"] >= 12, counts
    assert counts["minor"] > sum(v for k, v in counts.items() if k != "minor"), counts
    assert counts["major"] <= 2


def test_error_sources_are_isolated():
    r = gmm.error_sources(seed=0, profile="quick")
    e = r["expressivity"]
    assert e[1] > e[2] > 5 * e[3]                 # too few components: a floor no data can remove
    assert e[4] < 2 * e[3]
    s = list(r["statistical"].values())
    assert all(a > b for a, b in zip(s, s[1:]))   # more data, less statistical error
    assert r["approximation"].min() < 2 * r["best"] and r["approximation"].max() > 5 * r["best"]


def test_paper_setting_and_sweep_quick():
    h = gmm.paper(profile="quick")
    snaps = gmm.sizes("quick").paper_snapshots
    assert snaps == (0, 1, 2, 3, 4, 7, 40) and len(h) == 41 and sorted(h.models) == sorted(set(snaps))
    assert all(m.k == 2 for m in h.models.values()) and np.all(np.isfinite(h["distance"]))
    sw = gmm.sweep(ns=(50, 400), seeds=2, generations=20, profile="quick")
    assert sorted(sw) == [50, 400] and all(len(v) == 2 and len(v[0]) == 21 for v in sw.values())
    a, b = gmm.trend([10, 100, 1000], [2.0, 0.2, 0.02])
    assert b == pytest.approx(-1.0) and a == pytest.approx(np.log10(20))


def test_warm_family_follows_its_components():
    fam = gmm.family(3, init="warm")
    x = gmm.sample(gmm.TEACHING, 500, np.random.default_rng(0))
    m0 = fam.fit(x, np.random.default_rng(1))
    m1 = fam.fit(x, np.random.default_rng(2))
    assert np.allclose(m0.means, m1.means, atol=1e-3)  # started from m0, EM stays at m0's optimum


# ---------------------------------------------------------------------------------------------------------------
# input validation


def test_validation():
    rng = np.random.default_rng(0)
    x = gmm.sample(gmm.TEACHING, 50, rng)
    with pytest.raises(ValueError, match="weights"):
        gmm.mixture([0.5, 0.5], [[0, 0]], [np.eye(2)])
    with pytest.raises(ValueError, match="positive definite"):
        gmm.mixture([1.0], [[0, 0]], [[[1.0, 2.0], [2.0, 1.0]]])
    with pytest.raises(TypeError, match="mix"):
        gmm.sample("not a mixture", 5)
    with pytest.raises(ValueError, match="n must"):
        gmm.sample(gmm.TEACHING, -1)
    with pytest.raises(ValueError, match="x must"):
        gmm.density(gmm.TEACHING, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="dimension"):
        gmm.l2(gmm.TEACHING, gmm.mixture([1.0], [[0.0]], [[[1.0]]]))
    with pytest.raises(ValueError, match="init"):
        gmm.fit(x, 3, init="bogus")
    with pytest.raises(ValueError, match="start"):
        gmm.fit(x, 3, init="warm")
    with pytest.raises(ValueError, match="data"):
        gmm.fit(x[:2], 3)
    with pytest.raises(TypeError, match="k must"):
        gmm.family(2.5)
    with pytest.raises(ValueError, match="level"):
        gmm.mode_mass(gmm.TEACHING, level=1.5)
    with pytest.raises(ValueError, match="level"):
        gmm.tracked(gmm.TEACHING, gmm.TEACHING, level=0)
    with pytest.raises(TypeError, match="model"):
        gmm.match(gmm.TEACHING, [1, 2, 3])
    with pytest.raises(ValueError, match="2-D"):
        gmm.extent(gmm.mixture([1.0], [[0.0]], [[[1.0]]]))
    with pytest.raises(ValueError, match="original"):
        gmm.lost_generation([0.1], 0)
    with pytest.raises(ValueError, match="below"):
        gmm.lost_generation([0.1], 0.1, below=2)
    with pytest.raises(ValueError, match="w must"):
        gmm.weight_sd(1.5, 10, 1)
    with pytest.raises(ValueError, match="q must"):
        gmm.tail_threshold(gmm.TEACHING, x, q=2.0)
    with pytest.raises(ValueError, match="tau"):
        gmm.tail_fraction(gmm.TEACHING, x, -1.0)
    with pytest.raises(ValueError, match="generations"):
        gmm.experiment(generations=-1)
    with pytest.raises(ValueError, match="policy"):
        gmm.experiment("bogus", generations=1, n=50)
    with pytest.raises(ValueError, match="profile"):
        gmm.sizes("huge")
    with pytest.raises(ValueError, match="seeds"):
        gmm.first_losses([])
    with pytest.raises(ValueError, match="rows"):
        gmm.count_first([{"first": "everything"}])
    with pytest.raises(ValueError, match="ns"):
        gmm.trend([10], [1.0])
    with pytest.raises(ValueError, match="ns"):
        gmm.sweep(ns=(5,), seeds=1, generations=1)


# ---------------------------------------------------------------------------------------------------------------
# the exercise checks: the reference passes, wrong answers fail


def _family(k):
    return gmm.family(k)


def _match(r, f):
    eye = lambda a: np.tile(np.eye(2), (len(a), 1, 1))  # noqa: E731
    return gmm.match(gmm.mixture(np.ones(len(r)), r, eye(r)), gmm.mixture(np.ones(len(f)), f, eye(f)))


REFERENCE = {
    "l2_distance": gmm.l2,
    "gmm_family": _family,
    "lost_at": gmm.lost_generation,
    "weight_sd": gmm.weight_sd,
    "match_modes": _match,
}
WRONG = {
    "l2_distance": [lambda p, q: 0.1, lambda p, q: gmm.l2(p, q, squared=True)],
    "gmm_family": [lambda k: gmm.family(3), lambda k: loop.Family(fit=lambda d, r: d, sample=lambda m, n, r: m[:n])],
    "lost_at": [lambda m, o, b: 0, lambda m, o, b: gmm.lost_generation(m[1:], o, b)],
    "weight_sd": [lambda w, n, g: np.sqrt(w * (1 - w) / n), lambda w, n, g: np.sqrt(g * w * (1 - w) / n)],
    "match_modes": [lambda r, f: np.arange(len(r)), lambda r, f: np.argmin(((r[:, None] - f[None]) ** 2).sum(-1), 1)],
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_checks_pass_reference_and_fail_wrong_answers(name, capsys):
    check = getattr(ch2, name)
    check(REFERENCE[name])
    assert capsys.readouterr().out.startswith("\u2713")
    for wrong in WRONG[name]:
        with pytest.raises(CheckFailed):
            check(wrong)

    def unwritten(*a, **k):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not written yet"):
        check(unwritten)
