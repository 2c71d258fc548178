"""The engine's named tables - models, datasets, optimizers - each declared once, here.

Each entry maps a name to where its code lives (``"module:attribute"``). This module imports no
torch, so the configs (:mod:`plasticity_sim.protocols.specs`) check a name against the same table
that :func:`plasticity_sim.models.build_model`, :func:`plasticity_sim.data.load_dataset` and
:func:`plasticity_sim.train.make_optimizer` build from: a name cannot be accepted by one and
refused (or left out of an "allowed:" message) by the other. Adding a model, dataset or optimizer
is one line here plus its code.
"""
from __future__ import annotations

import importlib

MODELS = {
    "mlp": "plasticity_sim.models.mlp:MLP",
    "cnn": "plasticity_sim.models.conv:SmallCNN",
    "resnet18": "plasticity_sim.models.conv:ResNet18",
    "vgg16_bn": "plasticity_sim.models.conv:VGG16BN",
    "mlp_ln": "plasticity_sim.models.mlp:LayerNormMLP",      # continual part: layer norm + weight decay
    "mlp_crelu": "plasticity_sim.models.mlp:CReLUMLP",      # Hare & Tortoise part
    "vit_tiny": "plasticity_sim.models.vit:ViTTiny",        # Hare & Tortoise part
}
DATASETS = {
    "mnist1d": "plasticity_sim.data.offline:load_mnist1d",
    "digits": "plasticity_sim.data.offline:load_digits",
    "feature_noise": "plasticity_sim.data.offline:make_feature_noise",
    "cifar10": "plasticity_sim.data.download:load_cifar10",
    "cifar100": "plasticity_sim.data.download:load_cifar100",
    "svhn": "plasticity_sim.data.download:load_svhn",
    "tiny_imagenet": "plasticity_sim.data.download:load_tiny_imagenet",
}
OPTIMIZERS = {
    "sgd": "torch.optim:SGD",
    "adamw": "torch.optim:AdamW",
    "sam": "plasticity_sim.train:SAM",
}

MODEL_NAMES = tuple(MODELS)
DATASET_NAMES = tuple(DATASETS)
OPTIMIZER_NAMES = tuple(OPTIMIZERS)


def load(table: dict[str, str], name: str):
    """The object that ``table[name]`` points to (imports its module)."""
    module, _, attribute = table[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def load_all(table: dict[str, str]) -> dict:
    """``{name: object}`` for every entry of ``table``, in its order."""
    return {name: load(table, name) for name in table}
