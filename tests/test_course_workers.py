"""The course build prints the same numbers whatever the number of workers (its own file: it runs a chapter
twice, so pytest-xdist can give it a worker of its own)."""
import re
from types import SimpleNamespace

import nbformat
import pytest

from collapse_lab import course


_TIMING = re.compile(r"\d\s*(s|ms|sec|seconds|min|minutes)\b|/tmp/|PosixPath|\bat 0x[0-9a-f]+")


def _printed_numbers(nb) -> list:
    """Every number a notebook printed or displayed as text, per cell, lines that report time or paths left out."""
    cells = []
    for c in nb.cells:
        text = "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in c.get("outputs", []))
        cells.append([re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", ln) for ln in text.splitlines()
                      if not _TIMING.search(ln)])
    return cells


@pytest.mark.slow
def test_a_chapter_prints_the_same_numbers_with_one_and_two_workers(root, tmp_path, monkeypatch):
    # Chapter 2 splits its batched EM chains over the workers: the split must not change a printed number
    got = {}
    for n in (1, 2):
        monkeypatch.setenv("COLLAPSE_LAB_WORKERS", str(n))
        (row,) = course.build(root / "notebooks", tmp_path / f"w{n}", profile="quick", only=["02_"])
        assert row["status"] == "passed", row["error"]
        got[n] = _printed_numbers(nbformat.read(tmp_path / f"w{n}" / row["notebook"], as_version=4))
    assert sum(len(x) for cell in got[1] for x in cell) > 100  # the chapter prints its numbers
    assert got[1] == got[2]



def _chain_vars(seed: int):
    from collapse_lab import gaussian

    return gaussian.fast_chains(5, 20, 50, seed=seed).var


def test_work_in_worker_processes_gives_what_one_process_gives(monkeypatch, loky_workers):
    import numpy as np

    from collapse_lab import runtime

    got = {}
    for n in ("1", "2"):
        monkeypatch.setenv("COLLAPSE_LAB_WORKERS", n)
        got[n] = runtime.in_processes(_chain_vars, [0, 1, 2])
    assert len(got["2"]) == 3 and all(np.array_equal(a, b) for a, b in zip(got["1"], got["2"]))
    assert not np.array_equal(got["2"][0], got["2"][1])  # in input order, one result per seed
    assert not loky_workers(), "the worker processes are shut down after the work (they hold its memory)"
    with pytest.raises(course.validate.ArgumentError, match="fn must be a function"):
        runtime.in_processes(3, [1])


def _rows(h) -> list:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in h.rows]


@pytest.mark.slow
def test_language_model_chains_and_branches_side_by_side_give_what_one_after_the_other_gives(monkeypatch,
                                                                                             loky_workers):
    # Chapter 4 runs settings (b) and (a) side by side and starts the branches of (a) as soon as (a) ends, while (b)
    # still runs: to the last bit what the calls give one after the other
    import numpy as np

    from collapse_lab import lm

    monkeypatch.setenv("COLLAPSE_LAB_WORKERS", "2")
    base, tok, c = lm.setup("quick")
    # the quick base on a tenth of the quick profile's blocks (setting (b) keeps one real block): what crosses to
    # the workers (the base, the blocks, the seeds) and the fixed torch threads decide whether the numbers match,
    # not how many blocks there are
    parts = (base, tok, SimpleNamespace(train=c.train[:10], test=c.test[:8]))
    specs = [dict(setting="b", generations=1, profile="quick"),
             dict(setting="a", generations=1, profile="quick", keep=(0,))]
    bspecs = [dict(repetition_penalty=1.0), dict(decoding="sample", repetition_penalty=1.0)]
    h_b, h_a, side_b = lm.chains(specs, parts=parts, branches={1: bspecs})
    serial = [lm.chain(**s, parts=parts) for s in specs]
    assert [_rows(h_b), _rows(h_a)] == [_rows(h) for h in serial]
    assert _rows(h_a) != _rows(h_b)
    for p, q in zip(h_a.models[0].parameters(), serial[1].models[0].parameters()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy())
    alone = [lm.branch(serial[1], **s, parts=parts) for s in bspecs]
    assert len(side_b) == 2 and [_rows(h) for h in side_b] == [_rows(h) for h in alone]
    assert _rows(side_b[0]) != _rows(side_b[1])
    # with COLLAPSE_LAB_WORKERS=1 lm.chains runs the same jobs in place, one after the other (in_processes_after's
    # own test in test_runtime_processes.py covers that path)
    with pytest.raises(ValueError, match="keep its generation-0 model"):
        lm.chains(specs, parts=parts, branches={0: bspecs})
    with pytest.raises(ValueError, match="indices of specs"):
        lm.chains(specs, parts=parts, branches={2: bspecs})
    with pytest.raises(ValueError, match="allowed"):
        lm.chains(specs, parts=parts, branches={1: [dict(setting="a")]})
    with pytest.raises(TypeError, match="dict"):
        lm.chains(specs, parts=parts, branches=[bspecs])
    with pytest.raises(ValueError, match="allowed"):
        lm.chains([dict(setting="a", parts=parts)], parts=parts)
    with pytest.raises(TypeError, match="list of dicts"):
        lm.chains("a", parts=parts)
    monkeypatch.setenv("COLLAPSE_LAB_WORKERS", "2")  # a chain failing in a worker: its error, no branch, no worker left
    with pytest.raises(ValueError, match="setting must be"):
        lm.chains([specs[1], dict(setting="c")], parts=parts, branches={0: bspecs})
    assert not loky_workers()


def test_the_fraction_sweep_and_the_policy_table_give_the_same_numbers_in_processes(monkeypatch):
    # Chapter 5a: the sweep's fractions and the table's rows run in worker processes, the longest row first
    import numpy as np

    from collapse_lab import mitigation as mi

    got = {}
    for n in ("1", "2"):
        monkeypatch.setenv("COLLAPSE_LAB_WORKERS", n)
        sweep = mi.fraction_sweep("gaussian", [0.0, 0.1, 0.5], seeds=3, generations=5, profile="quick", last=2)
        table = mi.policy_table(["gaussian", "gmm"], seeds=1, generations=2, profile="quick")
        got[n] = (sweep, [{k: v for k, v in r.items() if k != "seconds"} for r in table])
    (s1, t1), (s2, t2) = got["1"], got["2"]
    for key in ("fractions", "distance", "se"):
        assert np.array_equal(s1[key], s2[key], equal_nan=True)
    assert s1["start"] == s2["start"] and s1["generations"] == s2["generations"] == 5
    assert s1["distance"][0] > s1["distance"][-1]  # real data in the loop keeps the chain nearer the original
    assert [r["family"] for r in t2] == ["gaussian", "gmm"] and t1 == t2  # the families' order, not the run's


def test_one_experiment_under_several_policies_side_by_side_gives_the_same_histories(monkeypatch):
    from collapse_lab import mitigation as mi

    monkeypatch.setenv("COLLAPSE_LAB_WORKERS", "2")
    kw = dict(generations=3, d=5, T=20, s=1.0, reps=20, seed=0)
    side = mi.by_policy(mi.linreg_experiment, ["replace", "accumulate", "mix"], **kw)
    assert list(side) == ["replace", "accumulate", "mix"]
    for p, h in side.items():
        alone = mi.linreg_experiment(p, **kw)
        assert [{k: v for k, v in r.items() if k != "seconds"} for r in h.rows] == \
               [{k: v for k, v in r.items() if k != "seconds"} for r in alone.rows]
    assert side["replace"]["error_mean"][-1] > side["accumulate"]["error_mean"][-1]
    with pytest.raises(course.validate.ArgumentError, match="policies"):
        mi.by_policy(mi.linreg_experiment, "replace", **kw)
    with pytest.raises(course.validate.ArgumentError, match="fn must be"):
        mi.by_policy(print, ["replace"])
