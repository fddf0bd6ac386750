"""How long a chapter takes to read: its main path, its optional part and the time line it states.

Every lecture notebook states its study time on one line of its first Markdown cell::

    **Time:** main path about 40 min; going deeper about 20 min; exercises about 45 min.

(the course map: ``**Time:** about 15 min.``). The *main path* is every cell before the first heading containing
"Going deeper"; the rest is the optional part. The rule that fixes the two reading times: markdown words / 70
(careful reading of technical text with formulas) plus one minute per code cell, rounded up to the next multiple
of 5 (:func:`rule_minutes`). The instructor guide, the course home page and the README take their times from
these lines (:func:`stated_times`).
"""
from __future__ import annotations

import math
import re

from .exercises import _notebook

WORDS_PER_MINUTE = 70
# Word budgets of a main path (markdown words): a chapter, and the course map.
BUDGET, MAP_BUDGET = 2800, 1200
TIME_LINE = re.compile(r"^\*\*Time:\*\* main path about (\d+) min; going deeper about (\d+) min; "
                       r"exercises about (\d+) min\.$", re.M)
MAP_TIME_LINE = re.compile(r"^\*\*Time:\*\* about (\d+) min\.$", re.M)
_DEEPER = re.compile(r"^\s{0,3}#{1,6}\s.*going deeper", re.I | re.M)


def split(nb) -> tuple[list, list]:
    """(main path, going deeper): the cells before the first heading containing "Going deeper", and the rest
    (empty when the notebook has no such heading)."""
    nb = _notebook("nb", nb)
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] == "markdown" and _DEEPER.search(c["source"]):
            return list(nb["cells"][:i]), list(nb["cells"][i:])
    return list(nb["cells"]), []


def words(cells) -> int:
    """Markdown words of ``cells`` (whitespace-separated tokens; a formula counts by its pieces)."""
    return sum(len(c["source"].split()) for c in cells if c["cell_type"] == "markdown")


def rule_minutes(cells) -> int:
    """Reading time of ``cells`` by the course's rule: words / 70 + 1 per code cell, rounded up to a multiple
    of 5 (0 for no cells)."""
    code = sum(1 for c in cells if c["cell_type"] == "code")
    raw = words(cells) / WORDS_PER_MINUTE + code
    return 5 * math.ceil(raw / 5 - 1e-9) if raw else 0


def stated_times(nb) -> dict | None:
    """The times the first Markdown cell states: ``{"main", "deeper", "exercises"}`` in minutes (the course map:
    ``{"main": m, "deeper": None, "exercises": None}``), or None when it has no time line in the agreed form."""
    nb = _notebook("nb", nb)
    first = next((c["source"] for c in nb["cells"] if c["cell_type"] == "markdown"), "")
    m = TIME_LINE.search(first)
    if m:
        return dict(zip(("main", "deeper", "exercises"), map(int, m.groups())))
    m = MAP_TIME_LINE.search(first)
    return {"main": int(m.group(1)), "deeper": None, "exercises": None} if m else None


def time_line(main: int, deeper: int | None = None, exercises: int | None = None) -> str:
    """The agreed time line for these minutes (the course map's form when ``deeper`` and ``exercises`` are None)."""
    if deeper is None and exercises is None:
        return f"**Time:** about {main} min."
    return f"**Time:** main path about {main} min; going deeper about {deeper} min; exercises about {exercises} min."


def facts(nb) -> dict:
    """Reading facts of one notebook: main-path words and code cells, the rule's minutes for both parts, and the
    stated times (None where missing)."""
    main, deeper = split(nb)
    return {"main_words": words(main), "main_code": sum(c["cell_type"] == "code" for c in main),
            "main_rule": rule_minutes(main), "deeper_words": words(deeper), "deeper_rule": rule_minutes(deeper),
            "stated": stated_times(nb)}
