"""One way to run notebooks: nbclient's cell loop with a per-cell and a whole-run time limit, a notebook in its own
kernel with its environment passed to the kernel (never set on this process), how many to run side by side, and a
small scheduler of tasks that wait for others.

The course build (:func:`collapse_lab.course.build`) runs whole notebooks with :func:`run_notebook`; the grader
(:mod:`collapse_lab.grading.kernel`) runs a learner's cells with the same :class:`Client` in a sandboxed kernel.
"""
from __future__ import annotations

import math
import os
import time
from queue import Empty

import nbformat
from nbclient import NotebookClient
from nbclient.util import ensure_async
from traitlets import Bool, Float

from . import validate
from .profiles import active_profile


class RunOutOfTime(TimeoutError):
    """The whole run's time (:attr:`Client.deadline`) ran out during a cell."""


class CellStuck(TimeoutError):
    """A cell ran past its time limit and did not stop within :attr:`Client.grace` seconds of the interrupt."""


class Client(NotebookClient):
    """nbclient's :class:`~nbclient.NotebookClient` with a time limit on the whole run beside the one per cell.

    ``cell_timeout``: seconds a cell may run (inf: no limit); ``deadline``: the ``time.monotonic()`` at which the
    whole run's time is up (inf: never), so a cell gets ``min(cell_timeout, time left)``. With
    ``interrupt_on_timeout``, a cell past its limit is interrupted and must stop within ``grace`` seconds (else
    :class:`CellStuck`). The run's end raises :class:`RunOutOfTime`.
    ``keep_outputs=False`` drops the outputs and widget messages as they arrive (a grader does not read them, and a
    flood of output cannot fill its memory)."""

    cell_timeout = Float(math.inf, help="seconds one cell may run (inf: no limit)")
    deadline = Float(math.inf, help="time.monotonic() at which the whole run's time is up (inf: never)")
    grace = Float(5.0, help="seconds a cell gets to stop after an interrupt")
    keep_outputs = Bool(True, help="keep the cells' outputs in the notebook")

    def __init__(self, nb, km=None, **kw):
        super().__init__(nb, km=km, **kw)
        self.timeout_func = self._time_left

    def _time_left(self, cell) -> float | None:
        limit = min(self.cell_timeout, self.deadline - time.monotonic())
        return None if limit == math.inf else max(limit, 0.01)

    async def _async_handle_timeout(self, timeout, cell=None):
        if time.monotonic() >= self.deadline - 0.01:
            raise RunOutOfTime("the run's time ran out during a cell")
        if not self.interrupt_on_timeout:
            return await super()._async_handle_timeout(timeout, cell)
        await ensure_async(self.km.interrupt_kernel())
        stop = min(time.monotonic() + self.grace, self.deadline)  # the grace ends with the run's time too
        while (left := stop - time.monotonic()) > 0:  # the interrupted cell's own reply
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=left))
            except Empty:
                break
            if msg.get("msg_type") == "execute_reply":
                return msg
        if time.monotonic() >= self.deadline - 0.01:
            raise RunOutOfTime("the run's time ran out while a cell was being interrupted")
        raise CellStuck(f"a cell ran longer than {timeout:g} s and did not stop when interrupted")

    def output(self, outs, msg, display_id, cell_index):
        return super().output(outs, msg, display_id, cell_index) if self.keep_outputs else None

    def handle_comm_msg(self, outs, msg, cell_index):
        # widget messages are outputs too: without keep_outputs, neither their state (nbclient keeps every widget's
        # state, a flood would fill memory) nor a front end's handling of them (a malformed one raises here)
        if self.keep_outputs:
            super().handle_comm_msg(outs, msg, cell_index)


def run_notebook(nb: nbformat.NotebookNode, cwd, env: dict, timeout: int = 3600, allow_errors: bool = False,
                 usage: dict | None = None) -> float:
    """Execute ``nb`` in place in a fresh ``python3`` kernel started in ``cwd``, with ``env`` added to the
    kernel's environment (this process's own environment is never changed, so notebooks can run side by side in
    threads); return the seconds it took. ``usage``: a dict that receives ``cpu``, the CPU seconds of the kernel
    and the processes it started (read after each cell, so a failing notebook still reports them)."""
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise validate.ArgumentError(f"env must be a dict of str -> str (variables for the kernel); got {env!r:.80}")
    # interrupt a cell that runs too long instead of giving up on the notebook (matters when grading);
    # the kernel's log level keeps its 'TCP without encryption' warning (local loopback only) off the console
    client = Client(nb, cell_timeout=timeout, allow_errors=allow_errors, interrupt_on_timeout=allow_errors,
                    kernel_name="python3", extra_arguments=["--IPKernelApp.log_level=ERROR"],
                    resources={"metadata": {"path": str(cwd)}})
    if usage is not None:
        client.on_cell_executed = lambda **_: usage.update(cpu=_kernel_cpu(client.km, usage.get("cpu", 0.0)))
    t0 = time.perf_counter()
    client.execute(env={**os.environ, **env})  # passed on to the kernel's launcher
    return time.perf_counter() - t0


def _kernel_cpu(km, last: float) -> float:
    """CPU seconds of the kernel process and of its children, live or finished; ``last`` when it cannot be read."""
    import psutil

    try:
        proc = psutil.Process(km.provisioner.pid)
        t = proc.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in proc.children(recursive=True):  # live worker processes (finished ones are in children_*)
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except psutil.Error:
                pass
        return max(total, last)
    except (AttributeError, psutil.Error):
        return last


def cpu_now() -> float:
    """CPU seconds of this process and of its finished children (the kernels, the base's trainer)."""
    import resource

    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


#: memory one notebook needs, in GB, per profile: a machine gets no more notebooks side by side than its free
#: memory holds. quick and standard: the peak of a whole build with two at once (benchmarks/build.py, 2.5 and 2.7 GB
#: with the policy table's worker processes, docs/compute.md) halved and rounded up; paper: not measured, its
#: chapters hold arrays of 100,000 chains, so twice the standard figure
MEMORY_PER_NOTEBOOK = {"quick": 1.5, "standard": 2.0, "paper": 4.0}


def build_workers(n_notebooks: int, profile: str | None = None) -> int:
    """How many notebooks the build runs side by side: ``$COLLAPSE_LAB_WORKERS`` if set, else the cores this
    process may use, capped by the available memory over :data:`MEMORY_PER_NOTEBOOK` (at least 1) and by
    ``n_notebooks``. Every kernel trains on a fixed number of torch threads, so this changes the wall time only."""
    import psutil

    from .runtime import workers

    n = validate.integer("n_notebooks", n_notebooks, 1)
    cores = workers()
    if not os.environ.get("COLLAPSE_LAB_WORKERS"):
        per = MEMORY_PER_NOTEBOOK.get(active_profile(profile), max(MEMORY_PER_NOTEBOOK.values()))
        cores = min(cores, max(1, int(psutil.virtual_memory().available / (per * 2 ** 30))))
    return max(1, min(cores, n))


def run_tasks(tasks: list, n: int, run) -> None:
    """Run ``tasks`` = ``[(task, names it waits for, priority), ...]`` on ``n`` threads (a task is a name, or a
    path named by its file name): a free thread takes the
    ready task of highest priority; a task is ready when the tasks it waits for have finished (whether they passed
    or not: a notebook whose base failed then trains it itself, or shows the error). ``run(task)`` must not raise."""
    import threading

    pending = list(tasks)
    done: set = set()
    cond = threading.Condition()

    def name(t):
        return t if isinstance(t, str) else t.name

    def worker():
        while True:
            with cond:
                while True:
                    ready = [t for t in pending if all(d in done for d in t[1])]
                    if ready or not pending:
                        break
                    cond.wait()
                if not pending:
                    return
                task = max(ready, key=lambda t: t[2])
                pending.remove(task)
            try:
                run(task[0])
            finally:
                with cond:
                    done.add(name(task[0]))
                    cond.notify_all()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(n, len(tasks))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
