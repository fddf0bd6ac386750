"""A pytest plugin (``-p collapse_lab.nbtiming``; ``tests/conftest.py`` loads it for the unit tests) that schedules
test files longest first and prints each notebook's total duration after an nbval run, then the session's wall
clock (below the sum when pytest-xdist ran notebooks side by side).

Longest first: ``make test`` gives each pytest-xdist worker a whole file at a time (``--dist loadfile``: a module's
fixtures are built once) in collection order (``--no-loadscope-reorder``). Sorted by the seconds each file took
last time (``tests/durations.json``, written by ``pytest ... --store-durations``), the last files to start are short
ones and the workers finish together. A file not in it counts as long and starts early. Only the order in which
files start depends on it, never a result. It also names the slowest tests (those that together took three
quarters of the time, with the seconds of their set-up): ``tests/conftest.py`` marks them ``slow`` for
``make test-fast``.
"""
from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from pathlib import Path

_durations: dict = defaultdict(float)
_tests: dict = defaultdict(lambda: [0.0, 0.0])  # node id -> [seconds, of which set-up]
SLOW_SHARE = 0.75  # the slowest tests that together take this share of the time are stored as slow
_failed: dict = defaultdict(int)
_start: dict = {}
_deselected: list = []


def durations_file(config) -> Path:
    return Path(config.rootpath) / "tests" / "durations.json"


def read(path: Path) -> dict:
    """``{"files": {file: seconds}, "slow": {node id: [seconds, of which set-up]}}`` (empty when missing)."""
    try:
        got = json.loads(path.read_text())
    except (OSError, ValueError):
        got = {}
    return {"files": got.get("files", {}), "slow": got.get("slow", {})}


def _file(nodeid: str) -> str:
    return nodeid.split("::")[0]


def pytest_addoption(parser):
    parser.addoption("--store-durations", action="store_true",
                     help="write the seconds of every test file or notebook run into tests/durations.json (the "
                          "order in which `make test` starts files: longest first)")


def pytest_sessionstart(session):
    _start["wall"] = time.perf_counter()


def pytest_collection_modifyitems(config, items):
    seconds = read(durations_file(config))["files"]
    # a stable sort: a file's tests stay together and in their own order
    items.sort(key=lambda item: -seconds.get(_file(item.nodeid), math.inf))


def pytest_deselected(items):
    _deselected.extend(items)


def pytest_runtest_logreport(report):
    path = _file(report.nodeid)
    _durations[path] += report.duration
    _tests[report.nodeid][0] += report.duration
    if report.when == "setup":
        _tests[report.nodeid][1] += report.duration
    if path.endswith(".ipynb") and report.failed:
        _failed[path] += 1


def pytest_sessionfinish(session, exitstatus):
    # under pytest-xdist the controller sees every worker's reports; a worker writes nothing
    config = session.config
    if not config.getoption("store_durations") or hasattr(config, "workerinput") or not _durations:
        return
    if _deselected:  # a file's seconds and the slowest tests mean the whole file, the whole suite
        print(f"\n--store-durations: nothing stored ({len(_deselected)} tests deselected by -m or -k); run whole "
              f"files, e.g. `make test PYTEST_ARGS=--store-durations`")
        return
    path = durations_file(config)
    old = read(path)
    files = {**old["files"], **{f: round(s, 1) for f, s in _durations.items()}}
    # the slowest of this run's tests and of the earlier slow ones of files not run now, until they make
    # SLOW_SHARE of all the test files' seconds (a run of one file adds only tests as slow as the suite's slowest)
    candidates = {t: v for t, v in old["slow"].items() if _file(t) not in _durations}
    candidates.update({t: [round(s, 1), round(u, 1)] for t, (s, u) in _tests.items()
                       if not _file(t).endswith(".ipynb")})
    total, acc, slow = sum(s for f, s in files.items() if not f.endswith(".ipynb")), 0.0, {}
    for nodeid, times in sorted(candidates.items(), key=lambda kv: -kv[1][0]):
        if acc >= SLOW_SHARE * total:
            break
        acc += times[0]
        slow[nodeid] = times
    path.write_text(json.dumps({"files": dict(sorted(files.items(), key=lambda kv: -kv[1])),
                                "slow": dict(sorted(slow.items(), key=lambda kv: -kv[1][0]))}, indent=1) + "\n")


def pytest_terminal_summary(terminalreporter):
    notebooks = {p: s for p, s in _durations.items() if p.endswith(".ipynb")}
    if not notebooks:
        return
    tr = terminalreporter
    tr.section("notebook durations")
    for path, secs in sorted(notebooks.items()):
        flag = f"  ({_failed[path]} failed)" if _failed[path] else ""
        tr.write_line(f"{secs:8.1f} s  {path}{flag}")
    tr.write_line(f"{sum(notebooks.values()):8.1f} s  total")
    if _start:
        wall = time.perf_counter() - _start["wall"]
        tr.write_line(f"{wall:8.1f} s  wall clock of the session")
