"""`collapse-lab ready` (is a machine ready for a session?) and `collapse-lab guide` (the guide's generated facts)."""
import shutil
from pathlib import Path

import nbformat
import pytest

from collapse_lab import guide, ready
from collapse_lab.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_ready_reports_every_check_and_what_to_do(monkeypatch, tmp_path):
    checks = ready.run("quick", kernel=False)
    assert [c.name for c in checks][:3] == ["libraries", "data mnist", "data wikitext-2"]
    assert all(isinstance(c.ok, bool) and c.detail for c in checks)
    # no data anywhere: both data checks fail and say where to look, the rest still runs
    monkeypatch.setenv("COLLAPSE_LAB_DATA", str(tmp_path / "none"))
    monkeypatch.setenv("COLLAPSE_LAB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("collapse_lab.data.search_dirs", lambda name: [tmp_path / "none" / name])
    checks = {c.name: c for c in ready.run("quick", kernel=False)}
    assert not checks["data mnist"].ok and "docs/data.md" in checks["data mnist"].detail
    assert "language-model base (quick)" in checks
    # an empty model cache: the base check fails and says how to fill it
    monkeypatch.setenv("COLLAPSE_LAB_CACHE", str(tmp_path / "cache"))
    base = {c.name: c for c in ready.run("quick", kernel=False)}["language-model base (quick)"]
    assert not base.ok and "--profile quick" in base.detail
    text = ready.report(ready.run("quick", kernel=False))
    assert text.count("\n") >= 3 and ("✗" in text)


def test_ready_rejects_bad_input():
    with pytest.raises(ValueError, match="profile must be one of"):
        ready.run("fast")
    with pytest.raises(ValueError, match="timeout"):
        ready.run("quick", timeout=0)
    with pytest.raises(SystemExit):  # argparse names the allowed profiles and exits
        main(["ready", "--profile", "fast"])


def test_ready_command_exit_code(capsys):
    code = main(["ready", "--no-kernel"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == "ready" or last.startswith("not ready: ")
    assert code == (0 if last == "ready" else 1)


def test_guide_check_finds_a_stale_block(tmp_path):
    course = tmp_path / "course"
    for sub in ("notebooks", "solutions", "docs"):
        shutil.copytree(ROOT / sub, course / sub)
    shutil.copy(ROOT / "README.md", course / "README.md")
    assert main(["guide", "--check", "--root", str(course)]) == 0
    nb_path = course / "notebooks" / "05b_verification_and_monitoring.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace("exercises about 30 min", "exercises about 35 min")
    nbformat.write(nb, nb_path)
    assert sorted(guide.stale(course)) == ["README.md", "docs/instructors.md"]
    assert main(["guide", "--check", "--root", str(course)]) == 1
    assert main(["guide", "--root", str(course)]) == 0 and not guide.stale(course)
    assert "35 min" in (course / "README.md").read_text()
    # a file without the markers is an error naming them
    (course / "README.md").write_text("# no markers\n")
    assert main(["guide", "--root", str(course)]) == 2
