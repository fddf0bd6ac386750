"""Grade learners' notebooks: run each in its own sandboxed kernel, decide pass or fail in the grader's process.

For every check cell ``checks.chN.name(<expr>)`` of the matching solution notebook (read before any learner code
runs), the grader evaluates ``<expr>`` in the learner's kernel and runs ``collapse_lab.checks.chN.name`` itself,
with a proxy of the learner's function (:mod:`.remote`). What the learner's notebook prints, its own check cells and
anything it does to modules in its kernel do not count.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import collapse_lab
from .. import validate
from ..checks import variants
from ..checks.core import CheckFailed
from ..cells import Exercise, _cells, checks_in, exercises_of, points_of  # noqa: F401 - re-exported
from ..profiles import PROFILES
from ..validate import ArgumentError
from . import remote
from .remote import _needs
from .kernel import Kernel, bwrap_path, probe_bwrap
from .keyless import keyless_package, package_locations, sealed  # noqa: F401 - package_locations re-exported

PACKAGE = Path(collapse_lab.__file__).resolve().parent
MAX_NOTEBOOK_BYTES = 50 * 2**20
SYNTAX = ("SyntaxError", "IndentationError", "TabError")


class BatchStopped(Exception):
    """Unsandboxed, a submission changed the package or a solution on disk: grading stops."""


def _text(name: str, value) -> None:
    if not isinstance(value, str):
        raise ArgumentError(f"{name} must be a str; got {value!r:.60} ({type(value).__name__})")


def _list_of(name: str, value, cls) -> None:
    if not (isinstance(value, list) and all(isinstance(v, cls) for v in value)):
        raise ArgumentError(f"{name} must be a list of {cls.__name__}; got {value!r:.60} ({type(value).__name__})")


@dataclass
class Solution:
    path: Path
    exercises: list[Exercise]
    needs_lm_base: bool = False  # its metadata says its kernel needs the language model's cached base (NEEDS)

    def __post_init__(self):
        self.path = validate.path("path", self.path, kind="file")
        _list_of("exercises", self.exercises, Exercise)
        validate.flag("needs_lm_base", self.needs_lm_base)

    @property
    def max_points(self) -> float:
        return sum(e.points for e in self.exercises)


@dataclass
class Verdict:
    exercise: str
    passed: bool
    points: float
    max_points: float
    message: str
    hint: str = ""

    def __post_init__(self):
        _text("exercise", self.exercise)
        validate.flag("passed", self.passed)
        self.points = validate.number("points", self.points, lo=0)
        self.max_points = validate.number("max_points", self.max_points, lo=0)
        _text("message", self.message)
        _text("hint", self.hint)


@dataclass
class Submission:
    path: Path
    student: str
    notebook: str
    status: str = "graded"  # or "error"
    reason: str = ""
    verdicts: list[Verdict] = field(default_factory=list)
    seconds: float = 0.0
    max_points: float = 0.0
    solution: Solution | None = field(default=None, repr=False)
    identity: object = None  # lms.Identity: who it is from (None: only the student id is known)
    written: list = field(default_factory=list)  # rubric.Written: the answers graded by hand
    flags: list = field(default_factory=list)  # str: what the similarity report found (course code reproduced)

    def __post_init__(self):
        self.path = validate.path("path", self.path)
        _text("student", self.student)
        _text("notebook", self.notebook)
        if not isinstance(self.status, str) or self.status not in ("graded", "error"):
            raise ArgumentError(f"status must be 'graded' or 'error'; got {self.status!r:.60}")
        _text("reason", self.reason)
        _list_of("verdicts", self.verdicts, Verdict)
        self.seconds = validate.number("seconds", self.seconds, lo=0)
        self.max_points = validate.number("max_points", self.max_points, lo=0)
        if self.solution is not None and not isinstance(self.solution, Solution):
            raise ArgumentError(f"solution must be None or a Solution; got {self.solution!r:.60}")

    @property
    def points(self) -> float:
        """The checks' points plus the rubric scores of the written items (unscored: 0)."""
        return sum(v.points for v in self.verdicts) + sum(w.score or 0.0 for w in self.written)

    @property
    def all_passed(self) -> bool:
        return self.status == "graded" and all(v.passed for v in self.verdicts)


# -- notebooks and solutions --------------------------------------------------------------------------------------


@dataclass
class Cell:
    cell_type: str
    source: str
    metadata: dict

    def __post_init__(self):
        _text("cell_type", self.cell_type)
        _text("source", self.source)
        if not isinstance(self.metadata, dict):
            raise ArgumentError(f"metadata must be a dict; got {self.metadata!r:.60} ({type(self.metadata).__name__})")


@dataclass
class Notebook:
    cells: list[Cell]

    def __post_init__(self):
        _list_of("cells", self.cells, Cell)


def read_notebook(text: str) -> Notebook:
    """The cells of a version-4 notebook's JSON text (plain JSON parsing: nbformat's schema machinery is slow to
    import, and the grader needs only the cells). ValueError when it is not one."""
    if not isinstance(text, str):
        raise ArgumentError(f"text must be a str (a notebook's JSON text); got {text!r:.60} ({type(text).__name__})")
    try:
        d = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ArgumentError(f"text must be a notebook's JSON text; it is not JSON ({e})"[:400]) from None
    if not isinstance(d, dict) or d.get("nbformat") != 4 or not isinstance(d.get("cells"), list):
        raise ArgumentError("text must be a version-4 notebook (no nbformat 4 and cells)")
    cells = []
    for c in d["cells"]:
        src = c.get("source", "") if isinstance(c, dict) else None
        if isinstance(src, list) and all(isinstance(s, str) for s in src):
            src = "".join(src)
        md = c.get("metadata", {}) if isinstance(c, dict) else None
        if not isinstance(src, str) or not isinstance(c.get("cell_type"), str) or not isinstance(md, dict):
            raise ArgumentError("text must be a notebook whose cells have a cell_type, source and metadata")
        cells.append(Cell(c["cell_type"], src, md))
    return Notebook(cells)


def _exercise(name: str, ex) -> None:
    """``ex`` must be an :class:`Exercise` (or have its name, chapter, expr and points)."""
    if not (isinstance(getattr(ex, "name", None), str) and getattr(ex, "name").isidentifier()
            and isinstance(getattr(ex, "chapter", None), str) and re.fullmatch(r"ch\d+", ex.chapter)
            and isinstance(getattr(ex, "expr", None), str) and ex.expr.strip()
            and isinstance(getattr(ex, "points", None), (int, float)) and not isinstance(ex.points, bool)):
        raise ArgumentError(f"{name} must be an Exercise (a name, a chapter 'chN', an expr and points); got "
                            f"{ex!r:.80} ({type(ex).__name__})")


#: what a chapter's kernel may need beyond the package, named in its solution notebook's metadata
#: ``{"collapse_lab": {"needs": [...]}}`` (carried into exercises/ by the exercise builder)
NEEDS = {"lm-base": "the language model's cached base (lm.load_base), which graded kernels see read-only"}


def needs_of(metadata: dict) -> set[str]:
    """What a notebook's kernel needs (names in :data:`NEEDS`), from its notebook ``metadata`` (a dict)."""
    if not isinstance(metadata, dict):
        raise ArgumentError(f"metadata must be a dict (a notebook's metadata); got {metadata!r:.60}")
    meta = metadata.get("collapse_lab", {})
    needs = meta.get("needs", []) if isinstance(meta, dict) else []
    if not (isinstance(needs, list) and all(isinstance(n, str) and n in NEEDS for n in needs)):
        raise ValueError(f"metadata collapse_lab.needs must be a list of {sorted(NEEDS)}; got {needs!r:.80}")
    return set(needs)


def load_solution(path) -> Solution:
    """The exercises of the solution notebook at ``path`` (a file), and what its kernel needs (its metadata's
    ``collapse_lab.needs``: the solution's, so a submission whose metadata the student stripped still gets it)."""
    path = validate.path("path", path, kind="file", must_exist=True)
    text = path.read_text(encoding="utf-8")
    nb = read_notebook(text)
    ex = exercises_of(nb)
    if not ex:
        raise ValueError(f"{path} has no check cells (cells calling checks.chN.<name>(...))")
    meta = json.loads(text).get("metadata", {})
    needs = needs_of(meta if isinstance(meta, dict) else {})
    return Solution(path.resolve(), ex, "lm-base" in needs)


def missing_lm_base(profile: str) -> str:
    """Why a notebook loading the language model's base cannot run in a kernel now ('' when it can).

    The kernels see the base's cache read-only: pretraining it there would redo a minute of training per notebook
    and could not be kept. So the grading user caches it once beforehand. ``profile``: one of
    :data:`collapse_lab.profiles.PROFILES`, or None for the active one."""
    if profile is not None and (not isinstance(profile, str) or profile not in PROFILES):
        raise ArgumentError(f"profile must be None or one of {PROFILES}; got {profile!r:.60}")
    from .. import lm

    try:
        if lm.sizes(profile).base is not None:  # a hub id or folder of the user's: from_pretrained finds it or says
            return ""
        path = Path(lm.base_source(profile))
    except Exception as e:  # noqa: BLE001 - an unknown profile: the kernel will say so
        return f"the language model's base cannot be located: {e}"
    if (path / "config.json").is_file() and (path / "tokenizer.json").is_file():
        return ""
    return (f"the language model's base for the {profile} profile is not cached in {path}: as the grading user, "
            f"run once: python -c \"from collapse_lab import lm; lm.ensure_base('{profile}')\" (a minute or two; "
            "or run notebooks/04 once), then grade again")


def check_function(ex: Exercise):
    """The grader's own check function of an exercise (imported now, never reloaded)."""
    _exercise("ex", ex)
    mod = importlib.import_module(f"collapse_lab.checks.{ex.chapter}")
    fn = getattr(mod, ex.name, None)
    if not callable(fn):
        raise ValueError(f"collapse_lab.checks.{ex.chapter} has no check {ex.name!r}")
    return fn


# -- the verdict of one check ---------------------------------------------------------------------------------------


def _split(text: str) -> tuple[str, str]:
    """A check's failure text as (message, hint): the ``hint:`` line with its wrapped continuation lines (indented
    deeper than it) joined into one hint; the other lines are the message."""
    rest, hint, in_hint, indent = [], [], False, 0
    for ln in text.splitlines():
        if not ln.strip():
            continue
        body = ln.lstrip()
        depth = len(ln) - len(body)
        if body.startswith("hint:"):
            in_hint, indent = True, depth
            hint.append(body[len("hint:"):].strip())
        elif in_hint and depth > indent:
            hint.append(body.strip())
        else:
            in_hint = False
            rest.append(ln.rstrip())
    return "\n".join(rest), " ".join(h for h in hint if h)


STORE = "__collapse_lab_answers__"  # the learner's answers as they were right after their check cells


def keep_answer(ex: Exercise) -> str:
    """The code run in the kernel right after the learner's check cell of ``ex``: it keeps the value of the check's
    expression then, so an answer variable that a later exercise reuses (``answer = ...``) is graded as it was."""
    _exercise("ex", ex)
    return (f"try:\n    globals().setdefault({STORE!r}, {{}})[{ex.name!r}] = ({ex.expr})\n"
            "except Exception:\n    pass")


def run_check(check, ex: Exercise, channel, syntax_errors: list[str], kept: bool = False,
              student: str | None = None) -> Verdict:
    """Run one check in this process on the learner's ``ex.expr``. :class:`remote.KernelGone` and
    :class:`remote.OutOfTime` propagate. ``check``: the check function; ``channel``: the kernel's
    :class:`remote.Channel`; ``syntax_errors``: the notebook's syntax errors (a list of str); ``kept``: whether
    the value after the learner's check cell was kept (:func:`keep_answer`)."""
    _needs("check", check, "a check function", "__call__")
    _exercise("ex", ex)
    _needs("channel", channel, "a remote.Channel", "request")
    if not (isinstance(syntax_errors, list) and all(isinstance(e, str) for e in syntax_errors)):
        raise ArgumentError(f"syntax_errors must be a list of str; got {syntax_errors!r:.60}")
    if type(kept) is not bool:
        raise ArgumentError(f"kept must be True or False; got {kept!r:.60} ({type(kept).__name__})")
    def fail(message, hint=""):
        return Verdict(ex.name, False, 0.0, ex.points, message, hint)

    try:
        # the value kept after the learner's check cell, else (no such cell, or it raised) the value now
        fn = remote.evaluate(channel, f"{STORE}[{ex.name!r}] if {ex.name!r} in globals().get({STORE!r}, ()) "
                                      f"else ({ex.expr})" if kept else ex.expr)
    except Exception as e:  # noqa: BLE001 - the learner's NameError etc. (mapped to builtin types)
        msg = f"{type(e).__name__}: {e}"
        if type(e).__name__ == "NameError" and syntax_errors:
            msg = f"SyntaxError in {syntax_errors[0]} (so: {msg})"
        elif type(e).__name__ == "NameError":
            return fail(f"{ex.name} is not written yet: {msg} when the check ran",
                        f"write the cell that defines {ex.expr} (replace `raise NotImplementedError()`), then run "
                        "the notebook from the top")
        return fail(msg, "run your notebook from the top and fix the first error")
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), variants.grading(student):
            check(fn)
    except CheckFailed as e:
        return fail(*_split(str(e)))
    except (remote.KernelGone, remote.OutOfTime):
        raise
    except Exception as e:  # noqa: BLE001 - anything else stops the check: not passed
        return fail(f"the check could not finish on your answer: {type(e).__name__}: {e}")
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    return Verdict(ex.name, True, ex.points, ex.points, lines[0] if lines else "passed")


# -- one submission -------------------------------------------------------------------------------------------------


@dataclass
class Options:
    timeout: float = 900.0  # seconds per cell (and per call of the learner's function)
    notebook_timeout: float = 3600.0  # seconds for a whole notebook
    profile: str = "quick"
    sandbox: bool = True  # inside bubblewrap; False: unsandboxed
    workdir: Path | None = None  # where sandbox folders are made (default: a new temporary folder)
    memory: float | None = 4096.0  # MiB of address space per kernel (RLIMIT_AS); None: no cap
    jobs: int | None = None  # kernels graded at once (None: one per core; unsandboxed: always 1)

    def __post_init__(self):
        # finite: a grading batch always ends (the kernels' sockets and cells get these as time limits)
        self.timeout = validate.number("timeout", self.timeout, lo=0, lo_open=True)
        self.notebook_timeout = validate.number("notebook_timeout", self.notebook_timeout, lo=0, lo_open=True)
        if not isinstance(self.profile, str) or self.profile not in PROFILES:
            raise ArgumentError(f"profile must be one of {PROFILES}; got {self.profile!r:.60}")
        if type(self.sandbox) is not bool:
            raise ArgumentError(f"sandbox must be True or False; got {self.sandbox!r:.60}")
        if self.workdir is not None:
            self.workdir = validate.path("workdir", self.workdir, kind="dir", must_exist=True)
        if self.memory is not None:
            self.memory = validate.number("memory", self.memory, lo=64)
        if self.jobs is not None:
            self.jobs = validate.integer("jobs", self.jobs, lo=1, hi=1024)


THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def kernel_env(profile: str, package_dir: Path | None = None, student: str | None = None,
               threads: int | None = None) -> dict:
    """The kernel's environment: only what it needs, none of the grader's other variables. ``profile``: one of
    :data:`collapse_lab.profiles.PROFILES`; ``package_dir``: the folder holding the keyless ``collapse_lab``
    (:mod:`.keyless`; None: the grader's own package); ``student``: the submission's student id (its variant);
    ``threads``: BLAS/OpenMP threads of the kernel where the grader's environment does not set them (None: the
    libraries' default)."""
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ArgumentError(f"profile must be one of {PROFILES}; got {profile!r:.60}")
    if student is not None and not isinstance(student, str):
        raise ArgumentError(f"student must be None or a str (a student id); got {student!r:.60}")
    if threads is not None:
        threads = validate.integer("threads", threads, lo=1, hi=4096)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", *THREAD_VARS)}
    for var in THREAD_VARS if threads is not None else ():
        env.setdefault(var, str(threads))
    env.setdefault("PATH", "/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env.update({k: v for k, v in os.environ.items() if k.startswith("COLLAPSE_LAB_")})
    first = str(Path(package_dir).resolve()) if package_dir is not None else str(PACKAGE.parent)
    others = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if package_dir is not None:  # no folder that holds the full package
        others = [p for p in others if not (Path(p) / "collapse_lab").exists()]
    env.update(PYTHONPATH=os.pathsep.join(dict.fromkeys([first, *others])), COLLAPSE_LAB_PROFILE=profile,
               COLLAPSE_LAB_STATIC="1", COLLAPSE_LAB_QUIET="1", COLLAPSE_LAB_OFFLINE="1", MPLBACKEND="Agg",
               PYDEVD_DISABLE_FILE_VALIDATION="1", JUPYTER_PLATFORM_DIRS="1")
    env["COLLAPSE_LAB_MODE"] = "graded" if package_dir is not None else env.get("COLLAPSE_LAB_MODE", "self-study")
    env.pop("COLLAPSE_LAB_STUDENT", None)
    env.pop("COLLAPSE_LAB_CASE_KEY", None)  # the capstone's secret (collapse_lab.forensics): the grader's only
    if student is not None:
        env["COLLAPSE_LAB_STUDENT"] = student
    # the base language models cached by the grader's user (lm.cache_dir, without importing lm)
    env.setdefault("COLLAPSE_LAB_CACHE", str(Path.home() / ".cache" / "collapse-lab"))
    return env


def graded_base(profile: str) -> dict:
    """The environment telling a graded kernel where the language model's cached base is (its keyless package
    hashes the trainer's code differently, so it could not find it by itself); {} when there is none."""
    try:
        from .. import lm

        if lm.sizes(profile).base is None and not missing_lm_base(profile):
            return {lm.GRADED_BASE_ENV: str(lm.base_source(profile))}
    except Exception:  # noqa: BLE001 - no base: the chapter's notebook says so in its kernel
        pass
    return {}


def needed_paths() -> list[Path]:
    """What a sandboxed kernel must see (read-only) even under a hidden folder: Python, its packages, the course
    package and its caches."""
    out = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent, PACKAGE}
    out |= {Path(p).resolve() for p in sys.path if p and Path(p).is_dir()}
    out |= {Path(p).resolve() for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    for var in ("COLLAPSE_LAB_CACHE", "COLLAPSE_LAB_DATA"):
        if os.environ.get(var):
            out.add(Path(os.environ[var]).resolve())
    out.add((Path.home() / ".cache" / "collapse-lab").resolve())
    return sorted(p for p in out if p.exists() and p != Path("/"))


def _syntax_error(i: int, content: dict) -> str:
    evalue = str(content.get("evalue", ""))
    m = re.search(r"line (\d+)", evalue)
    msg = re.sub(r"\s*\([^()]*line \d+\)\s*$", "", evalue)
    return f"cell {i + 1}{', line ' + m.group(1) if m else ''}: {msg}"


def run_list(nb, solution: Solution) -> tuple[list[str], list]:
    """The cells the grader runs for the learner's notebook ``nb``: its code cells in order, each check cell of an
    exercise of ``solution`` followed once by :func:`keep_answer`; and for each, its index in ``nb`` (None for the
    grader's own cells)."""
    _cells("nb", nb)
    wanted = {(ex.chapter, ex.name): ex for ex in solution.exercises}
    cells, origin, kept = [], [], set()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        cells.append(cell.source)
        origin.append(i)
        for key in checks_in(cell.source):
            if key in wanted and key not in kept:
                cells.append(keep_answer(wanted[key]))
                origin.append(None)
                kept.add(key)
    return cells, origin


def run_learner_cells(kernel: Kernel, nb, solution: Solution, options: Options, deadline: float):
    """Run the learner's notebook ``nb`` in the started ``kernel`` (:func:`run_list`); returns (its syntax errors,
    why it ran out of memory or '', the names of the exercises whose answers were kept)."""
    cells, origin = run_list(nb, solution)
    replies = kernel.run(cells, options.timeout, deadline)
    syntax = [_syntax_error(i, r) for i, r in zip(origin, replies)
              if i is not None and r.get("status") == "error" and r.get("ename") in SYNTAX]
    hog = next((i for i, r in zip(origin, replies) if i is not None and r.get("ename") == "MemoryError"), None)
    # a MemoryError: the notebook hit the kernel's memory cap
    out_of_memory = "" if hog is None else (f"cell {hog + 1} ran out of memory (the cap is {options.memory:g} MiB "
                                            "per kernel)")
    return syntax, out_of_memory, {ex.name for ex in solution.exercises if keep_answer(ex) in cells}


def grade_notebook(nb, solution: Solution, checks: dict, options: Options, sandbox: Path, hidden=(),
                   needed=(), student: str | None = None, threads: int | None = None) -> tuple[list[Verdict], str]:
    """Run ``nb`` in a kernel in ``sandbox`` and grade it; returns (verdicts, error reason or '').

    ``nb``: the learner's notebook (:func:`read_notebook`); ``solution``: its :class:`Solution`; ``checks``: the
    check function of each exercise by (chapter, name) (:func:`check_function`); ``sandbox``: the kernel's folder;
    ``hidden``, ``needed``: folders hidden from the kernel, and those it must see (lists of paths); ``student``: the
    submission's student id (its variant; None: the self-study defaults); ``threads``: the kernel's BLAS/OpenMP
    threads (:func:`kernel_env`).

    The kernel imports the keyless package (:mod:`.keyless`, made beside ``sandbox``): the reference functions of
    the exercises graded here raise, the checks modules hold no answer, and (sandboxed) no copy of the full package
    is readable."""
    _cells("nb", nb)
    if not isinstance(solution, Solution):
        raise ArgumentError(f"solution must be a Solution (load_solution); got {solution!r:.60}")
    if not (isinstance(checks, dict) and all((ex.chapter, ex.name) in checks for ex in solution.exercises)):
        raise ArgumentError("checks must be a dict holding the check function of every exercise of the solution, "
                            "by (chapter, name)")
    if not isinstance(options, Options):
        raise ArgumentError(f"options must be an Options; got {options!r:.60}")
    sandbox = validate.path("sandbox", sandbox, kind="dir", must_exist=True)
    if student is not None and not isinstance(student, str):
        raise ArgumentError(f"student must be None or a str (a student id); got {student!r:.60}")
    deadline = time.monotonic() + options.notebook_timeout
    refs = [r for ex in solution.exercises for r in getattr(checks[(ex.chapter, ex.name)], "refs", ())]
    pkg = keyless_package(sandbox.parent, refs)
    hidden, needed = sealed(hidden, needed, pkg)
    env = dict(kernel_env(options.profile, pkg, student, threads), **(graded_base(options.profile)
                                                             if solution.needs_lm_base else {}))
    for chapter in sorted({ex.chapter for ex in solution.exercises}):  # e.g. the capstone writes the student's case
        prepare = getattr(importlib.import_module(f"collapse_lab.checks.{chapter}"), "prepare", None)
        if prepare is not None:
            with variants.grading(student):
                prepare(sandbox)
    kernel = Kernel(sandbox, env, bwrap_path() if options.sandbox else None, hidden, needed,
                    memory=None if options.memory is None else int(options.memory * 2**20))
    verdicts: list[Verdict] = []
    reason = out_of_memory = ""
    try:
        kernel.start()
        syntax, out_of_memory, kept = run_learner_cells(kernel, nb, solution, options, deadline)
        channel = kernel.open_channel(options.timeout, deadline)
        try:
            for ex in solution.exercises:
                verdicts.append(run_check(checks[(ex.chapter, ex.name)], ex, channel, syntax, ex.name in kept,
                                          student))
        finally:
            kernel.close_channel(channel)
    except remote.KernelGone as e:
        reason = str(e)
    except remote.OutOfTime:
        reason = f"timed out after {options.notebook_timeout:g} s (--notebook-timeout)"
    finally:
        kernel.stop()
    reason = reason or out_of_memory
    if reason:
        done = {v.exercise for v in verdicts}
        verdicts += [Verdict(ex.name, False, 0.0, ex.points, f"not graded: {reason}") for ex in solution.exercises
                     if ex.name not in done]
    return verdicts, reason



def student_of(path: Path) -> str:
    """The student of a submission at ``path``: read from an LMS download's file name, else its folder's name
    (:func:`.lms.identify`)."""
    from .lms import identify

    return identify(path).student


def __getattr__(name):
    # grade_batch lives in .batch (it imports this module): found here on first use, for the callers of
    # grader.grade_batch, so that either module can be imported first (a worker process unpickles .batch's job)
    if name in ("default_solutions", "grade_batch"):
        from . import batch

        return getattr(batch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
