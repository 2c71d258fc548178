"""Runs: typed configs, presets, results files with provenance, checkpoints.

Everything a run needs besides the science lives here, so that a protocol (``protocols/``) is only
the experiment loop. The module does not import torch at import time: chapters load results files
with :func:`load_results` without paying for torch, and the CLI can parse and reject a bad command
line in a fraction of a second. torch is imported inside the functions that need it.

Files are written atomically (temp file in the same directory, then ``os.replace``) so an
interrupted run never leaves a half-written results file or checkpoint behind.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import subprocess
import sys
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plasticity_sim import __version__
from plasticity_sim.atomic import atomic_path, write_bytes

RESULTS_FORMAT = "plasticity_sim.results/1"
CHECKPOINT_FORMAT = "plasticity_sim.checkpoint/1"
CHECKPOINT_NAME = "checkpoint.pt"

# ---------------------------------------------------------------------------------------------
# Vocabulary the config is checked against (names as in the contract; the modules are the truth
# and also reject unknown names themselves).
DATASETS = ("mnist1d", "digits", "feature_noise", "cifar10", "cifar100", "svhn", "tiny_imagenet")
MODELS = ("mlp", "cnn", "resnet18", "vgg16_bn")
OPTIMIZERS = ("sgd", "adamw", "sam")

# The ONE table from CLI method names to interventions.get_intervention(name, **params).
# Params given here pin the published variant a name stands for; the config's method_params are
# added on top (and may override the numeric defaults, e.g. {"lam": 0.5}).
METHODS: dict[str, tuple[str, dict]] = {
    "cold": ("cold", {}),                                          # new init + new optimizer
    "warm": ("warm", {}),                                          # keep weights and optimizer
    "warm_reset_opt": ("warm_reset_opt", {}),                      # DASH code's warm_rm
    "sp": ("shrink_perturb", {"mode": "gaussian"}),                # DASH code: λθ + N(0, σ²)
    "sp_fresh": ("shrink_perturb", {"mode": "fresh_init"}),        # Ash & Adams: λθ + p·θ_fresh
    "sp_init": ("shrink_perturb", {"mode": "toward_init"}),        # Hare & Tortoise: toward θ_init
    "dash": ("dash", {"granularity": "kernel"}),                   # official per-kernel cosine
    "dash_row": ("dash", {"granularity": "row"}),                  # per-output-row variant
    "l2_init": ("l2_init", {}),                                    # Kumar et al. regeneration term
    "head_reset": ("head_reset", {}),                              # re-init the classifier head
}


# ---------------------------------------------------------------------------------------------
# Config
@dataclass
class ChunkedConfig:
    """One run of the DASH paper's chunked warm-start protocol (papers.md §C.3).

    ``seed`` drives model init, chunking, batch order and the interventions' randomness through
    separate streams, so two methods with the same seed start from the same model and see the
    same chunks. ``data_seed`` fixes the generated dataset (MNIST-1D, feature/noise) for every
    run seed; it is passed as ``load_dataset(dataset, seed=data_seed)`` (MNIST-1D keeps the library's
    own generation seed 42 unless ``dataset_kwargs`` says otherwise, as in the CPU findings).
    Accuracies are fractions in [0, 1].

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """

    dataset: str = "mnist1d"
    dataset_kwargs: dict = field(default_factory=dict)
    data_seed: int = 0
    model: str = "mlp"
    model_kwargs: dict = field(default_factory=dict)
    optimizer: str = "adamw"
    lr: float = 1e-2
    momentum: float = 0.9
    weight_decay: float = 1e-4
    rho: float = 0.1                 # SAM neighbourhood size (only used by optimizer="sam")
    batch_size: int = 128
    num_chunks: int = 10
    target_train_acc: float = 0.999
    max_epochs: int = 100
    method: str = "warm"
    method_params: dict = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    diagnostics: bool = False
    diagnostics_max_points: int = 2000   # points of seen data used for activation diagnostics
    progress: bool = True

    def to_dict(self) -> dict:
        """Plain JSON-able dict of every field. Explained in: book/dash/05_paper_scale.ipynb"""
        return dataclasses.asdict(self)


# Settings that do not change the numbers a run produces (allowed to differ on resume).
_NON_RESULT_FIELDS = ("progress", "device")

# Presets: overrides of the defaults above, plus the measured cost used for the ETA line.
# tiny/small: MNIST-1D MLP 40-256-256-10 with AdamW (cpu_warmstart_findings.md); paper: ResNet-18
# on CIFAR-10 with the official code's standard setting (papers.md §C.3). The 100-epoch cap keeps
# CPU runs bounded; it binds now and then (small, seed 0: 3 of 10 cold experiments stop below 0.999;
# each record's `reached_target` says so).
_MNIST1D_MLP = dict(dataset="mnist1d", model="mlp",
                    model_kwargs={"depth": 3, "width": 256}, optimizer="adamw", lr=1e-2,
                    weight_decay=1e-4, batch_size=128, target_train_acc=0.999, max_epochs=100)
PRESETS: dict[str, dict] = {
    # tiny: 4,000 train points in 5 chunks; a 6,000-point test set keeps the test-accuracy noise
    # (about 0.6 pts) below the warm-start gap it has to show (measured about -2.4 pts, 3/3 seeds).
    "tiny": dict(_MNIST1D_MLP, dataset_kwargs={"num_samples": 10000, "train_split": 0.4}, num_chunks=5),
    # small: the findings setting (8,000 train points, J=10); the cap is high enough that no experiment
    # stops below the 0.999 target (100 epochs was not: 3 of 10 cold experiments hit it)
    "small": dict(_MNIST1D_MLP, dataset_kwargs={"num_samples": 10000}, num_chunks=10, max_epochs=1000),
    # paper: downloads CIFAR-10 once (sha256-checked) and normalises the inputs, as the official code
    "paper": dict(dataset="cifar10", dataset_kwargs={"download": True, "normalize": True},
                  model="resnet18", model_kwargs={},
                  optimizer="sgd", lr=1e-3, momentum=0.9, weight_decay=0.0, batch_size=128,
                  num_chunks=50, target_train_acc=0.999, max_epochs=10000),
}
# Seconds per run (one method, one seed, one torch thread), measured on the project's 2-core x86 CPU
# while other jobs shared it: tiny with benchmarks/chunked_tiny.py (10 methods, 103 s on 2 workers;
# cold 11 s, l2_init 39 s), small with `sweep --methods cold,warm,sp,dash` (4 min on 2 workers;
# cold 143 s, dash 68 s). None = not measured on that hardware.
PRESET_COST: dict[str, dict] = {
    "tiny": {"cpu_2core_s": 16.0, "note": "mean over the 10 methods; l2_init is the slowest"},
    "small": {"cpu_2core_s": 98.0, "note": "mean over cold, warm, sp, dash; cold is the slowest"},
    "paper": {"cpu_2core_s": None, "note": "GPU only, not measured here: about 146k SGD steps of "
                                           "ResNet-18 per cold run (Table 1 CIFAR-10: 2916 x 50)"},
}


def preset_config(preset: str, **overrides) -> ChunkedConfig:
    """The config of a named preset (``tiny``, ``small``, ``paper``) with field overrides.

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; allowed: {', '.join(PRESETS)}")
    values = {k: (dict(v) if isinstance(v, dict) else v) for k, v in PRESETS[preset].items()}
    values.update(overrides)
    return config_from_dict(values)


def config_from_dict(values: dict) -> ChunkedConfig:
    """Build and validate a :class:`ChunkedConfig` from a dict; unknown keys are an error.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    names = {f.name for f in dataclasses.fields(ChunkedConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown config key(s) {unknown}; allowed: {', '.join(sorted(names))}")
    config = ChunkedConfig(**values)
    validate_config(config)
    return config


# ---------------------------------------------------------------------------------------------
# Typed overrides: `--set key=value`, typed by the dataclass field (nanoGPT's idea without exec).
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _parse_value(key: str, kind, text: str):
    try:
        if kind is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError("expected true/false")
        if kind is int:
            return int(text)
        if kind is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError("expected a finite number")
            return value
        if kind is dict:
            value = json.loads(text)
            if not isinstance(value, dict):
                raise ValueError("expected a JSON object such as {\"lam\": 0.3}")
            return value
        return text
    except ValueError as err:
        raise ValueError(f"bad value {text!r} for {key} ({kind.__name__}): {err}") from None


def apply_overrides(config: ChunkedConfig, assignments: list[str]) -> ChunkedConfig:
    """Apply ``key=value`` strings, each parsed with the type of its dataclass field.

    ``key.sub=value`` sets one entry of a dict field (``method_params.lam=0.5``); the value is read
    as JSON when it parses as JSON, else kept as a string. Unknown keys and unparsable values raise
    ``ValueError`` naming them. The result is validated.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    hints = typing.get_type_hints(ChunkedConfig)
    values = config.to_dict()
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"bad override {assignment!r}; expected key=value")
        top, _, sub = key.partition(".")
        if top not in hints:
            raise ValueError(f"unknown config key {top!r}; allowed: {', '.join(sorted(hints))}")
        if sub:
            if hints[top] is not dict:
                raise ValueError(f"{top!r} is not a dict field, so {key!r} is not a key")
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = text
            values[top] = dict(values[top], **{sub: parsed})
        else:
            values[top] = _parse_value(top, hints[top], text)
    return config_from_dict(values)


def validate_config(config: ChunkedConfig) -> None:
    """Raise ``ValueError`` naming the first bad field of ``config`` and what is allowed.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    hints = typing.get_type_hints(ChunkedConfig)
    for f in dataclasses.fields(config):
        value, kind = getattr(config, f.name), hints[f.name]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise ValueError(f"{f.name}={value!r} has type {type(value).__name__}; expected {kind.__name__}")
    choices = {"dataset": DATASETS, "model": MODELS, "optimizer": OPTIMIZERS, "method": tuple(METHODS)}
    for name, allowed in choices.items():
        if getattr(config, name) not in allowed:
            raise ValueError(f"unknown {name} {getattr(config, name)!r}; allowed: {', '.join(allowed)}")
    if not 0.0 < config.target_train_acc <= 1.0:
        raise ValueError(f"target_train_acc={config.target_train_acc} must lie in (0, 1]")
    positive = ("num_chunks", "batch_size", "max_epochs", "lr", "diagnostics_max_points")
    for name in positive:
        if not getattr(config, name) > 0:
            raise ValueError(f"{name}={getattr(config, name)} must be > 0")
    if not 0.0 <= config.momentum < 1.0:
        raise ValueError(f"momentum={config.momentum} must lie in [0, 1)")
    for name in ("weight_decay", "rho", "seed", "data_seed"):
        if getattr(config, name) < 0:
            raise ValueError(f"{name}={getattr(config, name)} must be >= 0")
    if not (config.device in ("auto", "cpu", "mps") or config.device.startswith("cuda")):
        raise ValueError(f"unknown device {config.device!r}; allowed: auto, cpu, cuda, cuda:N, mps")
    for name in ("dataset_kwargs", "model_kwargs", "method_params"):
        try:
            json.dumps(getattr(config, name))
        except TypeError as err:
            raise ValueError(f"{name} must be JSON-serialisable: {err}") from None


def method_spec(config: ChunkedConfig) -> tuple[str, dict]:
    """``(intervention name, params)`` for ``config.method``: the table entry plus method_params.

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    if config.method not in METHODS:
        raise ValueError(f"unknown method {config.method!r}; allowed: {', '.join(METHODS)}")
    name, fixed = METHODS[config.method]
    return name, {**fixed, **config.method_params}


def seed_streams(seed: int, names: tuple[str, ...] = ("init", "chunks", "train", "intervention")
                 ) -> dict[str, int]:
    """Independent integer seeds for the named random streams of one run, derived from ``seed``.

    Separate streams keep methods paired: changing what an intervention draws never changes the
    initial model, the chunks or the batch order. Every protocol derives its streams here.

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    children = np.random.SeedSequence(int(seed)).spawn(len(names))
    return {name: int(child.generate_state(1)[0]) for name, child in zip(names, children)}


def check_seeds_and_counts(config, counts: tuple[str, ...] = ("batch_size", "max_epochs")) -> None:
    """Checks every protocol config shares: at least one seed, each a valid ``seed_streams`` seed,
    and the named fields positive ints. Raises ValueError naming the bad value.

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    if not config.seeds:
        raise ValueError("seeds must name at least one seed")
    for s in config.seeds:
        seed_streams(s)
    for key in counts:
        v = getattr(config, key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{key}={v!r} must be a positive int")


# ---------------------------------------------------------------------------------------------
# Results files
def table1_summary(records: list[dict]) -> dict:
    """The paper's Table 1 columns from per-experiment records (papers.md §C.3/§C.4).

    Test accuracy and steps at the last experiment, and their means over all experiments.
    Accuracies are fractions in [0, 1] (the paper prints percentages).

    Explained in: book/00_headline_results.ipynb
    """
    if not records:
        raise ValueError("table1_summary needs at least one experiment record")
    accs = [r["test_acc"] for r in records]
    steps = [r["steps"] for r in records]
    return {"test_acc_last": accs[-1], "steps_last": steps[-1],
            "test_acc_avg": float(np.mean(accs)), "steps_avg": float(np.mean(steps)),
            "total_steps": int(sum(steps)), "num_experiments": len(records)}


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """The git commit of the package's checkout (``+dirty`` if modified), or None without git.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    where = str(path or Path(__file__).resolve().parent)
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "") if sha else None


def provenance(device: str, device_name: str | None = None) -> dict:
    """Versions, commit, host and device of this process, embedded in every results file.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    import torch  # only runs that trained anything call this

    return {"package_version": __version__, "git_commit": git_commit(),
            "torch_version": torch.__version__, "numpy_version": np.__version__,
            "python_version": platform.python_version(), "platform": platform.platform(),
            "device": device, "device_name": device_name, "torch_threads": torch.get_num_threads(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": list(sys.argv)}


def write_json_atomic(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically: temp file in the same directory, then rename.

    If serialisation fails the target is untouched and no temp file remains.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    path = Path(path)
    text = json.dumps(obj, indent=1, allow_nan=False)  # fail before touching the disk
    return write_bytes(path, text + "\n")


_RECORD_KEYS = ("experiment", "n_train", "test_acc", "train_acc", "steps", "epochs", "wall_time")


def load_results(path: str | os.PathLike) -> dict:
    """Read and validate a results file written by :func:`plasticity_sim.runs.run_config`.

    Checks the format tag, the config (every key known and valid), one record per completed
    experiment with the required fields, and that the stored Table-1 summary matches the records.
    Raises ``ValueError`` (or ``FileNotFoundError``) saying what is wrong.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"results file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
        raise ValueError(f"{path}: format is {data.get('format') if isinstance(data, dict) else None!r}; "
                         f"expected {RESULTS_FORMAT!r}")
    for key in ("protocol", "config", "method", "provenance", "seeds", "experiments", "summary"):
        if key not in data:
            raise ValueError(f"{path}: missing key {key!r}")
    try:
        config = config_from_dict(data["config"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: bad config: {err}") from None
    records = data["experiments"]
    if not isinstance(records, list) or len(records) != config.num_chunks:
        raise ValueError(f"{path}: expected {config.num_chunks} experiment records, "
                         f"found {len(records) if isinstance(records, list) else records!r}")
    for i, record in enumerate(records, start=1):
        missing = [k for k in _RECORD_KEYS if k not in record]
        if missing or record["experiment"] != i:
            raise ValueError(f"{path}: experiment record {i} is malformed (missing {missing})")
    if table1_summary(records) != data["summary"]:
        raise ValueError(f"{path}: summary does not match the experiment records")
    return data


# ---------------------------------------------------------------------------------------------
# Checkpoints (torch.save of tensors, ints, floats and strings only, so weights_only=True loads)
def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """``torch.save`` ``state`` to ``path`` atomically (temp file in the same dir, then rename).

    Explained in: book/dash/05_paper_scale.ipynb
    """
    import torch

    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a {CHECKPOINT_FORMAT} checkpoint")
    return state


def json_dumps(obj) -> str:
    """Strict JSON text (no NaN): how checkpoints carry configs and records as plain strings.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    return json.dumps(obj, allow_nan=False)


def json_loads(text: str):
    """Inverse of :func:`json_dumps`. Explained in: book/dash/05_paper_scale.ipynb"""
    return json.loads(text)


def same_results_config(a: dict, b: dict) -> bool:
    """True when two config dicts describe the same numbers (``progress`` and ``device`` aside).

    Explained in: book/dash/05_paper_scale.ipynb
    """
    def strip(d):
        return {k: v for k, v in d.items() if k not in _NON_RESULT_FIELDS}
    return strip(a) == strip(b)


# ---------------------------------------------------------------------------------------------
# Running: config -> (checkpoints) -> results file
def run_config(config: ChunkedConfig, *, out: str | os.PathLike | None = None,
               checkpoint_dir: str | os.PathLike | None = None, resume: bool = False,
               stop_after: int | None = None, protocol: str = "chunked") -> dict:
    """Run ``config`` with checkpoints and return the results dict (also written to ``out``).

    With ``checkpoint_dir`` a checkpoint is written after every experiment; ``resume=True``
    continues from it (a missing checkpoint starts from scratch; one from a different config is an
    error). ``stop_after`` (a test hook) stops after that many experiments, leaving the checkpoint
    and writing no results file; the partial results are returned with ``"complete": False``.

    Explained in: book/dash/05_paper_scale.ipynb
    """
    from plasticity_sim.protocols import get_protocol

    validate_config(config)
    run_protocol = get_protocol(protocol)
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint_dir")
    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    resume_state = None
    if resume and ckpt_path.is_file():
        resume_state = load_checkpoint(ckpt_path)
        saved = json_loads(resume_state["config_json"])
        if not same_results_config(saved, config.to_dict()):
            diff = sorted(k for k in saved if saved.get(k) != config.to_dict().get(k)
                          and k not in _NON_RESULT_FIELDS)
            raise ValueError(f"checkpoint {ckpt_path} was made with a different config (fields {diff})")
    on_checkpoint = (lambda state: save_checkpoint(ckpt_path, state)) if ckpt_path else None

    result = run_protocol(config, resume_state=resume_state, on_checkpoint=on_checkpoint,
                          stop_after=stop_after)
    results = {
        "format": RESULTS_FORMAT, "protocol": protocol, "complete": result.complete,
        "config": config.to_dict(),
        "method": {"name": config.method, "intervention": result.intervention["name"],
                   "params": result.intervention["params"], "requested": result.intervention["requested"]},
        "provenance": dict(provenance(result.device, result.device_name),
                           wall_time_s=result.elapsed, resumed=resume_state is not None),
        "seeds": result.seeds, "dataset_meta": result.dataset_meta,
        "experiments": result.records, "summary": result.summary,
    }
    if out is not None and result.complete:
        write_json_atomic(out, results)
    return results


def run_job(job: dict) -> str:
    """One sweep job: ``{"config": dict, "out": path, "checkpoint_dir": path|None, "resume": bool}``.

    A pure function of its argument (plain data in, results file out), so any executor can run it:
    a local process pool (``python -m plasticity_sim sweep``) or Ray (``--backend ray``).

    Explained in: book/dash/05_paper_scale.ipynb
    """
    config = config_from_dict(job["config"])
    run_config(config, out=job["out"], checkpoint_dir=job.get("checkpoint_dir"),
               resume=bool(job.get("resume", False)), protocol=job.get("protocol", "chunked"))
    return str(job["out"])
