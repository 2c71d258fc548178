"""Configs, presets, costs and summaries of the DASH part's protocols: chunked (book/dash/02),
two_phase (book/dash/03), subsets (book/dash/04), feature_probe (book/dash/01). torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plasticity_sim.methods import trainable
from plasticity_sim.runs import option

from .common import DATASETS, MODELS, OPTIMIZERS, check_device, check_method_params


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
    # Random streams of the experiments. "sequential" (the default, every shipped study before the
    # J sweep): one batch-order / intervention stream runs through all experiments. "by_size": each
    # experiment draws from streams keyed by the number of points it trains on, so what it draws
    # does not depend on earlier experiments; with the chunks cut from one permutation, the last
    # experiment of a cold start is then the same run at every J (book/dash/02c).
    streams: str = option("sequential", choices=("sequential", "by_size"))
    # Run only the last experiment (a cold start's last experiment needs nothing before it): needs
    # method "cold", streams "by_size" and num_chunks >= 2. Its results hold one record.
    only_last: bool = False
    # Budget control: after the last experiment reaches its target, keep training the same network
    # on all the data for continue_epochs more epochs, measuring test accuracy every
    # continue_eval_every epochs (the last record's "continuation").
    continue_epochs: int = option(0, ge=0)
    continue_eval_every: int = option(1, gt=0)
    device: str = option("auto", result=False)
    diagnostics: bool = False
    diagnostics_max_points: int = option(2000, gt=0)   # points of seen data for activation diagnostics
    progress: bool = option(True, result=False)

    def check(self) -> None:
        check_device(self.device)
        # (the method, checked when a run is prepared, must be cold: a sweep's base config has none yet)
        if self.only_last and (self.streams != "by_size" or self.num_chunks < 2):
            raise ValueError(f"only_last=True needs streams=by_size and num_chunks >= 2 (got streams="
                             f"{self.streams!r}, num_chunks={self.num_chunks}): only then is a cold start's "
                             "last experiment independent of the ones before it")


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
        check_method_params(self.method_params, self.methods)


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
