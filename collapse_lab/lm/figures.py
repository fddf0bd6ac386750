"""The chapter's figures: test perplexity over generations, and how each generation's training data scores."""
from __future__ import annotations

import numpy as np

from ..validate import integer as _int


def _axes(ax, title) -> None:
    if ax is not None and not hasattr(ax, "plot"):
        raise TypeError(f"ax must be a matplotlib Axes or None; got {type(ax).__name__}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None; got {type(title).__name__}")


def plot_chains(histories, ax=None, title="Test perplexity over generations"):
    """Test perplexity against generation for several histories (legend: their ``meta['label']``)."""
    import matplotlib.pyplot as plt

    if not isinstance(histories, (list, tuple)) or not histories \
            or not all(hasattr(h, "meta") and hasattr(h, "columns") for h in histories):
        raise TypeError(f"histories must be a non-empty list of lm.chain histories; got {histories!r:.60}")
    _axes(ax, title)
    if ax is None:
        _, ax = plt.subplots()
    from ..plots import series

    for i, h in enumerate(histories):
        lab = h.meta.get("label", "chain") + ("" if h.meta.get("decoding", "beam") == "beam" else ", sampling")
        ax.plot(h["generation"], h["test_ppl"], label=lab, **dict(series(i), markevery=1))
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.set_ylabel("perplexity of the real test blocks")
    ax.set_title(title)
    ax.legend()
    return ax


def plot_seq_ppl(history, ax=None, bins: int = 40, title=None):
    """Histograms (log-x) of per-block perplexities of each generation's training data under generation 0."""
    import matplotlib.pyplot as plt

    if not (hasattr(history, "meta") and isinstance(history.meta, dict)):
        raise TypeError(f"history must be an lm.chain history (with meta['seq_ppl']); got {type(history).__name__}")
    _axes(ax, title)
    bins = _int("bins", bins, 2, 1000)
    seq = history.meta.get("seq_ppl") or {}
    if not seq:
        raise ValueError("history.meta['seq_ppl'] is empty: run the chain with lm.chain(...)")
    if ax is None:
        _, ax = plt.subplots()
    allv = np.concatenate([np.asarray(v) for v in seq.values()])
    edges = np.geomspace(max(allv.min(), 1.0), allv.max() * 1.01, bins + 1)
    from ..plots import LINESTYLES

    cmap = plt.get_cmap("viridis")
    for g, v in sorted(seq.items(), key=lambda kv: int(kv[0])):
        g = int(g)
        # shares of blocks per (log-spaced) bin: a density would hide the wide bins of real text
        ax.hist(v, bins=edges, histtype="step", lw=1.8 if g == 0 else 1.3, weights=np.full(len(v), 1 / len(v)),
                color="k" if g == 0 else cmap(g / max(1, len(seq) - 1)), ls=LINESTYLES[g % len(LINESTYLES)],
                label=f"gen {g}" + (" (real data)" if g == 0 else ""))
    ax.set_xscale("log")
    ax.set_xlabel("perplexity of a training block under the generation-0 model")
    ax.set_ylabel("share of the training blocks")
    ax.set_title(title or f"Training data of each generation, {history.meta.get('label', '')}")
    ax.legend(fontsize=8)
    return ax
