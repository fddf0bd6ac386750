"""Figures: one house style, and saving every figure into build/ when the course is built headless."""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

FIGDIR_ENV = "COLLAPSE_LAB_FIGDIR"


def style() -> None:
    """The course's matplotlib style: readable sizes, light grid, no top/right spines."""
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.figsize": (7.5, 4.0), "figure.dpi": 100, "savefig.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
        "axes.spines.top": False, "axes.spines.right": False, "font.size": 10, "legend.frameon": False,
        "figure.constrained_layout.use": True,
    })


def save(fig, name: str, description: str | None = None):
    """Save ``fig`` as ``$COLLAPSE_LAB_FIGDIR/name.png`` when that variable is set (``make course`` sets it).

    Returns the path written, or None. ``name`` is a short slug such as ``"ch1-survival"``; ``description`` is the
    figure's text alternative: what is plotted (axes, series) and what to see in it.
    """
    if description is not None and (not isinstance(description, str) or not description.strip()):
        raise ValueError(f"description must be a non-empty str saying what the figure shows; got {description!r:.60}")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"name must be a short file slug of letters, digits, '-', '_' or '.'; got {name!r}")
    if not callable(getattr(fig, "savefig", None)):
        raise TypeError(f"fig must be a matplotlib Figure; got {type(fig).__name__}")
    d = os.environ.get(FIGDIR_ENV)
    if not d:
        return None
    path = Path(d) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    return path


def over_generations(history, columns, ax=None, logy: bool = False, label_prefix: str = "", **kwargs):
    """Plot history columns against ``generation`` on one axis; returns the axis.

    ``history``: a :class:`collapse_lab.loop.History` (or any mapping of column name -> 1-D array);
    ``columns``: a column name or list of names.
    """
    if isinstance(columns, str):
        columns = [columns]
    if not (isinstance(history, Mapping) or hasattr(history, "columns")) or isinstance(history, (str, bytes)):
        raise ValueError(f"history must be a loop.History or a mapping column -> values; got {type(history).__name__}")
    if not isinstance(columns, (list, tuple)) or not columns or not all(isinstance(c, str) for c in columns):
        raise ValueError(f"columns must be a column name or a non-empty list of names; got {columns!r:.60}")
    known = list(history.columns) if hasattr(history, "columns") else list(history)
    if "generation" not in known:
        raise ValueError(f"history must have a 'generation' column; its columns are {known}")
    missing = [c for c in columns if c not in known]
    if missing:
        raise ValueError(f"columns must name columns of history ({known}); {missing[0]!r} is not one")
    if ax is not None and not hasattr(ax, "plot"):
        raise ValueError(f"ax must be a matplotlib Axes or None; got {type(ax).__name__}")
    if not isinstance(logy, (bool, np.bool_)):
        raise ValueError(f"logy must be True or False; got {logy!r:.60}")
    if not isinstance(label_prefix, str):
        raise ValueError(f"label_prefix must be a str; got {type(label_prefix).__name__}")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    g = np.asarray(history["generation"])
    for c in columns:
        ax.plot(g, np.asarray(history[c]), label=f"{label_prefix}{c}", **kwargs)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("generation")
    ax.legend()
    return ax
