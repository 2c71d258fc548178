"""Pre-train on part of the data, then train on all of it: the DASH paper's Figure 2 experiment.

The question behind the figure (papers.md §C.5): does the *amount* of pre-training decide how much a
warm start hurts? A model is pre-trained on a random part of the training set (half, by default) for
E epochs, then trained on the whole set to the paper's 99.9 % train-accuracy target. E = 0 is a cold
start; large E means the part was fitted, i.e. its noise memorised. The DASH curve applies DASH once
between the two phases (the appendix variant): the gradient EMA runs over the pre-training part
first and the new part last, chunk-sized, exactly as at the start of a chunked experiment.

One pre-training run per seed serves every E: training is snapshotted when it has done E epochs
(training for 5 epochs and then 5 more draws the same batches as training for 10), and every phase 2
starts from a copy of a snapshot with the *same* phase-2 batch order, so methods and E values are
paired. Random streams (init, split, pre-training order, phase-2 order) come from the seed through
``np.random.SeedSequence``; the global RNGs are never touched.

Explained in: book/dash/03_noise_memorisation.ipynb
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from plasticity_sim import runs
from plasticity_sim.data import load_dataset
from plasticity_sim.interventions import dash_gradient_ema, dash_shrink_
from plasticity_sim.interventions.dash import GRANULARITIES
from plasticity_sim.models import build_model
from plasticity_sim.train import evaluate, make_optimizer, train_until

METHODS = ("warm", "dash")
STREAMS = ("init", "split", "pretrain", "phase2")


@dataclass
class PretrainSweepConfig:
    """Settings of :func:`run_pretrain_sweep` (defaults: the CPU setting of the book's chapter).

    ``pretrain_epochs`` is the grid of E values (0 = cold start); ``methods`` what happens between
    the phases ("warm": nothing, "dash": one DASH shrink). Phase 2 trains on all data until the
    epoch's running train accuracy reaches ``target_train_acc`` or ``max_epochs``, with a fresh
    optimizer when ``reset_optimizer`` (so E = 0 is exactly a cold start whatever the optimizer).

    Explained in: book/dash/03_noise_memorisation.ipynb
    """

    dataset: str = "mnist1d"
    dataset_kwargs: dict = field(default_factory=dict)
    model: str = "mlp"
    model_kwargs: dict = field(default_factory=dict)
    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    pretrain_fraction: float = 0.5
    pretrain_epochs: tuple = (0, 5, 10, 20, 40)
    methods: tuple = ("warm", "dash")
    target_train_acc: float = 0.999
    max_epochs: int = 200
    reset_optimizer: bool = True
    dash_lam: float = 0.3
    dash_alpha: float = 0.3
    dash_granularity: str = "kernel"
    seeds: tuple = (0, 1)
    data_seed: int = 0


@dataclass
class PretrainSweepResult:
    """Records of a sweep: one dict per (seed, method, E) with ``seed``, ``method``,
    ``pretrain_epochs``, ``pretrain_train_acc`` (eval-mode accuracy on the pre-training part when
    phase 2 starts), ``test_acc``, ``train_acc``, ``steps``, ``epochs``, ``reached_target`` and
    ``wall_time``; ``cold`` holds each seed's cold-start record (E = 0, independent code path).

    Explained in: book/dash/03_noise_memorisation.ipynb
    """

    config: PretrainSweepConfig
    records: list[dict]
    cold: list[dict]
    dataset_meta: dict
    wall_time: float

    def for_seeds(self, seeds) -> "PretrainSweepResult":
        """The same sweep restricted to ``seeds`` (for a per-seed view of the figure).

        Explained in: book/dash/03_noise_memorisation.ipynb
        """
        seeds = tuple(seeds)
        unknown = [s for s in seeds if s not in self.config.seeds]
        if unknown or not seeds:
            raise ValueError(f"seeds={seeds!r}: choose from {tuple(self.config.seeds)}")
        return PretrainSweepResult(self.config, [r for r in self.records if r["seed"] in seeds],
                                   [r for r in self.cold if r["seed"] in seeds], self.dataset_meta,
                                   self.wall_time)

    def select(self, **where) -> list[dict]:
        """Records whose fields equal every ``where`` item, e.g. ``select(method="dash")``.

        Explained in: book/dash/03_noise_memorisation.ipynb
        """
        return [r for r in self.records if all(r.get(k) == v for k, v in where.items())]

    def curve(self, method: str, key: str = "test_acc") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(E grid, mean, std over seeds) of ``key`` for ``method``; std is the population std.

        Explained in: book/dash/03_noise_memorisation.ipynb
        """
        grid = np.array(sorted({r["pretrain_epochs"] for r in self.select(method=method)}))
        if grid.size == 0:
            raise ValueError(f"no records for method {method!r}; have {sorted({r['method'] for r in self.records})}")
        vals = [[r[key] for r in self.select(method=method, pretrain_epochs=int(e))] for e in grid]
        return grid, np.array([np.mean(v) for v in vals]), np.array([np.std(v) for v in vals])

    def to_dict(self) -> dict:
        """JSON-able copy (config as a dict). Explained in: book/dash/03_noise_memorisation.ipynb"""
        return {"config": asdict(self.config), "records": self.records, "cold": self.cold,
                "dataset_meta": self.dataset_meta, "wall_time": self.wall_time}


def seed_streams(seed: int) -> dict[str, int]:
    """Independent integer seeds for the sweep's random streams (init, split, pretrain, phase2).

    Explained in: book/dash/03_noise_memorisation.ipynb
    """
    return runs.seed_streams(seed, STREAMS)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def validate_config(config: PretrainSweepConfig) -> None:
    """Raise ValueError naming the first bad field of ``config``.

    Explained in: book/dash/03_noise_memorisation.ipynb
    """
    if not isinstance(config, PretrainSweepConfig):
        raise ValueError(f"config must be a PretrainSweepConfig, got {type(config).__name__}")
    grid = tuple(config.pretrain_epochs)
    if not grid or any(isinstance(e, bool) or not isinstance(e, (int, np.integer)) or e < 0 for e in grid):
        raise ValueError(f"pretrain_epochs={config.pretrain_epochs!r}: need a non-empty list of ints >= 0")
    if len(set(grid)) != len(grid):
        raise ValueError(f"pretrain_epochs={config.pretrain_epochs!r} has repeated values")
    bad = [m for m in config.methods if m not in METHODS]
    if bad or not config.methods:
        raise ValueError(f"methods={config.methods!r}: allowed {METHODS} (at least one)")
    if not 0.0 < config.pretrain_fraction < 1.0:
        raise ValueError(f"pretrain_fraction={config.pretrain_fraction!r} must lie strictly between 0 and 1")
    if config.dash_granularity not in GRANULARITIES:
        raise ValueError(f"dash_granularity={config.dash_granularity!r}; allowed: {GRANULARITIES}")
    if not 0.0 <= config.dash_lam <= 1.0:
        raise ValueError(f"dash_lam={config.dash_lam!r} must be in [0, 1]")
    if not 0.0 < config.dash_alpha <= 1.0:
        raise ValueError(f"dash_alpha={config.dash_alpha!r} must be in (0, 1]")
    runs.check_seeds_and_counts(config)


def split_pretrain(n: int, fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A random split of 0..n-1: ``round(fraction * n)`` pre-training indices and the rest.

    Explained in: book/dash/03_noise_memorisation.ipynb
    """
    k = int(round(fraction * n))
    if not 0 < k < n:
        raise ValueError(f"pretrain_fraction={fraction} of n={n} leaves an empty part ({k} vs {n - k})")
    perm = torch.randperm(n, generator=generator)
    return perm[:k], perm[k:]


def between_phases(model, method: str, x_all, y_all, chunk_size: int, *, lam: float = 0.3,
                   alpha: float = 0.3, granularity: str = "kernel") -> dict | None:
    """Apply ``method`` to ``model`` in place before phase 2; return DASH's factors (None for warm).

    ``x_all`` is in arrival order (pre-training part first), so DASH's EMA sees the old part first
    and the new data last, with batches of ``chunk_size`` (= the pre-training part's size), as at
    the start of experiment 2 of the chunked protocol. The model is put in eval mode for the
    gradient pass (as the official loop leaves it after testing) and back in train mode after.

    Explained in: book/dash/03_noise_memorisation.ipynb
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; allowed: {METHODS}")
    if method == "warm":
        return None
    model.eval()
    ema = dash_gradient_ema(model, x_all, y_all, chunk_size, alpha)
    factors = dash_shrink_(model, ema, lam, granularity)
    model.train()
    return {k: v.detach().cpu() for k, v in factors.items()}


class _Setup:
    """Data, split, and the model/optimizer factories for one seed (shared by sweep and cold)."""

    def __init__(self, config: PretrainSweepConfig, data, seed: int):
        self.config, self.data, self.seed = config, data, seed
        self.streams = seed_streams(seed)
        first, rest = split_pretrain(data.num_train, config.pretrain_fraction, _gen(self.streams["split"]))
        order = torch.cat([first, rest]).to(data.device)
        self.n_first = len(first)
        # Arrival order: pre-training part first (DASH's EMA and phase 2 both use it).
        self.x_all, self.y_all = data.x_train[order], data.y_train[order]
        self.x_first, self.y_first = self.x_all[:self.n_first], self.y_all[:self.n_first]

    def fresh_model(self):
        c = self.config
        return build_model(c.model, self.data.input_shape, self.data.num_classes,
                           generator=_gen(self.streams["init"]), **c.model_kwargs).to(self.data.device)

    def optimizer(self, model):
        c = self.config
        return make_optimizer(c.optimizer, model.parameters(), lr=c.lr, weight_decay=c.weight_decay)

    def phase2(self, model, optimizer, context: str) -> dict:
        c = self.config
        t0 = time.perf_counter()
        res = train_until(model, self.x_all, self.y_all, optimizer=optimizer,
                          target_train_acc=c.target_train_acc, max_epochs=c.max_epochs,
                          batch_size=c.batch_size, generator=_gen(self.streams["phase2"]), context=context)
        return {"seed": self.seed, "test_acc": evaluate(model, self.data.x_test, self.data.y_test),
                "train_acc": float(res.final_train_acc), "steps": int(res.steps), "epochs": int(res.epochs),
                "reached_target": bool(res.reached_target), "wall_time": time.perf_counter() - t0}


def _load(config):
    return load_dataset(config.dataset, seed=config.data_seed, **config.dataset_kwargs)


def run_cold(config: PretrainSweepConfig, seed: int, *, data=None, return_model: bool = False):
    """The cold-start reference for ``seed``: a fresh model trained on all data (phase 2 only).

    Written separately from the sweep on purpose: the sweep's E = 0 "warm" run must equal it
    exactly (same initial weights, same batch order), which the tests check.

    Explained in: book/dash/03_noise_memorisation.ipynb
    """
    validate_config(config)
    setup = _Setup(config, data if data is not None else _load(config), seed)
    model = setup.fresh_model()
    record = {"method": "cold", "pretrain_epochs": 0, "pretrain_train_acc": float("nan"),
              **setup.phase2(model, setup.optimizer(model), f"cold seed {seed}")}
    return (record, model) if return_model else record


def run_pretrain_sweep(config: PretrainSweepConfig, *, progress: bool = False, data=None,
                       return_models: bool = False):
    """Run the pre-training sweep of ``config`` for every seed; return a :class:`PretrainSweepResult`.

    ``data`` reuses an already loaded dataset (else ``config.dataset`` is loaded);
    ``return_models=True`` also returns ``{(seed, method, E): final model}`` (for tests).
    Source: DASH paper Fig. 2 (papers.md §C.5; protocol details reconstructed) and its appendix
    DASH-between-phases variant.

    Explained in: book/dash/03_noise_memorisation.ipynb
    """
    validate_config(config)
    t_start = time.perf_counter()
    data = data if data is not None else _load(config)
    grid = sorted(int(e) for e in config.pretrain_epochs)
    records, cold, models = [], [], {}
    reuse_cold = grid[0] == 0 and "warm" in config.methods and config.reset_optimizer
    total = len(config.seeds) * (int(not reuse_cold) + len(grid) * len(config.methods))
    bar = tqdm(total=total, desc="pre-train sweep", unit="run", disable=not progress)
    try:
        for seed in config.seeds:
            # With E = 0 in the grid, "warm" at E = 0 *is* the cold start (the tests check that it
            # equals run_cold exactly), so it serves as the reference instead of a second run.
            if not reuse_cold:
                rec, cold_model = run_cold(config, seed, data=data, return_model=True)
                cold.append(rec)
                if return_models:
                    models[(seed, "cold", 0)] = cold_model
                bar.update(1)
            setup = _Setup(config, data, seed)
            model = setup.fresh_model()
            opt = setup.optimizer(model)
            pre_gen = _gen(setup.streams["pretrain"])  # one stream: E epochs then more = one longer run
            done = 0
            for e in grid:
                # One epoch per call: train_until would stop at 100 % running accuracy, but the
                # grid counts epochs. Same generator, so this equals one run of `e` epochs.
                for epoch in range(done + 1, e + 1):
                    train_until(model, setup.x_first, setup.y_first, optimizer=opt, target_train_acc=1.0,
                                max_epochs=1, batch_size=config.batch_size, generator=pre_gen,
                                context=f"pre-training seed {seed}, epoch {epoch}")
                done = max(done, e)
                pre_acc = evaluate(model, setup.x_first, setup.y_first)
                for method in config.methods:
                    m2 = copy.deepcopy(model)
                    o2 = setup.optimizer(m2)
                    if not config.reset_optimizer:
                        o2.load_state_dict(opt.state_dict())
                    between_phases(m2, method, setup.x_all, setup.y_all, setup.n_first,
                                   lam=config.dash_lam, alpha=config.dash_alpha,
                                   granularity=config.dash_granularity)
                    m2.train()
                    rec = {"method": method, "pretrain_epochs": e, "pretrain_train_acc": pre_acc,
                           **setup.phase2(m2, o2, f"{method} E={e} seed {seed}")}
                    records.append(rec)
                    if reuse_cold and method == "warm" and e == 0:
                        cold.append({**rec, "method": "cold", "pretrain_train_acc": float("nan")})
                    if return_models:
                        models[(seed, method, e)] = m2
                    bar.update(1)
    finally:
        bar.close()
    result = PretrainSweepResult(config=config, records=records, cold=cold, dataset_meta=dict(data.meta),
                                 wall_time=time.perf_counter() - t_start)
    return (result, models) if return_models else result
