"""The course as a learner sees it: JupyterLab in headless Chromium, every chapter run live.

    python tests/browser/run.py            (``make test-browser``; CI runs it after ``make test``)

Outside pytest on purpose: explorers, widgets and progress bars take their live paths only in a real kernel with a
front end (no ``COLLAPSE_LAB_STATIC``, no ``COLLAPSE_LAB_QUIET``). What it does:

1. Makes sure Debian's ``chromium`` (``/usr/bin/chromium``; installed with apt-get when running as root) and
   Playwright (the ``browser`` extra of pyproject.toml, from PyPI) are there. Playwright drives the system
   Chromium through ``executable_path``: its own browser download is not needed.
2. Copies ``notebooks/`` and ``exercises/`` to a temporary course folder (Run All never touches the repository)
   and starts JupyterLab on 127.0.0.1 with a token and its own config/data/runtime folders, quick profile.
3. For every chapter notebook present in ``notebooks/``: opens it (it must not be marked modified on opening: the
   kernelspec metadata matches the installed kernel), runs all cells, waits for the kernel to be idle, asserts no
   error output, no broken widget, at least as many figures as the notebook's ``plots.save(`` calls, and printed
   lines no wider than 110 characters; then changes every control of every explorer once and asserts the figure
   changed.
   Notebooks run side by side (``--jobs``, default: the cores, capped by the free memory), longest first, each in
   a JupyterLab window of its own (own Chromium, own workspace, own kernel) against the one server.
4. Opens the chapter 1 exercise notebook, runs it: the first check fails with its message (and without the check's
   own frames); types the solution into the exercise cell through the editor, runs it and the check again, and
   sees the pass line.

5. Accessibility: every figure in JupyterLab has a real text alternative (not JupyterLab's default "Image"); every
   explorer control has a label, is reached with Tab and changed with the arrow keys alone, and axe-core finds no
   WCAG 2.0/2.1 A or AA violation inside an explorer; the explorer's figure description follows the values drawn.
6. With ``--site DIR`` (the folder ``collapse-lab course`` built; ``--axe-only`` skips JupyterLab): every page of
   the built site (home, chapters, exercises, instructor guide) is served on 127.0.0.1 and checked by axe-core
   (``axe-playwright-python`` ships it: offline) against the WCAG 2.0/2.1 A and AA rules; any violation fails.
   The report is ``build/browser/axe.json``.

A screenshot per step goes to ``build/browser/``, the server's log to ``build/browser/jupyterlab.log``. The server is
stopped by its PID. Exit status 0 when every check passed, 1 when one failed, 2 when the set-up is missing.
Waits are on JupyterLab's state (kernel idle, cells done, images changed), never fixed sleeps.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "browser"
CHROMIUM = "/usr/bin/chromium"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]  # WCAG 2.0 and 2.1, levels A and AA
# what JupyterLab shows for an image without alt text, and what nbconvert writes into a built page
NO_ALT = ("Image", "No description has been provided for this image")
WIDTH = 110  # widest printed line JupyterLab shows without wrapping at the default font and window size
EXERCISE = "exercises/01_sampling_loses_the_tails.ipynb"
# Checks of work merged from other branches: listed here, they are reported but do not fail the run. Empty the
# tuple (or run with --strict) once that work is in.
#   check-frames: a failing check's traceback hides the check's own frames (any file of collapse_lab/checks/).
#   line-width:   no printed line wider than WIDTH characters.
PENDING: tuple = ()
NOTEBOOK_TIMEOUT = 15 * 60  # seconds for one Run All (chapter 4 trains its base model once: ~30 s + a few minutes)
SHOTS = itertools.count(1)  # screenshots numbered in the order they were taken, whichever page took them
AXE_LOCK = threading.Lock()  # pages in several threads add to one build/browser/axe-jupyterlab.json
CHANGE_TIMEOUT = 5 * 60     # seconds for an explorer to redraw after a change


class Failure(AssertionError):
    pass


def log(msg: str) -> None:
    print(f"[browser {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# set-up


def ensure_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        log("installing Debian's chromium with apt-get")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"], check=True, env=env)
        if Path(CHROMIUM).exists():
            return
    print(f"The browser test needs Chromium at {CHROMIUM}. Install it with\n"
          "    sudo apt-get install chromium        (Debian, Ubuntu: chromium or chromium-browser)\n"
          "and run `make test-browser` again.", file=sys.stderr)
    sys.exit(2)


def browser_requirements() -> list[str]:
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return extras["browser"]


def ensure_playwright() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reqs = browser_requirements()
        log(f"installing {' '.join(reqs)} from PyPI (the browser itself is the system Chromium)")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *reqs], check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_settings(config: Path) -> None:
    """JupyterLab user settings of this run: no autosave, every cell in the DOM, no network notices."""
    settings = {
        "docmanager-extension/plugin": {"autosave": False},
        "notebook-extension/tracker": {"windowingMode": "none"},
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        "extensionmanager-extension/plugin": {"enabled": False},
    }
    for name, value in settings.items():
        path = config / "lab" / "user-settings" / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


class Lab:
    """A JupyterLab server of its own: temp course copy, own config/data/runtime folders, token, 127.0.0.1."""

    def __init__(self, tmp: Path, own_kernel: bool):
        self.tmp = tmp
        self.course = tmp / "course"
        for d in ("notebooks", "exercises"):
            shutil.copytree(ROOT / d, self.course / d)
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("COLLAPSE_LAB_STATIC", "COLLAPSE_LAB_QUIET", "PYTEST_CURRENT_TEST", "MPLBACKEND",
                                 "COLLAPSE_LAB_FIGDIR", "JUPYTER_PATH", "JUPYTERLAB_SETTINGS_DIR",
                                 "JUPYTERLAB_WORKSPACES_DIR")}
        self.env.update(
            COLLAPSE_LAB_PROFILE="quick",
            JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_DATA_DIR=str(tmp / "data"),
            JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), IPYTHONDIR=str(tmp / "ipython"),
            # the kernel imports this checkout's collapse_lab (also when the venv's editable install points elsewhere)
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        write_settings(tmp / "config")
        if own_kernel:
            # Register the kernel exactly as the Makefile does, but in this run's data folder, made to win over the
            # venv's: for a machine whose venv kernel was registered by an older Makefile.
            self.env["JUPYTER_PREFER_ENV_PATH"] = "0"
            subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user", "--name", KERNELSPEC["name"],
                            "--display-name", KERNELSPEC["display_name"]], env=self.env, check=True,
                           stdout=subprocess.DEVNULL)
        self.check_kernel()
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(OUT / "jupyterlab.log", "w")
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.course}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--ServerApp.allow_root=True")  # CI runs as root
        self.proc = subprocess.Popen(cmd, env=self.env, cwd=self.course, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log(f"JupyterLab PID {self.proc.pid} on {self.url} (log: {OUT / 'jupyterlab.log'})")
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise Failure(f"JupyterLab exited with status {self.proc.returncode}; see {OUT / 'jupyterlab.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise Failure("JupyterLab did not answer within 120 s") from None
                time.sleep(0.5)  # polling the server's readiness, not waiting for a result

    def check_kernel(self) -> None:
        code = ("import json; from jupyter_client.kernelspec import KernelSpecManager as K; "
                f"s = K().get_kernel_spec({KERNELSPEC['name']!r}); "
                "print(json.dumps({'display_name': s.display_name, 'language': s.language, 'dir': s.resource_dir}))")
        got = json.loads(subprocess.run([sys.executable, "-c", code], env=self.env, capture_output=True, text=True,
                                        check=True).stdout)
        log(f"kernel {KERNELSPEC['name']!r}: {got['display_name']!r} from {got['dir']}")
        if got["display_name"] != KERNELSPEC["display_name"] or got["language"] != KERNELSPEC["language"]:
            # the browser's "not modified on opening" check then fails: say why up front
            log(f"WARNING: the installed kernel {KERNELSPEC['name']!r} is {got['display_name']!r}, the notebooks say "
                f"{KERNELSPEC['display_name']!r}: run `make install` (it registers the kernel), or pass --own-kernel")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:  # a clean shutdown also stops the kernels
                req = urllib.request.Request(f"{self.url}/api/shutdown?token={self.token}", method="POST")
                urllib.request.urlopen(req, timeout=10).close()
                self.proc.wait(timeout=30)
            except Exception:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
        log(f"JupyterLab PID {self.proc.pid} stopped (status {self.proc.returncode})")
        self.log.close()


# ---------------------------------------------------------------------------------------------------------------
# what a notebook should show, read from its file


def code_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def expected_figures(path: Path) -> int:
    """At least one shown figure per ``plots.save(`` call (each chapter saves every figure it shows)."""
    return len(re.findall(r"\bplots\.save\(", "\n".join(code_cells(path))))


# ---------------------------------------------------------------------------------------------------------------
# the page: JupyterLab's application object (``expose_app_in_browser``) gives its state; the mouse and the keyboard
# do what a learner does

JS_HELPERS = """
window.__cl = {
  panel(id) {
    for (const w of window.jupyterapp.shell.widgets('main')) if (w.id === id) return w;
    throw new Error('no notebook panel ' + id);
  },
  kernelStatus(id) {
    const k = this.panel(id).sessionContext.session?.kernel;
    return k ? k.status : 'none';
  },
  busy(id) {
    const p = this.panel(id);
    if (this.kernelStatus(id) !== 'idle') return true;
    for (const cell of p.content.widgets) {
      if (cell.model.type === 'code' && cell.model.executionState === 'running') return true;
      if (cell.model.type === 'code' && (cell.promptNode?.textContent || '').includes('*')) return true;
    }
    return false;
  },
  outputs(id) {
    return this.panel(id).content.widgets.map((cell, i) => ({
      index: i, type: cell.model.type, source: cell.model.sharedModel.getSource(),
      outputs: cell.model.type === 'code' ? cell.model.outputs.toJSON() : [],
      text: cell.model.type === 'code' ? (cell.node.querySelector('.jp-Cell-outputWrapper')?.innerText || '') : '',
    }));
  },
};
"""


class Page:
    """One JupyterLab window. ``workspace``: a layout of its own, so that windows open side by side never restore
    each other's notebooks (two windows on one notebook would share its kernel)."""

    def __init__(self, context, lab: Lab, workspace: str = "default"):
        self.page = context.new_page()
        self.page.set_viewport_size({"width": 1400, "height": 1000})
        self.console_errors: list[str] = []
        self.page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        self.shots: list[str] = []
        self.page.goto(f"{lab.url}/lab/workspaces/{workspace}?token={lab.token}")
        self.page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=120_000)
        self.page.evaluate("async () => { await window.jupyterapp.restored; window.jupyterapp.shell.collapseLeft(); }")
        self.page.evaluate(JS_HELPERS)

    def shot(self, name: str, element=None) -> None:
        path = OUT / f"{next(SHOTS):02d}-{name}.png"
        (element or self.page).screenshot(path=str(path))
        self.shots.append(path.name)

    def open(self, path: str) -> str:
        """Open a notebook, wait for its kernel; returns the panel id."""
        pid = self.page.evaluate("""async (path) => {
            const app = window.jupyterapp;
            const w = await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
            await w.context.ready; await w.sessionContext.ready;
            const k = w.sessionContext.session.kernel; await k.info;
            app.shell.activateById(w.id);
            return w.id; }""", path)
        self.wait_idle(pid, 120)
        return pid

    def wait_idle(self, pid: str, timeout: float) -> None:
        # Two consecutive idle polls: between two queued cells the kernel is briefly idle.
        self.page.wait_for_function("""(id) => {
            const c = window.__cl; if (c.busy(id)) { c._idle = 0; return false; }
            c._idle = (c._idle || 0) + 1; return c._idle >= 3; }""", arg=pid, polling=500,
                                    timeout=timeout * 1000)

    def dirty(self, pid: str) -> bool:
        return self.page.evaluate("(id) => window.__cl.panel(id).context.model.dirty", pid)

    def metadata(self, pid: str) -> dict:
        return self.page.evaluate("""(id) => { const m = window.__cl.panel(id).context.model;
            return {kernelspec: m.getMetadata('kernelspec'), language_info: m.getMetadata('language_info')}; }""", pid)

    def run_all(self, pid: str, timeout: float) -> None:
        self.page.evaluate("""(id) => { window.jupyterapp.shell.activateById(id);
            window.jupyterapp.commands.execute('notebook:run-all-cells'); }""", pid)
        self.page.wait_for_function("(id) => window.__cl.busy(id)", arg=pid, polling=100, timeout=60_000)
        self.wait_idle(pid, timeout)

    def close(self, pid: str) -> None:
        """Shut the kernel down and close the tab without saving (the course copy is thrown away anyway)."""
        self.page.evaluate("""async (id) => { const w = window.__cl.panel(id);
            await w.sessionContext.shutdown(); w.context.model.dirty = false; w.dispose(); }""", pid)

    def cells(self, pid: str) -> list[dict]:
        return self.page.evaluate("(id) => window.__cl.outputs(id)", pid)

    def cell(self, pid: str, index: int):
        return self.page.locator(f"#{pid} .jp-Notebook .jp-Cell").nth(index)


# ---------------------------------------------------------------------------------------------------------------
# the checks


class Report:
    def __init__(self, strict: bool):
        self.failures: list[str] = []
        self.pending: list[str] = []
        self.passed: list[str] = []
        self.strict = strict

    def check(self, ok: bool, what: str, detail: str = "", gate: str | None = None) -> bool:
        if ok:
            self.passed.append(what)
            log(f"ok   {what}")
        elif gate in PENDING and not self.strict:
            self.pending.append(f"{what}: {detail}")
            log(f"PENDING ({gate}, not failing) {what}: {detail}")
        else:
            self.failures.append(f"{what}: {detail}")
            log(f"FAIL {what}: {detail}")
        return ok


def modified(meta: dict) -> str:
    return (f"JupyterLab set its metadata to {json.dumps(meta)}: run `make install` (registers the kernel) and "
            "`python tests/browser/kernelspec.py` with the course's Python (writes kernelspec and language_info)")


def printed_lines(cells: list[dict]):
    for c in cells:
        for o in c["outputs"]:
            if o.get("output_type") == "stream":
                text = o.get("text", "")
            elif o.get("output_type") == "execute_result":
                text = o.get("data", {}).get("text/plain", "")
            else:
                continue
            text = "".join(text) if isinstance(text, list) else text
            for line in re.split(r"[\r\n]", text):
                yield c["index"], line


def explorer_images(page: Page, pid: str) -> list[str]:
    return page.page.evaluate("""(id) => [...document.querySelectorAll('#' + id + ' .collapse-lab-explorer')]
        .map(e => { const img = e.querySelector('img'); return img ? img.src : ''; })""", pid)


def redrawn(page: Page, pid: str, e: int, before: str) -> bool:
    """Whether explorer ``e`` of notebook ``pid`` shows an image other than ``before`` and is idle, within
    CHANGE_TIMEOUT (waits on the page's state, not a fixed sleep)."""
    try:
        page.page.wait_for_function("""([id, e, before]) => {
            const x = document.querySelectorAll('#' + id + ' .collapse-lab-explorer')[e];
            const img = x.querySelector('img');
            return img && img.src !== before && !window.__cl.busy(id); }""",
                                    arg=[pid, e, before], polling=250, timeout=CHANGE_TIMEOUT * 1000)
        return True
    except Exception:
        return False


def change_control(page: Page, explorer, k: int, kind: str) -> str:
    """Change control k of an explorer once, as a learner would; returns a description."""
    if kind == "dropdown":
        select = explorer.locator(".widget-dropdown select").nth(k)
        options = select.locator("option").all_inner_texts()
        current = select.evaluate("s => s.options[s.selectedIndex].text")
        target = next(o for o in options if o != current)
        select.select_option(label=target)
        return f"{current} -> {target}"
    handle = explorer.locator(".widget-slider .noUi-handle").nth(k)
    now, top = handle.get_attribute("aria-valuenow"), handle.get_attribute("aria-valuemax")
    key = "ArrowLeft" if now == top else "ArrowRight"
    handle.focus()
    handle.press(key)
    return f"slider {key}"


def run_chapter(page: Page, report: Report, rel: str) -> None:
    name = Path(rel).stem.split("_")[0]
    t0 = time.monotonic()
    pid = page.open(rel)
    try:
        check_chapter(page, report, rel, name, pid, t0)
    finally:
        page.close(pid)  # also after a failure: an abandoned kernel would keep computing


def check_chapter(page: Page, report: Report, rel: str, name: str, pid: str, t0: float) -> None:
    meta = page.metadata(pid)
    page.shot(f"ch{name}-opened")
    report.check(not page.dirty(pid), f"{rel}: not marked modified on opening", modified(meta))
    page.run_all(pid, NOTEBOOK_TIMEOUT)
    seconds = time.monotonic() - t0
    cells = page.cells(pid)
    page.page.evaluate("(id) => { const c = window.__cl.panel(id).content; c.activeCellIndex = c.widgets.length - 1;"
                       " c.scrollToItem(c.widgets.length - 1); }", pid)
    page.shot(f"ch{name}-run-all")
    errors = [f"cell {c['index']}: {o.get('ename')}: {o.get('evalue')}" for c in cells for o in c["outputs"]
              if o.get("output_type") == "error"]
    report.check(not errors, f"{rel}: Run All without error output ({seconds:.0f} s)", "; ".join(errors))
    broken = page.page.evaluate("(id) => document.querySelector('#' + id).innerText", pid)
    bad = [s for s in ("Error displaying widget", "model not found") if s in broken]
    report.check(not bad, f"{rel}: every widget displays", f"page shows {bad}")
    figures = page.page.evaluate("(id) => document.querySelectorAll('#' + id + ' .jp-OutputArea-output img').length",
                                 pid)
    want = expected_figures(ROOT / rel)
    report.check(figures >= want, f"{rel}: {figures} figures shown (plots.save calls: {want})",
                 f"only {figures} figures")
    wide = [(i, len(line), line[:60]) for i, line in printed_lines(cells) if len(line) > WIDTH]
    report.check(not wide, f"{rel}: printed lines <= {WIDTH} characters",
                 "; ".join(f"cell {i}: {n} chars ({s!r}...)" for i, n, s in wide[:8]), gate="line-width")
    explore(page, report, pid, rel, name)
    check_accessibility(page, report, pid, rel, name)


def explore(page: Page, report: Report, pid: str, rel: str, name: str) -> None:
    explorers = page.page.locator(f"#{pid} .collapse-lab-explorer")
    n = explorers.count()
    # every code cell calling an explorer shows one
    want = sum(1 for s in code_cells(ROOT / rel) if re.search(r"\bexplore\(", s))
    report.check(n >= want, f"{rel}: {n} explorers shown (cells calling explore: {want})", "explorer missing")
    for e in range(n):
        ex = explorers.nth(e)
        ex.scroll_into_view_if_needed()
        page.shot(f"ch{name}-explorer{e + 1}-before", ex)
        sliders = ex.locator(".widget-slider .noUi-handle").count()
        dropdowns = ex.locator(".widget-dropdown select").count()
        controls = [("slider", k) for k in range(sliders)] + [("dropdown", k) for k in range(dropdowns)]
        report.check(bool(controls), f"{rel}: explorer {e + 1} has controls", "no slider or dropdown")
        for kind, k in controls:
            before = explorer_images(page, pid)[e]
            what = change_control(page, ex, k, kind)
            changed = redrawn(page, pid, e, before)
            after = explorer_images(page, pid)[e]
            page.shot(f"ch{name}-explorer{e + 1}-{kind}{k + 1}-changed", ex)
            report.check(changed and after and after != before,
                         f"{rel}: explorer {e + 1} {kind} {k + 1} ({what}) redraws the figure",
                         "the figure did not change")
    if n:
        text = page.page.evaluate("(id) => document.querySelector('#' + id).innerText", pid)
        report.check("Error displaying widget" not in text and "model not found" not in text,
                     f"{rel}: explorers display without widget errors after the changes", "widget error shown")


def check_accessibility(page: Page, report: Report, pid: str, rel: str, name: str) -> None:
    """Figures described; every explorer control labelled, reached with Tab and changed with the arrow keys alone
    (Space, an arrow key, Enter; the figure redraws and its description names the new value); axe-core finds nothing
    inside an explorer."""
    alts = page.page.evaluate("(id) => [...document.querySelectorAll('#' + id + ' .jp-OutputArea-output img')]"
                              ".map(i => i.alt)", pid)
    bad = [a for a in alts if not a.strip() or a.strip() in NO_ALT or not re.search(r"\s", a.strip())]
    report.check(not bad, f"{rel}: all {len(alts)} figures carry a description (alt text)",
                 f"{len(bad)} without: {bad[:3]}")
    explorers = page.page.locator(f"#{pid} .collapse-lab-explorer")
    for e in range(explorers.count()):
        ex = explorers.nth(e)
        ex.scroll_into_view_if_needed()
        selects = ex.locator("select")
        labels = [selects.nth(k).evaluate("s => [...s.labels].map(l => l.innerText.trim()).join(' ')")
                  for k in range(selects.count())]
        report.check(bool(labels) and all(labels), f"{rel}: explorer {e + 1}: every control has a label {labels}",
                     "a control without a label")
        handles = ex.locator(".noUi-handle").count()
        report.check(handles == 0, f"{rel}: explorer {e + 1}: no unlabelled slider handle", f"{handles} sliders")
        for k in range(selects.count()):
            select = selects.nth(k)
            if k == 0:
                select.focus()
            else:  # from the previous control, the Tab key alone reaches this one
                selects.nth(k - 1).focus()
                page.page.keyboard.press("Tab")
            focused = select.evaluate("s => document.activeElement === s")
            report.check(focused, f"{rel}: explorer {e + 1}: control {labels[k]!r} reached with the keyboard",
                         "focus went elsewhere")
            before_img = explorer_images(page, pid)[e]
            before = select.evaluate("s => s.value")
            last = select.evaluate("s => s.selectedIndex === s.options.length - 1")
            # Space opens the list, an arrow key moves in it, Enter chooses. (JupyterLab's command mode takes the arrow
            # keys from a closed <select>, to move between cells; the open list receives them.)
            for key in (" ", "ArrowUp" if last else "ArrowDown", "Enter"):
                page.page.keyboard.press(key)
            try:
                select.page.wait_for_function("([s, v]) => s.value !== v", arg=[select.element_handle(), before],
                                              timeout=10_000)
            except Exception:
                report.check(False, f"{rel}: explorer {e + 1}: the keyboard changes {labels[k]!r}",
                             "the value did not change")
                continue
            redrawn_ok = redrawn(page, pid, e, before_img)
            value = select.evaluate("s => s.options[s.selectedIndex].text")
            alt = ex.locator("img").first.get_attribute("alt") or ""
            page.shot(f"ch{name}-explorer{e + 1}-keyboard{k + 1}", ex)
            report.check(redrawn_ok and select.evaluate("s => s.value") != before,
                         f"{rel}: explorer {e + 1}: Space, an arrow key and Enter change {labels[k]!r}; it redraws",
                         "no change")
            report.check(f"{labels[k]} = {value}" in alt, f"{rel}: explorer {e + 1}: the description follows "
                         f"({labels[k]} = {value})", f"alt text {alt[-120:]!r}")
        found = axe_summary(axe_run(page.page, f"#{pid} .collapse-lab-explorer", e))
        report.check(not found, f"{rel}: explorer {e + 1}: axe-core finds no WCAG 2.x A/AA violation",
                     "; ".join(f"{v['id']} ({v['elements']}: {v['html'][:1]})" for v in found))
    # JupyterLab's own interface is not the course's to fix: its violations are recorded (docs/accessibility.md
    # cites them), not failed
    lab = axe_summary(axe_run(page.page))
    path = OUT / "axe-jupyterlab.json"
    with AXE_LOCK:
        known = json.loads(path.read_text()) if path.exists() else {}
        known[rel] = lab
        path.write_text(json.dumps(dict(sorted(known.items())), indent=1))
    log(f"note {rel}: axe-core on the whole JupyterLab page (JupyterLab's own interface, not failing): "
        + (", ".join(f"{v['id']} ({v['elements']})" for v in lab) or "no violation"))


def run_exercise(page: Page, report: Report, rel: str) -> None:
    pid = page.open(rel)
    report.check(not page.dirty(pid), f"{rel}: not marked modified on opening", modified(page.metadata(pid)))
    page.run_all(pid, NOTEBOOK_TIMEOUT)
    cells = page.cells(pid)
    failed = next((c for c in cells if any(o.get("output_type") == "error" for o in c["outputs"])), None)
    if not report.check(failed is not None and "checks." in failed["source"],
                        f"{rel}: Run All stops at the first check, unsolved",
                        f"first error in {failed and failed['source'][:80]!r}"):
        return
    chk = failed["index"]
    page.cell(pid, chk).scroll_into_view_if_needed()
    page.shot("exercise-unsolved-fails", page.cell(pid, chk))
    text = failed["text"]
    report.check("not written yet" in text and "hint" in text, f"{rel}: the failed check's message is shown",
                 text[:300])
    # any file of the checks package (core re-exports messages, calls, compare, display; chN holds the items)
    frames = sorted(set(re.findall(r"collapse_lab[/\\\\]checks[/\\\\]\w+\.py", text)))
    report.check(not frames, f"{rel}: the failed check hides its own frames", f"traceback shows {frames}",
                 gate="check-frames")
    # the exercise cell: the last cell above the check that still raises NotImplementedError
    ex = max(c["index"] for c in cells[:chk] if "raise NotImplementedError" in c["source"])
    answer = solution_for(cells[ex]["source"], rel)
    editor = page.cell(pid, ex).locator(".cm-content")
    editor.click()
    page.page.keyboard.press("Control+a")
    page.page.keyboard.insert_text(answer)  # one insertion: no auto-indent or bracket closing on top of the text
    typed = page.cells(pid)[ex]["source"]
    report.check(typed == answer, f"{rel}: the answer typed into the editor", f"the cell holds {typed[:200]!r}")
    page.shot("exercise-answer-typed", page.cell(pid, ex))
    page.page.keyboard.press("Shift+Enter")
    page.wait_idle(pid, 120)
    page.cell(pid, chk).locator(".cm-content").click()
    page.page.keyboard.press("Shift+Enter")
    page.wait_idle(pid, 120)
    after = page.cells(pid)[chk]
    errors = [o for o in after["outputs"] if o.get("output_type") == "error"]
    page.cell(pid, chk).scroll_into_view_if_needed()
    page.shot("exercise-solved-passes", page.cell(pid, chk))
    report.check(not errors and "\u2713" in after["text"], f"{rel}: the check passes once solved",
                 f"errors {[(o.get('ename'), o.get('evalue')) for o in errors]}; output {after['text'][:200]!r}")


def solution_for(exercise_source: str, rel: str) -> str:
    """The solution cell that the exercise cell was built from, with the solution markers dropped."""
    from collapse_lab.exercises import BEGIN, END, strip_solutions

    for src in code_cells(ROOT / "solutions" / Path(rel).name):
        if BEGIN in src and strip_solutions(src) == exercise_source:
            return "\n".join(line for line in src.splitlines() if line.strip() not in (BEGIN, END))
    raise Failure(f"no cell of solutions/{Path(rel).name} builds the exercise cell {exercise_source[:80]!r}")


# ---------------------------------------------------------------------------------------------------------------
# accessibility: axe-core on the built site and inside explorers


# images whose alt text is missing, a placeholder, a bare file name (no space: "ch1-zipf-chain") or the home page's
# stand-in for a PNG written without a description
JS_UNDESCRIBED = """(bad) => [...document.images].filter(i => !i.alt.trim() || bad.includes(i.alt.trim())
    || !/\\s/.test(i.alt.trim()) || i.alt.endsWith('(no description)')).map(i => (i.alt || i.src).slice(0, 80))"""


def axe_script() -> str:
    """axe-core's script, from the ``axe-playwright-python`` wheel (the ``browser`` extra): no network needed."""
    try:
        from axe_playwright_python.base import AXE_SCRIPT
    except ImportError:
        reqs = browser_requirements()
        log(f"installing {' '.join(reqs)} from PyPI (axe-core ships inside axe-playwright-python)")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *reqs], check=True)
        from axe_playwright_python.base import AXE_SCRIPT
    return AXE_SCRIPT


def axe_run(page, context=None, index: int = 0) -> dict:
    """axe-core's WCAG 2.0/2.1 A and AA rules on the open page (or on element ``index`` of the CSS selector
    ``context``)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_script())
    return page.evaluate("""([ctx, i, tags]) => axe.run(ctx ? document.querySelectorAll(ctx)[i] : document,
        {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})""", [context, index, AXE_TAGS])


def axe_summary(result: dict) -> list[dict]:
    """One entry per violated rule: id, impact, help, number of elements and the first few of them."""
    return [{"id": v["id"], "impact": v.get("impact"), "help": v["help"], "elements": len(v["nodes"]),
             "targets": [" ".join(map(str, n["target"])) for n in v["nodes"][:5]],
             "html": [n["html"][:160] for n in v["nodes"][:3]]} for v in result["violations"]]


def site_pages(site: Path) -> list[str]:
    """Every page ``collapse-lab course`` writes: the home page first, then chapters, guide and exercises."""
    pages = sorted(p.relative_to(site).as_posix() for p in site.glob("*.html"))
    pages += sorted(p.relative_to(site).as_posix() for p in (site / "exercises").glob("*.html"))
    return sorted(pages, key=lambda p: (p != "index.html", p))


class Site:
    """The built site served read-only on 127.0.0.1 by a thread of this process (stopped by :meth:`stop`)."""

    def __init__(self, root: Path):
        import functools
        import threading
        from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def check_site(context, report: Report, site: Path) -> dict:
    """axe-core on every built page; writes ``build/browser/axe.json``; each page with a violation fails."""
    pages = site_pages(site)
    if not report.check(bool(pages), f"site {site}: has pages", "no *.html: build it with `collapse-lab course`"):
        return {}
    server = Site(site)
    results = {}
    page = context.new_page()
    try:
        for rel in pages:
            page.goto(f"{server.url}/{rel}", wait_until="load")
            # MathJax typesets after load: wait for it (and its assistive MathML) before auditing
            page.evaluate("""() => new Promise(done => {
                if (window.MathJax && MathJax.Hub) MathJax.Hub.Queue(() => done()); else done(); })""")
            found = axe_summary(axe_run(page))
            alts = page.evaluate(JS_UNDESCRIBED, list(NO_ALT))
            math = page.evaluate("""() => { const f = [...document.querySelectorAll('.MathJax')];
                const mml = f.filter(e => e.querySelector('.MJX_Assistive_MathML math'));
                return {typeset: f.length, mathml: mml.length}; }""")
            lang = page.evaluate("() => document.documentElement.lang")
            results[rel] = {"violations": found, "images": page.evaluate("() => document.images.length"),
                            "images_without_description": len(alts), "lang": lang, "formulas": math}
            report.check(math["mathml"] >= math["typeset"],
                         f"site {rel}: every formula also as MathML for screen readers ({math['typeset']} formulas)",
                         f"only {math['mathml']} with assistive MathML")
            report.check(not found, f"site {rel}: axe-core finds no WCAG 2.x A/AA violation",
                         "; ".join(f"{v['id']} ({v['impact']}, {v['elements']} elements: {v['targets'][:2]})"
                                   for v in found))
            report.check(not alts, f"site {rel}: every image has a description ({results[rel]['images']} images)",
                         f"{len(alts)} without: {alts[:3]}")
    finally:
        page.close()
        server.stop()
    (OUT / "axe.json").write_text(json.dumps({"tags": AXE_TAGS, "site": str(site), "pages": results}, indent=1))
    log(f"axe-core report: {OUT / 'axe.json'} ({sum(len(r['violations']) for r in results.values())} rules violated "
        f"over {len(results)} pages)")
    return results


# ---------------------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    global NOTEBOOK_TIMEOUT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="comma-separated chapter prefixes, e.g. 01,05 (default: every notebook)")
    ap.add_argument("--no-exercise", action="store_true", help="skip the exercise notebook")
    ap.add_argument("--strict", action="store_true", help=f"fail on the pending checks too {PENDING}")
    ap.add_argument("--timeout", type=float, default=NOTEBOOK_TIMEOUT,
                    help="seconds allowed for one notebook's Run All (default %(default)s)")
    ap.add_argument("--jobs", type=int, default=0, help="notebooks run at once, each in a JupyterLab window of its "
                    "own (default: the cores, capped by the free memory and $COLLAPSE_LAB_WORKERS)")
    ap.add_argument("--own-kernel", action="store_true",
                    help="register the python3 kernel as the Makefile does in this run's own data folder")
    ap.add_argument("--site", type=Path, help="a built course folder (collapse-lab course --out DIR) to audit with "
                    "axe-core; default: build/ when it holds index.html")
    ap.add_argument("--axe-only", action="store_true", help="only the axe-core audit of --site (no JupyterLab)")
    ap.add_argument("--no-site", action="store_true", help="no audit of a built site (run beside `make course`, "
                    "whose build/ is not complete yet; audit it afterwards with --axe-only --site build)")
    args = ap.parse_args(argv)
    if args.jobs < 0:
        ap.error(f"--jobs must be 0 (from the cores) or a number of windows >= 1; got {args.jobs}")
    if args.no_site and (args.site is not None or args.axe_only):
        ap.error("--no-site goes with neither --site nor --axe-only")
    NOTEBOOK_TIMEOUT = args.timeout
    site = args.site if args.site is not None else (ROOT / "build" if (ROOT / "build" / "index.html").is_file()
                                                    and not args.no_site else None)
    if args.axe_only and (site is None or not (site / "index.html").is_file()):
        print(f"--axe-only needs a built site: --site DIR with DIR/index.html (got {site})", file=sys.stderr)
        return 2
    t_start = time.monotonic()
    ensure_chromium()
    ensure_playwright()
    from playwright.sync_api import sync_playwright

    if args.axe_only:
        OUT.mkdir(parents=True, exist_ok=True)
        return audit_only(site.resolve(), args.strict, t_start)
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    sys.path.insert(0, str(ROOT))
    report = Report(args.strict)
    notebooks = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
    if args.only:
        notebooks = [n for n in notebooks if any(Path(n).name.startswith(o) for o in args.only.split(","))]
    from collapse_lab import course, nbtiming, runner

    # longest first (the quick profile's seconds under nbval, tests/durations.json; else the course build's guess),
    # the short exercise last: the last window to finish then has a short notebook
    measured = nbtiming.read(ROOT / "tests" / "durations.json")["files"]
    notebooks.sort(key=lambda n: -measured.get(n, course.timings.expected_seconds(ROOT / n, ROOT / "build", "quick")))
    tasks = notebooks + ([] if args.no_exercise else [EXERCISE])
    jobs = args.jobs if args.jobs else runner.build_workers(len(tasks), "quick")
    lab = None
    with tempfile.TemporaryDirectory(prefix="collapse-lab-browser-") as tmp:
        tmp = Path(tmp)
        try:
            lab = Lab(tmp, args.own_kernel)
            console = run_windows(lab, tmp, tasks, jobs, report)
            bad = [m for m in console if "model not found" in m]
            report.check(not bad, "browser console: no widget model missing", "; ".join(bad[:3]))
            if site is not None:
                log(f"axe-core on the built site {site}")
                with sync_playwright() as p:
                    context = launch(p, tmp / "chromium-site")
                    try:
                        check_site(context, report, site.resolve())
                    finally:
                        context.close()
            else:
                log("no built site (build/index.html): the axe-core audit of the site is skipped; run "
                    "`make course` first, or pass --site DIR")
        except Failure as e:
            report.check(False, "set-up", str(e))
        finally:
            if lab is not None:
                lab.stop()
    return finish(report, t_start)


def attempt(page: Page, report: Report, rel: str) -> None:
    """One notebook's steps; a crash is a failed check with a screenshot, and the run goes on."""
    exercise = rel == EXERCISE
    log(f"{'exercise' if exercise else 'chapter'} {rel}")
    try:
        (run_exercise if exercise else run_chapter)(page, report, rel)
    except Exception as e:
        report.check(False, f"{rel}: ran to the end", f"{type(e).__name__}: {e}")
        traceback.print_exc()
        try:
            page.shot(f"{'exercise' if exercise else Path(rel).stem.split('_')[0]}-aborted")
        except Exception:  # noqa: BLE001 - a crashed page takes no screenshot; the failure is recorded above
            pass


def run_windows(lab: Lab, tmp: Path, tasks: list[str], jobs: int, report: Report) -> list[str]:
    """Run ``tasks`` (notebook paths, in order) in ``jobs`` JupyterLab windows at once against the one server, each
    window a Chromium of its own driven by a thread of its own (Playwright's sync API wants one instance per thread)
    and its own JupyterLab workspace; a free window takes the next task. Each notebook has its own kernel, so the
    windows share nothing but the server. Returns every window's browser console errors."""
    from playwright.sync_api import sync_playwright

    todo, lock, console = list(tasks), threading.Lock(), []

    def next_task():
        with lock:
            return todo.pop(0) if todo else None

    def window(i: int) -> None:
        try:
            with sync_playwright() as p:
                context = launch(p, tmp / f"chromium-{i}")
                try:
                    page = Page(context, lab, f"browser-{i + 1}")
                    while (rel := next_task()) is not None:
                        attempt(page, report, rel)
                    console.extend(page.console_errors)
                finally:
                    context.close()
        except Exception as e:  # noqa: BLE001 - a window that cannot start fails the run; the others take its tasks
            report.check(False, f"browser window {i + 1}: set-up", f"{type(e).__name__}: {e}")
            traceback.print_exc()

    n = max(1, min(jobs, len(tasks)))
    log(f"{len(tasks)} notebooks in {n} JupyterLab window{'s' if n > 1 else ''} at once: {', '.join(tasks)}")
    threads = [threading.Thread(target=window, args=(i,), name=f"window-{i + 1}") for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report.check(not todo, "every notebook was run", f"not run (no window could start): {todo}")
    return console


def launch(p, profile: Path):
    return p.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True,
        args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"])


def audit_only(site: Path, strict: bool, t_start: float) -> int:
    """``--axe-only``: the axe-core audit of a built site, without JupyterLab."""
    from playwright.sync_api import sync_playwright

    report = Report(strict)
    with tempfile.TemporaryDirectory(prefix="collapse-lab-axe-") as tmp, sync_playwright() as p:
        context = launch(p, Path(tmp) / "chromium-profile")
        try:
            check_site(context, report, site)
        finally:
            context.close()
    return finish(report, t_start)


def finish(report: Report, t_start: float) -> int:
    minutes = (time.monotonic() - t_start) / 60
    print(f"\nbrowser test: {len(report.passed)} checks passed, {len(report.failures)} failed, "
          f"{len(report.pending)} pending, in {minutes:.1f} min; screenshots in {OUT.relative_to(ROOT)}/")
    for p in report.pending:
        print(f"  pending (not failing until merged): {p}")
    for f in report.failures:
        print(f"  FAILED: {f}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
