"""What a lecture notebook says about itself, read from its Markdown: title, summary, objectives, time."""
from __future__ import annotations

import re

import nbformat

from .. import validate


def _notebook(name: str, nb):
    """``nb`` checked to be a notebook as nbformat reads it (a mapping with a list of ``cells``)."""
    if not (hasattr(nb, "get") and isinstance(nb.get("cells"), list)):
        raise validate.ArgumentError(f"{name} must be a notebook (nbformat.read(path, as_version=4)); got "
                                     f"{type(nb).__name__}")
    return nb if isinstance(nb, nbformat.NotebookNode) else nbformat.from_dict(nb)


def describe(nb) -> dict:
    """What a lecture notebook says about itself, read from its Markdown (missing parts are empty).

    ``title``: the first heading, without a leading "Chapter N" label; ``summary``: the notebook's one-line
    summary (``metadata["collapse_lab"]["summary"]``), else the first sentence of the first paragraph after the
    title; ``objectives``: the bullet or numbered items under the first heading (or bold line) containing
    "objective"; ``time``: the line that states the expected time (a line with "time" and "min" or "hour") as
    plain text, or "".
    """
    nb = _notebook("nb", nb)
    md = [c.source for c in nb.cells if c.cell_type == "markdown"]
    lines = "\n".join(md).splitlines()
    title, summary, objectives, time_line = "", "", [], ""
    for i, ln in enumerate(lines):
        m = re.match(r"\s{0,3}#{1,6}\s+(.*)", ln)
        if m and not title:
            title = re.sub(r"^(chapter|part)\s+\w+\s*[·:.\-–—]\s*", "", m.group(1).strip(), flags=re.I)
            summary = _first_sentence(lines[i + 1:])
    for i, ln in enumerate(lines):
        heading = re.match(r"\s{0,3}(#{1,6}\s+|\*\*|__)(.*)", ln)
        if heading and "objective" in heading.group(2).lower():
            objectives = _items(lines[i + 1:])
            if objectives:
                break
    for ln in lines:
        low = ln.lower()
        if ("time" in low or "takes" in low) and re.search(r"\d+\s*(min|minutes|h\b|hour)", low):
            time_line = _plain(_plain(ln.strip()).strip(" >-*#"))
            break
    title = _plain(title)
    own = (nb.metadata.get("collapse_lab") or {}).get("summary")
    if isinstance(own, str) and own.strip():
        summary = own.strip()
    return {"title": title[:1].upper() + title[1:], "summary": summary, "objectives": objectives, "time": time_line}


def _plain(text: str) -> str:
    """Markdown emphasis and links reduced to their text (math kept as is)."""
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)", r"\1", text)
    return re.sub(r"<[^>]+>", "", text).strip()


_ABBREV = re.compile(r"(\b(et al|e\.g|i\.e|Fig|Figs|Eq|Sec|vs|cf|No|approx)|\b[A-Z])\.$")


def _first_sentence(lines: list[str]) -> str:
    """The summary: a paragraph that announces itself ("In one sentence", "Summary", a blockquote) if there is
    one, else the first sentence of the first paragraph."""
    paras, para = [], []
    for ln in lines:
        if re.match(r"\s{0,3}#", ln) or re.match(r"\s*([-*+]|\d+[.)])\s", ln) or ln.strip().startswith("|") \
                or not ln.strip():
            if para:
                paras.append(para)
                para = []
            if re.match(r"\s{0,3}#", ln) and paras:
                break
            continue
        para.append(ln.strip())
    if para:
        paras.append(para)
    if not paras:
        return ""
    texts = [_plain(" ".join(p)) for p in paras]
    for p, t in zip(paras, texts):
        m = re.match(r"(>\s*)?(in one sentence|summary|in short)\s*[:.\-–—]\s*(.+)", t, re.I)
        if m:
            return _clip(m.group(3))
        if p[0].startswith(">"):
            return _clip(t.lstrip("> ").replace(" > ", " "))
    text = texts[0]
    for m in re.finditer(r"[.!?](?=\s+[A-Z(\"*]|$)", text):
        if m.end() >= 20 and not _ABBREV.search(text[:m.end()]):
            return _clip(text[:m.end()])
    return _clip(text)


def _clip(text: str, n: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= n else text[:n - 3].rsplit(" ", 1)[0] + " ..."


def _items(lines: list[str]) -> list[str]:
    items: list[str] = []
    for ln in lines:
        m = re.match(r"\s*([-*+]|\d+[.)])\s+(.*)", ln)
        if m:
            items.append(m.group(2).strip())
        elif items and ln.strip() and ln.startswith((" ", "\t")):
            items[-1] += " " + ln.strip()  # a wrapped item
        elif items or re.match(r"\s{0,3}#", ln):
            break
    return [_plain(x) for x in items]
