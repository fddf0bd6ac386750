"""Interactive explorers that degrade to a static figure where no widget front end exists.

:func:`explore` always draws the figure once with the first value of every control, so nbval, ``make course`` and
the HTML export show a real figure; in a live JupyterLab session it then adds sliders that redraw.
``COLLAPSE_LAB_STATIC=1`` (set by ``make test`` and ``make course``) turns the sliders off.
"""
from __future__ import annotations

import os
from typing import Callable


def interactive_available() -> bool:
    """True in a live IPython kernel with ipywidgets installed and ``COLLAPSE_LAB_STATIC`` unset."""
    if os.environ.get("COLLAPSE_LAB_STATIC", "") not in ("", "0"):
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def explore(draw: Callable, **controls):
    """Draw ``draw(**values)`` once with the first option of each control, then add live controls if possible.

    Parameters
    ----------
    draw : function of keyword arguments that draws one matplotlib figure (and may return it).
    controls : name -> list of allowed values (a dropdown / selection slider), e.g. ``M=[10, 100, 1000]``.

    Returns
    -------
    The ipywidgets ``interactive`` object in live mode, else the static figure ``draw`` returned.
    """
    if not callable(draw):
        raise TypeError("draw must be a function that draws a figure from keyword arguments")
    for k, v in controls.items():
        if isinstance(v, (str, bytes)) or not hasattr(v, "__len__") or len(v) == 0:
            raise ValueError(f"control {k!r} must be a non-empty list of values; got {v!r}")
    if not interactive_available():
        import matplotlib.pyplot as plt

        fig = draw(**{k: v[0] for k, v in controls.items()})
        plt.show()
        return fig
    import ipywidgets as w

    def slider(name, values):
        values = list(values)
        if all(isinstance(x, (int, float)) for x in values):
            return w.SelectionSlider(options=values, value=values[0], description=name, continuous_update=False)
        return w.Dropdown(options=values, value=values[0], description=name)

    return w.interactive(draw, **{k: slider(k, v) for k, v in controls.items()})
