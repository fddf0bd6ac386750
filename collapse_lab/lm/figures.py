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


def plot_generation(history, tok, generation: int, width: int = 60, blocks: int = 3):
    """One generation's training text: its first ``blocks`` blocks, decoded, beside the rank-frequency curve of its
    tokens and of the real text's (log-log), with the vocabulary of each."""
    import textwrap

    import matplotlib.pyplot as plt

    texts = getattr(history, "meta", {}).get("text") if hasattr(history, "meta") else None
    if not texts:
        raise TypeError("history must be an lm.chain history with meta['text'] (the text of every generation)")
    if not (hasattr(tok, "decode") and callable(tok.decode)):
        raise TypeError(f"tok must be a tokenizer with decode() (lm.load_base()'s); got {type(tok).__name__}")
    if isinstance(generation, bool) or not isinstance(generation, (int, np.integer)) or int(generation) not in texts:
        raise ValueError(f"generation must be one of {sorted(texts)}; got {generation!r:.60}")
    width, blocks = _int("width", width, 20, 400), _int("blocks", blocks, 1, 20)
    g = int(generation)
    x = np.asarray(texts[g])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1.15, 1]})
    body = "\n\n".join("\n".join(textwrap.wrap(" ".join(tok.decode(row).split()), width)) for row in x[:blocks])
    axes[0].text(0.0, 1.0, body, va="top", ha="left", family="monospace", fontsize=8, transform=axes[0].transAxes)
    axes[0].set_axis_off()
    axes[0].set_title(f"generation {g}: its first {min(blocks, len(x))} training blocks"
                      + (" (real text)" if g == 0 else ""), loc="left")
    for gg, style, lab in ((0, "k--", "real text (generation 0)"), (g, "o-", f"generation {g}")):
        counts = np.sort(np.bincount(np.asarray(texts[gg]).ravel()))[::-1]
        counts = counts[counts > 0]
        axes[1].plot(np.arange(1, len(counts) + 1), counts / counts.sum(), style, ms=3,
                     label=f"{lab}: {len(counts):,} distinct tokens")
        if gg == g:
            break
    axes[1].set(xscale="log", yscale="log", xlabel="rank of the token", ylabel="share of the text",
                title="token frequencies by rank")
    axes[1].legend(fontsize=8)
    return fig
