import nbformat
import pytest

from collapse_lab import checks, course, plots, widgets
from collapse_lab.cli import main


def test_course_build_writes_html_figures_and_timings(tmp_path, capsys):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import matplotlib.pyplot as plt\nfrom collapse_lab import plots, active_profile\n"
        "fig, ax = plt.subplots(); ax.plot([1, 2, 3]); plots.save(fig, 'ch0-line'); print(active_profile())")]
    nbformat.write(nb, nbs / "01_tiny.ipynb")
    out = tmp_path / "build"
    assert main(["course", "--profile", "quick", "--notebooks", str(nbs), "--out", str(out)]) == 0
    assert "index.html" in capsys.readouterr().out
    assert (out / "01_tiny.html").stat().st_size > 1000
    assert (out / "figures" / "01_tiny" / "ch0-line.png").exists()
    csv = (out / "timings.csv").read_text().splitlines()
    assert csv[0] == "notebook,seconds,profile" and csv[1].startswith("01_tiny.ipynb,") and csv[1].endswith(",quick")
    executed = nbformat.read(out / "01_tiny.ipynb", as_version=4)
    assert "quick" in executed.cells[0].outputs[0]["text"]
    with pytest.raises(ValueError, match="no notebooks"):
        course.build(nbs, out, profile="quick", only=["zzz"])


def test_plots_save_only_when_asked(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    fig, _ = plt.subplots()
    monkeypatch.delenv("COLLAPSE_LAB_FIGDIR", raising=False)
    assert plots.save(fig, "x") is None
    monkeypatch.setenv("COLLAPSE_LAB_FIGDIR", str(tmp_path))
    assert plots.save(fig, "ch1-x").exists()
    with pytest.raises(ValueError, match="slug"):
        plots.save(fig, "a b/c")
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
    assert main(["check", str(tmp_path / "nope.ipynb")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("collapse-lab check: error:") and "Traceback" not in err
