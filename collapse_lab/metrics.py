"""Distances and diversity measures shared by the chapters.

Every function takes plain numbers or numpy arrays and documents shapes; all are cheap and exact.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import numpy as np

from . import validate


def _finite(x, name, min_size=1):
    return validate.array(name, x, min_size=min_size)


def _psd(name, c):
    """Refuse a covariance that is not symmetric positive semi-definite (up to rounding)."""
    if not np.allclose(c, c.T, rtol=1e-6, atol=1e-9 * max(1.0, float(np.abs(c).max(initial=0)))):
        raise validate.ArgumentError(f"{name} must be a symmetric covariance matrix; it is not symmetric")
    w = np.linalg.eigvalsh((c + c.T) / 2)
    if w.size and w.min() < -1e-8 * max(1.0, float(np.abs(w).max())):
        raise validate.ArgumentError(f"{name} must be positive semi-definite (a covariance); its smallest "
                                     f"eigenvalue is {w.min():.3g}")


def w2_gaussian(mean1, var1, mean2, var2):
    """Squared 2-Wasserstein distance between 1-D Gaussians N(mean1, var1) and N(mean2, var2).

    W2^2 = (mean1 - mean2)^2 + (sqrt(var1) - sqrt(var2))^2. Arguments broadcast (numpy arrays of any shape);
    variances must be >= 0.
    """
    m1, v1, m2, v2 = (_finite(x, n) for x, n in ((mean1, "mean1"), (var1, "var1"), (mean2, "mean2"), (var2, "var2")))
    if np.any(v1 < 0) or np.any(v2 < 0):
        raise ValueError("var1 and var2 must be >= 0 (variances, not standard deviations)")
    out = (m1 - m2) ** 2 + (np.sqrt(v1) - np.sqrt(v2)) ** 2
    return float(out) if out.ndim == 0 else out


def frechet(mean1, cov1, mean2, cov2) -> float:
    """Frechet (2-Wasserstein) distance squared between Gaussians N(mean1, cov1), N(mean2, cov2) in d dimensions.

    ``|mean1 - mean2|^2 + tr(cov1 + cov2 - 2 (cov2^1/2 cov1 cov2^1/2)^1/2)``: the FID formula.
    Shapes: means (d,), covariances (d, d), symmetric positive semi-definite.
    """
    m1, m2 = _finite(mean1, "mean1").ravel(), _finite(mean2, "mean2").ravel()
    c1, c2 = np.atleast_2d(_finite(cov1, "cov1")), np.atleast_2d(_finite(cov2, "cov2"))
    d = m1.size
    if m2.size != d or c1.shape != (d, d) or c2.shape != (d, d):
        raise ValueError(f"mean1, cov1, mean2, cov2 must have shapes (d,), (d, d), (d,), (d, d) for one d; got "
                         f"{m1.shape}, {c1.shape}, {m2.shape}, {c2.shape}")
    _psd("cov1", c1)
    _psd("cov2", c2)
    # symmetric square roots through eigendecompositions: stable for the near-singular covariances of collapsed models
    w, v = np.linalg.eigh((c2 + c2.T) / 2)
    r2 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = r2 @ c1 @ r2
    wi = np.linalg.eigvalsh((inner + inner.T) / 2)
    tr_sqrt = np.sqrt(np.clip(wi, 0, None)).sum()
    # rounding can leave a tiny negative value for two equal Gaussians; a distance is never below 0
    return max(0.0, float(np.sum((m1 - m2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * tr_sqrt))


def frechet_from_features(a, b) -> float:
    """:func:`frechet` between Gaussians fitted to two feature sets ``a`` (n, d) and ``b`` (m, d), n, m >= 2."""
    a, b = np.atleast_2d(_finite(a, "a")), np.atleast_2d(_finite(b, "b"))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"a and b must be feature arrays (n, d) and (m, d) with n, m >= 2 and the same d; got "
                         f"a {a.shape}, b {b.shape}")
    return frechet(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def entropy(p, base: float = np.e) -> float:
    """Shannon entropy of a distribution or of counts ``p`` (1-D, non-negative, normalised here), in ``base`` units."""
    p = _finite(p, "p", min_size=0)
    if p.ndim == 0:
        raise ValueError(f"p must be a 1-D array of weights; got the single number {p}")
    p = p.ravel()
    if p.size == 0 or np.any(p < 0) or p.sum() <= 0:
        raise ValueError("p must be a non-empty 1-D array of non-negative weights with a positive sum")
    base = validate.number("base", base, 0, lo_open=True)
    if base == 1:
        raise ValueError(f"base must be > 0 and != 1; got {base}")
    p = p / p.sum()
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum() / np.log(base))


def label_entropy(labels, n_classes: int, base: float = np.e) -> float:
    """Entropy of the empirical distribution of integer ``labels`` in ``[0, n_classes)``."""
    n_classes = validate.count("n_classes", n_classes, 1)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError("labels must be a non-empty 1-D array of ints")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, n_classes={n_classes}); got range [{labels.min()}, {labels.max()}]")
    return entropy(np.bincount(labels, minlength=n_classes), base=base)


def tail_mass(samples, lo: float, hi: float) -> float:
    """Fraction of 1-D ``samples`` outside ``[lo, hi]`` (e.g. beyond the original 1% and 99% quantiles)."""
    x = _finite(samples, "samples")
    if x.ndim == 0:
        raise ValueError(f"samples must be an array of samples; got the single number {x}")
    x = x.ravel()
    lo, hi = validate.number("lo", lo), validate.number("hi", hi)
    if not lo <= hi:
        raise ValueError(f"need lo <= hi; got lo={lo}, hi={hi}")
    return float(np.mean((x < lo) | (x > hi)))


def ngrams(tokens: Sequence, n: int) -> Iterable[tuple]:
    """The n-grams of one token sequence, as tuples."""
    n = validate.count("n", n, 1, 1000)
    if isinstance(tokens, (str, bytes)) or not hasattr(tokens, "__iter__") or getattr(tokens, "ndim", 1) != 1:
        raise TypeError(f"tokens must be a sequence of tokens (a list or 1-D array); got {type(tokens).__name__}"
                        + (f" of shape {tokens.shape}" if hasattr(tokens, "shape") else ""))
    tokens = list(tokens)
    return (tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def distinct_n(sequences: Sequence[Sequence], n: int) -> tuple[int, float]:
    """Number of distinct n-grams across ``sequences`` (lists of tokens), and their share of all n-grams."""
    if isinstance(sequences, (str, bytes)):
        raise TypeError("sequences must be a list of token sequences, not one string")
    if not hasattr(sequences, "__iter__"):
        raise TypeError(f"sequences must be a list of token sequences; got {type(sequences).__name__}")
    n = validate.count("n", n, 1, 1000)
    sequences = list(sequences)
    for i, s in enumerate(sequences):
        if isinstance(s, (str, bytes)) or not hasattr(s, "__iter__") or getattr(s, "ndim", 1) != 1:
            raise validate.ArgumentError(f"sequences[{i}] must be a sequence of tokens (a list or 1-D array); got "
                                         f"{s!r:.40} ({type(s).__name__})")
    counts = Counter(g for s in sequences for g in ngrams(s, n))
    total = sum(counts.values())
    return len(counts), (len(counts) / total if total else 0.0)


def perplexity(token_losses) -> float:
    """exp(mean negative log-likelihood per token), from per-token losses in nats."""
    x = _finite(token_losses, "token_losses").ravel()
    if np.any(x < 0):
        raise ValueError(f"token_losses must be >= 0 (negative log-likelihoods of tokens, in nats); "
                         f"got a minimum of {x.min():.4g}")
    if x.mean() > 700:  # exp overflows a float64 above ~709 nats per token
        raise ValueError(f"token_losses average {x.mean():.4g} nats per token; perplexity would overflow "
                         "(losses are per token, in nats, not summed over a sequence)")
    return float(np.exp(x.mean()))
