"""The capstone's claim: the hidden configuration of a case is identifiable from its outputs.

For every configuration of the grid (15) and several hidden seeds drawn as students' seeds are (a 64-bit hash of a
case key and an id), the reference inference (``tests/forensics_reference.py``, the method of the solution notebook, kept out of the package) recovers
the configuration exactly, so the stated tolerances (half the grid spacing) accept it and reject every neighbour.
4 seeds per configuration (60 cases), and 12 more in the slow run.
"""
import numpy as np
import pytest

from collapse_lab import forensics as fo
from collapse_lab.checks import ch6, variants

import forensics_reference as ref


@pytest.fixture(scope="module")
def table():
    return ref.candidates()


def _recovered(table, ids):
    misses, margins = [], []
    for i, cfg in enumerate(fo.configs()):
        for sid in ids:
            c = fo.simulate(cfg, fo.hidden_seed(f"{sid}-{i}"))
            got = ref.infer(c, table)
            if got != cfg:
                misses.append((cfg, got, sid))
    return misses


def test_every_configuration_is_recovered_quick(table):
    misses = _recovered(table, [f"claim{k}" for k in range(4)])
    assert not misses, misses


@pytest.mark.slow
def test_every_configuration_is_recovered_standard(table):
    misses = _recovered(table, [f"more{k}" for k in range(12)])
    assert not misses, misses


def test_the_tolerances_accept_the_truth_and_reject_every_neighbour(monkeypatch):
    """Half the grid spacing: the true value passes, the neighbouring grid values fail (strictly)."""
    for cfg in fo.configs():
        monkeypatch.setattr(ch6, "_truth", lambda cfg=cfg: cfg)
        ch6.which_policy(cfg.policy)
        ch6.real_fraction("none" if cfg.fraction is None else cfg.fraction)
        ch6.verifier_bias(cfg.bias)
        for p in fo.POLICIES:
            if p != cfg.policy:
                with pytest.raises(AssertionError):
                    ch6.which_policy(p)
        wrong_f = ["none"] if cfg.fraction is not None else [0.1]
        if cfg.fraction is not None:
            wrong_f += [f for f in fo.FRACTIONS if f != cfg.fraction] + [round(cfg.fraction + 0.1, 10)]
        for f in wrong_f:
            with pytest.raises(AssertionError):
                ch6.real_fraction(f)
        for b in [x for x in fo.BIASES if x != cfg.bias] + [cfg.bias + fo.TOL_BIAS]:
            with pytest.raises(AssertionError):
                ch6.verifier_bias(b)


def test_the_features_separate_the_configurations_beyond_their_noise(table):
    """Every two configurations' mean features differ by several times the run-to-run spread (the margin that makes
    the inference robust, not one lucky draw)."""
    centre = {k: v.mean(axis=0) for k, v in table.items()}
    spread = np.sqrt(np.mean([v.var(axis=0, ddof=1) for v in table.values()], axis=0))
    keys = list(centre)
    closest = min(float(np.sqrt(np.sum(((centre[a] - centre[b]) / spread) ** 2)))
                  for i, a in enumerate(keys) for b in keys[i + 1:])
    assert closest > 4.0, closest


def test_the_self_study_case_is_solved_by_the_reference(table):
    assert ref.infer(fo.simulate(fo.SELF_STUDY, fo.SELF_STUDY_SEED), table) == fo.SELF_STUDY
    with variants.grading(None):
        assert ch6.answers(None)["which_policy"] == fo.SELF_STUDY.policy
