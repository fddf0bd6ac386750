"""The build: every lecture notebook executed in its own kernel, side by side, longest first; the language model's
base trained once, in a process of its own, before the notebooks that load it."""
from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
import time
from pathlib import Path

import nbformat

from .. import validate
from ..profiles import active_profile
from ..runner import build_workers, cpu_now, run_notebook, run_tasks
from ..runtime import progress
from .home import write_home
from .pages import install_mathjax, notebook_html
from .summary import _notebook
from .timings import expected_seconds, _previous_records, _write_records, _write_timings

STATUSES = ("passed", "failed")


def _course_env(profile: str, figdir=None) -> dict:
    # quiet: a progress bar saved mid-run in the HTML would look like a hung cell
    env = {"COLLAPSE_LAB_PROFILE": active_profile(profile), "COLLAPSE_LAB_STATIC": "1", "COLLAPSE_LAB_QUIET": "1",
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    if figdir is not None:
        env["COLLAPSE_LAB_FIGDIR"] = str(Path(figdir).resolve())
    return env


def execute(path, profile: str, figdir=None, timeout: int = 3600) -> tuple[nbformat.NotebookNode, float]:
    """Execute one notebook in its own folder under ``profile``; return the executed notebook and its seconds.
    A failing cell raises (nbclient's ``CellExecutionError``); the notebook passed in keeps the outputs so far."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    return nb, run_notebook(nb, path.parent, _course_env(profile, figdir), timeout=timeout)


def needs_lm_base(nb) -> str | None:
    """Which language-model base a lecture notebook loads: ``"chapter"`` (the profile's own, through ``lm.``),
    ``"table"`` (the policy table's language-model row or sweep, in the table's profile) or None."""
    code = "\n".join(c.source for c in _notebook("nb", nb).cells if c.cell_type == "code")
    if re.search(r"\blm\.\w+\(", code):
        return "chapter"
    if re.search(r"\b(policy_table|fraction_sweep)\(", code):
        return "table"
    return None


def _base_profiles(profile: str, kinds: set) -> list[str]:
    from ..mitigation import sizes as mitigation_sizes

    profs = [profile] if "chapter" in kinds else []
    if "table" in kinds:
        profs.append(mitigation_sizes(profile).table_profiles.get("lm", profile))
    return sorted(set(profs))


def _train_base(profiles: list[str], env: dict) -> dict:
    """Train (or find cached) the language model's base of each of ``profiles`` in a child process, under the file
    lock of ``lm.base_ready``; return ``{"seconds", "cpu", "status", "error"}``."""
    import subprocess
    import sys

    code = "import sys\nfrom collapse_lab import lm\nfor p in sys.argv[1:]:\n    print(lm.base_ready(p))"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *profiles], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, ru = os.wait4(proc.pid, 0)  # wait4: the child's own CPU time, not the other children's
    proc.returncode = os.waitstatus_to_exitcode(status)
    error = "" if proc.returncode == 0 else (out.strip().splitlines() or ["exit code %d" % proc.returncode])[-1]
    return {"seconds": round(time.perf_counter() - t0, 1), "cpu": round(ru.ru_utime + ru.ru_stime, 1),
            "status": "failed" if error else "passed", "error": error}


def build(notebooks_dir="notebooks", out="build", profile: str | None = None, only=None,
          timeout: int = 3600, workers: int | None = None) -> list[dict]:
    """Execute every ``notebooks/*.ipynb`` (or those whose name contains one of ``only``) into ``out``.

    Writes ``out/NN_name.html`` and ``out/NN_name.ipynb`` (executed), figures into ``out/figures/NN_name/``,
    ``out/timings.md`` and ``out/timings.csv`` (notebook, seconds, CPU seconds, profile, status), the exercises as
    HTML in ``out/exercises/``, the instructor guide as ``out/instructors.html`` (when ``docs/instructors.md``
    exists beside ``notebooks_dir``) and the course home page ``out/index.html``.

    Notebooks run side by side, each in its own kernel, on ``workers`` at once (default :func:`build_workers`),
    longest first (by the previous build's seconds in ``out``, else the measured table of
    :mod:`~collapse_lab.course.timings`). The language model's base is trained first, once,
    in a process of its own (beside the notebooks that do not need it); the notebooks that load it start after it.

    A chapter that fails does not stop the build: its executed notebook and HTML are written with the error
    visible (and a banner at the top of the page), its row has ``status == "failed"`` and ``error`` (the first line
    of the error and the failing cell's number). Returns one row per notebook run, in notebook order:
    ``{"notebook", "seconds", "cpu", "profile", "status", "error"}``. ``timeout``: seconds per cell.
    """
    profile = active_profile(profile)
    src, out = Path(notebooks_dir), Path(out)
    paths = _notebooks(src, only)
    n = build_workers(len(paths), profile) if workers is None else validate.integer("workers", workers, 1, 1024)
    out.mkdir(parents=True, exist_ok=True)
    install_mathjax(out)
    records = _previous_records(out, profile)
    needs = {p: needs_lm_base(nbformat.read(p, as_version=4)) for p in paths}
    base_profiles = _base_profiles(profile, {k for k in needs.values() if k})
    t0, ru0 = time.perf_counter(), cpu_now()
    rows: dict = {}
    bar = progress(total=len(paths), desc=f"course · {profile} · {n} at once", disable=False, leave=True)
    tasks = [("base", (), math.inf)] if base_profiles else []
    tasks += [(p, ("base",) if needs[p] else (), expected_seconds(p, out, profile)) for p in paths]
    try:
        run_tasks(tasks, n, _runner(out, profile, timeout, base_profiles, rows, records, bar))
    finally:
        bar.close()
        ordered = [rows[p.name] for p in paths if p.name in rows]
        ru1 = cpu_now()
        _write_timings(out, ordered, wall=time.perf_counter() - t0, cpu=ru1 - ru0, workers=n)
        write_home(src, out, profile, records)
    return ordered


def _notebooks(src: Path, only) -> list[Path]:
    """The lecture notebooks ``src/NN*.ipynb`` to run: those whose name contains one of ``only`` (default all)."""
    if not src.is_dir():
        raise ValueError(f"notebooks_dir {src} is not a folder (run from the course folder, or pass --notebooks)")
    if only is not None and (isinstance(only, str) or not all(isinstance(o, str) for o in only)):
        raise TypeError(f"only must be a list of strings; got {only!r}")
    paths = sorted(src.glob("[0-9]*.ipynb"))
    if only:
        paths = [p for p in paths if any(o in p.name for o in only)]
    if not paths:
        raise ValueError(f"no notebooks to run in {src} (only={only})")
    return paths


def _runner(out: Path, profile: str, timeout: int, base_profiles: list, rows: dict, records: dict, bar):
    """``run(task)`` for :func:`~collapse_lab.runner.run_tasks`: the base (``"base"``) or one notebook (a path),
    whose row goes into ``rows`` and ``records`` (written to the timing table at once, under a lock)."""
    import threading

    lock = threading.Lock()

    def run(task):
        if task == "base":
            print(f"language-model base ({', '.join(base_profiles)}): training it if it is not cached ...",
                  flush=True)
            r = _train_base(base_profiles, _course_env(profile))
            print(f"  language-model base: {r['seconds']:.1f} s, CPU {r['cpu']:.1f} s" + (
                "" if r["status"] == "passed" else f"  FAILED: {r['error']}"), flush=True)
            return
        print(f"running {task.name} ({profile}) ...", flush=True)
        row = _build_one(task, out, profile, timeout)
        with lock:
            rows[task.name] = records[task.name] = row
            _write_records(out, records)
            bar.update(1)
        print(f"  {task.name}: {row['seconds']:.1f} s, CPU {row['cpu']:.1f} s" + (
            "" if row["status"] == "passed" else f"  FAILED: {row['error']}"), flush=True)

    return run


def _build_one(path: Path, out: Path, profile: str, timeout: int) -> dict:
    figdir = out / "figures" / path.stem
    if figdir.is_dir():  # figures of an earlier build must not pass for this one's
        shutil.rmtree(figdir)
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    error, usage = "", {}
    try:
        run_notebook(nb, path.parent, _course_env(profile, figdir), timeout=timeout, usage=usage)
    except Exception as e:  # noqa: BLE001 - any failure of a chapter is reported, and the build goes on
        error = _describe_failure(nb, e)
    secs = time.perf_counter() - t0
    nbformat.write(nb, out / path.name)
    page = nb
    if error:
        page = nbformat.from_dict(json.loads(json.dumps(nb)))  # the banner goes into the HTML only
        page.cells.insert(0, nbformat.v4.new_markdown_cell(
            f"<div style='border:2px solid #c0392b;padding:8px;background:#fdecea'><b>This chapter failed in the "
            f"{profile} profile:</b> {html.escape(error)}. The error is shown below the failing cell; the cells "
            "after it did not run.</div>"))
    (out / f"{path.stem}.html").write_text(notebook_html(page), encoding="utf-8")
    return {"notebook": path.name, "seconds": round(secs, 1), "cpu": round(usage.get("cpu", 0.0), 1),
            "profile": profile, "status": "failed" if error else "passed", "error": error}


def _describe_failure(nb, exc: Exception) -> str:
    """One line: the failing cell's number and the error's first line (from the notebook's error output)."""
    for i, cell in enumerate(nb.cells):
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                first = f"{o.get('ename', '')}: {o.get('evalue', '')}".strip(": ").splitlines()
                return f"cell {i + 1}: {first[0] if first else 'error'}"
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def failed(rows: list[dict]) -> list[dict]:
    """The rows of chapters that failed."""
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, dict) for r in rows):
        raise validate.ArgumentError(f"rows must be a list of dicts (the rows build() returns); got {rows!r:.80}")
    return [r for r in rows if r.get("status") != "passed"]
