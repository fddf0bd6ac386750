"""The chapter's plots: samples per generation, spread / entropy / distance curves, class shares."""
from __future__ import annotations

import numpy as np

from .. import loop, vae
from ..validate import integer as _int, seed as _seed
from .protocol import N_CLASSES, PAPER_SPREAD, PAPER_SPREAD_GENERATIONS


def _history(h):
    if not isinstance(h, loop.History) or "spread" not in h.columns or not h.models:
        raise TypeError("history must be the loop.History that vae.experiment() returns (with its models)")
    return h


def plot_samples(history, n: int = 10, seed: int = 0):
    """A grid of ``n`` samples per kept generation (rows = generations), the same ``z`` for every row."""
    import matplotlib.pyplot as plt

    h, n, seed = _history(history), _int("n", n, 1), _seed("seed", seed)
    gens = sorted(h.models)
    fig, axes = plt.subplots(len(gens), 1, figsize=(n * 0.6, len(gens) * 0.7), squeeze=False)
    for ax, g in zip(axes[:, 0], gens):
        x = vae.sample(h.models[g], n, np.random.default_rng(seed))
        ax.imshow(np.concatenate(list(x), axis=1), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        ax.set_ylabel(f"gen {g}", rotation=0, ha="right", va="center")
    axes[0, 0].set_title("decoded samples per generation (same z in every row)")
    return fig


def plot_curves(history, paper: bool = True):
    """Three panels over generations: latent spread (with the released code's numbers), class entropy, Frechet
    distance."""
    import matplotlib.pyplot as plt

    h = _history(history)
    if not isinstance(paper, bool):
        raise TypeError(f"paper must be True or False (draw the released code's spread); got {paper!r:.60}")
    g = h["generation"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    axes[0].plot(g, h["spread"], "o-", label="ours, per-dimension std averaged")
    if "pooled_spread" in h.columns:
        axes[0].plot(g, h["pooled_spread"], "^-.", label="ours, pooled std")
    if paper:
        axes[0].plot(PAPER_SPREAD_GENERATIONS, PAPER_SPREAD, "s--", color="gray",
                     label="released code (pooled std)")
    axes[0].set(title="latent spread (generation-0 encoder)", ylabel="std of latent means")
    axes[1].plot(g, h["entropy"], "o-", color="C1", label="generated")
    axes[1].axhline(np.log2(N_CLASSES), color="gray", ls=":", label="uniform (log2 10)")
    if "real_entropy" in h.meta:
        axes[1].axhline(h.meta["real_entropy"], color="C1", ls="--", alpha=0.5, label="real held-out digits")
    axes[1].set(title="class entropy of samples", ylabel="bits")
    axes[2].plot(g, h["distance"], "o-", color="C2", label="generated vs held-out")
    if "floor" in h.meta:
        axes[2].axhline(h.meta["floor"], color="gray", ls=":", label="real train vs held-out")
    axes[2].set(title="Frechet distance (classifier features)", ylabel="distance")
    for ax in axes:
        ax.set_xlabel("generation")
        ax.legend()
    return fig


def plot_classes(history):
    """The predicted class histogram of every generation: one group of bars per digit, one bar per generation."""
    import matplotlib.pyplot as plt

    h = _history(history)
    share = np.array([[r[f"share_{k}"] for k in range(N_CLASSES)] for r in h.rows])
    fig, ax = plt.subplots(figsize=(9, 3.5))
    w = 0.8 / len(share)
    cmap = plt.get_cmap("viridis")
    for i, (g, row) in enumerate(zip(h["generation"], share)):
        ax.bar(np.arange(N_CLASSES) + i * w - 0.4 + w / 2, row, w, color=cmap(i / max(len(share) - 1, 1)),
               label=f"gen {g}")
    ax.axhline(1 / N_CLASSES, color="gray", ls=":", label="uniform")
    ax.set(xticks=range(N_CLASSES), xlabel="predicted digit", ylabel="share of samples",
           title="which digits the samples look like, per generation")
    ax.legend(ncol=2, fontsize=8)
    return fig


def plot_generation(history, generation: int, n: int = 24, seed: int = 0):
    """One generation of a run: ``n`` decoded samples (a grid) beside its class shares and the real ones."""
    import matplotlib.pyplot as plt

    h, n, seed = _history(history), _int("n", n, 1, 200), _seed("seed", seed)
    gens = [int(g) for g in h["generation"]]
    if not isinstance(generation, (int, np.integer)) or isinstance(generation, bool) or int(generation) not in gens \
            or int(generation) not in h.models:
        raise ValueError(f"generation must be one of the run's generations with a kept model {sorted(h.models)}; "
                         f"got {generation!r:.60}")
    g = int(generation)
    x = vae.sample(h.models[g], n, np.random.default_rng(seed))
    cols, side, gap = int(np.ceil(n / 3)), h.models[g].side, 2  # a white gap between the digits
    grid = np.zeros((3 * (side + gap), cols * (side + gap)), np.float32)
    for i, img in enumerate(x):
        r, c = divmod(i, cols)
        grid[r * (side + gap):r * (side + gap) + side, c * (side + gap):c * (side + gap) + side] = img
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [1.4, 1]})
    axes[0].imshow(grid, cmap="gray_r", vmin=0, vmax=1)
    axes[0].set(xticks=[], yticks=[], title=f"generation {g}: {n} decoded samples")
    axes[0].grid(False)
    row = h.rows[gens.index(g)]
    k = np.arange(N_CLASSES)
    axes[1].bar(k - 0.2, [row[f"share_{d}"] for d in k], 0.4, color="C0", label=f"generation {g}")
    if "real_share" in h.meta:
        axes[1].bar(k + 0.2, h.meta["real_share"], 0.4, color="white", edgecolor="gray", hatch="//",
                    label="real held-out")
    top = max([0.3] + [row[f"share_{d}"] for d in k])
    axes[1].set(xticks=k, xlabel="predicted digit", ylabel="share", ylim=(0, 1.1 * top),
                title=f"class entropy {row['entropy']:.2f} bits")
    axes[1].legend(fontsize=8)
    return fig
