"""Checks of Chapter 3 (VAE collapse on handwritten digits): each runs the learner's function on several inputs
and compares it with the reference in :mod:`collapse_lab.vae` (or a formula computed here)."""
from __future__ import annotations

import numpy as np
import torch

from .core import call, close, expect, passed


def _number(x):
    """A scalar result (tensor, numpy or float) as a float, or None when it is not one number."""
    try:
        if isinstance(x, torch.Tensor):
            return float(x.detach()) if x.numel() == 1 else None
        a = np.asarray(x, dtype=float)
        return float(a) if a.size == 1 else None
    except (TypeError, ValueError):
        return None


def vae_loss(fn) -> None:
    """``fn(x, recon, mu, logvar)`` -> the summed binary cross-entropy plus KL(N(mu, sigma^2) || N(0, I)) of a batch."""
    from ..vae import loss

    g = torch.Generator().manual_seed(3)
    cases = []
    for b, side, d in ((4, 8, 3), (2, 28, 20), (7, 8, 5)):
        x = torch.rand(b, side, side, generator=g)
        recon = torch.rand(b, side, side, generator=g) * 0.98 + 0.01
        mu, logvar = torch.randn(b, d, generator=g), torch.randn(b, d, generator=g) * 0.5
        cases.append((x, recon, mu, logvar))
    x, recon = cases[0][0], cases[0][1]
    cases.append((x, recon, torch.zeros(4, 3), torch.zeros(4, 3)))  # posterior = prior: KL is exactly 0
    for x, recon, mu, logvar in cases:
        got = _number(call(fn, x.clone(), recon.clone(), mu.clone(), logvar.clone(), name="vae_loss"))
        want = float(loss(x, recon, mu, logvar))
        bce = float(torch.nn.functional.binary_cross_entropy(recon, x, reduction="sum"))
        hint = "sum over pixels and images (reduction='sum'), then add KL = -0.5 * sum(1 + logvar - mu**2 - exp(logvar))"
        if got is not None and abs(got - bce) < 1e-3 * abs(bce) and abs(want - bce) > 1e-3:
            hint = "that is the reconstruction term alone: add the KL term"
        elif got is not None and abs(got * len(x) - want) < 1e-3 * abs(want):
            hint = "that is the mean over the batch: the paper's loss sums over the images"
        expect(got is not None and abs(got - want) <= 1e-4 * abs(want) + 1e-4,
               f"vae_loss on a batch of {len(x)} images {tuple(x.shape[1:])}, latent {mu.shape[1]}", want, got, hint)
    passed("vae_loss: summed BCE + KL matches the reference on 4 batches (8x8 and 28x28, KL = 0 case included)")


def reparameterise(fn) -> None:
    """``fn(mu, logvar, eps)`` -> ``mu + exp(logvar / 2) * eps``, a torch tensor of the same shape."""
    g = torch.Generator().manual_seed(5)
    for shape in ((3, 2), (16, 20), (1, 5)):
        mu, logvar, eps = (torch.randn(*shape, generator=g) for _ in range(3))
        want = mu + torch.exp(0.5 * logvar) * eps
        got = call(fn, mu.clone(), logvar.clone(), eps.clone(), name="reparameterise")
        hint = "sigma = exp(logvar / 2) (logvar is the log of the variance), then z = mu + sigma * eps"
        if isinstance(got, torch.Tensor) and got.shape == want.shape and torch.allclose(got, mu + torch.exp(logvar) * eps):
            hint = "exp(logvar) is the variance; the standard deviation is exp(logvar / 2)"
        ok = isinstance(got, torch.Tensor) and got.shape == want.shape and torch.allclose(got, want, atol=1e-5)
        expect(ok, f"reparameterise with mu, logvar, eps of shape {shape}", want, got, hint)
    mu = torch.zeros(4, 3, requires_grad=True)
    z = call(fn, mu, torch.zeros(4, 3), torch.ones(4, 3), name="reparameterise")
    expect(isinstance(z, torch.Tensor) and z.requires_grad, "gradients must flow from z back to mu",
           "a tensor with requires_grad=True", getattr(z, "requires_grad", z),
           "compute z with torch operations on mu and logvar (no .detach(), no numpy)")
    passed("reparameterise: z = mu + exp(logvar/2) * eps on 3 shapes, and gradients reach mu")


def latent_spread(fn) -> None:
    """``fn(mu)`` -> the population standard deviation of latent means ``mu`` (n, d) over images, averaged over d."""
    from ..vae import spread

    rng = np.random.default_rng(11)
    cases = [rng.normal(size=(50, 4)) * [0.1, 1.0, 2.0, 0.0], rng.normal(size=(200, 20)) * 0.7,
             rng.normal(size=(5, 2)) + 3.0]
    for mu in cases:
        got = call(fn, mu.copy(), name="latent_spread")
        want = spread(mu)
        hint = "std over the images (axis 0, numpy's default ddof=0), then the mean over the latent dimensions"
        if close(got, mu.std(axis=0, ddof=1).mean()):
            hint = "use the population std (ddof=0, numpy's default), not the sample std (ddof=1)"
        elif close(got, mu.std(axis=1).mean()):
            hint = "the spread is over images (axis 0), not over latent dimensions"
        elif close(got, mu.std()):
            hint = "take the std per latent dimension first, then average the d values"
        expect(close(got, want, rtol=1e-6), f"latent_spread of mu with shape {mu.shape}", want, got, hint)
    passed("latent_spread: mean over dimensions of the std over images, on 3 sets of latent means")


def class_entropy(fn) -> None:
    """``fn(labels, n_classes)`` -> entropy in bits of the histogram of integer ``labels`` in [0, n_classes)."""
    rng = np.random.default_rng(2)
    cases = [(np.arange(10).repeat(7), 10), (np.full(30, 3), 10), (rng.integers(0, 4, size=200), 10),
             (np.array([0, 0, 0, 1]), 2)]
    for labels, k in cases:
        p = np.bincount(labels, minlength=k) / len(labels)
        want = float(-(p[p > 0] * np.log2(p[p > 0])).sum())
        got = call(fn, labels.copy(), k, name="class_entropy")
        hint = "p = counts / total; H = -sum p log2 p over the classes with p > 0 (0 log 0 = 0)"
        if _number(got) is not None and abs(_number(got) - want * np.log(2)) < 1e-6 and want > 0:
            hint = "that is in nats: use log2 for bits"
        expect(close(_number(got), want, rtol=1e-6, atol=1e-9), f"class_entropy of {len(labels)} labels, "
               f"{k} classes", want, got, hint)
    passed("class_entropy: bits of 4 label histograms (uniform = log2 10, one class = 0, missing classes)")


# ---------------------------------------------------------------------------------------------------------------
# conceptual exercises: the answer is a value, never called

# the observations of the question, in order: E (early collapse) or L (late collapse)
_STAGES = (
    ("E", "all ten digits still drawn, but unusual styles gone: the rare parts fade while the bulk looks right"),
    ("L", "every sample the same blurred shape, latent spread a small fraction of generation 0's"),
    ("E", "one rare digit below 1% of the samples while the entropy has barely moved"),
    ("L", "Frechet distance ten times larger and class entropy below one bit"),
)


def collapse_stage(answer) -> None:
    """``answer``: a string of four letters E / L, early or late collapse for each observation of the exercise."""
    want = "".join(letter for letter, _ in _STAGES)
    expect(isinstance(answer, str), "your answer is a string of letters", f"a str of {len(want)} letters E or L",
           answer if not callable(answer) else "a function", "assign a string such as 'EELL', not a function")
    got = "".join(ch for ch in answer.upper() if not ch.isspace() and ch not in ",;-")
    expect(len(got) == len(want) and set(got) <= {"E", "L"}, "four letters, each E or L",
           f"{len(want)} letters from E, L", answer, "one letter per observation, in the order of the list")
    wrong = [i for i in range(len(want)) if got[i] != want[i]]
    expect(not wrong, f"observations {[i + 1 for i in wrong]} are a different stage of collapse",
           "E where the rare parts fade while the bulk looks right, L where the whole distribution narrows", got,
           "early collapse loses the tails (rare digits, rare styles); late collapse loses the variance of "
           "everything")
    passed(f"collapse_stage: all {len(want)} observations placed as early or late collapse")


def compounding(answer) -> None:
    """``answer``: ``(r, g)``: the constant per-generation factor r of the released code's latent spread
    (``vae.PAPER_SPREAD``, generation 0 to 4) and the first generation g at which r**g falls below one half."""
    from .. import vae

    sp = np.asarray(vae.PAPER_SPREAD, dtype=float)
    r = float((sp[-1] / sp[0]) ** (1 / (len(sp) - 1)))
    g = int(np.ceil(np.log(0.5) / np.log(r)))
    ok = isinstance(answer, (tuple, list)) and len(answer) == 2
    expect(ok, "your answer is a pair (r, g)", "(a float, an int)",
           answer if not callable(answer) else "a function", "assign a tuple such as (0.5, 3), not a function")
    rr, gg = _number(answer[0]), _number(answer[1])
    expect(rr is not None and abs(rr - r) < 5e-3, "r: the per-generation factor", round(r, 4), answer[0],
           f"if every generation keeps the fraction r, generation {len(sp) - 1} keeps r**{len(sp) - 1}: take the "
           f"{len(sp) - 1}-th root of spread[{len(sp) - 1}] / spread[0]")
    expect(gg is not None and float(gg).is_integer() and int(gg) == g, "g: first generation with r**g < 1/2", g,
           answer[1], "solve r**g = 1/2 for g (logarithms), then take the next whole generation")
    passed(f"compounding: {1 - r:.1%} lost per generation halves the spread by generation {g}")
