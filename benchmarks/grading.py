"""Grade a class of chapter-1 submissions and print submissions per minute, wall and CPU time.

    python benchmarks/grading.py [--n 30] [--honest] [--jobs N] [--memory MIB] [--unsandboxed]

The submissions are written into a temporary folder (one folder per student): every third solved, every third
half-done, every third unmodified, or all solved with ``--honest``. The grading is what ``collapse-lab check`` does
on the quick profile: ``--jobs`` notebooks at once (default: one per core), each kernel under ``--memory`` MiB.
CPU time is the grader's and all its workers' and kernels' (user + system, sampled from /proc): on a machine shared
with other work the wall time depends on the load, the CPU time much less; both are printed, with the load average at
the start.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CH = "01_sampling_loses_the_tails.ipynb"


def submissions(folder: Path, n: int, honest: bool = False) -> list[Path]:
    sol = json.loads((ROOT / "solutions" / CH).read_text())
    ex = json.loads((ROOT / "exercises" / CH).read_text())
    answers = [i for i, c in enumerate(sol["cells"]) if "### BEGIN SOLUTION" in "".join(c["source"])]
    out = []
    for k in range(n):
        nb = json.loads(json.dumps(ex))
        solved = answers if honest or k % 3 == 0 else answers[: len(answers) // 2] if k % 3 == 1 else []
        for i in solved:
            nb["cells"][i]["source"] = sol["cells"][i]["source"]
        p = folder / f"student{k:03d}" / CH
        p.parent.mkdir(parents=True)
        p.write_text(json.dumps(nb))
        out.append(p)
    return out


TICK = os.sysconf("SC_CLK_TCK")


class CPU(threading.Thread):
    """The CPU seconds (user + system) of this process and every process below it: workers, bubblewrap and the
    kernels inside it. A kernel killed at the end of its notebook is never waited for by this process, so
    ``RUSAGE_CHILDREN`` misses it: its use is sampled from /proc every ``every`` seconds instead (the last
    fraction of a second before a process ends is missed)."""

    def __init__(self, every: float = 0.2):
        super().__init__(daemon=True)
        self.every, self.seen, self.done = every, {}, threading.Event()

    @staticmethod
    def _table() -> dict:
        out = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    stat = Path(f"/proc/{d}/stat").read_text()
                except OSError:
                    continue
                f = stat[stat.rindex(")") + 2:].split()  # after the command name, which may hold spaces
                out[int(d)] = (int(f[1]), (int(f[11]) + int(f[12])) / TICK)  # ppid, utime + stime
        return out

    def sample(self) -> None:
        table, mine, todo = self._table(), set(), [os.getpid()]
        kids: dict = {}
        for pid, (ppid, _) in table.items():
            kids.setdefault(ppid, []).append(pid)
        while todo:
            pid = todo.pop()
            for k in kids.get(pid, []):
                if k not in mine:
                    mine.add(k)
                    todo.append(k)
        for pid in mine:
            self.seen[pid] = max(self.seen.get(pid, 0.0), table[pid][1])

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.sample()

    def seconds(self) -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        return own.ru_utime + own.ru_stime + sum(self.seen.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--honest", action="store_true", help="every submission solved")
    ap.add_argument("--jobs", type=int, default=None, help="notebooks at once (default: one per core)")
    ap.add_argument("--memory", type=float, default=4096, help="MiB per kernel")
    ap.add_argument("--unsandboxed", action="store_true")
    a = ap.parse_args()
    os.environ.setdefault("COLLAPSE_LAB_QUIET", "1")
    from collapse_lab.grading import Options, grade_batch
    from collapse_lab.grading.batch import workers
    from collapse_lab.grading.kernel import bwrap_path

    load = os.getloadavg()[0]
    opts = Options(timeout=300, sandbox=not a.unsandboxed, jobs=a.jobs, memory=a.memory)
    sandboxed = not a.unsandboxed and bwrap_path() is not None
    with tempfile.TemporaryDirectory() as tmp:
        paths = submissions(Path(tmp), a.n, a.honest)
        cpu = CPU()
        c0, t0 = cpu.seconds(), time.perf_counter()
        cpu.start()
        subs = grade_batch(paths, solutions=ROOT / "solutions", options=opts, log=lambda m: None)
        cpu.done.set()
        cpu.join()
        secs, cpu = time.perf_counter() - t0, cpu.seconds() - c0
    mode = "bubblewrap" if sandboxed else "unsandboxed"
    errors = [s.reason for s in subs if s.status != "graded"]
    points = sorted({s.points for s in subs})
    print(f"{a.n} chapter-1 notebooks ({'all solved' if a.honest else 'solved/half/unmodified'}; {mode}; "
          f"{workers(opts, sandboxed, a.n)} at once on {os.cpu_count()} cores; load average {load:.1f} at the start)")
    print(f"  wall {secs:.1f} s = {60 * a.n / secs:.1f} submissions per minute ({secs / a.n:.2f} s each); "
          f"CPU {cpu:.1f} s ({cpu / a.n:.2f} s each)")
    print(f"  scores seen {points}; {len(errors)} errors {errors[:2]}")
    slowest = max(subs, key=lambda s: s.seconds)
    print(f"  one notebook, start to end: slowest {slowest.seconds:.1f} s, fastest {min(s.seconds for s in subs):.1f} s")


if __name__ == "__main__":
    main()
