"""Configs and summaries of the continual part's protocols (book/continual): slowly-changing
regression, permuted inputs, class-incremental. torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass

from plasticity_sim.methods import trainable
from plasticity_sim.runs import option

from .common import mean_by


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
