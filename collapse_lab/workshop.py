"""Collecting a class's work from the users' homes on a hub, and returning feedback to them.

    collapse-lab collect --hub-root DIR --chapter 01 --out submissions/   -> submissions/<user>/<notebook>
    collapse-lab check submissions/ --feedback feedback/                  (grading, collapse_lab.grading)
    collapse-lab return --feedback feedback/ --hub-root DIR                -> <home>/feedback/<file>

Homes are ``<hub-root>/home/<user>`` (``collapse-lab hub``) or any folder of one folder per user (``--homes``,
e.g. ``/home`` with ``--prefix jupyter-`` on The Littlest JupyterHub). Every user gets a row: one without the
chapter's notebook, or with one that is not a readable notebook, is reported and the rest are collected. Only
files are copied here; grading reads what was collected through ``collapse-lab check``.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from .hub import ROOT

FEEDBACK = "feedback"  # the folder in each home that receives returned feedback


def homes(hub_root=None, homes_dir=None, prefix: str = "") -> dict[str, Path]:
    """``{user: home folder}``: the folders of ``homes_dir`` (or ``hub_root``/home) whose names start with
    ``prefix`` (dropped from the user name); hidden folders are skipped."""
    if (hub_root is None) == (homes_dir is None):
        raise ValueError("give exactly one of --hub-root (the folder `collapse-lab hub` used) and --homes")
    base = Path(homes_dir) if homes_dir is not None else Path(hub_root) / "home"
    if not base.is_dir():
        raise ValueError(f"{base} is not a folder of user homes" +
                         ("" if homes_dir is not None else " (is --hub-root the folder the hub ran in?)"))
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string; got {type(prefix).__name__}")
    out = {}
    for d in sorted(base.iterdir()):
        if d.is_dir() and not d.name.startswith(".") and d.name.startswith(prefix) and len(d.name) > len(prefix):
            out[d.name[len(prefix):]] = d
    return out


def exercise_name(chapter: str, course=None) -> str:
    """The file name of ``chapter``'s exercise notebook in the course, e.g. "01" -> 01_sampling_loses_the_tails.ipynb."""
    if not isinstance(chapter, str) or not re.fullmatch(r"\d\d[a-z]?", chapter):
        raise ValueError(f"chapter must be a chapter number like '01' or '05a'; got {chapter!r}")
    folder = Path(course or ROOT) / "exercises"
    found = sorted(p.name for p in folder.glob(f"{chapter}_*.ipynb"))
    if len(found) != 1:
        allowed = sorted({p.name.split("_")[0] for p in folder.glob("*.ipynb")})
        raise ValueError(f"chapter {chapter!r} has {'no' if not found else 'more than one'} exercise notebook in "
                         f"{folder}; chapters with exercises: {', '.join(allowed) or 'none'}")
    return found[0]


def _readable(path: Path) -> str:
    """'' when ``path`` is a notebook nbformat reads and validates, else why not."""
    import nbformat

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        nbformat.validate(nbformat.reads(json.dumps(raw), as_version=4))
    except json.JSONDecodeError as e:  # before OSError/ValueError: it is a ValueError
        return f"not a notebook: broken JSON at line {e.lineno}, column {e.colno}"
    except (OSError, UnicodeDecodeError) as e:
        return f"cannot be read ({type(e).__name__}: {e})"
    except Exception as e:  # nbformat's validation and reader errors share no base class
        return f"not a valid notebook ({type(e).__name__}: {str(e).splitlines()[0][:100]})"
    return ""


def collect(chapter: str, out, *, hub_root=None, homes_dir=None, prefix: str = "", course=None) -> list[dict]:
    """Copy each user's ``exercises/<chapter's notebook>`` into ``out``/<user>/, for ``collapse-lab check``.

    Returns a row per user: ``{"user", "status", "detail"}`` with status ``collected``, ``missing`` or ``broken``.
    A copy collected earlier is replaced (the latest work counts); a missing or broken one removes nothing.
    """
    name = exercise_name(chapter, course)
    users = homes(hub_root, homes_dir, prefix)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder (it is created if missing)")
    if not users:
        raise ValueError("no user homes found: nothing to collect")
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for user, home in users.items():
        src = home / "exercises" / name
        if not src.is_file():
            rows.append({"user": user, "status": "missing", "detail": f"no exercises/{name} in {home}"})
            continue
        why = _readable(src)
        if why:
            rows.append({"user": user, "status": "broken", "detail": f"exercises/{name}: {why}"})
            continue
        (out / user).mkdir(exist_ok=True)
        shutil.copyfile(src, out / user / name)
        rows.append({"user": user, "status": "collected", "detail": str(out / user / name)})
    return rows


def give_back(feedback, *, hub_root=None, homes_dir=None, prefix: str = "") -> list[dict]:
    """Copy each feedback file of ``feedback`` into its user's home, in ``<home>/feedback/``.

    A file belongs to the user whose name is its stem, or the start of its stem followed by ``-``, ``_`` or ``.``
    (the longest such name wins), or to the user whose name is its folder (``feedback/<user>/<file>``). Returns a
    row per file and per user who got nothing: status ``returned``, ``no such user`` or ``no feedback``.
    """
    feedback = Path(feedback)
    if not feedback.is_dir():
        raise ValueError(f"--feedback {feedback} is not a folder (the one `collapse-lab check --feedback` wrote)")
    users = homes(hub_root, homes_dir, prefix)
    rows, got = [], set()
    for f in sorted(p for p in feedback.rglob("*") if p.is_file() and not p.name.startswith(".")):
        rel = f.relative_to(feedback)
        owner = rel.parts[0] if len(rel.parts) > 1 and rel.parts[0] in users else _owner(f.stem, users)
        if owner is None:
            rows.append({"user": "", "status": "no such user", "detail": f"{rel}: no home matches its name"})
            continue
        dest = users[owner] / FEEDBACK / f.name
        dest.parent.mkdir(exist_ok=True)
        shutil.copyfile(f, dest)
        got.add(owner)
        rows.append({"user": owner, "status": "returned", "detail": str(dest)})
    rows += [{"user": u, "status": "no feedback", "detail": f"no file for {u} in {feedback}"}
             for u in users if u not in got]
    return rows


def _owner(stem: str, users) -> str | None:
    match = [u for u in users if stem == u or (stem.startswith(u) and stem[len(u)] in "-_.")]
    return max(match, key=len) if match else None


def table(rows: list[dict]) -> str:
    """The rows as an aligned text table for the terminal."""
    w = max([4] + [len(r["user"]) for r in rows])
    s = max([6] + [len(r["status"]) for r in rows])
    return "\n".join([f"{'user'.ljust(w)}  {'status'.ljust(s)}  detail"]
                     + [f"{r['user'].ljust(w)}  {r['status'].ljust(s)}  {r['detail']}" for r in rows])
