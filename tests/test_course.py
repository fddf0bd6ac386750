import re
import shutil
from pathlib import Path

import nbformat
import pytest

from collapse_lab import checks, course, plots, runner, widgets
from collapse_lab.cli import main


OPENING = """# Chapter 9 · Tiny chapter

In one sentence: a tiny chapter with a figure and the math $M$ and $$\\sigma^2_n$$ in it.

**Learning objectives.** After this chapter you can

- draw a line,
- print the profile
  on two lines.

Expected time: 10 minutes of reading.
"""


def _chapter(code: str, opening: str = OPENING) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(opening), nbformat.v4.new_code_cell(code)]
    return nb


def test_course_build_keeps_going_marks_failures_and_writes_the_home_page(tmp_path, capsys):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    (tmp_path / "exercises").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "instructors.md").write_text("# Guide\n\nThe variance $s^2$ matters.\n")
    nbformat.write(_chapter(
        "import matplotlib.pyplot as plt\nfrom collapse_lab import plots, active_profile\n"
        "fig, ax = plt.subplots(); ax.plot([1, 2, 3]); plots.save(fig, 'ch0-line', 'A line rising from 1 to 3.'); "
        "print(active_profile())"),
        nbs / "01_tiny.ipynb")
    ex = _chapter("from collapse_lab import checks\nchecks.ch1.something(f)")
    nbformat.write(ex, tmp_path / "exercises" / "01_tiny.ipynb")
    nbformat.write(_chapter("x = 1\nraise RuntimeError('the chain went wrong')\n", "# Broken chapter\n\nNo."),
                   nbs / "02_broken.ipynb")
    nbformat.write(_chapter("print('after the failure')", "no heading here, plain text"), nbs / "03_after.ipynb")
    out = tmp_path / "build"
    assert main(["course", "--profile", "quick", "--notebooks", str(nbs), "--out", str(out)]) == 1
    cap = capsys.readouterr()
    assert "02_broken.ipynb: cell 2: RuntimeError: the chain went wrong" in cap.err and "FAILED (1)" in cap.err
    assert "2 of 3 notebooks ran without error" in cap.out
    # every chapter was written, the failed one with its error visible, the one after it executed
    assert (out / "01_tiny.html").stat().st_size > 1000
    assert (out / "figures" / "01_tiny" / "ch0-line.png").exists()
    broken = (out / "02_broken.html").read_text()
    assert "This chapter failed" in broken and "the chain went wrong" in broken
    err = [o for o in nbformat.read(out / "02_broken.ipynb", as_version=4).cells[1].outputs
           if o.output_type == "error"]
    assert err and err[0].ename == "RuntimeError"
    after = nbformat.read(out / "03_after.ipynb", as_version=4)
    assert after.cells[1].outputs[0]["text"] == "after the failure\n"
    executed = nbformat.read(out / "01_tiny.ipynb", as_version=4)
    assert "quick" in executed.cells[1].outputs[0]["text"]
    # timings mark the failure
    rows = (out / "timings.csv").read_text().splitlines()
    assert rows[0] == "notebook,seconds,cpu_seconds,profile,status"
    assert rows[1].startswith("01_tiny.ipynb,") and rows[1].endswith(",quick,passed")
    assert rows[2].endswith(",quick,failed") and rows[3].endswith(",quick,passed")
    assert "**FAILED**: cell 2: RuntimeError" in (out / "timings.md").read_text()
    # the home page: title, summary, objectives, time, thumbnails, status, links, guide; math from build/mathjax
    home = (out / "index.html").read_text()
    assert "Tiny chapter" in home and "a tiny chapter with a figure" in home
    assert "<li>draw a line,</li><li>print the profile on two lines.</li>" in home
    assert "Expected time: 10 minutes of reading." in home
    assert "figures/thumbs/01_tiny/ch0-line.png" in home and (out / "figures/thumbs/01_tiny/ch0-line.png").exists()
    assert "alt='A line rising from 1 to 3.'" in home  # the thumbnail's alt text: the figure's description
    tiny = (out / "01_tiny.html").read_text()
    assert 'alt="A line rising from 1 to 3."' in tiny and "No description has been provided" not in tiny
    assert home.count("class='status failed'") == 1 and home.count("class='status passed'") == 2
    assert "href='01_tiny.html'" in home and "href='exercises/01_tiny.html'>1 exercise</a>" in home
    assert "href='instructors.html'" in home and "$s^2$" in (out / "instructors.html").read_text()
    assert "03_after" in home and "1 chapter failed" in home
    if course.mathjax_source() is not None:
        assert (out / "mathjax" / "MathJax.js").is_file()
        page = (out / "01_tiny.html").read_text()
        assert "src='mathjax/MathJax.js" in home and '"mathjax/MathJax.js' in page
        assert not re.search(r"<script[^>]*src=[\"']https?://", page)  # nothing loaded from the internet
        assert '"../mathjax/MathJax.js' in (out / "exercises" / "01_tiny.html").read_text()
    # --only rebuilds one chapter and keeps the others on the home page
    assert main(["course", "--profile", "quick", "--notebooks", str(nbs), "--out", str(out), "--only", "03"]) == 0
    home = (out / "index.html").read_text()
    assert home.count("class='status failed'") == 1 and home.count("class='status passed'") == 2
    with pytest.raises(ValueError, match="no notebooks"):
        course.build(nbs, out, profile="quick", only=["zzz"])
    with pytest.raises(TypeError, match="only"):
        course.build(nbs, out, profile="quick", only="01")


def test_run_notebook_gives_each_kernel_its_own_environment_and_leaves_the_process_alone():
    import os
    from concurrent.futures import ThreadPoolExecutor

    before = dict(os.environ)
    code = "import os, time\ntime.sleep(1)\nprint(os.environ['COLLAPSE_LAB_TEST_VALUE'])"
    nbs = [_chapter(code) for _ in range(2)]
    usage = [{}, {}]
    with ThreadPoolExecutor(2) as pool:  # side by side: a process-wide environment would leak one into the other
        secs = list(pool.map(lambda i: course.run_notebook(nbs[i], ".", {"COLLAPSE_LAB_TEST_VALUE": f"v{i}"},
                                                           usage=usage[i]), range(2)))
    assert [nb.cells[1].outputs[0]["text"] for nb in nbs] == ["v0\n", "v1\n"]
    assert dict(os.environ) == before and all(s >= 1 for s in secs)
    assert all(u["cpu"] > 0 for u in usage)  # the kernel's CPU seconds were read
    with pytest.raises(course.validate.ArgumentError, match="env must be a dict of str"):
        course.run_notebook(_chapter("pass"), ".", {"X": 1})


def test_the_build_runs_tasks_after_those_they_wait_for_longest_first():
    import threading

    log, lock = [], threading.Lock()

    def run(task):
        with lock:
            log.append(("start", task))
        if task == "base":
            threading.Event().wait(0.3)
        with lock:
            log.append(("end", task))

    tasks = [("base", (), 9.0), ("lm", ("base",), 5.0), ("short", (), 1.0), ("long", (), 3.0)]
    runner.run_tasks(tasks, 2, run)
    order = [t for e, t in log if e == "start"]
    assert sorted(order) == ["base", "lm", "long", "short"]
    assert log.index(("start", "lm")) > log.index(("end", "base"))
    assert order[:2] == ["base", "long"]  # the ready task with the highest priority goes first
    runner.run_tasks([("a", (), 1.0)], 4, run)  # more threads than tasks
    assert log[-1] == ("end", "a")


def test_a_fresh_build_starts_the_longest_chapters_first_then_follows_its_own_timing_table(root, tmp_path):
    import json

    from collapse_lab.course import timings

    paths = sorted((root / "notebooks").glob("[0-9]*.ipynb"))
    fresh = sorted(paths, key=lambda p: -timings.expected_seconds(p, tmp_path, "standard"))
    assert [p.name[:3] for p in fresh[:3]] == ["04_", "03_", "02_"]  # a fresh clone: the measured table's order
    (tmp_path / "course.json").write_text(json.dumps({paths[1].name: {"seconds": 900.0, "profile": "quick"}}))
    assert timings.expected_seconds(paths[1], tmp_path, "quick") == 900.0  # this build's own table wins
    assert timings.expected_seconds(paths[1], tmp_path, "standard") == 450.0  # another profile's, halved
    other = tmp_path / "99_new_chapter.ipynb"
    nbformat.write(_chapter("x = 1"), other)
    assert 0 < timings.expected_seconds(other, tmp_path, "quick") < 1  # not measured yet: its code's length


def test_build_workers_from_cores_memory_and_the_environment(monkeypatch):
    import psutil

    monkeypatch.delenv("COLLAPSE_LAB_WORKERS", raising=False)
    monkeypatch.setattr("collapse_lab.runtime.workers", lambda: 8)
    mem = type("Mem", (), {"available": 4 * 2 ** 30})
    monkeypatch.setattr(psutil, "virtual_memory", lambda: mem)
    assert course.build_workers(7, "quick") == 2  # 4 GB over 1.5 GB per notebook: fewer workers, not an OOM kill
    assert course.build_workers(7, "paper") == 1
    assert course.build_workers(1, "quick") == 1
    mem.available = 64 * 2 ** 30
    assert course.build_workers(7, "quick") == 7
    monkeypatch.setenv("COLLAPSE_LAB_WORKERS", "3")
    monkeypatch.setattr("collapse_lab.runtime.workers", lambda: 3)
    assert course.build_workers(7, "standard") == 3  # asked for explicitly
    with pytest.raises(course.validate.ArgumentError):
        course.build_workers(0)


def test_which_notebooks_wait_for_the_language_model_base(root):
    needs = {p.name[:3]: course.needs_lm_base(nbformat.read(p, as_version=4))
             for p in sorted((root / "notebooks").glob("[0-9]*.ipynb"))}
    assert needs["04_"] == "chapter" and needs["05a"] == "table"
    assert not any(needs[k] for k in needs if k not in ("04_", "05a"))
    assert course.needs_lm_base(_chapter("base, tok = lm.load_base()")) == "chapter"
    assert course._base_profiles("standard", {"chapter", "table"}) == ["quick", "standard"]
    assert course._base_profiles("quick", {"table"}) == ["quick"]


def test_describe_reads_a_notebook_opening_and_falls_back():
    info = course.describe(_chapter("pass"))
    assert info["title"] == "Tiny chapter"
    assert info["summary"].startswith("a tiny chapter with a figure")
    assert info["objectives"] == ["draw a line,", "print the profile on two lines."]
    numbered = _chapter("pass", "# Chapter 2: a mixture\n\nEM refits (see Fig. 1) its own samples. More.\n\n"
                        "## Learning objectives\n\n1. **name** the three error sources\n2. explain $N$\n\n## 1 · Go\n")
    info = course.describe(numbered)
    assert info == {"title": "A mixture", "summary": "EM refits (see Fig. 1) its own samples.",
                    "objectives": ["name the three error sources", "explain $N$"], "time": ""}
    assert course.describe(nbformat.v4.new_notebook()) == {"title": "", "summary": "", "objectives": [], "time": ""}


def test_lab_command_opens_the_course_folder(root, capsys):
    cmd = course.lab_command(root, chapter="01")
    assert cmd[1:3] == ["-m", "jupyterlab"] and f"--ServerApp.root_dir={root}" in cmd
    assert any(c.startswith("notebooks/01_") for c in cmd) and any(c.startswith("exercises/01_") for c in cmd)
    with pytest.raises(ValueError, match="chapter"):
        course.lab_command(root, chapter="../x")
    with pytest.raises(ValueError, match="course folder"):
        course.lab_command(root / "tests")
    assert main(["lab", "--root", str(root), "--dry-run"]) == 0
    assert "jupyterlab --ServerApp.root_dir=" in capsys.readouterr().out


def test_student_bundle_has_no_solutions_and_refuses_a_used_folder(root, tmp_path, capsys):
    dest = tmp_path / "class"
    assert main(["bundle", "--student", str(dest), "--root", str(root)]) == 0
    assert "no solutions" in capsys.readouterr().out
    names = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert not any(n.startswith(("solutions/", "tests/", ".ci/")) for n in names)
    assert not any(n.endswith(("instructors.md", "grading.md")) for n in names)
    for sub in ("notebooks", "exercises"):
        want = {f"{sub}/{p.name}" for p in (root / sub).glob("*.ipynb")}
        assert want and want <= names
    assert {"README.md", "LICENSE", "pyproject.toml", "collapse_lab/__init__.py"} <= names
    assert not any("__pycache__" in n for n in names)
    readme = (dest / "README.md").read_text()
    assert "## Chapters" in readme and "exercises/01_" in readme and "## Set up" in readme
    assert "solutions/" not in readme and "collapse-lab check" not in readme
    for nb_path in (dest / "exercises").glob("*.ipynb"):  # no answer leaks through the exercises
        text = nb_path.read_text()
        assert "### BEGIN SOLUTION" not in text
    # a folder that exists and is not empty is refused; an empty one is fine
    assert main(["bundle", "--student", str(dest), "--root", str(root)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert len(__import__("collapse_lab.bundle").bundle.student(tmp_path / "empty", root)) > 10
    with pytest.raises(ValueError, match="course folder"):
        __import__("collapse_lab.bundle").bundle.student(tmp_path / "x", tmp_path)


def test_plots_save_only_when_asked(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    fig, _ = plt.subplots()
    monkeypatch.delenv("COLLAPSE_LAB_FIGDIR", raising=False)
    assert plots.save(fig, "x", "An empty axis.") is None
    monkeypatch.setenv("COLLAPSE_LAB_FIGDIR", str(tmp_path))
    assert plots.save(fig, "ch1-x", "An empty axis.").exists()
    with pytest.raises(ValueError, match="slug"):
        plots.save(fig, "a b/c", "An empty axis.")
    ax = plots.over_generations({"generation": [0, 1], "v": [1.0, 0.5]}, "v", logy=True)
    assert ax.get_yscale() == "log"
    plt.close("all")


def test_widgets_fall_back_to_a_static_figure(monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setenv("COLLAPSE_LAB_STATIC", "1")
    seen = []

    def draw(M, dist):
        seen.append((M, dist))
        return plt.figure()

    widgets.explore(draw, M=[10, 100], dist=["gaussian", "student-t"])
    assert seen == [(10, "gaussian")]
    assert not widgets.interactive_available()
    with pytest.raises(ValueError, match="control 'M'"):
        widgets.explore(draw, M=[])
    with pytest.raises(TypeError):
        widgets.explore(3)
    plt.close("all")


def test_check_core_messages(capsys):
    checks.passed("fine")
    assert capsys.readouterr().out.startswith("\u2713 fine")
    with pytest.raises(AssertionError, match="expected: 4") as e:
        checks.expect(False, "square(2)", 4, 5, "multiply")
    assert "got:      5" in str(e.value) and "hint: multiply" in str(e.value)

    def todo(x):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match="not written yet"):
        checks.call(todo, 1)
    with pytest.raises(AssertionError, match="ZeroDivisionError"):
        checks.call(lambda x: 1 / x, 0)
    with pytest.raises(AssertionError, match="expected a function"):
        checks.call(3)
    assert checks.close([1.0, 2.0], [1.0, 2.0 + 1e-12]) and not checks.close([1.0], [1.0, 2.0])
    assert not checks.close("abc", 1.0)


def test_cli_build_exercises_check_reports_up_to_date(capsys):
    assert main(["build-exercises", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_cli_reports_user_errors_in_one_line(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nope.ipynb"), "--timeout", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("collapse-lab check: error:") and "Traceback" not in err


def _chromium():
    if not shutil.which("chromium") and not Path("/usr/bin/chromium").exists():
        pytest.skip("chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    return sync_api, shutil.which("chromium") or "/usr/bin/chromium"


RAW_MATH = re.compile(r"\$\$.+?\$\$|(?<![\\\w])\$[^$\s][^$\n]*?\$", re.S)
WAIT_MATH = """async () => {
  if (!window.MathJax || !MathJax.Hub) return -1;
  // the start-up typeset first (a hook already fired runs at once), then anything queued after it
  await new Promise(done => MathJax.Hub.Register.StartupHook("End", done));
  await new Promise(done => MathJax.Hub.Queue(done));
  return document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_Preview + script').length;
}"""
MARKDOWN_TEXT = "() => Array.from(document.querySelectorAll('.jp-RenderedMarkdown, .card, header'))" \
                ".map(e => e.innerText).join('\\n')"


def test_pages_render_math_offline_in_chromium(root, tmp_path):
    """Every chapter page (the lecture notebooks rendered as the course build renders them; and the executed
    pages of ``build/`` when a build exists) shows no raw ``$...$`` in Chromium with the network cut off."""
    sync_api, chromium = _chromium()
    if course.mathjax_source() is None:
        pytest.fail("jupyter-server-mathjax is not installed (a dependency of the package)")
    site = tmp_path / "site"
    site.mkdir()
    course.install_mathjax(site)
    pages = []
    for i, p in enumerate(sorted((root / "notebooks").glob("[0-9]*.ipynb"))):
        nb = nbformat.read(p, as_version=4)
        if i:  # the math is in the Markdown: the other chapters without their code render several times faster
            nb.cells = [c for c in nb.cells if c.cell_type == "markdown"]
        page = site / f"{p.stem}.html"
        page.write_text(course.notebook_html(nb), encoding="utf-8")
        pages.append(page)
    home = course.write_home(root / "notebooks", site, "quick", {})
    built = root / "build"
    if (built / "index.html").exists() and (built / "mathjax" / "MathJax.js").exists():
        pages += sorted(built.glob("[0-9]*.html"))
    shots = root / "build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    typeset_total = 0
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
            # no network: anything not on disk is refused, so math must come from build/mathjax
            ctx.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                      else route.abort())
            tab = ctx.new_page()
            for page in [home, *pages]:
                tab.goto(page.as_uri(), wait_until="load")
                typeset = tab.evaluate(WAIT_MATH)
                assert typeset >= 0, f"{page.name}: MathJax did not load"
                text = tab.evaluate(MARKDOWN_TEXT)
                raw = RAW_MATH.findall(text)
                assert not raw, f"{page.name}: raw math left in the rendered text: {raw[:5]}"
                typeset_total += typeset
                if page == home:
                    tab.screenshot(path=str(shots / "home.png"))
                elif page == pages[0]:
                    tab.screenshot(path=str(shots / "chapter.png"))
        finally:
            browser.close()
    assert typeset_total > 0, "MathJax typeset no formula in any chapter"
    assert (shots / "home.png").stat().st_size > 10_000 and (shots / "chapter.png").stat().st_size > 10_000


def test_the_language_model_base_is_trained_by_one_process_at_a_time(tmp_path, monkeypatch):
    # two builds (or a build and a test) asking for a missing base at once: one trains, the other waits
    import threading

    from collapse_lab import lm

    monkeypatch.setenv(lm.CACHE_ENV, str(tmp_path))
    inside, most, lock = [0], [0], threading.Lock()

    def fake_ensure(profile=None):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        threading.Event().wait(0.3)
        with lock:
            inside[0] -= 1
        return "trained"

    monkeypatch.setattr(lm, "ensure_base", fake_ensure)
    threads = [threading.Thread(target=lm.base_ready, args=("quick",)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1 and list(tmp_path.glob("*.lock"))


def test_home_page_gives_an_exercises_only_notebook_its_own_card(tmp_path):
    """The capstone has exercises but no lecture: the home page still leads to it (and not twice)."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "exercises").mkdir()
    nbformat.write(_chapter("print(1)"), tmp_path / "notebooks" / "09_tiny.ipynb")
    ex = _chapter("from collapse_lab import checks\nchecks.ch1.tail_alarm(tail_alarm)",
                  OPENING.replace("Chapter 9 · Tiny chapter", "Capstone: tiny forensics"))
    nbformat.write(ex, tmp_path / "exercises" / "10_tiny_capstone.ipynb")
    nbformat.write(_chapter("print(2)"), tmp_path / "exercises" / "09_tiny.ipynb")
    (tmp_path / "build").mkdir()
    page = course.write_home(tmp_path / "notebooks", tmp_path / "build", "quick", {}).read_text()
    cards = re.findall(r"<section class='card ([\w-]+)'>.*?<h2>(.*?)</h2>", page)
    assert cards == [("not-run", "Tiny chapter"), ("exercises-only", "Capstone: tiny forensics")]
    assert "exercises/10_tiny_capstone.html" in page and (tmp_path / "build/exercises/10_tiny_capstone.html").exists()
