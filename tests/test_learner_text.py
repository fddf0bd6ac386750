"""What a learner reads, read as a learner would (fast: no kernels).

(a) one notation: the clashes docs/notation.md rules out (a symbol used for two things) are flagged in every
    notebook's and solution's Markdown;
(b) no developer notes, test files, tool names or internal conventions in anything a learner reads (lectures,
    exercises, the documents and README of the student bundle);
(c) every lecture notebook states its times on the agreed line, the stated minutes follow the reading rule
    (collapse_lab.reading) within 5, and the main path keeps its word budget;
(d) the instructor guide and the README agree with the notebooks (times, exercises, objectives, key figures), and
    the hand-written part of the guide states no count or time of its own.

Chapters 00-04 are being rewritten on other branches to the same conventions: their failures are marked as
expected (xfail, not strict) per chapter until those branches are merged; the marks then go.
"""
import re
from pathlib import Path

import nbformat
import pytest

from collapse_lab import bundle, guide, reading

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9]*.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("[0-9]*.ipynb"))
# chapters rewritten on the branches ch012 (00-02) and ch34 (03-04) at the same time as this test was written
PENDING: dict = {}


def _param(path: Path):
    num = path.stem.split("_")[0]
    branch = PENDING.get(num[:2]) if num[:2] != "05" else None
    marks = [pytest.mark.xfail(strict=False, reason=f"chapter {num} is rewritten on branch {branch}")] if branch else []
    return pytest.param(path, id=f"{path.parent.name}/{path.stem}", marks=marks)


def _markdown(path: Path) -> list[tuple[int, str]]:
    nb = nbformat.read(path, as_version=4)
    return [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]


def _sentences(text: str) -> list[str]:
    text = re.sub(r"<[^>]+>", " ", text)
    return [s for s in re.split(r"(?<=[.!?:;])\s+|\n\s*\n|\n\s*[-*|]\s", text) if s.strip()]


# ---- (a) notation -----------------------------------------------------------------------------------------------
# symbol -> (its one meaning in docs/notation.md, the uses that clash with it: a context phrase that gives the
# symbol another meaning when both appear in one sentence)
def _math_symbol(sym: str) -> re.Pattern:
    """The symbol standing alone inside $...$ (not part of a word or a command, not a subscript's base)."""
    # "N(0, 1)" is the normal distribution, not the symbol N
    return re.compile(r"\$[^$]*(?<![\\\w])" + re.escape(sym) + r"(?![\w_]|\s*\()[^$]*\$")


def _clashes(sym: str, clash: re.Pattern, sentence: str) -> bool:
    """The symbol and a phrase that gives it another meaning, with no other formula between them: "$N = 1000$
    samples per generation" clashes, "$n = 0$ ... refits $M$ samples per generation" does not."""
    for a in _math_symbol(sym).finditer(sentence):
        for b in clash.finditer(sentence):
            between = sentence[a.end():b.start()] if b.start() >= a.end() else sentence[b.end():a.start()]
            if "$" not in between and len(between) <= 60:
                return True
    return False


FORBIDDEN = {
    "N": ("number of real examples available",
          re.compile(r"per[- ]generation|each generation|every generation|sample size per|samples? per|points per|"
                     r"examples per|per round", re.I)),
    "T": ("number of generations",
          re.compile(r"examples per|per iteration|samples? per|points per|training examples", re.I)),
    "k": ("number of mixture components",
          re.compile(r"anchor|real points?|real examples? (added|kept)", re.I)),
    "s": ("mean and variance of the original distribution",
          re.compile(r"noise", re.I)),
    "n": ("number of fits made so far",
          re.compile(r"(examples|points|samples|draws) (per|each|every) generation|per-generation sample|"
                     r"sample size", re.I)),
}


def _notation_table() -> dict[str, str]:
    rows = {}
    for ln in (ROOT / "docs" / "notation.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|", ln)
        if m:
            for sym in re.findall(r"\$([^$]+)\$", m.group(1)):
                rows.setdefault(sym.strip(), m.group(2))
                rows.setdefault(re.split(r"[_^]", sym.strip())[0], m.group(2))  # s^2 -> s
    return rows


def test_forbidden_uses_follow_the_notation_table():
    table = _notation_table()
    for sym, (meaning, clash) in FORBIDDEN.items():
        assert sym in table, f"${sym}$ is not in docs/notation.md's table"
        assert meaning.lower() in table[sym].lower(), (sym, table[sym])
        assert not clash.search(table[sym]), f"docs/notation.md itself gives ${sym}$ a clashing meaning"
    for sym in ("M", "g", "K", "f", "A", r"\sigma"):
        assert sym in table, f"${sym}$ is not in docs/notation.md's table"


@pytest.mark.parametrize("path", [_param(p) for p in (*LECTURES, *SOLUTIONS)])
def test_no_symbol_is_used_for_two_things(path):
    found = []
    for i, text in _markdown(path):
        for sentence in _sentences(text):
            for sym, (meaning, clash) in FORBIDDEN.items():
                if _clashes(sym, clash, sentence):
                    found.append(f"cell {i}: ${sym}$ (means {meaning}): {sentence.strip()[:140]}")
    assert not found, "symbols used against docs/notation.md:\n" + "\n".join(found)


def test_the_notation_check_catches_the_known_clashes():
    bad = ["There are $d$ features, $T$ examples per iteration and label noise of standard deviation $s$.",
           "EM refits on $N = 1000$ samples per generation.", "Add $k$ real points to every training set.",
           "With $n = 100$ points per generation, at which generation is a mode swamped?"]
    for sentence in bad:
        assert any(_clashes(sym, clash, sentence) for sym, (_, clash) in FORBIDDEN.items()), sentence
    good = "Every generation draws $M$ examples; the chain runs $T$ generations with $k$ mixture components."
    assert not any(_clashes(sym, clash, good) for sym, (_, clash) in FORBIDDEN.items())
    near = "The chain starts from the original ($n = 0$) and refits $M = 1{,}000$ samples per generation."
    assert not any(_clashes(sym, clash, near) for sym, (_, clash) in FORBIDDEN.items())


# ---- (b) no developer notes in what a learner reads ------------------------------------------------------------
DEVELOPER = re.compile(
    r"tests/|test_\w+\.py|test_claims|benchmarks/|\bnbval\b|\bpytest\b|\.ci/|\bxfail\b|course's tests|"
    r"kept thin on purpose|\bthe issues?\b|as the issue says|the cell above prints|the printout|"
    r"the cell below prints|\bif it is\b|depends on the seed|left a choice open|\bmake test\b|\bCI\b",
    re.I)


def _learner_text(path: Path) -> list[tuple[str, str]]:
    """(where, text) of what a learner reads in a notebook: Markdown and the comments of code cells."""
    nb = nbformat.read(path, as_version=4)
    out = []
    for i, c in enumerate(nb.cells):
        if c.cell_type == "markdown":
            out.append((f"cell {i}", c.source))
        else:
            comments = "\n".join(m.group(1) for m in re.finditer(r"#(.*)$", c.source, re.M))
            out.append((f"cell {i} (comments)", comments))
    return out


@pytest.mark.parametrize("path", [_param(p) for p in (*LECTURES, *EXERCISES)])
def test_no_developer_notes_in_notebooks(path):
    hits = [f"{where}: {m.group(0)!r} in ...{text[max(0, m.start() - 60):m.end() + 40]!r}..."
            for where, text in _learner_text(path) for m in DEVELOPER.finditer(text)]
    assert not hits, "\n".join(hits)


def test_no_developer_notes_in_the_student_bundle(tmp_path):
    dest = tmp_path / "class"
    bundle.student(dest, root=ROOT)
    docs = sorted((dest / "docs").rglob("*.md")) if (dest / "docs").is_dir() else []
    assert not {p.name for p in docs} & set(bundle.INSTRUCTOR_DOCS), "an instructor document reached students"
    hits = []
    for p in [dest / "README.md", *docs]:
        text = p.read_text(encoding="utf-8")
        hits += [f"{p.relative_to(dest)}: {m.group(0)!r}" for m in DEVELOPER.finditer(text)]
    assert not hits, "\n".join(hits)


def test_student_readme_summaries_are_sentences():
    text = bundle.student_readme(ROOT)
    chapter_part = text.split("## Chapters", 1)[1].split("## ", 1)[0]
    summaries = [ln.strip() for ln in chapter_part.splitlines() if ln.startswith("  ") and ln.strip()]
    capstone = [e for e in EXERCISES if e.stem[:2] not in {p.stem[:2] for p in LECTURES}]  # exercises only
    assert len(summaries) == len(LECTURES) + len(capstone), chapter_part
    for s in summaries:
        assert len(s.split()) >= 6 and not re.match(r"(learning objectives|session|\*\*)", s, re.I), s


# ---- (c) the time lines and the word budget ---------------------------------------------------------------------
@pytest.mark.parametrize("path", [_param(p) for p in LECTURES])
def test_time_line_follows_the_reading_rule(path):
    nb = nbformat.read(path, as_version=4)
    facts = reading.facts(nb)
    stated = facts["stated"]
    course_map = path.stem.startswith("00")
    form = reading.time_line(15) if course_map else reading.time_line(40, 20, 45)
    assert stated is not None, f"the first Markdown cell has no time line of the form {form!r}"
    assert (stated["deeper"] is None) == course_map, f"use the form {form!r}"
    assert abs(stated["main"] - facts["main_rule"]) <= 5, (
        f"main path states {stated['main']} min; the rule gives {facts['main_rule']} "
        f"({facts['main_words']} words / {reading.WORDS_PER_MINUTE} + {facts['main_code']} code cells)")
    if not course_map:
        assert reading.split(nb)[1], "no '## Going deeper (optional)' part"
        assert abs(stated["deeper"] - facts["deeper_rule"]) <= 5, (
            f"going deeper states {stated['deeper']} min; the rule gives {facts['deeper_rule']}")
        assert stated["exercises"] > 0


@pytest.mark.parametrize("path", [_param(p) for p in LECTURES])
def test_main_path_within_its_word_budget(path):
    budget = reading.MAP_BUDGET if path.stem.startswith("00") else reading.BUDGET
    words = reading.words(reading.split(nbformat.read(path, as_version=4))[0])
    assert words <= budget, f"the main path has {words} markdown words; the budget is {budget}"


@pytest.mark.parametrize("path", [_param(p) for p in LECTURES if not p.stem.startswith("00")])
def test_predict_first_before_the_key_figure(path):
    nb = nbformat.read(path, as_version=4)
    main = reading.split(nb)[0]
    assert any(c.cell_type == "markdown" and "**Predict first.**" in c.source for c in main)
    assert guide.key_figure(nb), "no figure saved after the first 'Predict first.' prompt"


def test_reading_rule():
    md = lambda n: {"cell_type": "markdown", "source": " ".join(["w"] * n)}  # noqa: E731
    code = {"cell_type": "code", "source": "x = 1"}
    assert reading.rule_minutes([]) == 0
    assert reading.rule_minutes([md(70)]) == 5          # 1 min rounds up to 5
    assert reading.rule_minutes([md(700), code]) == 15  # 10 + 1 = 11 -> 15
    assert reading.rule_minutes([md(1050)]) == 15       # exactly 15 stays 15
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "# T\n\n" + reading.time_line(40, 20, 45)), nbformat.v4.new_markdown_cell("## Going deeper (optional)")])
    assert reading.stated_times(nb) == {"main": 40, "deeper": 20, "exercises": 45}
    assert len(reading.split(nb)[0]) == 1 and len(reading.split(nb)[1]) == 1
    assert reading.stated_times(nbformat.v4.new_notebook()) is None


# ---- (d) the instructor guide and the README agree with the notebooks -------------------------------------------
def test_guide_and_readme_agree_with_the_notebooks():
    stale = guide.stale(ROOT)
    assert not stale, f"{stale} disagree with the notebooks: run `python -m collapse_lab guide` and commit"


def test_guide_counts_every_exercise_and_objective():
    chs = {c["id"]: c for c in guide.chapters(ROOT)}
    for sol in SOLUTIONS:
        num = sol.stem.split("_")[0]
        owner = next(c for c in chs.values() if c["exercise_notebook"] == sol.name and not c["shared_with"])
        from collapse_lab.cells import check_cells
        assert len(owner["exercises"]) == len(check_cells(nbformat.read(sol, as_version=4))), num
    text = (ROOT / "docs" / "instructors.md").read_text(encoding="utf-8")
    block = text.split(guide.BEGIN)[1].split(guide.END)[0]
    for c in chs.values():
        for o in c["objectives"]:
            assert o in block, (c["id"], o)


def test_hand_written_guide_states_no_counts_or_times_of_its_own():
    text = (ROOT / "docs" / "instructors.md").read_text(encoding="utf-8")
    head, rest = text.split(guide.BEGIN)
    hand = head + rest.split(guide.END, 1)[1]
    assert not re.search(r"\(\d+ exercises?\)|\bLecture: \d+ min|Reading and running the lecture: \d+", hand)
    assert "grading.md where present" not in text and "may be split" not in text
    for needed in ("05a", "05b", "docs/rubrics.md", "collapse-lab ready", "Model answer"):
        assert needed in text, needed


# ---- the README is a front page; no run diaries anywhere --------------------------------------------------------
DIARY = re.compile(r"\b20\d\d-\d\d-\d\d\b|second (CI )?run|this day's runs|the same day|\bon the day\b|"
                   r"left a choice open", re.I)


def test_readme_is_a_front_page():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text) < 8000, f"the README has {len(text)} characters; the front page stays under 8,000"
    for needed in ("make course", "make test", "docs/setup.md", "docs/data.md", "docs/compute.md",
                   "docs/instructors.md", "docs/notation.md", "docs/grading.md", "docs/decisions.md"):
        assert needed in text, needed
    for p in re.findall(r"\]\((docs/[\w.-]+\.md)\)", text):
        pending = p in ("docs/workshop.md", "docs/accessibility.md", "docs/rubrics.md")  # written on other branches
        assert pending or (ROOT / p).is_file(), f"the README links {p}, which does not exist"


@pytest.mark.parametrize("path", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_no_dates_or_run_diaries(path):
    text = path.read_text(encoding="utf-8")
    assert not [m.group(0) for m in DIARY.finditer(text)], "measured figures name the command or the build's " \
        "timing table that produced them, not the day they were run"


def test_home_page_and_bundle_read_the_time_line_and_summary():
    from collapse_lab.course import describe

    for path in LECTURES:
        nb = nbformat.read(path, as_version=4)
        info = describe(nb)
        if reading.stated_times(nb) is not None:
            assert info["time"].startswith("Time: ") and "*" not in info["time"], info["time"]
        own = (nb.metadata.get("collapse_lab") or {}).get("summary")
        assert own, f"{path.name}: add a one-line summary as metadata['collapse_lab']['summary']"
        assert info["summary"] == own, path.name
