"""Collapse forensics (the capstone): the outputs of Gaussian chains run under a hidden configuration, and how to
read the configuration back from them.

A *case* is what a lab kept of a run: the real data each chain started from and, for every generation, samples of
what that generation's model writes. The configuration that made it is hidden:

- ``policy``: the data policy (Chapter 5a): ``'replace'``, ``'accumulate'`` or ``'mix'``;
- ``fraction``: for ``'mix'``, the real fraction f of every training set, one of :data:`FRACTIONS` (None for the
  other two policies: replace keeps no real data, accumulate keeps all of it with a falling share);
- ``bias``: the verifier's bias (Chapter 5b), one of :data:`BIASES`; 0 means no verifier. A verifier with bias b
  believes the data are centred at b instead of at the real mean 0 and keeps a synthetic sample x only when
  ``|x - b| <= RADIUS`` (in units of the real standard deviation); the model writes ``OVERSAMPLE`` times the
  samples it needs and the first accepted ones are kept, as ``mitigation.Filtered`` does.

The family is the Gaussian of Chapters 1 and 5 (N(0, 1) real data; each generation fits the sample mean and the
unbiased variance of its training set). The course's other families show their kind in the data at a glance, so
naming the family would be no inference; the three parts above are what the learner infers. Every case has the
same sizes (:data:`CHAINS` chains, :data:`M` examples per generation, :data:`GENERATIONS` generations after
generation 0, :data:`SAMPLES` samples written per generation and chain), whatever the profile, so a case is the
same data everywhere. The grid is chosen so that the configuration is identifiable from one case: the reference
inference (the solution notebook's method: simulate every configuration and take the nearest by summaries, each in
units of its run-to-run spread) recovers every configuration of the grid for every hidden seed tried (a claim test),
with the answers checked within :data:`TOL_FRACTION` and :data:`TOL_BIAS`, half the spacing of the grids.

Where a student's case comes from, and why (see docs/grading.md, "The capstone's cases"):

- The configuration and the chain's seed are drawn from a SHA-256 hash of the **case key** and the student id.
  The case key is ``$COLLAPSE_LAB_CASE_KEY``, set by the instructor in their own shell and the grader's only. It is
  not the course salt ``$COLLAPSE_LAB_SALT``: that one must reach the students' kernels (their variants of
  Chapters 1-5 are computed there), and the package's code is public, so a configuration drawn from the salt
  could be recomputed by any student. The grader removes the case key from every kernel's environment.
- The student never computes their case: the instructor writes one case file per student
  (``collapse-lab case --roster ids.txt --out DIR``: ``DIR/<id>/forensics-case.npz``, plus ``DIR/key.csv``, the
  instructor's answer key) and hands each student theirs; the student puts it beside the notebook, where
  :func:`case` finds it. The file holds data and sizes only. The seed is a 64-bit hash, so matching the data by
  trying seeds is hopeless. In a graded run the grader writes the student's case file into the kernel's folder
  itself (:func:`write_case`), so the notebook runs on the student's own data.
- The package holds no inference: a learner's installed copy must not compute the answer from a case file (the
  reference inference the claim tests use lives with the tests).
- Without a case file (self-study) :func:`case` gives the self-study case, the same for everyone; :func:`reveal`
  prints its configuration, to be read after answering. ``collapse-lab case`` refuses to write case files without a
  case key: a case made with the public default key could be recomputed.
"""
from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import validate
from .stages import GAUSSIAN_TAIL_Q
from .validate import ArgumentError

POLICIES = ("replace", "accumulate", "mix")
FRACTIONS = (0.1, 0.3, 0.5)
BIASES = (0.0, 1.0, 2.0)
TOL_FRACTION, TOL_BIAS = 0.1, 0.5  # half the grid spacing: the nearest grid value passes, a neighbour fails
CHAINS, M, GENERATIONS, SAMPLES = 40, 50, 40, 250
RADIUS, OVERSAMPLE = 2.0, 3

KEY_ENV, CASE_ENV = "COLLAPSE_LAB_CASE_KEY", "COLLAPSE_LAB_CASE"
DEFAULT_KEY = "collapse-lab"
FILE = "forensics-case.npz"
FORMAT = "collapse-lab forensics case 1"
SELF_STUDY_SEED = 2026


class Config(NamedTuple):
    """A hidden configuration: ``policy`` (one of :data:`POLICIES`), ``fraction`` (a float of :data:`FRACTIONS`
    for 'mix', else None) and ``bias`` (a float of :data:`BIASES`; 0: no verifier)."""

    policy: str
    fraction: float | None
    bias: float

    def __str__(self):
        f = "none" if self.fraction is None else f"{self.fraction:g}"
        return f"policy {self.policy}, real fraction {f}, verifier bias {self.bias:g}"


SELF_STUDY = Config("mix", 0.3, 1.0)


def configs() -> list[Config]:
    """Every configuration of the grid (15): replace, accumulate and mix with each fraction, times each bias."""
    pols = [("replace", None), ("accumulate", None)] + [("mix", f) for f in FRACTIONS]
    return [Config(p, f, b) for p, f in pols for b in BIASES]


def config(policy, fraction=None, bias=0.0) -> Config:
    """A validated :class:`Config` on the grid (ArgumentError naming what is allowed otherwise)."""
    if policy not in POLICIES:
        raise ArgumentError(f"policy must be one of {POLICIES}; got {policy!r:.60}")
    if policy == "mix":
        f = validate.number("fraction", fraction, 0, 1)
        if not any(abs(f - x) < 1e-9 for x in FRACTIONS):
            raise ArgumentError(f"fraction must be one of {FRACTIONS} for policy 'mix'; got {fraction!r:.60}")
        fraction = min(FRACTIONS, key=lambda x: abs(x - f))
    elif fraction is not None:
        raise ArgumentError(f"fraction goes with policy 'mix' only (None for {policy!r}); got {fraction!r:.60}")
    b = validate.number("bias", bias, 0)
    if not any(abs(b - x) < 1e-9 for x in BIASES):
        raise ArgumentError(f"bias must be one of {BIASES} (0: no verifier); got {bias!r:.60}")
    return Config(policy, fraction, min(BIASES, key=lambda x: abs(x - b)))


# -- the hidden draw ------------------------------------------------------------------------------------------------


def _student(student) -> str:
    if not isinstance(student, str) or not student.strip():
        raise ArgumentError(f"student must be a non-empty str (a student id); got {student!r:.60}")
    return student


def _hash(student: str, what: str) -> int:
    key = os.environ.get(KEY_ENV) or DEFAULT_KEY
    digest = hashlib.sha256(f"{key}\0{student}\0forensics\0{what}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def configuration(student: str | None) -> Config:
    """The hidden configuration of ``student``'s case (a str id; None: the self-study case). Instructors and the
    grader call it under the case key; a learner's copy of the course cannot, without the key."""
    if student is None:
        return SELF_STUDY
    # the policy first, each a third of the students (not a share of the 15 configurations: a lazy "mix" would
    # be right for 9 in 15), then the fraction (mix only) and the bias
    h = _hash(_student(student), "config")
    policy, h = POLICIES[h % len(POLICIES)], h // len(POLICIES)
    fraction, h = (FRACTIONS[h % len(FRACTIONS)] if policy == "mix" else None), h // len(FRACTIONS)
    return Config(policy, fraction, BIASES[h % len(BIASES)])


def hidden_seed(student: str | None) -> int:
    """The seed of ``student``'s case (64 bits from the case key; the self-study case: a fixed seed)."""
    return SELF_STUDY_SEED if student is None else _hash(_student(student), "seed")


# -- the chains -----------------------------------------------------------------------------------------------------


class Case(NamedTuple):
    """The outputs of one run: ``real`` (CHAINS, M), the real data of each chain; ``samples`` (CHAINS,
    GENERATIONS + 1, SAMPLES), what the model of each generation writes (generation 0: fitted on the real data);
    ``student``: whose case (None: the self-study case); ``source``: where it came from (a file, or 'simulated')."""

    real: np.ndarray
    samples: np.ndarray
    student: str | None = None
    source: str = "simulated"

    def __repr__(self):
        who = "the self-study case" if self.student is None else f"the case of student {self.student!r}"
        c, g, s = self.samples.shape
        return (f"{who} ({self.source}):\n  {c} chains, generations 0..{g - 1}, {s} samples per generation and "
                f"chain, {self.real.shape[1]} real examples per chain")


def _draw(mean, sd, shape, rng):
    return mean[:, None] + sd[:, None] * rng.standard_normal(shape)


def simulate(cfg, seed: int, *, chains: int = CHAINS, generations: int = GENERATIONS) -> Case:
    """Run ``chains`` Gaussian chains under ``cfg`` (a :class:`Config`, or a tuple (policy, fraction, bias)) with
    the int ``seed``; returns a :class:`Case` (samples rounded to float32 precision, as a case file keeps them).

    Each chain: real data N(0, 1) of M examples; generation 0 fits them; generation g >= 1 fits the training set
    the policy builds from the real data and the previous model's (verified) samples; every generation's model
    writes SAMPLES samples for the record."""
    cfg = config(*cfg) if not isinstance(cfg, Config) else config(cfg.policy, cfg.fraction, cfg.bias)
    seed = validate.integer("seed", seed, 0, 2**64 - 1)
    chains = validate.integer("chains", chains, 1, 10_000)
    generations = validate.integer("generations", generations, 0, 10_000)
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((chains, M))
    k = int(round(cfg.fraction * M)) if cfg.policy == "mix" else 0
    n_syn = M - k
    # the training set by its sufficient statistics per chain: count, sum, sum of squares
    cnt, s1, s2 = np.full(chains, float(M)), real.sum(1), (real ** 2).sum(1)
    acc = (cnt.copy(), s1.copy(), s2.copy())  # accumulate: every training example so far
    out = np.empty((chains, generations + 1, SAMPLES))
    for g in range(generations + 1):
        mu = s1 / cnt
        sd = np.sqrt(np.maximum((s2 - cnt * mu ** 2) / (cnt - 1), 0.0))
        out[:, g] = _draw(mu, sd, (chains, SAMPLES), rng)
        if g == generations:
            break
        if cfg.bias > 0:
            cand = _draw(mu, sd, (chains, OVERSAMPLE * n_syn), rng)
            ok = np.abs(cand - cfg.bias) <= RADIUS
            keep = ok & (np.cumsum(ok, axis=1) <= n_syn)
            few = keep.sum(1) < 2  # a verifier that accepts fewer than two samples is overruled: keep the first
            keep[few] = np.arange(cand.shape[1]) < n_syn
        else:
            cand = _draw(mu, sd, (chains, n_syn), rng)
            keep = np.ones(cand.shape, dtype=bool)
        c, t1, t2 = keep.sum(1).astype(float), np.where(keep, cand, 0).sum(1), np.where(keep, cand ** 2, 0).sum(1)
        if cfg.policy == "replace":
            cnt, s1, s2 = c, t1, t2
        elif cfg.policy == "accumulate":
            acc = (acc[0] + c, acc[1] + t1, acc[2] + t2)
            cnt, s1, s2 = acc
        else:  # mix: k real examples re-drawn every generation, without replacement
            pick = np.argsort(rng.random((chains, M)), axis=1)[:, :k]
            r = np.take_along_axis(real, pick, axis=1)
            cnt, s1, s2 = c + k, t1 + r.sum(1), t2 + (r ** 2).sum(1)
    f32 = lambda x: x.astype(np.float32).astype(np.float64)  # noqa: E731
    return Case(f32(real), f32(out))


# -- case files -----------------------------------------------------------------------------------------------------


def write_case(folder, student: str | None) -> Path:
    """Write ``student``'s case (None: the self-study case) as ``folder/forensics-case.npz`` (data and sizes only,
    no configuration); returns the file. ``folder``: an existing folder."""
    folder = validate.path("folder", folder, kind="dir", must_exist=True)
    c = simulate(configuration(student), hidden_seed(student))
    path = folder / FILE
    np.savez_compressed(path, format=np.array(FORMAT), student=np.array("" if student is None else student),
                        real=c.real.astype(np.float32), samples=c.samples.astype(np.float32))
    return path


def load_case(path) -> Case:
    """The :class:`Case` in the file ``path`` (written by :func:`write_case`)."""
    path = validate.path("path", path, kind="file", must_exist=True)
    try:
        with np.load(path, allow_pickle=False) as d:
            fmt, sid = str(d["format"]), str(d["student"])
            real, samples = d["real"].astype(np.float64), d["samples"].astype(np.float64)
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"{path} is not a forensics case file ({type(e).__name__}: {e})"[:300]) from None
    if fmt != FORMAT or real.ndim != 2 or samples.ndim != 3 or samples.shape[0] != real.shape[0]:
        raise ValueError(f"{path} is not a forensics case file of this course version ({fmt!r:.60})")
    return Case(real, samples, sid or None, str(path))


def _find() -> Path | None:
    """The case file to use: ``$COLLAPSE_LAB_CASE``, else forensics-case.npz beside the notebook or at home."""
    env = os.environ.get(CASE_ENV)
    if env:
        return Path(env)
    for folder in (Path.cwd(), Path.home()):
        if (folder / FILE).is_file():
            return folder / FILE
    return None


def case(student: str | None = None, path=None) -> Case:
    """The case to investigate.

    ``path`` (a case file) or, without it, the first found of ``$COLLAPSE_LAB_CASE`` and ``forensics-case.npz`` in
    the working folder or the home folder (in a graded run: the grader's copy of your case, whatever ``path``
    says). Without a file: ``student``'s case simulated here (instructors, under the case key), or the self-study
    case when ``student`` is None too."""
    from .checks import mode

    if student is not None:
        _student(student)
    graded = mode() == "graded" and (Path.cwd() / FILE).is_file()
    found = Path.cwd() / FILE if graded else (validate.path("path", path, kind="file", must_exist=True)
                                             if path is not None else _find())
    if found is not None:
        return load_case(found)
    c = simulate(configuration(student), hidden_seed(student))
    return c._replace(student=student, source="simulated")


def reveal(c: Case | None = None) -> None:
    """Print the configuration of the self-study case (read it after you have answered). Other cases' answers are
    held by the instructor."""
    if c is not None and not isinstance(c, Case):
        raise ArgumentError(f"c must be a forensics Case or None; got {c!r:.60}")
    if c is not None and c.student is not None:
        print(f"the configuration of {c.student!r}'s case is held by your instructor: this copy cannot tell")
        return
    print(f"the self-study case: {SELF_STUDY}")


# -- the reference diagnostics and inference -----------------------------------------------------------------------


def diagnostics(samples, real) -> tuple[np.ndarray, np.ndarray]:
    """The tail and the bulk statistic of every generation of every chain (as :mod:`collapse_lab.stages` defines
    them for the Gaussian): ``tail`` = the share of the samples below the q or above the 1 - q quantile of all the
    real data pooled (q = 0.01: 0.02 for the real data's own law), ``bulk`` = the samples' variance (``ddof=1``).

    ``samples``: float array (chains, generations + 1, S), S >= 2; ``real``: float array of any shape (pooled).
    Returns (tail, bulk), each (chains, generations + 1)."""
    samples = validate.array("samples", samples, ndim=3)
    real = validate.array("real", real)
    if samples.shape[2] < 2:
        raise ArgumentError(f"samples must hold at least 2 samples per generation (last axis); got {samples.shape}")
    lo, hi = np.quantile(real, [GAUSSIAN_TAIL_Q, 1 - GAUSSIAN_TAIL_Q])
    return np.mean((samples < lo) | (samples > hi), axis=2), np.var(samples, axis=2, ddof=1)


# -- the instructor's cases -----------------------------------------------------------------------------------------


def write_cases(roster, out) -> tuple[list[Path], list[str]]:
    """One case file per student of ``roster`` (a list of ids) in ``out/<id>/forensics-case.npz`` and the answer
    key ``out/key.csv`` (student, policy, fraction, bias); returns (files written, problems: one line per id that
    could not be written, the others go on). Needs ``$COLLAPSE_LAB_CASE_KEY``."""
    if not os.environ.get(KEY_ENV):
        raise ValueError(f"set ${KEY_ENV} (a secret of yours, the same when you grade) before writing cases: a case "
                         "made with the public default key could be recomputed by any student")
    if isinstance(roster, str) or not isinstance(roster, (list, tuple)):
        raise ArgumentError(f"roster must be a list of student ids; got {roster!r:.60}")
    out = validate.path("out", out, kind="dir")
    out.mkdir(parents=True, exist_ok=True)
    files, problems, rows, seen = [], [], [], set()
    for i, sid in enumerate(roster, 1):
        sid = sid.strip() if isinstance(sid, str) else sid
        if not isinstance(sid, str) or not sid or sid in (".", "..") or "/" in sid or "\\" in sid or "\0" in sid:
            problems.append(f"line {i}: {sid!r:.60} is no usable student id (non-empty, no / or \\, not . or ..)")
            continue
        if sid in seen:
            problems.append(f"line {i}: {sid!r} appears twice; written once")
            continue
        seen.add(sid)
        try:
            (out / sid).mkdir(exist_ok=True)
            files.append(write_case(out / sid, sid))
        except OSError as e:
            problems.append(f"line {i}: {sid!r}: {e}")
            continue
        cfg = configuration(sid)
        rows.append([sid, cfg.policy, "" if cfg.fraction is None else cfg.fraction, cfg.bias])
    with open(out / "key.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "policy", "fraction", "bias"])
        w.writerows(rows)
    return files + [out / "key.csv"], problems
