import pytest

import collapse_lab as cl
from collapse_lab import profiles

TABLE = {"quick": {"M": 10}, "standard": {"M": 100}, "paper": {"M": 1000}}


def test_active_profile_env_and_argument(monkeypatch):
    monkeypatch.setenv("COLLAPSE_LAB_PROFILE", "paper")
    assert profiles.active_profile() == "paper"
    assert profiles.active_profile("quick") == "quick"
    monkeypatch.delenv("COLLAPSE_LAB_PROFILE")
    assert profiles.active_profile() == "standard"


def test_pick_reads_the_active_row(monkeypatch):
    monkeypatch.setenv("COLLAPSE_LAB_PROFILE", "quick")
    s = profiles.pick(TABLE)
    assert (s.M, s.profile) == (10, "quick")
    assert profiles.pick(TABLE, "paper").M == 1000


def test_bad_profiles_are_rejected(monkeypatch):
    with pytest.raises(ValueError, match="one of"):
        profiles.active_profile("fast")
    monkeypatch.setenv("COLLAPSE_LAB_PROFILE", "huge")
    with pytest.raises(ValueError, match="COLLAPSE_LAB_PROFILE"):
        profiles.active_profile()
    with pytest.raises(TypeError):
        profiles.active_profile(3)
    with pytest.raises(ValueError, match="missing"):
        profiles.pick({"quick": {}})
    with pytest.raises(TypeError):
        profiles.pick([1, 2])


def test_require_prints_version_and_fails_when_package_is_older(capsys):
    assert cl.require("0.0.1", profile="quick") == "quick"
    out = capsys.readouterr().out
    assert cl.__version__ in out and "quick" in out
    with pytest.raises(RuntimeError, match="older than the notebook"):
        cl.require("99.0")
    with pytest.raises(ValueError, match="version string"):
        cl.require("not a version")
    with pytest.raises(TypeError):
        cl.require(1.0)
