"""Training a VAE: torch threads, Adam over shuffled batches, and the VAE as a ``loop.Family`` for the chain."""
from __future__ import annotations

import contextlib

import torch

from .. import loop, runtime, validate, vae
from ..validate import integer as _int, seed as _seed
from .model import VAE, _channels, _images


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
            z = vae.reparameterise(mu, logvar, torch.randn_like(mu))
            step = vae.loss(xb, model._decode(z), mu, logvar)
            opt.zero_grad()
            step.backward()
            opt.step()
            total += step.item()
        model.losses.append(total / len(x))


def family(*, profile: str | None = None, bernoulli: bool = False, device: str | None = None, **overrides) -> loop.Family:
    """The VAE as a :class:`loop.Family`: ``fit`` trains a fresh VAE, ``sample`` decodes ``z ~ N(0, I)``.

    Sizes come from ``vae.sizes(profile)``; ``overrides`` replace any of channels, latent, epochs, batch, lr,
    weight_decay (e.g. ``family(epochs=5)``). Each fit draws its torch seed from the loop's rng, so a run is
    reproducible from the loop's seed.
    """
    s = vae.sizes(profile)
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
        return vae.train(images, **kw, seed=int(runtime.as_rng(rng).integers(2**31)), device=device,
                         n_threads=s.threads)

    def draw(model, n, rng):
        return vae.sample(model, n, rng, bernoulli=bernoulli)

    return loop.Family(fit=fit, sample=draw, name="vae")
