"""Warm-starting with noisy labels: Hare & Tortoise's two-phase protocol (Lee et al. 2024, §3).

Not the DASH part's ``two_phase`` protocol (pre-training *epochs* on clean data, DASH Fig. 2):
here phase 1 sees a random subset (``ratio`` of the training set) whose labels are replaced, each
with probability ``noise``, by a uniformly random class (so a fraction ``noise * (1 - 1/K)`` ends
up wrong), for ``floor(epochs / ratio)`` epochs - the same number of updates as phase 2 (their
1000 epochs at 10 %). Phase 2 trains on the whole, clean training set for ``epochs`` epochs with a
re-initialised optimizer. The fresh baseline trains a new network for ``epochs`` epochs on the
clean data (records with method ``cold``).

What happens in between comes from the method table: a ``between`` method (warm, S&P toward
init, head reset, ...) acts once before phase 2 on the phase-1 network; a ``during`` method
(Hare & Tortoise, EMA, self-distillation, L2, augmentation, spectral decoupling, CReLU, ReDo,
regenerative L2) trains through both phases with its step hooks, loss term, augmentation or
architecture, as in the paper, and is evaluated through ``evaluation_model`` (the Tortoise for
H&T). Not copied from the paper: its LR warm-up and gradient clipping (train_until has neither).

Pairing: per seed, the initial network, the subset order, the noise draws and every batch order
come from separate streams (``runs.seed_streams``). Subsets are nested across ratios (the first
``round(ratio * n)`` of one permutation) and noisy labels across noise levels (point i is replaced
when its uniform draw is below ``noise``, always by the same random class), so every cell of the
grid differs from the others only in what the grid changes.

Resumable at record granularity: a checkpoint after every record; a resumed run recomputes the
records it lacks from their streams, so it writes the same file as an uninterrupted run.

Explained in: book/hare_tortoise/01_warm_starting_noisy_labels.ipynb
"""
from __future__ import annotations

import copy
import math
import time

import torch

from plasticity_sim import methods, runs
from plasticity_sim.checks import check_range
from plasticity_sim.data import load_dataset
from plasticity_sim.diagnostics import ht_metrics
from plasticity_sim.interventions import InterventionContext
from plasticity_sim.models import build_model, check_model_size
from plasticity_sim.protocols.specs import NoisyWarmStartConfig
from plasticity_sim.train import evaluate, make_optimizer, train_until

STREAMS = ("init", "subset", "noise", "phase1", "phase2", "intervention")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def check_ratio(ratio) -> float:
    """``ratio`` as a float in (0, 1]; a ``ValueError`` naming it otherwise."""
    r = check_range("ratio", ratio, 0.0, 1.0)
    if r <= 0:
        raise ValueError(f"ratio must be in (0, 1] (a share of the training set), got {ratio!r}")
    return r


def phase1_epochs(epochs: int, ratio: float) -> int:
    """Phase-1 epochs ``floor(epochs / ratio)``: equal updates (100 -> 1000 / 500 / 250 / 166 /
    125 / 100 at ratios 0.1 / 0.2 / 0.4 / 0.6 / 0.8 / 1.0, the paper's numbers).

    Explained in: book/hare_tortoise/01_warm_starting_noisy_labels.ipynb
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    return max(1, math.floor(epochs / check_ratio(ratio) + 1e-9))


def choose_subset(n: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """Indices of a random subset of ``round(ratio * n)`` (at least 1) of ``0..n-1``. With the same
    generator state, a smaller ratio gives the first part of a larger ratio's subset (nested)."""
    k = max(1, int(round(check_ratio(ratio) * n)))
    return torch.randperm(n, generator=generator)[:k]


def noise_draws(n: int, num_classes: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per point, a uniform number in [0, 1) and a uniformly random class: point i's label is
    replaced at noise level p when ``u[i] < p`` (nested across p)."""
    u = torch.rand(n, generator=generator)
    c = torch.randint(0, num_classes, (n,), generator=generator)
    return u, c


def noisy_labels(y: torch.Tensor, noise: float, num_classes: int, generator: torch.Generator | None = None,
                 *, draws: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(labels, replaced)``: each label replaced with probability ``noise`` by a uniformly random
    class (which may equal the true one, as in the paper). Randomness from ``generator`` or from
    precomputed ``draws = noise_draws(len(y), num_classes, generator)``.

    Explained in: book/hare_tortoise/01_warm_starting_noisy_labels.ipynb
    """
    p = check_range("noise", noise, 0.0, 1.0)
    if draws is None:
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"noisy_labels needs a torch.Generator (or draws), got {generator!r}")
        draws = noise_draws(len(y), num_classes, generator)
    u, c = draws
    replaced = (u < p).to(y.device)
    return torch.where(replaced, c.to(y.device), y), replaced


class _Seed:
    """Data, streams, factories and the cached phase-1 draws of one seed."""

    def __init__(self, config: NoisyWarmStartConfig, data, seed: int):
        self.config, self.data, self.seed = config, data, seed
        self.streams = runs.seed_streams(seed, STREAMS)
        n = data.num_train
        self.perm = torch.randperm(n, generator=_gen(self.streams["subset"]))
        self.draws = noise_draws(n, data.num_classes, _gen(self.streams["noise"]))

    def model(self, intervention=None):
        c = self.config
        name = getattr(intervention, "model", None) or c.model
        kwargs = {**c.model_kwargs, **getattr(intervention, "model_kwargs", {})}
        return build_model(name, self.data.input_shape, self.data.num_classes,
                           generator=_gen(self.streams["init"]), **kwargs)

    def optimizer_for(self, params):
        c = self.config
        return make_optimizer(c.optimizer, params, lr=c.lr, weight_decay=c.weight_decay)

    def phase1_data(self, ratio: float, noise: float):
        k = max(1, int(round(ratio * self.data.num_train)))
        idx = self.perm[:k]
        y, replaced = noisy_labels(self.data.y_train, noise, self.data.num_classes, draws=self.draws)
        return self.data.x_train[idx], y[idx], self.data.y_train[idx], replaced[idx]


def train_epochs(model, x, y, optimizer, epochs, batch_size, generator, intervention, context) -> int:
    """``epochs`` fixed epochs (no early stop), one ``train_until`` call per epoch on one generator
    (the same batches as one long run), with the intervention's step hooks, loss term and
    augmentation; returns the number of steps."""
    hooks = tuple(getattr(intervention, "step_hooks", ()) or ())
    reg = getattr(intervention, "regularizer", None)
    aug = getattr(intervention, "augment", None)
    steps = 0
    for e in range(epochs):
        res = train_until(model, x, y, optimizer=optimizer, target_train_acc=1.0, max_epochs=1,
                          batch_size=batch_size, generator=generator, regularizer=reg, step_hooks=hooks,
                          augment=aug, context=context, first_epoch=e + 1)
        steps += res.steps
    return steps


def _judge(intervention, model, data, extra=None) -> dict:
    judged = intervention.evaluation_model(model) if intervention is not None else model
    out = {"test_acc": evaluate(judged, data.x_test, data.y_test),
           "train_acc": evaluate(judged, data.x_train, data.y_train)}
    return {**out, **(extra or {})}


def jobs(config: NoisyWarmStartConfig) -> list[dict]:
    """The records a run makes, in order: per seed the fresh baseline (if asked), then every
    (ratio, noise, method). Each is computed from the seed's streams alone (resume-safe)."""
    out = []
    for seed in config.seeds:
        if config.fresh_baseline:
            out.append({"seed": seed, "method": "cold", "ratio": None, "noise": None})
        for ratio in config.ratios:
            for noise in config.noises:
                for m in config.methods:
                    out.append({"seed": seed, "method": m, "ratio": ratio, "noise": noise})
    return out


def _fresh_record(s: _Seed) -> dict:
    c, t0 = s.config, time.perf_counter()
    model = s.model()
    steps = train_epochs(model, s.data.x_train, s.data.y_train, s.optimizer_for(model.parameters()), c.epochs,
                          c.batch_size, _gen(s.streams["phase2"]), None, f"fresh seed {s.seed}")
    return {**_judge(None, model, s.data), "phase1_epochs": 0, "phase1_train_acc": None,
            "phase1_clean_acc": None, "phase1_metrics": None, "steps": steps,
            "wall_time": time.perf_counter() - t0}


def _phase1(s: _Seed, ratio: float, noise: float, intervention):
    """Phase 1 for one cell: (model, optimizer, initial_state, summary dict)."""
    c = s.config
    x1, y1, y1_clean, replaced = s.phase1_data(ratio, noise)
    model = s.model(intervention)
    initial = copy.deepcopy(model.state_dict())
    opt = s.optimizer_for(model.parameters())
    e1 = phase1_epochs(c.epochs, ratio)
    steps = train_epochs(model, x1, y1, opt, e1, c.batch_size, _gen(s.streams["phase1"]), intervention,
                          f"phase 1 seed {s.seed} ratio {ratio} noise {noise}")
    info = {"phase1_epochs": e1, "phase1_steps": steps, "phase1_points": len(x1),
            "phase1_replaced": float(replaced.double().mean()),
            "phase1_train_acc": evaluate(model, x1, y1),           # fit of the noisy labels
            "phase1_clean_acc": evaluate(model, x1, y1_clean)}
    info["phase1_metrics"] = ht_metrics(model, x1, y1, initial, max_samples=c.metrics_max_points) \
        if c.metrics else None
    return model, opt, initial, info


def _record(s: _Seed, job: dict, cache: dict) -> dict:
    c, t0 = s.config, time.perf_counter()
    m = job["method"]
    intervention = methods.build(m, c.method_params.get(m))
    during = methods.get_method(m).acts == "during" or hasattr(intervention, "model")
    cell = (job["ratio"], job["noise"])
    if during:   # the method trains through phase 1 too: its own phase-1 run
        model, opt, initial, info = _phase1(s, *cell, intervention)
    else:        # phase 1 is the same for every between-phases method of one seed: run once, copy
        # The phase-1 network depends on the seed's streams and the cell (the config is the run's),
        # so the key holds the seed: keyed by the cell alone, every seed reused seed 0's network.
        key = (s.seed, *cell)
        if cache.get("key") != key:
            cache.clear()
            cache.update(key=key, value=_phase1(s, *cell, None))
        model, opt, initial, info = cache["value"]
        model, opt, initial = copy.deepcopy(model), None, initial
        opt = s.optimizer_for(model.parameters())
    ctx = InterventionContext(
        experiment=2, x_seen=s.data.x_train, y_seen=s.data.y_train, chunk_size=info["phase1_points"],
        generator=_gen(s.streams["intervention"]), initial_state=initial,
        make_fresh_model=lambda: s.model(intervention), make_optimizer=s.optimizer_for)
    model.eval()
    model, _ = intervention(model, opt, ctx)
    model.train()
    opt2 = s.optimizer_for(model.parameters())      # the paper re-initialises the optimizer
    steps = train_epochs(model, s.data.x_train, s.data.y_train, opt2, c.epochs, c.batch_size,
                          _gen(s.streams["phase2"]), intervention, f"phase 2 {m} seed {s.seed}")
    return _judge(intervention, model, s.data, {**info, "steps": steps, "wall_time": time.perf_counter() - t0})


def _load(config: NoisyWarmStartConfig):
    return load_dataset(config.dataset, seed=config.data_seed, **config.dataset_kwargs)


def check(config: NoisyWarmStartConfig) -> None:
    """Everything that can fail before training: fields, methods and their parameters, the data
    and the model size. Loads the data."""
    prepare(config)


def prepare(config: NoisyWarmStartConfig):
    """:func:`check`, returning the loaded data for :func:`run`'s ``prepared=`` (one load per run)."""
    if not isinstance(config, NoisyWarmStartConfig):
        raise ValueError(f"config must be a NoisyWarmStartConfig, got {type(config).__name__}")
    runs.ensure_valid(config)
    data = _load(config)
    check_model_size(config.model, data.input_shape, data.num_classes, **config.model_kwargs)
    for m in config.methods:
        iv = methods.build(m, config.method_params.get(m))
        if hasattr(iv, "model"):
            check_model_size(iv.model, data.input_shape, data.num_classes,
                             **{**config.model_kwargs, **iv.model_kwargs})
    return data


def run(config: NoisyWarmStartConfig, *, resume_state: dict | None = None, on_checkpoint=None,
        stop_after: int | None = None, prepared=None) -> runs.RunOutcome:
    """Run every record of :func:`jobs`; the registry's entry point (resumable per record).

    Records: ``seed, method, ratio, noise, test_acc, train_acc`` (phase-2 end, eval mode, through
    the method's evaluation model; train accuracy on the clean training set), ``phase1_epochs``,
    ``phase1_train_acc`` (fit of the noisy labels), ``phase1_clean_acc``, ``phase1_replaced``
    (share of replaced labels), ``phase1_metrics`` (App. C), ``steps``, ``wall_time``.
    ``prepared``: the data :func:`prepare` loaded (prepared here when None).
    """
    data = prepared if prepared is not None else prepare(config)
    records, elapsed0 = [], 0.0
    if resume_state is not None:
        records = runs.json_loads(resume_state["records_json"])
        elapsed0 = float(resume_state["elapsed"])
    t0 = time.perf_counter()
    todo = jobs(config)
    seeds: dict[int, _Seed] = {}
    cache: dict = {}
    complete = True
    for i, job in enumerate(todo):
        if i < len(records):
            continue
        s = seeds.setdefault(job["seed"], _Seed(config, data, job["seed"]))
        rec = _fresh_record(s) if job["ratio"] is None else _record(s, job, cache)
        records.append({**job, **rec})
        if on_checkpoint is not None:
            on_checkpoint({"config_json": runs.json_dumps(runs.to_dict(config)), "completed": len(records),
                           "records_json": runs.json_dumps(records),
                           "elapsed": elapsed0 + time.perf_counter() - t0})
        if stop_after is not None and len(records) >= stop_after and len(records) < len(todo):
            complete = False
            break
    return runs.RunOutcome(
        records=records, complete=complete, device="cpu", elapsed=elapsed0 + time.perf_counter() - t0,
        dataset_meta=dict(data.meta),
        seeds={"seeds": list(config.seeds), "streams": {s: runs.seed_streams(s, STREAMS) for s in config.seeds}},
        intervention=methods.params_record(config.methods, config.method_params))
