"""What a trained VAE makes: decoded samples of the prior, latent means of images, reconstructions."""
from __future__ import annotations

import numpy as np
import torch

from .. import runtime
from ..validate import integer as _int
from .model import _images, _model


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


def reconstruct(model, images) -> np.ndarray:
    """Decoded means (n, side, side) of the encoder's means for ``images``: what ``model`` makes of real digits,
    without drawing ``z`` from the prior."""
    mu = torch.from_numpy(_encode_means(model, images, "model"))
    with torch.inference_mode():
        return torch.cat([model._decode(zb) for zb in mu.split(1024)]).numpy()
