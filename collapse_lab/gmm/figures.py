"""Figures of 2-D mixtures: plot limits, density contours, and the notebook's explorer."""
from __future__ import annotations


import numpy as np

from .. import validate
from .mixture import _as_mixture, density, _points, TEACHING


# ---------------------------------------------------------------------------------------------------------------
# figures


def extent(ref=TEACHING, pad: float = 3.5) -> tuple[float, float, float, float]:
    """Plot limits ``(x0, x1, y0, y1)`` around a 2-D mixture: every mean +- ``pad`` of its largest sd."""
    pad = validate.number("pad", pad, 0, lo_open=True)
    ref = _as_mixture(ref, "ref")
    if ref.dim != 2:
        raise ValueError(f"ref must be a 2-D mixture; got dimension {ref.dim}")
    sd = np.sqrt(np.linalg.eigvalsh(ref.covs).max(1))[:, None]
    lo, hi = (ref.means - pad * sd).min(0), (ref.means + pad * sd).max(0)
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def plot_density(mix, ax=None, ref=TEACHING, points=None, title: str | None = None, n: int = 160):
    """Density contours of a 2-D mixture ``mix`` (solid) over the reference's (grey, dashed), on ``ax``.

    The contour levels are fixed fractions (1%, 5%, 20%, 50%) of the reference's peak density, so panels of
    different generations are comparable; crosses mark the reference means; ``points`` (m, 2) are scattered lightly.
    """
    import matplotlib.pyplot as plt

    mix, ref = _as_mixture(mix, "mix"), _as_mixture(ref, "ref")
    if ax is not None and not hasattr(ax, "contour"):
        raise validate.ArgumentError(f"ax must be a matplotlib Axes or None; got {type(ax).__name__}")
    if title is not None and not isinstance(title, str):
        raise validate.ArgumentError(f"title must be a str or None; got {type(title).__name__}")
    n = validate.integer("n", n, 2, 2000)
    if points is not None:
        points = validate.array("points", points, ndim=2)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    x0, x1, y0, y1 = extent(ref)
    xx, yy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    top = density(ref, grid).max()
    levels = top * np.array([0.01, 0.05, 0.2, 0.5])
    if points is not None:
        pts = _points(points, 2)
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.25, color="0.5")
    ax.contour(xx, yy, density(ref, grid).reshape(xx.shape), levels=levels, colors="0.6", linestyles="--",
               linewidths=0.8)
    ax.contour(xx, yy, density(mix, grid).reshape(xx.shape), levels=levels, cmap="viridis", linewidths=1.2)
    ax.plot(ref.means[:, 0], ref.means[:, 1], "k+", ms=8)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
    if title:
        ax.set_title(title)
    return ax
