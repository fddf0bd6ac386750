import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Tests are quiet and headless whatever the caller's environment says.
os.environ.setdefault("COLLAPSE_LAB_QUIET", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def root() -> Path:
    return ROOT
