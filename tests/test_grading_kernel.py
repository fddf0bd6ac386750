"""The grader's kernel on nbclient (collapse_lab.runner.Client with the sandbox's kernel manager), unsandboxed here
so it runs anywhere: per-cell limits interrupt by message, the whole run's limit ends the run, a cell that ignores
the interrupt ends the kernel, and the shim answers over its socket."""
import os
import time

import pytest

from collapse_lab.grading import kernel, remote


@pytest.fixture
def k(tmp_path):
    env = {key: os.environ[key] for key in ("PATH", "PYTHONPATH", "LANG") if key in os.environ}
    kern = kernel.Kernel(tmp_path, env, None, startup_timeout=120)
    kern.start()
    yield kern
    kern.stop()
    assert not kern.alive()


def test_a_cell_past_its_time_is_interrupted_and_the_next_runs(k):
    replies = k.run(["x = 1", "import time\ntime.sleep(60)", "y = x + 1"], timeout=3, deadline=float("inf"))
    assert [r.get("status") for r in replies] == ["ok", "error", "ok"]
    assert replies[1].get("ename") == "KeyboardInterrupt"
    channel = k.open_channel(timeout=30, deadline=float("inf"))
    try:
        assert remote.evaluate(channel, "y") == 2  # the shim, imported as a module, serves the learner's namespace
    finally:
        k.close_channel(channel)


def test_the_whole_run_ends_at_its_deadline(k):
    t0 = time.monotonic()
    with pytest.raises(remote.OutOfTime):
        k.run(["import time\ntime.sleep(60)"], timeout=30, deadline=time.monotonic() + 3)
    assert time.monotonic() - t0 < 20


def test_a_cell_that_ignores_the_interrupt_ends_the_kernel(k):
    stubborn = ("import time\nwhile True:\n    try:\n        time.sleep(0.1)\n"
                "    except KeyboardInterrupt:\n        pass")
    with pytest.raises(remote.KernelGone, match="did not stop when interrupted"):
        k.run([stubborn], timeout=2, deadline=float("inf"))
