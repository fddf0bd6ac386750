"""The ``collapse-lab`` command.

    collapse-lab build-exercises [--check]          exercises/ from solutions/
    collapse-lab check NB.ipynb [...] [--csv F]     grade learners' notebooks against solutions/
    collapse-lab course [--profile P] [--out build] execute the lecture notebooks into HTML + timings
    collapse-lab run lm --profile quick --generations N --out DIR   a chapter's experiment outside a notebook
"""
from __future__ import annotations

import argparse
import sys
from importlib import import_module
from pathlib import Path

from .profiles import PROFILES

EXPERIMENTS = ("lm",)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="collapse-lab", description="collapse-lab: a course on model collapse")
    sub = p.add_subparsers(dest="cmd", required=True)

    b = sub.add_parser("build-exercises", help="write exercises/ from solutions/")
    b.add_argument("--check", action="store_true", help="write nothing; exit 1 when an exercise is stale")
    b.add_argument("--solutions", default="solutions")
    b.add_argument("--exercises", default="exercises")

    c = sub.add_parser("check", help="execute learners' notebooks and grade them against solutions/")
    c.add_argument("notebook", nargs="+", help="one or more notebooks (e.g. a class's submissions)")
    c.add_argument("--reference", default=None, help="the solution notebook to grade against "
                   "(default: solutions/<same name> beside the notebook's folder, or in the course)")
    c.add_argument("--csv", default=None, help="also write notebook,exercise,passed,feedback rows to this file")
    c.add_argument("--profile", choices=PROFILES, default="quick")
    c.add_argument("--timeout", type=int, default=900, help="seconds per cell")

    k = sub.add_parser("course", help="execute the lecture notebooks into HTML with a timing table")
    k.add_argument("--profile", choices=PROFILES, default=None, help="default: $COLLAPSE_LAB_PROFILE or standard")
    k.add_argument("--out", default="build")
    k.add_argument("--notebooks", default="notebooks")
    k.add_argument("--only", nargs="*", help="run only notebooks whose name contains one of these")

    r = sub.add_parser("run", help="run a chapter's experiment outside a notebook (resumable)")
    r.add_argument("experiment", choices=EXPERIMENTS)
    r.add_argument("--profile", choices=(*PROFILES, "gpu"), default=None,
                   help="gpu: chapter 4 sized for ~30 min on one GPU (lm.LM_PROFILES)")
    r.add_argument("--generations", type=int, default=None, help="default: the profile's")
    r.add_argument("--out", required=True, help="folder for metrics, checkpoints and figures")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--setting", default="a", choices=("a", "b", "replace", "mix"),
                   help="lm: 'a' = 'replace' (5 epochs, no real data) or 'b' = 'mix' (10 epochs, 10%% real data)")

    a = p.parse_args(argv)
    try:
        return _dispatch(a)
    except (ValueError, TypeError, FileNotFoundError) as e:  # the user's mistake: say it in one line, no traceback
        print(f"collapse-lab {a.cmd}: error: {e}", file=sys.stderr)
        return 2


def _dispatch(a) -> int:
    if a.cmd == "build-exercises":
        from .exercises import build

        changed = build(a.solutions, a.exercises, check=a.check)
        if a.check:
            if changed:
                print("stale exercises (run `make exercises` and commit):\n" + "\n".join(f"  {x}" for x in changed))
                return 1
            print("exercises are up to date")
        else:
            print("\n".join(f"wrote {x}" for x in changed) or "exercises are up to date")
        return 0
    if a.cmd == "check":
        from .exercises import grade, report

        import csv

        rows, ok = [], True
        for nb in a.notebook:
            results = grade(nb, timeout=a.timeout, profile=a.profile, reference=a.reference)
            print(f"== {nb}\n{report(results)}\n")
            rows += [(nb, r.exercise, r.passed, r.feedback) for r in results]
            ok &= all(r.passed for r in results)
        if a.csv:
            with open(a.csv, "w", newline="") as f:
                csv.writer(f).writerows([("notebook", "exercise", "passed", "feedback"), *rows])
        return 0 if ok else 1
    if a.cmd == "course":
        from .course import build

        rows = build(a.notebooks, a.out, profile=a.profile, only=a.only)
        out = Path(a.out).resolve()
        print(f"\n{len(rows)} notebooks executed. Open {out / 'index.html'} (timings in {out / 'timings.md'}).")
        return 0
    if a.cmd == "run":
        mod = import_module(f".{a.experiment}", __package__)
        mod.run_experiment(out=a.out, profile=a.profile, generations=a.generations, seed=a.seed, setting=a.setting)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
