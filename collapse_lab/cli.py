"""The ``collapse-lab`` command.

    collapse-lab build-exercises [--check]          exercises/ from solutions/
    collapse-lab check NB.ipynb|DIR [...] [--out DIR] [--csv F] [--wide F] [--feedback DIR] [--canvas F]
                       [--moodle F] [--rubric F] [--similarity DIR] [--jobs N] [--memory MIB]
                                                    grade learners' notebooks against solutions/ (sandboxed, in
                                                    parallel); gradebooks, LMS files, similarity report
    collapse-lab course [--profile P] [--out build] execute the lecture notebooks into build/ (home page, HTML,
                                                    timings); every chapter runs, exit 1 when one failed
    collapse-lab lab [--chapter NN]                 JupyterLab on the course folder (notebooks and exercises)
    collapse-lab bundle --student DIR               what students receive (no solutions/, no answers) into a new folder
    collapse-lab variant --student ID --chapter NN  a student's variant of a chapter and its answers (instructors)
    collapse-lab case --roster ids.txt --out DIR    the capstone's case file per student and the answer key
    collapse-lab run lm --profile quick --generations N --out DIR   a chapter's experiment outside a notebook
    collapse-lab hub --port 8000 --users 30 [--root DIR]   a workshop's JupyterHub on this machine (docs/workshop.md)
    collapse-lab precache --shared DIR [--profile quick]    data sets and the language model's base, read-only for all
    collapse-lab collect --hub-root DIR --chapter 01 --out submissions/   every user's exercise notebook, for check
    collapse-lab return --feedback DIR --hub-root DIR       each student's feedback file into their home
"""
from __future__ import annotations

import argparse
import os
import sys
from importlib import import_module
from pathlib import Path

from .profiles import PROFILES

EXPERIMENTS = ("lm",)


def parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per job (the module docstring lists them)."""
    p = argparse.ArgumentParser(prog="collapse-lab", description="collapse-lab: a course on model collapse")
    sub = p.add_subparsers(dest="cmd", required=True)
    _course_parsers(sub)
    _grading_parsers(sub)
    _workshop_parsers(sub)
    return p


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    try:
        _check_paths(a)
        return COMMANDS[a.cmd](a)
    except (ValueError, TypeError, OSError) as e:  # the user's mistake: say it in one line, no traceback
        print(f"collapse-lab {a.cmd}: error: {e}", file=sys.stderr)
        return 2


def _course_parsers(sub) -> None:
    """What a learner, a lecturer or a maintainer runs on the course itself."""
    b = sub.add_parser("build-exercises", help="write exercises/ from solutions/")
    b.add_argument("--check", action="store_true", help="write nothing; exit 1 when an exercise is stale")
    b.add_argument("--solutions", default="solutions")
    b.add_argument("--exercises", default="exercises")
    b.add_argument("--nbgrader-source", default=None, help="also write the solutions with nbgrader metadata into "
                   "this folder (nbgrader's source/<assignment>)")

    k = sub.add_parser("course", help="execute the lecture notebooks into HTML with a timing table")
    k.add_argument("--profile", choices=PROFILES, default=None, help="default: $COLLAPSE_LAB_PROFILE or standard")
    k.add_argument("--out", default="build")
    k.add_argument("--notebooks", default="notebooks")
    k.add_argument("--only", nargs="*", help="run only notebooks whose name contains one of these")
    k.add_argument("--timeout", type=int, default=3600, help="seconds per cell")

    lab = sub.add_parser("lab", help="open JupyterLab on the course folder (notebooks and exercises side by side)")
    lab.add_argument("--root", default=".", help="the course folder (with notebooks/ and exercises/)")
    lab.add_argument("--chapter", default=None, help="also open this chapter's lecture and exercises, e.g. 02")
    lab.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    lab.add_argument("lab_args", nargs=argparse.REMAINDER, help="further arguments for jupyter lab (after --)")

    u = sub.add_parser("bundle", help="write what students receive (notebooks, exercises, docs; no solutions)")
    u.add_argument("--student", required=True, metavar="DIR", help="a new (or empty) folder")
    u.add_argument("--root", default=".", help="the course folder (with notebooks/ and exercises/)")

    r = sub.add_parser("run", help="run a chapter's experiment outside a notebook (resumable)")
    r.add_argument("experiment", choices=EXPERIMENTS)
    r.add_argument("--profile", choices=(*PROFILES, "gpu"), default=None,
                   help="gpu: chapter 4 sized for ~30 min on one GPU (lm.LM_PROFILES)")
    r.add_argument("--generations", type=int, default=None, help="default: the profile's")
    r.add_argument("--out", required=True, help="folder for metrics, checkpoints and figures")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--setting", default="a", choices=("a", "b", "replace", "mix"),
                   help="lm: 'a' = 'replace' (5 epochs, no real data) or 'b' = 'mix' (10 epochs, 10%% real data)")

    g = sub.add_parser("guide", help="write the chapter facts (times, exercises, objectives, key figures) from "
                       "the notebooks into docs/instructors.md and README.md")
    g.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file disagrees")
    g.add_argument("--root", default=".", help="the course folder")

    y = sub.add_parser("ready", help="check that this machine is ready for a session: libraries, data, the "
                       "language model's base, a kernel")
    y.add_argument("--profile", choices=PROFILES, default="quick")
    y.add_argument("--no-kernel", action="store_true", help="do not start a Jupyter kernel")


def _grading_parsers(sub) -> None:
    """What an instructor runs to grade a class: the grader, a student's variant, the capstone's cases."""
    c = sub.add_parser("check", help="grade learners' notebooks against solutions/ (each in a sandboxed kernel)")
    c.add_argument("notebook", nargs="+", help="notebooks, or folders of them (e.g. submissions/<student>/NN.ipynb)")
    c.add_argument("--reference", default=None, help="grade every notebook against this solution notebook "
                   "(default: the solution of the same name in --solutions)")
    c.add_argument("--solutions", default=None, help="the solutions folder (default: the course's solutions/)")
    c.add_argument("--csv", default=None, help="write the long gradebook: a row per student and exercise")
    c.add_argument("--wide", default=None, help="write the wide gradebook: a row per student, a column per "
                   "exercise, total and max")
    c.add_argument("--feedback", default=None, help="write a Markdown feedback file per student into this folder")
    c.add_argument("--out", default=None, help="write everything into this folder: grades.csv (long), "
                   "gradebook.csv (wide), canvas.csv, moodle.csv, similarity.csv/.html, feedback/, "
                   "written-answers.md and rubric-template.csv")
    c.add_argument("--canvas", default=None, help="write the Canvas gradebook import CSV")
    c.add_argument("--moodle", default=None, help="write the Moodle grade import CSV")
    c.add_argument("--moodle-id", default="Identifier", help="the header of the Moodle CSV's identifier column "
                   "(default Identifier; map it in Moodle's import to username, email address or ID number)")
    c.add_argument("--assignment", action="append", default=[], metavar="NOTEBOOK=COLUMN",
                   help="the LMS column of a notebook, e.g. 01_sampling_loses_the_tails.ipynb='Chapter 1 (1234)' "
                   "(Canvas: 'Name (assignment id)'); repeatable; default: the notebook's name")
    c.add_argument("--rubric", default=None, help="merge the written answers' scores from this CSV (columns "
                   "student, item, score[, comment])")
    c.add_argument("--similarity", default=None, metavar="DIR", help="write similarity.csv and similarity.html "
                   "(pairs of submissions, and submissions and the course's code, above --threshold) into DIR")
    c.add_argument("--threshold", type=float, default=0.6, help="similarity above which a pair is reported "
                   "(0-1, default 0.6)")
    c.add_argument("--jobs", type=int, default=None, help="notebooks graded at once (default: one per core)")
    c.add_argument("--memory", type=float, default=4096, help="MiB of memory per kernel (default 4096); an "
                   "allocation past it fails in the learner's kernel and gives an error row")
    c.add_argument("--profile", choices=PROFILES, default="quick")
    c.add_argument("--timeout", type=float, default=900, help="seconds per cell and per call of a learner's "
                   "function (default 900)")
    c.add_argument("--notebook-timeout", type=float, default=3600, help="seconds per notebook (default 3600)")
    c.add_argument("--unsandboxed", action="store_true", help="run kernels without bubblewrap even when it is "
                   "installed (a submission can then read and change what this user can)")

    v = sub.add_parser("variant", help="a student's variant of a chapter's exercises and its answers")
    v.add_argument("--student", required=True, help="the student id (as the grader sees it: the submission's folder)")
    v.add_argument("--chapter", required=True, help="the chapter, e.g. 01 (salt: $COLLAPSE_LAB_SALT)")

    cs = sub.add_parser("case", help="the capstone's cases: one file per student, or one student's configuration "
                        "(key: $COLLAPSE_LAB_CASE_KEY)")
    who = cs.add_mutually_exclusive_group(required=True)
    who.add_argument("--roster", help="a file of student ids, one a line: writes OUT/<id>/forensics-case.npz and "
                     "OUT/key.csv")
    who.add_argument("--student", help="print this student's configuration")
    cs.add_argument("--out", help="the folder for --roster's case files")


# output folders and files of each command, checked before any work starts: a mistake found after an hour of
# grading or building would lose that hour
OUT_DIRS = {"build-exercises": ("exercises",), "course": ("out",), "run": ("out",),
            "check": ("feedback", "out", "similarity")}
OUT_FILES = {"check": ("csv", "wide", "canvas", "moodle")}


def _check_paths(a) -> None:
    for name in OUT_DIRS.get(a.cmd, ()):
        path = getattr(a, name, None)
        if path is not None and Path(path).exists() and not Path(path).is_dir():
            raise ValueError(f"--{name} {path} is a file; give a folder (it is created if missing)")
    for name in OUT_FILES.get(a.cmd, ()):
        path = getattr(a, name, None)
        if path is not None and Path(path).is_dir():
            raise ValueError(f"--{name} {path} is a folder; give a file name, e.g. {Path(path) / (name + '.csv')}")


def _build_exercises(a) -> int:
    """Write exercises/ from solutions/ (or, with --check, whether they are stale)."""
    from .exercises import build

    changed = build(a.solutions, a.exercises, check=a.check, nbgrader_dir=a.nbgrader_source)
    if a.check:
        if changed:
            print("stale exercises (run `make exercises` and commit):\n" + "\n".join(f"  {x}" for x in changed))
            return 1
        print("exercises are up to date")
    else:
        print("\n".join(f"wrote {x}" for x in changed) or "exercises are up to date")
    return 0


def _course(a) -> int:
    """Execute the lecture notebooks into HTML; exit 1 when one failed."""
    from .course import build

    rows = build(a.notebooks, a.out, profile=a.profile, only=a.only, timeout=a.timeout)
    out = Path(a.out).resolve()
    bad = [r for r in rows if r["status"] != "passed"]
    print(f"\n{len(rows) - len(bad)} of {len(rows)} notebooks ran without error. "
          f"Open {out / 'index.html'} (timings in {out / 'timings.md'}).")
    if bad:
        print(f"FAILED ({len(bad)}):\n" + "\n".join(f"  {r['notebook']}: {r['error']}" for r in bad)
              + f"\n(the executed notebooks in {out} show each error)", file=sys.stderr)
        return 1
    return 0


def _lab(a) -> int:
    """Open JupyterLab on the course folder."""
    from .course import lab_command

    cmd = lab_command(a.root, chapter=a.chapter, extra=[x for x in a.lab_args if x != "--"])
    if a.dry_run:
        print(" ".join(cmd))
        return 0
    import subprocess

    return subprocess.call(cmd)


def _bundle(a) -> int:
    """Write what students receive into a new folder."""
    from .bundle import student

    files = student(a.student, root=a.root)
    print(f"wrote {len(files)} files into {Path(a.student).resolve()} (no solutions/); give students this folder")
    return 0


def _guide(a) -> int:
    """Write the chapter facts of docs/instructors.md and the README (or, with --check, whether they agree)."""
    from . import guide

    if a.check:
        bad = guide.stale(a.root)
        if bad:
            print("out of date with the notebooks (run `collapse-lab guide`):\n"
                  + "\n".join(f"  {x}" for x in bad))
            return 1
        print("the guide and the README agree with the notebooks")
        return 0
    print("\n".join(f"wrote {x}" for x in guide.write(a.root)) or "the guide and the README are up to date")
    return 0


def _ready(a) -> int:
    """Check whether this machine is ready for a session."""
    from . import ready

    checks = ready.run(a.profile, kernel=not a.no_kernel)
    print(ready.report(checks))
    bad = [c.name for c in checks if not c.ok]
    print(f"not ready: {', '.join(bad)}" if bad else "ready")
    return 1 if bad else 0


def _variant(a) -> int:
    """Print a student's variant of a chapter and its answers (for instructors)."""
    from .checks import variants

    v = variants.variant(a.chapter, a.student)
    print(repr(v))
    mod = import_module(f".checks.ch{int(v.chapter)}", __package__)
    for name, value in mod.answers(v).items():
        print(f"  {name}: {value!r}")
    return 0


def _run(a) -> int:
    """Run a chapter's experiment outside a notebook."""
    mod = import_module(f".{a.experiment}", __package__)
    mod.run_experiment(out=a.out, profile=a.profile, generations=a.generations, seed=a.seed, setting=a.setting)
    return 0


def _case(a) -> int:
    """``collapse-lab case``: the capstone's case files for a roster, or one student's configuration."""
    from . import forensics

    if a.student is not None:
        print(f"{a.student}: {forensics.configuration(a.student)}")
        if not os.environ.get(forensics.KEY_ENV):
            print(f"(no ${forensics.KEY_ENV} set: this is the case under the public default key)", file=sys.stderr)
        return 0
    if not a.out:
        print("collapse-lab case --roster needs --out DIR (the folder for the case files)", file=sys.stderr)
        return 2
    try:
        ids = Path(a.roster).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        print(f"cannot read the roster {a.roster}: {e}", file=sys.stderr)
        return 2
    try:
        files, problems = forensics.write_cases(ids, a.out)
    except ValueError as e:
        print(str(e), file=sys.stderr)
        return 2
    for line in problems:
        print(line, file=sys.stderr)
    print(f"wrote {len(files) - 1} case files and the answer key {Path(a.out) / 'key.csv'} (keep it to yourself)")
    return 1 if problems else 0


def _workshop_parsers(sub) -> None:
    """The workshop commands (collapse_lab.hub, collapse_lab.workshop; docs/workshop.md)."""
    h = sub.add_parser("hub", help="start a workshop's JupyterHub on this machine (deploy/jupyterhub)")
    h.add_argument("--port", type=int, default=8000)
    h.add_argument("--ip", default="127.0.0.1", help="0.0.0.0 to serve the room's network (default: this machine only)")
    h.add_argument("--users", default="30", help="a number n (student01..n) or a file of user names, one a line")
    h.add_argument("--root", default="hub", help="the hub's folder: database, logs, home/<user> (default ./hub)")
    h.add_argument("--shared", default=None, help="the read-only folder of `collapse-lab precache` "
                   "(default ROOT/shared)")
    h.add_argument("--course", default=None, help="the course folder (default: this clone)")
    h.add_argument("--profile", choices=PROFILES, default="quick")
    h.add_argument("--cull", type=int, default=3600, help="stop a server idle this many seconds (default 3600)")
    pc = sub.add_parser("precache", help="data sets and the language model's base into a shared read-only folder")
    pc.add_argument("--shared", required=True, help="e.g. /srv/collapse-lab (then `collapse-lab hub --shared` it)")
    pc.add_argument("--profile", choices=PROFILES, default="quick")
    for name, what in (("collect", "gather every user's exercise notebook of a chapter into OUT/<user>/"),
                       ("return", "copy each student's feedback file into their home (feedback/)")):
        x = sub.add_parser(name, help=what)
        x.add_argument("--hub-root", default=None, help="the --root of `collapse-lab hub` (homes in DIR/home)")
        x.add_argument("--homes", default=None, help="or: a folder of one folder per user, e.g. /home")
        x.add_argument("--prefix", default="", help="dropped from home folder names, e.g. jupyter- (TLJH)")
        if name == "collect":
            x.add_argument("--chapter", required=True, help="e.g. 01")
            x.add_argument("--out", required=True, help="e.g. submissions/ (then `collapse-lab check submissions/`)")
            x.add_argument("--course", default=None, help="the course folder (default: this clone)")
        else:
            x.add_argument("--feedback", required=True, help="the folder `collapse-lab check --feedback` wrote")


def _workshop(a) -> int:
    from . import hub, workshop

    if a.cmd == "precache":
        hub.precache(a.shared, a.profile)
        return 0
    if a.cmd == "hub":
        try:
            users = int(a.users) if a.users.isdigit() else [x.strip() for x in Path(a.users).read_text().split()
                                                             if x.strip()]
            env = hub.environment(a.root, a.port, users, hub.password_for(a.root), ip=a.ip, course=a.course,
                                  shared=a.shared, profile=a.profile, cull=a.cull,
                                  admin_password=hub.password_for(a.root, admin=True))
        except (hub.HubError, OSError, ValueError) as e:
            print(f"collapse-lab hub: cannot start: {e}", file=sys.stderr)
            return 2
        return hub.start(env)
    if a.cmd == "collect":
        rows = workshop.collect(a.chapter, a.out, hub_root=a.hub_root, homes_dir=a.homes, prefix=a.prefix,
                                course=a.course)
        print(workshop.table(rows))
        n = sum(r["status"] == "collected" for r in rows)
        print(f"\ncollected {n} of {len(rows)} users into {Path(a.out).resolve()}; grade them with "
              f"`collapse-lab check {a.out}`")
        return 0 if n == len(rows) else 1
    rows = workshop.give_back(a.feedback, hub_root=a.hub_root, homes_dir=a.homes, prefix=a.prefix)
    print(workshop.table(rows))
    return 0 if all(r["status"] == "returned" for r in rows) else 1


def _notebooks(args) -> list[Path]:
    out = []
    for x in args:
        p = Path(x)
        if p.is_dir():
            out += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        else:
            out.append(p)
    return out


def _outputs(a) -> None:
    """Fill in the check command's outputs from ``--out`` (explicit options win), and make and check the folders."""
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        a.csv = a.csv or str(out / "grades.csv")
        a.wide = a.wide or str(out / "gradebook.csv")
        a.canvas = a.canvas or str(out / "canvas.csv")
        a.moodle = a.moodle or str(out / "moodle.csv")
        a.feedback = a.feedback or str(out / "feedback")
        a.similarity = a.similarity or str(out)


def _assignments(items) -> dict:
    out = {}
    for item in items:
        nb, sep, col = item.partition("=")
        if not sep or not nb.strip() or not col.strip():
            raise ValueError(f"--assignment must be NOTEBOOK=COLUMN (e.g. 01_x.ipynb='Chapter 1 (1234)'); got {item!r}")
        out[nb.strip()] = col.strip()
    return out


def _check_arguments(a) -> tuple[dict, list[Path], list[Path]]:
    """The check command's options checked and its output folders made before any grading: (the LMS columns,
    the notebooks, the folders given)."""
    from .grading import gradebook as gb
    from .grading import rubric

    if not a.timeout > 0 or not a.notebook_timeout > 0:
        raise ValueError(f"--timeout and --notebook-timeout must be positive; got {a.timeout:g} and "
                         f"{a.notebook_timeout:g}")
    if a.jobs is not None and a.jobs < 1:
        raise ValueError(f"--jobs must be at least 1; got {a.jobs}")
    if not a.memory >= 64:
        raise ValueError(f"--memory must be at least 64 (MiB); got {a.memory:g}")
    if not 0 < a.threshold <= 1:
        raise ValueError(f"--threshold must be in (0, 1]; got {a.threshold:g}")
    assignments = _assignments(a.assignment)
    _outputs(a)
    for dest in (a.csv, a.wide, a.canvas, a.moodle):
        if dest:
            gb.check_writable(dest)
    for folder in (a.feedback, a.similarity):
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            gb.check_writable(folder)
    if a.rubric:
        rubric.check_readable(a.rubric)
    if a.similarity:
        try:
            import copydetect  # noqa: F401
        except ImportError:
            raise ValueError("the similarity report (--similarity, --out) needs copydetect: pip install "
                             "'copydetect>=0.5' (or the test extra), or leave out --similarity") from None
    if a.reference is not None and not Path(a.reference).is_file():
        raise ValueError(f"--reference {a.reference} is not a file")
    if a.solutions is not None and not Path(a.solutions).is_dir():
        raise ValueError(f"--solutions {a.solutions} is not a folder")
    paths = _notebooks(a.notebook)
    if not paths:
        raise ValueError("no notebooks to grade")
    return assignments, paths, [Path(x) for x in a.notebook if Path(x).is_dir()]


def _write_gradebooks(a, subs: list, assignments: dict) -> None:
    """The check command's gradebooks, LMS files and what the instructor scores by hand (each one asked for)."""
    from .grading import lms, rubric
    from .grading import gradebook as gb

    if a.csv:
        gb.write_long(a.csv, subs)
    if a.wide:
        gb.write_wide(a.wide, subs)
    if a.feedback:
        gb.write_feedback(a.feedback, subs)
    if a.canvas:
        lms.write_canvas(a.canvas, subs, assignments)
    if a.moodle:
        lms.write_moodle(a.moodle, subs, assignments, a.moodle_id)
    if a.out and any(s.written for s in subs):  # what the instructor scores by hand, and a CSV to fill in
        rubric.write_answers(Path(a.out) / "written-answers.md", subs)
        rubric.write_template(Path(a.out) / "rubric-template.csv", subs)


def _check(a) -> int:
    """Exit 0 all passed, 1 some check failed, 2 usage error, 3 some submission could not be graded, 4 the rubric
    CSV had problems (each reported; everything else written)."""
    from .grading import Options, grade_batch, rubric
    from .grading import gradebook as gb

    assignments, paths, folders = _check_arguments(a)
    opts = Options(timeout=a.timeout, notebook_timeout=a.notebook_timeout, profile=a.profile,
                   sandbox=not a.unsandboxed, memory=a.memory, jobs=a.jobs)
    subs: list = []
    problems: list[str] = []

    def done(s):
        subs.append(s)
        print(f"== {s.path} ({s.student})\n{gb.report(s)}\n", flush=True)

    try:
        graded = grade_batch(paths, solutions=a.solutions, reference=a.reference, options=opts,
                             log=lambda m: print(m, file=sys.stderr), on_done=done,
                             root=folders[0] if len(folders) == 1 else None)
        subs[:] = graded
        if a.rubric:
            problems = rubric.merge(a.rubric, subs)
            for line in problems:
                print(f"collapse-lab check: rubric: {line}", file=sys.stderr)
        if a.similarity:
            from .grading import similarity

            found = similarity.report(subs, a.similarity, threshold=a.threshold)
            print(f"similarity: {found} pairs at or above {a.threshold:g} in {Path(a.similarity).resolve()}")
    finally:  # the gradebook is written whatever happened (also after Ctrl-C: the submissions graded so far)
        _write_gradebooks(a, subs, assignments)
    if any(s.status != "graded" for s in subs):
        return 3
    if problems:
        return 4
    return 0 if all(s.all_passed for s in subs) else 1


COMMANDS = {"build-exercises": _build_exercises, "check": _check, "course": _course, "lab": _lab, "bundle": _bundle,
            "guide": _guide, "ready": _ready, "variant": _variant, "case": _case, "run": _run,
            **{name: _workshop for name in ("hub", "precache", "collect", "return")}}


if __name__ == "__main__":
    sys.exit(main())
