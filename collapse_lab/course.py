"""Execute the course headless: every lecture notebook -> HTML with its figures, plus a timing table."""
from __future__ import annotations

import html
import os
import platform
import time
from pathlib import Path

import nbformat

from .profiles import active_profile
from .runtime import progress


def run_notebook(nb: nbformat.NotebookNode, cwd, env: dict, timeout: int = 3600, allow_errors: bool = False) -> float:
    """Execute ``nb`` in place in a fresh ``python3`` kernel started in ``cwd``, with ``env`` added to the
    kernel's environment; return the seconds it took. The caller's environment is restored afterwards."""
    from nbclient import NotebookClient

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    t0 = time.perf_counter()
    try:
        # interrupt a cell that runs too long instead of giving up on the notebook (matters when grading);
        # the kernel's log level keeps its 'TCP without encryption' warning (local loopback only) off the console
        NotebookClient(nb, timeout=timeout, allow_errors=allow_errors, interrupt_on_timeout=allow_errors,
                       kernel_name="python3", extra_arguments=["--IPKernelApp.log_level=ERROR"],
                       resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return time.perf_counter() - t0


def execute(path, profile: str, figdir=None, timeout: int = 3600) -> tuple[nbformat.NotebookNode, float]:
    """Execute one notebook in its own folder under ``profile``; return the executed notebook and its seconds."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    # quiet: a progress bar saved mid-run in the HTML would look like a hung cell
    env = {"COLLAPSE_LAB_PROFILE": active_profile(profile), "COLLAPSE_LAB_STATIC": "1", "COLLAPSE_LAB_QUIET": "1",
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    if figdir is not None:
        env["COLLAPSE_LAB_FIGDIR"] = str(Path(figdir).resolve())
    return nb, run_notebook(nb, path.parent, env, timeout=timeout)


def build(notebooks_dir="notebooks", out="build", profile: str | None = None, only=None) -> list[dict]:
    """Execute every ``notebooks/*.ipynb`` (or those whose name contains one of ``only``) into ``out``.

    Writes ``out/NN_name.html`` and ``out/NN_name.ipynb`` (executed), figures into ``out/figures/NN_name/``,
    ``out/timings.md`` and ``out/timings.csv`` (notebook, seconds, profile) and ``out/index.html``.
    Returns the timing rows. A notebook that fails stops the build with its error (after writing the timings so far).
    """
    from nbconvert import HTMLExporter

    profile = active_profile(profile)
    src, out = Path(notebooks_dir), Path(out)
    if not src.is_dir():
        raise ValueError(f"notebooks_dir {src} is not a folder")
    paths = sorted(src.glob("[0-9]*.ipynb"))
    if only:
        paths = [p for p in paths if any(o in p.name for o in only)]
    if not paths:
        raise ValueError(f"no notebooks to run in {src} (only={only})")
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    exporter = HTMLExporter()
    try:
        for p in progress(paths, desc=f"course · {profile}", disable=False, leave=True):
            print(f"running {p.name} ({profile}) ...", flush=True)
            nb, secs = execute(p, profile, figdir=out / "figures" / p.stem)
            nbformat.write(nb, out / p.name)
            body, _ = exporter.from_notebook_node(nb)
            (out / f"{p.stem}.html").write_text(body, encoding="utf-8")
            rows.append({"notebook": p.name, "seconds": round(secs, 1), "profile": profile})
            print(f"  {p.name}: {secs:.1f} s", flush=True)
    finally:
        _write_timings(out, rows)
    return rows


def _write_timings(out: Path, rows: list[dict]) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"
    total = sum(r["seconds"] for r in rows)
    md = ["| notebook | seconds | profile |", "|---|---:|---|"]
    md += [f"| {r['notebook']} | {r['seconds']:.1f} | {r['profile']} |" for r in rows]
    md += [f"| **total** | {total:.1f} | |", "", f"Measured on {machine}, {time.strftime('%Y-%m-%d %H:%M')}."]
    (out / "timings.md").write_text("\n".join(md) + "\n")
    (out / "timings.csv").write_text("notebook,seconds,profile\n" + "".join(
        f"{r['notebook']},{r['seconds']},{r['profile']}\n" for r in rows))
    items = "".join(f"<tr><td><a href='{html.escape(Path(r['notebook']).stem)}.html'>{html.escape(r['notebook'])}</a></td>"
                    f"<td>{r['seconds']:.1f}</td><td>{r['profile']}</td></tr>" for r in rows)
    (out / "index.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>collapse-lab</title><h1>collapse-lab: the executed course</h1>"
        f"<table border=1 cellpadding=4><tr><th>notebook</th><th>seconds</th><th>profile</th></tr>{items}"
        f"<tr><td><b>total</b></td><td>{total:.1f}</td><td></td></tr></table><p>Measured on {html.escape(machine)}.</p>")
