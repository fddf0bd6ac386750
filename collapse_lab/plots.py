"""Figures: one house style (colour-blind-safe colours, each series also told apart by line style and marker),
every figure described in words (its text alternative, shown with it in the notebook and on the course site), and
saving every figure into build/ when the course is built headless."""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

FIGDIR_ENV = "COLLAPSE_LAB_FIGDIR"


#: The Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"), without its black (kept for references
#: such as "k--") and its yellow (too light for thin lines on white). tests/test_plots.py checks that these colours
#: stay apart under simulated protanopia, deuteranopia and tritanopia.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
#: Line style and marker paired with each colour, so that series differ without colour too.
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)))
MARKERS = ("o", "s", "^", "D", "v", "P")
#: Attribute of a matplotlib Figure holding the description that :func:`save` gave it.
DESCRIPTION_ATTR = "_collapse_lab_description"
_ON_DESCRIBE = "_collapse_lab_on_describe"


def cycle():
    """The course's property cycle: colour and line style change together (``len(PALETTE)`` entries). Markers are
    not in it, because histograms and filled areas draw from the same cycle and a patch has no marker; use
    :func:`series` for a line with a marker too."""
    from cycler import cycler

    return cycler(color=list(PALETTE)) + cycler(linestyle=list(LINESTYLES))


def series(i: int, marker: bool = True) -> dict:
    """Keyword arguments of ``ax.plot`` for series ``i`` of a figure: its colour, line style and (unless
    ``marker=False``) marker, all from the house cycle, so two series never differ by colour alone."""
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0:
        raise ValueError(f"i must be a series number >= 0; got {i!r:.60}")
    k = int(i) % len(PALETTE)
    kw = {"color": PALETTE[k], "linestyle": LINESTYLES[k]}
    if marker:
        kw.update(marker=MARKERS[k], markevery=0.08)
    return kw


def style() -> None:
    """The course's matplotlib style: readable sizes, light grid, no top/right spines, the colour-blind-safe
    :data:`PALETTE` with a line style per series, and figures shown with their description."""
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.figsize": (7.5, 4.0), "figure.dpi": 100, "savefig.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
        "axes.spines.top": False, "axes.spines.right": False, "font.size": 10, "legend.frameon": False,
        "figure.constrained_layout.use": True, "axes.prop_cycle": cycle(),
    })
    register_display()


def _check_description(description) -> str:
    if not isinstance(description, str) or not description.strip():
        raise ValueError("description must be a non-empty str saying what the figure shows (axes, series) and what "
                         f"to see in it; got {description!r:.60}")
    return " ".join(description.split())


def describe(fig, description: str):
    """Give ``fig`` its text alternative ``description`` (what is plotted and what to see); returns ``fig``.

    Where IPython shows the figure, it then shows it as an image whose alt text is the description, with the
    description in a collapsible caption below it (see :func:`figure_html`); a figure already on screen through an
    explorer (:func:`collapse_lab.widgets.explore`) is updated in place.
    """
    description = _check_description(description)
    if not callable(getattr(fig, "savefig", None)):
        raise TypeError(f"fig must be a matplotlib Figure; got {type(fig).__name__}")
    setattr(fig, DESCRIPTION_ATTR, description)
    register_display()
    callback = getattr(fig, _ON_DESCRIBE, None)
    if callback is not None:
        callback(description)
    return fig


def description(fig) -> str | None:
    """The description :func:`describe` or :func:`save` gave ``fig``, or None."""
    return getattr(fig, DESCRIPTION_ATTR, None)


def save(fig, name: str, description: str):
    """Describe ``fig`` and save it as ``$COLLAPSE_LAB_FIGDIR/name.png`` when that variable is set (``make course``
    sets it).

    ``name`` is a short slug such as ``"ch1-survival"``; ``description`` is the figure's text alternative: what is
    plotted (axes, series) and what to see in it, qualitatively (the code prints the numbers). It becomes the
    image's alt text in the notebook and on the course site, and is written into the PNG file (its "Description"
    text chunk, read back by :func:`read_description`). Returns the path written, or None.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"name must be a short file slug of letters, digits, '-', '_' or '.'; got {name!r}")
    description = _check_description(description)
    if not callable(getattr(fig, "savefig", None)):
        raise TypeError(f"fig must be a matplotlib Figure; got {type(fig).__name__}")
    describe(fig, description)
    d = os.environ.get(FIGDIR_ENV)
    if not d:
        return None
    path = Path(d) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight", metadata={"Title": name, "Description": description})
    return path


def read_description(path) -> str | None:
    """The description :func:`save` wrote into the PNG file ``path``, or None when it has none."""
    from PIL import Image

    with Image.open(path) as im:
        text = getattr(im, "text", None) or im.info
        value = text.get("Description")
    return value if isinstance(value, str) and value.strip() else None


# ------------------------------------------------------------------------------ figures shown with their text
def figure_png(fig) -> bytes:
    """``fig`` as PNG bytes, drawn as the inline backend draws it (tight bounding box; also an empty figure)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def figure_html(png: bytes | str, description: str) -> str:
    """HTML for one figure: the image with ``description`` as its alt text, and the description again in a
    collapsible caption for readers who want it on screen. ``png``: PNG bytes or their base64 text."""
    import base64
    import html

    description = _check_description(description)
    b64 = png if isinstance(png, str) else base64.b64encode(png).decode("ascii")
    text = html.escape(description)
    return (f"<figure class='collapse-lab-figure' style='margin:0'><img src='data:image/png;base64,{b64}' "
            f"alt='{text}' style='max-width:100%'><figcaption><details><summary>Description of the figure</summary>"
            f"<p>{text}</p></details></figcaption></figure>")


def figure_bundle(fig, description: str | None = None, png: bytes | None = None) -> tuple[dict, dict]:
    """The display data of a described figure: ``(data, metadata)`` with ``text/html`` (:func:`figure_html`),
    ``image/png`` (alt text in its metadata) and ``text/plain`` (the description)."""
    import base64

    description = _check_description(description if description is not None else getattr(fig, DESCRIPTION_ATTR))
    b64 = base64.b64encode(figure_png(fig) if png is None else png).decode("ascii")
    data = {"text/html": figure_html(b64, description), "image/png": b64, "text/plain": description}
    return data, {"image/png": {"alt": description}}


def _mimebundle(fig, include=None, exclude=None):
    if getattr(fig, DESCRIPTION_ATTR, None) is None:
        return None  # IPython's own formatters show it, as before
    return figure_bundle(fig)


def register_display() -> bool:
    """In IPython, show described figures with their description (:func:`figure_bundle`); True when registered."""
    try:
        from IPython import get_ipython
        from matplotlib.figure import Figure
    except ImportError:
        return False
    formatter = getattr(getattr(get_ipython(), "display_formatter", None), "mimebundle_formatter", None)
    if formatter is None:  # plain Python, or a shell without rich display
        return False
    formatter.for_type(Figure, _mimebundle)
    return True


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
