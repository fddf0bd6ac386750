"""Chapter 3: a variational autoencoder on handwritten digits, trained generation after generation on its own samples.

The paper's experiment (Shumailov et al., Nature 2024): every generation is trained from scratch on images decoded
from ``z ~ N(0, I)`` by the previous generation; no real data is kept. The settings come from the paper's released
code, not its text: a convolutional VAE (encoder 64 and 128 channels, kernel 4, stride 2, latent 20; a mirrored
decoder with a sigmoid output), loss = summed binary cross-entropy + KL, Adam (lr 1e-3, weight decay 1e-5), batch
256, 30 epochs per generation; so do the latent-spread numbers in :data:`PAPER_SPREAD` (generations 1 to 5) and two
choices the code makes: padding 1 in the convolutions and decoded means as samples.

Decisions where the paper's text is silent (the lecture notebook explains them too):

- **One architecture for 8x8 and 28x28.** Both convolutions use padding 1, so each halves the side exactly
  (8 -> 4 -> 2, 28 -> 14 -> 7) and the transposed convolutions double it back (2 -> 4 -> 8, 7 -> 14 -> 28). Any side
  divisible by 4 works; without padding 28 would go to 13 -> 5 and 8 to 3 -> 0. The quick profile (8x8 digits)
  uses narrower layers (see ``SIZES``); standard uses MNIST with a reduced budget; ``paper`` keeps the released
  code's architecture and training settings but trains on 8,000 images of the MNIST test split, not on the paper's
  data set (MNIST's 60,000-image training split is not shipped with the course).
- **A sample is the decoded mean** (the sigmoid output, grey levels in [0, 1]), not a Bernoulli draw from it. The
  VAE's randomness lives in ``z``; the Bernoulli likelihood is the usual device for grey-level images (BCE against
  targets in [0, 1]), and sampling pixels from it would add salt-and-pepper noise that real digits do not have.
  Decoded means are what VAE sample figures usually show. ``family(bernoulli=True)`` gives the other choice.
- **Latent spread**: encode a generation's samples with the *generation-0* encoder (a fixed ruler) and take the
  population standard deviation of the latent means over the images, averaged over the latent dimensions
  (:func:`spread`); the released code's statistic is the standard deviation of all latent means pooled together
  (:func:`pooled_spread`), which also counts how far the dimensions' averages lie apart. Both are recorded.
- **Diversity and fidelity** are judged by one small CNN classifier trained once on real training images: the class
  histogram of its predictions (entropy in bits; log2 10 = 3.32 bits is a uniform spread over ten digits) and the
  Frechet distance between the classifier's hidden features of real held-out images and of generated images.
- **Data**: quick uses scikit-learn's 1,797 8x8 digits (always offline); standard and paper use the 10,000 MNIST
  test images (``data.mnist('test')``). Either set is split once, stratified by label with a fixed seed, into 80%
  training images (generation 0 of the VAE and the classifier learn from these) and 20% held-out images (the
  classifier's accuracy and the Frechet reference use these; no model ever trains on them).
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from . import data as _data
from . import loop, metrics, profiles, runtime
from . import validate
from .validate import integer as _int, seed as _seed

SIZES = {
    # 8x8 digits: half the released code's channels, batches of 64 (1,437 images make only 6 batches of 256), 20
    # epochs at lr 3e-3 (in our runs about as good a generation 0 as 60 epochs at 1e-3, in a third of the time), one torch
    # thread (tiny convolutions: threads cost more than they save). 4 generations after generation 0 = five rows,
    # as many as the five spreads of the released code.
    "quick": {"data": "digits", "channels": (32, 64), "latent": 20, "epochs": 20, "batch": 64, "lr": 3e-3,
              "weight_decay": 1e-5, "generations": 4, "n_eval": 1000, "clf_epochs": 20, "clf_hidden": 64,
              "threads": 1},
    # MNIST, reduced from the paper so one run takes a few minutes on 2 CPU cores: half the channels, 8 epochs
    # instead of 30, in batches of 64 (more steps for the same compute: in our runs generation 0 reached 113 nats
    # per image after 6 epochs of batch 64, 125 after 10 epochs of batch 256); one thread (on a busy 2-core
    # machine we measured 3,000 images/s with one thread, 800 with two)
    "standard": {"data": "mnist", "channels": (32, 64), "latent": 20, "epochs": 8, "batch": 64, "lr": 1e-3,
                 "weight_decay": 1e-5, "generations": 4, "n_eval": 2000, "clf_epochs": 4, "clf_hidden": 128,
                 "threads": 1},
    # the released code's architecture and training settings (threads None: torch's default); the data are still
    # 8,000 images of the MNIST test split, so this is not the paper's data set
    "paper": {"data": "mnist", "channels": (64, 128), "latent": 20, "epochs": 30, "batch": 256, "lr": 1e-3,
              "weight_decay": 1e-5, "generations": 4, "n_eval": 2000, "clf_epochs": 4, "clf_hidden": 128,
              "threads": None},
}

#: the released code's latent spread (pooled std of the generation-0 encoder's means) of the samples of generations 1
#: to 5, the five VAEs trained on synthetic data; the real-data VAE (generation 0) is the ruler, not measured there
PAPER_SPREAD = (0.674, 0.608, 0.527, 0.468, 0.433)
PAPER_SPREAD_GENERATIONS = (1, 2, 3, 4, 5)
HELD_OUT = 0.2  # share of the images never trained on
N_CLASSES = 10


def sizes(profile: str | None = None) -> SimpleNamespace:
    """Every size of this chapter for ``profile`` (default: the active profile), as attributes."""
    return profiles.pick(SIZES, profile)


# ---------------------------------------------------------------------------------------------------------------
# input checks


def _images(x, name="images"):
    """``x`` as a float32 numpy array (n, side, side) with values in [0, 1]."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or torch tensor of shape (n, side, side); got {type(x).__name__}")
    if x.ndim != 3 or x.shape[1] != x.shape[2] or len(x) == 0:
        raise ValueError(f"{name} must have shape (n, side, side) with n >= 1; got {x.shape}")
    if x.shape[1] % 4:
        raise ValueError(f"{name}: the side must be divisible by 4 (two stride-2 layers); got {x.shape[1]}")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise ValueError(f"{name} must hold grey levels in [0, 1]; got range [{x.min()}, {x.max()}]")
    return x


def _model(model, name="model"):
    if not isinstance(model, VAE):
        raise TypeError(f"{name} must be a vae.VAE (what vae.train or family().fit returns); got {type(model).__name__}")
    return model


# ---------------------------------------------------------------------------------------------------------------
# the model


def reparameterise(mu, logvar, eps):
    """``z = mu + sigma * eps`` with ``sigma = exp(logvar / 2)``: a sample of N(mu, sigma^2) that gradients flow through.

    ``mu``, ``logvar``, ``eps``: torch tensors of one shape (batch, latent); ``eps`` ~ N(0, I) drawn by the caller.
    """
    for n, t in (("mu", mu), ("logvar", logvar), ("eps", eps)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{n} must be a torch tensor; got {type(t).__name__}")
    if not (mu.shape == logvar.shape == eps.shape):
        raise ValueError(f"mu, logvar and eps must have one shape; got {tuple(mu.shape)}, {tuple(logvar.shape)}, "
                         f"{tuple(eps.shape)}")
    return mu + torch.exp(0.5 * logvar) * eps


def loss(x, recon, mu, logvar):
    """The VAE loss of a batch, summed over images (as in the paper's released code): binary cross-entropy +
    KL(N(mu, sigma^2) || N(0, I)).

    ``x``, ``recon``: tensors (batch, side, side), targets and decoded means in [0, 1]; ``mu``, ``logvar``:
    (batch, latent). Returns a scalar tensor in nats (divide by the batch size for a per-image value).
    """
    for n, t in (("x", x), ("recon", recon), ("mu", mu), ("logvar", logvar)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{n} must be a torch tensor; got {type(t).__name__}")
    if x.shape != recon.shape or mu.shape != logvar.shape or len(x) != len(mu):
        raise ValueError(f"x and recon must share a shape and mu, logvar another with the same batch; got "
                         f"{tuple(x.shape)}, {tuple(recon.shape)}, {tuple(mu.shape)}, {tuple(logvar.shape)}")
    bce = nn.functional.binary_cross_entropy(recon, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp())
    return bce + kl


def _channels(channels):
    if (not isinstance(channels, (tuple, list)) or len(channels) != 2
            or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 1 <= c <= 4096
                       for c in channels)):
        raise ValueError(f"channels must be two ints in [1, 4096], e.g. (64, 128); got {channels!r:.60}")
    return int(channels[0]), int(channels[1])


class VAE(nn.Module):
    """Convolutional VAE for square grey images whose side is divisible by 4 (8x8 digits, 28x28 MNIST).

    encoder: conv(1 -> c1, k4 s2 p1) ReLU conv(c1 -> c2, k4 s2 p1) ReLU -> linear -> (mu, logvar), ``latent`` each
    decoder: linear -> (c2, side/4, side/4) ReLU convT(c2 -> c1) ReLU convT(c1 -> 1) sigmoid: the encoder mirrored
    """

    def __init__(self, side: int = 28, channels=(64, 128), latent: int = 20):
        super().__init__()
        side = _int("side", side, 4)
        if side % 4:
            raise ValueError(f"side must be divisible by 4 (two stride-2 layers); got {side}")
        c1, c2 = _channels(channels)
        latent = _int("latent", latent, 1)
        s = side // 4
        self.side, self.channels, self.latent = side, (c1, c2), latent
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 4, 2, 1), nn.ReLU(),                 # side -> side/2
            nn.Conv2d(c1, c2, 4, 2, 1), nn.ReLU(),                # side/2 -> side/4
            nn.Flatten(), nn.Linear(c2 * s * s, 2 * latent))      # -> (mu, logvar)
        self.decoder = nn.Sequential(
            nn.Linear(latent, c2 * s * s), nn.ReLU(), nn.Unflatten(1, (c2, s, s)),
            nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.ReLU(),       # side/4 -> side/2
            nn.ConvTranspose2d(c1, 1, 4, 2, 1), nn.Sigmoid())     # side/2 -> side, grey levels in (0, 1)
        self.losses: list[float] = []  # mean loss per image, one value per training epoch

    def _tensor(self, name, t, tail, what):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.ndim != len(tail) + 1 \
                or tuple(t.shape[1:]) != tail:
            got = f"shape {tuple(t.shape)} {t.dtype}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise validate.ArgumentError(f"{name} must be a float torch tensor (batch, "
                                         f"{', '.join(map(str, tail))}) of {what}; got {got}")

    def encode(self, x):
        """(batch, side, side) -> mu, logvar, each (batch, latent)."""
        self._tensor("x", x, (self.side, self.side), "images")
        return self._encode(x)

    def decode(self, z):
        """(batch, latent) -> decoded means (batch, side, side) in (0, 1)."""
        self._tensor("z", z, (self.latent,), "latent codes")
        return self._decode(z)

    def forward(self, x):
        """(batch, side, side) -> (decoded means of a reparameterised z, mu, logvar)."""
        self._tensor("x", x, (self.side, self.side), "images")
        mu, logvar = self._encode(x)
        return self._decode(reparameterise(mu, logvar, torch.randn_like(mu))), mu, logvar

    # the unchecked versions, for the training loop and the batched helpers (their input is checked once)
    def _encode(self, x):
        return self.encoder(x.unsqueeze(1)).chunk(2, dim=1)

    def _decode(self, z):
        return self.decoder(z).squeeze(1)


def _n_threads(name, n):
    return None if n is None else _int(name, n, 1, 1024)


def threads(n: int | None):
    """Run a block with ``n`` torch threads (an int in [1, 1024]; None: leave torch's setting), restoring the old
    number afterwards. ``n`` is checked at the call, before the block."""
    return _threads(_n_threads("n", n))


@contextlib.contextmanager
def _threads(n):
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _rates(lr, weight_decay):
    """Adam's step size in (0, 1] and weight decay in [0, 1]: larger ones only make the training diverge."""
    return (validate.number("lr", lr, 0, 1, lo_open=True), validate.number("weight_decay", weight_decay, 0, 1))


def train(images, *, channels=(64, 128), latent: int = 20, epochs: int = 30, batch: int = 256, lr: float = 1e-3,
          weight_decay: float = 1e-5, seed: int = 0, device: str | None = None, n_threads: int | None = None):
    """A fresh VAE trained on ``images`` (n, side, side) in [0, 1] with Adam; returns the model in eval mode (on CPU).

    ``epochs`` full passes in shuffled batches of ``batch`` images; ``seed`` fixes the initial weights, the batch
    order and the reparameterisation noise. ``model.losses`` holds the mean loss per image of every epoch (nats).
    ``lr``: Adam's step size in (0, 1]; ``weight_decay`` in [0, 1]. ``device``: 'cpu', 'cuda', 'cuda:N', 'mps' or
    None (the best available). ``n_threads``: torch threads while training (an int in [1, 1024]; None: torch's
    default).
    """
    x = torch.from_numpy(_images(images).copy())
    epochs, batch, seed = _int("epochs", epochs, 1), _int("batch", batch, 1), _seed("seed", seed)
    lr, weight_decay = _rates(lr, weight_decay)
    n_threads = _n_threads("n_threads", n_threads)
    dev = runtime.device(runtime.check_device("device", device))
    runtime.seed_all(seed)
    with _threads(n_threads):
        model = VAE(x.shape[1], channels, latent).to(dev)
        _fit(model, x, epochs, batch, lr, weight_decay, dev)
    return model.cpu().eval()


def _fit(model, x, epochs, batch, lr, weight_decay, dev):
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    for _ in runtime.progress(range(epochs), desc="VAE epochs"):
        perm, total = torch.randperm(len(x)), 0.0
        for i in range(0, len(x), batch):
            xb = x[perm[i:i + batch]].to(dev)
            mu, logvar = model._encode(xb)
            z = reparameterise(mu, logvar, torch.randn_like(mu))
            step = loss(xb, model._decode(z), mu, logvar)
            opt.zero_grad()
            step.backward()
            opt.step()
            total += step.item()
        model.losses.append(total / len(x))


def sample(model, n: int, rng, bernoulli: bool = False) -> np.ndarray:
    """``n`` images (n, side, side) float32: decoded means of ``z ~ N(0, I)``, or Bernoulli pixels if ``bernoulli``.

    ``rng``: a numpy Generator or int seed; it draws ``z`` (and the pixels), so the same rng state gives the same images.
    """
    model, n, rng = _model(model), _int("n", n, 1), runtime.as_rng(rng)
    if not isinstance(bernoulli, bool):
        raise TypeError(f"bernoulli must be True or False; got {bernoulli!r:.60}")
    z = torch.from_numpy(rng.standard_normal((n, model.latent)).astype(np.float32))
    with torch.inference_mode():
        x = torch.cat([model._decode(zb) for zb in z.split(1024)]).numpy()
    if bernoulli:
        x = (rng.random(x.shape) < x).astype(np.float32)
    return x


def encode_means(model, images) -> np.ndarray:
    """The latent means ``mu`` (n, latent) that ``model``'s encoder gives ``images`` (n, side, side)."""
    return _encode_means(model, images, "model")


def _encode_means(model, images, name):
    model, x = _model(model, name), torch.from_numpy(_images(images).copy())
    if x.shape[1] != model.side:
        raise ValueError(f"images are {x.shape[1]}x{x.shape[1]} but the {name} takes {model.side}x{model.side}")
    with torch.inference_mode():
        return torch.cat([model._encode(xb)[0] for xb in x.split(1024)]).numpy()


def spread(mu) -> float:
    """The spread of latent means ``mu`` (n, latent): population std over the n images, averaged over dimensions."""
    mu = validate.array("mu", mu)
    if mu.ndim != 2 or len(mu) < 2:
        raise ValueError(f"mu must be a finite array (n, latent) with n >= 2; got shape {mu.shape}")
    return float(mu.std(axis=0).mean())


def pooled_spread(mu) -> float:
    """The released code's spread of latent means ``mu`` (n, latent): one standard deviation of all n * latent values
    pooled together. It is at least :func:`spread`'s between-image part and also counts how far apart the
    dimensions' averages lie."""
    mu = validate.array("mu", mu)
    if mu.ndim != 2 or len(mu) < 2:
        raise ValueError(f"mu must be a finite array (n, latent) with n >= 2; got shape {mu.shape}")
    return float(mu.std())


def latent_spread(encoder, images) -> float:
    """:func:`spread` of the latent means that ``encoder`` (a VAE; the paper uses generation 0's) gives ``images``."""
    return spread(_encode_means(encoder, images, "encoder"))


def reconstruct(model, images) -> np.ndarray:
    """Decoded means (n, side, side) of the encoder's means for ``images``: what ``model`` makes of real digits,
    without drawing ``z`` from the prior."""
    mu = torch.from_numpy(_encode_means(model, images, "model"))
    with torch.inference_mode():
        return torch.cat([model._decode(zb) for zb in mu.split(1024)]).numpy()


def class_shares(labels, n_classes: int = N_CLASSES) -> np.ndarray:
    """Share of each class (n_classes,) among integer ``labels`` (1-D) in [0, n_classes)."""
    n_classes = _int("n_classes", n_classes, 2)
    labels = np.asarray(labels)
    if labels.ndim != 1 or not len(labels) or not np.issubdtype(labels.dtype, np.integer) \
            or labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must be a non-empty 1-D integer array in [0, {n_classes}); got {labels!r:.60}")
    return np.bincount(labels, minlength=n_classes) / len(labels)


def class_entropy(labels, n_classes: int = N_CLASSES) -> float:
    """Entropy in bits of the class histogram of integer ``labels`` (1-D) in [0, n_classes); log2(10) = 3.32 is uniform."""
    return abs(metrics.label_entropy(np.asarray(labels), _int("n_classes", n_classes, 2), base=2))  # no -0.0


def family(*, profile: str | None = None, bernoulli: bool = False, device: str | None = None, **overrides) -> loop.Family:
    """The VAE as a :class:`loop.Family`: ``fit`` trains a fresh VAE, ``sample`` decodes ``z ~ N(0, I)``.

    Sizes come from ``sizes(profile)``; ``overrides`` replace any of channels, latent, epochs, batch, lr,
    weight_decay (e.g. ``family(epochs=5)``). Each fit draws its torch seed from the loop's rng, so a run is
    reproducible from the loop's seed.
    """
    s = sizes(profile)
    allowed = ("channels", "latent", "epochs", "batch", "lr", "weight_decay")
    bad = sorted(set(overrides) - set(allowed))
    if bad:
        raise ValueError(f"family() overrides must be among {allowed}; got {bad}")
    if not isinstance(bernoulli, bool):
        raise TypeError(f"bernoulli must be True or False; got {bernoulli!r}")
    kw = {k: overrides.get(k, getattr(s, k)) for k in allowed}
    # checked here, not at the first fit deep inside loop.run
    runtime.check_device("device", device)
    _rates(kw["lr"], kw["weight_decay"])
    for k, lo in (("latent", 1), ("epochs", 1), ("batch", 1)):
        _int(k, kw[k], lo)
    _channels(kw["channels"])

    def fit(images, rng):
        return train(images, **kw, seed=int(runtime.as_rng(rng).integers(2**31)), device=device, n_threads=s.threads)

    def draw(model, n, rng):
        return sample(model, n, rng, bernoulli=bernoulli)

    return loop.Family(fit=fit, sample=draw, name="vae")


# ---------------------------------------------------------------------------------------------------------------
# data and the judge of every generation


@functools.lru_cache(maxsize=4)
def _load(name: str):
    from sklearn.model_selection import train_test_split

    images, labels = _data.digits() if name == "digits" else _data.mnist("test")
    # stratified, fixed seed: the same split in every run, every profile, every chapter
    tr, te = train_test_split(np.arange(len(labels)), test_size=HELD_OUT, stratify=labels, random_state=0)
    tr, te = np.sort(tr), np.sort(te)
    return SimpleNamespace(name=name, train=images[tr], train_labels=labels[tr], test=images[te],
                           test_labels=labels[te], side=images.shape[1])


def dataset(profile: str | None = None) -> SimpleNamespace:
    """The chapter's images for ``profile``: ``train``/``test`` (n, side, side) in [0, 1], ``train_labels``/``test_labels``.

    quick: scikit-learn's digits (1,437 train / 360 held-out, 8x8); standard and paper: the MNIST test split found by
    ``data.mnist('test')`` (8,000 train / 2,000 held-out, 28x28). ``test`` is the held-out part.
    """
    return _load(sizes(profile).data)


def _classifier_net(side, hidden):
    s = side // 4
    return nn.Sequential(
        nn.Unflatten(1, (1, side)), nn.Conv2d(1, 16, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(32 * s * s, hidden), nn.ReLU(),  # the feature space of the Frechet distance
        nn.Linear(hidden, N_CLASSES))


@dataclass
class Classifier:
    """A small CNN trained once on real training images; ``accuracy`` is its held-out accuracy (a fraction)."""

    net: object
    side: int
    accuracy: float

    def _input(self, images, name):
        """``images`` validated as a float tensor (n, side, side) of this classifier's size."""
        x = torch.from_numpy(_images(images, name).copy())
        if x.shape[1] != self.side:
            raise ValueError(f"images are {x.shape[1]}x{x.shape[1]} but the classifier takes {self.side}x{self.side}")
        return x

    def _run(self, images, upto, name="images"):
        x = self._input(images, name)
        with torch.inference_mode():
            return torch.cat([self.net[:upto](xb) for xb in x.split(1024)]).numpy()

    def _features_and_labels(self, images, name="images"):
        """``(features(images), predict(images))`` from one pass of the network: the last layer runs on the
        features of each batch, the very computation ``predict`` makes, so the labels are the same."""
        x = self._input(images, name)
        feats, logits = [], []
        with torch.inference_mode():
            for xb in x.split(1024):
                feats.append(self.net[:-1](xb))
                logits.append(self.net[-1:](feats[-1]))
        return torch.cat(feats).numpy(), torch.cat(logits).numpy().argmax(1).astype(np.int64)

    def predict(self, images) -> np.ndarray:
        """Predicted digit (n,) int64 of ``images`` (n, side, side)."""
        return self._run(images, len(self.net)).argmax(1).astype(np.int64)

    def features(self, images) -> np.ndarray:
        """Hidden features (n, hidden) of ``images``: the space the Frechet distance is measured in."""
        return self._run(images, len(self.net) - 1)


@functools.lru_cache(maxsize=4)
def _classifier(name: str, epochs: int, hidden: int, n_threads: int | None) -> Classifier:
    with threads(n_threads):
        return _train_classifier(_load(name), epochs, hidden)


def _train_classifier(d, epochs, hidden):
    runtime.seed_all(0)
    net = _classifier_net(d.side, hidden)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = torch.from_numpy(d.train), torch.from_numpy(d.train_labels)
    net.train()
    for _ in runtime.progress(range(epochs), desc="classifier epochs"):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            step = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            step.backward()
            opt.step()
    net.eval()
    clf = Classifier(net, d.side, 0.0)
    clf.accuracy = float(np.mean(clf.predict(d.test) == d.test_labels))
    return clf


def classifier(profile: str | None = None) -> Classifier:
    """The digit classifier of ``profile``'s data, trained once (seed 0) on the training part and cached."""
    s = sizes(profile)
    return _classifier(s.data, s.clf_epochs, s.clf_hidden, s.threads)


class Judge:
    """Scores one generation's model: draws ``n`` samples and measures them.

    ``judge(model)`` -> dict ``distance`` (Frechet distance to the held-out real images in the classifier's feature
    space), ``spread`` and ``pooled_spread`` (latent spread under the reference encoder, the first model judged,
    i.e. generation 0: :func:`spread` and the released code's :func:`pooled_spread`), ``entropy`` (bits, of the
    predicted classes) and ``share`` (dict digit -> fraction of samples).
    """

    def __init__(self, clf: Classifier, real, n: int, seed: int = 0):
        if not isinstance(clf, Classifier):
            raise TypeError(f"clf must be a vae.Classifier (from vae.classifier()); got {type(clf).__name__}")
        self.clf, self.n = clf, _int("n", n, 2)
        # the real images' predicted labels come with their features (experiment() reports their class entropy)
        self.real_features, self.real_labels = clf._features_and_labels(real, "real")
        self.rng = np.random.default_rng([_seed("seed", seed), 3])  # own stream: judging never shifts the run's rng
        self.encoder = None
        self._last = (None, None)

    def __call__(self, model) -> dict:
        if self._last[0] is model:
            return self._last[1]
        if self.encoder is None:
            self.encoder = model
        x = sample(model, self.n, self.rng)
        feats, labels = self.clf._features_and_labels(x)
        counts = np.bincount(labels, minlength=N_CLASSES)
        mu = _encode_means(self.encoder, x, "encoder")
        out = {"distance": metrics.frechet_from_features(self.real_features, feats),
               "spread": spread(mu), "pooled_spread": pooled_spread(mu),
               "entropy": class_entropy(labels),
               "share": {str(k): float(c / self.n) for k, c in enumerate(counts)}}
        self._last = (model, out)
        return out

    def metrics(self) -> dict:
        """The judge as ``loop.run`` metrics: columns distance, spread, entropy, share_0 ... share_9."""
        return {k: (lambda m, train, k=k: self(m)[k])
                for k in ("distance", "spread", "pooled_spread", "entropy", "share")}


def experiment(policy="replace", *, generations: int | None = None, seed: int = 0,
               profile: str | None = None, shared: dict | None = None) -> loop.History:
    """The chapter's chain: a VAE per generation, each trained from scratch on the data ``policy`` builds.

    ``policy``: 'replace' (the paper: only the previous generation's decoded samples), 'accumulate', 'mix', 'anchor'
    or a ``loop.policy(...)`` object. ``generations``: default the profile's. Returns the :class:`loop.History` with
    columns ``generation, n_train, distance, spread, pooled_spread, entropy, share_0..share_9, seconds``; every
    model is kept in ``history.models``; ``history.meta`` adds the data set, the classifier's held-out ``accuracy``,
    ``floor`` (the Frechet distance of the real training images to the held-out ones: sampling noise, the best a
    model can do), ``real_entropy`` and ``real_share`` (class entropy in bits and class shares (10,) of the
    classifier's labels on the real held-out images) and ``recon_share`` (the class shares of generation 0's
    reconstructions of those images, :func:`reconstruct`: what the first fit makes of real digits without the prior).

    ``shared``: a dict kept across calls that differ only in ``policy`` or ``generations`` (the policy table
    passes one): generation 0 is trained on the real images alone, the same under every policy, so the first call
    stores it there and the others reuse it (``loop.run(gen0=...)``), with the same numbers. Keyed by the seed, the
    sizes, the device and the training code, so other settings never share it; the histories share that model.
    """
    s = sizes(profile)
    generations = s.generations if generations is None else _int("generations", generations, 0)
    seed = _seed("seed", seed)
    pol = loop.policy(policy)  # validates the name before any training
    if shared is not None and not isinstance(shared, dict):
        raise TypeError(f"shared must be a dict (kept across calls that differ only in policy) or None; got "
                        f"{type(shared).__name__}")
    # everything that shapes generation 0's model: the data are named by the sizes, the code is the trainer
    key = ("vae", seed, repr(sorted(vars(s).items())), runtime.device(), train)
    gen0 = None if shared is None else shared.setdefault(key, {})
    d, clf = dataset(s.profile), classifier(s.profile)
    with threads(s.threads):
        judge = Judge(clf, d.test, s.n_eval, seed)
        h = loop.run(family(profile=s.profile), d.train, generations, policy=pol, metrics=judge.metrics(), seed=seed,
                     keep=range(generations + 1), gen0=gen0, desc=f"VAE · {pol!r}")
        floor = metrics.frechet_from_features(judge.real_features, clf.features(d.train))
        real_entropy = class_entropy(judge.real_labels)  # judge's real images are d.test
        recon_share = class_shares(clf.predict(reconstruct(h.models[0], d.test)))
    h.meta.update(data=d.name, accuracy=clf.accuracy, profile=s.profile, seed=seed, floor=floor,
                  real_entropy=real_entropy, real_share=class_shares(judge.real_labels), recon_share=recon_share)
    return h


# ---------------------------------------------------------------------------------------------------------------
# figures


def _history(h):
    if not isinstance(h, loop.History) or "spread" not in h.columns or not h.models:
        raise TypeError("history must be the loop.History that vae.experiment() returns (with its models)")
    return h


def plot_samples(history, n: int = 10, seed: int = 0):
    """A grid of ``n`` samples per kept generation (rows = generations), the same ``z`` for every row."""
    import matplotlib.pyplot as plt

    h, n, seed = _history(history), _int("n", n, 1), _seed("seed", seed)
    gens = sorted(h.models)
    fig, axes = plt.subplots(len(gens), 1, figsize=(n * 0.6, len(gens) * 0.7), squeeze=False)
    for ax, g in zip(axes[:, 0], gens):
        x = sample(h.models[g], n, np.random.default_rng(seed))
        ax.imshow(np.concatenate(list(x), axis=1), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        ax.set_ylabel(f"gen {g}", rotation=0, ha="right", va="center")
    axes[0, 0].set_title("decoded samples per generation (same z in every row)")
    return fig


def plot_curves(history, paper: bool = True):
    """Three panels over generations: latent spread (with the released code's numbers), class entropy, Frechet
    distance."""
    import matplotlib.pyplot as plt

    h = _history(history)
    if not isinstance(paper, bool):
        raise TypeError(f"paper must be True or False (draw the released code's spread); got {paper!r:.60}")
    g = h["generation"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    axes[0].plot(g, h["spread"], "o-", label="ours, per-dimension std averaged")
    if "pooled_spread" in h.columns:
        axes[0].plot(g, h["pooled_spread"], "^-.", label="ours, pooled std")
    if paper:
        axes[0].plot(PAPER_SPREAD_GENERATIONS, PAPER_SPREAD, "s--", color="gray",
                     label="released code (pooled std)")
    axes[0].set(title="latent spread (generation-0 encoder)", ylabel="std of latent means")
    axes[1].plot(g, h["entropy"], "o-", color="C1", label="generated")
    axes[1].axhline(np.log2(N_CLASSES), color="gray", ls=":", label="uniform (log2 10)")
    if "real_entropy" in h.meta:
        axes[1].axhline(h.meta["real_entropy"], color="C1", ls="--", alpha=0.5, label="real held-out digits")
    axes[1].set(title="class entropy of samples", ylabel="bits")
    axes[2].plot(g, h["distance"], "o-", color="C2", label="generated vs held-out")
    if "floor" in h.meta:
        axes[2].axhline(h.meta["floor"], color="gray", ls=":", label="real train vs held-out")
    axes[2].set(title="Frechet distance (classifier features)", ylabel="distance")
    for ax in axes:
        ax.set_xlabel("generation")
        ax.legend()
    return fig


def plot_classes(history):
    """The predicted class histogram of every generation: one group of bars per digit, one bar per generation."""
    import matplotlib.pyplot as plt

    h = _history(history)
    share = np.array([[r[f"share_{k}"] for k in range(N_CLASSES)] for r in h.rows])
    fig, ax = plt.subplots(figsize=(9, 3.5))
    w = 0.8 / len(share)
    cmap = plt.get_cmap("viridis")
    for i, (g, row) in enumerate(zip(h["generation"], share)):
        ax.bar(np.arange(N_CLASSES) + i * w - 0.4 + w / 2, row, w, color=cmap(i / max(len(share) - 1, 1)),
               label=f"gen {g}")
    ax.axhline(1 / N_CLASSES, color="gray", ls=":", label="uniform")
    ax.set(xticks=range(N_CLASSES), xlabel="predicted digit", ylabel="share of samples",
           title="which digits the samples look like, per generation")
    ax.legend(ncol=2, fontsize=8)
    return fig


def plot_generation(history, generation: int, n: int = 24, seed: int = 0):
    """One generation of a run: ``n`` decoded samples (a grid) beside its class shares and the real ones."""
    import matplotlib.pyplot as plt

    h, n, seed = _history(history), _int("n", n, 1, 200), _seed("seed", seed)
    gens = [int(g) for g in h["generation"]]
    if not isinstance(generation, (int, np.integer)) or isinstance(generation, bool) or int(generation) not in gens \
            or int(generation) not in h.models:
        raise ValueError(f"generation must be one of the run's generations with a kept model {sorted(h.models)}; "
                         f"got {generation!r:.60}")
    g = int(generation)
    x = sample(h.models[g], n, np.random.default_rng(seed))
    cols, side, gap = int(np.ceil(n / 3)), h.models[g].side, 2  # a white gap between the digits
    grid = np.zeros((3 * (side + gap), cols * (side + gap)), np.float32)
    for i, img in enumerate(x):
        r, c = divmod(i, cols)
        grid[r * (side + gap):r * (side + gap) + side, c * (side + gap):c * (side + gap) + side] = img
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [1.4, 1]})
    axes[0].imshow(grid, cmap="gray_r", vmin=0, vmax=1)
    axes[0].set(xticks=[], yticks=[], title=f"generation {g}: {n} decoded samples")
    axes[0].grid(False)
    row = h.rows[gens.index(g)]
    k = np.arange(N_CLASSES)
    axes[1].bar(k - 0.2, [row[f"share_{d}"] for d in k], 0.4, color="C0", label=f"generation {g}")
    if "real_share" in h.meta:
        axes[1].bar(k + 0.2, h.meta["real_share"], 0.4, color="white", edgecolor="gray", hatch="//",
                    label="real held-out")
    top = max([0.3] + [row[f"share_{d}"] for d in k])
    axes[1].set(xticks=k, xlabel="predicted digit", ylabel="share", ylim=(0, 1.1 * top),
                title=f"class entropy {row['entropy']:.2f} bits")
    axes[1].legend(fontsize=8)
    return fig
