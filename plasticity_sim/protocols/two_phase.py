"""Pre-train on part of the data, then train on all of it: the DASH paper's Figure 2 experiment.

The question behind the figure (arXiv:2410.23495, Fig. 2): does the *amount* of pre-training decide how much a
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
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from plasticity_sim import methods, runs
from plasticity_sim.data import load_dataset
from plasticity_sim.interventions import InterventionContext
from plasticity_sim.models import build_model, check_model_size
from plasticity_sim.protocols.specs import PretrainSweepConfig
from plasticity_sim.stats import mean_std
from plasticity_sim.train import evaluate, make_optimizer, train_until

STREAMS = ("init", "split", "pretrain", "phase2", "intervention")


@dataclass
class PretrainSweepResult:
    """Records of a sweep: one dict per (seed, method, E) with ``seed``, ``method``,
    ``pretrain_epochs``, ``pretrain_train_acc`` (eval-mode accuracy on the pre-training part when
    phase 2 starts), ``test_acc``, ``train_acc``, ``steps``, ``epochs``, ``reached_target`` and
    ``wall_time``; ``cold`` holds each seed's cold-start record (E = 0, independent code path).
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
        """(E grid, mean, std over seeds) of ``key`` for ``method``; std is the sample std
        (``stats.mean_std``, the book's one convention).

        Explained in: book/dash/03_noise_memorisation.ipynb
        """
        grid = np.array(sorted({r["pretrain_epochs"] for r in self.select(method=method)}))
        if grid.size == 0:
            raise ValueError(f"no records for method {method!r}; have {sorted({r['method'] for r in self.records})}")
        vals = [[r[key] for r in self.select(method=method, pretrain_epochs=int(e))] for e in grid]
        mean, std = np.array([mean_std(v) for v in vals]).T
        return grid, mean, std

    def to_dict(self) -> dict:
        """JSON-able copy (config as a dict)."""
        return {"config": asdict(self.config), "records": self.records, "cold": self.cold,
                "dataset_meta": self.dataset_meta, "wall_time": self.wall_time}


def seed_streams(seed: int) -> dict[str, int]:
    """Independent integer seeds for the sweep's random streams (init, split, pretrain, phase2,
    intervention). ``SeedSequence`` children do not depend on how many are spawned, so adding the
    intervention stream left the first four (and every number of the chapter) unchanged.
    """
    return runs.seed_streams(seed, STREAMS)


def validate_config(config: PretrainSweepConfig) -> None:
    """Raise ValueError naming the first bad field of ``config`` (the fields' declared checks).
    """
    if not isinstance(config, PretrainSweepConfig):
        raise ValueError(f"config must be a PretrainSweepConfig, got {type(config).__name__}")
    runs.ensure_valid(config)


def split_pretrain(n: int, fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A random split of 0..n-1: ``round(fraction * n)`` pre-training indices and the rest.
    """
    k = int(round(fraction * n))
    if not 0 < k < n:
        raise ValueError(f"pretrain_fraction={fraction} of n={n} leaves an empty part ({k} vs {n - k})")
    perm = torch.randperm(n, generator=generator)
    return perm[:k], perm[k:]


def between_phases(model, optimizer, intervention, setup: "PhaseSetup"):
    """Apply ``intervention`` (from the method table) before phase 2; return (model, optimizer).

    It sees the situation of experiment 2 of the chunked protocol: all data in arrival order
    (pre-training part first), chunk-sized batches (= the pre-training part's size), the first
    initialisation, fresh models from the init stream (so ``cold`` here is exactly the cold start).
    The model is in eval mode while the intervention acts (as the official loop leaves it after
    testing) and back in train mode after.
    """
    ctx = InterventionContext(
        experiment=2, x_seen=setup.x_all, y_seen=setup.y_all, chunk_size=setup.n_first,
        generator=torch.Generator().manual_seed(setup.streams["intervention"]), initial_state=setup.initial_state,
        make_fresh_model=setup.fresh_model, make_optimizer=setup.optimizer_for)
    model.eval()
    model, optimizer = intervention(model, optimizer, ctx)
    model.train()
    return model, optimizer


class PhaseSetup:
    """Data, split, and the model/optimizer factories for one seed (shared by sweep and cold, and
    by the DASH part's studies that look inside a pre-trained network)."""

    def __init__(self, config: PretrainSweepConfig, data, seed: int):
        self.config, self.data, self.seed = config, data, seed
        self.streams = seed_streams(seed)
        first, rest = split_pretrain(data.num_train, config.pretrain_fraction, self.generator("split"))
        order = torch.cat([first, rest]).to(data.device)
        self.n_first = len(first)
        # Arrival order: pre-training part first (DASH's EMA and phase 2 both use it).
        self.x_all, self.y_all = data.x_train[order], data.y_train[order]
        self.x_first, self.y_first = self.x_all[:self.n_first], self.y_all[:self.n_first]
        self.initial_state = None   # set by the sweep once the pre-training model exists

    def generator(self, stream: str) -> torch.Generator:
        """A fresh CPU generator of the named random stream of this seed (weights, split and batch
        order then depend only on the seed, not on the device)."""
        return torch.Generator().manual_seed(self.streams[stream])

    def fresh_model(self):
        c = self.config
        return build_model(c.model, self.data.input_shape, self.data.num_classes,
                           generator=self.generator("init"), **c.model_kwargs).to(self.data.device)

    def optimizer_for(self, params):
        c = self.config
        return make_optimizer(c.optimizer, params, lr=c.lr, weight_decay=c.weight_decay)

    def optimizer(self, model):
        return self.optimizer_for(model.parameters())

    def phase2(self, model, optimizer, context: str, intervention=None) -> dict:
        c = self.config
        t0 = time.perf_counter()
        res = train_until(model, self.x_all, self.y_all, optimizer=optimizer,
                          target_train_acc=c.target_train_acc, max_epochs=c.max_epochs,
                          batch_size=c.batch_size, generator=self.generator("phase2"),
                          regularizer=getattr(intervention, "regularizer", None),
                          step_hooks=tuple(getattr(intervention, "step_hooks", ()) or ()), context=context)
        judged = getattr(intervention, "evaluation_model", lambda m: m)(model)
        return {"seed": self.seed, "test_acc": evaluate(judged, self.data.x_test, self.data.y_test),
                "train_acc": float(res.final_train_acc), "steps": int(res.steps), "epochs": int(res.epochs),
                "reached_target": bool(res.reached_target), "wall_time": time.perf_counter() - t0}


def load_data(config: PretrainSweepConfig):
    """The dataset ``config`` names, on the CPU (loaded once and cached by the loaders)."""
    return load_dataset(config.dataset, seed=config.data_seed, **config.dataset_kwargs)


def run_cold(config: PretrainSweepConfig, seed: int, *, data=None, return_model: bool = False):
    """The cold-start reference for ``seed``: a fresh model trained on all data (phase 2 only).

    Written separately from the sweep on purpose: the sweep's E = 0 "warm" run must equal it
    exactly (same initial weights, same batch order), which the tests check.
    """
    validate_config(config)
    setup = PhaseSetup(config, data if data is not None else load_data(config), seed)
    model = setup.fresh_model()
    record = {"method": "cold", "pretrain_epochs": 0, "pretrain_train_acc": float("nan"),
              **setup.phase2(model, setup.optimizer(model), f"cold seed {seed}")}
    return (record, model) if return_model else record


def run_pretrain_sweep(config: PretrainSweepConfig, *, progress: bool = False, data=None,
                       return_models: bool = False):
    """Run the pre-training sweep of ``config`` for every seed; return a :class:`PretrainSweepResult`.

    ``data`` reuses an already loaded dataset (else ``config.dataset`` is loaded);
    ``return_models=True`` also returns ``{(seed, method, E): final model}`` (for tests).
    Source: DASH paper Fig. 2 (arXiv:2410.23495; protocol details reconstructed) and its appendix
    DASH-between-phases variant.

    Explained in: book/dash/03_noise_memorisation.ipynb
    """
    validate_config(config)
    t_start = time.perf_counter()
    data = data if data is not None else load_data(config)
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
            setup = PhaseSetup(config, data, seed)
            model = setup.fresh_model()
            setup.initial_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            opt = setup.optimizer(model)
            pre_gen = setup.generator("pretrain")  # one stream: E epochs then more = one longer run
            done = 0
            for e in grid:
                # One epoch per call: train_until would stop at 100 % running accuracy, but the
                # grid counts epochs. Same generator, so this equals one run of `e` epochs.
                for epoch in range(done + 1, e + 1):
                    train_until(model, setup.x_first, setup.y_first, optimizer=opt, target_train_acc=1.0,
                                max_epochs=1, batch_size=config.batch_size, generator=pre_gen,
                                context=f"pre-training seed {seed}", first_epoch=epoch)
                done = max(done, e)
                pre_acc = evaluate(model, setup.x_first, setup.y_first)
                for method in config.methods:
                    m2 = copy.deepcopy(model)
                    o2 = setup.optimizer(m2)
                    if not config.reset_optimizer:
                        o2.load_state_dict(opt.state_dict())
                    intervention = methods.build(method, config.method_params.get(method))
                    m2, o2 = between_phases(m2, o2, intervention, setup)
                    rec = {"method": method, "pretrain_epochs": e, "pretrain_train_acc": pre_acc,
                           **setup.phase2(m2, o2, f"{method} E={e} seed {seed}", intervention)}
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


def check(config: PretrainSweepConfig) -> None:
    """Everything that can fail before training: fields, methods and their parameters, the data,
    the split and the model size. Loads (and caches) the data."""
    prepare(config)


def prepare(config: PretrainSweepConfig):
    """:func:`check`, returning the loaded data for :func:`run`'s ``prepared=`` (one load per run)."""
    validate_config(config)
    for method in config.methods:
        methods.check_runs_in(method, "two_phase")
        methods.build(method, config.method_params.get(method))
    data = load_data(config)
    split_pretrain(data.num_train, config.pretrain_fraction, torch.Generator())
    check_model_size(config.model, data.input_shape, data.num_classes, **config.model_kwargs)
    return data


def run(config: PretrainSweepConfig, *, prepared=None) -> runs.RunOutcome:
    """The registry's entry point: the sweep as plain records (the cold starts first, as
    method ``cold``), for a results file. ``prepared``: the data :func:`prepare` loaded."""
    res = run_pretrain_sweep(config, data=prepared)
    # JSON has no NaN: a cold start has no pre-training accuracy (None in the file)
    cold = [{**r, "pretrain_train_acc": None} for r in res.cold]
    return runs.RunOutcome(
        records=cold + res.records, device="cpu", elapsed=res.wall_time, dataset_meta=res.dataset_meta,
        seeds={"seeds": list(config.seeds), "streams": {s: seed_streams(s) for s in config.seeds}},
        intervention=methods.params_record(config.methods, config.method_params))
