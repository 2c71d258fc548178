"""Protocols: the loops that train, intervene and evaluate - one registry, one entry shape.

Every protocol is one :class:`Protocol` entry: its config dataclass and presets (torch-free, in
:mod:`.specs`), its ``run(config, *, resume_state, on_checkpoint, stop_after) -> RunOutcome`` (in
its own module, imported only when run), and its results summary. :func:`run_config` turns any
protocol's config into a results file with provenance (and checkpoints where the protocol can
resume); :func:`load_results` reads any protocol's file back; the CLI's ``run``, ``sweep`` and
``list`` read the same table. Adding a protocol: write its loop module, add its config to
``specs/<part>.py``, add one entry below.

Importing this package does not import torch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from plasticity_sim import atomic, methods, runs
from plasticity_sim.protocols import specs


@dataclass(frozen=True)
class Protocol:
    """One registry entry. ``run`` is ``"module:function"``, imported on first use (torch).

    ``records_key`` is the results-file key of the records (``experiments`` for chunked);
    ``summarize(records) -> dict`` is stored in every results file and checked on load;
    ``resumable``: the run function accepts ``resume_state`` / ``on_checkpoint``.
    ``seed_field`` / ``method_field``: where a sweep puts a job's seed and method (a plain field
    such as ``seed`` takes the value, a tuple field such as ``seeds`` takes a one-element tuple).
    """

    name: str
    config: type
    run: str
    summarize: Callable[[list[dict]], dict]
    presets: dict = field(default_factory=dict)
    cost: dict = field(default_factory=dict)
    records_key: str = "records"
    resumable: bool = False
    seed_field: str = "seeds"
    method_field: str | None = "methods"
    doc: str = ""

    def run_function(self):
        module, _, func = self.run.partition(":")
        return getattr(importlib.import_module(module), func)


def _summary(keys, value="test_acc"):
    return lambda records: {"groups": specs.mean_by(records, keys, value), "num_records": len(records)}


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol("chunked", specs.ChunkedConfig, "plasticity_sim.protocols.chunked:run_chunked",
             specs.table1_summary, specs.CHUNKED_PRESETS, specs.CHUNKED_COST, records_key="experiments",
             resumable=True, seed_field="seed", method_field="method",
             doc="DASH paper: J chunks, train to 99.9 % on chunks 1..j, intervene between experiments"),
    Protocol("two_phase", specs.PretrainSweepConfig, "plasticity_sim.protocols.two_phase:run",
             _summary(("method", "pretrain_epochs")),
             {"default": {}, "tiny": {"dataset_kwargs": {"num_samples": 2000}, "pretrain_epochs": (0, 5, 20),
                                      "seeds": (0,)}},
             doc="DASH Fig. 2: pre-train E epochs on part of the data, then train on all of it"),
    Protocol("subsets", specs.SubsetCosineConfig, "plasticity_sim.protocols.subsets:run",
             _summary(("size",)),
             {"default": {}, "tiny": {"sizes": (100, 400), "seeds": (0,), "dataset_kwargs": {"num_samples": 2000}}},
             method_field=None,
             doc="DASH appendix: cos(weight, -test gradient) vs training-subset size"),
    Protocol("feature_probe", specs.FeatureProbeConfig, "plasticity_sim.protocols.feature_probe:run",
             _summary(("seed",)), {"default": {}, "tiny": {"n_train": 100, "n_test": 200, "seeds": (0,)}},
             method_field=None,
             doc="DASH cosines against the known features and noise of feature/noise images"),
    Protocol("slow_regression", specs.SlowRegressionConfig, "plasticity_sim.protocols.continual:run_slow_regression",
             specs.regression_summary,
             {"default": {}, "tiny": {"steps": 40_000, "bin_size": 4_000, "flip_every": 2_000, "seeds": (0, 1)},
              "published": {"steps": 1_000_000, "bin_size": 20_000}},
             seed_field="seeds", method_field="method",
             doc="Dohare et al. 2024: slowly-changing regression, all seeds vectorised in one run"),
    Protocol("permuted", specs.PermutedConfig, "plasticity_sim.protocols.continual:run_permuted",
             _summary(("method",), "online_acc"),
             {"default": {}, "tiny": {"num_tasks": 3, "samples_per_task": 300, "width": 32, "probe_points": 100}},
             seed_field="seed", method_field="method",
             doc="Dohare et al. 2024: online permuted inputs (MNIST-1D / digits), one pass per task"),
    Protocol("class_incremental", specs.ClassIncrementalConfig,
             "plasticity_sim.protocols.continual:run_class_incremental",
             _summary(("method",), "relative_acc"),
             {"default": {}, "tiny": {"epochs_per_step": 2, "width": 32, "classes_per_step": 4,
                                      "dataset_kwargs": {"num_samples": 2000}, "probe_points": 100}},
             seed_field="seed", method_field="method",
             doc="Dohare et al. 2024: classes added in steps vs. a network retrained from scratch"),
    Protocol("noisy_warm_start", specs.NoisyWarmStartConfig,
             "plasticity_sim.protocols.noisy_warm_start:run", specs.noisy_warm_start_summary,
             specs.NOISY_WARM_START_PRESETS, specs.NOISY_WARM_START_COST, resumable=True,
             doc="Hare & Tortoise §3: phase 1 on a noisy-label subset (ratio x noise grid), phase 2 on all clean data"),
    Protocol("growing_data", specs.GrowingDataConfig, "plasticity_sim.protocols.growing_data:run",
             specs.growing_data_summary, specs.GROWING_DATA_PRESETS, {}, resumable=True,
             doc="Hare & Tortoise §5.2: 10 phases of growing data, label noise 0.5 -> 0, full access or a replay buffer"),
)}


def get(name: str) -> Protocol:
    """The registry entry of protocol ``name``; a ``ValueError`` lists the allowed names."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; allowed: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def protocol_of(config) -> Protocol:
    """The entry whose config class ``config`` is an instance of."""
    for p in PROTOCOLS.values():
        if type(config) is p.config:
            return p
    raise ValueError(f"no protocol takes a {type(config).__name__}; "
                     f"allowed: {', '.join(p.config.__name__ for p in PROTOCOLS.values())}")


def preset_config(preset: str, *, protocol: str = "chunked", **overrides):
    """The config of a named preset of ``protocol`` with field overrides (validated).

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    entry = get(protocol)
    return runs.config_from_dict(entry.config, {**_preset_values(entry, preset), **overrides})


def _preset_values(entry: Protocol, preset: str) -> dict:
    if preset not in entry.presets:
        raise ValueError(f"unknown preset {preset!r} of protocol {entry.name!r}; allowed: {', '.join(entry.presets)}")
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in entry.presets[preset].items()}


def config_from_dict(values: dict, protocol: str = "chunked"):
    """A validated config of ``protocol`` from a plain dict (unknown keys are an error)."""
    return runs.config_from_dict(get(protocol).config, values)


def get_check(name: str):
    """The before-any-work check of protocol ``name`` (``check(config)``; loads the data)."""
    entry = get(name)
    module = importlib.import_module(entry.run.partition(":")[0])
    return getattr(module, "check", runs.ensure_valid)


def get_prepare(name: str):
    """Protocol ``name``'s ``prepare(config)``, or None: a protocol that has one checks everything by
    preparing what its run needs (data, intervention) and its run takes the result as ``prepared=``,
    so one run checks and prepares once."""
    return getattr(importlib.import_module(get(name).run.partition(":")[0]), "prepare", None)


def run_config(config, *, out: str | os.PathLike | None = None,
               checkpoint_dir: str | os.PathLike | None = None, resume: bool = False,
               overwrite: bool = False, stop_after: int | None = None) -> dict:
    """Run any protocol's ``config``; return the results dict (also written to ``out``).

    Everything that can be checked is checked before training: the config, the output path (not a
    folder, writable, not an existing file unless ``overwrite``), the checkpoint folder (not another
    run's checkpoint unless ``resume`` or ``overwrite``), and the protocol's own check (data,
    method parameters, model size). With ``checkpoint_dir`` a resumable protocol checkpoints after
    every experiment; ``resume=True`` continues from it (a missing checkpoint starts from scratch;
    one from a different config is an error). ``stop_after`` (a test hook) stops after that many
    experiments and writes no results file; the partial results say ``"complete": False``.
    While it trains the run holds a lock on ``out`` and on ``checkpoint_dir`` (a second run on
    either fails before training), and it never replaces a results file it was not told to
    (``overwrite``) even if one appears meanwhile.

    Explained in: book/dash/02_warm_starting_real_networks.ipynb
    """
    entry = protocol_of(config)
    runs.ensure_valid(config)
    if entry.method_field is not None:
        chosen = getattr(config, entry.method_field)
        for name in (chosen if isinstance(chosen, tuple) else (chosen,)):
            methods.check_runs_in(name, entry.name)
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint_dir")
    if (checkpoint_dir is not None or stop_after is not None) and not entry.resumable:
        raise ValueError(f"protocol {entry.name!r} does not checkpoint; run it without a checkpoint folder")
    if out is not None:
        runs.check_output(out, overwrite=overwrite)
    ckpt = None
    resume_state = None
    if checkpoint_dir is not None:
        ckpt = runs.check_checkpoint_dir(checkpoint_dir, resume=resume, overwrite=overwrite)
        if resume and ckpt.is_file():
            if entry.method_field == "method" and not methods.get_method(config.method).resumable:
                raise ValueError(f"method {config.method!r} keeps in-training state that checkpoints do not "
                                 "hold; it cannot resume: run it again without --resume (with --overwrite)")
            resume_state = runs.load_checkpoint(ckpt)
            _check_resume_state(ckpt, resume_state, entry, config)
    prepare = get_prepare(entry.name)
    prepared = prepare(config) if prepare is not None else get_check(entry.name)(config)
    with contextlib.ExitStack() as held:
        # Held for the whole run: a second run on the same results file or checkpoint folder fails
        # here, before training, instead of both running and one silently losing its work.
        if out is not None:
            held.enter_context(atomic.held_lock(atomic.lock_file_of(out), f"--out {str(out)!r}"))
            runs.check_output(out, overwrite=overwrite)   # again, now that no run of ours can race it
        if ckpt is not None:
            held.enter_context(atomic.held_lock(atomic.lock_file_of(ckpt.parent, folder=True),
                                                f"--checkpoint-dir {str(ckpt.parent)!r}"))
        on_checkpoint = (lambda state: runs.save_checkpoint(ckpt, state)) if ckpt is not None else None
        kwargs = dict(resume_state=resume_state, on_checkpoint=on_checkpoint, stop_after=stop_after) \
            if entry.resumable else {}
        if prepare is not None:
            kwargs["prepared"] = prepared
        outcome: runs.RunOutcome = entry.run_function()(config, **kwargs)
        results = {
            "format": runs.RESULTS_FORMAT, "protocol": entry.name, "complete": outcome.complete,
            "config": runs.to_dict(config),
            "method": outcome.intervention,
            "provenance": dict(runs.provenance(outcome.device, outcome.device_name),
                               wall_time_s=outcome.elapsed, resumed=resume_state is not None),
            "seeds": outcome.seeds, "dataset_meta": outcome.dataset_meta,
            entry.records_key: outcome.records, "summary": entry.summarize(outcome.records),
        }
        if out is not None and outcome.complete:
            _publish(Path(out), results, overwrite)
    return results


def _publish(out: Path, results: dict, overwrite: bool) -> None:
    """Write the results file; without ``overwrite`` by exclusive create, so a file that appeared
    while this run trained (written by something that ignores our lock) is never replaced: the
    results then go beside it and the run fails saying where."""
    try:
        runs.write_json_atomic(out, results, exclusive=not overwrite)
    except FileExistsError:
        aside = out.with_name(f"{out.stem}.{os.getpid()}{out.suffix or '.json'}")
        runs.write_json_atomic(aside, results, exclusive=True)
        raise runs.RunFailed(f"{out} appeared while this run trained and was not replaced; "
                             f"this run's results are in {aside}") from None


# Keys every resumable protocol's checkpoint holds, and the extra ones of chunked (its network).
_CHECKPOINT_KEYS = ("config_json", "completed", "records_json", "elapsed")
_CHECKPOINT_EXTRA = {"chunked": ("model", "optimizer", "initial_state", "generators")}


def _check_resume_state(ckpt: Path, state: dict, entry: Protocol, config) -> None:
    """A checkpoint to resume must be whole (every key, records a list of dicts) and of this config;
    a ``ValueError`` names the checkpoint, the field and what to do."""
    fix = "delete it, or run again with --overwrite and without --resume"
    for key in _CHECKPOINT_KEYS + _CHECKPOINT_EXTRA.get(entry.name, ()):
        if key not in state:
            raise ValueError(f"checkpoint {str(ckpt)!r} has no {key!r} (damaged or not this protocol's); {fix}")
    try:
        saved = runs.json_loads(state["config_json"])
        records = runs.json_loads(state["records_json"])
        float(state["elapsed"]), int(state["completed"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"checkpoint {str(ckpt)!r} is damaged ({err}); {fix}") from None
    if not isinstance(saved, dict) or not isinstance(records, list) or \
            not all(isinstance(r, dict) for r in records):
        raise ValueError(f"checkpoint {str(ckpt)!r}: 'config_json' / 'records_json' are damaged; {fix}")
    now = runs.to_dict(config)
    if not runs.same_results_config(saved, now, entry.config):
        keep = runs.result_fields(entry.config)
        diff = sorted(k for k in set(saved) | set(now) if k in keep and saved.get(k) != now.get(k))
        raise ValueError(f"checkpoint {str(ckpt)!r} was made with a different config (fields {diff}); "
                         "resume with the config that made it, or start again with --overwrite "
                         "(or another --checkpoint-dir)")


_RECORD_KEYS = {"chunked": ("experiment", "n_train", "test_acc", "train_acc", "steps", "epochs", "wall_time")}


def load_results(path: str | os.PathLike) -> dict:
    """Read and validate a results file written by :func:`run_config`, for any protocol.

    Checks the format tag, the protocol, the config (every key known and valid), the records
    (for chunked: one per experiment with the required fields) and that the stored summary
    matches the records. Raises ``ValueError`` (or ``FileNotFoundError``) saying what is wrong.
    """
    path = Path(path)
    data = runs.read_json(path, "results file")
    if not isinstance(data, dict) or data.get("format") != runs.RESULTS_FORMAT:
        raise ValueError(f"{path}: format is {data.get('format') if isinstance(data, dict) else None!r}; "
                         f"expected {runs.RESULTS_FORMAT!r}")
    try:
        entry = get(data.get("protocol"))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    for key in ("config", "method", "provenance", "seeds", entry.records_key, "summary"):
        if key not in data:
            raise ValueError(f"{path}: missing key {key!r}")
    for key in ("config", "method", "provenance", "seeds", "summary"):
        if not isinstance(data[key], dict):
            raise ValueError(f"{path}: field {key!r} is {type(data[key]).__name__}, not an object; the file is damaged")
    try:
        config = runs.config_from_dict(entry.config, data["config"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: bad config: {err}") from None
    records = data[entry.records_key]
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError(f"{path}: {entry.records_key!r} must be a list of records")
    if entry.name == "chunked":
        first = config.num_chunks if config.only_last else 1     # only_last: experiment J alone
        if len(records) != config.num_chunks - first + 1:
            raise ValueError(f"{path}: expected {config.num_chunks - first + 1} experiment records, found {len(records)}")
        for i, record in enumerate(records, start=first):
            missing = [k for k in _RECORD_KEYS["chunked"] if k not in record]
            if missing or record["experiment"] != i:
                raise ValueError(f"{path}: experiment record {i} is malformed (missing {missing})")
    _check_records_in_config(path, entry, config, records)
    try:
        same = entry.summarize(records) == data["summary"]
    except (KeyError, TypeError, ValueError):
        same = False
    if not same:
        raise ValueError(f"{path}: summary does not match the {entry.records_key} records")
    return data


# A record field and the config field that lists its allowed values (tuple or single value).
_RECORD_DOMAIN = (("seed", ("seeds", "seed")), ("method", ("methods", "method")), ("ratio", ("ratios",)),
                  ("noise", ("noises",)), ("size", ("sizes",)), ("pretrain_epochs", ("pretrain_epochs",)))


def _check_records_in_config(path: Path, entry: Protocol, config, records: list[dict]) -> None:
    """Every record's seed, method, ratio, ... must be one the config asked for (a record outside the
    config was put there by hand or by another run). The fresh baseline is ``method 'cold'`` with
    ``ratio`` / ``noise`` None when the config has ``fresh_baseline``."""
    fresh = bool(getattr(config, "fresh_baseline", False))
    for i, record in enumerate(records):
        for key, fields in _RECORD_DOMAIN:
            if key not in record:
                continue
            value = record[key]
            if key == "seed" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{path}: record {i} field 'seed' is {value!r}, not an integer; the file is damaged")
            if (fresh and value is None) or (key == "method" and value == "cold"):
                continue   # the fresh baseline / the cold reference every method is paired with
            for name in fields:
                if hasattr(config, name):
                    allowed = getattr(config, name)
                    allowed = allowed if isinstance(allowed, tuple) else (allowed,)
                    if value not in allowed:
                        raise ValueError(f"{path}: record {i} field {key!r} is {value!r}, which its config "
                                         f"does not hold ({name} = {allowed!r}); the file is damaged or mixed")
                    break


def check_together(named: list[tuple[str, dict]], *, protocol: str | None = None) -> None:
    """Check that results (``(name, results)`` pairs, each from :func:`load_results`) may be combined
    into one table: one protocol (``protocol`` if given), configs equal in every field that changes
    the numbers except method, seed and method parameters, and each (method, seed) once. A
    ``ValueError`` names the file and the field. Every loader and summariser of several results
    files calls this (one rule, one place).
    """
    first = None
    owner: dict[str, str] = {}
    for name, data in named:
        got = data.get("protocol") if isinstance(data, dict) else None
        if protocol is not None and got != protocol:
            raise ValueError(f"{name}: field 'protocol' is {got!r}, expected {protocol!r}; "
                             "remove the file or give a folder of one protocol's runs")
        entry = get(got)
        per_run = {entry.seed_field, entry.method_field, "method_params"}
        keep = [k for k in runs.result_fields(entry.config) if k not in per_run]
        defaults = runs.config_defaults(entry.config)    # a field added later: its default, as before
        common = {k: data["config"].get(k, defaults.get(k)) for k in keep}
        if first is None:
            first = (name, got, common)
        else:
            name0, got0, common0 = first
            if got != got0:
                raise ValueError(f"{name}: field 'protocol' is {got!r} but {name0} is {got0!r}; "
                                 "combine runs of one protocol only")
            diff = sorted(k for k in keep if common.get(k) != common0.get(k))
            if diff:
                raise ValueError(f"{name}: config field {diff[0]!r} is {common.get(diff[0])!r} but "
                                 f"{name0} has {common0.get(diff[0])!r}; runs combined in one table may differ "
                                 "only in method and seed: move one of them to another folder")
        job = runs.json_dumps([data["config"].get(entry.method_field) if entry.method_field else None,
                               data["config"].get(entry.seed_field)])
        if job in owner:
            raise ValueError(f"{name}: method and seed {job} are also in {owner[job]}; a study holds each "
                             "run once: remove one of the two files")
        owner[job] = name


def load_together(files, *, protocol: str | None = None) -> list[dict]:
    """:func:`load_results` of every file, then :func:`check_together`; a file that cannot be read
    is a ``ValueError`` naming it."""
    loaded = []
    for f in files:
        try:
            loaded.append((str(f), load_results(f)))
        except (KeyError, TypeError, AttributeError) as err:   # damaged beyond the checks above
            raise ValueError(f"{f}: damaged results file ({type(err).__name__}: {err})") from None
    check_together(loaded, protocol=protocol)
    return [data for _, data in loaded]


def default_stem(config, protocol: str, preset: str) -> str:
    """File-name stem that says what is inside: protocol, preset, method(s), seed(s), e.g.
    ``chunked_tiny_dash_seed0``. Built from the final config, so ``--set`` overrides show."""
    entry = get(protocol)
    parts = [protocol, preset]
    if entry.method_field:
        m = getattr(config, entry.method_field)
        parts.append("-".join(m) if isinstance(m, tuple) else m)
    s = getattr(config, entry.seed_field)
    parts.append("seed" + ("-".join(map(str, s)) if isinstance(s, tuple) else str(s)))
    return "_".join(parts)


def _job_fields(entry: Protocol, method: str | None, seed: int | None) -> dict:
    # where the protocol keeps a job's method and seed: a plain field, or a one-element tuple
    changes = {}
    if method is not None:
        if entry.method_field is None:
            raise ValueError(f"protocol {entry.name!r} takes no method")
        changes[entry.method_field] = method if entry.method_field == "method" else (method,)
    if seed is not None:
        changes[entry.seed_field] = seed if entry.seed_field == "seed" else (seed,)
    return changes


def with_job(config, *, method: str | None = None, seed: int | None = None):
    """A copy of ``config`` for one sweep job: ``method`` and ``seed`` put where the protocol keeps them."""
    new = dataclasses.replace(config, **_job_fields(protocol_of(config), method, seed))
    runs.validate_config(new)
    return new


def job_config(protocol: str, preset: str, *, method: str | None = None, seed: int | None = None,
               overrides: list[str] = (), progress: bool | None = None):
    """The config of one command line: the preset, then ``method`` / ``seed`` where the protocol keeps
    them, then ``progress`` (where the config has it), then the ``key=value`` overrides (which win).
    Built as one dict and validated once."""
    entry = get(protocol)
    # the defaults first, so a `key.sub=value` override edits the default dict of a field the preset leaves alone
    values = {**dataclasses.asdict(entry.config()), **_preset_values(entry, preset), **_job_fields(entry, method, seed)}
    if progress is not None and "progress" in {f.name for f in dataclasses.fields(entry.config)}:
        values["progress"] = progress
    return runs.config_from_dict(entry.config, runs.override_values(entry.config, values, list(overrides)))


__all__ = ["Protocol", "PROTOCOLS", "get", "protocol_of", "preset_config", "config_from_dict",
           "get_check", "get_prepare", "job_config", "run_config", "load_results", "check_together",
           "load_together", "default_stem", "with_job", "specs"]
