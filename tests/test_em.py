"""Batched EM (collapse_lab.em) against scikit-learn's GaussianMixture on the same data and the same start."""
import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from collapse_lab import loop
from collapse_lab import em, gmm


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    # fresh teaching-mixture data and collapsed-looking data (one narrow mode, generations in)
    x = [gmm.sample(gmm.TEACHING, 400, rng) for _ in range(5)]
    narrow = gmm.mixture([0.7, 0.25, 0.05], gmm.TEACHING.means, gmm.TEACHING.covs * [[[1]], [[0.3]], [[0.01]]])
    x += [gmm.sample(narrow, 400, rng) for _ in range(3)]
    return np.stack(x)


def _sklearn(x, k, seed, **kw):
    with gmm.one_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = {"covariance_type": "full", "tol": 1e-5, "max_iter": 2000, "random_state": seed, **kw}
        return GaussianMixture(k, **kw).fit(x)


def _kmeans_resp(x, k, seed):
    with gmm.one_thread():
        return np.eye(k)[KMeans(k, n_init=1, random_state=seed).fit(x).labels_]


@pytest.mark.parametrize("k", [2, 3])
def test_same_start_same_fit_as_sklearn(data, k):
    """sklearn's own k-means start given to both: same iterations, log-likelihood and parameters."""
    resp = np.stack([_kmeans_resp(xc, k, c) for c, xc in enumerate(data)])
    f = em.fit(data, k, init=resp)
    for c, xc in enumerate(data):
        g = _sklearn(xc, k, c)
        assert f.n_iter[c] == g.n_iter_ and f.converged[c] == g.converged_
        assert f.loglik[c] == pytest.approx(g.lower_bound_, abs=1e-10)
        np.testing.assert_allclose(f.weights[c], g.weights_, atol=1e-9)
        np.testing.assert_allclose(f.means[c], g.means_, atol=1e-8)
        np.testing.assert_allclose(f.covs[c], g.covariances_, atol=1e-8)


def test_same_number_of_iterations_when_capped(data):
    resp = np.stack([_kmeans_resp(xc, 3, c) for c, xc in enumerate(data)])
    f = em.fit(data, 3, init=resp, max_iter=2)
    for c, xc in enumerate(data):
        g = _sklearn(xc, 3, c, max_iter=2)
        assert f.n_iter[c] == g.n_iter_ <= 2
        assert f.loglik[c] == pytest.approx(g.lower_bound_, abs=1e-10)
        np.testing.assert_allclose(f.covs[c], g.covariances_, atol=1e-8)


def test_warm_start_as_sklearn(data):
    """gmm.fit's warm start: sklearn's weights_init / means_init / precisions_init."""
    ref = gmm.TEACHING
    cov0 = ref.covs + 1e-6 * np.eye(2)
    f = em.fit(data, 3, init="warm", start=(ref.weights, ref.means, cov0))
    for c, xc in enumerate(data):
        g = _sklearn(xc, 3, 0, weights_init=ref.weights, means_init=ref.means, precisions_init=np.linalg.inv(cov0))
        assert f.n_iter[c] == g.n_iter_
        np.testing.assert_allclose(f.means[c], g.means_, atol=1e-7)
        np.testing.assert_allclose(f.covs[c], g.covariances_, atol=1e-7)


def test_kmeans_start_is_sklearns(data):
    """The same random_state gives sklearn's KMeans labels (its draws, its stopping rule)."""
    labels = em.kmeans_labels(data, 3, list(range(10, 10 + len(data))))
    for c, xc in enumerate(data):
        with gmm.one_thread():
            ref = KMeans(3, n_init=1, random_state=10 + c).fit(xc).labels_
        assert np.array_equal(labels[c], ref)


@pytest.mark.parametrize("k", [2, 3])
def test_whole_fit_is_sklearns(data, k):
    """k-means start and EM together: GaussianMixture(random_state=r) fitted chain by chain, in one batch."""
    states = [7 * c + 1 for c in range(len(data))]
    f = em.fit(data, k, states)
    for c, xc in enumerate(data):
        g = _sklearn(xc, k, states[c])
        assert f.n_iter[c] == g.n_iter_
        assert f.loglik[c] == pytest.approx(g.lower_bound_, abs=1e-10)
        np.testing.assert_allclose(f.means[c], g.means_, atol=1e-8)
        np.testing.assert_allclose(f.covs[c], g.covariances_, atol=1e-8)


@pytest.mark.parametrize("d", [1, 3])
def test_other_dimensions_as_sklearn(d):
    """The general path (Cholesky factors written out over the d x d entries) beside the course's 2-d closed form."""
    rng = np.random.default_rng(d)
    x = np.stack([np.concatenate([rng.normal(size=(150, d)) * s + m for s, m in ((1, 0), (0.3, 4), (2, -3))])
                  for _ in range(3)])
    f = em.fit(x, 3, [5, 6, 7])
    for c, xc in enumerate(x):
        g = _sklearn(xc, 3, 5 + c)
        assert f.n_iter[c] == g.n_iter_
        assert f.loglik[c] == pytest.approx(g.lower_bound_, abs=1e-10)
        np.testing.assert_allclose(f.covs[c], g.covariances_, atol=1e-8)


def test_torch_threads_do_not_change_a_fit(data):
    """exp, log and the batched products go through torch: its thread count must not change a number."""
    import torch

    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = em.fit(data, 3, 0)
        torch.set_num_threads(2)
        two = em.fit(data, 3, 0)
    finally:
        torch.set_num_threads(old)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_a_chain_does_not_depend_on_the_batch(data):
    whole = em.fit(data, 3, list(range(len(data))))
    alone = em.fit(data[3], 3, [3])
    np.testing.assert_allclose(whole.means[3], alone.means[0], atol=1e-12)
    assert whole.chain(3)[0].shape == (3,)
    assert np.array_equal(em.fit(data[:2], 3, 5).means, em.fit(data[:2], 3, [5, 6]).means)


def test_working_arrays_kept_between_fits_change_no_number(data):
    """The large working arrays are kept per thread from one fit to the next: a fit after larger and smaller
    ones, a k-means start and a fit on another thread at the same time gives the same numbers as the first."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(1)
    odd = np.concatenate([data, data[:, :251]], axis=1)  # 651 points: each point's sums padded to whole products
    first = em.fit(odd, 3, 0)
    em.fit(rng.normal(size=(20, 900, 2)), 4, 0)
    em.kmeans_labels(rng.normal(size=(3, 50, 2)), 2, 0)
    em.fit(rng.normal(size=(2, 30, 3)), 2, 0)
    with ThreadPoolExecutor(2) as pool:
        other = pool.submit(em.fit, rng.normal(size=(30, 700, 2)), 3, 0)
        again = em.fit(odd, 3, 0)
        other.result()
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.shares_memory(again.means, em.fit(data, 3, 0).means)


@pytest.mark.parametrize("d", [2, 3])
def test_a_singular_fitted_covariance_is_refused(d):
    """Points on a line and no reg_covar: the warm start is regular, the first M-step's covariances are singular,
    and the step that inverts them (the 2-d closed form, or the Cholesky path) says so."""
    x = np.linspace(-1, 1, 60)[:, None] * np.ones(d)
    start = ([0.5, 0.5], [-0.5 * np.ones(d), 0.5 * np.ones(d)], [np.eye(d), np.eye(d)])
    with pytest.raises(ValueError, match="positive definite"):
        em.fit(x, 2, init="warm", start=start, reg_covar=0.0)
    assert em.fit(x, 2, init="warm", start=start).converged.all()  # reg_covar keeps them regular


def test_bad_input():
    x = np.zeros((2, 10, 2))
    with pytest.raises(ValueError, match="x must"):
        em.fit(np.zeros(5), 2)
    with pytest.raises(ValueError, match="at least k"):
        em.fit(x[:, :2], 3)
    with pytest.raises(ValueError, match="init"):
        em.fit(x, 2, init="spectral")
    with pytest.raises(ValueError, match="shape"):
        em.fit(x, 2, init=np.ones((2, 10, 3)))
    with pytest.raises(ValueError, match="warm"):
        em.fit(x, 2, init="warm")
    with pytest.raises(ValueError, match="random_state"):
        em.fit(x + np.arange(20).reshape(2, 10, 1), 2, [0])
    with pytest.raises(TypeError, match="random_state"):
        em.fit(x + np.arange(20).reshape(2, 10, 1), 2, "zero")


def test_chapter_2_chains_in_lockstep_equal_the_chains_alone():
    """gmm.experiments / first_losses (batched) give what experiment / first_loss give one seed at a time."""
    alone = [gmm.experiment(seed=i, n=100, generations=12, full=False, keep=(), profile="quick") for i in (0, 3)]
    together = gmm.experiments([0, 3], n=100, generations=12, profile="quick")
    for a, b in zip(alone, together):
        assert a.columns == b.columns and a.meta == b.meta
        np.testing.assert_allclose(a["distance"], b["distance"], rtol=1e-9)
        np.testing.assert_allclose(a["mass_2"], b["mass_2"], atol=1e-12)
    warm = gmm.experiments([1], n=100, generations=5, init="warm", full=True, profile="quick")[0]
    ref = gmm.experiment(seed=1, n=100, generations=5, init="warm", keep=(), profile="quick")
    np.testing.assert_allclose(warm["loglik"], ref["loglik"], rtol=1e-9)
    assert gmm.first_losses([0, 5], n=100, generations=30, profile="quick") == [
        gmm.first_loss(s, n=100, generations=30, profile="quick") for s in (0, 5)]


@pytest.mark.parametrize("policy", ["accumulate", ("mix", 0.25), ("anchor", 2)])
def test_lockstep_chains_under_every_data_policy_equal_the_chains_alone(policy):
    pol = loop.policy(policy[0], **({"fraction": policy[1]} if policy[0] == "mix" else {"k": policy[1]})) \
        if isinstance(policy, tuple) else policy
    alone = [gmm.experiment(pol, seed=i, n=100, generations=6, full=False, keep=(), profile="quick") for i in (0, 2)]
    together = gmm.experiments([0, 2], policy=pol, n=100, generations=6, profile="quick")
    for a, b in zip(alone, together):
        assert a.columns == b.columns and a.meta == b.meta
        np.testing.assert_array_equal(a["n_train"], b["n_train"])
        np.testing.assert_allclose(a["distance"], b["distance"], rtol=1e-9)


def test_gmm_fit_is_sklearns():
    x = gmm.sample(gmm.TEACHING, 300, np.random.default_rng(4))
    m = gmm.fit(x, 3, np.random.default_rng(9))
    state = int(np.random.default_rng(9).integers(2**31 - 1))
    g = _sklearn(x, 3, state)
    np.testing.assert_allclose(m.means, g.means_, atol=1e-8)
    np.testing.assert_allclose(m.covs, g.covariances_, atol=1e-8)


@pytest.mark.parametrize("threads", ["1", "3"])
def test_lockstep_numbers_do_not_depend_on_the_threads(monkeypatch, threads):
    """Chains are split into one group per thread; a chain's numbers must not depend on its group."""
    monkeypatch.setenv("COLLAPSE_LAB_WORKERS", "2")
    ref = gmm.experiments([0, 1, 2, 3, 4], n=100, generations=6, profile="quick")
    monkeypatch.setenv("COLLAPSE_LAB_WORKERS", threads)
    got = gmm.experiments([0, 1, 2, 3, 4], n=100, generations=6, profile="quick")
    for a, b in zip(ref, got):
        np.testing.assert_allclose(a["distance"], b["distance"], rtol=1e-12)
        np.testing.assert_allclose(a["mass_2"], b["mass_2"], rtol=1e-12)


def test_mode_masses_equal_mode_mass_per_mixture():
    fits = em.fit(np.stack([gmm.sample(gmm.TEACHING, 200, np.random.default_rng(s)) for s in range(4)]), 3, 0)
    batch = gmm.mode_masses(fits.weights, fits.means, fits.covs)
    for c in range(4):
        np.testing.assert_allclose(batch[c], gmm.mode_mass(gmm.Mixture(*fits.chain(c))), rtol=1e-12)
    with pytest.raises(ValueError, match="shapes"):
        gmm.mode_masses(fits.weights[0], fits.means, fits.covs)
