"""Sampling loses the tails: the categorical chain, the light-vs-heavy tail experiment, the explorer, the checks."""
import numpy as np
import pytest
from scipy import stats

from collapse_lab import loop, tails
from collapse_lab.checks import ch1


def test_zipf():
    p = tails.zipf(5, 1.0)
    assert p.sum() == pytest.approx(1.0) and np.all(np.diff(p) < 0)
    assert p[0] / p[1] == pytest.approx(2.0) and np.allclose(tails.zipf(4, 0.0), 0.25)


def test_refit_one_generation():
    p = np.array([0.6, 0.3, 0.1, 0.0])
    q = tails.refit(p, 10, 0)
    assert q.shape == p.shape and q.sum() == pytest.approx(1.0) and q[3] == 0
    assert np.allclose(q * 10, np.round(q * 10))
    qs = tails.refit(np.tile(p, (40000, 1)), 10, np.random.default_rng(1))       # many chains at once
    assert np.allclose(qs.mean(0), p, atol=4 * np.sqrt(0.25 / 10 / 40000))
    assert np.allclose(qs.var(0), p * (1 - p) / 10, rtol=0.05)
    assert np.array_equal(tails.refit(p, 10, 5), tails.refit(p, 10, 5))


def test_expected_lost_matches_simulation():
    p = tails.zipf(1000, 1.1)
    for M in (100, 1000, 10000):
        sim = tails.lost_once(p, M, 4000, seed=M)
        se = sim.std() / np.sqrt(sim.size)
        assert sim.mean() == pytest.approx(tails.expected_lost(p, M), abs=5 * se)
    assert tails.expected_lost([0.5, 0.5, 0.0], 1) == pytest.approx(1.0)    # the zero category is already lost
    assert np.allclose(tails.expected_lost(np.array([[1.0, 0.0], [0.5, 0.5]]), 2), [0.0, 0.5])


def test_loss_is_permanent_and_rarest_go_first():
    p = tails.zipf(200, 1.0)
    s = tails.survival(p, 200, 60, 300, seed=0)
    assert s.shape == (61, 200) and np.all(s[0] == 1)
    assert np.all(np.diff(s, axis=0) <= 0)                      # a category never comes back
    # one generation: survival 1 - (1-p)^M, to sampling error
    assert np.allclose(s[1], 1 - (1 - p) ** 200, atol=5 * np.sqrt(0.25 / 300))
    # rarest first: the 20 rarest have lower survival than the 20 commonest at every generation
    assert np.all(s[1:, -20:].mean(1) < s[1:, :20].mean(1))
    assert s[-1, :5].mean() > 3 * s[-1, -50:].mean()


def test_family_and_experiment():
    fam = tails.family(4)
    q = fam.fit(np.array([0, 0, 1, 3]), None)
    assert np.allclose(q, [0.5, 0.25, 0, 0.25])
    assert set(np.unique(fam.sample(q, 1000, np.random.default_rng(0)))) == {0, 1, 3}
    h = tails.experiment(profile="quick")
    assert len(h) == tails.sizes("quick").experiment_generations + 1
    alive = h["alive"]
    assert np.all(np.diff(alive) <= 0) and alive[-1] < alive[0]
    assert h["distance"][-1] > h["distance"][0] > 0
    assert np.array_equal(alive, tails.experiment(profile="quick")["alive"])
    assert tails.experiment("accumulate", generations=50, profile="quick")["alive"][-1] == alive[0]
    assert tails.tv([0.5, 0.5], [1.0, 0.0]) == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------------------------
# light vs heavy tails


@pytest.mark.parametrize("dist", tails.DISTRIBUTIONS)
def test_distributions_quantiles_and_samples_agree(dist):
    lo, hi = tails.tail_bounds(dist)
    assert tails.cdf(dist, lo) == pytest.approx(0.01) and tails.cdf(dist, hi) == pytest.approx(0.99)
    x = tails.draw(dist, 200000, np.random.default_rng(0))
    assert stats.kstest(x, lambda v: tails.cdf(dist, v)).pvalue > 1e-3
    grid = np.linspace(-6, 8, 20001)
    assert np.trapezoid(tails.pdf(dist, grid), grid) == pytest.approx(1.0, abs=2e-3)


def test_kde_keeps_the_sample_variance_and_exact_tail_mass():
    rng = np.random.default_rng(0)
    x = tails.draw("student-t", (3, 100), rng)
    model = tails.fit_kde(x)
    c, w = model
    assert c.shape == (3, 100) and w.shape == (3,)
    model_var = c.var(1) + w ** 2                                 # mixture of equal-weight Gaussians
    assert np.allclose(model_var, x.var(1, ddof=1))
    big = tails.sample_model(model, 200000, rng)
    assert np.allclose(big.var(1), x.var(1, ddof=1), rtol=0.03)
    lo, hi = tails.tail_bounds("student-t")
    emp = ((big < lo) | (big > hi)).mean(1)
    assert np.allclose(tails.model_tail_mass(model, lo, hi), emp, atol=5 * np.sqrt(0.05 / 200000))
    g = tails.fit_gaussian(x)
    assert np.allclose(tails.model_tail_mass(g, lo, hi),
                       stats.norm.cdf(lo, g[0][:, 0], g[1]) + stats.norm.sf(hi, g[0][:, 0], g[1]))
    dens = tails.model_pdf(model, np.linspace(-30, 30, 6001))
    assert np.allclose(dens.sum(1) * 0.01, 1.0, atol=1e-3)


def test_tail_chains_gaussian_first_fit_and_determinism():
    frac, model = tails.tail_chains("gaussian", "gaussian", 50, 3, 4000, seed=1)
    assert frac.shape == (4, 4000) and np.all(frac[0] == 1) and model[0].shape == (4000, 1)
    again, _ = tails.tail_chains("gaussian", "gaussian", 50, 3, 4000, seed=1)
    assert np.array_equal(frac, again)
    # after one Gaussian fit to 50 real points: E[tail mass of N(mu, s^2)], mu ~ N(0, 1/50), s^2 ~ chi2(49)/49
    r = np.random.default_rng(9)
    mu, sd = r.normal(0, np.sqrt(1 / 50), 10**6), np.sqrt(r.chisquare(49, 10**6) / 49)
    q = stats.norm.ppf(0.99)
    pred = np.mean(stats.norm.sf((q - mu) / sd) + stats.norm.cdf((-q - mu) / sd)) / 0.02
    assert frac[1].mean() == pytest.approx(pred, rel=0.03)


def test_tail_table_orders_light_heavy_bounded_mixture():
    t = tails.tail_table(n=(1, 30), M=100, chains=400, seed=0)
    rows = {(r["distribution"], r["model"]): r for r in t.rows}
    assert len(rows) == len(tails.TAIL_CASES)
    assert {"median_30", "mean_30", "lost_30"} <= set(t.columns)
    med = {k: r["median_30"] for k, r in rows.items()}
    # heavy tail lost fastest, bounded distribution keeps (even gains) mass beyond its percentiles
    assert med["student-t", "kde"] < 0.1 < med["gaussian", "gaussian"] < med["uniform", "kde"]
    assert med["uniform", "kde"] > 1
    assert rows["student-t", "kde"]["lost_30"] > 0.5 > rows["gaussian", "gaussian"]["lost_30"]
    assert all(0.5 < r["median_1"] < 5 for r in t.rows)


def test_explorer_draws_a_static_figure(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setenv("COLLAPSE_LAB_STATIC", "1")
    fig = tails.explore(M=[50], generations=[5], distribution=["mixture", "gaussian"], chains=20)
    assert fig is not None and len(fig.axes) == 2
    assert fig.axes[0].get_xlabel() == "x" and fig.axes[1].get_ylabel().startswith("tail mass")
    plt.close("all")


def test_kde_family_runs_through_the_loop():
    real = tails.draw("uniform", 100, np.random.default_rng(0))
    h = loop.run(tails.kde_family(), real, 5, seed=0, metrics={"var": lambda m, d: m[0].var() + m[1][0] ** 2})
    assert len(h) == 6 and h["var"][0] == pytest.approx(real.var(ddof=1))


# ---------------------------------------------------------------------------------------------------------------
# input validation


@pytest.mark.parametrize("call, match", [
    (lambda: tails.zipf(0), "K must be an int >= 1"),
    (lambda: tails.zipf(5, a=-1), "a must be"),
    (lambda: tails.refit([0.5, 0.6], 5, 0), "sum to 1"),
    (lambda: tails.refit([0.5, 0.5], 0, 0), "M must be an int >= 1"),
    (lambda: tails.refit("ab", 3, 0), "p must be"),
    (lambda: tails.refit([0.5, 0.5], 3, "x"), "rng"),
    (lambda: tails.expected_lost([[[1.0]]], 3), "shape"),
    (lambda: tails.expected_lost([1.5, -0.5], 3), "non-negative"),
    (lambda: tails.lost_once([0.5, 0.5], 3, 0), "trials must be"),
    (lambda: tails.survival([0.5, 0.5], 3, -1, 2), "generations must be"),
    (lambda: tails.survival([0.5, 0.5], 3, 2, 0), "chains must be"),
    (lambda: tails.tv([0.5, 0.5], [1.0]), "same shape"),
    (lambda: tails.family(0), "K must be"),
    (lambda: tails.family(3).fit(np.array([0, 5]), None), "category ids"),
    (lambda: tails.experiment("never"), "policy must be one of"),
    (lambda: tails.draw("cauchy", 3, 0), "distribution must be one of"),
    (lambda: tails.tail_bounds("gaussian", q=0.7), "q must be"),
    (lambda: tails.fit_kde(np.ones(1)), "M >= 2"),
    (lambda: tails.fit_gaussian([[np.nan, 1.0]]), "finite"),
    (lambda: tails.sample_model((np.zeros(3), np.ones(3)), 2, 0), "model must be"),
    (lambda: tails.sample_model(5, 2, 0), "model must be a pair"),
    (lambda: tails.model_tail_mass((np.zeros((1, 2)), np.ones(1)), 1.0, -1.0), "lo <= hi"),
    (lambda: tails.tail_chains("gaussian", "histogram", 10, 2, 2), "model must be one of"),
    (lambda: tails.tail_chains("gaussian", "kde", 1, 2, 2), "M must be"),
    (lambda: tails.tail_table(n=[0]), "n must be"),
    (lambda: tails.tail_table(n=[2], chains=0), "chains must be"),
    (lambda: tails.explore(M=[1]), "M must be"),
    (lambda: tails.explore(distribution=["pareto"]), "distribution must be"),
    (lambda: tails.explore(generations=5), "generations must be a non-empty list"),
    (lambda: tails.cdf("lognormal", 1.0), "distribution must be"),
    (lambda: tails.pdf("cauchy", 1.0), "distribution must be"),
    (lambda: tails.model_pdf(([1.0], [1.0]), [0.0]), "model must be"),
    (lambda: tails.draw_explorer(M=1), "M must be"),
    (lambda: tails.experiment(K=0), "K must be"),
    (lambda: tails.experiment(a=-2.0), "a must be"),
])
def test_bad_input_is_rejected(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


# ---------------------------------------------------------------------------------------------------------------
# the chapter's checks


def test_categorical_checks_pass_correct_code_with_any_draw_order():
    # correct answers draw from rng in different ways (counts at once, one category index per point, a skipped
    # draw first): the check accepts all of them, since it tests the law and the rng discipline, not the stream
    ch1.categorical_step(lambda p, M, rng: rng.multinomial(M, p) / M)
    ch1.categorical_step(lambda p, M, rng: np.bincount(rng.choice(len(p), M, p=p), minlength=len(p)) / M)

    def skip_one(p, M, rng):
        rng.random()
        return rng.multinomial(M, p) / M

    ch1.categorical_step(skip_one)
    ch1.expected_lost(tails.expected_lost)


@pytest.mark.parametrize("wrong", [
    lambda p, M, rng: np.asarray(p),                                        # no sampling: a constant answer
    lambda p, M, rng: np.full(len(p), 1 / len(p)),
    lambda p, M, rng: rng.multinomial(2 * M, p) / (2 * M),                  # too many samples
    lambda p, M, rng: (rng.multinomial(M, p) + 1) / (M + len(p)),           # add-one smoothing revives categories
    lambda p, M, rng: rng.multinomial(M, np.full(len(p), 1 / len(p))) / M,  # wrong distribution
])
def test_categorical_check_fails_wrong_answers(wrong):
    with pytest.raises(AssertionError):
        ch1.categorical_step(wrong)


@pytest.mark.parametrize("wrong", [lambda p, M: 0.0, lambda p, M: float(((1 - np.asarray(p)) ** M).sum()),
                                   lambda p, M: float((np.asarray(p) ** M).sum()), lambda p, M: float(M)])
def test_expected_lost_check_fails_wrong_answers(wrong):
    with pytest.raises(AssertionError):
        ch1.expected_lost(wrong)


def test_tail_chains_in_blocks_do_not_depend_on_the_threads(monkeypatch):
    """More than CHAIN_BLOCK chains run in blocks with their own streams: the same numbers on 1 or 3 threads."""
    monkeypatch.setattr(tails, "CHAIN_BLOCK", 30)
    runs = []
    for n in ("1", "3"):
        monkeypatch.setenv("COLLAPSE_LAB_WORKERS", n)
        runs.append(tails.tail_chains("student-t", "kde", 20, 5, 100, seed=3, at=[1, 5]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1][0], runs[1][1][0])
    assert runs[0][0].shape == (2, 100) and runs[0][1][0].shape == (100, 20)
    centres = runs[0][1][0]
    assert not np.allclose(np.sort(centres[:30], 1), np.sort(centres[30:60], 1))  # each block its own stream


def test_threads_setting_is_checked(monkeypatch):
    from collapse_lab import runtime
    monkeypatch.setenv("COLLAPSE_LAB_WORKERS", "0")
    with pytest.raises(ValueError, match="COLLAPSE_LAB_WORKERS"):
        runtime.workers()
    monkeypatch.setenv("COLLAPSE_LAB_WORKERS", "4")
    assert runtime.workers() == 4


def test_survival_in_blocks_does_not_depend_on_the_threads(monkeypatch):
    monkeypatch.setattr(tails, "CHAIN_BLOCK", 30)
    p = np.full(50, 1 / 50)
    runs = []
    for n in ("1", "3"):
        monkeypatch.setenv("COLLAPSE_LAB_WORKERS", n)
        runs.append(tails.survival(p, 20, 10, 100, seed=5))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert runs[0].shape == (11, 50) and np.all(runs[0][0] == 1) and np.all(np.diff(runs[0], axis=0) <= 0)


@pytest.mark.parametrize("dist,model", [("student-t", "kde"), ("mixture", "kde"), ("gaussian", "gaussian")])
def test_tail_chains_are_the_public_fit_and_draw_one_generation_after_another(monkeypatch, dist, model):
    # tail_chains fits and draws into arrays it makes once, the centres drawn in row blocks: to the last bit what
    # fit_kde / fit_gaussian and sample_model give one generation at a time, on one thread or two
    chains, M, gens = 300, 40, 4     # more chains than a row block of the draw, fewer than CHAIN_BLOCK
    rng = np.random.default_rng(7)
    lo, hi = tails.tail_bounds(dist)
    x, want = tails.draw(dist, (chains, M), rng), [np.ones(chains)]
    for g in range(1, gens + 1):
        m = tails.FITS[model](x)
        want.append(tails.model_tail_mass(m, lo, hi) / 0.02)
        if g < gens:
            x = tails.sample_model(m, M, rng)
    for n in ("1", "2"):
        monkeypatch.setenv("COLLAPSE_LAB_WORKERS", n)
        frac, final = tails.tail_chains(dist, model, M, gens, chains, seed=np.random.default_rng(7))
        np.testing.assert_array_equal(frac, np.array(want))
        np.testing.assert_array_equal(final[0], m[0])
        np.testing.assert_array_equal(final[1], m[1])


def test_survival_is_one_multinomial_refit_per_generation():
    # survival refits the chains in row groups without the categories dead in every chain of a group: the numbers
    # of one multinomial call over all categories per generation
    p, M, chains, gens = tails.zipf(60, 1.1), 20, 250, 40
    rng, q = np.random.default_rng(4), np.tile(tails.zipf(60, 1.1), (chains, 1))
    want = [np.full(60, chains)]
    for _ in range(gens):
        q = rng.multinomial(M, q) / M
        want.append((q > 0).sum(axis=0))
    assert (want[-1] == 0).sum() >= 10   # many categories died in every chain
    np.testing.assert_array_equal(tails.survival(p, M, gens, chains, seed=np.random.default_rng(4)),
                                  np.array(want) / chains)


def test_lost_once_each_is_one_lost_once_call_per_size(monkeypatch):
    p = tails.zipf(80, 1.1)
    for n in ("1", "2"):
        monkeypatch.setenv("COLLAPSE_LAB_WORKERS", n)
        got = tails.lost_once_each(p, [30, 300, 5], 500, seeds=[2, 3, np.random.default_rng(4)])
        for sim, M, seed in zip(got, [30, 300, 5], [2, 3, np.random.default_rng(4)]):
            np.testing.assert_array_equal(sim, tails.lost_once(p, M, 500, seed=seed))
    with pytest.raises(ValueError, match="sizes and seeds must have the same length"):
        tails.lost_once_each(p, [30, 300], 10, seeds=[1])
    with pytest.raises(ValueError, match="sizes must be a non-empty list"):
        tails.lost_once_each(p, [], 10, seeds=[])
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="same Generator twice"):
        tails.lost_once_each(p, [30, 300], 10, seeds=[rng, rng])


def test_lost_once_is_one_multinomial_call():
    # lost_once draws its trials a block at a time: the numbers of one call over all trials
    p = tails.zipf(80, 1.1)
    counts = np.random.default_rng(6).multinomial(30, p, size=2 * tails._LOST_TRIALS + 7)
    np.testing.assert_array_equal(tails.lost_once(p, 30, 2 * tails._LOST_TRIALS + 7, seed=6), (counts == 0).sum(1))
