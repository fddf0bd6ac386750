"""The two-stage criterion (collapse_lab.stages) on hand-made histories, on bad input, and its files."""
from __future__ import annotations

import json

import numpy as np
import pytest

from collapse_lab import stages
from collapse_lab.loop import History
from collapse_lab.validate import ArgumentError


def hist(**cols) -> History:
    n = len(next(iter(cols.values())))
    return History([{"generation": g, **{k: v[g] for k, v in cols.items()}} for g in range(n)])


def gaussian(var, mean=None) -> History:
    var = np.asarray(var, float)
    return hist(mean=np.zeros_like(var) if mean is None else np.asarray(mean, float), var=var)


ROW = dict(chapter=1, experiment="hand-made", sources="S", remedy="accumulate")


def test_tail_alarm_is_the_first_generation_at_half_the_reference():
    assert stages.tail_alarm([10, 8, 6, 5, 7, 2], ref=10) == 3          # 5 <= 0.5 * 10, first passage
    assert stages.tail_alarm([10, 8, 6, 5.1], ref=10) is None
    assert stages.tail_alarm([4, 4, 4], ref=10) == 0                     # lost against the real data at once
    assert stages.tail_alarm([10, 9, 7], ref=10, loss=0.3) == 2


def test_bulk_alarm_fires_on_a_move_either_way():
    assert stages.bulk_alarm([1.0, 0.9, 0.7, 0.5, 0.4], ref=1.0) == 3    # variance halved
    assert stages.bulk_alarm([1.0, 1.2, 1.6], ref=1.0) == 2              # or up by half
    assert stages.bulk_alarm([1.0, 1.2, 1.4], ref=1.0) is None
    assert stages.bulk_alarm([2.0, 2.5, np.nan, 3.1], ref=2.0) == 3      # a NaN (not measured) never fires


def test_bulk_moved_is_the_alarms_condition_value_by_value():
    """bulk_moved answers for one value (a chain checked as it runs) what bulk_alarm's first passage reads."""
    b = [1.0, 0.9, 0.7, 0.5, 0.4, 1.5, np.nan, 1.49]
    per = [stages.bulk_moved(x, 1.0) for x in b]
    assert per == [False, False, False, True, True, True, False, False]
    assert all(type(x) is bool for x in per)
    assert stages.bulk_moved(b, 1.0).tolist() == per                     # the same answers for an array
    assert stages.bulk_alarm(b, ref=1.0) == per.index(True)
    assert stages.bulk_moved(3.1, 2.0) and not stages.bulk_moved(3.1, 2.0, move=0.6)
    with pytest.raises(ArgumentError, match="ref must be"):
        stages.bulk_moved(1.0, 0.0)
    with pytest.raises(ArgumentError, match="b must be"):
        stages.bulk_moved("1.0", 1.0)


def test_verdict_is_the_furthest_stage_reached():
    assert stages.verdict(None, None) == "no collapse yet"
    assert stages.verdict(4, None) == "early collapse"
    assert stages.verdict(4, 30) == "late collapse"
    assert stages.verdict(None, 30) == "late collapse"


def test_gaussian_tail_mass_is_two_percent_for_the_original_and_shrinks_with_the_variance():
    m = stages.gaussian_tail_mass([0.0, 0.0, 0.0], [1.0, 0.5, 0.0])
    assert m[0] == pytest.approx(0.02) and m[1] < 0.005 and m[2] == 0.0
    assert stages.gaussian_tail_mass(5.0, 0.0)[()] == 1.0                 # a point mass beyond the 99th percentile


def test_gaussian_chain_goes_early_then_late():
    # variance 1 -> 0.8 (tail mass below 1%: the tails have halved) -> 0.45 (the bulk has moved)
    h = gaussian([1.0, 0.95, 0.8, 0.7, 0.45, 0.3])
    assert stages.alarms(h, "gaussian") == (2, 4)
    r = stages.row(h, "gaussian", **ROW)
    assert (r["tail_alarm"], r["bulk_alarm"], r["verdict"]) == (2, 4, "late collapse")
    assert set(stages.KEYS) == set(r) and r["chapter"] == "1" and r["generations"] == 5 and r["chains"] == 1
    assert stages.row(gaussian([1.0, 0.95, 0.8, 0.7]), "gaussian", **ROW)["verdict"] == "early collapse"
    assert stages.row(gaussian([1.0, 1.0, 0.95]), "gaussian", **ROW)["verdict"] == "no collapse yet"


def test_reference_is_the_real_value_when_given_else_generation_0():
    h = hist(alive=[300, 200, 150, 140], entropy=[4.4, 4.3, 3.0, 2.1])
    assert stages.alarms(h, "zipf") == (2, 3)                               # against generation 0: 300 and 4.4
    assert stages.alarms(h, "zipf", tail_ref=1000, bulk_ref=4.7) == (0, 3)  # against the law: K = 1000 categories
    lm = hist(vocab=[1000, 700, 450], test_ppl=[30.0, 36.0, 46.0])
    assert stages.alarms(lm, "lm") == (2, 2)


def test_gmm_tail_is_the_smallest_modes_mass_and_bulk_the_total_variance_against_the_original():
    h = hist(distance=[0.01, 0.03, 0.05], variance=[10.0, 8.0, 5.2], mass_0=[0.6, 0.62, 0.7],
             mass_1=[0.3, 0.3, 0.28], mass_2=[0.09, 0.05, 0.01])
    h.meta.update(original_mass=[0.59, 0.3, 0.1], original_variance=10.6)
    assert stages.alarms(h, "gmm") == (1, 2)      # 0.05 <= 0.5 * 0.1; |5.2 - 10.6| >= 0.5 * 10.6
    del h.meta["original_variance"]               # no known original: generation 0 is the reference
    assert stages.alarms(h, "gmm") == (1, None)


def test_vae_tail_is_the_rarest_class_share():
    shares = {f"share_{k}": [0.1, 0.1, 0.1] for k in range(10)}
    shares["share_7"] = [0.09, 0.06, 0.04]
    h = hist(distance=[10.0, 12.0, 14.0], **shares)
    assert stages.alarms(h, "vae") == (2, None)
    assert stages.alarms(h, "vae", tail_ref=0.1) == (2, None)


def test_many_chains_give_the_median_generation():
    hs = [gaussian([1, 0.8, 0.6, 0.4]), gaussian([1, 0.8, 0.45, 0.4]), gaussian([1, 1, 1, 1])]
    r = stages.row(hs, "gaussian", **ROW)
    assert r["chains"] == 3 and r["bulk_alarm"] == 3   # alarms 3, 2, never -> median 3
    r = stages.row(hs[1:], "gaussian", **ROW)            # 2 chains: the lower median is the one that fired
    assert r["bulk_alarm"] == 2
    assert stages.row([gaussian([1, 1]), gaussian([1, 1]), gaussian([1, 0.4])], "gaussian", **ROW)["bulk_alarm"] \
        is None                                          # most chains never raise it


def test_linreg_has_no_tail():
    h = hist(error=[0.1, 0.12, 0.2])
    assert stages.alarms(h, "linreg") == (None, 2)
    with pytest.raises(ArgumentError, match="no tail statistic"):
        stages.alarms(h, "linreg", tail_ref=1.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(family="weibull"), "family must be one of"),
    (dict(sources="X"), "sources must name"),
    (dict(sources=[]), "sources must name"),
    (dict(chapter=None), "chapter must be"),
    (dict(chapter=True), "chapter must be"),
    (dict(experiment=""), "experiment must be"),
    (dict(remedy=3), "remedy must be"),
    (dict(tail_ref=0), "reference"),
    (dict(bulk_ref=float("nan")), "reference"),
])
def test_row_bad_input(kwargs, match):
    args = dict(family="gaussian", **ROW)
    args.update(kwargs)
    with pytest.raises(ArgumentError, match=match):
        stages.row(gaussian([1.0, 0.5]), **args)


def test_bad_histories():
    with pytest.raises(ArgumentError, match="loop.History"):
        stages.row({"var": [1, 2]}, "gaussian", **ROW)
    with pytest.raises(ArgumentError, match="loop.History"):
        stages.row([], "gaussian", **ROW)
    with pytest.raises(ArgumentError, match="empty"):
        stages.alarms(History(), "gaussian")
    with pytest.raises(ValueError, match="no column 'vocab'"):
        stages.alarms(hist(test_ppl=[1.0, 2.0]), "lm")
    with pytest.raises(ValueError, match="share_0"):
        stages.alarms(hist(distance=[1.0, 2.0]), "vae")
    with pytest.raises(ValueError, match="positive number"):
        stages.alarms(hist(alive=[0, 0], entropy=[1.0, 1.0]), "zipf")    # a relative loss of 0 is undefined
    with pytest.raises(ArgumentError, match="ref must be"):
        stages.tail_alarm([1, 2], ref=-1)
    with pytest.raises(ArgumentError, match="loss must be"):
        stages.tail_alarm([1, 2], ref=1, loss=1.5)
    with pytest.raises(ArgumentError, match="rows must be"):
        stages.show([])
    with pytest.raises(ArgumentError, match=r"rows\[0\] must be a row"):
        stages.table([{"chapter": "1"}])


def test_show_prints_a_short_table_and_writes_json_during_the_build(tmp_path, monkeypatch, capsys):
    a = stages.row(gaussian([1.0, 0.8, 0.4]), "gaussian", **ROW)
    b = stages.row(gaussian([1.0, 1.0]), "gaussian", **{**ROW, "experiment": "flat", "chapter": "2"})
    monkeypatch.delenv("COLLAPSE_LAB_FIGDIR", raising=False)
    stages.show([a, b])
    out = capsys.readouterr().out
    assert "late collapse" in out and "never" in out and max(map(len, out.splitlines())) <= 110
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv("COLLAPSE_LAB_FIGDIR", str(tmp_path / "01_x"))
    stages.show([a, b])
    stages.show([a])                                          # the same row again replaces it
    assert json.loads((tmp_path / "01_x" / "stages-1.json").read_text()) == [a]
    assert [r["experiment"] for r in stages.read(tmp_path)] == ["hand-made", "flat"]
    (tmp_path / "stages-9.json").write_text("{not json")
    with pytest.warns(UserWarning, match="skipped"):
        assert len(stages.read(tmp_path)) == 2


def test_home_page_shows_the_measured_table(tmp_path, monkeypatch):
    import nbformat

    from collapse_lab import course

    nbs, site = tmp_path / "notebooks", tmp_path / "site"
    nbs.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Course map\n\nA map.")]),
                   nbs / "00_course_map.ipynb")
    assert course.stages_html(site) == ""                     # no chapter wrote rows: no table
    a = stages.row(gaussian([1.0, 0.8, 0.7]), "gaussian", **{**ROW, "experiment": "<b>chain</b>"})
    b = stages.row([gaussian([1.0, 0.4])] * 3, "gaussian", **{**ROW, "chapter": "2"})
    monkeypatch.setenv("COLLAPSE_LAB_FIGDIR", str(site / "figures" / "02_x"))
    stages.show([b])
    monkeypatch.setenv("COLLAPSE_LAB_FIGDIR", str(site / "figures" / "01_x"))
    stages.show([a])
    page = course.write_home(nbs, site, "quick", {}).read_text()
    table = page[page.index("<table"):page.index("</table>")]
    assert "<caption>" in table and table.count("scope='col'") == 7
    assert table.index("&lt;b&gt;chain&lt;/b&gt;") < table.index("median of 3 chains")   # escaped, in chapter order
    assert "not raised by generation 2" in table and "early collapse" in table and "late collapse" in table


def test_table_fits_a_notebook_line_whatever_the_names():
    long = {**ROW, "chapter": "4(a)", "experiment": "x" * 80, "remedy": "y" * 80, "sources": "S, E, A"}
    r = stages.row(gaussian([1.0, 0.8, 0.4]), "gaussian", **long)
    lines = stages.table([r, {**r, "tail_alarm": None, "bulk_alarm": None, "verdict": "no collapse yet"}]).splitlines()
    assert len(lines) == 3 and max(map(len, lines)) <= 110, max(map(len, lines))
