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


def _wide_fixtures(item) -> set:
    """The fixtures of a test built once for more than the test (module, package or session scope)."""
    info = getattr(item, "_fixtureinfo", None)
    return {name for name, defs in (info.name2fixturedefs.items() if info else ()) if defs[-1].scope != "function"}


@pytest.hookimpl(tryfirst=True)  # before `-m "not slow"` deselects
def pytest_collection_modifyitems(config, items):
    """Marks ``slow`` the tests tests/durations.json names as the slowest (together three quarters of the suite's
    time), and every test of the same file that shares a module-wide fixture whose set-up took most of a slow test's
    time (without that test it would pay the set-up itself)."""
    from collapse_lab import nbtiming  # loaded by pytest_plugins above (imported here: no assertion-rewrite warning)

    slow = nbtiming.read(nbtiming.durations_file(config))["slow"]
    heavy = defaultdict(set)  # file -> module-wide fixtures a slow test's set-up built
    for item in items:
        if item.nodeid in slow:
            item.add_marker(pytest.mark.slow)
            seconds, setup = slow[item.nodeid]
            if setup >= seconds / 2:
                heavy[item.nodeid.split("::")[0]] |= _wide_fixtures(item)
    for item in items:
        if heavy.get(item.nodeid.split("::")[0], set()) & _wide_fixtures(item):
            item.add_marker(pytest.mark.slow)
