"""The workshop hub's pieces without a hub: course sync, collecting and returning work, start-up faults, config.

The hub itself, with students in browsers, is tests/hub/loadtest.py (``make test-hub``).
"""
import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from collapse_lab import cli, hub, workshop

ROOT = Path(__file__).resolve().parent.parent
CH1 = "01_sampling_loses_the_tails.ipynb"


# ---------------------------------------------------------------------------------------------------------------
# each user's copy of the course: nbgitpuller's merge rule


@pytest.fixture
def course(tmp_path):
    c = tmp_path / "course"
    for d in hub.COURSE_DIRS:
        (c / d).mkdir(parents=True)
    (c / "notebooks" / "01.ipynb").write_text("lecture v1")
    (c / "exercises" / "01.ipynb").write_text("exercise v1")
    return c


def test_sync_copies_then_updates_only_what_the_user_left_alone(course, tmp_path):
    home = tmp_path / "home" / "ann"
    assert hub.sync(course, home) == {"copied": ["notebooks/01.ipynb", "exercises/01.ipynb"], "updated": [],
                                      "kept": []}
    (home / "exercises" / "01.ipynb").write_text("ann's answers")          # her work
    (course / "notebooks" / "01.ipynb").write_text("lecture v2")            # the instructor fixes a lecture
    (course / "exercises" / "01.ipynb").write_text("exercise v2")           # ... and the exercise
    (course / "notebooks" / "02.ipynb").write_text("new chapter")           # ... and adds a chapter
    done = hub.sync(course, home)
    assert done == {"copied": ["notebooks/02.ipynb"], "updated": ["notebooks/01.ipynb"],
                    "kept": ["exercises/01.ipynb"]}
    assert (home / "exercises" / "01.ipynb").read_text() == "ann's answers"
    assert (home / "notebooks" / "01.ipynb").read_text() == "lecture v2"
    # a file she deleted comes back; her changed file stays hers on every later sync
    (home / "notebooks" / "02.ipynb").unlink()
    assert hub.sync(course, home) == {"copied": ["notebooks/02.ipynb"], "updated": [], "kept": ["exercises/01.ipynb"]}


def test_sync_keeps_a_file_made_before_the_first_sync_and_survives_a_broken_manifest(course, tmp_path):
    home = tmp_path / "bob"
    (home / "exercises").mkdir(parents=True)
    (home / "exercises" / "01.ipynb").write_text("bob's own file of that name")
    (home / hub.MANIFEST).write_text("{not json")
    done = hub.sync(course, home)
    assert done["kept"] == ["exercises/01.ipynb"] and done["copied"] == ["notebooks/01.ipynb"]
    assert (home / "exercises" / "01.ipynb").read_text() == "bob's own file of that name"


def test_sync_bad_input(course, tmp_path):
    with pytest.raises(ValueError, match="must hold the folders notebooks, exercises"):
        hub.sync(tmp_path / "nowhere", tmp_path / "h")
    with pytest.raises(ValueError, match="non-empty list of folder names"):
        hub.sync(course, tmp_path / "h", dirs="notebooks")


# ---------------------------------------------------------------------------------------------------------------
# collecting and returning


def _notebook(path: Path, source="x = 1") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), path)
    return path


@pytest.fixture
def homes(tmp_path):
    """A hub root with four users: a good notebook, none, broken JSON, JSON that is not a notebook."""
    root = tmp_path / "hub"
    _notebook(root / "home" / "ann" / "exercises" / CH1, "answer = 'ann'")
    (root / "home" / "bob" / "exercises").mkdir(parents=True)
    (root / "home" / "cat" / "exercises").mkdir(parents=True)
    (root / "home" / "cat" / "exercises" / CH1).write_text('{"cells": [')
    (root / "home" / "dan" / "exercises").mkdir(parents=True)
    (root / "home" / "dan" / "exercises" / CH1).write_text('{"hello": 1}')
    (root / "home" / ".hidden").mkdir()
    return root


def test_collect_reports_every_user_and_collects_the_rest(homes, tmp_path):
    out = tmp_path / "submissions"
    rows = workshop.collect("01", out, hub_root=homes)
    status = {r["user"]: r["status"] for r in rows}
    assert status == {"ann": "collected", "bob": "missing", "cat": "broken", "dan": "broken"}
    detail = {r["user"]: r["detail"] for r in rows}
    assert "broken JSON at line 1" in detail["cat"] and "not a valid notebook" in detail["dan"]
    assert f"no exercises/{CH1}" in detail["bob"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.ipynb")) == [f"ann/{CH1}"]
    assert "answer = 'ann'" in (out / "ann" / CH1).read_text()
    # the command: a row per user, exit 1 because not everyone was collected
    assert cli.main(["collect", "--hub-root", str(homes), "--chapter", "01", "--out", str(out)]) == 1


def test_collect_with_a_homes_folder_and_prefix(tmp_path):
    _notebook(tmp_path / "home" / "jupyter-eve" / "exercises" / CH1)
    (tmp_path / "home" / "someone-else").mkdir()
    rows = workshop.collect("01", tmp_path / "out", homes_dir=tmp_path / "home", prefix="jupyter-")
    assert [(r["user"], r["status"]) for r in rows] == [("eve", "collected")]


@pytest.mark.parametrize("kwargs, match", [
    (dict(chapter="1"), "chapter must be a chapter number like '01'"),
    (dict(chapter="09"), "chapter '09' has no exercise notebook"),
    (dict(hub_root=None), "give exactly one of --hub-root"),
    (dict(hub_root="MISSING"), "is not a folder of user homes"),
    (dict(out="FILE"), "is a file; give a folder"),
])
def test_collect_bad_input(homes, tmp_path, kwargs, match):
    (tmp_path / "FILE").write_text("")
    args = {**dict(chapter="01", out=tmp_path / "out", hub_root=homes), **kwargs}
    for k in ("hub_root", "out"):
        if isinstance(args[k], str):
            args[k] = tmp_path / args[k]
    with pytest.raises(ValueError, match=match):
        workshop.collect(args.pop("chapter"), args.pop("out"), **args)


def test_collect_command_says_what_is_wrong_in_one_line(tmp_path, capsys):
    assert cli.main(["collect", "--hub-root", str(tmp_path), "--chapter", "01", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("collapse-lab collect: error:") and "is not a folder of user homes" in err
    assert len(err.splitlines()) == 1


def test_return_puts_each_file_in_its_home_and_reports_the_rest(homes, tmp_path):
    fb = tmp_path / "feedback"
    fb.mkdir()
    (fb / "ann.md").write_text("well done")
    (fb / "bob-01.md").write_text("see me")           # a name with a suffix
    (fb / "cat").mkdir()
    (fb / "cat" / "notes.txt").write_text("in a folder")  # feedback/<user>/<file>
    (fb / "zed.md").write_text("nobody")
    rows = workshop.give_back(fb, hub_root=homes)
    got = {(r["user"], r["status"]) for r in rows}
    assert got == {("ann", "returned"), ("bob", "returned"), ("cat", "returned"), ("", "no such user"),
                   ("dan", "no feedback")}
    assert (homes / "home" / "ann" / "feedback" / "ann.md").read_text() == "well done"
    assert (homes / "home" / "cat" / "feedback" / "notes.txt").read_text() == "in a folder"
    with pytest.raises(ValueError, match="is not a folder"):
        workshop.give_back(tmp_path / "none", hub_root=homes)


@pytest.mark.slow  # ~30 s alone (two notebooks graded in sandboxed kernels), a minute and more on a busy machine
def test_round_trip_through_check(tmp_path):
    """Collect chapter 1 from a class, grade it with `collapse-lab check`, return the feedback to the homes."""
    root = tmp_path / "hub"
    ex, sol = ROOT / "exercises" / CH1, ROOT / "solutions" / CH1
    for user, src in (("ann", sol), ("bob", ex)):  # ann: every exercise solved; bob: none
        (root / "home" / user / "exercises").mkdir(parents=True)
        (root / "home" / user / "exercises" / CH1).write_bytes(src.read_bytes())
    (root / "home" / "cat" / "exercises").mkdir(parents=True)
    (root / "home" / "cat" / "exercises" / CH1).write_text("{")
    env = dict(os.environ, COLLAPSE_LAB_QUIET="1", PYTHONPATH=os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    run = lambda *a: subprocess.run([sys.executable, "-m", "collapse_lab", *map(str, a)], env=env, cwd=tmp_path,  # noqa: E731
                                    capture_output=True, text=True, timeout=900)
    p = run("collect", "--hub-root", root, "--chapter", "01", "--out", "submissions")
    assert p.returncode == 1 and "cat   broken" in p.stdout and "collected 2 of 3 users" in p.stdout, p.stdout
    p = run("check", "submissions", "--csv", "grades.csv", "--feedback", "feedback")
    assert p.returncode == 1, p.stdout + p.stderr  # bob's checks fail
    with open(tmp_path / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    by = {}
    for r in rows:
        if r["passed"] != "":  # a written answer awaits its rubric score: not an automatic verdict
            by.setdefault(r["student"], set()).add(r["passed"])
    assert by == {"ann": {"True"}, "bob": {"False"}}
    p = run("return", "--feedback", "feedback", "--hub-root", root)
    assert "ann" in p.stdout and "cat" in p.stdout and "no feedback" in p.stdout
    for user in ("ann", "bob"):
        files = list((root / "home" / user / "feedback").iterdir())
        assert files and all(f.read_text() for f in files)
    assert not (root / "home" / "cat" / "feedback").exists()


# ---------------------------------------------------------------------------------------------------------------
# starting the hub: faults said in one line; the configuration JupyterHub loads


def test_hub_port_taken_is_one_line(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert cli.main(["hub", "--port", str(port), "--users", "2", "--root", str(tmp_path / "h")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"collapse-lab hub: cannot start: port {port} on 127.0.0.1 is taken (another hub or server?): "
                   "stop it or pass another --port")


def test_hub_proxy_missing_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(hub, "DEPLOY", tmp_path / "deploy")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("COLLAPSE_LAB_HUB_PROXY", raising=False)
    assert cli.main(["hub", "--port", str(hub.free_port()), "--users", "2", "--root", str(tmp_path / "h")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "configurable-http-proxy (the hub's proxy, from npm) is missing" in err
    assert "npm ci --prefix" in err


@pytest.mark.parametrize("kwargs, match", [
    (dict(port=0), "--port must be a number from 1 to 65535"),
    (dict(password="short"), "8 characters or more"),
    (dict(users=0), "--users must be between 1 and 999"),
    (dict(users=["Bad Name"]), "user names must be lower-case"),
    (dict(course="nowhere"), "is not the course folder"),
    (dict(cull=5), "--cull must be 60 seconds or more"),
])
def test_hub_environment_bad_input(tmp_path, kwargs, match):
    args = {**dict(root=tmp_path / "h", port=hub.free_port(), users=3, password="a-long-password"), **kwargs}
    if args.get("course") == "nowhere":
        args["course"] = tmp_path / "nowhere"
    with pytest.raises((hub.HubError, ValueError), match=match):
        hub.environment(**args)


def test_password_made_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("COLLAPSE_LAB_HUB_PASSWORD", raising=False)
    monkeypatch.delenv("COLLAPSE_LAB_HUB_ADMIN_PASSWORD", raising=False)
    p, a = hub.password_for(tmp_path), hub.password_for(tmp_path, admin=True)
    assert len(p) >= 8 and len(a) >= 32 and p != a
    assert hub.password_for(tmp_path) == p and oct((tmp_path / "password").stat().st_mode)[-3:] == "600"


def test_config_as_jupyterhub_loads_it(tmp_path, monkeypatch):
    """deploy/jupyterhub/jupyterhub_config.py with the variables `collapse-lab hub` sets: what each user gets. (The
    proxy is not started here: `make test-hub` installs and runs the real one.)"""
    pytest.importorskip("jupyterhub")
    monkeypatch.setattr(hub, "find_proxy", lambda: "/usr/bin/true")
    env = hub.environment(tmp_path / "h", hub.free_port(), 3, "a-long-password", shared=tmp_path / "shared")
    code = ("import json, os, sys; from traitlets.config.loader import PyFileConfigLoader as L; "
            "c = L('jupyterhub_config.py', path=sys.argv[1]).load_config(); "
            "print(json.dumps({'env': c.Spawner.environment, 'users': sorted(c.Authenticator.allowed_users), "
            "'services': [s['name'] for s in c.JupyterHub.services], 'home': c.SimpleLocalProcessSpawner."
            "home_dir_template, 'bind': c.JupyterHub.bind_url, 'hook': callable(c.Spawner.pre_spawn_hook)}))")
    p = subprocess.run([sys.executable, "-c", code, str(hub.DEPLOY)], env={**os.environ, **env}, capture_output=True,
                       text=True, check=True)
    got = json.loads(p.stdout)
    assert got["env"]["COLLAPSE_LAB_PROFILE"] == "quick"
    assert got["env"]["COLLAPSE_LAB_CACHE"] == str(tmp_path / "shared" / "cache")
    assert got["env"]["COLLAPSE_LAB_DATA"] == str(tmp_path / "shared" / "data")
    assert got["users"] == ["student01", "student02", "student03"] and got["services"] == ["idle-culler"]
    assert got["home"] == str(tmp_path / "h" / "home" / "{username}") and got["hook"]
    assert got["bind"] == f"http://127.0.0.1:{env['COLLAPSE_LAB_HUB_PORT']}"


def test_precache_makes_the_shared_folder_read_only(tmp_path, monkeypatch):
    """Data sets and this user's cached base copied, the folders left read-only (no base is trained here)."""
    data = tmp_path / "src"
    (data / "wikitext-2").mkdir(parents=True)
    (data / "wikitext-2" / "wiki.valid.tokens").write_text("text " * 400)
    own = tmp_path / "own-cache" / "opt-0123"
    own.mkdir(parents=True)
    (own / "config.json").write_text("{}")
    monkeypatch.setattr("collapse_lab.lm.base_source", lambda profile=None: str(own))
    monkeypatch.setattr("collapse_lab.lm.ensure_base", lambda profile=None: "(a base)")
    env = hub.precache(tmp_path / "shared", "quick", data_root=data, log=lambda m: None)
    assert (tmp_path / "shared" / "cache" / "opt-0123" / "config.json").is_file()
    assert env["COLLAPSE_LAB_DATA"] == str((tmp_path / "shared" / "data").resolve())
    copied = tmp_path / "shared" / "data" / "wikitext-2" / "wiki.valid.tokens"
    assert copied.read_text().startswith("text")
    assert not os.stat(copied).st_mode & 0o222 and not os.stat(tmp_path / "shared" / "cache").st_mode & 0o222
    hub.precache(tmp_path / "shared", "quick", data_root=data, log=lambda m: None)  # again: no permission error
    with pytest.raises(ValueError, match="profile must be one of"):
        hub.precache(tmp_path / "shared", "fast")
