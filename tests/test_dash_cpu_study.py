"""The DASH part's CPU study (plasticity_sim.dash.cpu_study): its jobs, its tables, its CLI."""

import json
import shutil

import pytest

from plasticity_sim import cli, protocols, stats, sweep
from plasticity_sim import study as runner
from plasticity_sim.dash import cpu_study as study
from plasticity_sim.protocols.specs import table1_summary

SHRINK = ["dataset_kwargs.num_samples=300", "dataset_kwargs.train_split=0.8", "num_chunks=2",
          "max_epochs=2", "model_kwargs.width=8", "device=cpu"]


def test_the_study_declares_every_method_on_both_models_with_five_seeds():
    jobs = runner.jobs(runner.select("dash/main")[0], out_dir="out")
    # + dash_row_vbias on the CNN: the row rule's grouping with the official bias cosine
    assert len(jobs) == (2 * len(study.TABLE1_METHODS) + 1) * 5
    assert {j["method"] for j in jobs if j["preset"] == "tiny"} == set(study.TABLE1_METHODS)
    assert {j["preset"] for j in jobs} == {"tiny", "tiny_cnn"}
    assert {j["seed"] for j in jobs} == {0, 1, 2, 3, 4}
    # the paper's Table-1 rows at CPU scale, both DASH granularities, both L2-init strengths
    assert {"cold", "warm", "warm_reset_opt", "sp", "dash", "dash_row", "l2_init", "l2_init_port",
            "head_reset"} == set(study.TABLE1_METHODS)
    assert {j["out"].split("/")[1] for j in jobs} == {"mlp", "cnn"}
    controls = runner.jobs(runner.select("dash/controls")[0], out_dir="out")
    assert len(controls) == (5 * 2 + 2 * 4 + 3) * 5       # + three arms' continued cold runs
    assert {j["config"]["lr"] for j in controls if "/mlp_lr1e-3" in j["out"]} == {1e-3}
    budget = [j for j in controls if "_budget/" in j["out"]]
    assert {j["out"].split("/")[1] for j in budget} == {"mlp_lr1e-3_budget", "mlp_aug_budget", "cnn_aug_budget"}
    assert {(j["method"], j["config"]["continue_epochs"]) for j in budget} == {("cold", 600)}
    # each budget arm is its parent arm's cold run, continued: same config but the continuation
    for j in budget:
        parent = next(p for p in controls if p["method"] == "cold" and p["seed"] == j["seed"]
                      and p["out"].split("/")[1] == j["out"].split("/")[1].removesuffix("_budget"))
        assert {k: v for k, v in j["config"].items() if not k.startswith("continue_")} == \
            {k: v for k, v in parent["config"].items() if not k.startswith("continue_")}
    assert {j["method"] for j in controls} == {"cold", "warm", "sp", "dash"}
    assert {j["config"]["dataset"] for j in controls} == {"mnist1d", "digits", "feature_noise"}
    adamw = [j for j in controls if "/mlp_adamw/" in j["out"]]
    assert {j["config"]["optimizer"] for j in adamw} == {"adamw"}
    assert {j["config"]["augment_pad"] for j in controls if "_aug/" in j["out"]} == {4}
    # the main arms use the paper's optimizer family: SGD, momentum 0.9, no weight decay
    assert {(j["config"]["optimizer"], j["config"]["momentum"], j["config"]["weight_decay"]) for j in jobs} \
        == {("sgd", 0.9, 0.0)}
    with pytest.raises(ValueError, match="unknown study 'nope'"):
        runner.select("nope")


def _run_arm(tmp_path, arm="mlp", methods=("cold", "warm"), seeds=(0, 1, 2)):
    jobs = sweep.make_jobs("chunked", study.ARMS[arm].preset, list(methods), list(seeds), SHRINK,
                           out_dir=str(tmp_path / arm))
    for job in jobs:
        sweep.run_job(job)
    return jobs


def test_arm_table_pairs_by_seed_against_cold(tmp_path):
    _run_arm(tmp_path)
    rows = {r["method"]: r for r in study.arm_table("mlp", tmp_path)}
    assert set(rows) == {"cold", "warm"} and rows["cold"]["diff"] is None
    acc = {m: {s: 100 * protocols.load_results(tmp_path / "mlp" / f"chunked_tiny_{m}_seed{s}.json")
               ["summary"]["test_acc_last"] for s in (0, 1, 2)} for m in ("cold", "warm")}
    expected = stats.paired_ci(acc["warm"], acc["cold"])
    got = rows["warm"]["diff"]
    assert (got.mean, got.low, got.high, got.n) == pytest.approx((expected.mean, expected.low, expected.high, 3))
    assert rows["warm"]["worse"] == sum(acc["warm"][s] < acc["cold"][s] for s in (0, 1, 2))
    assert rows["warm"]["test_acc_last"][0] == pytest.approx(sum(acc["warm"].values()) / 3)
    text = study.format_arm(list(rows.values()))
    assert "warm" in text and f"{got.mean:+.2f}" in text
    # the pairing is by seed: a warm file whose accuracy we change moves the interval
    path = tmp_path / "mlp" / "chunked_tiny_warm_seed1.json"
    data = json.loads(path.read_text())
    data["experiments"][-1]["test_acc"] += 0.5
    data["summary"] = table1_summary(data["experiments"])  # a consistent file, or loading refuses it
    path.write_text(json.dumps(data))
    moved = {r["method"]: r for r in study.arm_table("mlp", tmp_path)}["warm"]["diff"]
    assert moved.mean == pytest.approx(got.mean + 50 / 3)


def test_arm_table_needs_results_and_a_baseline(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results in"):
        study.arm_table("mlp", tmp_path)
    with pytest.raises(ValueError, match="unknown arm 'nope'"):
        study.load_arm("nope", tmp_path)
    _run_arm(tmp_path, methods=("warm",), seeds=(0, 1))
    with pytest.raises(ValueError, match="no 'cold' runs"):
        study.arm_table("mlp", tmp_path)
    # a seed missing on one side is refused, not dropped from the pairing
    _run_arm(tmp_path, methods=("cold",), seeds=(0,))
    with pytest.raises(ValueError, match=r"cannot pair warm with cold by seed: cold lacks seed\(s\) \[1\]"):
        study.arm_table("mlp", tmp_path)


def test_cli_study_lists_one_run_command_per_job(capsys, tmp_path):
    n = 0
    for name in ("dash/main", "dash/controls"):
        assert cli.main(["study", name, "--list", "--out-dir", str(tmp_path / name)]) == 0
        n += len(runner.jobs(runner.select(name)[0], out_dir=tmp_path / name))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == n == (2 * len(study.TABLE1_METHODS) + 1) * 5 + (5 * 2 + 2 * 4 + 3) * 5
    assert all(l.startswith("python -m plasticity_sim run chunked --preset tiny") for l in lines)
    assert any("--set augment_pad=4" in l for l in lines) and any("--set optimizer=adamw" in l for l in lines)
    assert cli.main(["study", "dash/main", "--seeds", "0,x"]) == 2
    assert "--seeds '0,x'" in capsys.readouterr().err
    assert cli.main(["study", "nope"]) == 2


def test_paired_interval_figure_draws_every_seed_and_interval(tmp_path):
    from matplotlib.text import Text

    from plasticity_sim.dash.figures import plot_paired_intervals

    _run_arm(tmp_path, methods=("cold", "warm", "sp"))
    rows = study.arm_table("mlp", tmp_path)
    fig = plot_paired_intervals({"MLP": rows, "relabelled": [rows[1] | {"label": "warm, other setting"}]})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["S&P (Gaussian)", "warm"]  # cold is the baseline: no row
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == ["warm, other setting"]
    lines = [l for l in ax.get_lines() if l.get_marker() == "o"]
    assert sorted(len(l.get_xdata()) for l in lines) == [3, 3]  # one dot per seed
    d = rows[1]["diff"]
    assert any(list(l.get_xdata()) == [d.low, d.high] for l in ax.get_lines())  # warm's interval
    fig.canvas.draw()
    assert fig.get_figwidth() <= 7.0
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert min(sizes) >= 9, sizes
