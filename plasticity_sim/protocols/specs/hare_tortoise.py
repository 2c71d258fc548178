"""Configs, presets, costs and summaries of the Hare & Tortoise part's protocols (book/hare_tortoise):
the warm-start protocol with label noise (Lee et al. 2024 §3, App. A; fact sheet §D.2) and the
growing-data protocol of their §5.2. torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass

from plasticity_sim.methods import trainable
from plasticity_sim.runs import option

from .common import DATASETS, MODELS, OPTIMIZERS, mean_by


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
