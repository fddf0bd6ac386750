"""A workshop room on one machine: JupyterHub, its proxy, a course copy per user, shared read-only data.

    collapse-lab precache --shared DIR [--profile quick]     data sets + the language model's base, once, read-only
    collapse-lab hub --port 8000 --users 30 [--root DIR]     start the hub (deploy/jupyterhub/jupyterhub_config.py)

:func:`start` checks what a hub needs before it starts (the port free, the proxy installed, the course there) and
says what is missing in one line; the configuration itself is ``deploy/jupyterhub/jupyterhub_config.py``, which
reads the ``COLLAPSE_LAB_HUB_*`` variables :func:`environment` sets. :func:`sync` is the spawner's pre-spawn hook:
each user's own copy of ``notebooks/`` and ``exercises/``, refreshed with nbgitpuller's merge rule.
This module imports no torch: the hub process imports it.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent  # the course root when installed in editable mode (a clone)
DEPLOY = ROOT / "deploy" / "jupyterhub"
COURSE_DIRS = ("notebooks", "exercises")
#: in each home: the hash of every course file as last copied there, so a file the user changed is recognised
MANIFEST = ".collapse-lab-sync.json"
DATA_SETS = ("wikitext-2", "mnist")
ADMIN = "instructor"


class HubError(RuntimeError):
    """The hub cannot start; the message says why and what to do, in one line."""


# ---------------------------------------------------------------------------------------------------------------
# each user's copy of the course


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sync(course, home, dirs=COURSE_DIRS) -> dict:
    """Copy the course's ``dirs`` into ``home`` without overwriting the user's work (nbgitpuller's merge rule).

    A course file missing from ``home`` is copied (new, or deleted by the user: restored); a file the user has not
    changed since the last sync is updated to the course's version; a file the user changed, or made before the
    first sync under the same name, is kept as it is. What was copied is remembered in ``home``/``MANIFEST``.
    Returns ``{"copied": [...], "updated": [...], "kept": [...]}`` of paths relative to ``home``.
    """
    course, home = Path(course), Path(home)
    if isinstance(dirs, str) or not dirs:
        raise ValueError(f"dirs must be a non-empty list of folder names; got {dirs!r}")
    if not all((course / d).is_dir() for d in dirs):
        raise ValueError(f"course {course} must hold the folders {', '.join(dirs)}")
    home.mkdir(parents=True, exist_ok=True)
    try:
        seen = json.loads((home / MANIFEST).read_text())
        if not isinstance(seen, dict):
            seen = {}
    except (OSError, ValueError):
        seen = {}  # first sync, or a manifest the user broke: every existing file counts as the user's
    done: dict[str, list[str]] = {"copied": [], "updated": [], "kept": []}
    for d in dirs:
        for src in sorted((course / d).rglob("*")):
            if not src.is_file() or ".ipynb_checkpoints" in src.parts or "__pycache__" in src.parts:
                continue
            rel = src.relative_to(course).as_posix()
            dst, new = home / rel, _digest(src)
            if not dst.exists():
                what = "copied"
            elif _digest(dst) == seen.get(rel):
                if new == seen[rel]:
                    continue  # unchanged on both sides
                what = "updated"
            else:
                done["kept"].append(rel)
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            seen[rel] = new
            done[what].append(rel)
    (home / MANIFEST).write_text(json.dumps(seen, indent=1, sort_keys=True))
    return done


# ---------------------------------------------------------------------------------------------------------------
# installed once, read-only for all


def precache(shared, profile: str = "quick", data_root=None, log=print) -> dict:
    """Fill ``shared``/data with the course's data sets and ``shared``/cache with the language model's base of
    ``profile``, then make both read-only. Returns the environment a user server needs to find them
    (``COLLAPSE_LAB_DATA``, ``COLLAPSE_LAB_CACHE``).

    ``data_root``: a folder holding the data set folders (default: where :func:`collapse_lab.data.search_dirs`
    finds them). Training the quick base takes a minute or two on 2 cores, once.
    """
    from . import data
    from .profiles import PROFILES

    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}; got {profile!r}")
    shared = Path(shared)
    if shared.exists() and not shared.is_dir():
        raise ValueError(f"--shared {shared} is a file; give a folder (it is created if missing)")
    dest_data, dest_cache = shared / "data", shared / "cache"
    for d in (dest_data, dest_cache):
        d.mkdir(parents=True, exist_ok=True)
        _writable(d, True)
    for name in DATA_SETS:
        found = [Path(data_root) / name] if data_root else data.search_dirs(name)
        src = next((d for d in found if d.is_dir() and d.resolve() != (dest_data / name).resolve()), None)
        if src is None:
            log(f"data set {name}: not found in {', '.join(map(str, found))}; chapters needing it fall back or say so")
            continue
        shutil.copytree(src, dest_data / name, dirs_exist_ok=True)
        log(f"data set {name}: {src} -> {dest_data / name}")
    env = {"COLLAPSE_LAB_DATA": str(dest_data.resolve()), "COLLAPSE_LAB_CACHE": str(dest_cache.resolve())}
    from . import lm

    here = Path(lm.base_source(profile))  # this user's own cache ($COLLAPSE_LAB_CACHE or ~/.cache/collapse-lab)
    if (here / "config.json").is_file() and here.parent.resolve() != dest_cache.resolve():
        # the same key names the same base (config, sizes, trainer code, library versions): copy, do not retrain
        shutil.copytree(here, dest_cache / here.name, dirs_exist_ok=True)
    with mock.patch.dict(os.environ, env):  # ensure_base reads the cache and data folders from the environment
        log(f"language model base ({profile}): {lm.ensure_base(profile)}")
    for d in (dest_data, dest_cache):
        _writable(d, False)
    log(f"{shared} is read-only for everyone now (writable again: chmod -R u+w {shared})")
    return env


def _writable(folder: Path, on: bool) -> None:
    """Add (``on``) or remove the write permission of every file and folder under ``folder``."""
    w = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for p in [folder, *folder.rglob("*")]:
        mode = p.stat().st_mode
        os.chmod(p, (mode | stat.S_IWUSR) if on else (mode & ~w))


def base_cached(cache, profile: str = "quick") -> bool:
    """True when ``cache`` holds the language model's base of ``profile`` (what :func:`precache` puts there)."""
    old = os.environ.get("COLLAPSE_LAB_CACHE")
    os.environ["COLLAPSE_LAB_CACHE"] = str(cache)
    try:
        from . import lm

        return (Path(lm.base_source(profile)) / "config.json").is_file()
    finally:
        if old is None:
            os.environ.pop("COLLAPSE_LAB_CACHE")
        else:
            os.environ["COLLAPSE_LAB_CACHE"] = old


# ---------------------------------------------------------------------------------------------------------------
# starting the hub


def user_names(users) -> list[str]:
    """``users``: a count n (student01 .. student<n>) or a list of names (lower-case letters, digits, ``-_.``)."""
    import re

    if isinstance(users, bool):
        raise TypeError("users must be a count or a list of names; got a bool")
    if isinstance(users, int):
        if not 1 <= users <= 999:
            raise ValueError(f"--users must be between 1 and 999; got {users}")
        return [f"student{i:0{max(2, len(str(users)))}d}" for i in range(1, users + 1)]
    names = list(users)
    bad = [n for n in names if not (isinstance(n, str) and re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", n))]
    if bad or not names:
        raise ValueError(f"user names must be lower-case letters, digits and . _ - (up to 64); got {bad or names!r}")
    return names


def find_proxy() -> str:
    """The configurable-http-proxy executable: ``$COLLAPSE_LAB_HUB_PROXY``, deploy/jupyterhub/node_modules, PATH."""
    for p in (os.environ.get("COLLAPSE_LAB_HUB_PROXY"), DEPLOY / "node_modules" / ".bin" / "configurable-http-proxy",
              shutil.which("configurable-http-proxy")):
        if p and Path(p).is_file() and os.access(p, os.X_OK):
            return str(p)
    raise HubError("configurable-http-proxy (the hub's proxy, from npm) is missing: run "
                   f"`npm ci --prefix {DEPLOY}` (needs node and npm)")


def port_free(ip: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def free_port(ip: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def environment(root, port: int, users, password: str, *, ip: str = "127.0.0.1", course=None, shared=None,
                profile: str = "quick", cull: int = 3600, admin_password=None) -> dict:
    """The ``COLLAPSE_LAB_HUB_*`` variables deploy/jupyterhub/jupyterhub_config.py reads, checked first.

    ``root``: the hub's own folder (database, cookie secret, logs, ``home/<user>``); ``shared``: the read-only
    folder of :func:`precache` (default ``root``/shared); ``cull``: seconds of inactivity after which a user's
    server is stopped. Raises :class:`HubError` naming what is wrong.
    """
    from .profiles import PROFILES

    root = Path(root).resolve()
    course = Path(course or ROOT).resolve()
    shared = Path(shared).resolve() if shared else root / "shared"
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise HubError(f"--port must be a number from 1 to 65535; got {port!r}")
    if not port_free(ip, port):
        raise HubError(f"port {port} on {ip} is taken (another hub or server?): stop it or pass another --port")
    if not all((course / d).is_dir() for d in COURSE_DIRS):
        raise HubError(f"{course} is not the course folder (it needs {' and '.join(COURSE_DIRS)}/): pass --course")
    if not isinstance(password, str) or len(password) < 8:
        raise HubError("the shared password must be 8 characters or more (JupyterHub's SharedPasswordAuthenticator)")
    if admin_password is not None and len(admin_password) < 32:
        raise HubError("the instructor's password must be 32 characters or more")
    if profile not in PROFILES:
        raise HubError(f"--profile must be one of {', '.join(PROFILES)}; got {profile!r}")
    if not isinstance(cull, int) or cull < 60:
        raise HubError(f"--cull must be 60 seconds or more; got {cull!r}")
    names = user_names(users)  # bad names or counts are reported before what the machine lacks
    proxy = find_proxy()
    try:
        import jupyterhub  # noqa: F401
        import jupyterhub_idle_culler  # noqa: F401
    except ImportError as e:
        raise HubError(f"{e.name} is not installed: pip install 'collapse-lab[hub]'") from None
    root.mkdir(parents=True, exist_ok=True)
    return {
        "COLLAPSE_LAB_HUB_ROOT": str(root), "COLLAPSE_LAB_HUB_IP": ip, "COLLAPSE_LAB_HUB_PORT": str(port),
        "COLLAPSE_LAB_HUB_INTERNAL_PORT": str(free_port()), "COLLAPSE_LAB_HUB_PROXY_API_PORT": str(free_port()),
        "COLLAPSE_LAB_HUB_PROXY": proxy, "COLLAPSE_LAB_HUB_USERS": ",".join(names),
        "COLLAPSE_LAB_HUB_PASSWORD": password, "COLLAPSE_LAB_HUB_ADMIN_PASSWORD": admin_password or "",
        "COLLAPSE_LAB_HUB_COURSE": str(course), "COLLAPSE_LAB_HUB_SHARED": str(shared),
        "COLLAPSE_LAB_HUB_PROFILE": profile, "COLLAPSE_LAB_HUB_CULL": str(cull),
    }


def password_for(root, admin: bool = False) -> str:
    """The workshop's shared password (``admin``: the instructor's): ``$COLLAPSE_LAB_HUB_PASSWORD``
    (``$COLLAPSE_LAB_HUB_ADMIN_PASSWORD``), else the one in ``root``/password (``root``/instructor-password),
    made once at random and readable by its owner only, so a restarted hub keeps it."""
    var, name, n = (("COLLAPSE_LAB_HUB_ADMIN_PASSWORD", "instructor-password", 32) if admin
                    else ("COLLAPSE_LAB_HUB_PASSWORD", "password", 9))
    if os.environ.get(var):
        return os.environ[var]
    f = Path(root) / name
    if not f.is_file():
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(secrets.token_urlsafe(n) + "\n")
        f.chmod(0o600)
    return f.read_text().strip()


def command() -> list[str]:
    config = DEPLOY / "jupyterhub_config.py"
    if not config.is_file():
        raise HubError(f"{config} is missing: run the hub from a clone of the course")
    return [sys.executable, "-m", "jupyterhub", "-f", str(config)]


def start(env: dict, log=print) -> int:
    """Run JupyterHub with ``env`` (from :func:`environment`) until it stops; its log goes to the terminal and to
    ``root``/jupyterhub.log. When it fails, the last error line is repeated at the end, in one line."""
    root = Path(env["COLLAPSE_LAB_HUB_ROOT"])
    shared = Path(env["COLLAPSE_LAB_HUB_SHARED"])
    if not base_cached(shared / "cache", env["COLLAPSE_LAB_HUB_PROFILE"]):
        log(f"note: no language model base in {shared / 'cache'}: Chapter 4 would train one per user; run "
            f"`collapse-lab precache --shared {shared}` once first")
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    full = {**os.environ, **env, "PYTHONPATH": pythonpath}
    log(f"hub: http://{env['COLLAPSE_LAB_HUB_IP']}:{env['COLLAPSE_LAB_HUB_PORT']}  users: "
        f"{_span(env['COLLAPSE_LAB_HUB_USERS'])}  shared password: in {root / 'password'} (instructor: {root / 'instructor-password'})")
    last_error = ""
    with open(root / "jupyterhub.log", "a") as logfile:
        proc = subprocess.Popen(command(), env=full, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        # `kill` of this command (a load test, systemd) reaches JupyterHub, which then stops the servers and proxy
        previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        try:
            for line in proc.stdout:
                sys.stdout.write(line)
                logfile.write(line)
                if " E " in line[:30] or line.startswith(("[E ", "[C ")) or "Error" in line.split(":")[0]:
                    last_error = line.strip()
            proc.wait()
        except KeyboardInterrupt:
            proc.terminate()  # JupyterHub stops the user servers and the proxy on SIGTERM
            proc.wait(timeout=60)
        finally:
            signal.signal(signal.SIGTERM, previous)
    if proc.returncode not in (0, -15, 143):
        log(f"collapse-lab hub: JupyterHub exited with status {proc.returncode}: {last_error or 'see the log above'}")
        return 1
    return 0


def _span(users: str) -> str:
    names = users.split(",")
    return names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]} ({len(names)})"
