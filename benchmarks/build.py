"""Benchmark: the course build's wall time, CPU time, their ratio and its peak resident memory.

    python benchmarks/build.py [--profile quick|standard|paper] [--only 04 05a] [--workers N] [--empty-cache]
                               [--out DIR]

Runs ``python -m collapse_lab course`` as a child process and measures
- wall: seconds from start to exit;
- CPU: user + system seconds of the build and every process it started (the kernels, the language model's base),
  from ``getrusage(RUSAGE_CHILDREN)``, which counts a process once it has exited and been waited for;
- ratio: CPU / wall (200% = two cores busy all the time);
- peak memory: the largest sum of resident memory over the build's whole process tree, sampled every 0.2 s
  (``psutil``; shared pages are counted once per process, so this errs high).
Then prints the per-notebook table of ``timings.csv``. ``--empty-cache`` points ``COLLAPSE_LAB_CACHE`` at a fresh
folder so the language model's base is trained as on a fresh clone. Other programs running at the same time slow
the wall clock but not the CPU seconds: report both, and the machine's load (printed at the end).
"""
import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of ``proc`` and all its descendants now."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(cmd: list, env: dict, interval: float = 0.2) -> dict:
    """Run ``cmd``; return wall and CPU seconds, their ratio, the peak resident bytes of its tree, its exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    watched = psutil.Process(proc.pid)
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], tree_rss(watched))
            except psutil.Error:
                pass
            stop.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    stop.set()
    sampler.join()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "ratio": cpu / wall, "peak_gb": peak[0] / 2 ** 30, "code": code}


def main(argv=None) -> int:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--profile", choices=("quick", "standard", "paper"), default="quick")
    a.add_argument("--only", nargs="*", default=None, help="notebooks whose name contains one of these")
    a.add_argument("--workers", type=int, default=None, help="notebooks at once (default: the build's own choice)")
    a.add_argument("--empty-cache", action="store_true", help="train the language model's base as on a fresh clone")
    a.add_argument("--out", default=None, help="build folder (default: a temporary one)")
    args = a.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        a.error(f"--workers must be >= 1; got {args.workers}")
    out = Path(args.out or tempfile.mkdtemp(prefix=f"collapse-lab-build-{args.profile}-"))
    env = dict(os.environ)
    if args.workers is not None:
        env["COLLAPSE_LAB_WORKERS"] = str(args.workers)
    if args.empty_cache:
        env["COLLAPSE_LAB_CACHE"] = tempfile.mkdtemp(prefix="collapse-lab-cache-")
    cmd = [sys.executable, "-m", "collapse_lab", "course", "--profile", args.profile, "--out", str(out)]
    if args.only:
        cmd += ["--only", *args.only]
    load0 = os.getloadavg()[0]
    r = measure(cmd, env)
    load1 = os.getloadavg()
    print(f"\nbuild ({args.profile}{', only ' + ' '.join(args.only) if args.only else ''}): "
          f"wall {r['wall']:.1f} s, CPU {r['cpu']:.1f} s, CPU/wall {r['ratio']:.0%}, "
          f"peak resident memory {r['peak_gb']:.2f} GB, exit code {r['code']}")
    timings = out / "timings.csv"
    if timings.is_file():
        rows = list(csv.DictReader(timings.open()))
        print(f"{'notebook':42s} {'seconds':>8s} {'CPU s':>8s}  status")
        for row in rows:
            print(f"{row['notebook']:42s} {float(row['seconds']):8.1f} {float(row.get('cpu_seconds') or 0):8.1f}  "
                  f"{row['status']}")
    print(f"{psutil.cpu_count()} cores; load average {load0:.1f} at the start, {load1[0]:.1f} / {load1[1]:.1f} "
          "(1 / 5 min) at the end: a load above the cores means other programs shared them")
    return r["code"]


if __name__ == "__main__":
    sys.exit(main())
