"""Reports on chunked results (plasticity_sim.dash.report), their figures (plasticity_sim.dash.figures), the one
Table-1 formatter, and the paper-scale page (plasticity_sim.dash.paper_scale).

Fake results are built in the exact results-file format (checked by runs.load_results) with numbers
chosen so every expectation below can be computed by hand.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from plasticity_sim import methods, protocols, runs
from plasticity_sim.dash import figures, paper_scale, report
from plasticity_sim.protocols.specs import table1_summary

SMALL = Path(__file__).resolve().parent.parent / "results" / "small"

# Last-experiment test accuracy per (method, seed); the 5 tiny-preset experiments ramp up to it.
LAST = {("cold", 0): 0.70, ("cold", 1): 0.72, ("cold", 2): 0.74,
        ("warm", 0): 0.67, ("warm", 1): 0.70, ("warm", 2): 0.71,
        ("dash", 0): 0.71, ("dash", 1): 0.73}
STEPS = {"cold": [10, 20, 30, 40, 50], "warm": [10, 5, 5, 5, 5], "dash": [10, 10, 10, 10, 60]}


def fake_result(method: str, seed: int, **config_overrides) -> dict:
    config = protocols.preset_config("tiny", method=method, seed=seed, progress=False, **config_overrides)
    last = LAST[(method, seed)]
    accs = [last - 0.04, last - 0.03, last - 0.02, last - 0.01, last]
    records = [{"experiment": j, "n_train": 800 * j, "test_acc": accs[j - 1], "train_acc": 1.0,
                "steps": STEPS[method][j - 1], "epochs": 1, "reached_target": True,
                "wall_time": 0.5, "intervention_time": 0.0} for j in range(1, 6)]
    return {"format": runs.RESULTS_FORMAT, "protocol": "chunked", "complete": True,
            "config": runs.to_dict(config),
            "method": {"name": method, "intervention": methods.get_method(method).intervention, "params": {}, "requested": {}},
            "provenance": {"package_version": "0.1.0", "git_commit": "abc<def>", "torch_version": "2.13.0+cpu",
                           "numpy_version": "2.4.6", "python_version": "3.11.7", "platform": "Linux-x86_64",
                           "device": "cpu", "device_name": None, "torch_threads": 1,
                           "created": "2026-01-01T00:00:00+0000", "argv": [], "wall_time_s": 60.0 + seed,
                           "resumed": False},
            "seeds": {"seed": seed, "data_seed": 0, "streams": runs.seed_streams(seed)},
            "dataset_meta": {}, "experiments": records, "summary": table1_summary(records)}


@pytest.fixture
def results_dir(tmp_path):
    for (method, seed) in LAST:
        path = tmp_path / f"chunked_tiny_{method}_seed{seed}.json"
        path.write_text(json.dumps(fake_result(method, seed)))
    return tmp_path


def test_fake_files_pass_the_results_loader(results_dir):
    assert len(report.load_all(results_dir)) == len(LAST)


def test_mean_and_sample_std_by_hand(results_dir):
    s = report.summarize_results(results_dir)
    assert s.methods == ("cold", "warm", "dash")          # the CLI's (= the paper's) order
    mean, std = s.mean_std("cold", "test_acc_last")
    assert mean == pytest.approx(0.72)
    assert std == pytest.approx(math.sqrt((0.02 ** 2 + 0 + 0.02 ** 2) / 2))   # ddof = 1: 0.02
    assert s.mean_std("cold", "test_acc_last", 100.0) == pytest.approx((72.0, 2.0))
    mean, std = s.mean_std("cold", "test_acc_avg")   # avg of last-0.04..last = last - 0.02
    assert mean == pytest.approx(0.70)
    assert s.mean_std("warm", "steps_last") == (5.0, 0.0)
    assert s.mean_std("cold", "steps_avg") == (30.0, 0.0)
    assert s.mean_std("dash", "total_steps") == (100.0, 0.0)
    assert s.seeds("dash") == [0, 1]


def test_paired_differences_per_seed(results_dir):
    s = report.summarize_results(results_dir)
    d = s.differences("warm")
    assert list(d) == [0, 1, 2]
    assert [round(v, 6) for v in d.values()] == [-3.0, -2.0, -3.0]       # points
    # dash has seeds 0, 1 only: a pairing over the common seeds would hide the missing run
    with pytest.raises(ValueError, match=r"cannot pair dash with cold by seed: dash lacks seed\(s\) \[2\]"):
        s.differences("dash")
    text = report.format_differences(s, ["warm"])
    # differences -3, -2, -3: mean -2.67, sample std sqrt((1/9 + 4/9 + 1/9) / 2) = 0.58
    assert "seed 0: -3.00" in text and "mean -2.67 (0.58)" in text and "below cold on 3 of 3" in text


def test_table_text_and_published_units(results_dir):
    s = report.summarize_results(results_dir)
    text = s.format()
    assert "72.00 (2.00)" in text            # cold: mean and sample std of 70, 72, 74 %
    ours = s.as_published()
    assert ours["warm"]["acc_last"] == pytest.approx(100 * (0.67 + 0.70 + 0.71) / 3)
    assert ours["cold"]["steps_avg"] == 30.0 and ours["cold"]["steps_avg_std"] == 0.0


def test_method_selection_and_order(results_dir):
    s = report.summarize_results(results_dir, methods=["warm", "cold"])
    assert s.methods == ("warm", "cold") and set(s.runs) == {(m, k) for m in ("warm", "cold") for k in range(3)}


def test_unknown_and_absent_methods_fail(results_dir):
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['nope'\]; allowed: cold, warm"):
        report.summarize_results(results_dir, methods=["cold", "nope"])
    with pytest.raises(ValueError, match=r"no results for method\(s\) \['sp'\]; found: cold, warm, dash"):
        report.summarize_results(results_dir, methods=["cold", "sp"])
    s = report.summarize_results(results_dir)
    with pytest.raises(ValueError, match="no results for method 'sp'"):
        s.differences("sp")
    with pytest.raises(ValueError, match="unknown column 'acc'"):
        s.mean_std("cold", "acc")


def test_missing_file_and_empty_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        report.summarize_results(tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError, match="no results files"):
        report.summarize_results(tmp_path)


def test_duplicates_and_mixed_configs_fail(tmp_path):
    a = fake_result("cold", 0)
    with pytest.raises(ValueError, match=r"results 1: method and seed \[\"cold\", 0\] are also in results 0"):
        report.summarize_results([a, fake_result("cold", 0)])
    other = fake_result("warm", 0, lr=0.5)
    with pytest.raises(ValueError, match=r"results 1: config field 'lr' is 0.5 but results 0 has"):
        report.summarize_results([a, other])
    with pytest.raises(ValueError, match=r"warm lacks seed\(s\) \[0\]"):
        report.summarize_results([a, fake_result("warm", 1)]).differences("warm")


def test_curves_figure_draws_the_seed_mean(results_dir):
    s = report.summarize_results(results_dir)
    fig = figures.plot_experiment_curves(s, methods=["cold", "warm"])
    acc_ax, steps_ax = fig.axes[:2]
    cold_line = acc_ax.get_lines()[0]
    assert list(cold_line.get_xdata()) == [1, 2, 3, 4, 5]
    assert cold_line.get_ydata()[-1] == pytest.approx(72.0)          # mean of 70, 72, 74
    assert list(steps_ax.get_lines()[1].get_ydata()) == [10, 5, 5, 5, 5]
    one = figures.plot_experiment_curves(s, methods=["warm"], seed=1)
    assert one.axes[0].get_lines()[0].get_ydata()[-1] == pytest.approx(70.0)
    with pytest.raises(ValueError, match="seed 2"):
        figures.plot_experiment_curves(s, methods=["dash"], seed=2)


def test_provenance_box_is_collapsed_escaped_and_deterministic(results_dir):
    s = report.summarize_results(results_dir)
    box = report.provenance_html(s)
    assert box.startswith("<details>") and box.rstrip().endswith("</details>")
    assert "abc&lt;def&gt;" in box and "abc<def>" not in box      # HTML-escaped
    assert box.count("<tr><td>") == len(LAST)
    assert "2.13.0+cpu" in box and "61 s" in box                  # torch version, a wall time
    assert report.provenance_html(report.summarize_results(results_dir)) == box


def test_report_studies_and_figures_do_not_import_torch():
    code = ("import sys, plasticity_sim.dash.report, plasticity_sim.dash.paper_scale, plasticity_sim.dash.studies, "
            "plasticity_sim.dash.figures; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- paper scale
def test_paper_commands_parse_into_the_paper_protocol():
    for label, setting in paper_scale.PAPER_SETTINGS.items():
        for opt in ("SGD", "SAM"):
            configs = paper_scale.check_command(paper_scale.paper_command(label, opt))
            assert len(configs) == 4 * setting.seeds
            c = configs[0]
            assert c.dataset == setting.dataset and c.optimizer == opt.lower()
            assert (c.model, c.num_chunks, c.target_train_acc, c.lr, c.batch_size) == ("resnet18", 50, 0.999, 1e-3, 128)
            assert {k.method for k in configs} == {"cold", "warm", "sp", "dash"}
    svhn = paper_scale.check_command(paper_scale.paper_command("SVHN"))[0]
    assert svhn.dataset_kwargs["train_subset"] == 50000 and svhn.dataset_kwargs["download"] is True


def test_check_command_rejects_what_the_cli_rejects():
    argv = paper_scale.paper_command("CIFAR-10") + ["--set", "lrr=1"]
    with pytest.raises(ValueError, match="unknown config key 'lrr'"):
        paper_scale.check_command(argv)
    with pytest.raises(ValueError, match="unknown paper dataset 'MNIST'"):
        paper_scale.paper_command("MNIST")
    with pytest.raises(ValueError, match="unknown optimizer 'Adam'"):
        paper_scale.paper_command("SVHN", "Adam")


def test_cost_estimate_by_hand():
    # CIFAR-10 warm, SGD: 665 steps x 50 experiments; plus 50 test passes of 10,000 images / 128 / 3.
    flops = 1e11
    est = paper_scale.estimate_cost("CIFAR-10", "SGD", "warm", flops_per_step=flops, tflops=10.0)
    extra = 50 * 10000 / 128 / 3
    assert est["steps"] == 665 * 50 and est["extra_step_equivalents"] == pytest.approx(extra)
    assert est["hours"] == pytest.approx((665 * 50 + extra) * flops / 1e13 / 3600)
    # DASH adds a gradient pass over chunks 1..j (1,000 images each) before experiments 2..50
    dash = paper_scale.estimate_cost("CIFAR-10", "SAM", "dash", flops_per_step=flops, tflops=10.0)
    dash_images = 1000 * (50 * 51 // 2 - 1)
    assert dash["extra_step_equivalents"] == pytest.approx(dash_images / 128 + extra)
    assert dash["hours"] == pytest.approx((8689 * 50 * 2 + dash_images / 128 + extra) * flops / 1e13 / 3600)


def test_results_rows_fill_in_or_say_not_run_yet(results_dir, tmp_path):
    empty = paper_scale.results_rows(tmp_path / "nothing", expected=[("CIFAR-10", "SGD")])
    assert [r["status"] for r in empty] == ["not run yet"] * 4 and all("acc_last" not in r for r in empty)
    rows = paper_scale.results_rows(results_dir, expected=[("SVHN", "SAM")])
    assert [r["status"] for r in rows[:4]] == ["not run yet"] * 4
    found = {r["method"]: r for r in rows[4:]}
    assert found["cold"]["setting"] == "MNIST-1D" and found["cold"]["optimizer"] == "SGD"  # the tiny preset
    assert found["cold"]["acc_last"] == pytest.approx(72.0) and found["cold"]["seeds"] == 3
    assert found["sp"]["status"] == "not run yet"
    text = paper_scale.format_rows(rows)
    assert "72.00 (2.00)" in text and text.count("not run yet") == 5


# ----------------------------------------------------------------------------- the one Table-1 formatter
# The texts the three Table-1 formatters printed for the committed results/small before they became
# one (cli.format_summary_table, ResultsSummary.format, paper_scale.format_rows): chapters print them
# and strict nbval compares them, so they must not change by a character. (Their std columns changed
# once, from population to sample std, issue 21: each is the old one times sqrt(3/2), 3 seeds.)
CLI_TABLE_SMALL = (
    'method          seeds       acc last %        acc avg %       steps last        steps avg\n'
    'cold                3     80.30 ( 0.65)     67.95 ( 0.20)  23793.00 (4819.53)   8007.00 (1406.71)\n'
    'dash                3     84.63 ( 0.37)     70.02 ( 0.42)  19761.00 (16639.67)   4827.70 (1343.78)\n'
    'sp                  3     85.72 ( 0.56)     70.39 ( 0.25)    399.00 (192.47)   3683.30 (490.21)\n'
    'warm                3     79.32 ( 0.92)     66.54 ( 0.25)  27468.00 (9654.43)   3992.23 (393.70)'
)

SUMMARY_TABLE_SMALL = (
    'method     seeds      acc last %       acc avg %      steps last       steps avg\n'
    'cold           3    80.30 (0.65)    67.95 (0.20)    23793 (4820)     8007 (1407)\n'
    'warm           3    79.32 (0.92)    66.54 (0.25)    27468 (9654)      3992 (394)\n'
    'S&P            3    85.72 (0.56)    70.39 (0.25)       399 (192)      3683 (490)\n'
    'DASH           3    84.63 (0.37)    70.02 (0.42)   19761 (16640)     4828 (1344)'
)

PAPER_ROWS_SMALL = (
    'setting        opt.  method   seeds     acc last %      acc avg %     steps last      steps avg  paper acc last paper steps avg\n'
    'CIFAR-10       SGD   cold         0    not run yet                                                        67.32            2916\n'
    'CIFAR-10       SGD   warm         0    not run yet                                                        63.53             665\n'
    'CIFAR-10       SGD   S&P          0    not run yet                                                        81.25            2766\n'
    'CIFAR-10       SGD   DASH         0    not run yet                                                        84.08            3454\n'
    'CIFAR-10       SAM   cold         0    not run yet                                                        75.68            8121\n'
    'CIFAR-10       SAM   warm         0    not run yet                                                        70.99            2153\n'
    'CIFAR-10       SAM   S&P          0    not run yet                                                        85.53           15552\n'
    'CIFAR-10       SAM   DASH         0    not run yet                                                        86.75            8689\n'
    'MNIST-1D       ADAMW cold         3   80.30 (0.65)   67.95 (0.20)   23793 (4820)    8007 (1407)\n'
    'MNIST-1D       ADAMW warm         3   79.32 (0.92)   66.54 (0.25)   27468 (9654)     3992 (394)\n'
    'MNIST-1D       ADAMW S&P          3   85.72 (0.56)   70.39 (0.25)      399 (192)     3683 (490)\n'
    'MNIST-1D       ADAMW DASH         3   84.63 (0.37)   70.02 (0.42)  19761 (16640)    4828 (1344)'
)

PAPER_ROWS_SMALL_UNPUBLISHED = (
    'setting        opt.  method   seeds     acc last %      acc avg %     steps last      steps avg\n'
    'CIFAR-10       SGD   cold         0    not run yet\n'
    'CIFAR-10       SGD   warm         0    not run yet\n'
    'CIFAR-10       SGD   S&P          0    not run yet\n'
    'CIFAR-10       SGD   DASH         0    not run yet\n'
    'CIFAR-10       SAM   cold         0    not run yet\n'
    'CIFAR-10       SAM   warm         0    not run yet\n'
    'CIFAR-10       SAM   S&P          0    not run yet\n'
    'CIFAR-10       SAM   DASH         0    not run yet\n'
    'MNIST-1D       ADAMW cold         3   80.30 (0.65)   67.95 (0.20)   23793 (4820)    8007 (1407)\n'
    'MNIST-1D       ADAMW warm         3   79.32 (0.92)   66.54 (0.25)   27468 (9654)     3992 (394)\n'
    'MNIST-1D       ADAMW S&P          3   85.72 (0.56)   70.39 (0.25)      399 (192)     3683 (490)\n'
    'MNIST-1D       ADAMW DASH         3   84.63 (0.37)   70.02 (0.42)  19761 (16640)    4828 (1344)'
)

# cli.format_summary_table's layout, as the CLI can call format_table1
CLI_LAYOUT = dict(lead=(("method", "method", "<15"), ("seeds", "seeds", ">5")), width=16, sep=" ",
                  acc_format="{:9.2f} ({:5.2f})", steps_format="{:9.2f} ({:5.2f})")


def test_one_table1_formatter_reproduces_the_three_previous_tables():
    results = [protocols.load_results(f) for f in sorted(SMALL.glob("*.json"))]
    assert len(results) == 12
    assert report.format_table1(report.method_rows(results), **CLI_LAYOUT) == CLI_TABLE_SMALL
    assert report.summarize_results(SMALL).format() == SUMMARY_TABLE_SMALL
    cells = [("CIFAR-10", "SGD"), ("CIFAR-10", "SAM")]
    rows = paper_scale.results_rows(SMALL, expected=cells)
    assert paper_scale.format_rows(rows) == PAPER_ROWS_SMALL
    assert paper_scale.format_rows(rows, published=False) == PAPER_ROWS_SMALL_UNPUBLISHED


def test_format_table1_layout_by_hand():
    rows = [{"method": "a", "seeds": 2, "acc_last": 70.0, "acc_last_std": 1.234, "acc_avg": 60.0, "acc_avg_std": 0.0,
             "steps_last": 10.4, "steps_last_std": 0.6, "steps_avg": 5.0, "steps_avg_std": 0.0, "x": 1.5},
            {"method": "b", "seeds": 0, "status": "not run yet"}]
    text = report.format_table1(rows, lead=(("method", "m", "<3"), ("seeds", "n", ">2")), width=14, sep="|",
                                extra=(("x", "x", ">5", ".1f"),))
    assert text.split("\n") == [
        "m  | n|    acc last %|     acc avg %|    steps last|     steps avg|    x",
        "a  | 2|  70.00 (1.23)|  60.00 (0.00)|        10 (1)|         5 (0)|  1.5",
        "b  | 0|   not run yet|" + "|".join([" " * 14] * 3) + "|"]   # trailing blanks stripped
    # method_rows: one row per method in order of first appearance, sample std, accuracy in %
    found = report.method_rows([fake_result("warm", 0), fake_result("cold", 0), fake_result("warm", 1)])
    assert [(r["method"], r["seeds"]) for r in found] == [("warm", 2), ("cold", 1)]
    assert found[0]["acc_last"] == pytest.approx(68.5) and found[0]["acc_last_std"] == pytest.approx(1.5 * math.sqrt(2))
    assert math.isnan(found[1]["acc_last_std"])          # one seed: no std


# relative_to_cold lives beside the Table-1 summary it reads (it was in dash/studies, an import circle)
def test_relative_to_cold_published_by_hand():
    rel = report.relative_to_cold(dataset="Tiny-ImageNet", optimizer="SGD")
    assert rel["warm"]["acc_last"] == pytest.approx(9.57 - 25.69)
    assert rel["dash"]["steps_avg"] == pytest.approx(4439 / 17503)
    with pytest.raises(ValueError, match="exactly one"):
        report.relative_to_cold()


def test_one_seed_has_no_std_and_the_tables_say_so():
    s = report.summarize_results([fake_result("cold", 0), fake_result("warm", 0)])
    mean, std = s.mean_std("cold", "test_acc_last", 100.0)
    assert mean == pytest.approx(70.0) and math.isnan(std)       # not a misleading 0
    assert "70.00 (-)" in s.format() and "nan" not in s.format()
    assert "mean -3.00 (-), below cold on 1 of 1" in report.format_differences(s)
