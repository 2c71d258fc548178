"""What each protocol takes and what its results say: configs, presets, costs, summaries.

One dataclass per protocol; each field declares its own checks (:func:`plasticity_sim.runs.option`),
so :func:`plasticity_sim.runs.validate_config` checks every protocol the same way. This module is
torch-free, so the CLI can parse and reject a command line, and chapters can read results files,
without importing torch; the training loops live beside it, one module per protocol.

Accuracies are fractions in [0, 1] everywhere (the papers print percentages).

Why one module over 400 lines: every protocol's config, one after another, so a reader compares what
the protocols take in one place; each block is a plain dataclass of declared fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plasticity_sim.methods import trainable
from plasticity_sim.runs import option

DATASETS = ("mnist1d", "digits", "feature_noise", "cifar10", "cifar100", "svhn", "tiny_imagenet")
MODELS = ("mlp", "cnn", "resnet18", "vgg16_bn")
OPTIMIZERS = ("sgd", "adamw", "sam")


def _check_device(device: str) -> None:
    if not (device in ("auto", "cpu", "mps") or device.startswith("cuda")):
        raise ValueError(f"unknown device {device!r}; allowed: auto, cpu, cuda, cuda:N, mps")


# ---------------------------------------------------------------------------------------------
# chunked: the DASH paper's warm-start protocol (book/dash/02)
@dataclass
class ChunkedConfig:
    """One run of the DASH paper's chunked warm-start protocol (DASH paper §C.3).

    ``seed`` drives model init, chunking, batch order and the interventions' randomness through
    separate streams, so two methods with the same seed start from the same model and see the
    same chunks. ``data_seed`` fixes the generated dataset (MNIST-1D, feature/noise) for every
    run seed (MNIST-1D keeps the library's own generation seed 42 unless ``dataset_kwargs`` says
    otherwise). ``method`` names an entry of :mod:`plasticity_sim.methods`; ``method_params``
    override its defaults.
    """

    dataset: str = option("mnist1d", choices=DATASETS)
    dataset_kwargs: dict = option({})
    data_seed: int = option(0, ge=0)
    model: str = option("mlp", choices=MODELS)
    model_kwargs: dict = option({})
    optimizer: str = option("adamw", choices=OPTIMIZERS)
    lr: float = option(1e-2, gt=0)
    momentum: float = option(0.9, ge=0, lt=1)
    weight_decay: float = option(1e-4, ge=0)
    rho: float = option(0.1, ge=0)                 # SAM neighbourhood size (optimizer="sam" only)
    batch_size: int = option(128, gt=0)
    num_chunks: int = option(10, gt=0)
    target_train_acc: float = option(0.999, gt=0, le=1)
    max_epochs: int = option(100, gt=0)
    # Data augmentation, a control applied to every method alike (not a method): random shift by up
    # to augment_pad positions (pad-and-crop) and, if augment_flip, a mirror with p = 0.5 - the DASH
    # "SoTA" setting's crop + flip. Off by default, as in the paper's main (Table 1) setting.
    augment_pad: int = option(0, ge=0)
    augment_flip: bool = False
    method: str = option("warm", choices=trainable)
    method_params: dict = option({})
    seed: int = option(0, ge=0)
    device: str = option("auto", result=False)
    diagnostics: bool = False
    diagnostics_max_points: int = option(2000, gt=0)   # points of seen data for activation diagnostics
    progress: bool = option(True, result=False)

    def check(self) -> None:
        _check_device(self.device)


def table1_summary(records: list[dict]) -> dict:
    """The paper's Table 1 columns from per-experiment records (DASH paper §C.3/§C.4).

    Test accuracy and steps at the last experiment, and their means over all experiments.
    """
    if not records:
        raise ValueError("table1_summary needs at least one experiment record")
    accs = [r["test_acc"] for r in records]
    steps = [r["steps"] for r in records]
    return {"test_acc_last": accs[-1], "steps_last": steps[-1],
            "test_acc_avg": float(np.mean(accs)), "steps_avg": float(np.mean(steps)),
            "total_steps": int(sum(steps)), "num_experiments": len(records)}


# Presets: overrides of the defaults, plus the measured cost used for the ETA line.
# tiny/tiny_cnn: the CPU setting of book/dash/02, chosen by measurement (results/dash_cpu): MNIST-1D,
# the paper's optimizer family (SGD, momentum 0.9, no weight decay, batch 128, train each experiment
# to 99.9 % running train accuracy). The learning rate is 1e-2, not the paper's 1e-3: at 1e-3 the
# cold runs hit the epoch cap on the first chunks (800-3,200 points do not reach 99.9 % in 1000
# epochs), so the stopping rule, not the target, would end them; at 1e-2 every experiment reaches
# the target and the step counts fall smoothly with j. small: the earlier AdamW setting (the
# findings' first runs), kept as the optimizer ablation's other arm; paper: ResNet-18 on CIFAR-10
# with the official code's standard setting (DASH paper §C.3).
_MNIST1D_SGD = dict(dataset="mnist1d", dataset_kwargs={"num_samples": 10000, "train_split": 0.4},
                    optimizer="sgd", lr=1e-2, momentum=0.9, weight_decay=0.0, batch_size=128,
                    target_train_acc=0.999, max_epochs=300, num_chunks=5)
_MNIST1D_MLP = dict(dataset="mnist1d", model="mlp",
                    model_kwargs={"depth": 3, "width": 256}, optimizer="adamw", lr=1e-2,
                    weight_decay=1e-4, batch_size=128, target_train_acc=0.999, max_epochs=100)
# The AdamW arm of the optimizer ablation (the setting the book used before): apply to tiny/tiny_cnn.
ADAMW_ABLATION = {"optimizer": "adamw", "lr": 1e-2, "weight_decay": 1e-4}
CHUNKED_PRESETS: dict[str, dict] = {
    # tiny: 4,000 train points in 5 chunks; a 6,000-point test set keeps the test-accuracy noise
    # (about 0.6 pts) below the warm-start gap it has to show. MLP 40-256-256-10.
    "tiny": dict(_MNIST1D_SGD, model="mlp", model_kwargs={"depth": 3, "width": 256}),
    # tiny_cnn: the same data and optimizer with the 1-D CNN (about 8 k parameters)
    "tiny_cnn": dict(_MNIST1D_SGD, model="cnn", model_kwargs={}),
    # small: the earlier AdamW setting (8,000 train points, J=10); the cap is high enough that no
    # experiment stops below the 0.999 target (100 epochs was not: 3 of 10 cold experiments hit it)
    "small": dict(_MNIST1D_MLP, dataset_kwargs={"num_samples": 10000}, num_chunks=10, max_epochs=1000),
    # paper: downloads CIFAR-10 once (sha256-checked) and normalises the inputs, as the official code
    "paper": dict(dataset="cifar10", dataset_kwargs={"download": True, "normalize": True},
                  model="resnet18", model_kwargs={},
                  optimizer="sgd", lr=1e-3, momentum=0.9, weight_decay=0.0, batch_size=128,
                  num_chunks=50, target_train_acc=0.999, max_epochs=10000),
}
# Seconds per run (one method, one seed, one torch thread) on the project's 2-core x86 CPU while
# other jobs shared it: tiny/tiny_cnn with benchmarks/warm_start_study.py (18 runs, 351 s on 2 workers),
# small with `sweep --methods cold,warm,sp,dash` (4 min on 2 workers). None = not measured there.
CHUNKED_COST: dict[str, dict] = {
    "tiny": {"cpu_2core_s": 25.0, "note": "mean over the study's 9 methods (benchmarks/warm_start_study.py); "
                                          "l2_init, capped at 300 epochs, is the slowest"},
    "tiny_cnn": {"cpu_2core_s": 31.0, "note": "mean over the study's 9 methods (benchmarks/warm_start_study.py); "
                                              "l2_init, capped at 300 epochs, is the slowest"},
    "small": {"cpu_2core_s": 98.0, "note": "mean over cold, warm, sp, dash; cold is the slowest"},
    "paper": {"cpu_2core_s": None, "note": "GPU only, not measured here: about 146k SGD steps of "
                                           "ResNet-18 per cold run (Table 1 CIFAR-10: 2916 x 50)"},
}


# ---------------------------------------------------------------------------------------------
# two_phase: pre-train on part of the data, then train on all of it (book/dash/03, DASH Fig. 2)
@dataclass
class PretrainSweepConfig:
    """Settings of the two-phase pre-training sweep (defaults: the CPU setting of the chapter).

    ``pretrain_epochs`` is the grid of E values (0 = cold start); ``methods`` what happens between
    the phases (any method of the method table: ``warm`` does nothing, ``dash`` shrinks once, a
    ``during`` method also acts in phase 2); ``method_params`` maps a method name to parameter
    overrides (``{"dash": {"lam": 0.3}}``). Phase 2 trains on all data until the epoch's running
    train accuracy reaches ``target_train_acc`` or ``max_epochs``, with a fresh optimizer when
    ``reset_optimizer`` (so E = 0 is exactly a cold start whatever the optimizer).

    Explained in: book/dash/03_noise_memorisation.ipynb
    """

    dataset: str = option("mnist1d", choices=DATASETS)
    dataset_kwargs: dict = option({})
    model: str = option("mlp", choices=MODELS)
    model_kwargs: dict = option({})
    optimizer: str = option("adamw", choices=OPTIMIZERS)
    lr: float = option(2e-3, gt=0)
    weight_decay: float = option(1e-4, ge=0)
    batch_size: int = option(128, gt=0)
    pretrain_fraction: float = option(0.5, gt=0, lt=1)
    pretrain_epochs: tuple = option((0, 5, 10, 20, 40), ge=0, nonempty=True, unique=True)
    methods: tuple = option(("warm", "dash"), choices=trainable, nonempty=True, unique=True)
    method_params: dict = option({})
    target_train_acc: float = option(0.999, gt=0, le=1)
    max_epochs: int = option(200, gt=0)
    reset_optimizer: bool = True
    seeds: tuple = option((0, 1), ge=0, nonempty=True, unique=True)
    data_seed: int = option(0, ge=0)

    def check(self) -> None:
        for e in self.pretrain_epochs:
            if isinstance(e, bool) or not isinstance(e, (int, np.integer)):
                raise ValueError(f"pretrain_epochs={self.pretrain_epochs!r}: need a list of ints >= 0")
        _check_method_params(self.method_params, self.methods)


def _check_method_params(method_params: dict, methods) -> None:
    for name, params in method_params.items():
        if name not in methods:
            raise ValueError(f"method_params names {name!r}, which is not in methods={tuple(methods)!r}")
        if not isinstance(params, dict):
            raise ValueError(f"method_params[{name!r}]={params!r} must be a dict of parameters")


# ---------------------------------------------------------------------------------------------
# subsets: cosine(weight, -test gradient) vs subset size (book/dash/04, DASH appendix)
@dataclass
class SubsetCosineConfig:
    """Settings of the subset-cosine experiment (defaults: the CPU setting of the chapter).

    ``sizes`` are the subset sizes (nested, increasing); ``include_head`` adds the classifier's
    output units to the pooled cosines (the paper's figure is about hidden units, so off).

    Explained in: book/dash/04_cosine_generalisation.ipynb
    """

    dataset: str = option("mnist1d", choices=DATASETS)
    dataset_kwargs: dict = option({})
    model: str = option("cnn", choices=MODELS)
    model_kwargs: dict = option({})
    optimizer: str = option("adamw", choices=OPTIMIZERS)
    lr: float = option(1e-2, gt=0)
    weight_decay: float = option(1e-4, ge=0)
    batch_size: int = option(128, gt=0)
    sizes: tuple = option((250, 500, 1000, 2000, 4000), ge=1, nonempty=True, unique=True, increasing=True)
    target_train_acc: float = option(0.999, gt=0, le=1)
    max_epochs: int = option(150, gt=0)
    include_head: bool = False
    seeds: tuple = option((0, 1), ge=0, nonempty=True, unique=True)
    data_seed: int = option(0, ge=0)


# ---------------------------------------------------------------------------------------------
# feature_probe: ground truth for DASH's cosine on feature/noise images (book/dash/01)
@dataclass
class FeatureProbeConfig:
    """Settings of the feature probe: the feature/noise data, the patch CNN, training, DASH.

    ``n_train`` points are split in two halves (old chunk, new chunk); the CNN is trained on the
    first half to 100 % train accuracy (or ``max_epochs``).

    Explained in: book/dash/01_dash_rule.ipynb
    """

    n_train: int = option(400, ge=4)
    n_test: int = option(2000, gt=0)
    patch_size: int = option(8, gt=0)
    image_size: int = option(24, gt=0)
    channels: int = option(3, gt=0)
    features_per_class: int = option(4, gt=0)
    p_max: float = option(0.4, gt=0, le=1)
    noise_patches: int = option(1, ge=0)
    noise_std: float = option(1.0, ge=0)
    filters: int = option(32, gt=0)
    init_scale: float = option(0.3, gt=0)
    lr: float = option(1e-2, gt=0)
    batch_size: int = option(50, gt=0)
    max_epochs: int = option(500, gt=0)
    lam: float = option(0.3, ge=0, le=1)
    alpha: float = option(0.3, gt=0, le=1)
    seeds: tuple = option((0, 1, 2, 3), ge=0, nonempty=True, unique=True)
    data_kwargs: dict = option({})

    def check(self) -> None:
        if self.n_train % 2:
            raise ValueError(f"n_train={self.n_train!r} must be an even number >= 4 (two equal halves)")


def mean_by(records: list[dict], keys: tuple[str, ...], value: str = "test_acc") -> list[dict]:
    """Mean of ``value`` over the records sharing ``keys`` (e.g. method and E), as a list of
    ``{**keys, "n": count, "mean_<value>": mean}`` in first-seen order: a protocol's summary."""
    groups: dict[tuple, list[float]] = {}
    for r in records:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r[value])
    return [{**dict(zip(keys, k)), "n": len(v), f"mean_{value}": float(np.mean(v))} for k, v in groups.items()]


# ---------------------------------------------------------------------------------------------
# continual learning (book/continual): slowly-changing regression, permuted inputs, class-incremental
REGRESSION_ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "elu", "swish")
REGRESSION_METHODS = ("bp", "cbp", "l2", "sp")


@dataclass
class SlowRegressionConfig:
    """The slowly-changing regression of Dohare et al. (2024), all ``seeds`` in one vectorised run.

    Problem sizes default to the published ones (15 flipping bits, one flipped every 10,000
    steps, 5 i.i.d. bits, 100 LTUs with beta 0.7, a 5-unit learner); ``steps`` and ``bin_size`` to
    the CPU preset (600,000 steps, bins of 10,000; published 1-3 M steps, bins of 20,000).
    ``method``: "bp", "cbp" (``replacement_rate``, ``maturity_threshold``, ``decay_rate``),
    "l2" (``weight_decay``), "sp" (``weight_decay`` + ``sp_noise`` every step).
    """

    steps: int = option(600_000, gt=0)
    bin_size: int = option(10_000, gt=0)
    activation: str = option("relu", choices=REGRESSION_ACTIVATIONS)
    method: str = option("bp", choices=REGRESSION_METHODS)
    optimizer: str = option("sgd", choices=("sgd", "adam"))
    lr: float = option(0.01, gt=0)
    beta1: float = option(0.9, ge=0, lt=1)
    beta2: float = option(0.999, ge=0, lt=1)
    hidden: int = option(5, gt=0)
    replacement_rate: float = option(1e-4, ge=0, le=1)
    maturity_threshold: int = option(100, ge=0)
    decay_rate: float = option(0.99, ge=0, lt=1)
    weight_decay: float = option(0.0, ge=0)
    sp_noise: float = option(0.0, ge=0)
    flip_every: int = option(10_000, gt=0)
    seeds: tuple = option((0, 1, 2, 3, 4), ge=0, nonempty=True, unique=True)

    def check(self) -> None:
        if self.steps % self.bin_size:
            raise ValueError(f"steps={self.steps} must be a multiple of bin_size={self.bin_size}")


def regression_summary(records: list[dict]) -> dict:
    """Mean error of the first and last tenth of the bins, per method (slowly-changing regression)."""
    return {"groups": mean_by(records, ("method",), "error_last")
            + mean_by(records, ("method",), "error_first"), "num_records": len(records)}


@dataclass
class PermutedConfig:
    """Online permuted inputs (Dohare et al.'s online permuted MNIST at CPU scale).

    Each task permutes the input features of the ``dataset``'s training set with a new fixed
    permutation and shows every sample once (``batch_size`` 1 is the published setting), in one
    pass; the record of a task is its online accuracy (each batch predicted before its update)
    and the diagnostics of the network at the task's end, on ``probe_points`` samples of the task:
    dormant fraction under the three definitions, effective and stable rank of the last hidden
    layer, mean weight magnitude. Published: MNIST, 3 x 2,000 ReLU units, SGD lr 0.003, 800 tasks.
    """

    dataset: str = option("mnist1d", choices=("mnist1d", "digits"))
    dataset_kwargs: dict = option({})
    samples_per_task: int = option(2000, gt=0)
    model: str = option("mlp", choices=("mlp", "mlp_ln"))
    depth: int = option(3, gt=1)
    width: int = option(128, gt=0)
    optimizer: str = option("sgd", choices=("sgd", "adam"))
    lr: float = option(0.01, gt=0)
    momentum: float = option(0.0, ge=0, lt=1)
    beta1: float = option(0.9, ge=0, lt=1)
    beta2: float = option(0.999, ge=0, lt=1)
    weight_decay: float = option(0.0, ge=0)   # the optimizer's own (layer norm + weight decay)
    batch_size: int = option(8, gt=0)
    num_tasks: int = option(30, gt=0)
    method: str = option("warm", choices=trainable)
    method_params: dict = option({})
    probe_points: int = option(500, gt=1)
    seed: int = option(0, ge=0)


@dataclass
class ClassIncrementalConfig:
    """Class-incremental learning at CPU scale (Dohare et al.'s class-incremental CIFAR-100 idea):
    start with ``initial_classes`` classes, add ``classes_per_step`` at each step, train
    ``epochs_per_step`` epochs on all seen classes; each step also trains a network from scratch on
    the same data (the published comparison); records the test accuracy of both on the seen classes.
    """

    dataset: str = option("mnist1d", choices=("mnist1d", "digits"))
    dataset_kwargs: dict = option({})
    model: str = option("mlp", choices=("mlp", "mlp_ln"))
    depth: int = option(3, gt=1)
    width: int = option(128, gt=0)
    optimizer: str = option("sgd", choices=("sgd", "adam"))
    lr: float = option(0.05, gt=0)
    momentum: float = option(0.9, ge=0, lt=1)
    weight_decay: float = option(0.0, ge=0)
    batch_size: int = option(64, gt=0)
    initial_classes: int = option(2, gt=0)
    classes_per_step: int = option(2, gt=0)
    epochs_per_step: int = option(20, gt=0)
    method: str = option("warm", choices=trainable)
    method_params: dict = option({})
    probe_points: int = option(500, gt=1)
    seed: int = option(0, ge=0)
# Hare & Tortoise part (book/hare_tortoise): the warm-start protocol with label noise (§D.2) and
# the continual protocol of their §5.2. The models of that part join the model list.
MODELS = MODELS + ("mlp_crelu", "vit_tiny")


@dataclass
class NoisyWarmStartConfig:
    """Hare & Tortoise's warm-start protocol with label noise (Lee et al. 2024 §3, App. A; fact
    sheet §D.2), over a grid of subset ``ratios`` x label ``noises``.

    Phase 1 trains on a random subset (``ratio`` of the training set) whose labels are replaced,
    each with probability ``noise``, by a uniformly random class, for ``floor(epochs / ratio)``
    epochs (equal numbers of updates); phase 2 trains on all clean data for ``epochs`` epochs with a
    fresh optimizer. ``methods`` name entries of the method table: a ``between`` method acts once
    before phase 2, a ``during`` method (H&T, EMA, L2, ...) acts through both phases.
    ``fresh_baseline`` adds, per seed, a fresh network trained ``epochs`` epochs on the clean data
    (records with method ``cold``, ratio and noise None). ``metrics`` records the App. C metrics at
    the end of phase 1 (on up to ``metrics_max_points`` points of the phase-1 data). Both phases run
    a fixed number of epochs (no early stop). Defaults: the measured CPU setting (MNIST-1D MLP).

    Explained in: book/hare_tortoise/01_warm_starting_noisy_labels.ipynb
    """

    dataset: str = option("mnist1d", choices=DATASETS)
    dataset_kwargs: dict = option({"num_samples": 10000})
    data_seed: int = option(0, ge=0)
    model: str = option("mlp", choices=MODELS)
    model_kwargs: dict = option({"depth": 3, "width": 256})
    optimizer: str = option("adamw", choices=OPTIMIZERS)
    lr: float = option(1e-3, gt=0)
    weight_decay: float = option(1e-4, ge=0)
    batch_size: int = option(256, gt=0)
    ratios: tuple = option((0.5,), gt=0, le=1, nonempty=True, unique=True)
    noises: tuple = option((0.5,), ge=0, le=1, nonempty=True, unique=True)
    epochs: int = option(100, gt=0)
    methods: tuple = option(("warm",), choices=trainable, nonempty=True, unique=True)
    method_params: dict = option({})
    fresh_baseline: bool = True
    metrics: bool = True
    metrics_max_points: int = option(2000, gt=0)
    seeds: tuple = option((0,), ge=0, nonempty=True, unique=True)
    progress: bool = option(False, result=False)

    def check(self) -> None:
        # method_params may name methods this run does not use (a sweep runs one method per job
        # with the preset's parameters for all of them); each entry must be a method's dict.
        for name, params in self.method_params.items():
            if name not in trainable():
                raise ValueError(f"method_params names {name!r}, not a method; allowed: {', '.join(trainable())}")
            if not isinstance(params, dict):
                raise ValueError(f"method_params[{name!r}]={params!r} must be a dict of parameters")


# The EMA time scale and the reset interval scaled to our phase length: the paper's mu = 0.999 and
# 10-epoch resets span about 5 % and 10 % of a 100-epoch CIFAR phase (19,600 steps); a 50-epoch
# MNIST-1D phase has 1,600 steps, so mu = 0.99 (100-step memory) and resets every 160 steps.
HT_SCALED_PARAMS = {"hare_tortoise": {"momentum": 0.99, "reset_every": 160},
                    "ema": {"momentum": 0.99}, "self_distill": {"momentum": 0.99}}

# Presets: tiny = seconds (tests, CLI smoke), small = the findings' setting (one cell), grid = the
# chapter's ratio x noise grid at half the epochs.
NOISY_WARM_START_PRESETS: dict[str, dict] = {
    "default": {},
    "tiny": {"dataset_kwargs": {"num_samples": 1000}, "model_kwargs": {"depth": 3, "width": 64},
             "epochs": 3, "ratios": (0.5,), "noises": (0.5,), "metrics_max_points": 200},
    "small": {},
    "grid": {"ratios": (0.1, 0.25, 0.5, 1.0), "noises": (0.0, 0.25, 0.5), "epochs": 50},
    "compare": {"ratios": (0.5,), "noises": (0.5,), "epochs": 50, "fresh_baseline": False,
                "method_params": HT_SCALED_PARAMS},
}
NOISY_WARM_START_COST: dict[str, dict] = {
    "tiny": {"cpu_2core_s": 2.0, "note": "one method, one seed"},
    "small": {"cpu_2core_s": 20.0, "note": "one method + fresh, one seed, one cell"},
    "grid": {"cpu_2core_s": None, "note": "12 cells, one method + fresh"},
    "compare": {"cpu_2core_s": None, "note": "one cell, one method"},
}


def noisy_warm_start_summary(records: list[dict]) -> dict:
    """Mean final test and train accuracy per (method, ratio, noise)."""
    return {"groups": mean_by(records, ("method", "ratio", "noise")),
            "train": mean_by(records, ("method", "ratio", "noise"), "train_acc"),
            "num_records": len(records)}


@dataclass
class GrowingDataConfig:
    """Hare & Tortoise's continual protocol (Lee et al. 2024 §5.2, Fig. 6): ``num_phases`` phases;
    phase k adds a new chunk of ``chunk_ratio`` of the training set; the label noise falls linearly
    from ``noise_start`` (phase 1) to ``noise_end`` (last phase); ``epochs`` per phase.

    ``access="full"``: phase k trains on every chunk so far; ``"buffer"``: on the new chunk plus a
    replay buffer of at most ``buffer_size`` earlier points (uniform reservoir sample). Labels of
    the accessible data are noisy at the phase's level [R - our reading: point i is replaced while
    its uniform draw is below the phase's noise, by the same random class, so labels heal as the
    noise falls]. A fresh optimizer every phase; ``methods`` from the method table (``cold``: a new
    network every phase). Records: one per (seed, method, phase).

    Explained in: book/hare_tortoise/02_hare_and_tortoise.ipynb
    """

    dataset: str = option("mnist1d", choices=DATASETS)
    dataset_kwargs: dict = option({"num_samples": 10000})
    data_seed: int = option(0, ge=0)
    model: str = option("mlp", choices=MODELS)
    model_kwargs: dict = option({"depth": 3, "width": 256})
    optimizer: str = option("adamw", choices=OPTIMIZERS)
    lr: float = option(1e-3, gt=0)
    weight_decay: float = option(1e-4, ge=0)
    batch_size: int = option(256, gt=0)
    num_phases: int = option(10, gt=0)
    chunk_ratio: float = option(0.1, gt=0, le=1)
    noise_start: float = option(0.5, ge=0, le=1)
    noise_end: float = option(0.0, ge=0, le=1)
    access: str = option("full", choices=("full", "buffer"))
    buffer_size: int = option(5000, gt=0)
    epochs: int = option(100, gt=0)
    methods: tuple = option(("warm",), choices=trainable, nonempty=True, unique=True)
    method_params: dict = option({})
    seeds: tuple = option((0,), ge=0, nonempty=True, unique=True)

    def check(self) -> None:
        if self.num_phases * self.chunk_ratio > 1 + 1e-9:
            raise ValueError(f"num_phases * chunk_ratio = {self.num_phases} * {self.chunk_ratio} exceeds the "
                             "training set (must be <= 1)")
        NoisyWarmStartConfig.check(self)


GROWING_DATA_PRESETS: dict[str, dict] = {
    "default": {},
    "tiny": {"dataset_kwargs": {"num_samples": 1000}, "model_kwargs": {"depth": 3, "width": 64},
             "num_phases": 3, "chunk_ratio": 0.2, "epochs": 2, "buffer_size": 100},
    "small": {"epochs": 20, "buffer_size": 1000, "method_params": HT_SCALED_PARAMS},
}


def growing_data_summary(records: list[dict]) -> dict:
    """Mean test accuracy per (method, access, phase) and at the last phase per method."""
    last = max((r["phase"] for r in records), default=0)
    return {"groups": mean_by(records, ("method", "access", "phase")),
            "last": mean_by([r for r in records if r["phase"] == last], ("method", "access")),
            "num_records": len(records)}
