"""Work avoidance earns nothing in a graded run; honest work keeps full marks.

The submissions a student who skips the work would hand in, graded by `collapse-lab check` in bubblewrap as an
instructor would: delegation to the course's own reference functions (plain, obfuscated, through ``sys.modules``,
``getattr`` chains, the source read from the installed package or copied with ``inspect.getsource``), the answer
key read from the package's checks, a brute-force search over the in-notebook feedback, an empty notebook, and a
neighbour's notebook copied with its variant's answers. Beside them the honest solution (full marks) and the
variants of two students (different).
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from collapse_lab.checks import ch1, variants
from collapse_lab.grading import grader, keyless
from collapse_lab.grading.kernel import bwrap_path

ROOT = Path(__file__).resolve().parent.parent
NB1 = "01_sampling_loses_the_tails.ipynb"

# where a student looks for the package's source: its __file__, sys.path, .pth files and editable finders, and the
# checkout paths of this machine (a student may know them)
FIND = f'''
import collapse_lab, glob, os, re, site, sys
from pathlib import Path

def _sources(rel):
    dirs = [Path(collapse_lab.__file__).parent]
    for sp in site.getsitepackages():
        for f in glob.glob(sp + "/*.pth") + glob.glob(sp + "/__editable__*finder.py"):
            try:
                text = open(f).read()
            except OSError:
                continue
            dirs += [Path(m) for m in re.findall(r"'collapse_lab':\\s*'([^']+)'", text)]
            dirs += [Path(ln.strip()) / "collapse_lab" for ln in text.splitlines() if ln.strip().startswith("/")]
    dirs += [Path(p) / "collapse_lab" for p in sys.path if p]
    dirs += [Path({str(ROOT)!r}) / "collapse_lab", Path({str(grader.PACKAGE)!r})]
    out = []
    for d in dirs:
        for f in [d / rel, *(d / "__pycache__").glob(Path(rel).stem + ".*.pyc")]:
            try:
                out.append((f, f.read_bytes()))
            except OSError:
                pass
    return out

def _from_disk(rel, name):
    """The function ``name`` of the package file ``rel`` as read from disk, run as the package's module."""
    import marshal, types
    for f, data in _sources(rel):
        ns = {{"__name__": "collapse_lab._copy", "__package__": "collapse_lab"}}
        try:
            if f.suffix == ".pyc":
                exec(marshal.loads(data[16:]), ns)
            else:
                exec(compile(data.decode(), str(f), "exec"), ns)
            fn = ns[name]
            return fn
        except Exception:
            continue
    raise RuntimeError("no readable source")
'''

# chapter 1, every code exercise delegated another way, every conceptual item read from a key or searched for
DELEGATE = {
    "categorical_step": "from collapse_lab import tails\n    return tails.refit(p, M, rng)\n",
    "expected_lost": "import importlib, base64\n"
                     "    mod = importlib.import_module(base64.b64decode('Y29sbGFwc2VfbGFiLnRhaWxz').decode())\n"
                     "    return float(getattr(mod, 'expected_' + 'lost')(p, M))\n",
    "gaussian_step": "import sys\n    __import__('collapse_lab.gaussian')\n"
                     "    return getattr(sys.modules['collapse_lab.' + 'gaussian'], 'st' + 'ep')(mean, var, M, rng)\n",
    "w2_gaussian": "return _from_disk('metrics.py', 'w2_gaussian')(m1, v1, m2, v2)\n",
    "c_factor": "import inspect\n    from collapse_lab import gaussian\n    ns = {'np': np}\n"
                "    exec(inspect.getsource(gaussian.c_factor), vars(gaussian) | ns, ns)\n"
                "    return float(ns['c_factor'](M))\n",
}
KEY = {  # the conceptual answers: the key read from the package's checks, else searched with the notebook's checks
    "error_sources": '''import re, ast, itertools
error_sources = None
for f, data in _sources("checks/ch1.py"):
    m = re.search(rb"want = (\\{.*?\\})\\n", data)
    if m:
        error_sources = {k: "".join(sorted(v)) for k, v in eval(m.group(1)).items()}
        break
if error_sources is None:
    for combo in itertools.product(["S", "E", "A", "SA", "SE", "EA", "SEA"], repeat=4):
        try:
            checks.ch1.error_sources(dict(zip("abcd", combo)))
            error_sources = dict(zip("abcd", combo))
            break
        except AssertionError:
            pass''',
    "early_or_late": '''import itertools, io, contextlib
early_or_late = None
for combo in itertools.product(["early", "late"], repeat=5):
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            checks.ch1.early_or_late(list(combo))
        early_or_late = list(combo)
        break
    except AssertionError:
        pass''',
    "median_collapse": '''import io, contextlib
median_collapse = None
from collapse_lab import gaussian
try:
    n = next(n for n in range(1, 2000) if gaussian.median_var(n, variant.M) <= variant.keep)
    median_collapse = (n, 0.5)
except Exception:
    for n in range(1, 400):
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                checks.ch1.median_collapse((n, 0.5))
            median_collapse = (n, 0.5)
            break
        except AssertionError:
            pass''',
}


def _answer_cells(nb):
    """{exercise: index of its answer cell} of a chapter-1 notebook."""
    out = {}
    for i, c in enumerate(nb.cells):
        for name in [*DELEGATE, *KEY]:
            if c.cell_type == "code" and (c.source.startswith(f"def {name}(") or c.source.startswith(f"{name} = None")):
                out[name] = i
    return out


def delegating():
    """Chapter 1's exercise notebook with every answer delegated or looked up."""
    nb = nbformat.read(ROOT / "exercises" / NB1, as_version=4)
    cells = _answer_cells(nb)
    for name, body in DELEGATE.items():
        head = nb.cells[cells[name]].source.split("    # YOUR CODE HERE")[0]
        nb.cells[cells[name]].source = head + "    " + body
    for name, src in KEY.items():
        nb.cells[cells[name]].source = src
    nb.cells.insert(2, nbformat.v4.new_code_cell(FIND))
    return nb


def copied(from_student):
    """The solution with the conceptual answers of ``from_student``'s variant typed in as numbers."""
    nb = nbformat.read(ROOT / "solutions" / NB1, as_version=4)
    v = variants.variant("01", from_student)
    want = ch1.answers(v)
    cells = _answer_cells(nb)
    nb.cells[cells["early_or_late"]].source = f"early_or_late = {list(want['early_or_late'])!r}"
    nb.cells[cells["median_collapse"]].source = f"median_collapse = ({want['median_collapse'][0]!r}, 0.5)"
    return nb


def _write(base, student, nb):
    d = base / student
    d.mkdir(parents=True)
    nbformat.write(nb, d / NB1)
    return d / NB1


def _grade(paths, tmp):
    cmd = [sys.executable, "-m", "collapse_lab.cli", "check", *map(str, paths), "--solutions",
           str(ROOT / "solutions"), "--csv", str(tmp / "long.csv"), "--timeout", "300"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLLAPSE_LAB_QUIET="1")
    env.pop("COLLAPSE_LAB_STUDENT", None)
    p = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=1200)
    with open(tmp / "long.csv") as f:
        rows = list(csv.DictReader(f))
    return p, rows


def test_two_students_get_different_variants_and_a_neighbours_answer_fails():
    a, b = variants.variant("01", "alice"), variants.variant("01", "bob")
    assert a == variants.variant("01", "alice") and a != b
    assert ch1.answers(a)["early_or_late"] != ch1.answers(b)["early_or_late"]
    with variants.grading("bob"):
        with pytest.raises(AssertionError):
            ch1.early_or_late(list(ch1.answers(a)["early_or_late"]))
        ch1.early_or_late(list(ch1.answers(b)["early_or_late"]))


def test_keyless_package_holds_no_key_and_stubs_the_references(tmp_path):
    refs = [r for rs in keyless.refs_of("ch1").values() for r in rs]
    out = keyless.build(tmp_path / "k", refs)
    text = (out / "checks" / "ch1.py").read_text()
    assert "want" not in text and '"SA"' not in text and "early', 'late'" not in text
    tails = (out / "tails.py").read_text()
    assert "multinomial" not in tails.split("def refit", 1)[1].split("\ndef ", 1)[0]
    code = f"import sys; sys.path.insert(0, {str(tmp_path / 'k')!r})\n" \
           "import numpy as np, collapse_lab\nfrom collapse_lab import tails, checks\n" \
           "assert collapse_lab.__file__.startswith(sys.path[0]), collapse_lab.__file__\n" \
           "try:\n    tails.refit(np.ones(3) / 3, 5, np.random.default_rng(0))\nexcept RuntimeError as e:\n" \
           "    print('stubbed:', e)\nchecks.ch1.early_or_late(['late'] * 5)\nprint(checks.mode())"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(tmp_path / "k")))
    assert p.returncode == 0, p.stderr
    assert "stubbed: collapse_lab.tails.refit is not available in a graded run" in p.stdout
    assert "recorded, not verified here" in p.stdout and "\u2713" not in p.stdout
    assert p.stdout.strip().endswith("student")


@pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap is not installed")
def test_work_avoidance_earns_nothing_honest_work_full_marks(tmp_path):
    subs = tmp_path / "subs"
    honest = _write(subs, "honest", nbformat.read(ROOT / "solutions" / NB1, as_version=4))
    cheat = _write(subs, "delegator", delegating())
    lazy = _write(subs, "lazy", nbformat.read(ROOT / "exercises" / NB1, as_version=4))
    copy = _write(subs, "copier", copied("honest"))
    p, rows = _grade([honest, cheat, lazy, copy], tmp_path)
    assert p.returncode in (1, 3), p.stderr
    got = {}
    for r in rows:
        if r["passed"] != "":  # the written answer: scored by hand against the rubric, not here
            got.setdefault(r["student"], {})[r["exercise"]] = r["passed"] == "True"
    assert all(got["honest"].values()) and len(got["honest"]) == 8, rows
    assert not any(got["delegator"].values()), [r for r in rows if r["student"] == "delegator"]
    why = {r["exercise"]: r["message"] for r in rows if r["student"] == "delegator"}
    assert "collapse_lab.tails.refit is not available in a" in why["categorical_step"], why
    assert not any(got["lazy"].values())
    # the copier's code is right (copied); the variant items typed in from the neighbour's variant are not
    assert not got["copier"]["early_or_late"] or not got["copier"]["median_collapse"]


def test_the_attacks_work_where_the_key_is(tmp_path):
    """Self-study from the full repository keeps full feedback, so there the same notebook passes every check:
    the attacks above are real, and only the graded run's keyless kernel stops them."""
    from collapse_lab.runner import run_notebook

    nb = delegating()
    env = {"COLLAPSE_LAB_QUIET": "1", "COLLAPSE_LAB_PROFILE": "quick", "PYTHONPATH": str(ROOT)}
    run_notebook(nb, tmp_path, env, timeout=300, allow_errors=True)
    outs = ["".join(o.get("text", "") for o in c.outputs) for c in nb.cells
            if c.cell_type == "code" and c.source.startswith("checks.ch1.")]
    assert len(outs) == 8 and all(o.startswith("\u2713") for o in outs), outs


# -- every chapter, without running its notebook: what the graded kernel's package lets a submission reach ----------

CHAPTERS = keyless.chapters()


@pytest.fixture(scope="module")
def keyless_copies(tmp_path_factory):
    """Per chapter, the keyless package a graded kernel of that chapter imports (its folder)."""
    out = {}
    for ch in CHAPTERS:
        d = tmp_path_factory.mktemp(f"keyless-{ch}")
        keyless.build(d / "k", [r for rs in keyless.refs_of(ch).values() for r in rs])
        out[ch] = d / "k"
    return out


PROBE = '''
import importlib, inspect, io, contextlib, json, sys
import collapse_lab
assert collapse_lab.__file__.startswith(sys.argv[1]), collapse_lab.__file__
from collapse_lab import checks
refs, chapter = json.loads(sys.argv[2]), sys.argv[3]
out = {"delegation": {}, "source": {}, "search": {}, "mode": checks.mode()}
for ref in refs:                       # 1. delegation: call each reference under its own name, and read its source
    parts = ref.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module("collapse_lab." + ".".join(parts[:cut]))
            for p in parts[cut:]:
                obj = getattr(obj, p)
            break
        except (ImportError, AttributeError):
            continue
    try:
        obj(*([None] * 8))
        out["delegation"][ref] = "returned"
    except RuntimeError as e:
        out["delegation"][ref] = "stub" if "not available in a graded run" in str(e) else "other: " + str(e)[:80]
    except TypeError:
        out["delegation"][ref] = "TypeError (signature)"
    out["source"][ref] = inspect.getsource(obj)
mod = importlib.import_module("collapse_lab.checks." + chapter)
for name, check in vars(mod).items():  # 3. search the feedback: two different answers, the same response
    if callable(check) and getattr(check, "kind", None):
        seen = []
        for attempt in ("a", ("b", 2), [0.5, 0.25], (lambda *a: 0)):
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                try:
                    check(attempt)
                    seen.append("ok " + buf.getvalue().replace(repr(attempt), ""))
                except AssertionError as e:
                    seen.append("raised " + str(e).split(chr(10))[0])
        out["search"][name] = seen
print(json.dumps(out))
'''


@pytest.mark.parametrize("ch", CHAPTERS)
def test_graded_package_of_every_chapter_gives_no_answer(ch, keyless_copies):
    """Three kinds of work avoidance per chapter, tried against the package a graded kernel of the chapter imports:
    delegating to each declared reference (by name, and by copying its source), reading the answer key from the
    checks module, and searching the answers with the in-notebook checks."""
    import json

    refs = sorted({r for rs in keyless.refs_of(ch).values() for r in rs})
    root = keyless_copies[ch]
    p = subprocess.run([sys.executable, "-c", PROBE, str(root), json.dumps(refs), ch], capture_output=True,
                       text=True, env=dict(os.environ, PYTHONPATH=str(root), COLLAPSE_LAB_QUIET="1"), timeout=600,
                       cwd=root)
    assert p.returncode == 0, p.stderr[-2000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["mode"] == "student"
    for ref in refs:  # 1. each reference raises as a stub; its source holds only the stub
        assert got["delegation"][ref] in ("stub", "TypeError (signature)"), (ref, got["delegation"][ref])
        body = got["source"][ref]
        assert "not available in a graded run" in body and body.count("\n") < 40, (ref, body)
    # 2. the key: the chapter's checks module holds check names, hints and form checks only
    text = (root / "collapse_lab" / "checks" / f"{ch}.py").read_text()
    import ast

    for node in ast.parse(text).body:  # a docstring, imports, and assignments of constants: no computation
        if isinstance(node, ast.Assign):
            call = node.value
            assert isinstance(call, ast.Call) and call.func.id in ("Hints", "keyless"), ast.dump(node)[:200]
            assert all(isinstance(a, (ast.Constant, ast.Dict)) for a in call.args), ast.dump(node)[:200]
            assert all(isinstance(v, ast.Constant) for a in call.args if isinstance(a, ast.Dict) for v in a.values)
        else:
            assert isinstance(node, (ast.ImportFrom, ast.Expr)), ast.dump(node)[:200]
    real = Path(keyless.__file__).resolve().parent.parent / "checks" / f"{ch}.py"
    assert "want" in real.read_text()  # the key the full package holds (self-study)
    # 3. the in-notebook checks answer every non-None attempt alike: nothing to search
    assert got["search"], ch
    for name, seen in got["search"].items():
        kinds = {s.split(" ", 1)[0] for s in seen[:3]}
        assert kinds == {"ok"} or all(s.startswith("raised") for s in seen[:3]), (name, seen)
        assert len({s for s in seen[:3]}) == 1 or kinds == {"raised"}, (name, seen)


def test_student_bundle_carries_no_answer_key(tmp_path):
    """What students receive: every checks module is its keyless edition (no answers, no reference computations),
    and its check cells run in the 'student' mode: the form and the idea of an answer, never a verdict."""
    from collapse_lab import bundle

    dest = tmp_path / "bundle"
    bundle.student(dest, root=ROOT)
    for ch in CHAPTERS:
        text = (dest / "collapse_lab" / "checks" / f"{ch}.py").read_text()
        assert "keyless edition" in text and "want" not in text.split("hint = Hints", 1)[0]
        assert "expect(" not in text and "answers(" not in text
    code = ("from collapse_lab import checks\nprint(checks.mode())\n"
            "checks.ch1.early_or_late(['late'] * 5)\nchecks.ch1.early_or_late(['early'] * 5)\n"
            "checks.ch2.drift_swamps((1, 2))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=dest,
                       env=dict(os.environ, PYTHONPATH=str(dest), COLLAPSE_LAB_QUIET="1"))
    assert p.returncode == 0, p.stderr[-1500:]
    lines = p.stdout.splitlines()
    assert lines[0] == "student" and "\u2713" not in p.stdout and "expected" not in p.stdout
    assert p.stdout.count("recorded, not verified here") == 3


# -- chapters 2 to 5 end to end: small submissions (only the cells the grader needs) through `collapse-lab check` ----

SMALL_SETUP = {  # the set-up a chapter's answer cells need, without the lecture's data and models
    "02": "import numpy as np\nfrom scipy.stats import multivariate_normal\nfrom collapse_lab import checks, gmm, loop",
    "03": "import numpy as np\nimport torch\nfrom collapse_lab import checks, vae",
    "04": "import numpy as np\nfrom collapse_lab import checks, data, lm, loop",
    "05": "import numpy as np\nfrom collapse_lab import checks, loop\nfrom collapse_lab import mitigation as mi",
}
SMALL_DELEGATE = {  # two code exercises per chapter handed to the course's reference, plainly or disguised
    "02": {"lost_at": "from collapse_lab import gmm\n    return gmm.lost_generation(mass, original, below)\n",
           "weight_sd": "import importlib\n    g_ = importlib.import_module('collapse_lab.gmm')\n"
                        "    return float(getattr(g_, 'weight' + '_sd')(w, M, g))\n"},
    "03": {"vae_loss": "from collapse_lab import vae\n    return vae.loss(x, recon, mu, logvar)\n",
           "reparameterise": "import sys\n    __import__('collapse_lab.vae')\n"
                             "    return sys.modules['collapse_lab.vae'].reparameterise(mu, logvar, eps)\n"},
    "04": {"pack_blocks": "from collapse_lab.lm import text\n    return text.blocks(ids, size)\n",
           "next_training_set": "from collapse_lab.lm import generation\n"
                                "    return generation.continuations(prompts, outputs)\n"},
    "05": {"linreg_errors": "from collapse_lab import mitigation as m\n"
                            "    return (m.linreg_formula(n, d, M, sigma, 'replace'),\n"
                            "            m.linreg_formula(n, d, M, sigma, 'accumulate'))\n",
           "tail_alarm": "from collapse_lab.mitigation import monitoring\n"
                         "    mon = monitoring.Monitor(reference, q=q, tol=tol)\n"
                         "    drops = [mon.check(x)['tail_drop'] for x in samples_by_gen]\n"
                         "    return next((g for g, d in enumerate(drops) if d > tol), None)\n"},
}
# the conceptual items: the key read from the package's checks on disk (the answers function, run on the variant),
# else searched with the notebook's own checks (the first candidate that raises nothing)
SMALL_KEY = {
    "02": {"isolated_sources": ("isolated", "itertools.product('SEA', repeat=5)", "''.join(c)")},
    "03": {"collapse_stage": ("stages", "itertools.product('EL', repeat=6)", "''.join(c)")},
    "04": {"which_decoder": ("answer", "itertools.product('YX', 'dcba')", "tuple(c)")},
    "05": {"anchor_or_prior": ("answer", "((x / 100, y / 100) for x in range(101) for y in range(101))", "c"),
           "anchored_variance": ("answer", "(x / 1000 for x in range(3000))", "c")},
}
KEY_SNIPPET = '''import itertools, io, contextlib
{var} = None
for f, data in _sources("checks/ch{n}.py"):
    try:
        ns = {{"__name__": "collapse_lab.checks._copy", "__package__": "collapse_lab.checks"}}
        exec(compile(data.decode(), str(f), "exec"), ns)
        {var} = ns["answers"](variant)[{item!r}]
        break
    except Exception:
        pass
if {var} is None:
    for c in {space}:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                checks.ch{n}.{item}({value})
            {var} = {value}
            break
        except AssertionError:
            pass'''


def _chapter_file(ch):
    return next((ROOT / "solutions").glob(f"{ch}_*.ipynb")).name


def small(ch, source="solutions"):
    """Chapter ``ch``'s notebook cut to the set-up, the variant cell and each exercise's answer and check cells."""
    from collapse_lab.cells import exercises_of

    nb = nbformat.read(ROOT / source / _chapter_file(ch), as_version=4)
    exprs = {e.expr for e in exercises_of(nbformat.read(ROOT / "solutions" / _chapter_file(ch), as_version=4))}
    keep = [nbformat.v4.new_code_cell(SMALL_SETUP[ch])]
    for c in nb.cells:
        s = c.source
        if c.cell_type == "code" and (s.startswith("variant = checks.variant(") or s.startswith("checks.ch") or any(
                s.startswith((f"def {x}(", f"class {x}", f"{x} = None")) for x in exprs)):
            keep.append(c)
    nb.cells = keep
    return nb


def _cell_of(nb, start):
    return next(c for c in nb.cells if c.source.startswith(start))


def small_cheat(ch):
    """The exercise notebook, cut small, with two code exercises delegated and the conceptual items looked up."""
    nb = small(ch, "exercises")
    nb.cells.insert(1, nbformat.v4.new_code_cell(FIND))
    for name, body in SMALL_DELEGATE[ch].items():
        c = _cell_of(nb, f"def {name}(")
        c.source = c.source.split("    # YOUR CODE HERE")[0] + "    " + body
    n = str(int(ch))
    for item, (var, space, value) in SMALL_KEY[ch].items():
        checks_at = next(i for i, c in enumerate(nb.cells) if c.source.startswith(f"checks.ch{n}.{item}("))
        nb.cells[checks_at - 1].source = KEY_SNIPPET.format(var=var, n=n, item=item, space=space, value=value)
    return nb


def small_copy(ch, from_student):
    """The honest small notebook with the variant items typed in from ``from_student``'s variant."""
    import importlib

    nb = small(ch)
    mod = importlib.import_module(f"collapse_lab.checks.ch{int(ch)}")
    want = mod.answers(variants.variant(ch, from_student))
    for item, (var, _, _) in SMALL_KEY[ch].items():
        checks_at = next(i for i, c in enumerate(nb.cells) if c.source.startswith(f"checks.ch{int(ch)}.{item}("))
        nb.cells[checks_at - 1].source = f"{var} = {want[item]!r}"
    return nb


def _differ(ch, a, b):
    import importlib

    mod = importlib.import_module(f"collapse_lab.checks.ch{int(ch)}")
    wa, wb = mod.answers(variants.variant(ch, a)), mod.answers(variants.variant(ch, b))
    return all(wa[i] != wb[i] for i in SMALL_KEY[ch])


def test_small_submissions_hold_what_the_grader_needs():
    """The cut notebooks keep an answer cell and a check cell for every exercise of the chapter."""
    from collapse_lab.cells import exercises_of

    for ch in SMALL_SETUP:
        full = exercises_of(nbformat.read(ROOT / "solutions" / _chapter_file(ch), as_version=4))
        nb = small(ch)
        for e in full:
            assert any(c.source.startswith(f"checks.ch{int(ch)}.{e.name}(") for c in nb.cells), (ch, e.name)
        cheat = small_cheat(ch)
        assert sum("ns[\"answers\"](variant)" in c.source for c in cheat.cells) == len(SMALL_KEY[ch]), ch


@pytest.mark.slow  # about 2 minutes: 16 kernels (chapter 4's loads the language model's base)
@pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap is not installed")
def test_work_avoidance_in_chapters_2_to_5_earns_nothing(tmp_path):
    """Per chapter 2-5, four submissions graded in one sandboxed batch as an instructor would: the honest answers
    (full marks), delegation to the course's reference code plus the conceptual answers read from the package's
    checks or searched with the notebook's checks, the untouched exercise cells (lazy), and a neighbour's copy
    (the variant items typed in from the neighbour's variant)."""
    from collapse_lab.grading import grader as g

    if g.missing_lm_base("quick"):
        pytest.skip("the language model's base is not cached (lm.ensure_base('quick'))")
    students = ["honest", "delegator", "lazy", "copier"]
    assert all(_differ(ch, "copier", "honest") for ch in SMALL_SETUP), "pick ids whose variants differ"
    paths = []
    for ch in SMALL_SETUP:
        for student, nb in zip(students, (small(ch), small_cheat(ch), small(ch, "exercises"),
                                          small_copy(ch, "honest"))):
            d = tmp_path / "subs" / student
            d.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, d / _chapter_file(ch))
            paths.append(d / _chapter_file(ch))
    p, rows = _grade(paths, tmp_path)
    assert p.returncode in (1, 3), p.stderr[-3000:]
    got: dict = {}
    for r in rows:
        if r["passed"] != "":
            got.setdefault((r["student"], r["notebook"][:2]), {})[r["exercise"]] = (
                r["passed"] == "True", " ".join(r["message"].replace(" | ", " ").split()))
    bad = []
    for ch in SMALL_SETUP:
        honest = got["honest", ch]
        bad += [("honest", ch, k, m) for k, (ok, m) in honest.items() if not ok]
        bad += [("delegator", ch, k, m) for k, (ok, m) in got["delegator", ch].items() if ok]
        bad += [("delegator", ch, name, got["delegator", ch][name][1]) for name in SMALL_DELEGATE[ch]
                if "not available in a graded run" not in got["delegator", ch][name][1]]
        bad += [("lazy", ch, k, m) for k, (ok, m) in got["lazy", ch].items() if ok]
        copier = got["copier", ch]
        bad += [("copier", ch, i, copier[i][1]) for i in SMALL_KEY[ch] if copier[i][0]]
        bad += [("copier", ch, k, m) for k, (ok, m) in copier.items() if k not in SMALL_KEY[ch] and not ok]
    assert not bad, "\n".join(map(str, bad))


# -- the variant items of every chapter: a neighbour's answer fails, the learner's own passes ------------------------

VARIANT_ITEMS = [("02", "isolated_sources"), ("02", "drift_swamps"), ("03", "collapse_stage"),
                 ("04", "which_decoder"), ("05", "anchor_or_prior"), ("05", "anchored_variance")]


@pytest.mark.parametrize("ch,item", VARIANT_ITEMS, ids=[f"ch{c}.{i}" for c, i in VARIANT_ITEMS])
def test_a_variant_item_takes_the_learners_answer_and_not_a_neighbours(ch, item, capsys):
    import importlib

    mod = importlib.import_module(f"collapse_lab.checks.ch{int(ch)}")
    check = getattr(mod, item)
    ids = [f"student{k:02d}" for k in range(12)]
    keys = {s: mod.answers(variants.variant(ch, s))[item] for s in ids}
    assert len({repr(k) for k in keys.values()}) >= 4, keys  # variants differ across a class
    assert keys[ids[0]] == mod.answers(variants.variant(ch, ids[0]))[item]  # the same id, the same variant
    me, other = ids[0], next(s for s in ids[1:] if keys[s] != keys[ids[0]])
    with variants.grading(me):
        check(keys[me])
        assert capsys.readouterr().out.startswith("\u2713")
        with pytest.raises(AssertionError) as err:
            check(keys[other])
    text = str(err.value)
    assert "hint:" in text and max(len(line) for line in text.splitlines()) <= 110
    with variants.grading(None):  # self-study: the exercise text's numbers
        check(mod.answers(variants.variant(ch))[item])


def test_every_item_has_a_hint_and_every_conceptual_check_takes_an_answer():
    import inspect

    for ch in CHAPTERS:
        mod = __import__(f"collapse_lab.checks.{ch}", fromlist=["hint"])
        for name, check in keyless.checks_of(ch).items():
            assert name in mod.hint.general, (ch, name)
            first = next(iter(inspect.signature(check).parameters))
            assert first == ("answer" if check.kind == "concept" else first), (ch, name, first)
            assert first != "fn" or check.kind == "code", (ch, name)


def test_the_instructors_variant_command_prints_the_answers(capsys):
    from collapse_lab import cli

    for ch in ("01", "02", "03", "04", "05"):
        assert cli.main(["variant", "--student", "Zoë Ñ", "--chapter", ch]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"chapter {ch} variant for student 'Zoë Ñ'") and out.count("\n  ") >= 1, out


def test_a_letter_answer_is_read_by_the_one_parser():
    """Strings, lists and tuples of letters, in any case, with spaces or commas, are one answer; anything else fails
    with the form expected."""
    from collapse_lab.checks import ch1, ch4

    with variants.grading(None):
        for form in ("A", ["A"], "a", " a ", "A+"):
            assert ch1._sources(form) == {"A"}
        assert ch1._sources("S, A") == ch1._sources(["A", "S"]) == {"S", "A"}
        for bad in ("SX", 3, ""):
            with pytest.raises(AssertionError):
                ch1._sources(bad)
        want = ch4.answers(variants.variant("04"))["which_decoder"]
        for form in (want, list(want), "".join(want), tuple(x.lower() for x in want)):
            ch4.which_decoder(form)
        for bad in (("X",), ("b", "X"), "Xe", 7):
            with pytest.raises(AssertionError):
                ch4.which_decoder(bad)
