"""Cosine similarity tracks generalisation: train on growing subsets, measure cos(weight, -test gradient).

The DASH paper's appendix experiment (arXiv:2410.23495): a small CNN is trained on training subsets
of increasing size; for each trained model, every unit's cosine between its incoming weights and the
negative gradient of the *test* loss is collected (a box per subset size), next to the test accuracy.
If a unit's weights point where the test loss wants them to go, the unit has learned something
that transfers; the paper reads higher cosines as better generalisation and builds DASH on that signal.

Subsets are nested: for each seed one permutation of the training set is drawn and subset n is its
first n indices, so a larger subset contains every smaller one. Each size gets a fresh model with
the seed's initial weights (identical across sizes), trained until the running train accuracy
reaches the target. Random streams (init, subset order, batch order) come from the seed through
``np.random.SeedSequence``; the global RNGs are never touched.

Explained in: book/dash/04_cosine_generalisation.ipynb
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from plasticity_sim import runs
from plasticity_sim.data import load_dataset
from plasticity_sim.diagnostics import unit_cosines
from plasticity_sim.models import build_model, check_model_size
from plasticity_sim.protocols.specs import SubsetCosineConfig
from plasticity_sim.train import evaluate, loss_and_grads, make_optimizer, preserved_modes, train_until

STREAMS = ("init", "subset", "train")


@dataclass
class SubsetCosineResult:
    """One record per (seed, size): ``seed``, ``size``, ``test_acc``, ``train_acc``, ``epochs``,
    ``reached_target``, ``wall_time``, ``cosines`` ({layer: list of per-unit cosines}) and
    ``median_cosine`` (median over the pooled units).
    """

    config: SubsetCosineConfig
    records: list[dict]
    dataset_meta: dict
    wall_time: float

    def pooled(self, size: int) -> np.ndarray:
        """All per-unit cosines of every seed at subset ``size`` (the data of one box).

        Explained in: book/dash/04_cosine_generalisation.ipynb
        """
        vals = [c for r in self.records if r["size"] == size for layer in r["cosines"].values() for c in layer]
        if not vals:
            raise ValueError(f"no records for size {size!r}; sizes: {sorted({r['size'] for r in self.records})}")
        return np.asarray(vals)

    def to_dict(self) -> dict:
        """JSON-able copy (config as a dict)."""
        return {"config": asdict(self.config), "records": self.records,
                "dataset_meta": self.dataset_meta, "wall_time": self.wall_time}


def seed_streams(seed: int) -> dict[str, int]:
    """Independent integer seeds for the experiment's random streams (init, subset, train).
    """
    return runs.seed_streams(seed, STREAMS)


def validate_config(config: SubsetCosineConfig, num_train: int | None = None) -> None:
    """Raise ValueError naming the first bad field (sizes are checked against ``num_train`` if given).
    """
    if not isinstance(config, SubsetCosineConfig):
        raise ValueError(f"config must be a SubsetCosineConfig, got {type(config).__name__}")
    runs.ensure_valid(config)
    if num_train is not None and config.sizes[-1] > num_train:
        raise ValueError(f"sizes={config.sizes!r}: the largest exceeds the {num_train} training points")


def cosines_to_test_gradient(model, x_test, y_test, *, include_head: bool = False,
                          batch_size: int | None = 1024) -> dict[str, np.ndarray]:
    """Per-unit cos(incoming weights, -gradient of the mean test cross-entropy), per layer.

    The gradient is the exact full-batch mean over (x_test, y_test), computed in eval mode (the
    model's modes are restored). Units are the output rows / filters of every Linear and Conv
    layer (:func:`plasticity_sim.diagnostics.unit_cosines`); the classifier head (the model's
    ``head`` attribute, else the last layer) is left out unless ``include_head``.

    Explained in: book/dash/04_cosine_generalisation.ipynb
    """
    with preserved_modes(model):
        model.eval()
        grads = loss_and_grads(model, x_test, y_test, batch_size=batch_size)
    cos = unit_cosines(model, grads)
    if not include_head and cos:
        head = getattr(model, "head", None)
        names = {id(m): n for n, m in model.named_modules()}
        drop = names.get(id(head)) if head is not None else list(cos)[-1]
        cos.pop(drop, None)
    return cos


def run_subset_cosines(config: SubsetCosineConfig, *, progress: bool = False, data=None) -> SubsetCosineResult:
    """Train a fresh model on each nested subset for each seed; collect test accuracy and cosines.

    ``data`` reuses an already loaded dataset (else ``config.dataset`` is loaded).
    Source: DASH paper (arXiv:2410.23495), appendix figure on cosine similarity vs test accuracy
    (details reconstructed).

    Explained in: book/dash/04_cosine_generalisation.ipynb
    """
    validate_config(config)
    t_start = time.perf_counter()
    data = data if data is not None else load_dataset(config.dataset, seed=config.data_seed,
                                                      **config.dataset_kwargs)
    validate_config(config, data.num_train)
    records = []
    bar = tqdm(total=len(config.seeds) * len(config.sizes), desc="subsets", unit="run", disable=not progress)
    try:
        for seed in config.seeds:
            streams = seed_streams(seed)
            perm = torch.randperm(data.num_train, generator=torch.Generator().manual_seed(streams["subset"]))
            for size in config.sizes:
                t0 = time.perf_counter()
                idx = perm[:size].to(data.device)
                model = build_model(config.model, data.input_shape, data.num_classes,
                                    generator=torch.Generator().manual_seed(streams["init"]),
                                    **config.model_kwargs).to(data.device)
                opt = make_optimizer(config.optimizer, model.parameters(), lr=config.lr,
                                     weight_decay=config.weight_decay)
                res = train_until(model, data.x_train[idx], data.y_train[idx], optimizer=opt,
                                  target_train_acc=config.target_train_acc, max_epochs=config.max_epochs,
                                  batch_size=config.batch_size,
                                  generator=torch.Generator().manual_seed(streams["train"]),
                                  context=f"subset {size} seed {seed}")
                cos = cosines_to_test_gradient(model, data.x_test, data.y_test, include_head=config.include_head)
                pooled = np.concatenate(list(cos.values()))
                records.append({
                    "seed": seed, "size": int(size),
                    "test_acc": evaluate(model, data.x_test, data.y_test),
                    "train_acc": float(res.final_train_acc), "epochs": int(res.epochs),
                    "reached_target": bool(res.reached_target),
                    "cosines": {k: v.tolist() for k, v in cos.items()},
                    "median_cosine": float(np.median(pooled)),
                    "wall_time": time.perf_counter() - t0})
                bar.update(1)
    finally:
        bar.close()
    return SubsetCosineResult(config=config, records=records, dataset_meta=dict(data.meta),
                              wall_time=time.perf_counter() - t_start)


def check(config: SubsetCosineConfig) -> None:
    """Everything that can fail before training: fields, the data, sizes against it, model size."""
    prepare(config)


def prepare(config: SubsetCosineConfig):
    """:func:`check`, returning the loaded data for :func:`run`'s ``prepared=`` (one load per run)."""
    validate_config(config)
    data = load_dataset(config.dataset, seed=config.data_seed, **config.dataset_kwargs)
    validate_config(config, data.num_train)
    check_model_size(config.model, data.input_shape, data.num_classes, **config.model_kwargs)
    return data


def run(config: SubsetCosineConfig, *, prepared=None) -> runs.RunOutcome:
    """The registry's entry point: one record per (seed, size), for a results file. ``prepared``:
    the data :func:`prepare` loaded."""
    res = run_subset_cosines(config, data=prepared)
    return runs.RunOutcome(records=res.records, device="cpu", elapsed=res.wall_time,
                           dataset_meta=res.dataset_meta,
                           seeds={"seeds": list(config.seeds), "streams": {s: seed_streams(s) for s in config.seeds}})
