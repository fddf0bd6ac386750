"""The chapter's figures: test perplexity over generations, and how each generation's training data scores."""
from __future__ import annotations

import numpy as np


def plot_chains(histories, ax=None, title="Test perplexity over generations"):
    """Test perplexity against generation for several histories (legend: their ``meta['label']``)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    for h in histories:
        lab = h.meta.get("label", "chain") + ("" if h.meta.get("decoding", "beam") == "beam" else ", sampling")
        ax.plot(h["generation"], h["test_ppl"], "o-", label=lab)
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

    seq = history.meta.get("seq_ppl") or {}
    if not seq:
        raise ValueError("history.meta['seq_ppl'] is empty: run the chain with lm.chain(...)")
    if ax is None:
        _, ax = plt.subplots()
    allv = np.concatenate([np.asarray(v) for v in seq.values()])
    edges = np.geomspace(max(allv.min(), 1.0), allv.max() * 1.01, bins + 1)
    cmap = plt.get_cmap("viridis")
    for g, v in sorted(seq.items(), key=lambda kv: int(kv[0])):
        g = int(g)
        # shares of blocks per (log-spaced) bin: a density would hide the wide bins of real text
        ax.hist(v, bins=edges, histtype="step", lw=1.8 if g == 0 else 1.3, weights=np.full(len(v), 1 / len(v)),
                color="k" if g == 0 else cmap(g / max(1, len(seq) - 1)),
                label=f"gen {g}" + (" (real data)" if g == 0 else ""))
    ax.set_xscale("log")
    ax.set_xlabel("perplexity of a training block under the generation-0 model")
    ax.set_ylabel("share of the training blocks")
    ax.set_title(title or f"Training data of each generation, {history.meta.get('label', '')}")
    ax.legend(fontsize=8)
    return ax
