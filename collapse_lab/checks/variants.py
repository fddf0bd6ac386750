"""A variant of a chapter's exercises per student: the numbers a question is asked with, drawn from the student id.

PrairieLearn-style: the notebook shows the learner's own parameters (``variant = checks.variant("01")``), the
checks and the grader compute the answer from them, so a neighbour's answer fails. The draw is a hash of the course
salt, the student id and the chapter, so the same id always gets the same variant, on the learner's hub and in the
grader. This module holds the parameters only; the answers are computed by the checks (``checks.chN.answers``),
which a student's copy of the course does not hold.

Where the id comes from, first found: the grader (for the submission it grades), ``$COLLAPSE_LAB_STUDENT`` (a hub
sets it per user), the first line of ``.collapse-lab-student`` in the working folder or the home folder. Without
one the variant is the self-study default: the numbers the exercise text was written with.
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
from pathlib import Path

from ..validate import ArgumentError

STUDENT_ENV, SALT_ENV = "COLLAPSE_LAB_STUDENT", "COLLAPSE_LAB_SALT"
FILE = ".collapse-lab-student"
DEFAULT_SALT = "collapse-lab"

# per chapter: each parameter's self-study default (the exercise text's numbers) and the values a variant draws from
SPACES = {
    "01": {"M": (50, (20, 25, 30, 40, 50, 60, 80, 100)),        # median_collapse: points per generation
           "keep": (0.1, (0.05, 0.1, 0.2, 0.3)),                 # median_collapse: the share of variance kept
           "order": ((1, 2, 3, 4, 5), "permutation")},           # early_or_late: the order of the answers
    "02": {"w_minor": (0.1, (0.05, 0.1, 0.15, 0.2)),           # drift_swamps: the minor mode's weight
           "w_major": (0.5, (0.3, 0.4, 0.5)),                    # drift_swamps: the major mode's weight
           "n": (100, (50, 80, 100, 150, 200)),                  # drift_swamps: points per generation
           "order": ((1, 2, 3, 4, 5), "permutation")},           # isolated_sources: the order of the answers
    "03": {"order": ((1, 2, 3, 4, 5, 6), "permutation")},        # collapse_stage: the order of the answers
    "04": {"chains": (("X", "Y"), "permutation"),                # which_decoder: your letters for chains 1 and 2
           "statements": (("a", "b", "c", "d"), "permutation")},  # which_decoder: your letters for statements 1-4
    "05": {"p_star": (0.3, (0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8)),  # anchor_or_prior: the truth of the chain
           "M": (20, (10, 15, 20, 30, 40)),                     # anchor_or_prior, anchored_variance: samples per gen.
           # anchor_or_prior: the prior's pseudo-counts (a of x = 1, b of x = 0); never a = b, whose centre 1/2 the
           # lecture shows
           "prior": ((1, 2), ((1, 2), (2, 1), (1, 3), (3, 1), (2, 3), (3, 2))),
           "A": (2, (2, 3, 4, 5)),                               # anchored_variance: real points per generation
           "ddof": (1, (0, 1))},                                 # anchored_variance: 0 maximum likelihood, 1 unbiased
}

_GRADING: contextvars.ContextVar = contextvars.ContextVar("collapse_lab_student", default=None)


class Variant(dict):
    """A chapter's parameters (also as attributes: ``variant.M``), with the student they were drawn for."""

    def __init__(self, chapter: str, student: str | None, values: dict):
        super().__init__(values)
        self.chapter, self.student = chapter, student

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"chapter {self.chapter}'s variant has no parameter {name!r} "
                                 f"(it has {', '.join(self)})") from None

    def __repr__(self):
        who = (f"student {self.student!r}" if self.student is not None else
               f"self-study defaults (no student id: your instructor sets ${STUDENT_ENV}, or write your id in a file "
               f"{FILE} beside the notebook)")
        body = ", ".join(f"{k}={v!r}" for k, v in self.items())
        return f"chapter {self.chapter} variant for {who}: {body}"


def chapter_key(chapter) -> str:
    """'01' for 1, '1', '01', 'ch1' (the chapter's notebook number)."""
    text = str(chapter).removeprefix("ch") if isinstance(chapter, (str, int)) and not isinstance(chapter, bool) else ""
    if not text.isdigit() or f"{int(text):02d}" not in SPACES:
        raise ArgumentError(f"chapter must be one of {', '.join(SPACES)} (a chapter with variants); got {chapter!r:.60}")
    return f"{int(text):02d}"


def student_id() -> str | None:
    """The current student's id (see the module's text), or None."""
    for sid in (_GRADING.get(), os.environ.get(STUDENT_ENV)):
        if sid:
            return str(sid)
    for folder in (Path.cwd(), Path.home()):
        try:
            line = (folder / FILE).read_text(encoding="utf-8").strip().splitlines()
        except OSError:
            continue
        if line and line[0].strip():
            return line[0].strip()
    return None


@contextlib.contextmanager
def grading(student: str | None):
    """Within it, :func:`student_id` is ``student`` (the grader, around one submission's checks)."""
    if student is not None and not isinstance(student, str):
        raise ArgumentError(f"student must be a str (a student id) or None; got {student!r:.60}")
    token = _GRADING.set(student)
    try:
        yield
    finally:
        _GRADING.reset(token)


def _draw(key: str, n: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % n


def variant(chapter, student: str | None = None) -> Variant:
    """The parameters of ``chapter`` ('01'...) for ``student`` (a str; None: :func:`student_id`, and the self-study
    defaults when there is none). The course salt is ``$COLLAPSE_LAB_SALT`` (the instructor sets it once per
    course, so ids cannot be tried against another course's variants)."""
    key = chapter_key(chapter)
    if student is not None and (not isinstance(student, str) or not student.strip()):
        raise ArgumentError(f"student must be a non-empty str (a student id) or None; got {student!r:.60}")
    sid = student if student is not None else student_id()
    if sid is None:
        return Variant(key, None, {k: d for k, (d, _) in SPACES[key].items()})
    salt = os.environ.get(SALT_ENV) or DEFAULT_SALT
    values = {}
    for name, (default, space) in SPACES[key].items():
        seed = f"{salt}\0{sid}\0{key}\0{name}"
        if space == "permutation":
            rest, out = list(default), []
            while rest:
                out.append(rest.pop(_draw(f"{seed}\0{len(out)}", len(rest))))
            values[name] = tuple(out)
        else:
            values[name] = space[_draw(seed, len(space))]
    return Variant(key, sid, values)
