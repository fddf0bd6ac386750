"""The similarity report: copied code across submissions and pasted course code are found, with their lines; the code
every learner receives and short honest answers are not."""
import csv
import inspect
import json
from pathlib import Path

import nbformat
import pytest

from collapse_lab import exercises, tails
from collapse_lab.grading import similarity as sim

pytest.importorskip("copydetect")

ROOT = Path(__file__).resolve().parent.parent
CH = "01_sampling_loses_the_tails.ipynb"


def _notebooks():
    sol = nbformat.read(ROOT / "solutions" / CH, as_version=4)
    given = json.loads(nbformat.writes(exercises.exercise_notebook(sol)))
    answers = [i for i, c in enumerate(sol.cells) if exercises.BEGIN in c.source]

    def with_answers(change=lambda s: s):
        nb = json.loads(json.dumps(given))
        for i in answers:
            nb["cells"][i]["source"] = change(sol.cells[i].source)
        return nb

    honest = with_answers()
    renamed = with_answers(lambda s: s.replace("live", "still_there").replace("p = ", "probs = "))
    pasted = json.loads(json.dumps(given))
    i = next(i for i in answers if sol.cells[i].source.startswith("def categorical_step"))
    pasted["cells"][i]["source"] = ("from collapse_lab.tails import _probs, _int, as_rng\n"
                                    + inspect.getsource(tails.refit).replace("def refit", "def categorical_step"))
    return given, honest, renamed, pasted


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """A small stand-in for the course package: the module holding the function a submission pastes, plus one more."""
    pkg = tmp_path_factory.mktemp("pkg") / "collapse_lab"
    pkg.mkdir()
    (pkg / "tails.py").write_text(inspect.getsource(tails))
    (pkg / "grading").mkdir()
    (pkg / "grading" / "x.py").write_text("def left_out():\n    return 1\n")
    refs = sim.course_functions(pkg)
    names = [r.owner for r in refs]
    assert "collapse_lab.tails.refit" in names and "collapse_lab.tails.expected_lost" in names
    assert not any("left_out" in n for n in names)  # the grading machinery is no course reference
    return sim.fingerprints(refs)


def test_copies_and_pasted_course_code_are_found(references):
    given, honest, renamed, pasted = _notebooks()
    boilerplate = sim._boilerplate([sim.notebook_code(given, "exercise", CH).text])
    codes = [sim.notebook_code(nb, who, CH) for nb, who in
             ((honest, "ana"), (renamed, "ben"), (pasted, "cem"), (given, "dan"))]
    found = sim.compare(codes, references, boilerplate, 0.6)
    pairs = {(m.a, m.b): m for m in found if m.kind == "pair"}
    assert set(pairs) == {("ana", "ben")}, pairs  # renaming variables does not hide a copy
    m = pairs[("ana", "ben")]
    assert m.share_a > 0.9 and m.share_b > 0.9 and m.lines_a.startswith("cell ")
    course = [(m.a, m.b) for m in found if m.kind == "course"]
    assert course == [("cem", "collapse_lab.tails.refit")], course  # the honest answers reproduce no function whole
    hit = next(m for m in found if m.kind == "course")
    assert "cell 5" in hit.lines_a and "<mark>" in hit.html_a  # where the pasted code is, marked in the page


def test_report_files_and_flags(tmp_path, references, monkeypatch):
    from collapse_lab.grading import grader

    given, honest, renamed, pasted = _notebooks()
    sol = grader.load_solution(ROOT / "solutions" / CH)
    subs = []
    for who, nb in (("ana", honest), ("ben", renamed), ("cem", pasted), ("dan", given)):
        p = tmp_path / who / CH
        p.parent.mkdir()
        p.write_text(json.dumps(nb), encoding="utf-8")
        subs.append(grader.Submission(p, who, CH, solution=sol))
    monkeypatch.setattr(sim, "course_functions", lambda: [r for r, _ in references])
    n = sim.report(subs, tmp_path / "out", threshold=0.6)
    rows = list(csv.DictReader(open(tmp_path / "out" / "similarity.csv", encoding="utf-8")))
    assert n == len(rows) == 2 and {(r["kind"], r["a"], r["b"]) for r in rows} == {
        ("pair", "ana", "ben"), ("course", "cem", "collapse_lab.tails.refit")}
    assert subs[2].flags and "collapse_lab.tails.refit" in subs[2].flags[0] and not subs[0].flags
    page = (tmp_path / "out" / "similarity.html").read_text(encoding="utf-8")
    assert "<mark>" in page and "ana and ben" in page
    with pytest.raises(ValueError):
        sim.report(subs, tmp_path / "out", threshold=0)


def test_course_functions_cut_each_function_as_ast_does(tmp_path):
    import ast

    text = ('class Café:\r\n    def ünï(self, x="→"):  # 非ASCII\r\n        return (x,\r\n                x)\r\n\r\n'
            'def one(): return "\x0c"\n\x0c\nasync def two():\n    pass\n')
    pkg = tmp_path / "collapse_lab"
    pkg.mkdir()
    (pkg / "m.py").write_bytes(text.encode("utf-8"))
    refs = {r.owner: r.text for r in sim.course_functions(pkg)}
    text = (pkg / "m.py").read_text(encoding="utf-8")  # as the function reads it (newlines translated)
    tree = ast.parse(text)
    want = {f"collapse_lab.m.{q}": ast.get_source_segment(text, n) for q, n in
            (("Café.ünï", tree.body[0].body[0]), ("one", tree.body[1]), ("two", tree.body[2]))}
    assert refs == want and "return (x," in refs["collapse_lab.m.Café.ünï"]
