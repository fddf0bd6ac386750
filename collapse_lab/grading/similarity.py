"""Code similarity across a class's submissions and against the course's own code, with copydetect.

copydetect (winnowed fingerprints of the code with names, strings and comments abstracted away, the method of MOSS)
compares the learner's code of each pair of submissions of a chapter, and each submission with every function of
the course package (``collapse_lab``; the grading machinery excepted). The exercise notebook's own code (set-up cells,
signatures, docstrings, stubs) is boilerplate: it never counts as a match. A pair is reported when either side has at
least ``threshold`` of its code in common with the other; a submission is flagged when its code holds at least
``threshold`` of one course function (the function is named in the gradebook's ``flags``). The report,
``similarity.csv`` and ``similarity.html``, gives each pair's shares and the matching lines (cell and line numbers).
Similarity is evidence for an instructor to read, never a verdict: short exercises have few ways to be written.
"""
from __future__ import annotations

import ast
import csv
import html
import io
import json
import re
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from .. import validate
from ..validate import ArgumentError
from .grader import PACKAGE

NOISE = 25  # characters of abstracted code in one fingerprint (copydetect's default noise threshold)
GUARANTEE = 25  # a match this long is always found (copydetect's default guarantee threshold)
MIN_OVERLAP = 60  # characters of abstracted code in common, at least, for any report: a line or two are no evidence
SKIP = ("grading",)  # subpackages that hold no course reference: the grader's own machinery


@dataclass
class Code:
    """The learner's code of one submission (or one course function): ``text`` and where each of its lines came
    from (``where[i]``: cell number and line in the cell, or a function's file and line)."""
    owner: str
    notebook: str
    text: str
    where: list


@dataclass
class Match:
    """A pair above the threshold: ``kind`` 'pair' (two submissions) or 'course' (a submission and a course
    function); the shares of each side's code in common, the characters in common and the matching lines."""
    kind: str
    a: str
    b: str
    notebook: str
    share_a: float
    share_b: float
    overlap: int
    lines_a: str
    lines_b: str
    html_a: str = ""
    html_b: str = ""


def _fingerprint(code: Code, boilerplate):
    from copydetect import CodeFingerprint

    return CodeFingerprint(f"{code.owner}.py", NOISE, GUARANTEE - NOISE + 1, boilerplate, fp=io.StringIO(code.text),
                           language="python")


def _boilerplate(texts) -> np.ndarray:
    """The fingerprint hashes of code every learner receives (copydetect's way: the same abstraction and k-grams)."""
    from copydetect.utils import filter_code, get_document_fingerprints

    hashes = []
    for text in texts:
        filtered, _ = filter_code(text, "x.py", "python")
        hashes += list(get_document_fingerprints(filtered, NOISE, GUARANTEE - NOISE + 1)[0])
    return np.unique(np.array(hashes, dtype=np.int64))


def notebook_code(nb: dict, owner: str, notebook: str) -> Code:
    """The code cells of a notebook (its JSON as a dict) as one text, each line remembering its cell and line;
    IPython magics and shell lines left out."""
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ArgumentError(f"nb must be a notebook's JSON (a dict with a list of cells); got {nb!r:.60}")
    lines, where = [], []
    for i, c in enumerate(nb["cells"]):
        if not isinstance(c, dict) or c.get("cell_type") != "code":
            continue
        src = c.get("source", "")
        src = "".join(src) if isinstance(src, list) else src if isinstance(src, str) else ""
        for j, ln in enumerate(src.splitlines()):
            if not ln.lstrip().startswith(("%", "!")):
                lines.append(ln)
                where.append(f"cell {i + 1} line {j + 1}")
    return Code(owner, notebook, "\n".join(lines), where)


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")  # the lines ast counts (no split at form feeds), ends kept


def _segment(lines: list[str], node) -> str:
    """``ast.get_source_segment`` of ``node`` from its file's ``lines`` (split once: ast's own function splits the
    whole file again for every node it is asked about); ast's offsets are UTF-8 byte offsets."""
    first, last = lines[node.lineno - 1].encode(), lines[node.end_lineno - 1].encode()
    if node.lineno == node.end_lineno:
        return first[node.col_offset:node.end_col_offset].decode()
    return "".join([first[node.col_offset:].decode(), *lines[node.lineno:node.end_lineno - 1],
                    last[:node.end_col_offset].decode()])


def course_functions(package: Path = PACKAGE) -> list[Code]:
    """Every function and method of the course package (``package``, a folder; the grading machinery left out),
    each as a :class:`Code` named ``collapse_lab.<module>.<qualified name>``."""
    package = validate.path("package", package, kind="dir", must_exist=True)
    out = []
    for f in sorted(package.rglob("*.py")):
        rel = f.relative_to(package)
        if rel.parts[0] in SKIP or "__pycache__" in rel.parts:
            continue
        text = f.read_text(encoding="utf-8")
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        lines = _LINE.findall(text)
        module = ".".join((package.name, *rel.with_suffix("").parts)).removesuffix(".__init__")
        stack = [(node, "") for node in tree.body]
        while stack:
            node, prefix = stack.pop()
            if isinstance(node, ast.ClassDef):
                stack += [(n, f"{prefix}{node.name}.") for n in node.body]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                src = _segment(lines, node)
                n = len(src.splitlines())
                out.append(Code(f"{module}.{prefix}{node.name}", "", src,
                                [f"{rel} line {node.lineno + k}" for k in range(n)]))
    return out


def _lines(code: Code, slices) -> str:
    """The matching lines of ``code`` for copydetect's character ``slices`` (2, n), as 'cell 4 lines 2-7; ...'."""
    if slices is None or len(slices) == 0 or slices.shape[1] == 0:
        return ""
    starts = np.cumsum([0] + [len(ln) + 1 for ln in code.text.split("\n")])
    spans = []
    for s, e in zip(slices[0], slices[1]):
        a = int(np.searchsorted(starts, s, side="right")) - 1
        b = int(np.searchsorted(starts, max(s, e - 1), side="right")) - 1
        a, b = max(0, min(a, len(code.where) - 1)), max(0, min(b, len(code.where) - 1))
        first, last = code.where[a], code.where[b]
        head, _, n1 = first.rpartition(" line ")
        head2, _, n2 = last.rpartition(" line ")
        spans.append(f"{head} line {n1}" if first == last else f"{head} lines {n1}-{n2}" if head == head2
                     else f"{first} to {last}")
    return "; ".join(dict.fromkeys(spans))


def _highlight(code: Code, slices) -> str:
    from copydetect.utils import highlight_overlap

    if slices is None or len(slices) == 0 or slices.shape[1] == 0:
        return html.escape(code.text)
    return highlight_overlap(code.text, slices, "<mark>", "</mark>", escape_html=True)[0]


def fingerprints(references: list[Code]) -> list:
    """(code, copydetect fingerprint) of each of ``references``: computed once, compared with every notebook."""
    return [(r, _fingerprint(r, None)) for r in references]


def compare(codes: list[Code], references: list, boilerplate, threshold: float) -> list[Match]:
    """The pairs of ``codes`` (submissions of one notebook) and the (submission, course function) pairs with
    ``references`` (:func:`fingerprints`) that reach ``threshold`` (0-1) and :data:`MIN_OVERLAP` characters in
    common, best first. ``boilerplate``: the fingerprint hashes of the code every learner receives."""
    from copydetect import compare_files

    threshold = validate.number("threshold", threshold, lo=0, hi=1, lo_open=True)
    fps = [_fingerprint(c, boilerplate) for c in codes]
    out = []
    for (i, a), (j, b) in combinations(enumerate(codes), 2):
        if not fps[i].hashes & fps[j].hashes:
            continue
        overlap, (sa, sb), (la, lb) = compare_files(fps[i], fps[j])
        if overlap >= MIN_OVERLAP and max(sa, sb) >= threshold:
            out.append(Match("pair", a.owner, b.owner, a.notebook, float(sa), float(sb), int(overlap),
                             _lines(a, la), _lines(b, lb), _highlight(a, la), _highlight(b, lb)))
    for i, a in enumerate(codes):
        for r, fr in references:
            if not fps[i].hashes & fr.hashes:
                continue
            overlap, (sa, sr), (la, lr) = compare_files(fps[i], fr)
            if overlap >= MIN_OVERLAP and sr >= threshold:  # most of the course function is in the submission
                out.append(Match("course", a.owner, r.owner, a.notebook, float(sa), float(sr), int(overlap),
                                 _lines(a, la), _lines(r, lr), _highlight(a, la), _highlight(r, lr)))
    return sorted(out, key=lambda m: (-max(m.share_a, m.share_b), m.a, m.b))


CSV_COLUMNS = ["kind", "notebook", "a", "b", "share_a", "share_b", "overlap_chars", "lines_a", "lines_b"]


def write_csv(path, matches: list[Match]) -> Path:
    """``matches`` as a CSV file (columns :data:`CSV_COLUMNS`)."""
    path = validate.path("path", path, kind="file")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for m in matches:
            w.writerow([m.kind, m.notebook, m.a, m.b, f"{m.share_a:.2f}", f"{m.share_b:.2f}", m.overlap, m.lines_a,
                        m.lines_b])
    return path


def write_html(path, matches: list[Match], threshold: float) -> Path:
    """``matches`` as a self-contained HTML page: each pair's shares and both codes side by side, the matching
    parts marked (``<mark>``, which screen readers announce and which shows without colour too)."""
    path = validate.path("path", path, kind="file")
    esc = html.escape
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Code similarity</title><style>",
             "body{font-family:sans-serif;margin:1em}pre{white-space:pre-wrap;font-size:12px;border:1px solid #999;"
             "padding:.5em}mark{background:#ffe08a;outline:1px dashed #000}td{vertical-align:top;width:50%}"
             "</style></head><body><h1>Code similarity</h1>",
             f"<p>{len(matches)} pairs with at least {threshold:.0%} of one side's code in common (and at least "
             f"{MIN_OVERLAP} characters of abstracted code). The exercise's own code is left out; names, strings and "
             "comments do not count. Matching parts are marked. Similar code is evidence to read, not a verdict.</p>"]
    for n, m in enumerate(matches, 1):
        what = "two submissions" if m.kind == "pair" else "a submission and a course function"
        parts.append(f"<h2>{n}. {esc(m.a)} and {esc(m.b)} ({what}, {esc(m.notebook)})</h2>"
                     f"<p>{m.share_a:.0%} of {esc(m.a)}'s code and {m.share_b:.0%} of {esc(m.b)}'s in common "
                     f"({m.overlap} characters). Lines: {esc(m.lines_a)} | {esc(m.lines_b)}</p>"
                     f"<table><tr><th scope='col'>{esc(m.a)}</th><th scope='col'>{esc(m.b)}</th></tr>"
                     f"<tr><td><pre>{m.html_a}</pre></td><td><pre>{m.html_b}</pre></td></tr></table>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def report(subs, folder, threshold: float = 0.6) -> int:
    """Compare the submissions ``subs`` (grade_batch's) per notebook, write ``folder``/similarity.csv and
    similarity.html, and add a flag to each submission whose code reproduces a course function; returns the number
    of pairs reported. ``threshold``: the share (0-1) from which a pair is reported. The code every learner receives
    is the exercise notebook built from each submission's solution notebook."""
    from ..exercises import exercise_notebook
    import nbformat

    folder = validate.path("folder", folder, kind="dir")
    threshold = validate.number("threshold", threshold, lo=0, hi=1, lo_open=True)
    folder.mkdir(parents=True, exist_ok=True)
    by: dict[str, list] = {}
    for s in subs:
        if s.solution is not None:
            by.setdefault(s.notebook, []).append(s)
    references = fingerprints(course_functions())
    matches = []
    for notebook, group in by.items():
        sol = nbformat.read(group[0].solution.path, as_version=4)
        given = notebook_code(json.loads(nbformat.writes(exercise_notebook(sol))), "exercise", notebook).text
        boilerplate = _boilerplate([given])
        codes = []
        for s in group:
            try:
                nb = json.loads(Path(s.path).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            codes.append(notebook_code(nb, s.student, notebook))
        found = compare(codes, references, boilerplate, threshold)
        owners = {s.student: s for s in group}
        for m in found:
            if m.kind == "course":
                owners[m.a].flags.append(f"reproduces {m.b} ({m.share_b:.0%} of it; {m.lines_a})")
        matches += found
    write_csv(folder / "similarity.csv", matches)
    write_html(folder / "similarity.html", matches, threshold)
    return len(matches)
