"""Growing data with falling label noise: Hare & Tortoise's continual protocol (Lee et al. 2024 §5.2).

Phase k = 1..K adds a new random chunk (``chunk_ratio`` of the training set); the label noise falls
linearly from ``noise_start`` to ``noise_end``. With ``access="full"`` phase k trains on all chunks
so far; with ``access="buffer"`` on the new chunk plus a replay buffer holding at most
``buffer_size`` earlier points (a uniform reservoir sample of everything seen before, seeded).
Each phase trains ``epochs`` epochs with a fresh optimizer; a ``between`` method of the method
table acts before phases 2..K, a ``during`` method trains through all of them (H&T's Tortoise
spans the whole run and is what is evaluated). Test accuracy after every phase.

Resumable per (seed, method) run: a checkpoint after each run's last phase.

Explained in: book/hare_tortoise/02_hare_and_tortoise.ipynb
"""
from __future__ import annotations

import copy
import time

import numpy as np
import torch

from plasticity_sim import methods, runs
from plasticity_sim.data import load_dataset
from plasticity_sim.interventions import InterventionContext
from plasticity_sim.models import build_model, check_model_size
from plasticity_sim.protocols.noisy_warm_start import train_epochs, noise_draws
from plasticity_sim.protocols.specs import GrowingDataConfig
from plasticity_sim.train import evaluate, make_optimizer

STREAMS = ("init", "chunks", "noise", "buffer", "train", "intervention")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def noise_schedule(num_phases: int, start: float, end: float) -> list[float]:
    """Label noise of phases 1..K, linear from ``start`` to ``end`` (0.5 ... 0 in the paper).

    Explained in: book/hare_tortoise/02_hare_and_tortoise.ipynb
    """
    if num_phases == 1:
        return [float(start)]
    return [float(v) for v in np.linspace(start, end, num_phases)]


class ReplayBuffer:
    """A uniform reservoir sample of at most ``capacity`` indices from everything offered
    (Vitter's algorithm R), drawing from ``generator``.

    Explained in: book/hare_tortoise/02_hare_and_tortoise.ipynb
    """

    def __init__(self, capacity: int, generator: torch.Generator):
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"buffer capacity must be a positive int, got {capacity!r}")
        self.capacity, self.generator = capacity, generator
        self.items: list[int] = []
        self.seen = 0

    def add(self, indices) -> None:
        for i in (int(v) for v in indices):
            self.seen += 1
            if len(self.items) < self.capacity:
                self.items.append(i)
            else:
                j = int(torch.randint(0, self.seen, (1,), generator=self.generator))
                if j < self.capacity:
                    self.items[j] = i

    def indices(self) -> torch.Tensor:
        return torch.tensor(sorted(self.items), dtype=torch.int64)


def phase_indices(config: GrowingDataConfig, n: int, seed: int) -> list[torch.Tensor]:
    """Training indices of every phase (full access: all chunks so far; buffer: new chunk + buffer)."""
    streams = runs.seed_streams(seed, STREAMS)
    perm = torch.randperm(n, generator=_gen(streams["chunks"]))
    size = max(1, int(round(config.chunk_ratio * n)))
    chunks = [perm[k * size:(k + 1) * size] for k in range(config.num_phases)]
    out, buf = [], ReplayBuffer(config.buffer_size, _gen(streams["buffer"]))
    for k, chunk in enumerate(chunks):
        if config.access == "full":
            out.append(torch.cat(chunks[:k + 1]))
        else:
            out.append(torch.cat([chunk, buf.indices()]) if buf.items else chunk)
            buf.add(chunk)
    return out


def _run_one(config, data, seed: int, method: str) -> list[dict]:
    streams = runs.seed_streams(seed, STREAMS)
    intervention = methods.build(method, config.method_params.get(method))
    name = getattr(intervention, "model", None) or config.model
    kwargs = {**config.model_kwargs, **getattr(intervention, "model_kwargs", {})}
    fresh = lambda: build_model(name, data.input_shape, data.num_classes,  # noqa: E731
                                generator=_gen(streams["init"]), **kwargs)
    opt_for = lambda params: make_optimizer(config.optimizer, params, lr=config.lr,  # noqa: E731
                                            weight_decay=config.weight_decay)
    model = fresh()
    initial = copy.deepcopy(model.state_dict())
    draws = noise_draws(data.num_train, data.num_classes, _gen(streams["noise"]))
    train_gen, iv_gen = _gen(streams["train"]), _gen(streams["intervention"])
    noises = noise_schedule(config.num_phases, config.noise_start, config.noise_end)
    records, opt = [], opt_for(model.parameters())
    for k, (idx, noise) in enumerate(zip(phase_indices(config, data.num_train, seed), noises), start=1):
        t0 = time.perf_counter()
        y_all = torch.where(draws[0] < noise, draws[1], data.y_train)
        x, y = data.x_train[idx], y_all[idx]
        if k > 1:
            ctx = InterventionContext(experiment=k, x_seen=x, y_seen=y, chunk_size=len(idx), generator=iv_gen,
                                      initial_state=initial, make_fresh_model=fresh, make_optimizer=opt_for)
            model.eval()
            model, _ = intervention(model, opt, ctx)
            model.train()
        opt = opt_for(model.parameters())
        steps = train_epochs(model, x, y, opt, config.epochs, config.batch_size, train_gen, intervention,
                              f"{method} seed {seed} phase {k}")
        judged = intervention.evaluation_model(model)
        records.append({"seed": seed, "method": method, "access": config.access, "phase": k, "noise": noise,
                        "n_train": int(len(idx)), "test_acc": evaluate(judged, data.x_test, data.y_test),
                        "train_acc": evaluate(judged, x, y), "steps": steps,
                        "wall_time": time.perf_counter() - t0})
    return records


def _load(config):
    return load_dataset(config.dataset, seed=config.data_seed, **config.dataset_kwargs)


def check(config: GrowingDataConfig) -> None:
    """Fields, methods and their parameters, the data and the model size (loads the data)."""
    prepare(config)


def prepare(config: GrowingDataConfig):
    """:func:`check`, returning the loaded data for :func:`run`'s ``prepared=`` (one load per run)."""
    if not isinstance(config, GrowingDataConfig):
        raise ValueError(f"config must be a GrowingDataConfig, got {type(config).__name__}")
    runs.ensure_valid(config)
    data = _load(config)
    check_model_size(config.model, data.input_shape, data.num_classes, **config.model_kwargs)
    for m in config.methods:
        methods.build(m, config.method_params.get(m))
    return data


def run(config: GrowingDataConfig, *, resume_state=None, on_checkpoint=None, stop_after=None,
        prepared=None) -> runs.RunOutcome:
    """Every (seed, method) run of ``config``; records per phase. Resumable per run (``stop_after``
    counts runs). ``prepared``: the data :func:`prepare` loaded (prepared here when None)."""
    data = prepared if prepared is not None else prepare(config)
    records, done, elapsed0 = [], 0, 0.0
    if resume_state is not None:
        records, done = runs.json_loads(resume_state["records_json"]), int(resume_state["completed"])
        elapsed0 = float(resume_state["elapsed"])
    t0 = time.perf_counter()
    todo = [(s, m) for s in config.seeds for m in config.methods]
    complete = True
    for i, (seed, method) in enumerate(todo):
        if i < done:
            continue
        records += _run_one(config, data, seed, method)
        if on_checkpoint is not None:
            on_checkpoint({"config_json": runs.json_dumps(runs.to_dict(config)), "completed": i + 1,
                           "records_json": runs.json_dumps(records),
                           "elapsed": elapsed0 + time.perf_counter() - t0})
        if stop_after is not None and i + 1 >= stop_after and i + 1 < len(todo):
            complete = False
            break
    return runs.RunOutcome(
        records=records, complete=complete, device="cpu", elapsed=elapsed0 + time.perf_counter() - t0,
        dataset_meta=dict(data.meta),
        seeds={"seeds": list(config.seeds), "streams": {s: runs.seed_streams(s, STREAMS) for s in config.seeds}},
        intervention=methods.params_record(config.methods, config.method_params))
