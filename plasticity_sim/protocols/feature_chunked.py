"""The chunked warm-start protocol on feature/noise images, with the ground truth at hand.

The same experiment as :mod:`plasticity_sim.protocols.chunked` (J random chunks; experiment j
trains on chunks 1..j until the running train accuracy reaches the target; the method acts between
experiments), on :func:`plasticity_sim.data.make_feature_noise` images, for the two networks of the
bridge chapter: the patch CNN of the feature-learning theory (``patch_cnn``) and the small CNN of the
DASH chapters (``cnn``). It differs from ``chunked`` in three ways, which is why it is its own loop:

* the data are drawn per seed (``data_seed = seed``), as the discrete model draws new points per
  seed, so seeds are independent replications and methods are paired within a seed;
* it can build the patch CNN and the oracle ideal (``oracle``: warm with noise-fitted filters reset,
  :class:`plasticity_sim.interventions.oracle.OracleReset`), which needs the data's patterns;
* ``measure(phase, j, model, data, seen)`` is called at the start (after the intervention) and at
  the end of every experiment; its dict goes into the record. The bridge's per-feature
  measurements (:mod:`plasticity_sim.bridge.measure`) come in through it, so this loop knows
  nothing about features.

Explained in: book/bridge/01_theory_meets_network.ipynb
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch

from plasticity_sim import methods, runs
from plasticity_sim.data import load_dataset, random_chunks
from plasticity_sim.interventions import InterventionContext, get_intervention
from plasticity_sim.models import PatchCNN, build_model
from plasticity_sim.runs import option
from plasticity_sim.train import evaluate, make_optimizer, train_until

STREAMS = ("init", "chunks", "train", "intervention", "measure")
MODELS = ("patch_cnn", "cnn")
METHODS = ("cold", "warm", "sp", "dash", "oracle")


@dataclass
class FeatureChunkedConfig:
    """One run: ``data`` are :func:`make_feature_noise`'s keyword arguments (its seed is ``seed``);
    ``width`` is the patch CNN's filter count or the small CNN's channels; ``init_scale`` applies to
    the patch CNN (the small CNN keeps PyTorch's init)."""

    data: dict = option({})
    model: str = option("patch_cnn", choices=MODELS)
    width: int = option(64, gt=0)
    init_scale: float = option(0.3, gt=0)
    optimizer: str = option("adamw", choices=("adamw", "sgd"))
    lr: float = option(1e-2, gt=0)
    momentum: float = option(0.9, ge=0, lt=1)
    weight_decay: float = option(0.0, ge=0)
    batch_size: int = option(64, gt=0)
    num_chunks: int = option(10, gt=0)
    target_train_acc: float = option(1.0, gt=0, le=1)
    max_epochs: int = option(300, gt=0)
    method: str = option("warm", choices=METHODS)
    seed: int = option(0, ge=0)

    def check(self) -> None:
        if self.method == "oracle" and self.model != "patch_cnn":
            raise ValueError(f"method 'oracle' resets patch-shaped filters; it needs model='patch_cnn', "
                             f"not {self.model!r}")


def _intervention(config: FeatureChunkedConfig, data):
    if config.method == "oracle":   # the one method allowed to see the truth
        return get_intervention("oracle_reset", patterns=data.truth["feature_patterns"])
    return methods.build(config.method)


def load_data(config: FeatureChunkedConfig):
    """The run's images (cached per setting by ``load_dataset``), checked against ``num_chunks``."""
    data = load_dataset("feature_noise", seed=config.seed, **config.data)
    if data.num_train % config.num_chunks:
        raise ValueError(f"num_chunks={config.num_chunks} does not divide the {data.num_train} training "
                         "points; choose a divisor or change data.n_train")
    return data


def check(config: FeatureChunkedConfig) -> None:
    """Raise ``ValueError`` if ``config`` cannot run (fields, data options, model, method)."""
    runs.validate_config(config)
    data = load_data(config)
    _intervention(config, data)
    _build(config, data, torch.Generator().manual_seed(0))


def _build(config, data, generator):
    if config.model == "patch_cnn":
        ch, s = data.input_shape[0], int(data.meta["patch_size"])
        return PatchCNN(ch, s, config.width, data.num_classes, generator=generator, init_scale=config.init_scale)
    return build_model("cnn", data.input_shape, data.num_classes, generator=generator, channels=config.width)


def run(config: FeatureChunkedConfig, *, measure: Callable | None = None) -> runs.RunOutcome:
    """Run the J experiments of ``config``; ``records[j-1]`` holds experiment j: ``test_acc``,
    ``train_acc``, ``epochs``, ``reached_target``, ``wall_time`` and ``start`` / ``end``: what
    ``measure`` returned at the start (after the method acted) and at the end of the experiment."""
    runs.validate_config(config)
    data = load_data(config)
    intervention = _intervention(config, data)
    gens = {k: torch.Generator().manual_seed(v) for k, v in runs.seed_streams(config.seed, STREAMS).items()}
    n, J = data.num_train, config.num_chunks
    chunks = random_chunks(n, J, gens["chunks"])
    model = _build(config, data, gens["init"])
    initial_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def new_optimizer(params):
        return make_optimizer(config.optimizer, params, lr=config.lr, momentum=config.momentum,
                              weight_decay=config.weight_decay)

    optimizer = new_optimizer(model.parameters())
    records, t_start = [], time.perf_counter()
    for j in range(1, J + 1):
        seen = torch.cat(chunks[:j])
        x, y = data.x_train[seen], data.y_train[seen]
        t0 = time.perf_counter()
        model.eval()
        ctx = InterventionContext(experiment=j, x_seen=x, y_seen=y, chunk_size=n // J,
                                  generator=gens["intervention"], initial_state=initial_state,
                                  make_fresh_model=lambda: _build(config, data, gens["intervention"]),
                                  make_optimizer=new_optimizer)
        model, optimizer = intervention(model, optimizer, ctx)
        record = {"experiment": j, "n_train": int(len(y))}
        if measure is not None:
            record["start"] = measure("start", j, model, data, seen)
        res = train_until(model, x, y, optimizer=optimizer, target_train_acc=config.target_train_acc,
                          max_epochs=config.max_epochs, batch_size=config.batch_size, generator=gens["train"],
                          context=f"experiment {j}")
        model.eval()
        record.update(test_acc=float(evaluate(model, data.x_test, data.y_test)),
                      train_acc=float(res.final_train_acc), epochs=int(res.epochs),
                      reached_target=bool(res.reached_target), wall_time=time.perf_counter() - t0)
        if config.method == "oracle":
            record["units_reset"] = intervention.last_reset
        if measure is not None:
            record["end"] = measure("end", j, model, data, seen)
        records.append(record)
    return runs.RunOutcome(records=records, seeds={"seed": config.seed,
                                                   "streams": runs.seed_streams(config.seed, STREAMS)},
                           dataset_meta={k: v for k, v in data.meta.items() if k != "frequencies"},
                           intervention={"name": config.method, "params": dict(intervention.params)},
                           elapsed=time.perf_counter() - t_start)
