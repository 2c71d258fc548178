"""The DASH part's CPU study: every method of the paper's Table 1, five seeds, an MLP and a 1-D CNN.

    python -m plasticity_sim study dash/main        # 9 methods x 5 seeds x {MLP, CNN}: 90 runs
    python -m plasticity_sim study dash/controls    # optimizer ablations, augmentation, easy tasks: 90 runs
    python -m plasticity_sim study dash/main --list # one `run` command per job, for a cluster

A study is a list of *arms*; an arm is one sweep (protocol preset, methods, seeds, ``--set``
overrides) whose results land in ``<out-dir>/<arm>/``. The runs are ordinary ``chunked`` runs
(:mod:`plasticity_sim.protocols.chunked`), so every results file carries its config and provenance
and any one of them can be re-run alone. :func:`arm_table` turns an arm's files into the chapter's
table: per method the Table-1 columns as mean (sample std) over seeds, and the paired difference from
cold (same seed: same initial model, same chunks, same batch order) with a 95 % t-interval over seeds
(:func:`plasticity_sim.stats.paired_ci`).

Why these arms: the paper's Table 1 compares these methods under SGD (lr 1e-3, momentum 0.9, no
weight decay, no augmentation; DASH paper §C.3). Our CPU presets keep SGD with momentum and no
weight decay (``tiny``, ``tiny_cnn``; see their comment for the learning rate). The controls ask
whether the gap survives two common changes: AdamW with weight decay (the book's earlier setting;
weight decay is itself a warm-start remedy) and data augmentation (random shifts of the 1-D signal;
a mirror flip is not used because a reversed MNIST-1D template is a different pattern, not the same
digit). Each control runs cold and warm only, with the same seeds.

Explained in: book/dash/02_warm_starting_real_networks.ipynb
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from plasticity_sim import protocols, runs, stats
from plasticity_sim.dash.report import summarize_results
from plasticity_sim.sweep import Study, Sweep
from plasticity_sim.tables import Table

SEEDS = (0, 1, 2, 3, 4)
# The paper's Table-1 rows that exist at CPU scale (Warm ReM = warm_reset_opt), both DASH
# granularities and both published L2-init strengths.
TABLE1_METHODS = ("cold", "warm", "warm_reset_opt", "sp", "dash", "dash_row", "l2_init", "l2_init_port",
                  "head_reset")
RESULTS = runs.results_dir("dash_cpu")


@dataclass(frozen=True)
class Arm:
    """One sweep of a study: a chunked preset, its methods and ``--set`` overrides."""

    preset: str
    methods: tuple[str, ...]
    overrides: tuple[str, ...] = ()
    doc: str = ""


_ADAMW = ("optimizer=adamw", "lr=0.01", "weight_decay=0.0001")
# Two easy tasks as negative controls (the theory predicts no penalty when every feature is frequent
# or the task is nearly solved): scikit-learn's digits with the MLP, and feature/noise images whose
# 10 features per class each sit in 30 % of the points, with a small 2-D CNN.
_DIGITS = ("dataset=digits", 'dataset_kwargs={"test_fraction": 0.21}', "num_chunks=10")
_FEATURE_NOISE = ("dataset=feature_noise", "model=cnn", "model_kwargs={}",
                  'dataset_kwargs={"n_train": 2000, "n_test": 2000, "image_size": 16, "features_per_class": 10, '
                  '"frequencies": "uniform", "frequency_params": {"p": 0.3}, "noise_std": 0.5}')
_FOUR = ("cold", "warm", "sp", "dash")
_AUGMENT = ("augment_pad=4",)
_BUDGET = ("continue_epochs=600", "continue_eval_every=10")
ARMS: dict[str, Arm] = {
    "mlp": Arm("tiny", TABLE1_METHODS, doc="MLP 40-256-256-10, SGD lr 1e-2, momentum 0.9"),
    # + the row rule with the official whole-vector bias cosine: on the CNN's convolutions the two rules
    # group weights differently, so dash_row_vbias - dash is the grouping and dash_row - dash_row_vbias the bias
    "cnn": Arm("tiny_cnn", TABLE1_METHODS + ("dash_row_vbias",), doc="1-D CNN, SGD lr 1e-2, momentum 0.9"),
    "mlp_adamw": Arm("tiny", ("cold", "warm"), _ADAMW, doc="MLP, AdamW lr 1e-2, weight decay 1e-4"),
    "cnn_adamw": Arm("tiny_cnn", ("cold", "warm"), _ADAMW, doc="1-D CNN, AdamW lr 1e-2, weight decay 1e-4"),
    "mlp_aug": Arm("tiny", ("cold", "warm"), _AUGMENT, doc="MLP, SGD, random shifts of up to 4 positions"),
    "cnn_aug": Arm("tiny_cnn", ("cold", "warm"), _AUGMENT, doc="1-D CNN, SGD, random shifts of up to 4 positions"),
    # the paper's learning rate: cold runs then stop on the epoch cap, not the target, in early experiments
    "mlp_lr1e-3": Arm("tiny", ("cold", "warm"), ("lr=0.001",), doc="MLP, SGD at the paper's lr 1e-3"),
    # The budget control of an arm whose cold runs stop on the 300-epoch cap: the same cold runs, trained
    # on past the cap for 600 more epochs (19,200 steps), so cold can be read at warm's total steps
    # (warm's whole run is at most 28,000 steps in these arms; cold's last experiment alone is 9,600).
    "mlp_lr1e-3_budget": Arm("tiny", ("cold",), ("lr=0.001",) + _BUDGET, doc="MLP, lr 1e-3: cold continued"),
    "mlp_aug_budget": Arm("tiny", ("cold",), _AUGMENT + _BUDGET, doc="MLP, shifts: cold continued"),
    "cnn_aug_budget": Arm("tiny_cnn", ("cold",), _AUGMENT + _BUDGET, doc="1-D CNN, shifts: cold continued"),
    "digits_mlp": Arm("tiny", _FOUR, _DIGITS, doc="digits (8x8), MLP, SGD, J = 10: an easy task"),
    "feature_noise_cnn": Arm("tiny", _FOUR, _FEATURE_NOISE,
                             doc="feature/noise images (16x16, every feature frequent), 2-D CNN, SGD"),
}
MAIN = ("mlp", "cnn")
CONTROLS = ("mlp_adamw", "cnn_adamw", "mlp_lr1e-3", "mlp_aug", "cnn_aug", "digits_mlp", "feature_noise_cnn",
            "mlp_lr1e-3_budget", "mlp_aug_budget", "cnn_aug_budget")


def _sweeps(arms) -> tuple[Sweep, ...]:
    return tuple(Sweep("chunked", ARMS[a].preset, ARMS[a].methods, ARMS[a].overrides, sub=a) for a in arms)


# The DASH part's shipped studies, run by `python -m plasticity_sim study dash/<name>`.
STUDIES = (
    Study("dash/main", "dash_cpu", _sweeps(MAIN), chapters=("dash/02", "guide/01"),
          doc="Table 1 at CPU scale: 9 methods x 5 seeds, MLP and 1-D CNN, SGD"),
    Study("dash/controls", "dash_cpu", _sweeps(CONTROLS), chapters=("dash/02b",),
          doc="AdamW, the paper's lr, shifts, and two easy tasks (cold and warm, or four methods)"),
    Study("dash/small", "small", (Sweep("chunked", "small", ("cold", "warm", "sp", "dash")),), seeds=(0, 1, 2),
          chapters=("dash/05",), doc="the earlier AdamW setting (8,000 points, J = 10), 3 seeds"),
)


def load_arm(arm: str, results_dir: str | Path = RESULTS) -> dict[str, dict[int, dict]]:
    """``{method: {seed: results}}`` for one arm's results files (missing arm: ``FileNotFoundError``)."""
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; known: {', '.join(ARMS)}")
    folder = Path(results_dir) / arm
    files = sorted(folder.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no results in {folder}; run `python -m plasticity_sim study ...`")
    out: dict[str, dict[int, dict]] = {}
    for r in protocols.load_together(files, protocol="chunked"):   # one arm: refuses mixtures
        out.setdefault(r["config"]["method"], {})[int(r["config"]["seed"])] = r
    return out


COLUMNS = ("test_acc_last", "test_acc_avg", "steps_last", "steps_avg", "total_steps")


def arm_table(arm: str, results_dir: str | Path = RESULTS, *, baseline: str = "cold",
              level: float = 0.95) -> list[dict]:
    """One row per method of the arm: mean and sample std over seeds of :data:`COLUMNS` (accuracies
    in %), from the part's one summariser (:func:`plasticity_sim.dash.report.summarize_results`), and
    ``diff`` - the paired difference ``method - baseline`` in final test accuracy (points) with its
    t-interval over the seeds (``stats.PairedCI``; None for the baseline itself; every method must
    hold the baseline's seeds) and ``diff_by_seed`` (the differences themselves) - plus
    ``worse`` (seeds on which the method ended below the baseline) and ``steps_ratio`` (the method's
    total steps over the baseline's, mean over seeds)."""
    runs = load_arm(arm, results_dir)
    if baseline not in runs:
        raise ValueError(f"arm {arm!r} has no {baseline!r} runs to pair with")
    methods = [m for m in ARMS[arm].methods if m in runs]
    summary = summarize_results([r for m in methods for r in runs[m].values()], methods=methods)
    base = runs[baseline]
    rows = []
    for method in methods:
        by_seed = runs[method]
        row = {"method": method, "seeds": sorted(by_seed)}
        for col in COLUMNS:
            row[col] = summary.mean_std(method, col, 100.0 if col.startswith("test_acc") else 1.0)
        diffs = summary.differences(method, baseline, "test_acc_last")   # refuses unmatched seeds
        row["diff"] = None if method == baseline else stats.paired_ci(diffs, level=level)
        row["diff_by_seed"] = diffs
        row["worse"] = sum(d < 0 for d in diffs.values())
        row["steps_ratio"] = float(np.mean([by_seed[s]["summary"]["total_steps"] / base[s]["summary"]["total_steps"]
                                            for s in diffs]))
        row["reached_target"] = all(rec["reached_target"] for s in by_seed for rec in by_seed[s]["experiments"])
        rows.append(row)
    return rows


def format_arm(rows: list[dict]) -> str:
    """The arm table as text: mean (std) over seeds, and the paired difference from cold."""
    head = (f"{'method':16s} {'acc last %':>14s} {'acc avg %':>14s} {'steps last':>16s} {'steps avg':>16s} "
            f"{'vs cold (pts), 95 % CI':>30s} {'worse':>6s}")
    lines = [head]
    for r in rows:
        d = r["diff"]
        diff = "-" if d is None else d.text()
        lines.append(f"{r['method']:16s} {r['test_acc_last'][0]:7.2f} ({r['test_acc_last'][1]:4.2f}) "
                     f"{r['test_acc_avg'][0]:7.2f} ({r['test_acc_avg'][1]:4.2f}) "
                     f"{r['steps_last'][0]:8.0f} ({r['steps_last'][1]:5.0f}) "
                     f"{r['steps_avg'][0]:8.0f} ({r['steps_avg'][1]:5.0f}) {diff:>30s} "
                     f"{r['worse'] if d is not None else '-':>3}/{len(r['seeds'])}")
    return "\n".join(lines)


def arm_display(rows: list[dict], caption: str = "") -> Table:
    """The arm table of :func:`format_arm` as a :class:`~plasticity_sim.tables.Table`, which the book
    shows as an HTML table that fits its column: the same numbers, without the text's padding.

    Explained in: book/dash/02b_when_the_penalty_appears.ipynb
    """
    cells = []
    for r in rows:
        d = r["diff"]
        cells.append([r["method"], *(f"{r[c][0]:.2f} ({r[c][1]:.2f})" for c in ("test_acc_last", "test_acc_avg")),
                      *(f"{r[c][0]:.0f} ({r[c][1]:.0f})" for c in ("steps_last", "steps_avg")),
                      "-" if d is None else d.text(),
                      f"{r['worse'] if d is not None else '-'}/{len(r['seeds'])}"])
    return Table(["method", "acc last %", "acc avg %", "steps last", "steps avg", "vs cold (pts)\n95 % CI", "worse"],
                 cells, caption=caption)
