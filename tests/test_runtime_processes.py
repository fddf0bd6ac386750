"""runtime.in_processes as a job queue: nested calls, an interrupt while the caller waits for the workers, and
the workers' thread pools sized from the cores this process may use."""
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from collapse_lab import runtime


def _square(x):
    return x * x


def _outer(x):
    # a job that itself splits its work over processes (the caller runs job 0, so this runs in the caller)
    return sum(runtime.in_processes(_square, [x, x + 1, x + 2]))


def test_a_job_that_calls_in_processes_itself_leaves_the_outer_call_working(monkeypatch):
    monkeypatch.setenv("COLLAPSE_LAB_WORKERS", "2")
    xs = [0, 10, 20, 30, 40]
    want = [_outer(x) for x in xs]
    assert runtime.in_processes(_outer, xs) == want


def _sleep(seconds, started=None):
    if started:
        Path(started).touch()
    time.sleep(seconds)
    return seconds


@pytest.mark.parametrize("main_blocks", [False, True], ids=["to-this-thread", "to-another-thread"])
def test_an_interrupt_while_the_caller_waits_stops_the_workers(monkeypatch, tmp_path, main_blocks, loky_workers):
    # main_blocks: the kernel hands the signal to another thread (as when this one has a signal pending); Python
    # then only sets a flag that this thread must come back to read
    monkeypatch.setenv("COLLAPSE_LAB_WORKERS", "2")
    started, stop = tmp_path / "started", threading.Event()
    if main_blocks:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

    def interrupt():  # once the worker runs its job (its start-up takes seconds, more on a busy machine)
        while not started.exists():
            if stop.wait(0.1):
                return
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    t0 = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            # the caller's job ends at once; it then waits for the worker's
            runtime.in_processes(_sleep, [0.0, 60.0], [None, str(started)])
    finally:
        stop.set()
        if main_blocks:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    assert time.monotonic() - t0 < 50
    assert not loky_workers(), "an interrupted call leaves its worker processes running the rest"


def _threads_env(_):
    return os.getpid(), os.environ.get("OMP_NUM_THREADS")


def test_the_workers_thread_pools_share_the_cores_this_process_may_use(monkeypatch):
    for v in runtime._THREAD_VARS:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("COLLAPSE_LAB_WORKERS", "2")
    monkeypatch.setattr(os, "cpu_count", lambda: 64)  # a big machine of which this process may use a few cores
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    got = runtime.in_processes(_threads_env, [0, 1, 2, 3])
    in_workers = {threads for pid, threads in got if pid != os.getpid()}
    assert in_workers == {"1"}  # 2 usable cores over 2 processes, not 64 / 2


def _sleep_or_fail(seconds):
    if seconds < 0:
        time.sleep(-seconds)
        raise ValueError(f"job failed after {-seconds} s")
    return _sleep(seconds)


def test_a_failing_worker_job_stops_the_others_at_once_and_its_error_is_raised(monkeypatch, loky_workers):
    monkeypatch.setenv("COLLAPSE_LAB_WORKERS", "3")
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="job failed after 1") as err:
        runtime.in_processes(_sleep_or_fail, [0.5, 60.0, -1.0])
    assert time.monotonic() - t0 < 40, "the other worker's job ran on after the failure"
    assert "_sleep_or_fail" in str(err.value.__cause__)  # the worker's traceback comes with it
    assert not loky_workers()


def _add(x, y):
    return x + y


def _pid_after(prev, x):
    return prev + x, os.getpid()


def test_jobs_that_wait_on_another_get_its_result_in_any_number_of_processes(monkeypatch):
    jobs = [(_add, (1, 2), None), (_add, (10, 20), None), (_pid_after, (100,), 0), (_pid_after, (1000,), 1)]
    got = {}
    for n in ("1", "2", "3"):
        monkeypatch.setenv("COLLAPSE_LAB_WORKERS", n)
        out = runtime.in_processes_after(jobs)
        got[n] = out[:2] + [v for v, _ in out[2:]]
    assert got["1"] == got["2"] == got["3"] == [3, 30, 103, 1030]
    for bad in ("x", [(_add, (1, 2), 0)], [(_add, (1, 2), None), (_add, [1, 2], None)], [(_add, (1,), None, 1)],
                [(_add, (1, 2), None), (_pid_after, (1,), True)], [("f", (), None)]):
        with pytest.raises(runtime.validate.ArgumentError, match="jobs"):
            runtime.in_processes_after(bad)


def _where(seconds):
    time.sleep(seconds)
    return os.getpid(), runtime.in_worker()


def test_in_worker_tells_a_worker_process_from_the_caller(monkeypatch):
    monkeypatch.setenv("COLLAPSE_LAB_WORKERS", "2")
    got = runtime.in_processes(_where, [2.0, 0, 0, 0])  # the caller's job lasts until the worker has taken one
    assert not runtime.in_worker()
    assert {w for pid, w in got if pid == os.getpid()} == {False}
    assert {w for pid, w in got if pid != os.getpid()} == {True}
