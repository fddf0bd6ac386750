"""Written answers graded by hand against a rubric (``docs/rubrics.md``), merged into the gradebook from a CSV.

A written item is an nbgrader manually graded answer: a markdown cell of the solution notebook whose
``nbgrader`` metadata says ``grade`` and ``solution`` (its ``grade_id`` names the item, ``points`` its maximum).
The instructor (or nbgrader's formgrader) scores each answer; ``collapse-lab check ... --rubric scores.csv`` merges
the scores: one row per student and item, columns ``student, item, score`` and an optional ``comment``.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from .. import validate
from ..validate import ArgumentError

COLUMNS = ("student", "item", "score")  # required; "comment" optional


@dataclass
class Written:
    """One written item of a submission: ``name`` (the cell's ``grade_id``), ``max_points`` (> 0), ``score`` (None:
    not scored yet), the grader's ``comment`` and the student's ``answer``."""
    name: str
    max_points: float
    score: float | None = None
    comment: str = ""
    answer: str = ""  # what the student wrote (the markdown cell with this grade_id)


def written_items(nb: dict) -> list[Written]:
    """The written items of a solution notebook (its JSON as a dict), in order: markdown cells with nbgrader
    metadata ``grade`` and ``solution`` true. ValueError when one has no ``grade_id`` or no positive ``points``."""
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ArgumentError(f"nb must be a notebook's JSON (a dict with a list of cells); got {nb!r:.60}")
    out = []
    for i, c in enumerate(nb["cells"]):
        md = c.get("metadata", {}).get("nbgrader", {}) if isinstance(c, dict) else {}
        if not (isinstance(md, dict) and c.get("cell_type") == "markdown" and md.get("grade") and md.get("solution")):
            continue
        gid, points = md.get("grade_id"), md.get("points")
        if not (isinstance(gid, str) and gid.isidentifier()):
            raise ValueError(f"cell {i + 1}: a written item needs a grade_id (an identifier); got {gid!r:.60}")
        if isinstance(points, bool) or not isinstance(points, (int, float)) or not 0 < points < math.inf:
            raise ValueError(f"cell {i + 1} ({gid}): a written item needs points > 0; got {points!r:.60}")
        out.append(Written(gid, float(points)))
    if len({w.name for w in out}) != len(out):
        raise ValueError(f"two written items share a grade_id: {[w.name for w in out]}")
    return out


STUB = "YOUR ANSWER HERE"  # what the exercise's answer cell holds until the student writes


def read_answers(nb: dict, items: list[Written]) -> None:
    """Fill in each of ``items``' ``answer`` from a submission's notebook (its JSON as a dict): the markdown cell
    whose nbgrader ``grade_id`` is the item's name ('' when the student left it as it was or removed it)."""
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ArgumentError(f"nb must be a notebook's JSON (a dict with a list of cells); got {nb!r:.60}")
    by = {w.name: w for w in items}
    for c in nb["cells"]:
        md = c.get("metadata", {}).get("nbgrader", {}) if isinstance(c, dict) else {}
        gid = md.get("grade_id") if isinstance(md, dict) else None
        if isinstance(gid, str) and gid in by and c.get("cell_type") == "markdown":
            src = c.get("source", "")
            src = "".join(src) if isinstance(src, list) else src if isinstance(src, str) else ""
            by[gid].answer = "" if src.strip() == STUB else src.strip()


def write_answers(path, subs) -> Path:
    """Write every written answer of ``subs`` to the Markdown file ``path``, by item then student: what the
    instructor reads to score them against docs/rubrics.md."""
    path = validate.path("path", path, kind="file")
    lines = ["# Written answers", ""]
    items = sorted({w.name for s in subs for w in s.written})
    for item in items:
        lines += [f"## {item}", ""]
        for s in subs:
            for w in s.written:
                if w.name == item:
                    lines += [f"### {s.student} ({s.notebook})", "", w.answer or "*(no answer)*", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_template(path, subs) -> Path:
    """Write a rubric CSV for ``subs`` to fill in (``student, item, score, comment``; scores already merged are
    kept), one row per student and written item."""
    path = validate.path("path", path, kind="file")
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow([*COLUMNS, "comment"])
        for s in subs:
            for w in s.written:
                out.writerow([s.student, w.name, "" if w.score is None else f"{w.score:g}", w.comment])
    return path


def _row_number(reader) -> int:
    return reader.line_num


def merge(path, subs) -> list[str]:
    """Merge the rubric scores of the CSV file ``path`` into the written items of ``subs`` (grade_batch's
    Submissions, changed in place); returns the problems found, one line each (empty: all merged).

    Every row that is right is merged, whatever the other rows hold. Problems: a missing column, an unknown student
    or item, a score that is not a number in ``[0, max points]``, a second row for the same student and item, and
    (at the end) every written item of a graded submission that has no row."""
    path = validate.path("path", path, kind="file", must_exist=True)
    if not isinstance(subs, (list, tuple)):
        raise ArgumentError(f"subs must be a list of Submissions (grade_batch's); got {subs!r:.60}")
    items: dict[tuple[str, str], Written] = {}
    students = set()
    for s in subs:
        students.add(s.student)
        for w in getattr(s, "written", []):
            items[(s.student, w.name)] = w
    names = sorted({k[1] for k in items})
    problems, seen, rowed = [], set(), set()  # merged; with a row at all (a bad one is reported by its line)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                return [f"{path}: the header must hold the columns student, item, score (and optionally comment); "
                        f"missing {', '.join(missing)} (header: {', '.join(reader.fieldnames or []) or 'none'})"]
            reader.fieldnames = header
            for row in reader:
                line = _row_number(reader)
                where = f"{path.name} line {line}"
                student = (row.get("student") or "").strip()
                item = (row.get("item") or "").strip()
                raw = (row.get("score") or "").strip()
                if not student and not item and not raw:
                    continue
                if student not in students:
                    problems.append(f"{where}: unknown student {student!r} (not in this batch); row skipped")
                    continue
                if (student, item) not in items:
                    known = sorted(k[1] for k in items if k[0] == student)
                    problems.append(f"{where}: unknown item {item!r} for {student} (written items: "
                                    f"{', '.join(known) or 'none'}); row skipped")
                    continue
                if (student, item) in seen:
                    problems.append(f"{where}: a second score for {student}, {item}; the first is kept")
                    continue
                rowed.add((student, item))
                w = items[(student, item)]
                try:
                    score = float(raw)
                except ValueError:
                    score = math.nan
                if not 0 <= score <= w.max_points:
                    problems.append(f"{where}: score {raw!r} for {student}, {item} must be a number from 0 to "
                                    f"{w.max_points:g}; row skipped")
                    continue
                seen.add((student, item))
                w.score, w.comment = score, (row.get("comment") or "").strip()
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        return problems + [f"{path}: cannot be read as a UTF-8 CSV file ({e}); no more rows merged"]
    graded = {s.student for s in subs if s.status == "graded"}
    for (student, item) in sorted(items):
        if (student, item) not in rowed and student in graded:
            problems.append(f"{path.name}: no row for {student}, {item} (known items: {', '.join(names)}); "
                            "it stays unscored (0 points)")
    return problems


def check_readable(path) -> Path:
    """``path`` as a Path; a ValueError now, before any grading, when it is not a readable file."""
    p = validate.path("path", path)
    if not p.is_file():
        raise ArgumentError(f"--rubric {p} must be an existing CSV file (columns student, item, score[, comment])")
    try:
        with open(p, encoding="utf-8-sig") as f:
            f.read(1)
    except (OSError, UnicodeDecodeError) as e:
        raise ArgumentError(f"--rubric {p} cannot be read: {e}") from None
    return p
