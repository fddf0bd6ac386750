"""collapse-lab: the helper package of a course on model collapse.

Shumailov et al., "AI models collapse when trained on recursively generated data", Nature 631:755-759 (2024).
Notebooks explain and plot; the reusable, tested logic lives here, one module per concept:

- ``profiles``  sizes of every experiment for the ``quick`` / ``standard`` / ``paper`` profiles
- ``runtime``   seeding, device choice, progress bars
- ``data``      where data files are looked up, and the loaders
- ``loop``      the generational loop (fit -> sample -> next training set) and its data policies;
  ``history`` its per-generation table (``loop.History``)
- ``metrics``   distances and diversity measures shared by the chapters
- ``plots``, ``widgets``  figures and the interactive explorers
- ``checks``    the functions exercise cells call, grouped by chapter
- ``cells``     what a notebook's exercises, check cells and points are (the one reader)
- ``exercises`` exercises/ generated from solutions/
- ``tails``, ``gaussian``, ``gmm``, ``vae``, ``lm``  one module per model family (``lm``: a package of concept files)
- ``reading``, ``guide``, ``ready``  study times from the notebooks, the instructor guide's facts, a room check
- ``cli``       the ``collapse-lab`` command
"""
from importlib import import_module as _import_module

__version__ = "0.1.0"

from .profiles import active_profile, require  # noqa: E402
from .runtime import seed_all, device  # noqa: E402

__all__ = ["__version__", "require", "active_profile", "seed_all", "device"]

_LAZY = {"profiles", "runtime", "data", "loop", "history", "cells", "metrics", "plots", "widgets", "checks", "exercises",
         "tails", "gaussian", "gmm", "vae", "lm", "mitigation", "course", "cli", "stages", "reading", "guide",
         "ready"}


def __getattr__(name):
    # Lazy sub-modules keep `import collapse_lab` fast (torch and transformers load only when a chapter needs them).
    if name in _LAZY:
        return _import_module(f".{name}", __name__)
    raise AttributeError(f"module 'collapse_lab' has no attribute {name!r}")
