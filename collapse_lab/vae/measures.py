"""Measures of a generation's samples: latent spread (two ways) and the class histogram's shares and entropy."""
from __future__ import annotations

import numpy as np

from .. import metrics, validate
from ..validate import integer as _int
from .protocol import N_CLASSES
from .sampling import _encode_means


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
