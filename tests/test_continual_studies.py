"""Continual-learning protocols through the registry, and the statistics of the studies module."""

import json

import numpy as np
import pytest

from plasticity_sim.continual import studies as cs
from plasticity_sim import protocols


def test_pearson_ci_by_hand():
    r = cs.pearson_ci([1, 2, 3, 4, 5], [2, 4, 6, 8, 11])
    assert 0.99 < r["r"] <= 1 and r["lo"] < r["r"] < r["hi"] + 1e-12


def test_slow_regression_protocol_writes_and_reads_a_results_file(tmp_path):
    cfg = protocols.preset_config("tiny", protocol="slow_regression", method="cbp")
    out = tmp_path / "r.json"
    res = protocols.run_config(cfg, out=out)
    data = protocols.load_results(out)
    assert data["protocol"] == "slow_regression" and len(data["records"]) == 2
    rec = data["records"][0]
    assert len(rec["error_bins"]) == cfg.steps // cfg.bin_size and rec["replaced"] > 0
    assert data["provenance"]["torch_version"] and res["summary"] == data["summary"]
    bad = json.loads(out.read_text())
    bad["records"][0]["error_last"] += 1.0
    out.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="summary"):
        protocols.load_results(out)


@pytest.mark.parametrize("assignment, word", [("replacement_rate=-0.1", "replacement_rate"),
                                              ("decay_rate=1.0", "decay_rate"),
                                              ("maturity_threshold=-1", "maturity_threshold"),
                                              ("steps=1001", "multiple")])
def test_slow_regression_config_rejects_bad_values(assignment, word):
    from plasticity_sim import runs

    cfg = protocols.preset_config("tiny", protocol="slow_regression")
    with pytest.raises(ValueError, match=word):
        new = runs.apply_overrides(cfg, [assignment])
        runs.validate_config(new)


def test_permuted_and_class_incremental_tiny_records():
    for name, key in (("permuted", "online_acc"), ("class_incremental", "relative_acc")):
        cfg = protocols.preset_config("tiny", protocol=name, method="cbp")
        res = protocols.run_config(cfg)
        recs = res["records"]
        assert recs and all(key in r for r in recs)
        for r in recs:
            assert {"dormant_redo", "dormant_lop", "dormant_zero", "effective_rank", "stable_rank",
                    "weight_magnitude"} <= set(r)
            assert 0 <= r["dormant_redo"] <= 1 and r["effective_rank"] >= 1


def test_headline_pairs_only_matching_seeds(tmp_path):
    cfg = dict(steps=4000, bin_size=1000, flip_every=500)
    cs.run_regression_study(tmp_path, seeds=(0, 1, 2), **cfg)
    h = cs.regression_headline(tmp_path)
    assert h["n"] == 3 and h["bins"] == 4
    data = json.loads((tmp_path / "regression_cbp.json").read_text())
    data["records"][0]["seed"] = 7
    data["config"]["seeds"] = [7, 1, 2]   # a consistent file of other seeds (a damaged one is refused on load)
    (tmp_path / "regression_cbp.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"cannot pair bp with cbp by seed: cbp lacks seed\(s\) \[0\]; "
                                         r"bp lacks seed\(s\) \[7\]"):
        cs.regression_headline(tmp_path)


# ----------------------------------------------------------------------------- keeping plasticity (chapter 3)
from plasticity_sim.continual import remedies as ks  # noqa: E402


def _fake(values: dict, seeds=(0, 1, 2), column="online_acc"):
    """A results dict in the study's shape: arm -> (seeds, tasks) values of one column."""
    return {"format": ks.FORMAT, "study": "permuted", "seeds": list(seeds), "index": "task",
            "arms": {a: {"runs": {str(s): {"columns": {column: list(map(float, row))}} for s, row in zip(seeds, v)}}
                     for a, v in values.items()}}


def test_keeping_study_runs_writes_and_loads(tmp_path):
    path = ks.run_study("permuted", tmp_path, seeds=(0, 1), arms=["bp", "clip"], num_tasks=2,
                        samples_per_task=40, probe_points=10)
    data = ks.load_keeping_file("permuted", tmp_path)
    assert path.name == "keeping_permuted.json" and data["seeds"] == [0, 1]
    assert data["provenance"]["wall_time_s"] > 0 and "git_commit" in data["provenance"]
    m = ks.matrix(data, "clip", "online_acc")
    assert m.shape == (2, 2) and np.all((0 <= m) & (m <= 1))
    assert data["arms"]["clip"]["runs"]["0"]["config"]["method"] == "weight_clipping"
    rows = ks.paired_table(data, "online_acc")
    assert [r["arm"] for r in rows] == ["bp", "clip"] and "diff" in rows[1] and "diff" not in rows[0]
    # a run with a different seed set cannot be paired
    raw = json.loads(path.read_text())
    raw["arms"]["clip"]["runs"]["7"] = raw["arms"]["clip"]["runs"].pop("1")
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="seeds"):
        ks.load_keeping_file("permuted", tmp_path)


def test_paired_table_interval_and_verdicts_by_hand():
    # 3 seeds x 5 tasks; the last fifth is the last task. Differences arm - bp: clear (+0.2, +0.3,
    # +0.4: mean 0.3, sd 0.1, t(0.975, 2) = 4.303, half-width 0.248) and straddling (+0.1, +0.2, +0.3).
    bp = np.zeros((3, 5))
    up = bp.copy()
    up[:, -1] = [0.2, 0.3, 0.4]
    mixed = bp.copy()
    mixed[:, -1] = [0.1, 0.2, 0.3]
    down = -up
    rows = {r["arm"]: r for r in ks.paired_table(_fake({"bp": bp, "up": up, "mixed": mixed, "down": down}),
                                                 "online_acc", "last")}
    half = 4.303 * 0.1 / np.sqrt(3)
    assert rows["up"]["diff"] == pytest.approx(0.3) and rows["up"]["hi"] - 0.3 == pytest.approx(half, rel=1e-3)
    # the three arms against backprop are one family, Holm-corrected: "up" and "down" exclude 0 alone
    # (p = 0.036 each) but not after the correction (x3, x2), so they are "no measurable difference"
    assert rows["up"]["lo"] > 0 and rows["down"]["hi"] < 0
    assert rows["up"]["p_holm"] > 0.05 and rows["up"]["verdict"] == "no measurable difference"
    assert rows["mixed"]["verdict"] == rows["down"]["verdict"] == "no measurable difference"
    sharp = bp.copy()
    sharp[:, -1] = [0.29, 0.30, 0.31]
    two = {r["arm"]: r for r in ks.paired_table(_fake({"bp": bp, "sharp": sharp, "down": -sharp}), "online_acc")}
    assert two["sharp"]["verdict"] == "higher" and two["down"]["verdict"] == "lower"
    assert ks.fmt(rows["up"], 100) == f"+30.0 [{30 - 100 * half:+.1f}, {30 + 100 * half:+.1f}]"
    r = ks.rise(_fake({"bp": up}), "bp", "online_acc")
    assert r["first"] == 0 and r["diff"] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="part"):
        ks.window(bp, "middle")
    with pytest.raises(ValueError, match="arm"):
        ks.matrix(_fake({"bp": bp}), "cbp", "online_acc")


def test_chunked_arms_pass_the_dash_settings_explicitly_and_may_run_there():
    from plasticity_sim import methods

    cfg = ks.arm_config("chunked", "cbp", 3)
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay, cfg.max_epochs, cfg.num_chunks) == \
        ("sgd", 0.01, 0.9, 0.0, 300, 5)
    assert cfg.dataset_kwargs == {"num_samples": 10000, "train_split": 0.4} and cfg.seed == 3
    for method, _ in ks.CHUNKED_ARMS.values():
        methods.check_runs_in(method, "chunked")          # raises if the table forbids it there
    assert ks.arm_config("permuted", "ln_wd", 0).model == "mlp_ln"
    assert (ks.arm_config("adam", "adam_equal", 0).beta1, ks.arm_config("adam", "adam_equal", 0).beta2) == (0.99, 0.99)
    with pytest.raises(ValueError, match="arm"):
        ks.arm_config("chunked", "parseval", 0)
    with pytest.raises(ValueError, match="study"):
        ks.arm_config("rl", "bp", 0)


def test_keeping_figures_natural_size_and_fonts_of_at_least_9pt():
    from figure_checks import check_page_rules
    from plasticity_sim.continual import figures as F

    rng = np.random.default_rng(0)
    cols = ("online_acc", "dormant_redo", "effective_rank", "weight_magnitude")
    arms = ("bp", "l2", "sp", "cbp", "redo", "clip", "parseval", "ln_wd", "fire")
    data = {"seeds": [0, 1, 2], "index": "task",
            "arms": {a: {"runs": {str(s): {"columns": {c: list(rng.random(6)) for c in cols}} for s in range(3)}}
                     for a in arms}}
    figs = {"three arms": F.plot_remedy_curves(data, "online_acc", ["bp", "clip", "fire"], band=True),
            "nine arms, by kind": F.plot_remedy_curves(data, "online_acc"),
            "diagnostics": F.plot_diagnostics(data, ["bp", "fire"]),
            "paired": F.plot_paired(ks.paired_table(data, "online_acc"), xlabel="difference")}
    assert len(figs["three arms"].axes) == 1
    assert len([a for a in figs["nine arms, by kind"].axes if a.get_visible()]) == 4     # the four kinds of rule
    for name, fig in figs.items():
        check_page_rules(name, fig)


def test_shipped_keeping_results_load_with_five_seeds():
    for study in ks.SETTINGS:
        data = ks.load_keeping_file(study)
        assert len(data["seeds"]) >= 5 and set(data["arms"]) == set(ks.SETTINGS[study]["arms"])


# ----------------------------------------------------------------------------- chapter 1's grid table, chapter 2's figures
def test_frame_summary_reads_first_and_last_tenth_per_rate():
    grid = {"activation": ["relu"], "lr": [0.01], "replacement_rate": [0.0, 1e-4]}
    frames = [{"activation": "relu", "lr": 0.01, "replacement_rate": 0.0, "mean": list(range(20))},
              {"activation": "relu", "lr": 0.01, "replacement_rate": 1e-4, "mean": [1.0] * 20}]
    (row,) = cs.frame_summary({"grid": grid, "frames": frames})
    assert (row["activation"], row["lr"]) == ("relu", 0.01)
    assert row["first"] == {0.0: 0.5, 1e-4: 1.0} and row["last"] == {0.0: 18.5, 1e-4: 1.0}


def test_shipped_frame_summary_covers_the_grid():
    data = cs.load_frames()
    rows = cs.frame_summary(data)
    assert len(rows) == len(data["grid"]["activation"]) * len(data["grid"]["lr"])
    assert all(set(r["last"]) == set(data["grid"]["replacement_rate"]) for r in rows)


def test_measuring_figures_follow_the_page_rule():
    from figure_checks import check_page_rules
    from plasticity_sim.continual import figures as F

    pred = cs.regression_predictors()
    assert len(pred["runs"]["rise"]) == len(pred["runs"]["dead"]) == pred["n"]
    check_page_rules("cl02 predictors", F.plot_predictors(pred))
    cases = {"flat": np.ones(16), "one big": np.r_[1.0, np.full(15, 0.01)]}
    fig = F.plot_spectra(cases, {"flat": (16.0, 16), "one big": (2.1, 15)})
    assert len(fig.axes[0].get_lines()) == 2
    check_page_rules("cl02 spectra", fig)
