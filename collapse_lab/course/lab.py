"""The command that opens JupyterLab on the course folder."""
from __future__ import annotations

import re

from .. import validate


def lab_command(root=".", chapter: str | None = None, extra=()) -> list[str]:
    """The command that opens JupyterLab on the course folder ``root`` (``notebooks/`` and ``exercises/`` side by
    side in its file browser); with ``chapter`` (e.g. ``"02"``) it also opens that chapter's lecture and exercises."""
    import importlib.util
    import sys

    root = validate.path("root", root, kind="dir").resolve()
    if not (root / "notebooks").is_dir():
        raise ValueError(f"root must be the course folder (the one with notebooks/); got {root}")
    if not isinstance(extra, (list, tuple)) or not all(isinstance(a, str) for a in extra):
        raise validate.ArgumentError(f"extra must be a list of str (more JupyterLab arguments); got {extra!r:.80}")
    if importlib.util.find_spec("jupyterlab") is None:
        raise ValueError("JupyterLab is not installed here: pip install 'jupyterlab>=4' (or pip install '.[lab]')")
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}"]
    if chapter is not None:
        if not isinstance(chapter, str) or not re.fullmatch(r"\d{1,2}[a-z]?", chapter):
            raise ValueError(f"chapter must be a chapter number such as '02' or '05a'; got {chapter!r}")
        files = [p for sub in ("notebooks", "exercises") for p in sorted((root / sub).glob(f"{chapter}*.ipynb"))]
        if not files:
            raise ValueError(f"chapter {chapter!r}: no notebook notebooks/{chapter}*.ipynb in {root}")
        cmd += [p.relative_to(root).as_posix() for p in files]
    return cmd + list(extra)
