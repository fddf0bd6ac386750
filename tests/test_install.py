"""Set-up without make: the environment files agree with pyproject.toml, the licence and citation files are valid,
and ``pip install .`` + ``python -m collapse_lab course`` work in a fresh virtual environment."""
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version


@pytest.fixture(scope="module")
def project(root):
    with open(root / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


@pytest.fixture(scope="module")
def root():
    return Path(__file__).resolve().parent.parent


def _deps(project) -> dict:
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for r in project["optional-dependencies"]["lab"]]
    return {canonicalize_name(r.name): r.specifier for r in reqs}


def _makefile_torch(root) -> Version:
    m = re.search(r"^TORCH\s*\?=\s*torch==([\w.]+)", (root / "Makefile").read_text(), re.M)
    assert m, "the Makefile pins TORCH ?= torch==X"
    return Version(m.group(1))


def _pip_lines(lines) -> tuple[list[str], list[str]]:
    """(options, requirements) of pip requirement lines, comments dropped."""
    lines = [ln.split(" #")[0].strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    return [ln for ln in lines if ln.startswith("-")], [ln for ln in lines if not ln.startswith("-")]


def _check_torch(req: str, root, project):
    r = Requirement(req)
    assert r.name == "torch" and len(r.specifier) == 1
    pinned = Version(next(iter(r.specifier)).version)
    assert pinned.local == "cpu", f"{req}: pin the CPU build (+cpu)"
    assert pinned.public == str(_makefile_torch(root)), f"{req} disagrees with the Makefile's TORCH"
    assert pinned in _deps(project)["torch"], f"{req} is outside pyproject's {_deps(project)['torch']}"


def test_environment_yml_agrees_with_pyproject(root, project):
    env = yaml.safe_load((root / "environment.yml").read_text())
    assert env["name"] == "collapse-lab" and "conda-forge" in env["channels"]
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    py = next(d for d in conda if d.startswith("python="))
    assert Version(py.split("=")[1] + ".0") in SpecifierSet(project["requires-python"])
    want = _deps(project)
    listed = {}
    for d in conda:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", d)
        name = canonicalize_name(m.group(1))
        if name not in ("python", "pip"):
            listed[name] = SpecifierSet(m.group(2))
    # every dependency but torch and the PyPI-only ones comes from conda-forge, with pyproject's bounds exactly
    pypi_only = {"copydetect"}
    assert set(listed) == set(want) - {"torch"} - pypi_only, set(listed) ^ (set(want) - {"torch"} - pypi_only)
    for name, spec in listed.items():
        assert spec == want[name], f"environment.yml {name}{spec} but pyproject says {want[name]}"
    opts, reqs = _pip_lines(pip)
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in opts
    assert "-e .[lab]" in opts
    torch, *rest = reqs
    _check_torch(torch, root, project)
    assert {canonicalize_name(Requirement(r).name): Requirement(r).specifier for r in rest} == \
        {n: want[n] for n in pypi_only}, rest


def test_binder_files_install_the_cpu_torch_and_the_package(root, project):
    opts, reqs = _pip_lines((root / "binder" / "requirements.txt").read_text().splitlines())
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in opts and "-e .[lab]" in opts
    (torch,) = reqs
    _check_torch(torch, root, project)
    runtime = (root / "binder" / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime)
    assert Version(runtime.split("-")[1] + ".0") in SpecifierSet(project["requires-python"])
    post = root / "binder" / "postBuild"
    assert os.access(post, os.X_OK) and "fetch_data.py" in post.read_text()
    assert (root / "binder" / "fetch_data.py").is_file()
    subprocess.run([sys.executable, "-m", "py_compile", str(root / "binder" / "fetch_data.py")], check=True)


def test_licence_citation_and_readme_references(root, project):
    assert project["license"] == "MIT"
    assert (root / "LICENSE").read_text().startswith("MIT License")
    cff = yaml.safe_load((root / "CITATION.cff").read_text())
    for key in ("cff-version", "message", "title", "authors"):  # the fields CFF 1.2.0 requires
        assert cff.get(key), key
    assert cff["license"] == "MIT" and cff["version"] == project["version"]
    assert cff["references"][0]["doi"] == "10.1038/s41586-024-07566-y"
    readme = (root / "README.md").read_text()
    for cited in ("Shumailov", "Gerstgrasser", "Dohmatob", "Alemohammad", "Bertrand", "CC BY-SA 3.0",
                  "docs/instructors.md", "python -m collapse_lab course", "python -m collapse_lab lab",
                  "make course", "bundle --student"):
        assert cited in readme, cited


@pytest.mark.slow
def test_pip_install_and_course_without_make(root, tmp_path):
    """A fresh venv (reusing this interpreter's torch through --system-site-packages when it is a venv's, so
    nothing large is downloaded), ``pip install .`` of a copy of the course, then the course runner on one chapter."""
    if os.environ.get("COLLAPSE_LAB_SKIP_INSTALL_TEST"):
        pytest.skip("COLLAPSE_LAB_SKIP_INSTALL_TEST is set")
    src = tmp_path / "course"
    shutil.copytree(root, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "data", "runs", "__pycache__", "*.egg-info", ".ipynb_checkpoints", "solutions"))
    # the outer interpreter's packages (torch, numpy, ...) are visible read-only; the project itself is installed
    # into the new venv, so what runs is the installed copy, not the checkout
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    outer_site = next(p for p in sys.path if p.endswith("site-packages"))
    (next((env_dir / "lib").glob("python3*")) / "site-packages" / "outer.pth").write_text(outer_site + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # nbconvert's templates sit in the outer environment's share/jupyter; only they are borrowed (its kernelspecs
    # would start the outer python)
    jupyter_path = tmp_path / "jupyter"
    jupyter_path.mkdir()
    (jupyter_path / "nbconvert").symlink_to(Path(sys.prefix) / "share" / "jupyter" / "nbconvert")
    env.update(JUPYTER_PATH=str(jupyter_path), COLLAPSE_LAB_PROFILE="quick", COLLAPSE_LAB_QUIET="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "."],
                       cwd=src, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    # every dependency pyproject names is met in the new venv (pip check reads the installed metadata)
    r = subprocess.run([str(py), "-c", "import collapse_lab, importlib.metadata as m, sys; "
                        "print(collapse_lab.__file__); "
                        "from packaging.requirements import Requirement as R; "
                        "bad=[q for q in m.requires('collapse-lab') if 'extra' not in q and "
                        "not R(q).specifier.contains(m.version(R(q).name), prereleases=True)]; "
                        "sys.exit(str(bad) if bad else 0)"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert str(env_dir) in r.stdout, f"collapse_lab imported from {r.stdout.strip()}, not the new venv"
    # the course runner, as a user without make would call it, on the cheapest chapter-like notebook
    nbs = src / "notebooks"
    cheap = tmp_path / "one"
    cheap.mkdir()
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A check of the installed course\n\nThe math $x^2$ renders."),
                nbformat.v4.new_code_cell("import collapse_lab as cl\ncl.require('0.1.0')\nprint(cl.__file__)")]
    nbformat.write(nb, cheap / "01_installed.ipynb")
    assert list(nbs.glob("01_*.ipynb"))
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"  # the kernel is the new venv's python
    r = subprocess.run([str(py), "-m", "collapse_lab", "course", "--notebooks", str(cheap), "--out",
                        str(tmp_path / "build"), "--profile", "quick"],
                       cwd=src, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    out = nbformat.read(tmp_path / "build" / "01_installed.ipynb", as_version=4)
    assert str(env_dir) in "".join(o.get("text", "") for o in out.cells[1].outputs)
    assert (tmp_path / "build" / "index.html").is_file() and (tmp_path / "build" / "mathjax" / "MathJax.js").is_file()
    r = subprocess.run([str(py), "-m", "collapse_lab", "lab", "--dry-run"], cwd=src, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and f"--ServerApp.root_dir={src}" in r.stdout, r.stdout + r.stderr
