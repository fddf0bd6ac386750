"""A pytest plugin (``-p collapse_lab.nbtiming``) that prints each notebook's total duration after an nbval run,
then the session's wall clock (below the sum when pytest-xdist ran notebooks side by side)."""
from __future__ import annotations

import time
from collections import defaultdict

_durations: dict = defaultdict(float)
_failed: dict = defaultdict(int)
_start: dict = {}


def pytest_sessionstart(session):
    _start["wall"] = time.perf_counter()


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _durations[path] += report.duration
        if report.failed:
            _failed[path] += 1


def pytest_terminal_summary(terminalreporter):
    if not _durations:
        return
    tr = terminalreporter
    tr.section("notebook durations")
    for path, secs in sorted(_durations.items()):
        flag = f"  ({_failed[path]} failed)" if _failed[path] else ""
        tr.write_line(f"{secs:8.1f} s  {path}{flag}")
    tr.write_line(f"{sum(_durations.values()):8.1f} s  total")
    if _start:
        wall = time.perf_counter() - _start["wall"]
        tr.write_line(f"{wall:8.1f} s  wall clock of the session")
