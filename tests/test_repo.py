"""The course's committed files keep their promises: small notebooks without outputs, each opening with require()."""
import re
from pathlib import Path

import nbformat
import pytest

import collapse_lab

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for d in ("notebooks", "solutions", "exercises") for p in (ROOT / d).glob("*.ipynb"))


def test_there_is_a_course():
    names = [p.name for p in (ROOT / "notebooks").glob("*.ipynb")]
    assert any(n.startswith("01_") for n in names), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[f"{p.parent.name}/{p.name}" for p in NOTEBOOKS])
def test_notebook_is_small_clean_and_checks_the_package_version(path):
    assert path.stat().st_size < 300_000, "committed notebooks stay small"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs for c in code), "commit notebooks with outputs cleared"
    first = code[0].source
    m = re.search(r"require\(\"([\d.]+)\"\)", first)
    assert m, "the first code cell calls collapse_lab.require(...)"
    from packaging.version import Version

    assert Version(m.group(1)) <= Version(collapse_lab.__version__)
    assert re.fullmatch(r"\d\d[ab]?_[a-z0-9_]+\.ipynb", path.name)
