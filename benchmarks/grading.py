"""Grade 30 chapter-1 submissions (10 solved, 10 half-done, 10 unmodified) and print the seconds per notebook.

    python benchmarks/grading.py [--n 30] [--unsandboxed]

The submissions are written into a temporary folder (one folder per student); the grading is what
``collapse-lab check`` does, on the quick profile.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CH = "01_sampling_loses_the_tails.ipynb"


def submissions(folder: Path, n: int) -> list[Path]:
    sol = json.loads((ROOT / "solutions" / CH).read_text())
    ex = json.loads((ROOT / "exercises" / CH).read_text())
    answers = [i for i, c in enumerate(sol["cells"]) if "### BEGIN SOLUTION" in "".join(c["source"])]
    out = []
    for k in range(n):
        nb = json.loads(json.dumps(ex))
        solved = answers if k % 3 == 0 else answers[: len(answers) // 2] if k % 3 == 1 else []
        for i in solved:
            nb["cells"][i]["source"] = sol["cells"][i]["source"]
        p = folder / f"student{k:02d}" / CH
        p.parent.mkdir(parents=True)
        p.write_text(json.dumps(nb))
        out.append(p)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--unsandboxed", action="store_true")
    a = ap.parse_args()
    os.environ.setdefault("COLLAPSE_LAB_QUIET", "1")
    from collapse_lab.grading import Options, grade_batch
    from collapse_lab.grading.kernel import bwrap_path

    with tempfile.TemporaryDirectory() as tmp:
        paths = submissions(Path(tmp), a.n)
        t0 = time.perf_counter()
        subs = grade_batch(paths, solutions=ROOT / "solutions", options=Options(timeout=300, sandbox=not a.unsandboxed),
                           log=lambda m: None)
        secs = time.perf_counter() - t0
    mode = "unsandboxed" if a.unsandboxed or bwrap_path() is None else "bubblewrap"
    errors = [s.reason for s in subs if s.status != "graded"]
    points = sorted({s.points for s in subs})
    print(f"{a.n} chapter-1 notebooks ({mode}, {os.cpu_count()} cores): {secs:.1f} s, "
          f"{secs / a.n:.2f} s per notebook; scores seen {points}; {len(errors)} errors {errors[:2]}")
    slowest = max(subs, key=lambda s: s.seconds)
    print(f"slowest notebook: {slowest.seconds:.1f} s; fastest: {min(s.seconds for s in subs):.1f} s")


if __name__ == "__main__":
    main()
