"""Chapter 3: the VAE family, its metrics, the MNIST path and the checks of the exercises."""
import numpy as np
import pytest
import torch

from collapse_lab import checks, data, loop, vae
from collapse_lab.checks.core import CheckFailed


# --- sizes and data -------------------------------------------------------------------------------------------

def test_sizes_per_profile():
    assert vae.sizes("quick").data == "digits"
    paper = vae.sizes("paper")
    assert (paper.channels, paper.latent, paper.epochs, paper.batch, paper.lr, paper.weight_decay) == \
        ((64, 128), 20, 30, 256, 1e-3, 1e-5)
    std = vae.sizes("standard")
    assert std.data == "mnist" and std.epochs < paper.epochs  # reduced from the paper's budget
    with pytest.raises(ValueError, match="profile"):
        vae.sizes("huge")


def test_digits_split_is_stratified_and_fixed():
    d = vae.dataset("quick")
    assert d.train.shape == (1437, 8, 8) and d.test.shape == (360, 8, 8)
    assert set(np.unique(d.test_labels)) == set(range(10))
    assert d.train.min() >= 0 and d.train.max() <= 1
    assert np.array_equal(np.bincount(d.test_labels), np.bincount(vae.dataset("quick").test_labels))


def test_mnist_reads_the_shared_idx_files():
    images, labels = data.mnist("test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.float32
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
    assert 0.0 <= images.min() and images.max() == 1.0
    assert 0.10 < images.mean() < 0.16  # MNIST's mean grey level is about 0.13
    d = vae.dataset("standard")
    assert d.train.shape == (8000, 28, 28) and d.test.shape == (2000, 28, 28)
    assert np.allclose(np.bincount(d.test_labels) / 2000, np.bincount(labels) / 10000, atol=1e-3)


# --- the model ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("side", [8, 28])
def test_vae_shapes_for_both_sides(side):
    m = vae.VAE(side, (8, 16), 5)
    x = torch.rand(3, side, side)
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (3, 5)
    out = m.decode(mu)
    assert out.shape == (3, side, side) and 0 < out.min() and out.max() < 1


def test_vae_validates():
    with pytest.raises(ValueError, match="divisible by 4"):
        vae.VAE(10)
    with pytest.raises(ValueError, match="channels"):
        vae.VAE(8, (8,))
    with pytest.raises(TypeError, match="latent"):
        vae.VAE(8, (8, 16), 2.5)


def test_loss_is_summed_bce_plus_kl():
    g = torch.Generator().manual_seed(0)
    x, recon = torch.rand(4, 8, 8, generator=g), torch.rand(4, 8, 8, generator=g) * 0.9 + 0.05
    mu, logvar = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    bce = -(x * recon.log() + (1 - x) * (1 - recon).log()).sum()
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum()
    assert float(vae.loss(x, recon, mu, logvar)) == pytest.approx(float(bce + kl), rel=1e-5)
    assert float(vae.loss(x, recon, torch.zeros(4, 3), torch.zeros(4, 3))) == pytest.approx(float(bce), rel=1e-5)
    with pytest.raises(ValueError, match="shape"):
        vae.loss(x, recon[:2], mu, logvar)
    with pytest.raises(TypeError, match="x must be a torch tensor"):
        vae.loss(x.numpy(), recon, mu, logvar)


def test_reparameterise():
    mu, logvar, eps = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, float(np.log(4.0))]]), torch.tensor([[0.5, 1.0]])
    assert torch.allclose(vae.reparameterise(mu, logvar, eps), torch.tensor([[1.5, 0.0]]))
    with pytest.raises(ValueError, match="one shape"):
        vae.reparameterise(mu, logvar, eps[:, :1])
    with pytest.raises(TypeError, match="eps"):
        vae.reparameterise(mu, logvar, [0.5, 1.0])


def test_train_learns_and_is_deterministic():
    x = vae.dataset("quick").train[:256]
    a = vae.train(x, channels=(8, 16), latent=4, epochs=3, batch=64, seed=1)
    b = vae.train(x, channels=(8, 16), latent=4, epochs=3, batch=64, seed=1)
    assert a.losses[-1] < a.losses[0]
    assert a.losses == b.losses
    s1, s2 = vae.sample(a, 5, np.random.default_rng(0)), vae.sample(b, 5, np.random.default_rng(0))
    assert s1.shape == (5, 8, 8) and np.array_equal(s1, s2)
    bern = vae.sample(a, 5, np.random.default_rng(0), bernoulli=True)
    assert set(np.unique(bern)) <= {0.0, 1.0}


def test_train_and_sample_validate():
    x = vae.dataset("quick").train[:16]
    with pytest.raises(ValueError, match="images"):
        vae.train(x[:, :6, :6])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vae.train(x * 16)
    with pytest.raises(ValueError, match="epochs"):
        vae.train(x, epochs=0)
    with pytest.raises(ValueError, match="lr"):
        vae.train(x, lr=0)
    with pytest.raises(TypeError, match="model"):
        vae.sample("not a model", 3, 0)
    with pytest.raises(ValueError, match="n must"):
        vae.sample(vae.VAE(8, (4, 4), 2), 0, 0)
    with pytest.raises(ValueError, match="overrides"):
        vae.family(profile="quick", epoch=3)
    with pytest.raises(TypeError, match="bernoulli"):
        vae.family(profile="quick", bernoulli="yes")


# --- metrics --------------------------------------------------------------------------------------------------

def test_spread_and_class_entropy():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(4000, 3)) * [0.5, 1.0, 0.0]
    assert vae.spread(mu) == pytest.approx(0.5, abs=0.02)
    assert vae.class_entropy(np.arange(10).repeat(3)) == pytest.approx(np.log2(10))
    assert vae.class_entropy(np.full(9, 4)) == 0.0
    assert vae.class_entropy(np.array([0, 1]), n_classes=2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="mu"):
        vae.spread(np.zeros(5))
    with pytest.raises(ValueError, match="labels"):
        vae.class_entropy(np.array([0, 12]))
    with pytest.raises(ValueError, match="n_classes"):
        vae.class_entropy(np.array([0, 1]), n_classes=1)


def test_pooled_spread_counts_the_dimensions_averages_too():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(4000, 2)) * 0.5 + [-1.0, 1.0]  # each dimension: std 0.5; the averages 2 apart
    assert vae.spread(mu) == pytest.approx(0.5, abs=0.02)
    assert vae.pooled_spread(mu) == pytest.approx(np.sqrt(0.25 + 1.0), abs=0.02)
    assert vae.pooled_spread(mu - mu.mean(0)) == pytest.approx(vae.spread(mu), abs=0.01)
    with pytest.raises(ValueError, match="mu"):
        vae.pooled_spread(np.zeros(5))
    assert vae.PAPER_SPREAD_GENERATIONS == (1, 2, 3, 4, 5) and len(vae.PAPER_SPREAD) == 5


def test_class_shares_and_reconstruct():
    assert np.allclose(vae.class_shares(np.array([0, 0, 1, 9])), [0.5, 0.25] + [0] * 7 + [0.25])
    for bad in (np.array([0, 10]), np.array([]), np.array([0.5])):
        with pytest.raises(ValueError, match="labels"):
            vae.class_shares(bad)
    d = vae.dataset("quick")
    m = vae.VAE(d.side, (4, 8), 3)
    r = vae.reconstruct(m, d.test[:5])
    assert r.shape == (5, d.side, d.side) and r.min() >= 0 and r.max() <= 1
    with pytest.raises(TypeError, match="model"):
        vae.reconstruct("not a model", d.test[:5])


def test_classifier_is_accurate_on_held_out_digits():
    clf = vae.classifier("quick")
    d = vae.dataset("quick")
    assert clf.accuracy > 0.93
    assert clf.features(d.test[:7]).shape == (7, vae.sizes("quick").clf_hidden)
    with pytest.raises(ValueError, match="28x28"):
        clf.predict(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(TypeError, match="clf"):
        vae.Judge("clf", d.test, 10)


def test_experiment_validates_and_takes_policies():
    with pytest.raises(ValueError, match="policy"):
        vae.experiment("forget", profile="quick", generations=0)
    with pytest.raises(ValueError, match="generations"):
        vae.experiment(profile="quick", generations=-1)
    h = vae.experiment(loop.policy("mix", fraction=0.5), profile="quick", generations=1)
    assert h.meta["policy"] == "mix 50%" and "distance" in h.columns and np.all(np.isfinite(h["distance"]))


# --- the checks of the exercises: pass with the reference, fail with wrong answers ------------------------------

def test_checks_pass_with_reference(capsys):
    checks.ch3.vae_loss(vae.loss)
    checks.ch3.reparameterise(vae.reparameterise)
    checks.ch3.latent_spread(vae.spread)
    checks.ch3.class_entropy(lambda labels, k: vae.class_entropy(labels, k))
    assert capsys.readouterr().out.count("\u2713") == 4


def _unwritten(*args):
    raise NotImplementedError()


@pytest.mark.parametrize("check,wrong,hint", [
    ("vae_loss", lambda x, r, mu, lv: torch.nn.functional.binary_cross_entropy(r, x, reduction="sum"), "KL"),
    ("vae_loss", lambda x, r, mu, lv: vae.loss(x, r, mu, lv) / len(x), "mean"),
    ("vae_loss", lambda x, r, mu, lv: torch.tensor(100.0), "vae_loss"),
    ("reparameterise", lambda mu, lv, eps: mu + torch.exp(lv) * eps, "variance"),
    ("reparameterise", lambda mu, lv, eps: (mu + torch.exp(0.5 * lv) * eps).detach(), "gradients"),
    ("latent_spread", lambda mu: mu.std(axis=0, ddof=1).mean(), "ddof"),
    ("latent_spread", lambda mu: mu.std(axis=1).mean(), "axis 0"),
    ("latent_spread", lambda mu: 0.5, "latent_spread"),
    ("class_entropy", lambda labels, k: vae.class_entropy(labels, k) * np.log(2), "nats"),
    ("class_entropy", lambda labels, k: np.log2(10), "class_entropy"),
    ("class_entropy", _unwritten, "not written yet"),
])
def test_checks_fail_on_wrong_answers(check, wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        getattr(checks.ch3, check)(wrong)
