"""Interactive explorers: live ipywidgets controls in JupyterLab, one static figure everywhere else.

:func:`explore` draws the figure once with the default of every control and returns it, in both modes, so a cell
can write ``fig = widgets.explore(draw, ...); plots.save(fig, "chN-explore", "what it shows")``. In a live
JupyterLab session it also displays the controls and an output area that redraws on every change. Where no widget
front end runs (nbval, ``make course``, the HTML export, ``COLLAPSE_LAB_STATIC=1``) it shows the one figure. The same
``draw`` serves both.

Accessibility: every control is a labelled drop-down list (a ``<select>`` whose ``<label>`` is the control's name),
operable with the keyboard alone (Tab to it, Space to open the list, arrow keys and Enter to choose; JupyterLab takes
the arrow keys from a closed list to move between cells). ipywidgets' sliders are not used: their handle
has no accessible name. The figure carries its description (:func:`collapse_lab.plots.describe`, or the
``description`` that :func:`collapse_lab.plots.save` gives it) as alt text, followed by the values it was drawn
with, and the description follows every redraw.
"""
from __future__ import annotations

import io
import math
import numbers
import os
from typing import Callable

#: CSS class of an explorer's outer box (the browser test finds explorers by it).
CSS_CLASS = "collapse-lab-explorer"


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


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _plain(x):
    """numpy scalars as python numbers, so widgets (JSON) and labels handle them."""
    return x.item() if hasattr(x, "item") and not isinstance(x, (str, bytes)) else x


def options(name: str, values) -> tuple[list, object]:
    """The options a control offers and its default: ``(options, default)``.

    Numbers are sorted ascending (a slider moves one way), duplicates dropped; anything else keeps the given order
    (a dropdown). The default is always the FIRST value listed, wherever sorting puts it.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be the control's name, a non-empty str (draw's keyword); got {name!r:.60}")
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) == 0:
        raise ValueError(f"control {name!r} must be a non-empty list of values; got {values!r}")
    bad = [v for v in values if getattr(v, "ndim", 0) != 0 or (_is_number(v) and not math.isfinite(v))]
    if bad:
        raise ValueError(f"values of control {name!r} must be single values (finite numbers, str, ...); got "
                         f"{bad[0]!r:.60}")
    values = [_plain(v) for v in values]
    default = values[0]
    if all(_is_number(v) for v in values):
        return sorted(set(values)), default
    seen = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen, default


def control(name: str, values):
    """The ipywidgets control for one list of values: a drop-down list labelled ``name`` (numbers sorted).

    A drop-down, not a slider, for every kind of value: its ``<select>`` is named by its label for screen readers
    and changes with the arrow keys, while the handle of an ipywidgets slider has no accessible name."""
    import ipywidgets as w

    opts, default = options(name, values)
    pairs = [(str(v), v) for v in opts]
    return w.Dropdown(options=pairs, value=default, description=name, style={"description_width": "initial"})


def settings_text(values: dict) -> str:
    """``"Drawn with M = 100, distribution = gaussian."``: the values a figure was drawn with, for its description."""
    return "Drawn with " + ", ".join(f"{k} = {v}" for k, v in values.items()) + "."


def _describe(base: str | None, values: dict) -> str:
    return f"{base} {settings_text(values)}" if base else f"Explorer figure. {settings_text(values)}"


def _figure(result):
    """The figure ``draw`` made: what it returned, or pyplot's current figure when it returned None."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    fig = plt.gcf() if result is None else result
    if not isinstance(fig, Figure):
        raise TypeError(f"draw must return a matplotlib Figure (or None and draw on pyplot); got {type(result).__name__}")
    return fig


def explore(draw: Callable, description: str | None = None, **controls):
    """Draw ``draw(**defaults)``, show it (live: with controls that redraw it) and return that figure.

    Parameters
    ----------
    draw : function of keyword arguments, one per control, that draws one matplotlib figure and returns it.
    description : what the figure shows (axes, series) and what to see, for every setting; the values drawn are
        appended. May be given later instead, by ``plots.save(fig, name, description)`` on the returned figure.
    controls : name -> list of allowed values, the FIRST being the default, e.g. ``M=[100, 20, 1000]``. Each becomes
        a labelled drop-down list (numbers sorted, the default preselected; other values in list order).

    Returns
    -------
    The figure drawn with the defaults (``matplotlib.figure.Figure``), in live and static mode alike. It is already
    on screen: assign it or end the line with ``;`` so it is not shown twice.

    Progress bars of :func:`collapse_lab.runtime.progress` stay silent while drawing (a progress-bar widget closed
    inside the output area would leave a dangling widget there); a status line says what is being drawn.
    """
    if not callable(draw):
        raise TypeError(f"draw must be a function that draws a figure from keyword arguments; got {draw!r}")
    if not controls:
        raise ValueError("explore needs at least one control, e.g. M=[100, 20, 1000]")
    try:
        defaults = {k: options(k, v)[1] for k, v in controls.items()}
    except (TypeError, ValueError) as e:  # the keyword arguments are explore's `controls`
        raise type(e)(f"controls: {e}") from None
    import matplotlib.pyplot as plt

    from .runtime import silence_progress

    if description is not None and (not isinstance(description, str) or not description.strip()):
        raise ValueError("description must be a non-empty str (what the figure shows) or None; got "
                         f"{description!r:.60}")
    if not interactive_available():
        with silence_progress():
            fig = _figure(draw(**defaults))
        _show_static(fig, description, defaults)
        return fig
    return _live(draw, controls, defaults, description)


def _show_static(fig, base, values) -> None:
    """Show the one figure; in IPython as an updatable display, so a description given later by ``plots.save``
    replaces the shown one (the figure is not drawn again by the inline backend)."""
    import matplotlib.pyplot as plt

    from . import plots

    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None  # noqa: N806
    if get_ipython is None or get_ipython() is None:
        plt.show()
        return
    data, meta = plots.figure_bundle(fig, _describe(base, values))
    handle = display(data, metadata=meta, raw=True, display_id=True)
    plt.close(fig)

    def on_describe(text):
        data, meta = plots.figure_bundle(fig, _describe(text, values))
        handle.update(data, metadata=meta, raw=True)

    setattr(fig, plots._ON_DESCRIBE, on_describe)


def _live(draw, controls, defaults, description=None):
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    from . import plots
    from .runtime import silence_progress

    ctrls = {k: control(k, v) for k, v in controls.items()}
    status = w.HTML(value="")
    out = w.Output()
    box = w.VBox([w.HBox(list(ctrls.values()), layout=w.Layout(flex_flow="row wrap")), status, out])
    box.add_class(CSS_CLASS)

    state = {"description": description}

    def publish():
        # One state update replaces the old figure (no flicker, and the state survives a re-render of the page),
        # its alt text and caption the description followed by the values drawn.
        data, meta = plots.figure_bundle(None, _describe(state["description"], state["values"]), png=state["png"])
        out.outputs = ({"output_type": "display_data", "data": data, "metadata": meta},)

    def on_describe(text):
        state["description"] = text
        publish()

    def render(values):
        status.value = "<i>drawing " + ", ".join(f"{k} = {v}" for k, v in values.items()) + " ...</i>"
        try:
            with silence_progress():
                fig = _figure(draw(**values))
        finally:
            status.value = ""
        # A PNG made here, not by the active backend's formatter, so any backend gives an image; closing the
        # figure keeps the inline backend from showing it a second time below the explorer.
        png = io.BytesIO()
        fig.savefig(png, format="png", bbox_inches="tight")
        state.update(png=png.getvalue(), values=dict(values))
        publish()
        setattr(fig, plots._ON_DESCRIBE, on_describe)
        plt.close(fig)
        return fig

    def on_change(_change):
        # Runs in the kernel's comm handler: show an error in the explorer's output instead of losing it.
        try:
            render({k: c.value for k, c in ctrls.items()})
        except Exception:
            from IPython import get_ipython

            ip = get_ipython()
            if ip is None:
                raise
            out.outputs = ()
            with out:
                ip.showtraceback()

    display(box)
    fig = render(defaults)  # an error in the first draw fails the cell, as in static mode
    for c in ctrls.values():
        c.observe(on_change, names="value")
    return fig
