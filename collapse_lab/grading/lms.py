"""Learning management systems: who a submission is from, which chapter it is, and the gradebook in their formats.

Who: a bulk download of Canvas or Moodle renames every file; :func:`identify` reads the student back from the
file name (Canvas: ``lastfirst[_late]_<user id>_<submission id>_<original name>``; Moodle:
``<Full Name>_<participant id>_assignsubmission_file_<original name>``, as a folder or a file name), else from the
folder holding the notebook (``submissions/<student>/NN.ipynb``). Which chapter: the notebook's own metadata
(``"collapse_lab": {"chapter": "01"}``, :func:`chapter_of`), so a renamed copy still grades.

Out: :func:`write_canvas` writes the Canvas gradebook import CSV, :func:`write_moodle` the Moodle grade import CSV
(layouts in ``docs/grading.md``).
"""
from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .. import validate
from ..validate import ArgumentError

# Canvas "Download Submissions": lastfirst (lower-case letters, the name's own characters), "_late" when late,
# the Canvas user id, the submission (attachment) id, then the file name as uploaded
CANVAS = re.compile(r"^(?P<name>[^_]+?)(?:_late)?_(?P<id>\d+)_(?P<sub>\d+)_(?P<original>.+)$", re.IGNORECASE)
# Moodle assignment "Download all submissions": "<Full Name>_<participant id>_assignsubmission_file_" then the
# file name as uploaded (the prefix is a folder when "download submissions in folders" is on)
MOODLE = re.compile(r"^(?P<name>.+)_(?P<id>\d+)_assignsubmission_file_(?P<original>.*)$")


@dataclass(frozen=True)
class Identity:
    """Who a submission is from.

    ``student``: the key of the gradebook's rows (unique in a batch); ``name``: a display name ('' when only the
    id is known); ``lms``: 'canvas', 'moodle' or 'folder'; ``lms_id``: the LMS's id of the student (Canvas user id,
    Moodle participant id; the folder name for 'folder'); ``original``: the notebook's file name as the student
    uploaded it."""
    student: str
    name: str = ""
    lms: str = "folder"
    lms_id: str = ""
    original: str = ""


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def identify(path, root=None) -> Identity:
    """The :class:`Identity` of the submission at ``path`` (a notebook file).

    ``root``: the folder the batch was given (None: unknown). A Canvas or Moodle bulk-download name (of the file, or
    of its folder for Moodle) gives the LMS's id; otherwise the student is the name of the folder holding the file,
    or the file's stem when that folder is ``root`` itself (a flat folder of notebooks)."""
    path = validate.path("path", path)
    root = None if root is None else validate.path("root", root).resolve()
    p = Path(path).resolve() if Path(path).exists() else Path(path).absolute()
    m = CANVAS.match(_nfc(p.name))
    if m:
        return Identity(m["id"], m["name"], "canvas", m["id"], m["original"])
    for part in (_nfc(p.parent.name), _nfc(p.name)):
        m = MOODLE.match(part)
        if m:
            original = m["original"] or p.name
            return Identity(f"participant {m['id']}", m["name"].strip(), "moodle", m["id"], original)
    folder = p.parent
    if (root is not None and folder == root) or not folder.name:
        return Identity(_nfc(p.stem), "", "folder", _nfc(p.stem), p.name)
    return Identity(_nfc(folder.name), "", "folder", _nfc(folder.name), p.name)


def chapter_of(metadata) -> str | None:
    """The chapter a notebook belongs to, from its top-level ``metadata`` (a dict):
    ``metadata["collapse_lab"]["chapter"]`` (e.g. '01'), or None when it has none."""
    if not isinstance(metadata, dict):
        raise ArgumentError(f"metadata must be a notebook's metadata dict; got {metadata!r:.60} "
                            f"({type(metadata).__name__})")
    ours = metadata.get("collapse_lab")
    chapter = ours.get("chapter") if isinstance(ours, dict) else None
    return chapter if isinstance(chapter, str) and chapter.strip() else None


# -- gradebook import files -----------------------------------------------------------------------------------------

CANVAS_FIXED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def _subs(subs) -> list:
    from .gradebook import _subs as checked  # gradebook imports the grader, which reads student ids here

    return checked(subs)


def _num(x: float) -> str:
    from .gradebook import _num as num

    return num(x)


def assignment_columns(subs, assignments=None) -> dict[str, str]:
    """The LMS column of each notebook of ``subs``: ``assignments[notebook]`` when given (a dict of notebook file
    name to column name, e.g. ``{"01_sampling_loses_the_tails.ipynb": "Chapter 1 (1234)"}``), else the notebook's
    stem."""
    subs = _subs(subs)
    if assignments is not None and not (isinstance(assignments, dict) and all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in assignments.items())):
        raise ArgumentError(f"assignments must be None or a dict of notebook name to column name (str); got "
                            f"{assignments!r:.80}")
    out = {}
    for s in subs:
        out.setdefault(s.notebook, (assignments or {}).get(s.notebook) or Path(s.notebook).stem)
    return out


def _totals(subs) -> tuple[dict, dict]:
    """(row info by student, points by (student, notebook)) of the graded notebooks."""
    who, points = {}, {}
    for s in subs:
        ident = getattr(s, "identity", None)
        who.setdefault(s.student, ident)
        if s.status == "graded":
            points[(s.student, s.notebook)] = s.points
    return who, points


def canvas_rows(subs, assignments=None) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the Canvas gradebook import CSV: ``Student, ID, SIS User ID, SIS Login ID, Section``,
    then one column per notebook (:func:`assignment_columns`) holding its points; a notebook that could not be graded
    is left empty (Canvas leaves that score unchanged). Canvas finds the student by ``ID`` (its user id, read from
    a Canvas download's file names), else by ``SIS Login ID`` (the folder name of other submissions)."""
    cols = assignment_columns(subs, assignments)
    who, points = _totals(subs)
    rows = []
    for student, ident in who.items():
        canvas = ident is not None and ident.lms == "canvas"
        row = [ident.name if canvas else student, ident.lms_id if canvas else "", "", "" if canvas else student, ""]
        row += [_num(points[(student, nb)]) if (student, nb) in points else "" for nb in cols]
        rows.append(row)
    return CANVAS_FIXED + list(cols.values()), rows


def moodle_rows(subs, assignments=None, id_column: str = "Identifier") -> tuple[list[str], list[list[str]]]:
    """The header and rows of the Moodle grade import CSV: an identifier column (``id_column``; its values are the
    gradebook's student ids: the folder names, or ``participant N`` of a Moodle download), ``Full name``, then one
    column per notebook holding its points (empty when it could not be graded). In Moodle's import, map the
    identifier column to the user field it holds (username, email address or ID number) and each notebook column to
    its grade item."""
    if not isinstance(id_column, str) or not id_column.strip():
        raise ArgumentError(f"id_column must be a non-empty str (the identifier column's header); got {id_column!r:.60}")
    cols = assignment_columns(subs, assignments)
    who, points = _totals(subs)
    rows = []
    for student, ident in who.items():
        row = [student, ident.name if ident is not None else ""]
        row += [_num(points[(student, nb)]) if (student, nb) in points else "" for nb in cols]
        rows.append(row)
    return [id_column, "Full name"] + list(cols.values()), rows


def _write(path, header, rows) -> Path:
    path = validate.path("path", path, kind="file")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_canvas(path, subs, assignments=None) -> Path:
    """Write :func:`canvas_rows` of ``subs`` to the CSV file ``path``; returns it."""
    return _write(path, *canvas_rows(subs, assignments))


def write_moodle(path, subs, assignments=None, id_column: str = "Identifier") -> Path:
    """Write :func:`moodle_rows` of ``subs`` to the CSV file ``path``; returns it."""
    return _write(path, *moodle_rows(subs, assignments, id_column))
