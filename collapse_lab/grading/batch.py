"""Grade a class: match each submission to its chapter and student, then grade the notebooks in parallel, each in
its own sandboxed kernel under a memory cap, one worker process per kernel.

What the grader trusts (the solutions, their exercises and written items) is read in this process before any learner
code runs; each worker imports the check functions from the installed package (read-only to the sandboxed kernels)
and grades one notebook at a time with :func:`.grader.grade_notebook`.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import multiprocessing
import os
import pkgutil
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path

from .. import validate
from ..validate import ArgumentError
from . import lms, rubric
from .grader import (MAX_NOTEBOOK_BYTES, PACKAGE, Options, Solution, Submission, Verdict, check_function,
                     grade_notebook, load_solution, missing_lm_base, needed_paths, read_notebook)
from .kernel import bwrap_path, probe_bwrap



def default_solutions() -> Path:
    """The course's solutions/: beside the installed package (a checkout), else ./solutions."""
    here = PACKAGE.parent / "solutions"
    return here if here.is_dir() else Path("solutions").resolve()


def _digest(paths) -> dict[str, str]:
    out = {}
    for p in paths:
        p = Path(p)
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
        for f in files:
            try:
                out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
            except OSError:
                out[str(f)] = "unreadable"
    return out  # a new or deleted file is a new or missing key


def _changed(before: dict, after: dict) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _preimport_package() -> None:
    """Unsandboxed, load every module of the package now, so nothing is imported from disk after learner code ran."""
    for m in pkgutil.walk_packages([str(PACKAGE)], "collapse_lab."):
        if m.name.rsplit(".", 1)[-1] == "__main__":  # `python -m collapse_lab`: importing it runs the command line
            continue
        try:
            importlib.import_module(m.name)
        except Exception:  # noqa: BLE001 - an optional dependency missing: that module cannot be used anyway
            pass


# -- which chapter ---------------------------------------------------------------------------------------------------


def solution_index(folder) -> dict[str, Path]:
    """The solution notebook of each chapter in ``folder`` (a folder), by the chapter in its metadata
    (:func:`.lms.chapter_of`); notebooks without one are left out. ValueError when two claim one chapter."""
    folder = validate.path("folder", folder, kind="dir", must_exist=True)
    out: dict[str, Path] = {}
    for p in sorted(folder.glob("*.ipynb")):
        try:
            meta = json.loads(p.read_text(encoding="utf-8")).get("metadata", {})
            chapter = lms.chapter_of(meta if isinstance(meta, dict) else {})
        except (OSError, ValueError, AttributeError):
            continue
        if chapter is None:
            continue
        if chapter in out:
            raise ValueError(f"solutions {out[chapter].name} and {p.name} both say chapter {chapter!r} in their "
                             "metadata (collapse_lab.chapter)")
        out[chapter] = p.resolve()
    return out


def match(metadata: dict, ident: lms.Identity, file_name: str, folder: Path, index: dict) -> Path | str:
    """The solution a submission is graded against, or why there is none (a str).

    In order: the chapter in the notebook's ``metadata`` (looked up in ``index``, :func:`solution_index`); the
    solution of the same file name in ``folder``; the solution of the file name the student uploaded (an LMS
    download renames the file; ``ident.original``)."""
    chapter = lms.chapter_of(metadata)
    if chapter is not None:
        if chapter in index:
            return index[chapter]
        return (f"no matching chapter: the notebook's metadata says chapter {chapter!r}, which has no solution in "
                f"{folder} (chapters: {', '.join(sorted(index)) or 'none'})")
    for name in dict.fromkeys([file_name, ident.original]):
        if name and (folder / name).is_file():
            return folder / name
    return (f"no matching chapter: no chapter in the notebook's metadata and no solution {file_name} in {folder}"
            + (f" (nor {ident.original}, the uploaded name)" if ident.original not in ("", file_name) else ""))


# -- one notebook in a worker ------------------------------------------------------------------------------------------


@dataclass
class Job:
    """One notebook to grade: its text, file name, :class:`Solution` and where its sandbox folder goes."""
    text: str
    name: str
    solution: Solution
    options: Options
    box: Path
    hidden: list
    needed: list
    student: str | None = None  # the submission's student id: their variant of the parameterised items
    threads: int | None = None  # BLAS/OpenMP threads of its kernel (None: the grader's environment decides)


_CHECKS: dict = {}  # a worker's check functions by (chapter, name), imported once per worker


def grade_job(job: Job) -> tuple[list[Verdict], str, float]:
    """Grade ``job``'s notebook in a kernel in a new sandbox folder ``job.box`` (removed after); returns
    (verdicts, error reason or '', seconds)."""
    if not isinstance(job, Job):
        raise ArgumentError(f"job must be a batch.Job; got {job!r:.60} ({type(job).__name__})")
    t0 = time.monotonic()
    sol = job.solution
    job.box.mkdir(parents=True)
    try:
        for ex in sol.exercises:
            if (ex.chapter, ex.name) not in _CHECKS:
                _CHECKS[(ex.chapter, ex.name)] = check_function(ex)
        (job.box / job.name).write_text(job.text, encoding="utf-8")
        try:
            verdicts, reason = grade_notebook(read_notebook(job.text), sol, _CHECKS, job.options, job.box,
                                              job.hidden, job.needed, job.student, job.threads)
        except Exception as e:  # noqa: BLE001 - the grader's own failure on this notebook: report, go on
            verdicts = [Verdict(ex.name, False, 0.0, ex.points, "not graded") for ex in sol.exercises]
            reason = f"grader error: {type(e).__name__}: {e}"
    finally:
        shutil.rmtree(job.box, ignore_errors=True)
    return verdicts, reason, time.monotonic() - t0


def workers(options: Options, sandboxed: bool, n: int) -> int:
    """How many kernels grade at once: ``options.jobs``, else one per core; 1 unsandboxed (the files are checked
    after each submission) or for one notebook (``n``)."""
    if not sandboxed:
        return 1
    want = options.jobs or os.cpu_count() or 1
    return max(1, min(want, n))


# -- a batch -------------------------------------------------------------------------------------------------------------


def _validate(paths, solutions, reference, options, log, on_done, root) -> Options:
    if not isinstance(paths, (list, tuple)):
        raise ArgumentError(f"paths must be a list or tuple of notebook paths; got {paths!r:.60} "
                            f"({type(paths).__name__})")
    for i, p in enumerate(paths):
        validate.path(f"paths[{i}]", p)
    if solutions is not None:
        validate.path("solutions", solutions, kind="dir", must_exist=True)
    if reference is not None:
        validate.path("reference", reference, kind="file", must_exist=True)
    if root is not None:
        validate.path("root", root, kind="dir")
    if options is not None and not isinstance(options, Options):
        raise ArgumentError(f"options must be None or an Options; got {options!r:.60} ({type(options).__name__})")
    if not callable(log):
        raise ArgumentError(f"log must be a function (of one message); got {log!r:.60}")
    if on_done is not None and not callable(on_done):
        raise ArgumentError(f"on_done must be None or a function (of one Submission); got {on_done!r:.60}")
    return options or Options()


def _read(subs, reference, sols_dir, root) -> tuple[dict, dict]:
    """Read every submission and the solutions they need (before any learner code runs); fills in each
    Submission's identity, notebook (its chapter's solution name), solution, written items and max points, or
    its error. Returns (text by submission id, Solution by path)."""
    texts, sols, written = {}, {}, {}
    index = solution_index(sols_dir) if reference is None and sols_dir.is_dir() else {}
    seen = set()
    for s in subs:
        s.identity = lms.identify(s.path, root)
        s.student = s.identity.student
        try:
            if s.path.stat().st_size > MAX_NOTEBOOK_BYTES:
                raise ValueError(f"larger than {MAX_NOTEBOOK_BYTES >> 20} MB")
            text = s.path.read_text(encoding="utf-8")
            read_notebook(text)
            meta = json.loads(text).get("metadata", {})
        except FileNotFoundError:
            s.status, s.reason = "error", "no such file"
            continue
        except Exception as e:  # noqa: BLE001 - whatever the file holds
            s.status, s.reason = "error", f"not a notebook (not readable as notebook JSON: {str(e)[:200]})"
            continue
        ref = Path(reference) if reference is not None else match(meta if isinstance(meta, dict) else {},
                                                                    s.identity, s.path.name, sols_dir, index)
        if isinstance(ref, str):
            s.status, s.reason = "error", ref
            continue
        s.notebook = ref.name
        key = (s.student, ref.name)
        if key in seen:
            s.status, s.reason = "error", f"a second submission of {ref.name} for student {s.student}"
            continue
        seen.add(key)
        try:
            if ref not in sols:
                sols[ref] = load_solution(ref)
                written[ref] = rubric.written_items(json.loads(ref.read_text(encoding="utf-8")))
            for ex in sols[ref].exercises:
                check_function(ex)  # a solution naming a check that does not exist: an error row now
        except Exception as e:  # noqa: BLE001 - a broken solution: that chapter cannot be graded
            sols.pop(ref, None)
            s.status, s.reason = "error", f"cannot grade against {ref}: {e}"
            continue
        s.solution = sols[ref]
        s.written = [replace(w) for w in written[ref]]
        rubric.read_answers(json.loads(text), s.written)
        s.max_points = sols[ref].max_points + sum(w.max_points for w in s.written)
        texts[id(s)] = text
    return texts, sols


def _finish(s: Submission, verdicts, reason, seconds) -> None:
    s.verdicts, s.seconds = verdicts, seconds
    if reason:
        s.status, s.reason = "error", reason


def _sandbox_or_warn(options: Options, log) -> bool:
    """Whether the kernels run in bubblewrap; ValueError when it is installed but cannot make a sandbox here; the
    warning of an unsandboxed batch logged."""
    sandbox_on = options.sandbox and bwrap_path() is not None
    if sandbox_on:
        err = probe_bwrap(bwrap_path())
        if err:
            raise ValueError(f"bubblewrap cannot make a sandbox on this machine ({err}); grade with --unsandboxed "
                             "only notebooks you trust")
    if not options.sandbox:
        log("collapse-lab check: running UNSANDBOXED: a submission can read and change whatever this user can; "
            "changed package or solution files stop the batch")
    elif bwrap_path() is None:
        log("collapse-lab check: bubblewrap (bwrap) not found: running UNSANDBOXED (install the Debian package "
            "bubblewrap to sandbox the kernels); changed package or solution files stop the batch")
    return sandbox_on


def _without_base(subs, sols: dict, profile: str, log) -> None:
    """The submissions of a chapter that needs the language model's cached base, when it is not cached: error rows
    saying what to run first (their kernels could not load it)."""
    if not any(sol.needs_lm_base for sol in sols.values()):
        return
    no_base = missing_lm_base(profile)
    if not no_base:
        return
    log(f"collapse-lab check: {no_base}")
    for s in subs:
        if s.status == "graded" and s.solution is not None and s.solution.needs_lm_base:
            s.status, s.reason = "error", no_base
            s.verdicts = [Verdict(ex.name, False, 0.0, ex.points, "not graded: the language model's base is not "
                                  "cached (see the submission's error)") for ex in s.solution.exercises]


def grade_batch(paths, solutions=None, reference=None, options: Options | None = None, log=print,
                on_done=None, root=None) -> list[Submission]:
    """Grade every notebook in ``paths``; never raises for a bad submission: each gets a :class:`Submission`
    (``status`` 'graded' or 'error' with its ``reason``), in the order of ``paths``.

    ``paths``: the notebooks (a list or tuple of paths); ``solutions``: the folder of solution notebooks (default:
    :func:`default_solutions`), matched by the chapter in each notebook's metadata, else by file name
    (:func:`match`), or ``reference``: the one solution notebook of every path; ``options``: an :class:`Options`
    (``jobs`` kernels at once, each under ``memory`` MiB); ``log(message)``: where warnings go;
    ``on_done(submission)``: called as each submission is done (None: not called); ``root``: the folder the
    notebooks were found in (a notebook directly in it is named by its file, :func:`.lms.identify`)."""
    options = _validate(paths, solutions, reference, options, log, on_done, root)
    if options.timeout <= 0 or options.notebook_timeout <= 0:
        raise ValueError("timeout and notebook_timeout must be positive")
    sols_dir = Path(solutions).resolve() if solutions is not None else default_solutions()
    paths = [Path(p) for p in paths]
    subs = [Submission(p, p.parent.name or p.stem, p.name) for p in paths]
    # 1. everything the grader trusts, read before any learner code runs
    texts, sols = _read(subs, reference, sols_dir, root)
    sandbox_on = _sandbox_or_warn(options, log)
    _without_base(subs, sols, options.profile, log)
    watched = [PACKAGE, sols_dir, *{s.path for s in sols.values()}]
    if not sandbox_on:
        _preimport_package()
    before = _digest(watched) if not sandbox_on else None
    box_root = Path(tempfile.mkdtemp(prefix="cl-grade-", dir=options.workdir))
    hidden = [Path.home(), sols_dir, *{s.path.parent for s in sols.values()}, *{p.resolve().parent for p in paths},
              box_root]
    needed = needed_paths()
    todo = [(n, s) for n, s in enumerate(subs) if s.status == "graded"]
    for s in subs:  # the ones that could not even be read are done now
        if s.status != "graded" and on_done is not None:
            on_done(s)

    def job(n, s, threads=None):
        return Job(texts[id(s)], s.path.name, s.solution, options, box_root / f"s{n}", hidden, needed, s.student,
                   threads)

    try:
        jobs = workers(options, sandbox_on, len(todo))
        if jobs == 1:
            _serial(todo, job, before, watched, log, on_done)
        else:
            _parallel(todo, job, jobs, on_done)
    finally:
        shutil.rmtree(box_root, ignore_errors=True)
    return subs


def _serial(todo, job, before, watched, log, on_done) -> None:
    """Grade one notebook after the other in this process; unsandboxed (``before``: the digest of ``watched``
    files), stop the batch when a submission changed the course's files."""
    stopped = ""
    for n, s in todo:
        if stopped:
            s.status, s.reason = "error", f"not graded: {stopped}"
        else:
            _finish(s, *grade_job(job(n, s)))
            if before is not None:
                diff = _changed(before, _digest(watched))
                if diff:
                    stopped = f"the batch stopped: {s.path} changed {', '.join(diff[:5])}"
                    s.status, s.reason = "error", f"changed the course's files on disk: {', '.join(diff[:5])}"
                    s.verdicts = [Verdict(v.exercise, False, 0.0, v.max_points, "not graded: changed the course's "
                                          "files") for v in s.verdicts]
                    log(f"collapse-lab check: {stopped}")
        if on_done is not None:
            on_done(s)


def _parallel(todo, job, jobs: int, on_done) -> None:
    """Grade ``jobs`` notebooks at once, each in a worker process of its own (a fresh interpreter: nothing of this
    process's threads or state is copied into it)."""
    threads = max(1, (os.cpu_count() or 1) // jobs)  # so the kernels at work do not oversubscribe the cores
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
        futures = {pool.submit(grade_job, job(n, s, threads)): s for n, s in todo}
        try:
            for f in as_completed(futures):
                s = futures[f]
                try:
                    _finish(s, *f.result())
                except BrokenProcessPool:
                    _finish(s, [Verdict(ex.name, False, 0.0, ex.points, "not graded") for ex in s.solution.exercises],
                            "grader error: its worker process died", 0.0)
                except Exception as e:  # noqa: BLE001 - the worker's own failure: report, go on
                    _finish(s, [Verdict(ex.name, False, 0.0, ex.points, "not graded") for ex in s.solution.exercises],
                            f"grader error: {type(e).__name__}: {e}", 0.0)
                if on_done is not None:
                    on_done(s)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
