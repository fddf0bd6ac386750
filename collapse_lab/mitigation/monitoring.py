"""Tail monitoring: a per-generation report of a model's tails against real data, with alerts."""
from __future__ import annotations

from collections import Counter
from typing import Mapping, Sequence

import numpy as np

from .. import loop, metrics
from ..runtime import as_rng, progress
from ..validate import ArgumentError, array as _array, integer as _int, number as _num, seed as _seed
from .anchor import gaussian_chain


# ---------------------------------------------------------------------------------------------------------------
# 5. tail monitoring


KINDS = ("tails", "categories", "ngrams")


class Monitor:
    """A per-generation collapse monitor: a tail statistic and a mean-based statistic, each with an alert.

    ``kind='tails'`` (1-D numbers): tail mass below the reference's ``q`` quantile and above its ``1 - q``
    quantile, each side compared with the reference's own; the tail drop is the larger relative loss of the two
    sides. The mean-based statistic is the shift of the first two moments, max(|mean - mean_ref| / std_ref,
    |std / std_ref - 1|): what a dashboard of means and spreads shows.

    ``kind='categories'`` (integer labels): the tail drop is the share of the reference's categories no longer seen;
    the mean-based statistic is the relative change of the entropy (the log of the unigram perplexity).

    ``kind='ngrams'`` (token sequences): the tail drop is the share of distinct ``n``-grams lost; the mean-based
    statistic is the relative change of the unigram entropy.

    Both alerts fire when their statistic exceeds ``tol`` (a relative change, e.g. 0.2 = 20%). Use enough samples
    per generation that sampling noise stays well below ``tol`` (tails: 1/sqrt(q * N) << tol).
    """

    def __init__(self, reference, kind: str = "tails", *, q: float = 0.01, tol: float = 0.2, n: int = 2):
        if not isinstance(kind, str) or kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {kind!r:.60}")
        self.kind = kind
        self.q = _num("q", q, 0, 0.5, lo_open=True)
        self.tol = _num("tol", tol, 0, lo_open=True)
        self.n = _int("n", n, 1)
        if kind == "tails":
            ref = _array("reference", reference, min_size=0, finite=False).ravel()
            if ref.size < 2 or not np.all(np.isfinite(ref)):
                raise ValueError("reference must hold at least 2 finite numbers for kind='tails'")
            self.lo, self.hi = np.quantile(ref, [self.q, 1 - self.q])
            self.mean, self.std = float(ref.mean()), float(ref.std())
        self.ref = None
        self.ref = self.stats(reference)

    def _tokens(self, data):
        if self.kind == "categories":
            x = np.asarray(data).ravel()
            if x.size == 0 or not np.issubdtype(x.dtype, np.integer):
                raise ValueError("data must be a non-empty array of integer labels for kind='categories'")
            return x
        if isinstance(data, (str, bytes)) or len(data) == 0:
            raise ValueError("data must be a non-empty list of token sequences for kind='ngrams'")
        return data

    def stats(self, data) -> dict:
        """The raw statistics of one sample: tails -> lower, upper, mean, std; else -> distinct, entropy."""
        if self.kind == "tails":
            x = _array("data", data, min_size=0, finite=False)
            if x.ndim == 0:
                raise ValueError(f"data must be an array of samples for kind='tails'; got the single number {x}")
            x = x.ravel()
            if x.size == 0 or not np.all(np.isfinite(x)):
                raise ValueError("data must be a non-empty array of finite numbers for kind='tails'")
            return {"lower": float(np.mean(x < self.lo)), "upper": float(np.mean(x > self.hi)),
                    "mean": float(x.mean()), "std": float(x.std())}
        x = self._tokens(data)
        if self.kind == "categories":
            counts = np.unique(x, return_counts=True)[1]
            return {"distinct": int(counts.size), "entropy": metrics.entropy(counts)}
        distinct, _ = metrics.distinct_n(x, self.n)
        uni = Counter(t for seq in x for t in seq)
        return {"distinct": int(distinct), "entropy": metrics.entropy(np.fromiter(uni.values(), float))}

    def check(self, data) -> dict:
        """One generation's row: the raw stats, ``tail_drop``, ``mean_shift`` and the two alerts."""
        st = self.stats(data)
        r = self.ref
        if self.kind == "tails":
            drops = [1 - st[k] / r[k] if r[k] > 0 else 0.0 for k in ("lower", "upper")]
            tail = max(drops)
            mean = max(abs(st["mean"] - self.mean) / self.std, abs(st["std"] / self.std - 1))
        else:
            tail = 1 - st["distinct"] / r["distinct"]
            mean = abs(st["entropy"] - r["entropy"]) / r["entropy"]
        return {**st, "tail_drop": float(tail), "mean_shift": float(mean),
                "tail_alert": bool(tail > self.tol), "mean_alert": bool(mean > self.tol)}

    def __call__(self, model, train) -> dict:
        """As a :func:`loop.run` metric: monitor each generation's training set."""
        return self.check(train)

    def report(self, samples_by_generation: Sequence) -> loop.History:
        """A History with one :meth:`check` row per generation (0, 1, ...) of ``samples_by_generation``."""
        if isinstance(samples_by_generation, (str, bytes)) or not hasattr(samples_by_generation, "__len__") \
                or getattr(samples_by_generation, "ndim", 1) == 0 or len(samples_by_generation) == 0:
            raise ValueError("samples_by_generation must be a non-empty list: one sample per generation")
        h = loop.History(meta={"kind": self.kind, "q": self.q, "tol": self.tol})
        for g, x in enumerate(samples_by_generation):
            try:
                row = self.check(x)
            except (TypeError, ValueError) as e:  # name the item of this argument, not check's own `data`
                raise ArgumentError(f"samples_by_generation[{g}]: {e}") from None
            h.append({"generation": g, **row})
        return h


def first_alert(history, column: str):
    """The first generation whose boolean ``column`` (e.g. ``'tail_alert'``) is true, or None."""
    if not isinstance(column, str):
        raise TypeError(f"column must be a column name such as 'tail_alert'; got {column!r}")
    if isinstance(history, loop.History):
        names = history.columns
    elif isinstance(history, Mapping):
        names = list(history)
    else:
        raise TypeError(f"history must be a loop.History (e.g. Monitor.report's) or a mapping column -> values; "
                        f"got {type(history).__name__}")
    if column not in names or "generation" not in names:
        raise ValueError(f"column must be one of the history's columns {names} (which must include "
                         f"'generation'); got {column!r}")
    flags = np.asarray(history[column], dtype=bool)
    gens = np.asarray(history["generation"])
    hit = np.flatnonzero(flags)
    return int(gens[hit[0]]) if hit.size else None


def gaussian_monitor_runs(*, M: int = 100, generations: int = 60, chains: int = 20, n: int = 20000,
                          q: float = 0.01, tol: float = 0.2, seed: int = 0) -> dict:
    """Tail monitor vs moment monitor on Gaussian chains (truth N(0, 1), M points per generation, unbiased fit).

    For every chain, ``n`` fresh samples of each generation's fit are checked by :class:`Monitor`, whose reference
    is an independent sample of n points of the chain's generation-0 model (the model fitted on real data, what
    an operator starts from). Returns a dict: ``tail``, ``mean`` (first alert generation per chain;
    generations + 1 = never) and ``example`` (the History of chain 0).
    """
    M, generations = _int("M", M, 2), _int("generations", generations, 1)
    chains, n = _int("chains", chains, 1), _int("n", n, 10)
    rng = np.random.default_rng([_seed("seed", seed), 11])
    means, varis = gaussian_chain(M, generations, chains, ddof=1, seed=int(rng.integers(2**31)))
    tail, mean, example = [], [], None
    for c in progress(range(chains), desc="monitored chains"):
        draw = lambda g: means[g, c] + np.sqrt(varis[g, c]) * rng.standard_normal(n)  # noqa: E731
        mon = Monitor(draw(0), "tails", q=q, tol=tol)
        h = mon.report([draw(g) for g in range(generations + 1)])
        example = h if example is None else example
        t, m = first_alert(h, "tail_alert"), first_alert(h, "mean_alert")
        tail.append(generations + 1 if t is None else t)
        mean.append(generations + 1 if m is None else m)
    return {"tail": np.asarray(tail), "mean": np.asarray(mean), "example": example}


def words(split: str = "valid") -> tuple[np.ndarray, list[str]]:
    """WikiText-2 (offline) as integer word ids: (ids (N,), vocabulary list), whitespace tokens, '<unk>' kept."""
    from .. import data

    toks = data.wikitext(split).split()
    vocab, ids = np.unique(np.asarray(toks), return_inverse=True)
    return ids.astype(np.int64), list(vocab)


def word_chain(ids, M: int, generations: int, seed: int = 0) -> list[np.ndarray]:
    """A unigram language model refit on its own text: M word ids per generation, maximum likelihood.

    Generation 0 is M words of the real corpus ``ids`` (a contiguous slice); generation g >= 1 is M words drawn
    from the word frequencies of generation g - 1. Returns the list of word-id samples, one per generation.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError("ids must be a non-empty 1-D array of integer word ids")
    M, generations = _int("M", M, 1), _int("generations", generations, 0)
    if M > ids.size:
        raise ValueError(f"M must be <= len(ids) = {ids.size}; got {M}")
    rng = as_rng(_seed("seed", seed))
    start = int(rng.integers(0, ids.size - M + 1))
    out = [ids[start:start + M]]
    for _ in range(generations):
        vals, counts = np.unique(out[-1], return_counts=True)
        out.append(vals[rng.choice(vals.size, size=M, p=counts / M)])
    return out
