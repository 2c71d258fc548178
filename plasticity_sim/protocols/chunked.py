"""The DASH paper's chunked warm-start protocol (DASH paper §C.3).

The training set is split into J equal random chunks. Experiment j trains on chunks 1..j (in
arrival order) until the running training accuracy reaches the target, then measures test
accuracy. Between experiments the chosen intervention (cold, warm, S&P, DASH, ...) acts on the
model and optimizer; experiment 1 always starts from the initial model, for every method.

The loop knows no method by name: an intervention is a callable
``(model, optimizer, context) -> (model, optimizer)`` that may also carry ``regularizer`` (a loss
term) and ``step_hooks`` (called after each optimizer step) as attributes; the loop passes them to
``train_until`` whatever the method is.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
from tqdm.auto import tqdm

from plasticity_sim import methods, runs
from plasticity_sim.data import augment_batch, load_dataset, random_chunks
from plasticity_sim.interventions import InterventionContext
from plasticity_sim.models import build_model, check_model_size
from plasticity_sim.protocols.specs import ChunkedConfig
from plasticity_sim.train import evaluate, make_optimizer, resolve_device, train_until


STREAMS = ("init", "chunks", "train", "intervention", "augment")


def _generators(seed: int) -> dict[str, torch.Generator]:
    # CPU generators: weights, chunks and noise then depend only on the seed, not on the device.
    # "augment" is its own (last) stream, so switching augmentation on changes neither the batches
    # nor the other streams (SeedSequence children are fixed by their index).
    return {name: torch.Generator().manual_seed(s) for name, s in runs.seed_streams(seed, STREAMS).items()}


def _experiment_generators(config: ChunkedConfig, gens: dict, n_seen: int) -> dict[str, torch.Generator]:
    """The batch-order, intervention and augmentation streams of one experiment: the run's own
    (``streams="sequential"``) or, for ``"by_size"``, fresh ones keyed by the points it trains on."""
    if config.streams == "sequential":
        return gens
    keyed = runs.seed_streams(config.seed, STREAMS, key=n_seen)
    return {name: torch.Generator().manual_seed(keyed[name]) for name in ("train", "intervention", "augment")}


def _continue(config: ChunkedConfig, model, x, y, optimizer, during: dict, augment, generator,
              evaluate_on) -> dict:
    """The budget control: ``continue_epochs`` more epochs on the same data after the target, with
    test accuracy every ``continue_eval_every`` epochs (epoch counts after the target)."""
    t0 = time.perf_counter()
    curve: dict[str, list] = {"epochs": [], "steps": [], "test_acc": []}
    steps = 0
    for epoch in range(1, config.continue_epochs + 1):
        # target 1.0 and one epoch per call: exactly one epoch, whatever the running accuracy
        result = train_until(model, x, y, optimizer=optimizer, target_train_acc=1.0, max_epochs=1,
                             batch_size=config.batch_size, generator=generator, **during,
                             augment=augment, progress=False, context="budget control", first_epoch=epoch)
        steps += int(result.steps)
        if epoch % config.continue_eval_every == 0 or epoch == config.continue_epochs:
            curve["epochs"].append(epoch)
            curve["steps"].append(steps)
            curve["test_acc"].append(float(evaluate_on()))
    curve["wall_time"] = time.perf_counter() - t0
    return curve


def _augmenter(config: ChunkedConfig, generator: torch.Generator):
    """The data-augmentation control as ``train_until``'s ``augment`` callable, or None when off."""
    if not (config.augment_pad or config.augment_flip):
        return None
    return lambda xb, _g: augment_batch(xb, generator, flip=config.augment_flip, pad=config.augment_pad,
                                      variant="joint")


def _diagnostics(model, x, y, initial_state, max_points: int) -> dict:
    from plasticity_sim import diagnostics  # imported only when asked for

    # Evenly spaced points of all data seen so far (arrival order would favour the oldest chunks).
    idx = torch.linspace(0, len(y) - 1, min(max_points, len(y)), device=y.device).long()
    return diagnostics.summarize(model, x[idx], y[idx], initial_state=initial_state, max_samples=len(idx))


def prepare(config: ChunkedConfig):
    """Check everything about ``config`` that can fail, by preparing what the run needs: returns
    ``(data, intervention, (name, params))`` for :func:`run_chunked`'s ``prepared=``. Loads (and
    caches) the data on the config's device, builds the intervention, checks the model size."""
    runs.ensure_valid(config)
    methods.check_runs_in(config.method, "chunked")
    if config.only_last and config.method != "cold":
        raise ValueError(f"only_last=True with method={config.method!r}: only a cold start's last experiment "
                         "can run alone; use method=cold or only_last=false")
    name, params = methods.intervention_spec(config.method, config.method_params)
    intervention = methods.build(config.method, config.method_params)  # bad params fail before any work
    device = resolve_device(config.device)
    data = load_dataset(config.dataset, seed=config.data_seed, device=device, **config.dataset_kwargs)
    if data.num_train % config.num_chunks:
        raise ValueError(f"num_chunks={config.num_chunks} does not divide the {data.num_train} training "
                         f"points of {config.dataset!r}; choose a divisor of {data.num_train} or "
                         "change the dataset size")
    check_model_size(config.model, data.input_shape, data.num_classes, **config.model_kwargs)
    return data, intervention, (name, params)


def check(config: ChunkedConfig) -> None:
    """Raise ``ValueError`` if ``config`` cannot run: bad field, method parameter, dataset option,
    device, model size, or a chunk count that does not divide the training set. Loads (and caches)
    the data, so a sweep can check every job before it starts any.
    """
    prepare(config)


def run_chunked(config: ChunkedConfig, *, resume_state: dict | None = None,
                on_checkpoint: Callable[[dict], None] | None = None,
                stop_after: int | None = None, progress: bool | None = None,
                prepared: tuple | None = None) -> runs.RunOutcome:
    """Run the chunked protocol described by ``config``; return its :class:`~plasticity_sim.runs.RunOutcome`.

    ``records[j-1]`` holds experiment j: ``test_acc``, ``train_acc`` (final running train accuracy),
    ``steps``, ``epochs``, ``reached_target``, ``wall_time`` (s, training + intervention),
    ``intervention_time``, ``n_train`` and, when enabled, ``diagnostics``
    (:func:`plasticity_sim.diagnostics.summarize` on evenly spaced points of the data seen so far;
    distances are to the run's very first initialisation, also for cold starts). Test accuracy is
    measured on the network the method evaluates (the Tortoise for Hare & Tortoise).

    resume_state: a checkpoint dict from an earlier call (see ``on_checkpoint``) to continue from.
    on_checkpoint: called after every experiment with a dict of tensors/ints/strings (model and
        optimizer state, generator states, records) that :func:`plasticity_sim.runs.save_checkpoint`
        can store; resuming from it gives results identical to an uninterrupted run on CPU.
    stop_after: stop after this many experiments (tests use it to simulate an interruption).
    progress: tqdm bar over experiments (default ``config.progress``).
    prepared: what :func:`prepare` returned for this config (run_config's check made it); prepared
        here when None.

    Source: official DASH code (``main.py``, ``utils/train_utils.py``) and the paper, arXiv:2410.23495.
    """
    data, intervention, (name, params) = prepared if prepared is not None else prepare(config)
    progress = config.progress if progress is None else progress
    device = data.device
    n, J = data.num_train, config.num_chunks
    chunk_size = n // J
    gens = _generators(config.seed)
    # one permutation cut into J pieces: all chunks together are the same order for every J
    chunks = [c.to(device) for c in random_chunks(n, J, gens["chunks"])]
    current = gens   # this experiment's train / intervention / augment streams

    def fresh_model():
        return build_model(config.model, data.input_shape, data.num_classes,
                           generator=current["intervention"], **config.model_kwargs).to(device)

    def new_optimizer(params):
        return make_optimizer(config.optimizer, params, lr=config.lr, momentum=config.momentum,
                              weight_decay=config.weight_decay, rho=config.rho)

    model = build_model(config.model, data.input_shape, data.num_classes,
                        generator=gens["init"], **config.model_kwargs).to(device)
    initial_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    optimizer = new_optimizer(model.parameters())

    records: list[dict] = []
    elapsed_before = 0.0
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
        optimizer.load_state_dict(resume_state["optimizer"])
        initial_state = {k: v.to(device) for k, v in resume_state["initial_state"].items()}
        for key, g in gens.items():
            if key in resume_state["generators"]:  # checkpoints from before the "augment" stream lack it
                g.set_state(resume_state["generators"][key])
        records = runs.json_loads(resume_state["records_json"])
        elapsed_before = float(resume_state["elapsed"])
    first = J if config.only_last else 1   # only_last: experiment J alone (a cold start's last)
    start = first + len(records)

    # what the method evaluates: the model itself, or e.g. Hare & Tortoise's Tortoise
    evaluation_model = getattr(intervention, "evaluation_model", lambda m: m)
    t_start = time.perf_counter()
    bar = tqdm(range(start, J + 1), desc=f"{config.method} seed {config.seed}", unit="exp",
               disable=not progress, initial=start - first, total=J - first + 1)
    for j in bar:
        seen = torch.cat(chunks[:j])              # arrival order: chunk 1 first
        x, y = data.x_train[seen], data.y_train[seen]
        t0 = time.perf_counter()
        current = _experiment_generators(config, gens, len(seen))
        augment = _augmenter(config, current["augment"])
        # Called before every experiment; interventions act only from experiment 2 on (the official
        # code applies them after an experiment), so experiment 1 starts from the initial model for
        # every method, while e.g. l2_init can take its anchor from the context at experiment 1.
        # The official loop left the model in eval() after testing; DASH's gradient pass sees that mode.
        model.eval()
        context = InterventionContext(
            experiment=j, x_seen=x, y_seen=y, chunk_size=chunk_size, generator=current["intervention"],
            initial_state=initial_state, make_fresh_model=fresh_model, make_optimizer=new_optimizer)
        model, optimizer = intervention(model, optimizer, context)
        # what the method does during training, read after it acted (it may bind hooks to a new model);
        # the budget control keeps the same loss term and step hooks
        during = {"regularizer": getattr(intervention, "regularizer", None),
                  "step_hooks": tuple(getattr(intervention, "step_hooks", ()) or ())}
        intervention_time = time.perf_counter() - t0
        result = train_until(
            model, x, y, optimizer=optimizer, target_train_acc=config.target_train_acc,
            max_epochs=config.max_epochs, batch_size=config.batch_size, generator=current["train"], **during,
            augment=augment, progress=False, context=f"experiment {j}")
        record = {
            "experiment": j, "n_train": int(len(y)),
            "test_acc": float(evaluate(evaluation_model(model), data.x_test, data.y_test)),
            "train_acc": float(result.final_train_acc),
            "steps": int(result.steps), "epochs": int(result.epochs),
            "reached_target": bool(result.reached_target),
            "wall_time": time.perf_counter() - t0, "intervention_time": intervention_time,
        }
        if config.continue_epochs and j == J:
            record["continuation"] = _continue(
                config, model, x, y, optimizer, during, augment, current["train"],
                lambda: evaluate(evaluation_model(model), data.x_test, data.y_test))
        if config.diagnostics:
            record["diagnostics"] = _diagnostics(model, x, y, initial_state, config.diagnostics_max_points)
        records.append(record)
        bar.set_postfix(test_acc=f"{record['test_acc']:.3f}", steps=record["steps"])
        if on_checkpoint is not None:
            on_checkpoint({
                "config_json": runs.json_dumps(runs.to_dict(config)), "completed": j,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "initial_state": initial_state,
                "generators": {key: g.get_state() for key, g in gens.items()},
                "records_json": runs.json_dumps(records),
                "elapsed": elapsed_before + time.perf_counter() - t_start})
        if stop_after is not None and j >= stop_after:
            break
    bar.close()

    return runs.RunOutcome(
        records=records, complete=len(records) == J - first + 1, device=str(device),
        device_name=torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        seeds={"seed": config.seed, "data_seed": config.data_seed,
               "streams": runs.seed_streams(config.seed, STREAMS)},
        dataset_meta=dict(data.meta),
        # the intervention's own record of its parameters includes the defaults it filled in
        intervention={"name": config.method, "intervention": name,
                      "params": dict(getattr(intervention, "params", params)), "requested": params},
        elapsed=elapsed_before + time.perf_counter() - t_start)
