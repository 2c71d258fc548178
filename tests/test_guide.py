"""The closing part's remedy map (plasticity_sim.guide): its cells are the parts' own paired results,
each setting is its own Holm family, absent methods say "not run", and its figure is readable.

Reads only the shipped results (a few seconds); nothing trains.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from matplotlib.text import Text

from plasticity_sim import stats
from plasticity_sim.continual import remedies as keeping
from plasticity_sim.continual import studies as regression
from plasticity_sim.dash import cpu_study
from plasticity_sim.guide import figures
from plasticity_sim.guide import remedy_map as rm
from plasticity_sim.hare_tortoise import studies as hare

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cells():
    return rm.remedy_map()


@pytest.fixture(scope="module")
def by(cells):
    return rm.lookup(cells)


def _same(cell, ci, scale=1.0):
    assert cell["mean"] == pytest.approx(scale * ci.mean, abs=1e-9)
    assert cell["low"] == pytest.approx(scale * ci.low, abs=1e-9)
    assert cell["high"] == pytest.approx(scale * ci.high, abs=1e-9)
    assert cell["n"] == ci.n


# ----------------------------------------------------------------------------- the parts' own numbers
@pytest.mark.parametrize("arm,method", [("mlp", "dash"), ("cnn", "sp"), ("cnn", "l2_init")])
def test_dash_cells_are_the_cpu_study_table(by, arm, method):
    row = next(r for r in cpu_study.arm_table(arm, baseline="warm") if r["method"] == method)
    cell = by[(method, arm)]
    _same(cell, row["diff"])
    assert cell["cost_ratio"] == pytest.approx(row["steps_ratio"]) and cell["cost"] == "total SGD steps"


def test_continual_cells_are_the_parts_paired_table(by, cells):
    """Same numbers as the part's own table. The map's permuted column also holds the map's own
    study (``continual/map_permuted``), so its Holm family is larger than the part's: a verdict can
    only be more cautious than the part's, never the other way round."""
    perm = keeping.load_keeping_file("permuted")
    rows = {r["arm"]: r for r in keeping.paired_table(perm, "online_acc", "last")}
    words = {"higher": "above", "lower": "below", "no measurable difference": "no measurable difference"}
    family = by[("fire", "permuted")]["family"]
    assert family == (len(rows) - 1) + (len(keeping.MAP_TASK_ARMS) - 1)      # both studies' arms, less backprop
    for arm, method in (("fire", "fire"), ("clip", "weight_clipping"), ("cbp", "cbp"), ("ln_wd", "ln_wd")):
        cell = by[(method, "permuted")]
        assert cell["mean"] == pytest.approx(100 * rows[arm]["diff"], abs=1e-9)
        assert (cell["low"], cell["high"]) == pytest.approx((100 * rows[arm]["lo"], 100 * rows[arm]["hi"]), abs=1e-9)
        assert cell["p_holm"] >= rows[arm]["p_holm"] - 1e-12
        if cell["verdict"] != "no measurable difference":
            assert cell["verdict"] == words[rows[arm]["verdict"]], arm


def test_map_studies_share_the_settings_baselines(monkeypatch):
    """The map's own studies re-run each setting's baseline; it must be the shipped one, run for run."""
    for study in ("permuted", "class_incremental"):
        shipped = keeping.load_keeping_file(study)["arms"]["bp"]["runs"]
        extra = keeping.load_keeping_file(f"map_{study}")["arms"]["bp"]["runs"]
        assert extra.keys() == shipped.keys()
        assert all((extra[k]["config"], extra[k]["columns"]) == (shipped[k]["config"], shipped[k]["columns"]) for k in extra)
    data = keeping.load_keeping_file("map_permuted")
    broken = {**data, "arms": {**data["arms"], "bp": {"runs": {
        s: {**r, "columns": {**r["columns"], "online_acc": [0.0] * len(r["columns"]["online_acc"])}}
        for s, r in data["arms"]["bp"]["runs"].items()}}}}
    original = keeping.load_keeping_file
    # a map study whose baseline differs from the shipped one is refused, naming the file
    monkeypatch.setattr(keeping, "load_keeping_file",
                        lambda study, *a, **k: broken if study == "map_permuted" else original(study, *a, **k))
    with pytest.raises(ValueError, match="keeping_map_permuted.json: backprop seed"):
        rm._continual("permuted", "online_acc", "last")


def test_chunked_remedies_pair_with_the_dash_studys_warm_start(by):
    ch = keeping.load_keeping_file("chunked")
    row = {r["arm"]: r for r in keeping.paired_table(ch, "test_acc", "end")}["fire"]
    assert by[("fire", "mlp")]["mean"] == pytest.approx(100 * row["diff"], abs=1e-9)
    steps = keeping.matrix(ch, "fire", "steps").sum(1) / keeping.matrix(ch, "warm", "steps").sum(1)
    assert by[("fire", "mlp")]["cost_ratio"] == pytest.approx(float(np.mean(steps)))


def test_hare_tortoise_cells_are_the_parts_tables(by):
    records = hare.load_records("compare")["records"] + hare.load_records("table7")["records"]
    order = ["cold", "warm", "sp_init", "hare_tortoise", "redo"]
    rows = {r["method"]: r for r in hare.comparison_table(records, order)}
    for m in ("sp_init", "hare_tortoise", "redo"):
        _same(by[(m, "noisy")], rows[m]["ci_vs_warm"])
    growing = hare.load_continual("continual_full")["records"]
    rows = {r["method"]: r for r in hare.continual_table(growing, ["cold", "warm", "sp_init", "hare_tortoise"])}
    for m in ("cold", "sp_init", "hare_tortoise"):
        _same(by[(m, "growing")], rows[m]["ci_vs_warm"])
        assert by[(m, "growing")]["verdict"] == rows[m]["verdict_vs_warm"]    # the same family of three


def test_regression_cell_is_the_parts_headline(by):
    h = regression.regression_headline()
    cell = by[("cbp", "regression")]
    _same(cell, h["cbp_minus_bp_last"])
    # an error: "below" backprop is the improvement
    assert cell["verdict"] == "below" and cell["better"] is True and cell["unit"] == "squared error"


# ----------------------------------------------------------------------------- Holm per setting
def test_each_setting_is_one_holm_family(cells):
    run = [c for c in cells if c["verdict"] != "not run"]
    for s in rm.SETTINGS:
        col = [c for c in run if c["setting"] == s.key]
        assert col and all(c["family"] == len(col) for c in col), s.key
        assert [c["p_holm"] for c in col] == pytest.approx(stats.holm([c["p"] for c in col])), s.key
        for c in col:
            want = "no measurable difference" if c["p_holm"] > 0.05 else ("above" if c["mean"] > 0 else "below")
            assert c["verdict"] == want
    # one family for the whole map would give other verdicts: the per-setting families matter
    pooled = stats.holm([c["p"] for c in run])
    assert any((p > 0.05) != (c["verdict"] == "no measurable difference") for c, p in zip(run, pooled))


def test_correction_can_take_a_verdict_away(by):
    # S&P (Gaussian) on the MLP: its interval lies above 0 on its own, not after the column's correction
    c = by[("sp", "mlp")]
    assert c["low"] > 0 and c["p"] < 0.05 < c["p_holm"] and c["verdict"] == "no measurable difference"


# ----------------------------------------------------------------------------- shape and names
def test_every_method_has_a_cell_in_every_setting(cells):
    assert len(cells) == len(rm.ROWS) * len(rm.SETTINGS)
    assert {tuple(sorted(c)) for c in cells} == {tuple(sorted(cells[0]))}      # one set of keys
    assert "warm" not in rm.ROWS and "bp" not in rm.ROWS                        # baselines are not rows


@pytest.mark.parametrize("method,setting", [("hare_tortoise", "regression"), ("fire", "cnn"), ("dash", "regression"),
                                            ("sp_continual", "cnn"), ("augmentation", "growing")])
def test_absent_methods_say_not_run(by, method, setting):
    c = by[(method, setting)]
    assert c["verdict"] == "not run"
    assert all(c[k] is None for k in ("mean", "low", "high", "n", "p", "p_holm", "better", "cost_ratio"))


def test_baselines(cells):
    base = {c["setting"]: c["baseline"] for c in cells}
    assert all(base[s] == "warm start" for s in rm.WARM_START)
    assert all(base[s] == "backprop" for s in rm.CONTINUAL)
    assert set(rm.WARM_START) | set(rm.CONTINUAL) == {s.key for s in rm.SETTINGS}


def test_one_distinct_name_per_method_from_the_glossary():
    labels = list(rm.ROWS.values())
    assert len(set(labels)) == len(labels)
    sp = [rm.ROWS[m] for m in ("sp", "sp_init", "sp_continual")]
    assert sp == ["S&P (Gaussian)", "S&P (toward init)", "S&P (every step)"]
    glossary = (ROOT / "book" / "glossary.md").read_text()
    # the glossary names every row (since it has an entry for the every-step L2, with no exception)
    assert [x for x in labels if x not in glossary] == []


def test_to_html_leaves_out_rows_not_run_there(cells, by):
    text = rm.to_html(cells, rm.CONTINUAL)
    assert "augmentation" not in text and "L2 init (Kumar)" not in text
    assert rm.effect_text(by[("fire", "permuted")]) in text and "not run" in text
    assert text.count("<tr>") == 1 + sum(any(by[(m, s)]["verdict"] != "not run" for s in rm.CONTINUAL)
                                         for m in rm.ROWS)


def test_a_chunked_study_with_another_baseline_is_refused(monkeypatch):
    real = keeping.load_keeping_file

    def shifted(study, *args, **kwargs):
        data = copy.deepcopy(real(study, *args, **kwargs))
        if study == "chunked":
            data["arms"]["warm"]["runs"]["0"]["columns"]["test_acc"][-1] += 0.01
        return data

    monkeypatch.setattr(keeping, "load_keeping_file", shifted)
    with pytest.raises(ValueError, match="no longer share a baseline"):
        rm.remedy_map()


# ----------------------------------------------------------------------------- the figure
def _texts(fig):
    fig.canvas.draw()
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and t.figure is fig]


def test_figure_fits_the_column_with_fonts_of_at_least_9pt(cells):
    fig = figures.plot_map(cells)
    w, _ = fig.get_size_inches()
    assert fig.dpi == figures.FIG_DPI == 96 and w <= 7.05
    small = [(t.get_fontsize(), t.get_text()) for t in _texts(fig) if t.get_fontsize() < figures.MIN_FONT_PT]
    assert not small, small
    # every run cell's effect is written in the grid; the legend sits below it, off the cells
    shown = {t.get_text() for t in _texts(fig)}
    assert "+37.5" in shown and "−14.4" in shown
    (legend,) = fig.legends
    assert legend.get_window_extent().y1 <= fig.axes[0].get_window_extent().y0 + 1


def test_figure_refuses_a_width_beyond_the_column(cells):
    with pytest.raises(ValueError, match="wider than the book's column"):
        figures.plot_map(cells, width=8.0)
