"""Checks of Chapter 3 (VAE collapse on handwritten digits): each runs the learner's function on several inputs
and compares it with the reference in :mod:`collapse_lab.vae` (or a formula computed here). Inputs must come back
unchanged; the loss and the reparameterisation must let gradients flow, as the training cell needs."""
from __future__ import annotations

import sys

import numpy as np

from . import variants
from .core import (Hints, call, call_with_grads, close, exercise, expect, last_call, letters_in_order, passed,
                   show, unchanged)

hint = Hints("ch3", {
    "vae_loss": "both terms with torch operations on the tensors passed in (no .item(), float(), numpy or "
                "torch.no_grad()), each summed over everything (pixels, latent dimensions, images); add them and "
                "return the scalar tensor.",
    "reparameterise": "sigma is the standard deviation, the square root of the variance exp(logvar); write it with "
                      "torch.exp of a multiple of logvar. Use the eps given, draw nothing, change no input.",
    "latent_spread": "mu.std(axis=...) gives one standard deviation per latent dimension when the axis runs over "
                     "the images; then average those d numbers. Do not change mu.",
    "class_entropy": "np.bincount counts each class (minlength=n_classes keeps the empty ones as 0); "
                     "a share is a count over the number of labels; empty classes contribute nothing,"
                     " so leave them out before taking np.log2.",
    "collapse_stage": "early collapse: rare digits and unusual styles fade while the average sample looks right; late"
                      " collapse: every sample narrows towards the same shape and the summary numbers move a lot. "
                      "Answer in the order of your variant.order.",
    "compounding": "a constant factor r per generation compounds: the spread after g generations is r**g times the "
                   "first; the released spreads give r, logarithms give g.",
})


def _number(x):
    """A scalar result (tensor, numpy or float) as a float, or None when it is not one number."""
    torch = sys.modules.get("torch")  # torch is imported where the checks need it: a tensor means it is loaded
    try:
        if torch is not None and isinstance(x, torch.Tensor):
            return float(x.detach()) if x.numel() == 1 else None
        a = np.asarray(x, dtype=float)
        return float(a) if a.size == 1 else None
    except (TypeError, ValueError):
        return None


def _ref_grads(f, args, wrt):
    import torch

    leaves = [a.detach().clone().requires_grad_(True) if i in wrt else a for i, a in enumerate(args)]
    out = f(*leaves)
    return out, torch.autograd.grad(out, [leaves[i] for i in wrt])


@exercise("ch3", refs=("vae.model.loss",))
def vae_loss(fn) -> None:
    """``fn(x, recon, mu, logvar)`` -> the summed binary cross-entropy plus KL(N(mu, sigma^2) || N(0, I)) of a batch,
    a scalar tensor that gradients flow through (the next cell calls ``.backward()`` on it)."""
    import torch

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
    cases.append((torch.bernoulli(x, generator=g), recon, cases[0][2], cases[0][3]))  # binary targets
    names = ("x", "recon", "mu", "logvar")
    for x, recon, mu, logvar in cases:
        args = [t.clone() for t in (x, recon, mu, logvar)]
        got, grads = call_with_grads(fn, *args, wrt=(1, 2, 3), name="vae_loss")
        unchanged(dict(zip(names, (x, recon, mu, logvar))), dict(zip(names, args)), "vae_loss")
        want, want_grads = _ref_grads(loss, (x, recon, mu, logvar), (1, 2, 3))
        want = float(want.detach())
        label = f"vae_loss on a batch of {len(x)} images {tuple(x.shape[1:])}, latent {mu.shape[1]}"
        expect(isinstance(got, torch.Tensor) and got.ndim == 0, f"{label}: a scalar tensor", "a 0-d torch tensor",
               show(got, 80), "the next cell calls .backward() on the loss: return a torch tensor of one number, "
               "not float(...), .item() or a numpy value (sum everything, keep no batch axis)")
        v = float(got.detach())
        bce = float(torch.nn.functional.binary_cross_entropy(recon, x, reduction="sum"))
        kl = want - bce
        hint_ = "two summed terms, over pixels and images for the first, latent dimensions and images for the second"
        if abs(v - bce) < 1e-4 * abs(bce) and abs(kl) > 1e-3:
            hint_ = "that is the reconstruction term alone: add the KL term"
        elif abs(v * len(x) - want) < 1e-4 * abs(want):
            hint_ = "that is the mean over the batch: the paper's loss sums over the images"
        elif abs(v - (bce - kl)) < 1e-4 * abs(want) and abs(kl) > 1e-3:
            hint_ = "the KL term is never negative: check its sign"
        elif abs(v - want) > 1e-4 * abs(want) and abs(kl) < 1e-9:
            hint_ = ("with mu = 0 and logvar = 0 the encoder's Gaussian is the prior and the KL is 0: check the "
                     "KL term's constant and signs")
        expect(abs(v - want) <= 1e-4 * abs(want) + 1e-4, label, want, v, hint_)
        expect(all(gr is not None for gr in grads), f"{label}: gradients of the loss", "gradients with respect to "
               "recon, mu and logvar", [None if gr is None else "a gradient" for gr in grads],
               "compute the loss with torch operations only: under torch.no_grad(), after .detach(), through numpy "
               "or float() the graph is cut and training cannot step")
        for nm, gr, wg in zip(("recon", "mu", "logvar"), grads, want_grads):
            expect(close(gr, wg.numpy(), rtol=1e-3, atol=1e-4), f"{label}: gradient with respect to {nm}",
                   wg.numpy(), gr, f"the value is right but its gradient in {nm} is not: clamp, detach or a "
                   "constant replaced part of the formula")
    passed("vae_loss: summed BCE + KL as a scalar tensor with the right gradients, on 5 batches (KL = 0 included)")


@exercise("ch3", refs=("vae.model.reparameterise",))
def reparameterise(fn) -> None:
    """``fn(mu, logvar, eps)`` -> ``mu + exp(logvar / 2) * eps``, a torch tensor of the same shape."""
    import torch

    g = torch.Generator().manual_seed(5)
    names = ("mu", "logvar", "eps")
    for shape in ((3, 2), (16, 20), (1, 5)):
        mu, logvar, eps = (torch.randn(*shape, generator=g) for _ in range(3))
        want = mu + torch.exp(0.5 * logvar) * eps
        args = [mu.clone(), logvar.clone(), eps.clone()]
        got = call(fn, *args, name="reparameterise")
        changed = last_call()["global_rng_changed"]
        unchanged(dict(zip(names, (mu, logvar, eps))), dict(zip(names, args)), "reparameterise")
        expect(not changed, f"reparameterise with shape {shape} drew random numbers", "no new random draws",
               "torch's global generator moved", "eps is given: the noise is drawn outside, by the caller, so the "
               "function is deterministic")
        hint_ = "sigma is the standard deviation of the encoder's Gaussian; logvar is the log of its variance"
        if isinstance(got, torch.Tensor) and got.shape == want.shape:
            if torch.allclose(got, mu + torch.exp(logvar) * eps):
                hint_ = "exp(logvar) is the variance; the noise is scaled by the standard deviation"
            elif torch.allclose(got, mu + logvar * eps):
                hint_ = "logvar is a logarithm: sigma comes from exponentiating it"
        ok = isinstance(got, torch.Tensor) and got.shape == want.shape and torch.allclose(got, want, atol=1e-5)
        expect(isinstance(got, torch.Tensor), f"reparameterise with shape {shape}: a torch tensor",
               "a torch tensor", show(got, 80), "use torch operations (torch.exp), not numpy: the decoder "
               "takes a tensor and gradients must flow")
        expect(ok, f"reparameterise with mu, logvar, eps of shape {shape}", want, got, hint_)
    for m, lv, e in ((0.3, -0.4, 1.2), (-1.0, 1.5, -0.7), (2.0, 0.0, 0.5)):
        z, (dmu, dlv) = call_with_grads(fn, torch.tensor(m), torch.tensor(lv), torch.tensor(e), wrt=(0, 1),
                                        name="reparameterise")
        want_dlv = 0.5 * np.exp(lv / 2) * e
        expect(dmu is not None and dlv is not None, "gradients must flow from z back to mu and logvar",
               "gradients with respect to mu and logvar", [None if d is None else "a gradient" for d in (dmu, dlv)],
               "compute z with torch operations on mu and logvar (no .detach(), no numpy, no torch.no_grad())")
        expect(close(dmu, 1.0, rtol=1e-5) and close(dlv, want_dlv, rtol=1e-4), f"dz/dmu and dz/dlogvar at "
               f"mu={m}, logvar={lv}, eps={e}", (1.0, want_dlv), (show(dmu), show(dlv)),
               "z must move with mu one for one, and with logvar through the standard deviation")
    passed("reparameterise: z = mu + exp(logvar/2) * eps on 3 shapes, and gradients reach mu and logvar")


@exercise("ch3", refs=("vae.measures.latent_spread", "vae.measures.spread"))
def latent_spread(fn) -> None:
    """``fn(mu)`` -> the population standard deviation of latent means ``mu`` (n, d) over images, averaged over d."""
    from ..vae import spread

    rng = np.random.default_rng(11)
    cases = [rng.normal(size=(50, 4)) * [0.1, 1.0, 2.0, 0.0], rng.normal(size=(200, 20)) * 0.7,
             rng.normal(size=(5, 2)) + 3.0, rng.normal(size=(3, 6)) * np.arange(1, 7)]
    for mu0 in cases:
        mu = mu0.copy()
        got = call(fn, mu, name="latent_spread")
        unchanged({"mu": mu0}, {"mu": mu}, "latent_spread")
        want = spread(mu0)
        label = f"latent_spread of mu with shape {mu0.shape}"
        expect(np.ndim(got) == 0 and _number(got) is not None, f"{label}: one number", "a float", show(got, 80),
               "average the per-dimension standard deviations into one number")
        hint_ = "a standard deviation over the images for each latent dimension, then their average"
        if close(got, mu0.std(axis=0, ddof=1).mean()):
            hint_ = "use the population std (ddof=0, numpy's default), not the sample std (ddof=1)"
        elif close(got, mu0.std(axis=1).mean()):
            hint_ = "the spread is over images (axis 0), not over latent dimensions"
        elif close(got, mu0.std()):
            hint_ = "take the std per latent dimension first, then average the d values"
        elif close(got, np.sqrt(mu0.var(axis=0).mean())):
            hint_ = "average the standard deviations, not the variances (then a square root)"
        elif close(got, mu0.var(axis=0).mean()):
            hint_ = "that is a variance: the paper reports standard deviations"
        expect(close(got, want, rtol=1e-6), label, want, got, hint_)
    passed("latent_spread: mean over dimensions of the std over images, on 4 sets of latent means")


@exercise("ch3", refs=("vae.measures.class_entropy", "metrics.label_entropy", "metrics.entropy"))
def class_entropy(fn) -> None:
    """``fn(labels, n_classes)`` -> entropy in bits of the histogram of integer ``labels`` in [0, n_classes)."""
    rng = np.random.default_rng(2)
    cases = [(np.arange(10).repeat(7), 10), (np.full(30, 3), 10), (rng.integers(0, 4, size=200), 10),
             (np.array([1, 0, 0, 0]), 2)]
    for labels0, k in cases:
        p = np.bincount(labels0, minlength=k) / len(labels0)
        want = float(-(p[p > 0] * np.log2(p[p > 0])).sum())
        labels = labels0.copy()
        got = call(fn, labels, k, name="class_entropy")
        unchanged({"labels": labels0}, {"labels": labels}, "class_entropy")
        x = _number(got)
        label = f"class_entropy of {len(labels0)} labels, {k} classes ({int((p > 0).sum())} occur)"
        expect(np.ndim(got) == 0 and x is not None, f"{label}: one number", "a float", show(got, 80),
               "sum the per-class terms into one number")
        hint_ = "p = count / number of labels for each class that occurs; the entropy in bits uses log base 2"
        q = np.bincount(labels0, minlength=k) / k
        if x is not None and np.isnan(x):
            hint_ = "a class with p = 0 contributes 0 (0 log 0 = 0): leave the empty classes out"
        elif want > 0 and close(x, want * np.log(2)):
            hint_ = "that is in nats: use log2 for bits"
        elif want > 0 and k > 1 and close(x, want / np.log2(k)):
            hint_ = "no normalisation by log2(n_classes): the text's entropy is in bits"
        elif close(x, 2 ** want):
            hint_ = "that is 2**H, the effective number of classes; return H"
        elif x is not None and close(x, float(-(q[q > 0] * np.log2(q[q > 0])).sum())):
            hint_ = "p is the share of the labels: divide the counts by the number of labels, not by n_classes"
        expect(close(x, want, rtol=1e-6, atol=1e-9), label, want, got, hint_)
    passed("class_entropy: bits of 4 label histograms (uniform = log2 10, one class = 0, missing classes)")


# ---------------------------------------------------------------------------------------------------------------
# conceptual exercises: the answer is a value, never called

# the observations of the question, in the text's order: E (early collapse) or L (late collapse)
_STAGES = (
    ("E", "all ten digits still drawn, but unusual styles gone: the rare parts fade while the bulk looks right"),
    ("L", "every sample the same blurred shape, latent spread a small fraction of generation 0's"),
    ("E", "one rare digit below 1% of the samples while the entropy has barely moved"),
    ("L", "Frechet distance ten times larger and class entropy below one bit"),
    ("E", "the thinnest and thickest strokes gone while the mean image and the latent spread are as before"),
    ("L", "nearly every sample is classified as the same digit and they all look alike"),
)


# how collapse_stage reads and answers: one letter per observation, E(arly) or L(ate)
_STAGE_FORM = dict(
    allowed="EL", unit="observation", example="EELLEL", differ="are a different stage of collapse",
    expected="E where the rare parts fade while the bulk looks right, L where the whole distribution narrows",
    hint="early collapse loses the tails (rare digits, rare styles); late collapse loses the variance of everything")


@exercise("ch3", refs=(), kind="concept")
def collapse_stage(answer) -> None:
    """``answer``: a string of six letters E / L, early or late collapse for each observation of the exercise, in the
    order of the learner's ``checks.variant("03").order``."""
    v = variants.variant("03")
    want = answers(v)["collapse_stage"]
    letters_in_order(answer, want, v.order, **_STAGE_FORM)
    passed(f"collapse_stage: all {len(want)} observations placed as early or late collapse")


def answers(v) -> dict:
    """The answers of this chapter's variant items for the variant ``v`` (``checks.variant("03", student)``)."""
    return {"collapse_stage": "".join(_STAGES[i - 1][0] for i in v.order)}


@exercise("ch3", refs=(), kind="concept")
def compounding(answer) -> None:
    """``answer``: ``(r, g)``: the constant per-generation factor r of the released code's latent spread
    (``vae.PAPER_SPREAD``, generations 1 to 5) and the number g of generations after which r**g first falls below one
    half."""
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
