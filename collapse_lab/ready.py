"""Is this machine ready for a class? ``collapse-lab ready`` checks what a session needs, in a few seconds.

Each check prints one line starting with ✓ or ✗ and, when it fails, what to do. The checks: the libraries the
notebooks import, the data sets (MNIST's test files, WikiText-2's validation and test text) found where the course
looks for them, the language model's base cached for the profile, and a Jupyter kernel that starts and imports the
package. Nothing is downloaded or trained.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

LIBRARIES = ("numpy", "scipy", "sklearn", "matplotlib", "torch", "transformers", "ipywidgets", "jupyterlab",
             "nbformat", "nbclient")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _libraries() -> Check:
    missing = []
    for name in LIBRARIES:
        try:
            importlib.import_module(name)
        except ImportError as e:  # a broken install is as bad as a missing one
            missing.append(f"{name} ({e.__class__.__name__})")
    if missing:
        return Check("libraries", False, f"missing {', '.join(missing)}: install with pip install '.[lab]'")
    return Check("libraries", True, ", ".join(LIBRARIES))


def _data() -> list[Check]:
    from . import data

    out = []
    for name, files in (("mnist", list(data.MNIST_FILES["test"])), ("wikitext-2", ["valid.txt", "test.txt"])):
        try:
            out.append(Check(f"data {name}", True, str(data.find(name, files))))
        except data.DataNotFound as e:
            out.append(Check(f"data {name}", False, str(e).splitlines()[0] + " (see docs/data.md)"))
    return out


def _base(profile: str) -> Check:
    from pathlib import Path

    from . import lm

    src = lm.base_source(profile)
    if lm.sizes(profile).base is not None:  # the paper profile loads a hub model: it needs a network or a cache
        return Check(f"language-model base ({profile})", True, f"{src} (loaded from the hub or its cache)")
    if (Path(src) / "config.json").is_file():
        return Check(f"language-model base ({profile})", True, src)
    return Check(f"language-model base ({profile})", False,
                 f"not cached in {src}: run Chapter 4 once, or `collapse-lab course --profile {profile}`, before the "
                 "session (it trains the small base once per machine)")


def _kernel(timeout: float) -> Check:
    try:
        import nbformat
        from nbclient import NotebookClient

        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import collapse_lab; print('ok')")])
        NotebookClient(nb, timeout=timeout, kernel_name="python3").execute()
        text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
        if "ok" not in text:
            return Check("kernel", False, f"the kernel ran but printed {text!r}")
        return Check("kernel", True, "a python3 kernel starts and imports collapse_lab")
    except Exception as e:  # any failure to start or run a kernel means the room is not ready
        return Check("kernel", False, f"{e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}")


def run(profile: str = "quick", kernel: bool = True, timeout: float = 120) -> list[Check]:
    """Every readiness check for ``profile`` ("quick", "standard" or "paper"); ``kernel=False`` skips starting
    a Jupyter kernel. Returns the :class:`Check` results (nothing raises on a failed check)."""
    from .profiles import PROFILES

    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}; got {profile!r}")
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")
    checks = [_libraries(), *_data()]
    checks.append(_base(profile) if checks[0].ok else Check("language-model base", False, "libraries missing"))
    if kernel:
        checks.append(_kernel(timeout))
    return checks


def report(checks: list[Check]) -> str:
    """One line per check: ✓ or ✗, its name and what was found or what to do."""
    return "\n".join(f"{'✓' if c.ok else '✗'} {c.name}: {c.detail}" for c in checks)
