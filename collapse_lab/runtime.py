"""Seeding, device choice and progress bars: the runtime every chapter shares."""
from __future__ import annotations

import contextlib
import os
import random
import threading

import numpy as np

from . import validate


def seed_all(seed: int) -> np.random.Generator:
    """Seed python's ``random``, numpy's global state and torch (when installed); return a fresh numpy Generator.

    The same seed gives the same numbers run after run on the same machine. Code in this package takes explicit
    ``numpy.random.Generator`` objects; the global seeds are for learners' own cells and for torch.
    """
    seed = validate.seed("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # torch is a dependency, but the light chapters should not need it to import
        pass
    else:
        torch.manual_seed(seed)
    return np.random.default_rng(seed)


def as_rng(rng) -> np.random.Generator:
    """``rng`` as a numpy Generator: accepts a Generator, an int seed, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0):
        return np.random.default_rng(rng)
    raise validate.ArgumentError(f"rng must be a numpy.random.Generator, an int seed >= 0 or None; got {rng!r:.60}")


def device(prefer: str | None = None) -> str:
    """The torch device to use: ``prefer`` if given, else CUDA when present, else Apple MPS, else CPU."""
    import torch

    if prefer is not None:
        return check_device("prefer", prefer)
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def check_device(name: str, value) -> str | None:
    """``value`` checked as a torch device name ('cpu', 'cuda', 'cuda:N', 'mps') or None, else an error naming
    ``name`` (the argument of the caller: ``device``, ``prefer``)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise validate.ArgumentError(f"{name} must be None or a device name 'cpu', 'cuda', 'cuda:N' or 'mps'; "
                                     f"got {value!r:.60} ({type(value).__name__})")
    if value not in ("cpu", "cuda", "mps") and not (value.startswith("cuda:") and value[5:].isdigit()):
        raise validate.ArgumentError(f"{name} must be 'cpu', 'cuda', 'cuda:N' or 'mps'; got {value!r}")
    return value


def workers() -> int:
    """Threads for work split into fixed blocks (chains of a batch): ``COLLAPSE_LAB_WORKERS`` if set, else the cores
    this process may use. The blocks, not the threads, decide the random streams, so the numbers do not change."""
    env = os.environ.get("COLLAPSE_LAB_WORKERS", "")
    if env:
        if not env.isdigit() or int(env) < 1:
            raise validate.ArgumentError(f"COLLAPSE_LAB_WORKERS must be an int >= 1; got {env!r}")
        return int(env)
    return _cores()


def _cores() -> int:
    """The cores this process may use (its CPU affinity, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def blocks(n: int, size: int, rng: np.random.Generator) -> list[tuple[int, np.random.Generator]]:
    """Split ``n`` independent chains into blocks of ``size`` (the last one smaller): ``[(block size, its random
    stream), ...]``. One block keeps ``rng`` itself, so work up to ``size`` draws what it drew before it was split;
    more blocks get streams spawned from ``rng``. The split depends on ``n`` and ``size`` only, never on the cores,
    so :func:`in_threads` over the blocks gives the same numbers on every machine."""
    n, size = validate.integer("n", n, 1), validate.integer("size", size, 1)
    if not isinstance(rng, np.random.Generator):
        raise validate.ArgumentError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
    sizes = [size] * (n // size) + ([n % size] if n % size else [])
    return list(zip(sizes, [rng] if len(sizes) == 1 else rng.spawn(len(sizes))))


def in_threads(fn, *iterables) -> list:
    """``[fn(*args) for args in zip(*iterables)]``, run on :func:`workers` threads (numpy releases the GIL in its
    array loops, so blocks of a few hundred thousand numbers run in parallel). Results in input order."""
    if not callable(fn):
        raise validate.ArgumentError(f"fn must be a function, called once per item of the iterables; got "
                                     f"{fn!r:.60} ({type(fn).__name__})")
    for i, it in enumerate(iterables):
        try:
            if isinstance(it, (str, bytes)):
                raise TypeError
            iter(it)
        except TypeError:
            raise validate.ArgumentError(f"iterables[{i}] must be an iterable of arguments (a list, tuple, array or "
                                         f"range); got {it!r:.60} ({type(it).__name__})") from None
    jobs = list(zip(*iterables))
    n = min(workers(), len(jobs))
    if n <= 1:
        return [fn(*a) for a in jobs]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda a: fn(*a), jobs))


def in_worker() -> bool:
    """Whether this process is a worker of :func:`in_processes` (loky's executor counts its depth of nested
    workers; 0 in the process that called): its progress bars would print to a log, not to the notebook."""
    from joblib.externals.loky import process_executor

    return getattr(process_executor, "_CURRENT_DEPTH", 0) > 0


#: thread pools of the numeric libraries, limited in each worker process to its share of the cores (as joblib does)
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def in_processes(fn, *iterables) -> list:
    """``[fn(*args) for args in zip(*iterables)]``, run in this process and up to :func:`workers` - 1 worker
    processes (joblib's ``loky``: fresh interpreters, so a process that has started torch's threads is never forked,
    and a script without an ``if __name__ == "__main__"`` guard still works), for work that holds the GIL or trains
    torch models. Each call must seed itself and fix its own torch threads, so the results are the same with any
    number of processes; arguments and results of the calls in workers are pickled. This process runs the first
    job (put the longest first: it starts at once, while the workers start up) and takes the next free job after
    it, as each worker does; one worker (or one job) runs everything here. Results in input order. A call made
    while another runs in this process (a job that splits its own work), or in a worker, runs its jobs here one
    after the other: the outer call already uses every core, and its workers are shared."""
    if not callable(fn):
        raise validate.ArgumentError(f"fn must be a function, called once per item of the iterables; got "
                                     f"{fn!r:.60} ({type(fn).__name__})")
    return in_processes_after([(fn, a, None) for a in zip(*iterables)])


def in_processes_after(jobs) -> list:
    """:func:`in_processes` for jobs that wait on another: ``jobs`` is a list of ``(fn, args, dep)``; a job runs
    ``fn(*args)`` when ``dep`` is None, else ``fn(result of job dep, *args)`` once job ``dep`` has ended (``dep``
    an earlier index). Each free process takes the first ready job in list order (this one takes job 0 first).
    Results in list order; the same with any number of processes."""
    global _in_processes_active
    jobs = _checked_jobs(jobs)
    n = min(workers(), len(jobs))
    with _in_processes_lock:
        nested = _in_processes_active > 0 or in_worker()
        if n > 1 and not nested:
            _in_processes_active += 1
    if n <= 1 or nested:
        results: list = []
        for fn, args, dep in jobs:
            results.append(fn(*args) if dep is None else fn(results[dep], *args))
        return results
    try:
        return _in_processes(jobs, n)
    finally:
        with _in_processes_lock:
            _in_processes_active -= 1


def _checked_jobs(jobs) -> list:
    if not isinstance(jobs, (list, tuple)):
        raise validate.ArgumentError(f"jobs must be a list of (fn, args, dep) tuples; got {type(jobs).__name__}")
    out = []
    for i, job in enumerate(jobs):
        if not (isinstance(job, tuple) and len(job) == 3 and callable(job[0]) and isinstance(job[1], tuple)
                and (job[2] is None or (isinstance(job[2], int) and not isinstance(job[2], bool)
                                        and 0 <= job[2] < i))):
            raise validate.ArgumentError(f"jobs[{i}] must be (fn, args tuple, dep) with dep None or the index of an "
                                         f"earlier job; got {job!r:.80}")
        out.append(job)
    return out


_in_processes_active = 0  # calls of in_processes with worker processes running in this process
_in_processes_lock = threading.Lock()


def _in_processes(jobs: list, n: int) -> list:
    from joblib.externals.loky import get_reusable_executor

    env = {v: os.environ.get(v, str(max(1, _cores() // n))) for v in _THREAD_VARS}
    pool = get_reusable_executor(max_workers=n - 1, env=env)
    results: list = [None] * len(jobs)
    todo, finished, errors, cond = list(range(len(jobs))), set(), [], threading.Condition()

    def take(first=None):
        with cond:
            while todo and not errors:
                ready = [i for i in todo if jobs[i][2] is None or jobs[i][2] in finished]
                if ready:
                    i = first if first in ready else ready[0]
                    todo.remove(i)
                    return i
                cond.wait(0.2)  # with a timeout: see join below
            return None

    def run(i, remote):
        fn, args, dep = jobs[i]
        args = args if dep is None else (results[dep], *args)
        try:
            results[i] = pool.submit(fn, *args).result() if remote else fn(*args)
        except BaseException as e:  # noqa: BLE001 - re-raised below, after the other jobs stop
            fail(e)
        with cond:
            finished.add(i)
            cond.notify_all()

    def fail(e):
        with cond:
            errors.append(e)  # before the workers are stopped: their jobs' errors come after this one
            cond.notify_all()  # processes waiting for a job give up
        # their results would be thrown away; wait=True because loky forgets its manager thread on the first
        # shutdown, so a later shutdown(wait=True) would not wait for the killed workers to be gone
        pool.shutdown(wait=True, kill_workers=True)

    def worker():
        while (i := take()) is not None:
            run(i, True)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(n - 1)]
    try:
        i = take(first=0)
        for t in threads:
            t.start()
        while i is not None:
            run(i, False)
            i = take()
        for t in threads:
            # in short waits: an interrupt (Jupyter's button sends SIGINT) that the kernel hands to another thread
            # only sets a flag, which this thread reads when it next runs Python code; one long wait would read it
            # after the workers' jobs, and perhaps inside a finalizer, which drops the KeyboardInterrupt
            while t.is_alive():
                t.join(0.2)
    except BaseException as e:  # an interrupt while this process waits for the workers: stop them too
        fail(e)
    finally:
        for t in threads:
            if t.ident is not None:
                t.join()
        # the workers hold what the jobs loaded (models, data): free that memory now, not after loky's idle timeout
        pool.shutdown(wait=True)
    if errors:
        raise errors[0]
    return results


_silenced = 0  # depth of nested ``silence_progress()`` blocks


def progress_silent() -> bool:
    """Whether :func:`progress` bars stay silent: under tests (``COLLAPSE_LAB_QUIET=1``, pytest) or inside
    :func:`silence_progress`."""
    return (_silenced > 0 or os.environ.get("COLLAPSE_LAB_QUIET", "") not in ("", "0")
            or "PYTEST_CURRENT_TEST" in os.environ)


@contextlib.contextmanager
def silence_progress():
    """Silence the :func:`progress` bars created inside the block, in this process: checks that run the course's
    loop on a learner's code, and explorers (a bar's widget, closed when the bar ends, would stay referenced by the
    explorer's output area as "model not found")."""
    global _silenced
    _silenced += 1
    try:
        yield
    finally:
        _silenced -= 1


def progress(iterable=None, **kwargs):
    """A ``tqdm.auto`` progress bar, silent under tests."""
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", progress_silent())
    kwargs.setdefault("leave", False)
    return tqdm(iterable, **kwargs)
