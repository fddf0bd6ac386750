"""What judges every generation: the chapter's real digits, a small classifier trained once on them, and the
:class:`Judge` that draws a generation's samples and measures them against the held-out digits."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from .. import data as _data
from .. import metrics, runtime, vae
from ..validate import integer as _int, seed as _seed
from .model import _images
from .protocol import HELD_OUT, N_CLASSES
from .sampling import _encode_means


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
    return _load(vae.sizes(profile).data)


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
    with vae.threads(n_threads):
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
    s = vae.sizes(profile)
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
        x = vae.sample(model, self.n, self.rng)
        feats, labels = self.clf._features_and_labels(x)
        counts = np.bincount(labels, minlength=N_CLASSES)
        mu = _encode_means(self.encoder, x, "encoder")
        out = {"distance": metrics.frechet_from_features(self.real_features, feats),
               "spread": vae.spread(mu), "pooled_spread": vae.pooled_spread(mu),
               "entropy": vae.class_entropy(labels),
               "share": {str(k): float(c / self.n) for k, c in enumerate(counts)}}
        self._last = (model, out)
        return out

    def metrics(self) -> dict:
        """The judge as ``loop.run`` metrics: columns distance, spread, entropy, share_0 ... share_9."""
        return {k: (lambda m, train, k=k: self(m)[k])
                for k in ("distance", "spread", "pooled_spread", "entropy", "share")}
