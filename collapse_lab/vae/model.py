"""The convolutional VAE: its layers, the reparameterisation, the loss, and the checks of images and models."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import validate
from ..validate import integer as _int


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
