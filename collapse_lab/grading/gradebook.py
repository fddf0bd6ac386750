"""The gradebook of a batch: a long CSV (a row per exercise), a wide CSV (a row per student) and feedback files."""
from __future__ import annotations

import csv
import hashlib
import os
import re
import unicodedata
from pathlib import Path

from .. import validate
from ..validate import ArgumentError
from .grader import Submission

LONG = ["student", "notebook", "exercise", "passed", "points", "max_points", "status", "message", "hint"]


def _one_line(text: str) -> str:
    return " | ".join(" ".join(ln.split()) for ln in str(text).splitlines() if ln.strip())


def _num(x: float) -> str:
    return f"{x:g}"


def _subs(subs) -> list:
    """``subs`` when it is a list or tuple of :class:`Submission`."""
    if not isinstance(subs, (list, tuple)):
        raise ArgumentError(f"subs must be a list of Submissions (grade_batch's); got {subs!r:.60} "
                            f"({type(subs).__name__})")
    for i, s in enumerate(subs):
        if not isinstance(s, Submission):
            raise ArgumentError(f"subs must be a list of Submissions (grade_batch's); subs[{i}] is {s!r:.60} "
                                f"({type(s).__name__})")
    return subs


def _str(name: str, value) -> str:
    if not isinstance(value, str):
        raise ArgumentError(f"{name} must be a str; got {value!r:.60} ({type(value).__name__})")
    return value


def long_rows(subs: list[Submission]) -> list[dict]:
    """The rows of the long gradebook (columns :data:`LONG`): one per exercise of each of ``subs``."""
    rows = []
    _subs(subs)
    for s in subs:
        status = s.status if s.status == "graded" else f"error: {s.reason}"
        if not s.verdicts:
            rows.append(dict(student=s.student, notebook=s.notebook, exercise="", passed=False, points=_num(0),
                             max_points=_num(s.max_points), status=status, message=s.reason, hint=""))
        for v in s.verdicts:
            rows.append(dict(student=s.student, notebook=s.notebook, exercise=v.exercise, passed=v.passed,
                             points=_num(v.points), max_points=_num(v.max_points), status=status,
                             message=_one_line(v.message), hint=v.hint))
        for w in s.written if s.solution is not None else ():
            rows.append(dict(student=s.student, notebook=s.notebook, exercise=w.name, passed="",
                             points="" if w.score is None else _num(w.score), max_points=_num(w.max_points),
                             status=status, message=_written_message(w), hint=""))
    return rows


def _written_message(w) -> str:
    if w.score is None:
        return "written answer: not scored yet (merge the rubric scores with --rubric)"
    return "written answer, scored against the rubric" + (f": {_one_line(w.comment)}" if w.comment else "")


def columns(subs: list[Submission]) -> list[tuple[str, str, str, float]]:
    """(column, notebook, exercise, max points) of the wide gradebook, in order; an exercise name is qualified by its
    notebook's name only when two notebooks share it."""
    _subs(subs)
    seen: dict[tuple[str, str], float] = {}
    for s in subs:
        if s.solution is not None:
            for e in s.solution.exercises:
                seen.setdefault((s.notebook, e.name), e.points)
            for w in s.written:
                seen.setdefault((s.notebook, w.name), w.max_points)
    names = [e for _, e in seen]
    return [(e if names.count(e) == 1 else f"{Path(nb).stem}:{e}", nb, e, p) for (nb, e), p in seen.items()]


def wide_rows(subs: list[Submission]) -> tuple[list[str], list[dict]]:
    """The header and rows of the wide gradebook: one row per student, a column per exercise and written item (an
    unscored written item is empty), ``total``, ``max``, ``status`` and ``flags`` (what the similarity report found:
    course code reproduced)."""
    cols = columns(subs)
    header = ["student"] + [c for c, *_ in cols] + ["total", "max", "status", "flags"]
    maxp = sum(p for *_, p in cols)
    where = {(nb, e): c for c, nb, e, _ in cols}
    by: dict[str, dict] = {}
    for s in subs:
        row = by.setdefault(s.student, {"student": s.student, "_notes": [], "_flags": []})
        for v in s.verdicts:
            if (s.notebook, v.exercise) in where:
                row[where[(s.notebook, v.exercise)]] = _num(v.points)
        for w in s.written if s.solution is not None else ():
            if w.score is not None:
                row[where[(s.notebook, w.name)]] = _num(w.score)
        if s.status != "graded":
            row["_notes"].append(f"{s.notebook}: {s.reason}")
        row["_flags"] += [f"{s.notebook}: {f}" for f in s.flags]
    out = []
    for student, row in by.items():
        total = sum(float(row.get(c, 0) or 0) for c, *_ in cols)
        notes, flags = row.pop("_notes"), row.pop("_flags")
        row.update(total=_num(total), max=_num(maxp), status="error: " + "; ".join(notes) if notes else "graded",
                   flags="; ".join(flags))
        out.append({k: row.get(k, "") for k in header})
    return header, out


def check_writable(path) -> None:
    """A ValueError now, before any grading, when ``path`` (a file, or a folder) cannot be written."""
    p = validate.path("path", path)
    parent = p if p.is_dir() else p.parent if str(p.parent) else Path(".")
    if p.exists() and not p.is_dir() and not os.access(p, os.W_OK):
        raise ArgumentError(f"path must be writable; cannot write {p}")
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ArgumentError(f"path must be writable; cannot write {p}: folder {parent} does not exist or is not "
                            "writable")


def write_long(path, subs: list[Submission]) -> None:
    """Write the long gradebook of ``subs`` to the CSV file ``path``."""
    path = validate.path("path", path, kind="file")
    _subs(subs)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, LONG)
        w.writeheader()
        w.writerows(long_rows(subs))


def write_wide(path, subs: list[Submission]) -> None:
    """Write the wide gradebook of ``subs`` to the CSV file ``path``."""
    path = validate.path("path", path, kind="file")
    header, rows = wide_rows(subs)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, header)
        w.writeheader()
        w.writerows(rows)


UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|\s]+')  # path separators, Windows-reserved characters, whitespace
MAX_NAME_BYTES = 120  # of UTF-8, well under the 255 bytes a file name may have, with room for a suffix
RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def safe_name(student: str) -> str:
    """``student`` as a file name: NFC-normalised, letters of any script kept; path separators, characters Windows
    reserves, control characters and whitespace replaced by '_'; at most 120 bytes of UTF-8; never empty, hidden
    ('.x') or a reserved device name. Two ids can still give one name: :func:`file_names` makes them distinct."""
    _str("student", student)
    name = UNSAFE.sub("_", unicodedata.normalize("NFC", student)).strip("._ ")
    while len(name.encode("utf-8")) > MAX_NAME_BYTES:
        name = name[:-1]
    if not name or name.lower() in RESERVED:
        name = f"student_{name}" if name else "student"
    return name


def file_names(students) -> dict[str, str]:
    """A distinct file name (without extension) for each of ``students`` (str ids): :func:`safe_name`, plus '-' and
    8 hex digits of the id's SHA-256 when two ids would share a name (also when they differ only in case, as on
    case-insensitive file systems)."""
    if isinstance(students, (str, bytes)) or not hasattr(students, "__iter__"):
        raise ArgumentError(f"students must be a list of str ids; got {students!r:.60}")
    students = list(dict.fromkeys(students))
    for i, s in enumerate(students):
        _str(f"students[{i}]", s)
    base = {s: safe_name(s) for s in students}
    count: dict[str, int] = {}
    for name in base.values():
        count[name.casefold()] = count.get(name.casefold(), 0) + 1
    out = {}
    for s, name in base.items():
        if count[name.casefold()] > 1:
            digest = hashlib.sha256(s.encode("utf-8")).hexdigest()[:8]  # the id as given: NFC-equal ids differ too
            name = f"{name}-{digest}"
        out[s] = name
    return out


def feedback(student: str, subs: list[Submission]) -> str:
    """A student's feedback in Markdown: per notebook, each exercise's verdict, message and hint."""
    _str("student", student), _subs(subs)
    lines = [f"# Feedback for {student}", ""]
    total = sum(s.points for s in subs)
    maxp = sum(s.max_points for s in subs)
    lines += [f"**Total: {_num(total)} / {_num(maxp)} points**", ""]
    for s in subs:
        lines += [f"## {s.notebook}: {_num(s.points)} / {_num(s.max_points)}", ""]
        if s.status != "graded":
            lines += [f"**Could not be graded completely:** {s.reason}", ""]
        for v in s.verdicts:
            mark = "passed" if v.passed else "not passed"
            lines += [f"### {v.exercise}: {mark} ({_num(v.points)} / {_num(v.max_points)})", ""]
            msg = v.message.strip()
            if msg:
                lines += ["```text", msg, "```", ""]
            if v.hint:
                lines += [f"*Hint:* {v.hint}", ""]
        for w in s.written if s.solution is not None else ():
            got = "not scored yet" if w.score is None else f"{_num(w.score)} / {_num(w.max_points)}"
            lines += [f"### {w.name} (written answer): {got}", ""]
            if w.comment:
                lines += [w.comment.strip(), ""]
    return "\n".join(lines)


def write_feedback(folder, subs: list[Submission]) -> list[Path]:
    """Write each student's feedback (:func:`feedback`) to ``folder``/<name>.md, one distinct file per student
    (names from :func:`file_names`); returns the files."""
    folder = validate.path("folder", folder, kind="dir")
    _subs(subs)
    folder.mkdir(parents=True, exist_ok=True)
    by: dict[str, list[Submission]] = {}
    for s in subs:
        by.setdefault(s.student, []).append(s)
    names = file_names(list(by))
    out = []
    for student, ss in by.items():
        p = folder / f"{names[student]}.md"
        p.write_text(feedback(student, ss), encoding="utf-8")
        out.append(p)
    return out


def report(s: Submission) -> str:
    """A text table of one submission ``s`` for the terminal."""
    if not isinstance(s, Submission):
        raise ArgumentError(f"s must be a Submission; got {s!r:.60} ({type(s).__name__})")
    if not s.verdicts:
        return f"not graded: {s.reason}"
    w = max([len("exercise")] + [len(v.exercise) for v in s.verdicts] + [len(it.name) for it in s.written])
    lines = [f"{'exercise'.ljust(w)}  result  feedback"]
    for v in s.verdicts:
        text = _one_line(v.message) + (f" | hint: {v.hint}" if v.hint and not v.passed else "")
        lines.append(f"{v.exercise.ljust(w)}  {'passed' if v.passed else 'FAILED':6}  "
                     f"{text if len(text) <= 240 else text[:237] + '...'}")
    for it in s.written if s.solution is not None else ():
        lines.append(f"{it.name.ljust(w)}  {'scored' if it.score is not None else 'to do':6}  written answer: "
                     + ("awaiting its rubric score" if it.score is None else f"{_num(it.score)}/{_num(it.max_points)}"))
    lines.append(f"score: {_num(s.points)}/{_num(s.max_points)}" + ("" if s.status == "graded" else
                                                                   f"  (error: {s.reason})"))
    return "\n".join(lines)
