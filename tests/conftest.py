import os
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# files longest first (tests/durations.json), `--store-durations` to refresh it: collapse_lab/nbtiming.py
pytest_plugins = ("collapse_lab.nbtiming",)

# Tests are quiet and headless whatever the caller's environment says.
os.environ.setdefault("COLLAPSE_LAB_QUIET", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def loky_workers():
    """``left()``: the worker processes of ``runtime.in_processes`` still running under this test's process, after
    up to 10 s for them to go (a worker stopped or shut down exits a moment later; zombies do not count)."""
    import time

    import psutil

    def alive() -> list:
        out = []
        for p in psutil.Process().children(recursive=True):
            try:
                if "LokyProcess" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                    out.append(p)
            except psutil.Error:
                pass
        return out

    def left(wait: float = 10.0) -> list:
        end = time.monotonic() + wait
        while (procs := alive()) and time.monotonic() < end:
            time.sleep(0.2)
        return procs

    return left


@pytest.hookimpl(tryfirst=True)  # before `-m "not slow"` deselects
def pytest_collection_modifyitems(config, items):
    """Marks ``slow`` the tests tests/durations.json names as the slowest (together three quarters of the suite's
    time), and every test of a file where they took three quarters of the file's time and share work (several of
    them, or one whose set-up took most of its time): the file's other tests use what they build (module fixtures,
    cached chains) and would pay for it without them."""
    from collapse_lab import nbtiming  # loaded by pytest_plugins above (imported here: no assertion-rewrite warning)

    known = nbtiming.read(nbtiming.durations_file(config))
    found = defaultdict(list)  # file -> [(seconds, of which set-up)] of its slow tests
    for nodeid, times in known["slow"].items():
        found[nodeid.split("::")[0]].append(times)
    whole = {f for f, t in found.items() if sum(s for s, _ in t) >= 0.75 * known["files"].get(f, 0)
             and (len(t) > 1 or t[0][1] >= t[0][0] / 2)}
    for item in items:
        if item.nodeid in known["slow"] or item.nodeid.split("::")[0] in whole:
            item.add_marker(pytest.mark.slow)
