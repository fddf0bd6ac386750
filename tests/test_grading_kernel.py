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


def test_a_flood_of_widget_messages_is_not_kept_and_a_malformed_one_does_not_break_the_grader(k):
    # comm messages are outputs too: a learner opening many 'widgets' must not fill the grader's memory, and a
    # widget message without the fields a front end expects is the learner's problem, not a grader error
    flood = ("from comm import create_comm\nfor i in range(20):\n    create_comm(target_name='jupyter.widget', "
             "data={'state': {'_model_module': 'm', '_model_name': 'M', '_model_module_version': '1', "
             "'v': 'x' * 10**5}})")
    bad = "from comm import create_comm\ncreate_comm(target_name='jupyter.widget', data={'state': {}})"
    replies = k.run([flood, bad, "y = 1"], timeout=30, deadline=float("inf"))
    assert [r.get("status") for r in replies] == ["ok", "ok", "ok"]
    assert not k.client.widget_state and not k.client.widget_buffers and not k.client.comm_objects


def test_connecting_to_the_grader_ends_at_the_notebooks_deadline(k):
    # a notebook that breaks its kernel's sockets: the grader gives up when the notebook's time is up
    k.run(["import socket, time\nsocket.socket.connect = lambda *a: time.sleep(1000)"], timeout=30,
          deadline=float("inf"))
    t0 = time.monotonic()
    with pytest.raises(remote.OutOfTime):
        k.open_channel(timeout=30, deadline=time.monotonic() + 3)
    assert time.monotonic() - t0 < 20


def test_a_kernel_that_dies_when_interrupted_is_reported_dead(k):
    dies = "import os, time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    os._exit(3)"
    with pytest.raises(remote.KernelGone, match="died"):
        k.run([dies], timeout=2, deadline=float("inf"))


def test_a_request_the_kernel_does_not_read_times_out():
    # the kernel stopped reading (its shim stuck, or stopped): a large request must not block the grader forever
    import socket

    import numpy as np

    ours, theirs = socket.socketpair()
    try:
        channel = remote.Channel(ours, timeout=2, deadline=float("inf"), on_timeout=lambda: None)
        t0 = time.monotonic()
        with pytest.raises(remote.KernelGone):
            channel.request({"op": "call", "args": np.zeros(2_000_000).tolist()}, None)
        assert time.monotonic() - t0 < 15
    finally:
        ours.close()
        theirs.close()


def test_the_grace_after_an_interrupt_ends_at_the_notebooks_deadline(k):
    # the cell's own limit comes first, but the notebook's time runs out during the interrupt's grace
    stubborn = ("import time\nwhile True:\n    try:\n        time.sleep(0.1)\n"
                "    except KeyboardInterrupt:\n        pass")
    t0 = time.monotonic()
    with pytest.raises(remote.OutOfTime):
        k.run([stubborn], timeout=2, deadline=time.monotonic() + 4)
    assert time.monotonic() - t0 < 6.5  # not the cell's 2 s and the whole 5 s grace after it
