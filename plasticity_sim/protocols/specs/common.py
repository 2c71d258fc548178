"""What the protocols' configs of every part share: the engine's names (models, datasets, optimizers,
from :mod:`plasticity_sim.registry`), the device check, and the per-group mean a summary is made of.
torch-free.
"""
from __future__ import annotations

import numpy as np

from plasticity_sim.devices import check_device_name as check_device
from plasticity_sim.registry import DATASET_NAMES as DATASETS
from plasticity_sim.registry import MODEL_NAMES as MODELS
from plasticity_sim.registry import OPTIMIZER_NAMES as OPTIMIZERS

__all__ = ["DATASETS", "MODELS", "OPTIMIZERS", "check_device", "check_method_params", "mean_by"]


def check_method_params(method_params: dict, methods) -> None:
    for name, params in method_params.items():
        if name not in methods:
            raise ValueError(f"method_params names {name!r}, which is not in methods={tuple(methods)!r}")
        if not isinstance(params, dict):
            raise ValueError(f"method_params[{name!r}]={params!r} must be a dict of parameters")


def mean_by(records: list[dict], keys: tuple[str, ...], value: str = "test_acc") -> list[dict]:
    """Mean of ``value`` over the records sharing ``keys`` (e.g. method and E), as a list of
    ``{**keys, "n": count, "mean_<value>": mean}`` in first-seen order: a protocol's summary."""
    groups: dict[tuple, list[float]] = {}
    for r in records:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r[value])
    return [{**dict(zip(keys, k)), "n": len(v), f"mean_{value}": float(np.mean(v))} for k, v in groups.items()]
