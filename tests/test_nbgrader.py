"""nbgrader as is: generate_assignment and autograde on chapter 1, with the metadata build-exercises writes."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from collapse_lab import exercises

pytest.importorskip("nbgrader")

ROOT = Path(__file__).resolve().parent.parent
CH = "01_sampling_loses_the_tails.ipynb"


def nbgrader(course, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLLAPSE_LAB_PROFILE="quick", COLLAPSE_LAB_QUIET="1",
               MPLBACKEND="Agg", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    p = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--force"], cwd=course, env=env,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]


def test_generate_assignment_and_autograde(tmp_path):
    course = tmp_path
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.root = %r\nc.CourseDirectory.course_id = 'collapse-lab'\n"
        "c.CourseDirectory.db_assignments = [dict(name='ps1')]\n"
        "c.CourseDirectory.db_students = [dict(id='good'), dict(id='half'), dict(id='none')]\n"
        "c.ExecutePreprocessor.timeout = 900\n" % str(course))
    src = nbformat.read(ROOT / "solutions" / CH, as_version=4)
    source = exercises.nbgrader_source(src)
    (course / "source" / "ps1").mkdir(parents=True)
    nbformat.write(source, course / "source" / "ps1" / CH)
    nbgrader(course, "generate_assignment", "ps1")
    released = nbformat.read(course / "release" / "ps1" / CH, as_version=4)
    shipped = nbformat.read(ROOT / "exercises" / CH, as_version=4)
    assert [c.source for c in released.cells] == [c.source for c in shipped.cells]  # exercises/ is the release

    nbg = [c.metadata.get("nbgrader", {}) for c in source.cells]
    grades = [i for i, m in enumerate(nbg) if m.get("grade") and not m.get("solution")]  # autograded
    written = [i for i, m in enumerate(nbg) if m.get("grade") and m.get("solution")]  # graded by hand
    answers = [i for i, m in enumerate(nbg) if m.get("solution") and not m.get("grade")]
    points = {i: source.cells[i].metadata["nbgrader"]["points"] for i in grades}
    by_hand = sum(source.cells[i].metadata["nbgrader"]["points"] for i in written)
    assert len(written) == 1 and source.cells[written[0]].cell_type == "markdown" and by_hand > 0
    answer_of = {g: max(a for a in answers if a < g) for g in grades}

    def submission(student, solved):
        nb = nbformat.read(ROOT / "exercises" / CH, as_version=4)  # what students get, as it is
        for g in solved:
            nb.cells[answer_of[g]].source = source.cells[answer_of[g]].source
        d = course / "submitted" / student / "ps1"
        d.mkdir(parents=True)
        nbformat.write(nb, d / CH)

    submission("good", grades)
    submission("half", grades[1:3])
    submission("none", [])
    nbgrader(course, "autograde", "ps1")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        score = {s: gb.find_submission("ps1", s).score for s in ("good", "half", "none")}
        top = gb.find_submission("ps1", "good").max_score
    assert top == sum(points.values()) + by_hand and len(grades) >= 5
    # the written answer waits for a grader (formgrader, or collapse-lab check --rubric): 0 until scored
    assert score == {"good": top - by_hand, "half": points[grades[1]] + points[grades[2]], "none": 0}
    shutil.rmtree(course / "autograded", ignore_errors=True)
