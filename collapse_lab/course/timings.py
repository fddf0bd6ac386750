"""The timing table the build keeps: ``course.json`` (every notebook's last row, which orders the next build,
longest first), ``timings.md`` and ``timings.csv`` (seconds and CPU seconds per notebook, and the whole build's)."""
from __future__ import annotations

import csv
import io
import json
import os
import platform
import re
import time
from pathlib import Path

import nbformat


#: seconds per chapter of a standard build on the course's 2-core machine, each notebook alone (docs/compute.md):
#: the order in which a build without a timing table of its own (a fresh clone) starts them. Chapter 3 (one VAE
#: after another on one thread, nothing to split) must start before Chapter 2 (whose work spreads over the cores):
#: it then runs beside the language model's base and Chapter 4, instead of last and alone on one core
MEASURED = {"00": 2, "01": 31, "02": 154, "03": 159, "04": 299, "05a": 101, "05b": 15}


def expected_seconds(path: Path, out: Path, profile: str) -> float:
    """The notebook's seconds in the last build into ``out`` in any profile (this one first), else its seconds in
    :data:`MEASURED`, else the length of its code (a proxy): the build starts the longest notebooks first
    (longest-processing-time order) so that the last one to finish is a short one."""
    try:
        old = json.loads((out / "course.json").read_text())
    except (OSError, ValueError):
        old = {}
    rec = old.get(path.name)
    if isinstance(rec, dict) and isinstance(rec.get("seconds"), (int, float)):
        return float(rec["seconds"]) * (1.0 if rec.get("profile") == profile else 0.5)
    m = re.match(r"\d+[a-z]?", path.stem)
    if m and m.group() in MEASURED:
        return float(MEASURED[m.group()])
    nb = nbformat.read(path, as_version=4)
    return sum(len(c.source) for c in nb.cells if c.cell_type == "code") / 1000


def _previous_records(out: Path, profile: str) -> dict:
    """Rows of earlier builds into the same folder and profile (so ``--only`` keeps the other chapters listed)."""
    f = out / "course.json"
    try:
        old = json.loads(f.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in old.items() if isinstance(v, dict) and v.get("profile") == profile
            and (out / f"{Path(k).stem}.html").exists()}


def _write_records(out: Path, records: dict) -> None:
    (out / "course.json").write_text(json.dumps(records, indent=1, sort_keys=True))


def _write_timings(out: Path, rows: list[dict], wall: float | None = None, cpu: float | None = None,
                   workers: int = 1) -> None:
    """``timings.md`` and ``timings.csv``: seconds (wall clock) and CPU seconds per notebook; ``wall`` and ``cpu``:
    the whole build's (notebooks side by side, so the wall time is less than the sum of the rows)."""
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"
    total, total_cpu = sum(r["seconds"] for r in rows), sum(r.get("cpu", 0.0) for r in rows)
    md = ["| notebook | seconds | CPU seconds | profile | status |", "|---|---:|---:|---|---|"]
    md += [f"| {r['notebook']} | {r['seconds']:.1f} | {r.get('cpu', 0.0):.1f} | {r['profile']} | "
           f"{r['status'] if r['status'] == 'passed' else '**FAILED**: ' + r['error'].replace('|', '/')} |"
           for r in rows]
    md += [f"| **sum of the notebooks** | {total:.1f} | {total_cpu:.1f} | | |", ""]
    if wall is not None and cpu is not None:
        md += [f"The build: {wall:.1f} s of wall clock, {cpu:.1f} s of CPU (the kernels, the language model's base "
               f"and the HTML), {cpu / max(wall, 1e-9):.0%} CPU, {workers} notebook{'s' * (workers != 1)} at once.",
               ""]
    md += [f"Measured on {machine}, {time.strftime('%Y-%m-%d %H:%M')}."]
    (out / "timings.md").write_text("\n".join(md) + "\n")
    if wall is not None and cpu is not None:
        print(f"build: {wall:.1f} s wall, {cpu:.1f} s CPU ({cpu / max(wall, 1e-9):.0%}), {workers} at once; "
              f"sum of the notebooks {total:.1f} s", flush=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["notebook", "seconds", "cpu_seconds", "profile", "status"])
    w.writerows([r["notebook"], r["seconds"], r.get("cpu", 0.0), r["profile"], r["status"]] for r in rows)
    (out / "timings.csv").write_text(buf.getvalue())
