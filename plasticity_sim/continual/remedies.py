"""Numbers for chapters 3 and 4 of the continual part, "Keeping plasticity" and "Remedies in other
settings": the remedies side by side.

Regenerate the shipped results (into ``results/continual/``, each file with provenance), one
command per study, one process and one core each (about 10 minutes on a laptop core in all)::

    python -m plasticity_sim study continual/permuted    # and class_incremental, adam, chunked

Four studies, each an *arm* x *seed* grid through the registered protocols (so every run is the
same config a reader can start with ``python -m plasticity_sim run``):

* ``permuted`` - online permuted inputs (:data:`PERMUTED`): plain backprop and every remedy of
  :data:`ARMS`, 50 tasks;
* ``class_incremental`` - classes added in steps, each step also trained from scratch
  (:data:`CLASS_INCREMENTAL`), the same arms;
* ``adam`` - permuted inputs under Adam with the default (0.9, 0.999) and with equal moment decays,
  (0.99, 0.99) and (0.9, 0.9) (:data:`ADAM_BETAS`);
* ``chunked`` - the DASH part's stationary warm start (:data:`CHUNKED`, MNIST-1D, SGD, J = 5) with
  plain warm starting and the remedies of :data:`CHUNKED_ARMS`.

A results file keeps, per arm and seed, the per-task (per-step, per-experiment) columns of the
protocol's records; :func:`load_keeping_file` checks it, :func:`paired_table` turns it into paired
differences against plain backprop with a Student-t 95 % interval over seeds
(:func:`plasticity_sim.stats.paired_ci`). Same seed = same initial network, task sequence and
batch order in every arm, so the differences are paired.

Explained in: book/continual/03_keeping_plasticity.ipynb (permuted) and
book/continual/04_remedies_in_other_settings.ipynb (the other three studies)
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from plasticity_sim import runs
from plasticity_sim.stats import holm_verdicts, interval_text, paired_ci
from plasticity_sim.sweep import Call, Study, check_call_output

RESULTS = runs.results_dir("continual")
FORMAT = "plasticity_sim.keeping_plasticity/1"
SEEDS = (0, 1, 2, 3, 4)

# arm -> (method of the method table, config overrides). "bp" is plain backprop (a warm start
# between tasks); "ln_wd" is layer norm + weight decay (Lyle et al. 2024), a model and optimizer
# setting rather than a method.
ARMS = {"bp": ("warm", {}), "l2": ("l2_every_step", {}), "sp": ("sp_continual", {}), "cbp": ("cbp", {}),
        "redo": ("redo", {}), "clip": ("weight_clipping", {}), "parseval": ("parseval", {}),
        "ln_wd": ("warm", {"model": "mlp_ln", "weight_decay": 1e-4}), "fire": ("fire", {})}
LABELS = {"bp": "backprop", "l2": "L2 (every step)", "sp": "S&P (every step)", "cbp": "CBP", "redo": "ReDo",
          "clip": "weight clipping", "parseval": "Parseval", "ln_wd": "layer norm + WD", "fire": "FIRE", "warm": "warm start",
          "adam_default": "Adam (0.9, 0.999)", "adam_equal": "Adam (0.99, 0.99)",
          "adam_equal_short": "Adam (0.9, 0.9)"}

# Online permuted digits: 8x8 digits (64 inputs), a 3 x 128 ReLU MLP, SGD with a large step and
# momentum, so that plain backprop loses plasticity within 50 tasks (seconds per run).
PERMUTED = {"dataset": "digits", "num_tasks": 50, "samples_per_task": 600, "depth": 3, "width": 128,
            "batch_size": 8, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "probe_points": 200}
CLASS_INCREMENTAL = {"dataset": "mnist1d", "dataset_kwargs": {"num_samples": 4000}, "depth": 3, "width": 128,
                     "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "initial_classes": 2,
                     "classes_per_step": 2, "epochs_per_step": 10, "probe_points": 200}
ADAM = {**PERMUTED, "optimizer": "adam", "lr": 1e-3, "momentum": 0.0}
ADAM_BETAS = {"adam_default": (0.9, 0.999), "adam_equal": (0.99, 0.99), "adam_equal_short": (0.9, 0.9)}
# The stationary warm start of book/dash, with its SGD settings passed explicitly (they do not
# depend on the chunked presets).
CHUNKED = {"model": "mlp", "model_kwargs": {"depth": 3, "width": 256}, "optimizer": "sgd", "lr": 0.01,
           "momentum": 0.9, "weight_decay": 0.0, "max_epochs": 300, "num_chunks": 5,
           "dataset_kwargs": {"num_samples": 10000, "train_split": 0.4}, "device": "cpu", "progress": False}
CHUNKED_ARMS = {"warm": ("warm", {}), "cbp": ("cbp", {}), "redo": ("redo", {}), "clip": ("weight_clipping", {}),
                "fire": ("fire", {})}
# ReDo fires every `every` steps (Dohare et al.'s gntRedo.py: 1,000). On permuted digits a task is 75
# steps, so 1,000 puts the firings at arbitrary points of the tasks and a window of 10 tasks holds
# 0 or 1 of them depending on where it starts; the dormant fraction saw-tooths between firings. At
# 750 steps (10 tasks) each fifth of the 50-task run, the windows the chapter compares, holds exactly
# one firing period, whatever the window: the comparison does not depend on the firings' phase.
PERMUTED_ARMS = {**ARMS, "redo": ("redo", {"method_params": {"every": 750}})}

SETTINGS = {
    "permuted": {"protocol": "permuted", "base": PERMUTED, "arms": PERMUTED_ARMS, "index": "task",
                 "columns": ("online_acc", "dormant_redo", "dormant_lop", "effective_rank", "stable_rank",
                             "weight_magnitude")},
    "class_incremental": {"protocol": "class_incremental", "base": CLASS_INCREMENTAL, "arms": ARMS, "index": "step",
                          "columns": ("test_acc", "scratch_test_acc", "relative_acc", "dormant_redo",
                                      "effective_rank", "stable_rank", "weight_magnitude")},
    "adam": {"protocol": "permuted", "base": ADAM,
             "arms": {k: ("warm", {"beta1": b1, "beta2": b2}) for k, (b1, b2) in ADAM_BETAS.items()},
             "index": "task", "columns": ("online_acc", "dormant_redo", "effective_rank", "weight_magnitude")},
    "chunked": {"protocol": "chunked", "base": CHUNKED, "arms": CHUNKED_ARMS, "index": "experiment",
                "columns": ("test_acc", "train_acc", "steps", "epochs")},
}

# The remedy map's cheap missing cells (book/guide/01): the remedies that act once per experiment or
# task (the warm-start parts') in the two continual studies' settings, and the other continual and
# Hare & Tortoise remedies in the DASH part's MLP setting. Each re-runs its setting's baseline arm,
# which the map checks is the shipped baseline run for run (same config and seed, same numbers).
MAP_TASK_ARMS = {"bp": ("warm", {}), "sp_gauss": ("sp", {}), "sp_init": ("sp_init", {}), "dash": ("dash", {}),
                 "dash_row": ("dash_row", {}), "head_reset": ("head_reset", {}), "l2_init": ("l2_init", {}),
                 "hare_tortoise": ("hare_tortoise", {})}
MAP_CHUNKED_ARMS = {"warm": ("warm", {}), "l2_every": ARMS["l2"], "sp_every": ARMS["sp"],
                    "parseval": ARMS["parseval"], "ln_wd": ARMS["ln_wd"], "sp_init": ("sp_init", {}),
                    "l2": ("l2", {}), "l2_init_kumar": ("l2_init_kumar", {}), "hare_tortoise": ("hare_tortoise", {})}
MAP_STUDIES = {"map_permuted": "permuted", "map_class_incremental": "class_incremental", "map_chunked": "chunked"}
SETTINGS.update({name: {**SETTINGS[base], "arms": MAP_CHUNKED_ARMS if base == "chunked" else MAP_TASK_ARMS}
                 for name, base in MAP_STUDIES.items()})


def _study(name: str) -> dict:
    if name not in SETTINGS:
        raise ValueError(f"unknown study {name!r}; allowed: {', '.join(SETTINGS)}")
    return SETTINGS[name]


def arm_config(study: str, arm: str, seed: int, **overrides):
    """The validated protocol config of one run: the study's base settings, the arm's method and
    overrides, ``seed``, then ``overrides`` (e.g. fewer tasks for a test)."""
    from plasticity_sim import protocols

    spec = _study(study)
    if arm not in spec["arms"]:
        raise ValueError(f"study {study!r} has no arm {arm!r}; allowed: {', '.join(spec['arms'])}")
    method, extra = spec["arms"][arm]
    values = {**spec["base"], **extra, "method": method, "seed": int(seed), **overrides}
    if spec["protocol"] == "chunked":
        return protocols.preset_config("tiny", protocol="chunked", **values)
    return protocols.config_from_dict(values, protocol=spec["protocol"])


def run_arm(study: str, arm: str, seed: int, **overrides) -> dict:
    """One run: ``{"config", "columns", "wall_time_s"}``, the columns of the study (one value per
    task / step / experiment, in order) read from the protocol's records."""
    from plasticity_sim import protocols

    spec = _study(study)
    cfg = arm_config(study, arm, seed, **overrides)
    t0 = time.perf_counter()
    res = protocols.run_config(cfg)
    recs = res["experiments" if spec["protocol"] == "chunked" else "records"]
    cols = {k: [float(r[k]) for r in recs] for k in spec["columns"]}
    return {"config": runs.to_dict(cfg), "columns": cols, "wall_time_s": time.perf_counter() - t0}


def run_study(study: str, out_dir=RESULTS, *, seeds=SEEDS, arms=None, **overrides) -> Path:
    """Run every arm x seed of ``study`` one after the other into ``out_dir/keeping_<study>.json``."""
    import torch

    torch.set_num_threads(1)
    spec = _study(study)
    arms = list(arms or spec["arms"])
    t0 = time.perf_counter()
    out = {arm: {str(s): run_arm(study, arm, s, **overrides) for s in seeds} for arm in arms}
    path = Path(out_dir) / f"keeping_{study}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    runs.write_json_atomic(path, {
        "format": FORMAT, "study": study, "protocol": spec["protocol"], "index": spec["index"],
        "seeds": [int(s) for s in seeds], "arms": {a: {"method": spec["arms"][a][0], "overrides": spec["arms"][a][1],
                                                        "runs": out[a]} for a in arms},
        "command": f"python -m plasticity_sim study continual/{study}",
        "provenance": dict(runs.provenance("cpu"), wall_time_s=time.perf_counter() - t0, threads=1)})
    return path


def load_keeping_file(study: str, results_dir=RESULTS) -> dict:
    """A ``keeping_<study>.json`` file, checked: format, every arm run on the same seeds, every run
    with the same number of entries in every column."""
    path = Path(results_dir) / f"keeping_{study}.json"
    data = runs.read_json(path, "results file")
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("study") != study:
        raise ValueError(f"{path}: not a {FORMAT} file of study {study!r}")
    try:
        return _checked_study(path, data)
    except (KeyError, TypeError, AttributeError) as err:   # a damaged field: name it, no traceback
        raise ValueError(f"{path}: damaged results file ({type(err).__name__}: {err})") from None


def _checked_study(path: Path, data: dict) -> dict:
    seeds = [str(s) for s in data["seeds"]]
    lengths = set()
    for arm, entry in data["arms"].items():
        if sorted(entry["runs"]) != sorted(seeds):
            raise ValueError(f"{path}: arm {arm!r} holds seeds {sorted(entry['runs'])}, expected {sorted(seeds)}")
        for seed, run in entry["runs"].items():
            lengths |= {len(v) for v in run["columns"].values()}
    if len(lengths) != 1:
        raise ValueError(f"{path}: runs of different lengths {sorted(lengths)}")
    return data


def matrix(data: dict, arm: str, column: str) -> np.ndarray:
    """(seeds, tasks) array of one column of one arm, rows in the file's seed order."""
    if arm not in data["arms"]:
        raise ValueError(f"no arm {arm!r}; allowed: {', '.join(data['arms'])}")
    rows = [data["arms"][arm]["runs"][str(s)]["columns"][column] for s in data["seeds"]]
    return np.asarray(rows, dtype=float)


def window(values: np.ndarray, part: str) -> np.ndarray:
    """Per-seed mean over a part of the run: ``"first"`` / ``"last"`` fifth of the tasks (at least
    one), ``"all"`` tasks, or ``"end"`` (the last task / step / experiment only)."""
    n = values.shape[1]
    k = max(1, n // 5)
    parts = {"first": values[:, :k], "last": values[:, -k:], "all": values, "end": values[:, -1:]}
    if part not in parts:
        raise ValueError(f"part must be one of {', '.join(parts)}, got {part!r}")
    return parts[part].mean(1)


def paired_table(data: dict, column: str, part: str = "last", baseline: str | None = None) -> list[dict]:
    """Per arm: the mean of ``column`` over ``part`` of the run, and the paired difference arm -
    baseline over seeds with its 95 % t interval (``stats.paired_ci``). Every arm against the
    baseline is one family: ``p_holm`` is the Holm-adjusted p-value and ``verdict`` is "higher" or
    "lower" when the difference survives the correction at 5 %, else "no measurable difference"
    (the book's statistics policy, ``stats.holm_verdicts``). Baseline: ``bp`` (or ``warm``,
    ``adam_default``: the file's first arm)."""
    arms = list(data["arms"])
    baseline = baseline or arms[0]
    base = window(matrix(data, baseline, column), part)
    rows, family = [], {}
    for arm in arms:
        v = window(matrix(data, arm, column), part)
        row = {"arm": arm, "label": LABELS.get(arm, arm), "mean": float(v.mean()), "n": int(len(v))}
        if arm != baseline:
            family[arm] = ci = paired_ci(v, base)
            row.update(diff=ci.mean, lo=ci.low, hi=ci.high)
        rows.append(row)
    words = {"above": "higher", "below": "lower", "no measurable difference": "no measurable difference"}
    verdicts = holm_verdicts(family) if family else {}
    for row in rows:
        if row["arm"] in verdicts:
            row.update(p_holm=verdicts[row["arm"]]["p_holm"], verdict=words[verdicts[row["arm"]]["verdict"]])
    return rows


def rise(data: dict, arm: str, column: str) -> dict:
    """The change of ``column`` from the first to the last fifth of the run, paired over seeds:
    ``{"diff", "lo", "hi", "first", "last"}`` (loss of plasticity = a fall in online accuracy)."""
    m = matrix(data, arm, column)
    first, last = window(m, "first"), window(m, "last")
    ci = paired_ci(last, first)
    return {"diff": ci.mean, "lo": ci.low, "hi": ci.high, "first": float(first.mean()), "last": float(last.mean())}


def fmt(row: dict, scale: float = 1.0, digits: int = 1) -> str:
    """``"+1.2 [0.3, 2.1]"``: a paired difference and its interval, times ``scale``."""
    return interval_text(*(scale * row[k] for k in ("diff", "lo", "hi")), digits)


def wall_times(results_dir=RESULTS) -> dict:
    """Each shipped study's recorded wall time in seconds (its provenance), for the chapter's cost note."""
    return {s: float(load_keeping_file(s, results_dir)["provenance"]["wall_time_s"]) for s in SETTINGS}


def live_run(arms=("bp", "clip"), seeds=(100, 101, 102), num_tasks: int = 20) -> dict:
    """The chapter's small live run: a few permuted-digits runs per arm (the study's settings,
    fewer tasks), in the shape of a results file, so :func:`matrix` and the figures read it."""
    import torch

    torch.set_num_threads(1)
    return {"seeds": list(seeds), "index": "task",
            "arms": {a: {"runs": {str(s): run_arm("permuted", a, s, num_tasks=num_tasks) for s in seeds}} for a in arms}}


def study_file(out, *, study: str, seeds, overwrite: bool = False, check_only: bool = False) -> str:
    """The study runner's job for one ``keeping_<study>.json``: every config checked (and the file's
    location) before anything trains; with ``check_only``, nothing more."""
    out = check_call_output(out, f"keeping_{study}.json", repr(study), overwrite=overwrite)
    for arm in _study(study)["arms"]:
        for seed in seeds:
            arm_config(study, arm, seed)
    if check_only:
        return str(out)
    return str(run_study(study, out.parent, seeds=tuple(seeds)))


# The part's shipped multi-arm studies, run by `python -m plasticity_sim study continual/<name>`:
# one job (one process) per results file.
_DOCS = {"permuted": "online permuted digits: backprop and every remedy, 50 tasks",
         "class_incremental": "classes added in steps, each step also trained from scratch",
         "adam": "permuted digits under Adam with default and equal moment decays",
         "chunked": "the DASH part's stationary warm start with the continual remedies",
         **{name: f"the remedy map's missing cells in the {base} setting" for name, base in MAP_STUDIES.items()}}
# guide/01 (the remedy map) reads every study but adam; the map's own studies only it.
_CHAPTERS = {name: ("continual/03",) if name == "permuted" else ("continual/04",) for name in SETTINGS}
_CHAPTERS.update({name: () for name in MAP_STUDIES})
STUDIES = tuple(
    Study(f"continual/{name}", "continual", (Call("plasticity_sim.continual.remedies:study_file",
                                                  f"keeping_{name}.json", {"study": name}),),
          chapters=_CHAPTERS[name] + (("guide/01",) if name != "adam" else ()), doc=_DOCS[name])
    for name in SETTINGS)
