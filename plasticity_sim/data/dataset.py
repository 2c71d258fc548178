"""The `Dataset` container every loader returns: train/test tensors plus provenance.

Data lives as whole tensors on the training device (no `DataLoader`): mini-batches are index
permutations into `x_train` (see :func:`plasticity_sim.data.transforms.iterate_minibatches`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch


@dataclass
class Dataset:
    """A train/test split held as tensors.

    `x_*` are float32 with shape (N, *input_shape): (N, 1, 40) for MNIST-1D, (N, C, H, W) for
    images; `y_*` are int64 class indices of shape (N,). `meta` is JSON-serialisable provenance
    (source, sizes, seeds, options). `truth` holds numpy ground truth where the data were generated
    from a known model (feature/noise images), else None; it is not JSON and is never saved in
    results files.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    meta: dict = field(default_factory=dict)
    truth: dict | None = None

    def __post_init__(self) -> None:
        # Catch loader bugs at the boundary instead of deep inside a training loop.
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.dtype != torch.float32:
                raise ValueError(f"x_{split} must be float32, got {x.dtype}")
            if y.dtype != torch.int64 or y.dim() != 1:
                raise ValueError(f"y_{split} must be a 1-D int64 tensor, got {y.dtype} {tuple(y.shape)}")
            if x.shape[0] != y.shape[0]:
                raise ValueError(f"x_{split} has {x.shape[0]} rows but y_{split} has {y.shape[0]}")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(f"train inputs {tuple(self.x_train.shape[1:])} and test inputs "
                             f"{tuple(self.x_test.shape[1:])} differ in shape")

    def to(self, device) -> "Dataset":
        """Return a copy whose four tensors live on `device` (meta and truth are shared).

        Explained in: book/dash/02_warm_starting_real_networks.ipynb
        """
        device = torch.device(device)
        return dataclasses.replace(
            self, x_train=self.x_train.to(device), y_train=self.y_train.to(device),
            x_test=self.x_test.to(device), y_test=self.y_test.to(device))

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-example input shape, e.g. (1, 40) for MNIST-1D or (3, 32, 32) for CIFAR.
        """
        return tuple(self.x_train.shape[1:])

    @property
    def num_train(self) -> int:
        """Number of training examples."""
        return int(self.x_train.shape[0])

    @property
    def num_test(self) -> int:
        """Number of test examples."""
        return int(self.x_test.shape[0])

    @property
    def device(self) -> torch.device:
        """Device of the tensors."""
        return self.x_train.device
