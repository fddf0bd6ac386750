"""Profiles: how big every experiment is.

Three profiles, selected by an argument or by the ``COLLAPSE_LAB_PROFILE`` environment variable:

- ``quick``: continuous integration and a first look; each notebook well under a minute on 2 CPU cores.
- ``standard``: the default for people; the whole course in under 20 minutes on 2 cores, closer to the paper.
- ``paper``: the paper's scale; a GPU (and for the language model, a network) expected.

Each chapter keeps its own size table next to its code (``SIZES`` in ``gaussian``, ``gmm``, ...) and reads it
through :func:`pick`, so the sizes of a concept live with the concept.
"""
from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Mapping

PROFILES = ("quick", "standard", "paper")
DEFAULT = "standard"
ENV = "COLLAPSE_LAB_PROFILE"


def active_profile(profile: str | None = None) -> str:
    """Name of the active profile: ``profile`` if given, else ``$COLLAPSE_LAB_PROFILE``, else ``standard``."""
    if profile is None:
        profile = os.environ.get(ENV, "").strip() or DEFAULT
        source = f"${ENV}"
    else:
        source = "profile"
    if not isinstance(profile, str):
        raise TypeError(f"profile must be a str, one of {PROFILES}; got {type(profile).__name__}")
    if profile not in PROFILES:
        raise ValueError(f"{source} must be one of {PROFILES}; got {profile!r}")
    return profile


def pick(table: Mapping[str, Mapping], profile: str | None = None) -> SimpleNamespace:
    """The row of a chapter's size table for the active profile, as attributes.

    Parameters
    ----------
    table : mapping profile name -> mapping of sizes, e.g. ``{"quick": {"M": 100}, "standard": {...}, ...}``;
        it must have a row for each of ``quick``, ``standard`` and ``paper``.
    profile : optional profile name; default the active profile.

    Returns
    -------
    SimpleNamespace with the sizes, plus ``profile`` (the name picked).
    """
    if not isinstance(table, Mapping):
        raise TypeError(f"table must be a mapping profile -> sizes; got {type(table).__name__}")
    missing = [p for p in PROFILES if p not in table]
    if missing:
        raise ValueError(f"table must have a row for every profile {PROFILES}; missing {missing}")
    name = active_profile(profile)
    return SimpleNamespace(profile=name, **dict(table[name]))


def require(min_version: str, profile: str | None = None) -> str:
    """First call of every notebook: print the package version and the active profile; fail when out of step.

    Parameters
    ----------
    min_version : the oldest collapse-lab version the notebook works with, e.g. ``"0.1.0"``.
    profile : optional profile to force; default the active profile.

    Returns
    -------
    The active profile's name.

    Raises
    ------
    RuntimeError when the installed package is older than ``min_version``, with the command that fixes it.
    """
    from packaging.version import InvalidVersion, Version

    from . import __version__

    if not isinstance(min_version, str):
        raise TypeError(f"min_version must be a version string like '0.1.0'; got {type(min_version).__name__}")
    try:
        needed = Version(min_version)
    except InvalidVersion:
        raise ValueError(f"min_version must be a version string like '0.1.0'; got {min_version!r}") from None
    name = active_profile(profile)
    print(f"collapse-lab {__version__} · profile {name!r} (set COLLAPSE_LAB_PROFILE to quick, standard or paper)")
    if Version(__version__) < needed:
        raise RuntimeError(
            f"This notebook needs collapse-lab >= {min_version}, but {__version__} is installed "
            f"(the helper package is older than the notebook). From the course folder run `make install` "
            f"(or `pip install -e .`) and restart the kernel."
        )
    return name
