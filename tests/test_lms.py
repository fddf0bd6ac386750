"""A class graded as an LMS hands it over: bulk downloads of Canvas and Moodle, renamed notebooks matched by their
metadata, ids in any script, a memory hog, and the gradebook in the import layouts of Canvas and Moodle.

The LMS layouts tested here: Canvas's gradebook import CSV (columns Student, ID, SIS User ID, SIS Login ID, Section,
then one column per assignment, "Name (assignment id)" for an existing one); Moodle's grade import CSV (an
identifier column mapped at import to a user field, then one column per grade item). See docs/grading.md.
"""
import csv
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from collapse_lab import tails
from collapse_lab.grading import lms
from collapse_lab.grading.kernel import bwrap_path

import test_grading as tg

ROOT = Path(__file__).resolve().parent.parent
CH = "01_sampling_loses_the_tails.ipynb"


# -- who and which chapter, without grading ---------------------------------------------------------------------------


@pytest.mark.parametrize("path, student, name, kind, original", [
    ("dl/smithbob_340934_208490284_01_sampling_loses_the_tails.ipynb", "340934", "smithbob", "canvas",
     "01_sampling_loses_the_tails.ipynb"),
    ("dl/doejane_late_77_5_homework one.ipynb", "77", "doejane", "canvas", "homework one.ipynb"),
    ("dl/doejane_LATE_77_5_hw.ipynb", "77", "doejane", "canvas", "hw.ipynb"),
    ("dl/Ana María López_123456_assignsubmission_file_/ch1.ipynb", "participant 123456", "Ana María López",
     "moodle", "ch1.ipynb"),
    ("dl/Ana López_9_assignsubmission_file_ch1.ipynb", "participant 9", "Ana López", "moodle", "ch1.ipynb"),
    ("submissions/王小明/01.ipynb", "王小明", "", "folder", "01.ipynb"),
    ("submissions/Jose\u0301/01.ipynb", "Jos\u00e9", "", "folder", "01.ipynb"),  # NFD folder name: NFC id
])
def test_identify(tmp_path, path, student, name, kind, original):
    ident = lms.identify(tmp_path / path)
    assert (ident.student, ident.name, ident.lms, ident.original) == (student, name, kind, original)


def test_identify_flat_folder_names_by_file(tmp_path):
    assert lms.identify(tmp_path / "alice.ipynb", root=tmp_path).student == "alice"
    assert lms.identify(tmp_path / "alice" / "x.ipynb", root=tmp_path).student == "alice"


def test_chapter_of_and_solutions_carry_it():
    assert lms.chapter_of({"collapse_lab": {"chapter": "01"}}) == "01"
    assert lms.chapter_of({}) is None and lms.chapter_of({"collapse_lab": {"chapter": ""}}) is None
    with pytest.raises(TypeError):
        lms.chapter_of(None)
    for folder in ("solutions", "exercises"):  # the builder keeps the solution's metadata in the exercise
        chapters = [lms.chapter_of(nbformat.read(p, as_version=4).metadata)
                    for p in sorted((ROOT / folder).glob("*.ipynb"))]
        assert chapters == ["01", "02", "03", "04", "05", "06"], (folder, chapters)


def test_match_by_metadata_then_names(tmp_path):
    from collapse_lab.grading import batch

    index = batch.solution_index(ROOT / "solutions")
    assert index["01"].name == CH and len(index) == 6
    ident = lms.identify(tmp_path / "smithbob_1_2_renamed.ipynb")
    assert batch.match({"collapse_lab": {"chapter": "01"}}, ident, "x.ipynb", ROOT / "solutions", index) == index["01"]
    canvas = lms.identify(tmp_path / f"smithbob_1_2_{CH}")  # no metadata: the uploaded name
    assert batch.match({}, canvas, canvas.original and "smithbob_1_2_" + CH, ROOT / "solutions", index).name == CH
    why = batch.match({"collapse_lab": {"chapter": "09"}}, ident, "x.ipynb", ROOT / "solutions", index)
    assert isinstance(why, str) and "no matching chapter" in why and "'09'" in why
    assert "no matching chapter" in batch.match({}, ident, "x.ipynb", ROOT / "solutions", index)


# -- a class through the command line ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """test_grading's small course (a copy of the package with checks/ch0.py), its solution saying chapter 00."""
    base = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "collapse_lab", base / "collapse_lab", ignore=shutil.ignore_patterns("__pycache__"))
    (base / "collapse_lab" / "checks" / "ch0.py").write_text(tg.CH0)
    (base / "solutions").mkdir()
    nbformat.write(_solution(), base / "solutions" / "00_tiny.ipynb")
    return base


def _solution():
    """test_grading's tiny solution, with its chapter in the metadata and a written answer graded by hand."""
    nb = tg.solution_nb()
    nb.metadata["collapse_lab"] = {"chapter": "00"}
    answer = nbformat.v4.new_markdown_cell("YOUR ANSWER HERE")
    answer.metadata["nbgrader"] = {"grade": True, "solution": True, "points": 4, "grade_id": "explain_ch0",
                                   "schema_version": 3}
    nb.cells += [nbformat.v4.new_markdown_cell("## Explain why"), answer]
    return nb


def _exercise():
    from collapse_lab import exercises

    return exercises.exercise_notebook(_solution())


def _write(path: Path, solved=(), extra=None, written=None) -> Path:
    nb = _exercise()
    if written is not None:
        nb.cells[-1].source = written
    sol = tg.solution_nb()
    for i, cell in enumerate(sol.cells):
        if any(tg.EXPR[n] in cell.source and "BEGIN" in cell.source for n in solved):
            nb.cells[i].source = cell.source
    for j, src in enumerate(extra or []):
        nb.cells.insert(2 + j, nbformat.v4.new_code_cell(src))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


@pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap is not installed")
def test_lms_bulk_downloads_grade_as_downloaded(course):
    dl = course / "download"
    _write(dl / "smithbob_101_9001_my homework (2).ipynb", solved=tg.ALL)  # Canvas, renamed by the student too
    _write(dl / "doejane_late_102_9002_00_tiny-1.ipynb", solved=("square", "letter"))  # Canvas, late
    _write(dl / "López Ana María_555_assignsubmission_file_" / "tiny.ipynb", solved=("letter",))  # Moodle folder
    _write(dl / "José" / "00_tiny.ipynb", solved=("square",))
    _write(dl / "Jose\u0300" / "00_tiny.ipynb", solved=("letter",))  # "Josè", NFD on disk
    _write(dl / "王小明" / "00_tiny.ipynb", solved=tg.ALL)
    _write(dl / "李雷" / "00_tiny.ipynb")
    _write(dl / "paster" / "00_tiny.ipynb", solved=("square",), extra=[  # the course's code, pasted
        "from collapse_lab.tails import _probs, _int, as_rng\n" + inspect.getsource(tails.refit)])
    _write(dl / "hog" / "00_tiny.ipynb", solved=("square",),
           extra=["blocks = []\nwhile True:\n    blocks.append(bytearray(64 * 2**20))"])
    out = course / "out-lms"
    env = dict(os.environ, PYTHONPATH=str(course), COLLAPSE_LAB_QUIET="1")
    p = subprocess.run([sys.executable, "-m", "collapse_lab.cli", "check", str(dl), "--solutions",
                        str(course / "solutions"), "--out", str(out), "--jobs", "2", "--memory", "1024",
                        "--timeout", "60", "--assignment", "00_tiny.ipynb=Tiny lab (4321)"],
                       cwd=course, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 3, p.stdout[-2000:] + p.stderr[-2000:]  # the memory hog's error row
    wide = {r["student"]: r for r in csv.DictReader(open(out / "gradebook.csv", encoding="utf-8"))}
    assert set(wide) == {"101", "102", "participant 555", "José", "Josè", "王小明", "李雷", "paster", "hog"}, wide
    assert [wide[s]["total"] for s in ("101", "102", "participant 555", "José", "Josè", "王小明", "李雷", "paster")] \
        == ["6", "3", "1", "2", "1", "6", "0", "2"]
    # the similarity report: the two complete (identical) submissions, and the pasted course function, flagged
    sim = list(csv.DictReader(open(out / "similarity.csv", encoding="utf-8")))
    assert any(r["kind"] == "pair" and {r["a"], r["b"]} == {"101", "王小明"} for r in sim), sim
    assert "collapse_lab.tails.refit" in wide["paster"]["flags"] and not wide["101"]["flags"], wide["paster"]
    assert (out / "similarity.html").is_file()
    assert "ran out of memory" in wide["hog"]["status"] and "1024 MiB" in wide["hog"]["status"]
    assert all(wide[s]["status"] == "graded" for s in wide if s != "hog")
    # Canvas: the fixed columns, then "Name (id)"; Canvas matches on ID (the user id from the file name) or on
    # SIS Login ID (the folder name)
    rows = _csv(out / "canvas.csv")
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Tiny lab (4321)"]
    by = {r[1] or r[3]: r for r in rows[1:]}
    assert by["101"][:5] == ["smithbob", "101", "", "", ""] and by["101"][5] == "6"
    assert by["王小明"][:5] == ["王小明", "", "", "王小明", ""] and by["王小明"][5] == "6"
    assert by["hog"][5] == ""  # not graded: left empty, Canvas keeps the score it has
    # Moodle: identifier, full name, one column per grade item
    rows = _csv(out / "moodle.csv")
    assert rows[0] == ["Identifier", "Full name", "Tiny lab (4321)"]
    assert ["participant 555", "López Ana María", "1"] in rows[1:]
    # one feedback file per student, however their names reduce
    files = sorted(f.name for f in (out / "feedback").iterdir())
    assert len(files) == 9 and "王小明.md" in files and "李雷.md" in files, files
    assert "# Feedback for Josè" in "".join((out / "feedback" / f).read_text() for f in files)


@pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap is not installed")
def test_rubric_scores_merge_into_every_output(course):
    subs = course / "rubric-class"
    _write(subs / "alice" / "00_tiny.ipynb", solved=tg.ALL, written="Because the **refit** keeps the mean.")
    _write(subs / "bob" / "00_tiny.ipynb", solved=("square",))
    _write(subs / "王小明" / "00_tiny.ipynb", solved=("letter",), written="因为……")
    scores = course / "scores.csv"
    scores.write_text("student,item,score,comment\nalice,explain_ch0,3,names the mechanism\n"
                      "bob,explain_ch0,9,\nmallory,explain_ch0,2,\n王小明,explain_ch0,4,\n", encoding="utf-8")
    out = course / "out-rubric"
    env = dict(os.environ, PYTHONPATH=str(course), COLLAPSE_LAB_QUIET="1")
    p = subprocess.run([sys.executable, "-m", "collapse_lab.cli", "check", str(subs), "--solutions",
                        str(course / "solutions"), "--out", str(out), "--rubric", str(scores), "--timeout", "60"],
                       cwd=course, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 4, p.stdout[-2000:] + p.stderr[-2000:]  # graded, but the rubric had problems
    err = p.stderr
    assert "scores.csv line 3: score '9'" in err and "line 4: unknown student 'mallory'" in err, err
    assert "no row for bob" not in err  # bob has a (bad) row: reported once, as out of range
    wide = {r["student"]: r for r in csv.DictReader(open(out / "gradebook.csv", encoding="utf-8"))}
    assert (wide["alice"]["explain_ch0"], wide["alice"]["total"], wide["alice"]["max"]) == ("3", "9", "10")
    assert (wide["bob"]["explain_ch0"], wide["bob"]["total"]) == ("", "2")
    assert (wide["王小明"]["explain_ch0"], wide["王小明"]["total"]) == ("4", "5")
    canvas = {r[3]: r for r in _csv(out / "canvas.csv")[1:]}
    assert canvas["alice"][5] == "9" and canvas["王小明"][5] == "5"  # the LMS gets the total with the rubric
    answers = (out / "written-answers.md").read_text(encoding="utf-8")
    assert "Because the **refit** keeps the mean." in answers and "因为……" in answers and "*(no answer)*" in answers
    template = _csv(out / "rubric-template.csv")
    assert template[0] == ["student", "item", "score", "comment"]
    assert ["alice", "explain_ch0", "3", "names the mechanism"] in template and ["bob", "explain_ch0", "", ""] in template
    feedback = (out / "feedback" / "alice.md").read_text(encoding="utf-8")
    assert "explain_ch0 (written answer): 3 / 4" in feedback and "names the mechanism" in feedback


def test_workers_one_per_core_one_unsandboxed():
    from collapse_lab.grading import Options, batch

    assert batch.workers(Options(), True, 100) == max(1, os.cpu_count() or 1)
    assert batch.workers(Options(jobs=3), True, 100) == 3 and batch.workers(Options(jobs=3), True, 2) == 2
    assert batch.workers(Options(jobs=3), False, 100) == 1  # unsandboxed: the files are checked after each one
    with pytest.raises(ValueError):
        Options(jobs=0)
    with pytest.raises(ValueError):
        Options(memory=1)
