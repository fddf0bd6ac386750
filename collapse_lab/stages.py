"""The two stages of model collapse, measured the same way for every model family of the course.

The paper (Shumailov et al., *Nature* 631:755-759, 2024) describes two stages: in **early model collapse** the
model loses the tails of the distribution while its bulk hardly changes; in **late model collapse** the distribution
itself has moved: it has converged to something with a small variance that bears little resemblance to the original.
The paper gives no number for either. This module fixes one operational criterion, used by every chapter's recap:

- each family has a **tail statistic** ``T`` (larger = more of the tails kept: categories alive, tail mass, the
  minor mode's mass, the rarest class's share, the vocabulary) and a **bulk statistic** ``B`` (the variance or a
  mixture's total variance, the entropy, a distance to the original, the perplexity of real text), both history
  columns (:data:`SIGNALS`);
- each statistic is compared with a **reference**: its value for the real data when that is known (the original
  Zipf law has ``K`` categories alive, a standard Gaussian has tail mass 0.02 and variance 1), otherwise its value
  at generation 0 (the model fitted on real data; a distance to the original is 0 for the real data itself, so
  distances are always compared with generation 0);
- the **tail alarm** fires at the first generation ``g`` where ``T_g <= (1 - TAIL_LOSS) * T_ref``: the tails have
  lost at least half of what the reference has (``TAIL_LOSS = 0.5``);
- the **bulk alarm** fires at the first generation where ``|B_g - B_ref| >= BULK_MOVE * B_ref``: the bulk statistic
  has moved by at least half of its reference value (``BULK_MOVE = 0.5``: the variance halved, a distance or a
  perplexity 1.5 times generation 0's);
- the **verdict** of a run is the furthest stage it reached by its last generation: ``"late collapse"`` if the bulk
  alarm fired, ``"early collapse"`` if only the tail alarm fired, ``"no collapse yet"`` if neither did.

Both alarms are first passages (a chain that crosses a threshold may come back); both generations are counted as in
the histories (generation 0 = the model fitted on real data, i.e. fit n = 1). Over many chains of one experiment,
:func:`row` reports the median generation of each alarm (``None`` when more than half of the chains never raise it).

:func:`row` turns a run into one row of the course map's table; :func:`show` prints rows and, during the course
build (``COLLAPSE_LAB_FIGDIR`` set), writes them as ``stages-<chapter>.json`` next to the figures so the home page
shows the measured table.
"""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np
from scipy import stats as _st

from . import validate
from .loop import History
from .plots import FIGDIR_ENV

TAIL_LOSS = 0.5   # the tail alarm: the tail statistic has lost at least this fraction of its reference value
BULK_MOVE = 0.5   # the bulk alarm: the bulk statistic has moved by at least this fraction of its reference value
VERDICTS = ("early collapse", "late collapse", "no collapse yet")
KEYS = ("chapter", "experiment", "family", "sources", "generations", "chains", "tail_alarm", "bulk_alarm",
        "verdict", "remedy")
SOURCES = ("S", "E", "A")  # statistical, functional expressivity, functional approximation error


class Statistic(NamedTuple):
    """One statistic of a family: ``name`` (for tables), ``column`` (the history column, or the name of a derived
    one), ``derive`` (``history -> (G,) array`` when no column holds it, else None), ``real`` (``meta -> value``
    of the real data, or None: the reference is then generation 0)."""

    name: str
    column: str
    derive: Callable | None = None
    real: Callable | None = None


class Signals(NamedTuple):
    """The tail statistic (None: the family has no tails to lose) and the bulk statistic of a family."""

    tail: Statistic | None
    bulk: Statistic


GAUSSIAN_TAIL_Q = 0.01  # tail mass = mass beyond the original's 1st and 99th percentiles (0.02 for the original)


def gaussian_tail_mass(mean, var, q: float = GAUSSIAN_TAIL_Q) -> np.ndarray:
    """Mass a Gaussian N(mean, var) puts beyond the q and 1-q quantiles of the standard Gaussian (shapes broadcast;
    ``var`` >= 0; 2q for the standard Gaussian itself)."""
    mean = validate.array("mean", mean, min_size=1)
    var = validate.array("var", var, min_size=1)
    if np.any(var < 0):
        raise validate.ArgumentError("var must be >= 0 (a variance)")
    q = validate.number("q", q, 0, 0.5, lo_open=True, hi_open=True)
    z = _st.norm.ppf(1 - q)
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(sd > 0, _st.norm.cdf((-z - mean) / np.where(sd > 0, sd, 1)), (mean < -z).astype(float))
        hi = np.where(sd > 0, _st.norm.sf((z - mean) / np.where(sd > 0, sd, 1)), (mean > z).astype(float))
    return lo + hi


def _gaussian_tail(h) -> np.ndarray:
    return gaussian_tail_mass(h["mean"], h["var"])


def _rarest_share(h) -> np.ndarray:
    cols = [c for c in h.columns if re.fullmatch(r"share_\d+", c)]
    if not cols:
        raise ValueError("a VAE history needs the columns share_0 .. share_9 (the class shares of its samples)")
    return np.min(np.stack([h[c] for c in cols]), axis=0)


def _minor_mass(h) -> np.ndarray:
    masses = [c for c in h.columns if re.fullmatch(r"mass_\d+", c)]
    if not masses:
        raise ValueError("a Gaussian-mixture history needs the columns mass_0, mass_1, ... (mass near each mode)")
    orig = h.meta.get("original_mass")
    j = int(np.argmin(orig)) if orig else len(masses) - 1   # the smallest mode of the original mixture
    return h[f"mass_{j}"]


def _minor_real(meta) -> float | None:
    orig = meta.get("original_mass")
    return float(min(orig)) if orig else None


SIGNALS: dict[str, Signals] = {
    # Chapter 1: a categorical law (Zipf) refitted by counting. Real: K categories alive; entropy: pass bulk_ref.
    "zipf": Signals(Statistic("categories alive", "alive"), Statistic("entropy (nats)", "entropy")),
    # Chapter 1 and 5: a Gaussian refitted by its mean and variance; the original is N(0, 1).
    "gaussian": Signals(Statistic("tail mass", "tail_mass", _gaussian_tail, lambda m: 2 * GAUSSIAN_TAIL_Q),
                        Statistic("variance", "var", None, lambda m: 1.0)),
    # Chapter 2: a Gaussian mixture refitted by EM; the original's mass near its smallest mode and its total
    # variance (trace of its covariance) are in meta. (The L2 distance is no bulk statistic: its generation-0 value
    # is one fit's sampling error, and a chain's random walk moves it by half within a generation or two.)
    "gmm": Signals(Statistic("minor-mode mass", "minor_mass", _minor_mass, _minor_real),
                   Statistic("total variance", "variance", None, lambda m: m.get("original_variance"))),
    # Chapter 3: a VAE on digits; the rarest digit's share among the generation's samples; Frechet distance.
    "vae": Signals(Statistic("rarest-class share", "rarest_share", _rarest_share),
                   Statistic("Frechet distance", "distance")),
    # Chapter 4: a language model; vocabulary of each generation's training text (generation 0: the real text).
    "lm": Signals(Statistic("vocabulary size", "vocab"), Statistic("test perplexity", "test_ppl")),
    # Chapter 5: linear regression refitted on its own predictions' labels: no tails, only the error.
    "linreg": Signals(None, Statistic("test error", "error")),
}


def _family(family: str) -> Signals:
    if not isinstance(family, str) or family not in SIGNALS:
        raise validate.ArgumentError(f"family must be one of {sorted(SIGNALS)}; got {family!r:.60}")
    return SIGNALS[family]


def values(history: History, stat: Statistic) -> np.ndarray:
    """The statistic's value per generation of ``history``, shape (G,) (a column, or derived from columns)."""
    if stat.column in history.columns:
        return np.asarray(history[stat.column], dtype=float)
    if stat.derive is None:
        raise ValueError(f"the history has no column {stat.column!r} ({stat.name}); its columns are "
                         f"{history.columns}")
    return np.asarray(stat.derive(history), dtype=float)


def _reference(v: np.ndarray, stat: Statistic, meta: Mapping, given) -> float:
    if given is not None:
        return validate.number(f"reference of the {stat.name}", given, 0, lo_open=True)
    real = stat.real(meta) if stat.real is not None else None
    ref = float(v[0]) if real is None else float(real)
    if not math.isfinite(ref) or ref <= 0:
        raise ValueError(f"the {stat.name}'s reference (the real data's value, else generation 0's) must be a "
                         f"positive number to measure a relative change; got {ref}")
    return ref


def tail_alarm(t, ref: float, loss: float = TAIL_LOSS) -> int | None:
    """First index g of ``t`` (a tail statistic per generation, shape (G,)) with ``t[g] <= (1 - loss) * ref``, or
    None if it never gets there. ``ref`` > 0: the reference value; ``loss`` in (0, 1)."""
    t = validate.array("t", t, ndim=1, min_size=1, finite=False)  # NaN (a generation not measured) never fires
    ref = validate.number("ref", ref, 0, lo_open=True)
    loss = validate.number("loss", loss, 0, 1, lo_open=True, hi_open=True)
    hit = np.flatnonzero(t <= (1 - loss) * ref)
    return int(hit[0]) if hit.size else None


def bulk_alarm(b, ref: float, move: float = BULK_MOVE) -> int | None:
    """First index g of ``b`` (a bulk statistic per generation, shape (G,)) with ``|b[g] - ref| >= move * ref``, or
    None if it never gets there. ``ref`` > 0: the reference value; ``move`` > 0."""
    b = validate.array("b", b, ndim=1, min_size=1, finite=False)
    hit = np.flatnonzero(bulk_moved(b, ref, move))
    return int(hit[0]) if hit.size else None


def bulk_moved(b, ref: float, move: float = BULK_MOVE):
    """Whether the bulk alarm's condition holds at the value ``b`` (a float, or an array of values: one answer
    per value): ``|b - ref| >= move * ref``, the bulk statistic moved by at least ``move`` of its reference ``ref``
    (> 0) either way. :func:`bulk_alarm` is the first value where it holds; a chain checked generation after
    generation (e.g. to stop once the alarm has fired) asks it of each new value. NaN never holds."""
    ref = validate.number("ref", ref, 0, lo_open=True)
    move = validate.number("move", move, 0, lo_open=True)
    if np.ndim(b) == 0:
        if isinstance(b, (bool, np.bool_)) or not isinstance(b, (int, float, np.integer, np.floating)):
            raise validate.ArgumentError(f"b must be a number or an array of numbers; got {b!r:.60}")
        return bool(abs(b - ref) >= move * ref)
    return np.abs(np.asarray(b, dtype=float) - ref) >= move * ref


def verdict(tail: int | None, bulk: int | None) -> str:
    """The furthest stage reached: ``"late collapse"`` if the bulk alarm fired, else ``"early collapse"`` if the
    tail alarm fired, else ``"no collapse yet"``."""
    for name, v in (("tail", tail), ("bulk", bulk)):
        if v is not None:
            validate.integer(name, v, 0)
    return VERDICTS[1] if bulk is not None else VERDICTS[0] if tail is not None else VERDICTS[2]


def alarms(history: History, family: str, *, tail_ref: float | None = None,
           bulk_ref: float | None = None) -> tuple[int | None, int | None]:
    """``(tail_alarm, bulk_alarm)`` of one chain: the first generation of each alarm (None: not raised).

    ``tail_ref``/``bulk_ref``: the real data's value of the statistic when the history cannot know it (e.g. a Zipf
    chain's ``K`` categories and the law's entropy); default: the family's known real value, else generation 0.
    """
    if not isinstance(history, History):
        raise validate.ArgumentError(f"history must be a loop.History (one chain); got {type(history).__name__}")
    if len(history) == 0:
        raise validate.ArgumentError("history must have at least one generation (it is empty)")
    sig = _family(family)
    t = None
    if sig.tail is not None:
        tv = values(history, sig.tail)
        t = tail_alarm(tv, _reference(tv, sig.tail, history.meta, tail_ref))
    elif tail_ref is not None:
        raise validate.ArgumentError(f"tail_ref must be None for family {family!r}: it has no tail statistic")
    bv = values(history, sig.bulk)
    b = bulk_alarm(bv, _reference(bv, sig.bulk, history.meta, bulk_ref))
    return t, b


def _median_generation(gens: list[int | None]) -> int | None:
    # a chain that never raises the alarm counts as "later than any generation"
    x = np.sort([math.inf if g is None else g for g in gens])
    m = x[(len(x) - 1) // 2]   # the lower median: a generation some chain actually reached
    return None if math.isinf(m) else int(m)


def _text(name: str, value, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value.strip() and not allow_empty):
        raise validate.ArgumentError(f"{name} must be a non-empty str; got {value!r:.60}")
    return value.strip()


def _sources(sources) -> str:
    if isinstance(sources, str):
        sources = [s.strip() for s in re.split(r"[,+ ]+", sources) if s.strip()]
    if not isinstance(sources, (list, tuple)) or not sources or any(s not in SOURCES for s in sources):
        raise validate.ArgumentError(f"sources must name the error sources switched on, a non-empty list of "
                                     f"{list(SOURCES)} (S statistical, E expressivity, A approximation) or a str "
                                     f"such as 'S, A'; got {sources!r:.60}")
    return ", ".join(s for s in SOURCES if s in sources)


def row(history, family: str, *, chapter, experiment: str, sources, remedy: str, tail_ref: float | None = None,
        bulk_ref: float | None = None) -> dict:
    """One row of the course map's table, measured on ``history``.

    Parameters
    ----------
    history : a :class:`loop.History` (one chain) or a non-empty list of them (chains of one experiment: each
        alarm is the median over chains of its first generation; None when more than half never raise it).
    family : a key of :data:`SIGNALS` ("zipf", "gaussian", "gmm", "vae", "lm", "linreg").
    chapter : the chapter (an int such as 1, or a str such as "4(a)", "5a").
    experiment : a short name of the run, e.g. "Zipf chain, M = 1,000".
    sources : the error sources switched on: a list from ("S", "E", "A") or a str such as "S, A".
    remedy : the Chapter 5 remedy that answers it, e.g. "accumulate; mix real data".
    tail_ref, bulk_ref : the real data's value of the tail / bulk statistic when the history cannot know it.

    Returns
    -------
    dict with keys :data:`KEYS`: chapter (str), experiment, family, sources, generations (the last generation; a
    chain stopped once its alarms were known counts the generations in its ``meta["planned"]``),
    chains, tail_alarm and bulk_alarm (generation or None), verdict (one of :data:`VERDICTS`), remedy.
    """
    hs = [history] if isinstance(history, History) else history
    if isinstance(hs, (str, bytes, Mapping)) or not isinstance(hs, Sequence) or not hs \
            or not all(isinstance(h, History) for h in hs):
        raise validate.ArgumentError(f"history must be a loop.History or a non-empty list of them; got "
                                     f"{type(history).__name__}")
    _family(family)
    if isinstance(chapter, bool) or not isinstance(chapter, (int, np.integer, str)) or not str(chapter).strip():
        raise validate.ArgumentError(f"chapter must be the chapter, an int such as 1 or a str such as '4(a)'; got "
                                     f"{chapter!r:.60}")
    found = [alarms(h, family, tail_ref=tail_ref, bulk_ref=bulk_ref) for h in hs]
    t = _median_generation([f[0] for f in found])
    b = _median_generation([f[1] for f in found])
    return {"chapter": str(chapter).strip(), "experiment": _text("experiment", experiment), "family": family,
            "sources": _sources(sources), "generations": int(max(h.meta.get("planned", len(h) - 1) for h in hs)),
            "chains": len(hs),
            "tail_alarm": t, "bulk_alarm": b, "verdict": verdict(t, b), "remedy": _text("remedy", remedy)}


def _check_rows(rows) -> list[dict]:
    if isinstance(rows, Mapping):
        rows = [rows]
    if not isinstance(rows, (list, tuple)) or not rows:
        raise validate.ArgumentError(f"rows must be a non-empty list of rows made by stages.row; got {rows!r:.60}")
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping) or any(k not in r for k in KEYS):
            raise validate.ArgumentError(f"rows[{i}] must be a row made by stages.row (keys {list(KEYS)}); got "
                                         f"{r!r:.80}")
    return [dict(r) for r in rows]


def table(rows) -> str:
    """The rows as an aligned text table (lines under 110 characters: long names are shortened)."""
    rows = _check_rows(rows)
    # at most 4+30+7+10+10+15+20 characters and six gaps of 2: 108, under a notebook's 110
    cols = [("ch.", "chapter", 4), ("experiment", "experiment", 30), ("sources", "sources", 7),
            ("tail alarm", "tail_alarm", 10), ("bulk alarm", "bulk_alarm", 10), ("verdict", "verdict", 15),
            ("remedy", "remedy", 20)]

    def cell(r, key, width):
        v = r[key]
        s = "never" if v is None and key.endswith("alarm") else str(v)
        return s if len(s) <= width else s[:width - 1] + "…"

    cells = [[cell(r, k, w) for _, k, w in cols] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (h, _, _) in enumerate(cols)]
    line = lambda xs: "  ".join(x.ljust(w) for x, w in zip(xs, widths)).rstrip()  # noqa: E731
    return "\n".join([line([h for h, _, _ in cols]), *(line(c) for c in cells)])


def _slug(chapter: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "", chapter) or "x"


def write(rows, directory) -> list[Path]:
    """Write ``rows`` as ``directory/stages-<chapter>.json`` (one file per chapter; a row of the same chapter and
    experiment already in the file is replaced, so a notebook run twice writes each row once). Returns the paths."""
    rows = _check_rows(rows)
    d = Path(validate.path("directory", directory, kind="dir"))
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for ch in dict.fromkeys(r["chapter"] for r in rows):
        p = d / f"stages-{_slug(ch)}.json"
        old = json.loads(p.read_text()) if p.is_file() else []
        new = [r for r in rows if r["chapter"] == ch]
        names = {r["experiment"] for r in new}
        p.write_text(json.dumps([r for r in old if r.get("experiment") not in names] + new, indent=1))
        paths.append(p)
    return paths


def read(directory) -> list[dict]:
    """Every row written by :func:`write` under ``directory`` (searched recursively), ordered by chapter; a file
    that is not a list of rows is skipped with a warning, the others are still read."""
    import warnings

    d = Path(validate.path("directory", directory, kind="dir"))
    out = []
    for p in sorted(d.rglob("stages-*.json")):
        try:
            out += _check_rows(json.loads(p.read_text()))
        except (ValueError, TypeError) as e:
            warnings.warn(f"{p}: not a list of course-map rows ({e}); skipped")
    key = lambda r: (int(m.group()) if (m := re.match(r"\d+", r["chapter"])) else 99, r["chapter"])  # noqa: E731
    return sorted(out, key=key)


def show(rows) -> None:
    """Print ``rows`` (made by :func:`row`) as a small table; during the course build (``COLLAPSE_LAB_FIGDIR`` set)
    also write them next to the figures (:func:`write`) for the home page's course-map table."""
    rows = _check_rows(rows)
    print(table(rows))
    d = os.environ.get(FIGDIR_ENV)
    if d:
        # the figures of one notebook go to build/figures/<notebook>; the table is gathered from all of them
        write(rows, d)
