"""Simulated students on the workshop hub: N headless browsers log in at once, run Chapter 1, answer exercise 1.

    python tests/hub/loadtest.py --students 3          (``make test-hub``; CI runs it after the browser test)
    python tests/hub/loadtest.py --students 2 --chapter 04 --shared DIR   another chapter (DIR: collapse-lab precache)
    python tests/hub/loadtest.py --table build/hub/loadtest-*.json    the sizing table of docs/workshop.md

What it does, on 127.0.0.1 only:

1. Makes sure Chromium (/usr/bin/chromium), Playwright and the hub's proxy (``npm ci --prefix deploy/jupyterhub``)
   are there, as the browser test does (tests/browser/run.py, whose helpers it imports).
2. Starts the workshop hub exactly as an instructor does (``collapse-lab hub``, deploy/jupyterhub) with N users, a
   random shared password, its own folder and free ports, and an empty read-only shared folder.
3. N students, each a headless Chromium of its own, log in at the same moment; each opens
   notebooks/01_sampling_loses_the_tails.ipynb (or ``--chapter``'s) in the copy the hub made in their home, runs
   all cells (no error output, every figure shown), opens the chapter's exercise notebook, runs it, types the
   solution of exercise 1 into its cell, runs it and its check (the pass line shows), saves, shuts both kernels
   down, logs out.
4. Meanwhile it samples, once a second, every process the hub started: the peak memory (PSS: shared pages counted
   once across processes) and the CPU seconds of each user's server with its kernels, and the machine's CPU use.
5. Collects the class's exercise 1 (``collapse-lab collect``'s function): every student's saved answer is there.
6. Stops the hub (SIGTERM: JupyterHub stops the servers and the proxy), then any process it started that is still
   running, browsers included, also after a failure or Ctrl-C; checks that none is left.

Per student it reports seconds from the login to JupyterLab ready, to the first figure, to the chapter's end, to the
exercise passed and to the log-out; writes build/hub/loadtest-<N>.json and .md, the hub's log in build/hub/jupyterhub-<N>.log. Exit 0 when every check passed,
1 when one failed, 2 when the set-up is missing. Every wait has a time limit within ``--budget`` seconds.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
sys.path.insert(0, str(ROOT))
import run as browser  # noqa: E402  (tests/browser/run.py: the browser test's set-up and page helpers)

OUT = ROOT / "build" / "hub"
CHAPTER = "notebooks/01_sampling_loses_the_tails.ipynb"
EXERCISE = browser.EXERCISE
DEPLOY = ROOT / "deploy" / "jupyterhub"


def log(msg: str) -> None:
    print(f"[hub {time.strftime('%H:%M:%S')}] {msg}", flush=True)



def kill_all(procs) -> None:
    """Kill every process of ``procs`` (psutil processes; one already gone is skipped) and wait up to 10 s."""
    import psutil

    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=10)

class Failure(AssertionError):
    pass


def ensure_proxy() -> None:
    if (DEPLOY / "node_modules" / ".bin" / "configurable-http-proxy").exists() or os.environ.get(
            "COLLAPSE_LAB_HUB_PROXY"):
        return
    if not shutil.which("npm"):
        print("The hub needs configurable-http-proxy from npm: install node and npm (apt-get install nodejs npm), "
              "then run this again.", file=sys.stderr)
        sys.exit(2)
    log(f"installing configurable-http-proxy with npm ci into {DEPLOY / 'node_modules'}")
    subprocess.run(["npm", "ci", "--prefix", str(DEPLOY), "--no-audit", "--no-fund", "--loglevel=error"],
                   check=True)


def ensure_hub_packages() -> None:
    try:
        import jupyterhub  # noqa: F401
        import jupyterhub_idle_culler  # noqa: F401
    except ImportError:
        import tomllib

        reqs = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["hub"]
        log(f"installing {' '.join(reqs)} from PyPI")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *reqs], check=True)


# ---------------------------------------------------------------------------------------------------------------
# the hub and what it started


class Hub:
    """``collapse-lab hub`` in a folder of its own; every process it starts is remembered for the clean-up."""

    def __init__(self, tmp: Path, users: list[str], tag: str, shared=None):
        import psutil

        self.root, self.shared = tmp / "hub", Path(shared) if shared else tmp / "shared"
        self.users, self.password = users, secrets.token_urlsafe(12)
        if not shared:  # an empty shared folder, read-only for every user as `collapse-lab precache` leaves it
            for d in ("data", "cache"):
                (self.shared / d).mkdir(parents=True)
                (self.shared / d).chmod(0o555)
        for u in users:
            # the browser test's JupyterLab settings in each home (every cell in the DOM, no autosave, no news)
            browser.write_settings(self.root / "home" / u / ".jupyter")
            # as the browser test starts JupyterLab: its application object visible to the page, no news fetched
            (self.root / "home" / u / ".jupyter" / "jupyter_server_config.json").write_text(json.dumps(
                {"LabApp": {"expose_app_in_browser": True, "news_url": None}}))
        (tmp / "users.txt").write_text("\n".join(users) + "\n")
        self.port = browser.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "COLLAPSE_LAB_", "MPLBACKEND"))}
        env.update(COLLAPSE_LAB_HUB_PASSWORD=self.password,
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        self.log = OUT / f"jupyterhub-{tag}.log"
        self.logfile = open(self.log, "w")
        cmd = [sys.executable, "-m", "collapse_lab", "hub", "--port", str(self.port), "--users", str(tmp / "users.txt"),
               "--root", str(self.root), "--shared", str(self.shared), "--profile", "quick"]
        self.proc = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=self.logfile, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.me = psutil.Process(self.proc.pid)
        self.seen: dict[tuple, "psutil.Process"] = {}
        log(f"hub PID {self.proc.pid} on {self.url} (log: {self.log})")
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise Failure(f"the hub exited with status {self.proc.returncode}: {self.last_line()}")
            try:
                with urllib.request.urlopen(f"{self.url}/hub/health", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise Failure("the hub did not answer within 120 s") from None
                time.sleep(0.5)  # polling the hub's readiness

    def last_line(self) -> str:
        lines = self.log.read_text().strip().splitlines()
        return lines[-1] if lines else "(no output)"

    def processes(self):
        """The hub's processes now, each remembered: (process, user or '' for the hub, proxy and culler)."""
        import psutil

        out = []
        try:
            procs = [self.me, *self.me.children(recursive=True)]
        except psutil.Error:
            procs = []
        for p in procs:
            try:
                self.seen.setdefault((p.pid, p.create_time()), p)
                out.append((p, p.environ().get("JUPYTERHUB_USER", "")))
            except psutil.Error:
                pass
        return out

    def stop(self) -> list[str]:
        """Stop the hub, then whatever it started that still runs; returns what had to be killed."""
        import psutil

        self.processes()
        if self.proc.poll() is None:
            self.proc.terminate()  # `collapse-lab hub` passes it on: JupyterHub stops the servers and the proxy
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        left = [p for p in self.seen.values() if p.is_running()]
        kill_all(left)
        self.logfile.close()
        log(f"hub PID {self.proc.pid} stopped (status {self.proc.returncode}); {len(self.seen)} processes seen, "
            f"{len(left)} killed after it")
        return [" ".join(p.cmdline()[:3]) if p.is_running() else str(p.pid) for p in left]


class Sampler(threading.Thread):
    """Once a second: memory (PSS) and CPU seconds of each user's server and kernels, the machine's CPU use."""

    def __init__(self, hub: Hub):
        super().__init__(daemon=True)
        self.hub, self.stop_event = hub, threading.Event()
        self.peak_mem: dict[str, float] = {}   # user -> peak MB of their server + kernels
        self.cpu: dict[tuple, tuple] = {}      # (pid, created) -> (user, cpu seconds so far)
        self.machine: list[float] = []         # machine CPU %, each sample
        self.machine_mem: list[float] = []     # machine memory used, MB
        self.seconds = 0.0                     # sampled so far
        self.browser_cpu: dict[tuple, float] = {}  # (pid, created) -> CPU seconds of a browser process

    def run(self) -> None:
        import psutil

        psutil.cpu_percent(None)
        t0 = time.monotonic()
        while not self.stop_event.wait(1.0):
            mem: dict[str, float] = {}
            procs = self.hub.processes()
            hub_pids = {p.pid for p, _ in procs}
            try:  # the students' browsers (and Playwright's drivers): this machine's CPU, not the hub's
                for p in psutil.Process().children(recursive=True):
                    if p.pid not in hub_pids:
                        t = p.cpu_times()
                        self.browser_cpu[(p.pid, p.create_time())] = t.user + t.system
            except psutil.Error:
                pass
            for p, user in procs:
                try:
                    with p.oneshot():
                        info = p.memory_full_info()
                        t = p.cpu_times()
                    mem[user] = mem.get(user, 0.0) + getattr(info, "pss", info.rss) / 2**20
                    self.cpu[(p.pid, p.create_time())] = (user, t.user + t.system)
                except psutil.Error:
                    pass
            for u, m in mem.items():
                self.peak_mem[u] = max(self.peak_mem.get(u, 0.0), m)
            self.machine.append(psutil.cpu_percent(None))
            self.machine_mem.append(psutil.virtual_memory().used / 2**20)
            self.seconds = time.monotonic() - t0

    def cpu_seconds(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for user, s in self.cpu.values():
            out[user] = out.get(user, 0.0) + s
        return out


# ---------------------------------------------------------------------------------------------------------------
# one student


class HubPage(browser.Page):
    """The browser test's page helpers (open, run_all, wait_idle, cells, cell, close) on a hub user's JupyterLab."""

    def __init__(self, context, hub: Hub, user: str, timeout: float):
        self.page = context.new_page()
        self.page.set_viewport_size({"width": 1400, "height": 1000})
        self.console_errors, self.shots = [], []
        self.page.goto(f"{hub.url}/hub/login")
        self.page.fill("#username_input", user)
        self.page.fill("#password_input", hub.password)
        self.page.click("#login_submit")
        # the hub spawns the server (the pre-spawn hook copies the course), then redirects to /user/<name>/lab
        self.page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=timeout * 1000)
        self.page.evaluate("async () => { await window.jupyterapp.restored; window.jupyterapp.shell.collapseLeft(); }")
        self.page.evaluate(browser.JS_HELPERS)

    def shot(self, name: str, element=None) -> None:
        (element or self.page).screenshot(path=str(OUT / f"{name}.png"))


def student(user: str, hub: Hub, start: threading.Barrier, deadline: float, result: dict) -> None:
    """One student's session; fills ``result`` with seconds since the common start and what went wrong."""
    from playwright.sync_api import sync_playwright

    left = lambda: max(5.0, deadline - time.monotonic())  # noqa: E731 (seconds left of the budget)
    result.update(user=user, errors=[])
    page = None
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=browser.CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                                    "--disable-background-networking", "--disable-component-update",
                                    "--disable-sync", "--disable-dev-shm-usage"])
        try:
            context = b.new_context()
            start.wait(timeout=120)
            t0 = time.monotonic()
            mark = lambda key: result.__setitem__(key, round(time.monotonic() - t0, 1))  # noqa: E731
            page = HubPage(context, hub, user, left())
            mark("lab")
            pid = page.open(CHAPTER)
            page.page.evaluate("""(id) => { window.jupyterapp.shell.activateById(id);
                window.jupyterapp.commands.execute('notebook:run-all-cells'); }""", pid)
            page.page.wait_for_function(
                "(id) => document.querySelectorAll('#' + id + ' .jp-OutputArea-output img').length > 0",
                arg=pid, polling=200, timeout=left() * 1000)
            mark("first_figure")
            page.wait_idle(pid, left())
            mark("chapter")
            cells = page.cells(pid)
            errors = [f"cell {c['index']}: {o.get('ename')}: {o.get('evalue')}" for c in cells for o in c["outputs"]
                      if o.get("output_type") == "error"]
            figures = page.page.evaluate(
                "(id) => document.querySelectorAll('#' + id + ' .jp-OutputArea-output img').length", pid)
            want = browser.expected_figures(ROOT / CHAPTER)
            if errors:
                result["errors"].append(f"{CHAPTER}: " + "; ".join(errors))
            if figures < want:
                result["errors"].append(f"{CHAPTER}: {figures} figures shown, {want} expected")
            page.close(pid)
            answer_exercise(page, result, left)
            mark("exercise")
            page.page.goto(f"{hub.url}/hub/logout")
            mark("end")
        except Exception as e:
            result["errors"].append(f"{type(e).__name__}: {str(e).splitlines()[0][:300]}")
            traceback.print_exc()
            if page is not None:
                try:
                    page.shot(f"{user}-aborted")
                except Exception:
                    pass
        finally:
            b.close()


def answer_exercise(page: HubPage, result: dict, left) -> None:
    """Run the exercise notebook (it stops at the first check), type exercise 1's solution, pass its check, save."""
    pid = page.open(EXERCISE)
    page.run_all(pid, left())
    cells = page.cells(pid)
    failed = next((c for c in cells if any(o.get("output_type") == "error" for o in c["outputs"])), None)
    if failed is None or "checks." not in failed["source"]:
        raise Failure(f"{EXERCISE}: Run All did not stop at the first check")
    chk = failed["index"]
    ex = max(c["index"] for c in cells[:chk] if "raise NotImplementedError" in c["source"])
    answer = browser.solution_for(cells[ex]["source"], EXERCISE)
    page.cell(pid, ex).locator(".cm-content").click()
    page.page.keyboard.press("Control+a")
    page.page.keyboard.insert_text(answer)
    page.page.keyboard.press("Shift+Enter")
    page.wait_idle(pid, left())
    page.cell(pid, chk).locator(".cm-content").click()
    page.page.keyboard.press("Shift+Enter")
    page.wait_idle(pid, left())
    after = page.cells(pid)[chk]
    if any(o.get("output_type") == "error" for o in after["outputs"]) or "\u2713" not in after["text"]:
        raise Failure(f"{EXERCISE}: the check of exercise 1 did not pass: {after['text'][:200]!r}")
    page.page.evaluate("""async (id) => { const w = window.__cl.panel(id); await w.context.save(); }""", pid)
    result["answer"] = answer
    page.close(pid)


# ---------------------------------------------------------------------------------------------------------------
# the report


STEPS = ("lab", "first_figure", "chapter", "exercise", "end")


def summary(n: int, results: list[dict], sampler: Sampler, seconds: float) -> dict:
    import psutil

    users = [r["user"] for r in results]
    cpu = sampler.cpu_seconds()
    return {
        "students": n, "cores": psutil.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_before": [round(x, 2) for x in sampler.load_before], "seconds": round(seconds, 1),
        "date": time.strftime("%Y-%m-%d %H:%M"), "profile": "quick", "chapter": CHAPTER,
        "students_detail": [{**{k: r.get(k) for k in ("user", *STEPS)}, "errors": r["errors"],
                             "server_mb": round(sampler.peak_mem.get(r["user"], 0.0)),
                             "cpu_s": round(cpu.get(r["user"], 0.0), 1)} for r in results],
        "hub_mb": round(sampler.peak_mem.get("", 0.0)), "hub_cpu_s": round(cpu.get("", 0.0), 1),
        "browsers_cpu_s": round(sum(sampler.browser_cpu.values()), 1),
        "machine_cpu_mean": round(statistics.fmean(sampler.machine), 1) if sampler.machine else None,
        "machine_cpu_peak": round(max(sampler.machine), 1) if sampler.machine else None,
        "machine_mem_peak_mb": round(max(sampler.machine_mem)) if sampler.machine_mem else None,
        # what the hub's processes used of the machine while the students worked: CPU s / (wall s x cores)
        "hub_cpu_share": round(100 * sum(cpu.values()) / max(1.0, sampler.seconds * psutil.cpu_count()), 1),
        "users": users, "budget": round(sampler.budget),
    }


def markdown(s: dict) -> str:
    head = "| student | JupyterLab ready | first figure | chapter done | exercise passed | logged out | " \
           "server + kernels, peak PSS | CPU |"
    rows = [head, "|" + "---|" * 8]
    for d in s["students_detail"]:
        t = [f"{d[k]:.0f} s" if d.get(k) is not None else "-" for k in STEPS]
        rows.append(f"| {d['user']} | " + " | ".join(t) + f" | {d['server_mb']} MB | {d['cpu_s']:.0f} s |")
    return (f"{s['students']} students, {s['cores']} cores, {s['memory_gb']} GB, {s['date']}, {s['profile']} "
            f"profile; seconds from the common log-in\n\n" + "\n".join(rows) +
            f"\n\nhub, proxy and culler: {s['hub_mb']} MB, {s['hub_cpu_s']:.0f} CPU s; everything the hub started "
            f"used {s['hub_cpu_share']} % of the machine's cores while sampled; the students' browsers (on this "
            f"machine too) {s['browsers_cpu_s']:.0f} CPU s; machine CPU mean "
            f"{s['machine_cpu_mean']} %, peak {s['machine_cpu_peak']} %; load average before the run "
            f"{s['load_before']}\n")


def sizing(files: list[str]) -> str:
    """The sizing table of docs/workshop.md from load-test results (build/hub/loadtest-<N>.json)."""
    runs = sorted((json.loads(Path(f).read_text()) for f in files),
                  key=lambda s: (Path(s["chapter"]).name, s["students"]))
    if not runs:
        raise SystemExit("no load-test results given")
    out = ["| chapter | students | cores | first figure, median (max) | chapter done, median (max) | all done | "
           "server + kernels, peak PSS per student | CPU s per student (chapter + exercise 1) | load before | "
           "hub's share of the cores | students' browsers, CPU s |", "|" + "---|" * 11]
    for s in runs:
        d = [x for x in s["students_detail"] if not x["errors"]]
        ch = Path(s["chapter"]).name[:3].rstrip("_")
        if not d:  # nobody finished within the budget: what was used until the sessions were stopped
            a = s["students_detail"]
            fig = [x["first_figure"] for x in a if x.get("first_figure") is not None]
            out.append(f"| {ch} | {s['students']} | {s['cores']} | "
                       f"{f'{statistics.median(fig):.0f} s' if fig else 'none'} | not done (run stopped at {s['seconds']:.0f} s) | "
                       f"- | {max(x['server_mb'] for x in a)} MB until stopped | "
                       f"more than {statistics.fmean(x['cpu_s'] for x in a):.0f} s | "
                       f"{s['load_before'][0] if s['load_before'] else '-'} | {s.get('hub_cpu_share', '-')} % | "
                       f"{s.get('browsers_cpu_s', 'not measured')} |")
            continue
        med = lambda k: f"{statistics.median(x[k] for x in d):.0f} s ({max(x[k] for x in d):.0f} s)"  # noqa: E731
        mem = statistics.fmean(x["server_mb"] for x in d)
        cpu = statistics.fmean(x["cpu_s"] for x in d)
        out.append(f"| {ch} | {s['students']}{'' if len(d) == s['students'] else f' ({len(d)} finished)'} | {s['cores']} | "
                   f"{med('first_figure')} | {med('chapter')} | {max(x['end'] for x in d):.0f} s | {mem:.0f} MB | "
                   f"{cpu:.0f} s | {s['load_before'][0] if s['load_before'] else '-'} | {s.get('hub_cpu_share', '-')} % | "
                   f"{s.get('browsers_cpu_s', 'not measured')} |")
    out += ["", "| chapter | CPU s per student (C) | peak MB per student | students per GB | students per core, "
            "T = 120 s (120 / C) | a room of 30: cores for T = 120 s, memory |", "|---|---|---|---|---|---|"]
    hub_mb = max(s["hub_mb"] for s in runs)
    for ch in sorted({Path(s["chapter"]).name for s in runs}):
        ok = [x for s in runs if Path(s["chapter"]).name == ch for x in s["students_detail"] if not x["errors"]]
        if not ok:
            continue
        mem = max(x["server_mb"] for x in ok)
        cpu = statistics.fmean(x["cpu_s"] for x in ok)
        room = f"{math.ceil(30 * cpu / 120)} cores, {(30 * mem + hub_mb) / 1024:.1f} GB"
        out.append(f"| {ch[:3].rstrip('_')} | {cpu:.0f} | {mem:.0f} | {1024 / mem:.1f} | {120 / cpu:.1f} | {room} |")
    hub = max(s["hub_mb"] for s in runs)
    out += ["", f"Chapter and exercise 1 in the quick profile, every finished student of every run; the memory is the "
            f"largest peak. The hub itself (hub, proxy, culler): {hub} MB at most."]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--students", type=int, default=3)
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds allowed for the students' sessions (default 180 + 60 per student)")
    ap.add_argument("--chapter", default="01", help="the chapter the students run, with exercise 1 of its "
                    "exercise notebook (default 01)")
    ap.add_argument("--shared", default=None, help="a folder made by `collapse-lab precache` (default: an empty "
                    "read-only one; Chapters 4 and 5 need the cached base)")
    ap.add_argument("--table", nargs="+", metavar="JSON", help="print the sizing table of these results and exit")
    args = ap.parse_args(argv)
    if args.table:
        print(sizing(args.table))
        return 0
    if not 1 <= args.students <= 60:
        print(f"--students must be between 1 and 60; got {args.students}", file=sys.stderr)
        return 2
    budget = args.budget or 180 + 60 * args.students
    global CHAPTER, EXERCISE
    try:
        CHAPTER, EXERCISE = chapter_files(args.chapter)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    tag = str(args.students) if args.chapter == "01" else f"{args.chapter}-{args.students}"
    browser.ensure_chromium()
    browser.ensure_playwright()
    ensure_hub_packages()
    ensure_proxy()
    import psutil

    OUT.mkdir(parents=True, exist_ok=True)  # earlier runs' results stay: the sizing table reads several
    for old in OUT.glob("*.png"):
        old.unlink()
    users = [f"student{i:02d}" for i in range(1, args.students + 1)]
    failures: list[str] = []
    results = [dict(user=u, errors=[]) for u in users]
    hub = sampler = None
    load_before = list(os.getloadavg())
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="collapse-lab-hub-") as tmp:
        tmp = Path(tmp)
        try:
            hub = Hub(tmp, users, tag, args.shared)
            sampler = Sampler(hub)
            sampler.load_before, sampler.budget = load_before, budget
            sampler.start()
            barrier = threading.Barrier(len(users))
            deadline = time.monotonic() + budget
            threads = [threading.Thread(target=student, args=(u, hub, barrier, deadline, r), daemon=True)
                       for u, r in zip(users, results)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=max(1.0, deadline + 60 - time.monotonic()))
            if any(t.is_alive() for t in threads):
                failures.append(f"a student's session outlived the budget of {budget:.0f} s")
            for r in results:
                failures += [f"{r['user']}: {e}" for e in r["errors"]]
                if not r["errors"] and "end" not in r:
                    failures.append(f"{r['user']}: did not finish")
            check_collected(tmp, hub, results, failures, args.chapter)
        except browser.Failure as e:
            failures.append(f"set-up: {e}")
        except Failure as e:
            failures.append(f"set-up: {e}")
        except KeyboardInterrupt:
            failures.append("interrupted")
        finally:
            if sampler is not None:
                sampler.stop_event.set()
                sampler.join(timeout=10)
            if hub is not None:
                left = hub.stop()
                alive = [p for p in hub.seen.values() if p.is_running()]
                if alive:
                    failures.append(f"processes left running after the hub stopped: {[p.pid for p in alive]}")
                if left:
                    log(f"killed after the hub stopped: {left}")
            # the browsers and Playwright's drivers: whatever this process started and is still running
            kill_all(psutil.Process().children(recursive=True))
    seconds = time.monotonic() - t_start
    if sampler is not None:
        s = summary(args.students, results, sampler, seconds)
        (OUT / f"loadtest-{tag}.json").write_text(json.dumps(s, indent=1))
        (OUT / f"loadtest-{tag}.md").write_text(markdown(s))
        print("\n" + markdown(s))
        server = [d["server_mb"] for d in s["students_detail"]]
        log(f"peak memory per user server {min(server)}-{max(server)} MB; machine CPU mean "
            f"{s['machine_cpu_mean']} %; results in {(OUT / f'loadtest-{tag}.json').relative_to(ROOT)}")
    print(f"\nhub load test: {args.students} students, {len(failures)} failures, in {seconds / 60:.1f} min")
    for f in failures:
        print(f"  FAILED: {f}")
    return 1 if failures else 0


def chapter_files(chapter: str) -> tuple[str, str]:
    """The lecture and the exercise notebook of ``chapter`` ("01"; "05a": lecture 05a, exercises of 05)."""
    from collapse_lab import workshop

    lectures = sorted((ROOT / "notebooks").glob(f"{chapter}_*.ipynb"))
    if len(lectures) != 1:
        raise ValueError(f"chapter {chapter!r}: {len(lectures)} lecture notebooks match notebooks/{chapter}_*.ipynb")
    return f"notebooks/{lectures[0].name}", f"exercises/{workshop.exercise_name(chapter[:2], ROOT)}"


def check_collected(tmp: Path, hub: Hub, results: list[dict], failures: list[str], chapter: str) -> None:
    """Every student's saved exercise is what `collapse-lab collect` gathers, with the answer they typed."""
    from collapse_lab import workshop

    rows = workshop.collect(chapter[:2], tmp / "submissions", hub_root=hub.root)
    by = {r["user"]: r for r in rows}
    for r in results:
        row = by.get(r["user"])
        if row is None or row["status"] != "collected":
            failures.append(f"{r['user']}: not collected ({row})")
        elif "answer" in r and r["answer"] not in "".join(
                "".join(c["source"]) for c in json.loads(Path(row["detail"]).read_text())["cells"]):
            failures.append(f"{r['user']}: the collected notebook lacks the answer typed in the browser")
    log(f"collected {sum(r['status'] == 'collected' for r in rows)} of {len(rows)} exercise notebooks")


if __name__ == "__main__":
    sys.exit(main())
