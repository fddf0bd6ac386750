"""The gradebook's files: one distinct feedback file and row per student id in any script, written items in the
gradebook, rubric scores merged line by line with every bad line reported."""
import csv
import unicodedata

import pytest

from collapse_lab.grading import gradebook, grader, lms, rubric

IDS = ["José", "Josè", "Jose\u0301", "王小明", "王小明 ", "李雷", "Ana María López", "Ana María_López", "a/b", "a:b",
       "con", "", "...", "Émile", "ÉMILE", "émile", "Ωmega", "x" * 300]


def sub(tmp_path, student, points=1.0, written=(), status="graded"):
    v = grader.Verdict("square", points > 0, points, 1.0, "msg", "")
    sol = grader.Solution(tmp_path / "sol.ipynb", [grader.Exercise("square", "ch0", "square", 1.0)])
    s = grader.Submission(tmp_path / "x.ipynb", student, "00_tiny.ipynb", status=status, verdicts=[v],
                          solution=sol, max_points=1.0 + sum(w.max_points for w in written))
    s.written = [rubric.Written(w.name, w.max_points) for w in written]
    s.identity = lms.Identity(student)
    return s


def test_safe_name_keeps_letters_of_any_script():
    assert gradebook.safe_name("王小明") == "王小明"
    assert gradebook.safe_name("José") == "José" and gradebook.safe_name("Jose\u0301") == "José"  # NFC
    assert gradebook.safe_name("a/b\\c:d*e?f\"g<h>i|j k\tl") == "a_b_c_d_e_f_g_h_i_j_k_l"
    assert gradebook.safe_name("../etc") == "etc"
    assert gradebook.safe_name("") == "student" and gradebook.safe_name("...") == "student"
    assert gradebook.safe_name("CON") == "student_CON"
    assert len(gradebook.safe_name("王" * 200).encode()) <= gradebook.MAX_NAME_BYTES


def test_file_names_distinct_for_any_ids():
    names = gradebook.file_names(IDS)
    assert len(set(n.casefold() for n in names.values())) == len(set(IDS))  # distinct, also ignoring case
    assert names["王小明"] != names["王小明 "] and names["José"] != names["Josè"] != names["Jose\u0301"]
    assert names["李雷"] == "李雷"  # no collision: no suffix
    for n in names.values():
        assert "/" not in n and "\\" not in n and n and not n.startswith(".")
    assert gradebook.file_names(IDS) == names  # the same ids give the same names, run after run


def test_feedback_files_and_rows_per_student(tmp_path):
    subs = [sub(tmp_path, s, points=float(i % 2)) for i, s in enumerate(IDS)]
    files = gradebook.write_feedback(tmp_path / "fb", subs)
    assert len(files) == len(set(files)) == len(IDS) == len(list((tmp_path / "fb").iterdir()))
    for f, s in zip(files, IDS):
        assert f.read_text(encoding="utf-8").startswith(f"# Feedback for {s}\n")
    gradebook.write_wide(tmp_path / "w.csv", subs)
    with open(tmp_path / "w.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["student"] for r in rows] == IDS  # one row each, the ids as they are
    assert unicodedata.is_normalized("NFC", rows[0]["student"])


def test_written_items_in_the_gradebook(tmp_path):
    s = sub(tmp_path, "alice", written=[rubric.Written("explain_ch0", 4.0)])
    header, rows = gradebook.wide_rows([s])
    assert header == ["student", "square", "explain_ch0", "total", "max", "status", "flags"]
    assert rows[0]["explain_ch0"] == "" and rows[0]["max"] == "5" and rows[0]["total"] == "1"
    long = gradebook.long_rows([s])
    assert long[-1]["exercise"] == "explain_ch0" and "not scored yet" in long[-1]["message"]
    s.written[0].score, s.written[0].comment = 3.0, "names the cause, no mechanism"
    header, rows = gradebook.wide_rows([s])
    assert rows[0]["explain_ch0"] == "3" and rows[0]["total"] == "4"
    assert "3 / 4" in gradebook.feedback("alice", [s]) and "no mechanism" in gradebook.feedback("alice", [s])


def _merge(tmp_path, text, subs):
    p = tmp_path / "scores.csv"
    p.write_text(text, encoding="utf-8")
    return rubric.merge(p, subs)


def test_rubric_merge_reports_each_bad_line_and_keeps_the_rest(tmp_path):
    w = [rubric.Written("explain_ch0", 4.0)]
    subs = [sub(tmp_path, s, written=w) for s in ("alice", "bob", "王小明", "carol", "dave")]
    problems = _merge(tmp_path, "student,item,score,comment\n"
                                "alice,explain_ch0,4,all three points\n"
                                "王小明,explain_ch0,2.5,\n"
                                "mallory,explain_ch0,4,\n"          # line 4: unknown student
                                "bob,explain_ch9,3,\n"              # line 5: unknown item
                                "bob,explain_ch0,5,\n"              # line 6: out of range
                                "carol,explain_ch0,three,\n"        # line 7: not a number
                                "alice,explain_ch0,1,\n"            # line 8: second row
                                "carol,explain_ch0,-1,\n", subs)    # line 9: out of range
    by = {s.student: s.written[0] for s in subs}
    assert (by["alice"].score, by["alice"].comment) == (4.0, "all three points") and by["王小明"].score == 2.5
    assert by["bob"].score is None and by["carol"].score is None and by["dave"].score is None
    text = "\n".join(problems)
    for needle in ("line 4: unknown student 'mallory'", "line 5: unknown item 'explain_ch9' for bob",
                   "line 6: score '5'", "line 7: score 'three'", "line 8: a second score for alice",
                   "line 9: score '-1'", "no row for dave, explain_ch0"):
        assert needle in text, (needle, text)
    assert len(problems) == 7 and "no row for bob" not in text  # a bad row is reported once, by its line
    assert gradebook.wide_rows(subs)[1][0]["total"] == "5"  # alice: 1 check point + 4 rubric points


def test_rubric_merge_bad_files(tmp_path):
    subs = [sub(tmp_path, "alice", written=[rubric.Written("explain_ch0", 4.0)])]
    assert "missing score" in _merge(tmp_path, "student,item,points\nalice,explain_ch0,4\n", subs)[0]
    (tmp_path / "latin1.csv").write_bytes("student,item,score\nJos\xe9,explain_ch0,4\n".encode("latin-1"))
    assert "cannot be read" in rubric.merge(tmp_path / "latin1.csv", subs)[-1]
    # Excel's UTF-8 with a byte-order mark, columns in another order and case, blank lines: fine
    assert _merge(tmp_path, "\ufeffScore,Student,Item\n\n3,alice,explain_ch0\n", subs) == []
    assert subs[0].written[0].score == 3.0
    with pytest.raises(ValueError):
        rubric.check_readable(tmp_path / "missing.csv")


def test_written_items_read_from_nbgrader_metadata():
    nb = {"cells": [{"cell_type": "markdown", "source": "x", "metadata": {}},
                    {"cell_type": "markdown", "source": "YOUR ANSWER HERE", "metadata": {"nbgrader": {
                        "grade": True, "solution": True, "points": 4, "grade_id": "explain_ch1",
                        "schema_version": 3}}}]}
    assert rubric.written_items(nb) == [rubric.Written("explain_ch1", 4.0)]
    nb["cells"][1]["metadata"]["nbgrader"]["points"] = 0
    with pytest.raises(ValueError, match="points > 0"):
        rubric.written_items(nb)
