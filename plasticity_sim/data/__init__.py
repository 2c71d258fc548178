"""Datasets as tensors on the training device, and the index/label/augmentation helpers.

`load_dataset(name, seed=..., device=..., **options)` is the one entry point the protocols use:

=================  ==============================================  ============================
name               what                                            needs
=================  ==============================================  ============================
"mnist1d"          MNIST-1D, (N, 1, 40), 10 classes (CPU default)  `mnist1d` (offline)
"digits"           scikit-learn 8x8 digits, (N, 1, 8, 8)           scikit-learn (offline)
"feature_noise"    DASH data model drawn as images, with truth     nothing
"cifar10"          CIFAR-10, (N, 3, 32, 32)                        archive (download=True)
"cifar100"         CIFAR-100, (N, 3, 32, 32)                       archive (download=True)
"svhn"             SVHN, (N, 3, 32, 32)                            .mat files (download=True)
"tiny_imagenet"    Tiny-ImageNet-200, (N, 3, 64, 64)               zip + Pillow (download=True)
=================  ==============================================  ============================
"""

from __future__ import annotations

import inspect

from plasticity_sim import registry
from plasticity_sim.devices import resolve_device

from .dataset import Dataset
from .download import load_cifar10, load_cifar100, load_svhn, load_tiny_imagenet
from .offline import load_digits, load_mnist1d, make_feature_noise
from .transforms import (AUGMENT_VARIANTS, augment_batch, channel_stats, iterate_minibatches, label_noise, normalize,
                         random_chunks, subset_by_ratio)

__all__ = ["Dataset", "load_dataset", "DATASETS", "random_chunks", "subset_by_ratio",
           "label_noise", "channel_stats", "normalize", "augment_batch", "AUGMENT_VARIANTS",
           "iterate_minibatches",
           "load_mnist1d", "load_digits", "make_feature_noise", "load_cifar10", "load_cifar100",
           "load_svhn", "load_tiny_imagenet"]

# The loaders by name, from the one table of dataset names (torch-free, so configs check the same names).
DATASETS = registry.load_all(registry.DATASETS)


def load_dataset(name: str, *, seed: int = 0, device="cpu", **kwargs) -> Dataset:
    """Load dataset `name` with its options and move it to `device` ("cpu", "cuda", "auto", ...).

    Names and options: see the table in this module's docstring and each loader's docstring
    (`load_mnist1d`, `load_digits`, `make_feature_noise`, `load_cifar10`, ...). Real datasets never
    download unless `download=True` is passed. Unknown names or options raise ValueError listing
    the allowed ones.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    loader = DATASETS[name]
    allowed = [p for p in inspect.signature(loader).parameters if p != "seed"]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))} for dataset {name!r}; "
                         f"allowed: {', '.join(allowed)}")
    device = resolve_device(device)   # before loading: fail before the work, never after it
    return loader(seed=seed, **kwargs).to(device)
