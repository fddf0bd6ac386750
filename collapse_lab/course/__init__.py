"""Execute the course headless: every lecture notebook -> HTML with its figures, a timing table and a home page.

The build keeps going when a chapter fails: the failed notebook is still written (executed ``.ipynb`` and HTML, its
error visible), the home page and the timing table mark it failed, and :func:`build` reports it in its rows so the
command line can exit non-zero at the end. Math in every page is rendered by the MathJax copy that the
``jupyter-server-mathjax`` package ships, copied into ``build/mathjax/``: the pages need no network.

One concept per file:

- ``builder``   the build: notebooks side by side, longest first, the language model's base trained once
- ``timings``   the timing table the build keeps (``course.json``, ``timings.md``, ``timings.csv``)
- ``pages``     a notebook as a standalone HTML page, its math rendered offline, readable by everyone
- ``summary``   what a lecture notebook says about itself (title, summary, objectives, time)
- ``home``      the course home page, the instructor guide's page and the measured course map
- ``lab``       the command that opens JupyterLab on the course folder
"""
from __future__ import annotations

from .. import validate  # noqa: F401  (tests reach validate's error type through the course)
from ..runner import MEMORY_PER_NOTEBOOK, build_workers, cpu_now, run_notebook, run_tasks  # noqa: F401
from .builder import STATUSES, build, execute, failed, needs_lm_base, _base_profiles  # noqa: F401
from .home import stages_html, write_home
from .lab import lab_command
from .pages import (A11Y_CSS, MATHJAX_CONFIG, MATHJAX_DIR, install_mathjax, mathjax_source, mathjax_url,
                    notebook_html)
from .summary import describe

__all__ = ["A11Y_CSS", "MATHJAX_CONFIG", "MATHJAX_DIR", "MEMORY_PER_NOTEBOOK", "STATUSES", "build", "build_workers",
           "describe", "execute", "failed", "install_mathjax", "lab_command", "mathjax_source", "mathjax_url",
           "needs_lm_base", "notebook_html", "run_notebook", "stages_html", "write_home"]
