"""The package a learner's graded kernel sees: the course without the answers of the exercises it is graded on.

A copy of ``collapse_lab`` in which

* every function a check declares as its reference (``@exercise(refs=...)``, e.g. ``tails.refit`` for
  ``categorical_step``) has its body replaced by one that raises, so no name, import path, ``getattr`` chain,
  ``sys.modules`` entry or ``inspect.getsource`` reaches a course implementation that answers the exercise
  (functions of the package that call a reference raise as well);
* every checks module ``checks/chN.py`` is replaced by its keyless edition (:func:`checks_source`): the same check
  names, looking at the form of an answer only, so the learner's own check cells neither verdict nor leak a key,
  and cost nothing (the grader runs each check once, in its own process);
* ``checks/edition.py`` says ``keyless``.

Inside bubblewrap the original files are hidden (see :func:`collapse_lab.grading.grader.package_locations`), so the
source cannot be read from disk either. The student bundle ships the same checks modules (without the stubs: a
learner studying alone may read the package).
"""
from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib
import inspect
import io
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import collapse_lab
from .. import validate
from ..validate import ArgumentError

PACKAGE = Path(collapse_lab.__file__).resolve().parent
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".ipynb_checkpoints", "*.egg-info")


def chapters(package: Path = PACKAGE) -> list[str]:
    """The checks modules of ``package`` (a folder): ``['ch1', 'ch2', ...]``."""
    return sorted(p.stem for p in (Path(package) / "checks").glob("ch*.py") if p.stem[2:].isdigit())


def checks_of(chapter: str) -> dict:
    """The check functions of ``collapse_lab.checks.<chapter>`` by name: those declared with ``@exercise``, else
    (a chapter that declares none) every public function defined there."""
    if not isinstance(chapter, str) or not chapter.startswith("ch") or not chapter[2:].isdigit():
        raise ArgumentError(f"chapter must be 'chN' (a checks module); got {chapter!r:.60}")
    mod = importlib.import_module(f"collapse_lab.checks.{chapter}")
    found = {k: v for k, v in vars(mod).items() if inspect.isfunction(v) and not k.startswith("_")
             and v.__module__ == mod.__name__ and k not in ("hint", "answers")}
    declared = {k: v for k, v in found.items() if getattr(v, "kind", None)}
    return declared or found


def kind_of(check) -> str:
    """'code' or 'concept': the check's declared kind, else guessed from its argument's name."""
    kind = getattr(check, "kind", None)
    if kind:
        return kind
    params = list(inspect.signature(check).parameters)
    return "code" if params and params[0] in ("fn", "cls") else "concept"


def refs_of(chapter: str) -> dict[str, tuple]:
    """The reference functions each check of ``chapter`` declares (``{name: ('tails.refit', ...)}``)."""
    return {k: tuple(getattr(v, "refs", ())) for k, v in checks_of(chapter).items()}


def checks_source(chapter: str) -> str:
    """The source of the keyless ``checks/<chapter>.py``: the chapter's check names and general hints, no answer."""
    mod = importlib.import_module(f"collapse_lab.checks.{chapter}")
    hints = getattr(getattr(mod, "hint", None), "general", {}) or {}
    lines = [f'"""Checks of {chapter}, keyless edition: the form of each answer and its idea, never a verdict (the '
             'grader holds the key)."""',
             "from .core import Hints", "from .form import keyless", "",
             f"hint = Hints({chapter!r}, {dict(hints)!r})", ""]
    for name, check in checks_of(chapter).items():
        about = (inspect.getdoc(check) or "your answer").split("\n\n")[0].replace("\n", " ")
        lines.append(f"{name} = keyless({chapter!r}, {name!r}, {kind_of(check)!r}, {about!r})")
    return "\n".join(lines) + "\n"


def locate(ref: str, package: Path = PACKAGE) -> tuple[Path, list[str]]:
    """The file of ``package`` (relative path) and the qualified name in it of a reference ``'module.qualname'``
    (``'gmm.mixture.l2'``, ``'loop.Mix.build'``). ValueError when no file of the package defines it."""
    if not isinstance(ref, str) or "." not in ref:
        raise ArgumentError(f"ref must be 'module.qualname' relative to collapse_lab; got {ref!r:.60}")
    parts = ref.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        mod, qual = parts[:cut], parts[cut:]
        for rel in (Path(*mod).with_suffix(".py"), Path(*mod) / "__init__.py"):
            f = Path(package) / rel
            if f.is_file() and _find(ast.parse(f.read_text(encoding="utf-8")), qual) is not None:
                return rel, qual
    raise ValueError(f"no file of {package} defines {ref!r}")


def _find(tree, qual: list[str]):
    body = tree.body
    node = None
    for name in qual:
        node = next((n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                     and n.name == name), None)
        if node is None:
            return None
        body = node.body
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def stub_source(source: str, quals: list[list[str]], module: str) -> str:
    """``source`` (a module's text) with the functions at ``quals`` raising instead of running; ``module``: its
    dotted name, for the message."""
    tree = ast.parse(source)
    for qual in quals:
        node = _find(tree, qual)
        if node is None:
            raise ValueError(f"{module} defines no function {'.'.join(qual)}")
        name = f"{module}.{'.'.join(qual)}"
        msg = (f"{name} is not available in a graded run: it answers an exercise you are graded on; write the "
               "exercise's function yourself")
        doc = node.body[:1] if (node.body and isinstance(node.body[0], ast.Expr)
                                and isinstance(getattr(node.body[0], "value", None), ast.Constant)) else []
        node.body = doc + [ast.Raise(exc=ast.Call(func=ast.Name("RuntimeError", ast.Load()),
                                                  args=[ast.Constant(msg)], keywords=[]), cause=None)]
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def build(dest, refs=(), package: Path = PACKAGE) -> Path:
    """Write the keyless package into the folder ``dest`` (created; must not exist): a copy of ``package`` with the
    functions ``refs`` (a list of 'module.qualname') stubbed out and every checks module keyless. Returns
    ``dest/collapse_lab``."""
    dest = validate.path("dest", dest)
    if dest.exists():
        raise ValueError(f"dest {dest} exists already; give a new folder")
    if isinstance(refs, str) or not isinstance(refs, (list, tuple, set, frozenset)):
        raise ArgumentError(f"refs must be a list of 'module.qualname' strings; got {refs!r:.60}")
    out = dest / "collapse_lab"
    shutil.copytree(package, out, ignore=IGNORE)
    by_file: dict[Path, list[list[str]]] = {}
    for ref in sorted(set(refs)):
        rel, qual = locate(ref, package)
        by_file.setdefault(rel, []).append(qual)
    for rel, quals in by_file.items():
        module = "collapse_lab." + ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        (out / rel).write_text(stub_source((package / rel).read_text(encoding="utf-8"), quals, module),
                               encoding="utf-8")
    keyless_checks(out, package)
    return out


def keyless_checks(out: Path, package: Path = PACKAGE) -> None:
    """Replace the checks modules of the package copy ``out`` by their keyless editions."""
    for ch in chapters(package):
        (Path(out) / "checks" / f"{ch}.py").write_text(checks_source(ch), encoding="utf-8")
    (Path(out) / "checks" / "edition.py").write_text('"""Which checks this copy holds."""\nEDITION = "keyless"\n',
                                                    encoding="utf-8")


# -- where a graded kernel finds it, and where it does not find the full package ----------------------------------


def package_locations() -> list[Path]:
    """Every folder on this machine the grader knows to hold the course package ``collapse_lab`` (the one imported,
    those on ``sys.path``/``PYTHONPATH``, and the targets of ``.pth`` files and editable-install finders), so a
    graded kernel can be kept from reading any of them."""
    import site

    out = {PACKAGE}
    dirs = [*sys.path, *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    sites = [*site.getsitepackages(), site.getusersitepackages()]
    for sp in sites:
        for f in (Path(sp).glob("*.pth") if Path(sp).is_dir() else ()):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                dirs += [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines()
                         if ln.strip() and not ln.startswith(("#", "import"))]
        for f in (Path(sp).glob("__editable__*finder.py") if Path(sp).is_dir() else ()):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                out |= {Path(m) for m in re.findall(r"'collapse_lab':\s*'([^']+)'", f.read_text(encoding="utf-8"))}
    out |= {Path(d) / "collapse_lab" for d in dirs if d}
    return sorted({p.resolve() for p in out if (p / "__init__.py").is_file()})


def sealed(hidden, needed, package_dir: Path) -> tuple[list[Path], list[Path]]:
    """``hidden`` and ``needed`` (lists of paths) for a graded kernel: every :func:`package_locations` hidden (the
    whole checkout around it, with its solutions, notebooks and tests, when it is one), nothing that holds the
    package bound back, and the keyless ``package_dir`` (:mod:`.keyless`) visible."""
    locs = package_locations()
    roots = {(loc.parent if any((loc.parent / m).exists() for m in ("pyproject.toml", ".git", "setup.py"))
              else loc) for loc in locs}
    hidden = [*map(Path, hidden), *sorted(roots)]

    def holds(n: Path) -> bool:
        return n in roots or any(n == loc or loc in n.parents for loc in locs)

    # a needed folder reached through a symlink (a venv linked into a checkout) is bound back at its target too
    needed = [*map(Path, needed), *(Path(n).resolve() for n in needed)]
    needed = list(dict.fromkeys(n for n in needed if not holds(n.resolve()))) + [Path(package_dir).resolve()]
    return hidden, needed


def keyless_package(root: Path, refs) -> Path:
    """The folder (under ``root``, made once per set of references) holding the keyless package whose functions
    ``refs`` are stubbed out (:func:`.keyless.build`), compiled so that kernels do not compile it each time."""
    import compileall

    refs = sorted(set(refs))
    folder = Path(root) / ("pkg-" + hashlib.sha256("\n".join(refs).encode()).hexdigest()[:12])
    if not folder.exists():
        tmp = Path(tempfile.mkdtemp(prefix="pkg-", dir=root))
        shutil.rmtree(tmp)
        with contextlib.redirect_stdout(io.StringIO()):
            build(tmp, refs)
            compileall.compile_dir(str(tmp), quiet=2, workers=1)
        try:
            tmp.rename(folder)
        except OSError:  # another worker of the batch built the same package first: theirs is identical
            if not folder.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    return folder
