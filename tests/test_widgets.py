"""Explorers: labelled drop-down controls ordered as numbers are, the default preselected, a redraw on every change, no progress bars
inside; the static fallback returns the same first figure. (The live page itself is tested in tests/browser/.)"""
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from collapse_lab import runtime, tails, widgets  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


@pytest.fixture
def live(monkeypatch):
    """Pretend to be a live kernel; collect what explore displays."""
    import IPython.display

    shown = []
    monkeypatch.setattr(widgets, "interactive_available", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    yield shown
    plt.close("all")


def _draw_recorder():
    calls = []

    def draw(M, dist):
        calls.append({"M": M, "dist": dist, "silenced": runtime._silenced > 0})
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, M])
        ax.set_title(f"{dist} {M}")
        return fig

    return draw, calls


def test_options_sort_numbers_and_keep_the_first_as_default():
    assert widgets.options("M", [100, 20, 1000]) == ([20, 100, 1000], 100)
    assert widgets.options("tol", [0.2, 0.1, 0.2]) == ([0.1, 0.2], 0.2)
    assert widgets.options("dist", ["t", "gaussian", "t"]) == (["t", "gaussian"], "t")
    import numpy as np

    opts, default = widgets.options("N", np.array([500, 250]))
    assert opts == [250, 500] and default == 500 and type(default) is int
    for bad in ([], "abc", 3, None):
        with pytest.raises(ValueError, match="control 'N'"):
            widgets.options("N", bad)


def test_live_explorer_shows_controls_and_redraws(live):
    draw, calls = _draw_recorder()
    before = set(plt.get_fignums())  # figures other tests of this worker left open are not the explorer's
    fig = widgets.explore(draw, M=[100, 20, 1000], dist=["student-t", "gaussian"])
    assert isinstance(fig, plt.Figure) and fig.axes[0].get_title() == "student-t 100"
    assert calls == [{"M": 100, "dist": "student-t", "silenced": True}]
    (box,) = live
    assert widgets.CSS_CLASS in box._dom_classes
    controls, status, out = box.children
    m, dist = controls.children
    # labelled drop-downs (a slider's handle has no accessible name): numbers sorted, the default preselected
    assert type(m).__name__ == "Dropdown" and list(m.options) == [("20", 20), ("100", 100), ("1000", 1000)]
    assert m.value == 100 and m.description == "M"
    assert type(dist).__name__ == "Dropdown" and dist.value == "student-t"
    assert len(out.outputs) == 1 and "image/png" in out.outputs[0]["data"]
    first_png = out.outputs[0]["data"]["image/png"]

    m.value = 1000
    assert calls[-1] == {"M": 1000, "dist": "student-t", "silenced": True}
    assert len(out.outputs) == 1 and out.outputs[0]["data"]["image/png"] != first_png
    dist.value = "gaussian"
    assert calls[-1]["dist"] == "gaussian" and calls[-1]["M"] == 1000
    # nothing left for the inline backend to show again
    assert status.value == "" and set(plt.get_fignums()) <= before


def test_an_error_while_redrawing_is_shown_not_raised(live, capsys, monkeypatch):
    import IPython
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setattr(IPython, "get_ipython", InteractiveShell.instance)
    def draw(a):
        if a == 2:
            raise ValueError("a = 2 is not drawable")
        return plt.figure()

    widgets.explore(draw, a=[1, 2])
    (box,) = live
    box.children[0].children[0].value = 2
    assert box.children[2].outputs == ()
    assert "a = 2 is not drawable" in capsys.readouterr().out  # IPython's traceback (into the output area live)


def test_first_draw_errors_fail_the_cell(live):
    def draw(a):
        raise RuntimeError("broken")

    with pytest.raises(RuntimeError, match="broken"):
        widgets.explore(draw, a=[1, 2])


def test_static_mode_draws_once_and_returns_the_figure(monkeypatch):
    monkeypatch.setenv("COLLAPSE_LAB_STATIC", "1")
    draw, calls = _draw_recorder()
    fig = widgets.explore(draw, M=[100, 20], dist=["gaussian"])
    assert isinstance(fig, plt.Figure) and calls == [{"M": 100, "dist": "gaussian", "silenced": True}]
    with pytest.raises(TypeError, match="draw must"):
        widgets.explore(3, M=[1])
    with pytest.raises(ValueError, match="at least one control"):
        widgets.explore(draw)
    with pytest.raises(TypeError, match="must return a matplotlib Figure"):
        widgets.explore(lambda M: 3, M=[1])
    plt.close("all")


def test_progress_is_silent_inside_an_explorer(monkeypatch):
    monkeypatch.delenv("COLLAPSE_LAB_QUIET", raising=False)
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    assert not runtime.progress_silent()
    with runtime.silence_progress():
        with runtime.silence_progress():
            assert runtime.progress(range(2)).disable
        assert runtime.progress_silent()
    assert not runtime.progress_silent()


def test_tails_explorer_keeps_the_original_visible_when_a_model_spikes(live):
    # 300 fits of 20 points: KDE chains collapse to spikes (density ~40) far above the original's 0.29
    fig = tails.explore(M=[20], generations=[300], distribution=["uniform"], chains=5)
    ax = fig.axes[0]
    assert ax.get_ylim()[1] == pytest.approx(10 / (2 * 3 ** 0.5)) and "clipped" in ax.get_title()
    assert widgets.CSS_CLASS in live[0]._dom_classes
    calm = tails.draw_explorer(M=1000, generations=1, distribution="gaussian", chains=5)
    assert "clipped" not in calm.axes[0].get_title()


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT).as_posix() for d in ("notebooks", "solutions", "exercises")
                                        for p in (ROOT / d).glob("*.ipynb")))
def test_notebooks_carry_the_installed_kernel_metadata(path):
    """What JupyterLab writes on opening (kernelspec of `make install`, ipykernel's language_info), so opening a
    notebook does not mark it modified. The Python version is the machine's: tests/browser/run.py checks it there."""
    from ipykernel.ipkernel import IPythonKernel

    meta = json.loads((ROOT / path).read_text())["metadata"]
    fix = "run `python tests/browser/kernelspec.py`"
    assert meta.get("kernelspec") == KERNELSPEC, f"{path}: {fix}"
    info, want = dict(meta.get("language_info", {})), json.loads(json.dumps(IPythonKernel.language_info))
    assert isinstance(info.pop("version", None), str) and want.pop("version"), f"{path}: {fix}"
    assert info == want, f"{path}: {fix}"
    makefile = (ROOT / "Makefile").read_text()
    assert f'--name {KERNELSPEC["name"]} --display-name "{KERNELSPEC["display_name"]}"' in makefile


def test_browser_test_finds_what_it_needs_in_the_files():
    """tests/browser/run.py reads its expectations from the notebooks: figures, explorers, the exercise's answer."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("browser_run", ROOT / "tests" / "browser" / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    # a chapter without figures (a course map) expects none; the chapters with experiments expect theirs
    assert run.expected_figures(ROOT / "notebooks" / "01_sampling_loses_the_tails.ipynb") >= 1
    exercise = [s for s in run.code_cells(ROOT / run.EXERCISE) if "raise NotImplementedError" in s][0]
    answer = run.solution_for(exercise, run.EXERCISE)
    assert "NotImplementedError" not in answer and "### BEGIN SOLUTION" not in answer
