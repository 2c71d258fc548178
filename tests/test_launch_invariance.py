"""Issue #23, "a run's numbers never depend on how it was launched": for EVERY registered protocol,
seed 1's records are identical whether the seed runs alone, inside a multi-seed config (where the
protocol has a ``seeds`` field), as a sweep job (``sweep.run_jobs_local``, one worker; one protocol
also with two worker processes), or resumed after a kill (where the protocol can resume: the "kill"
is an exception raised right after the first checkpoint is written, then ``resume=True``).

Each protocol runs its ``tiny`` preset shrunk further by the overrides below, so a case takes
seconds. Records are compared whole except their wall-clock times. Seed 1, not seed 0: state
shared by mistake between the seeds of one run (noisy_warm_start's phase-1 cache keyed without
the seed) shows only on a later seed.
"""
from __future__ import annotations

import dataclasses

import pytest

from plasticity_sim import protocols, runs, sweep

SEED = 1
# protocol -> (method or None, --set overrides that shrink its tiny preset to seconds)
SHRINK: dict[str, tuple[str | None, list[str]]] = {
    "chunked": ("sp", ["dataset_kwargs.num_samples=600", "num_chunks=3", "max_epochs=2"]),
    "two_phase": ("dash", ["dataset_kwargs.num_samples=600", "pretrain_epochs=0,2", "max_epochs=3"]),
    "subsets": (None, ["dataset_kwargs.num_samples=600", "sizes=50,100", "max_epochs=3"]),
    "feature_probe": (None, ["n_train=40", "n_test=40", "max_epochs=5"]),
    "slow_regression": ("cbp", ["steps=4000", "bin_size=1000", "flip_every=500", "replacement_rate=0.01"]),
    "permuted": ("cbp", ["samples_per_task=60", "num_tasks=2", "probe_points=20"]),
    "class_incremental": ("warm", ["dataset_kwargs.num_samples=600", "epochs_per_step=1", "probe_points=20"]),
    "noisy_warm_start": ("warm", ["epochs=2", "metrics_max_points=50"]),
    "growing_data": ("sp_init", ["num_phases=2", "epochs=1"]),
}


def test_every_registered_protocol_is_covered():
    assert sorted(SHRINK) == sorted(protocols.PROTOCOLS)


def _config(protocol: str, seeds: tuple[int, ...]):
    entry = protocols.get(protocol)
    method, overrides = SHRINK[protocol]
    config = runs.apply_overrides(protocols.preset_config("tiny", protocol=protocol), overrides)
    config = protocols.with_job(config, method=method)
    seed_value = seeds if entry.seed_field == "seeds" else seeds[0]
    config = dataclasses.replace(config, **{entry.seed_field: seed_value})
    if hasattr(config, "progress"):
        config.progress = False
    runs.validate_config(config)
    return config


def _of_seed(results: dict, seed: int) -> list[dict]:
    """The records of ``seed`` without wall-clock times (a record without a seed field belongs to
    the run's one seed)."""
    entry = protocols.get(results["protocol"])
    out = []
    for record in results[entry.records_key]:
        if record.get("seed", results["config"].get("seed")) != seed:
            continue
        out.append({k: v for k, v in record.items() if "time" not in k and k != "elapsed"})
    assert out, f"no records of seed {seed}"
    return out


@pytest.fixture(scope="module")
def alone():
    """Seed 1 run alone, per protocol (computed once, compared by every launch below)."""
    return {}


def _alone(protocol: str, cache: dict) -> list[dict]:
    if protocol not in cache:
        cache[protocol] = _of_seed(protocols.run_config(_config(protocol, (SEED,))), SEED)
    return cache[protocol]


@pytest.mark.parametrize("protocol", sorted(SHRINK))
def test_multi_seed_config_equals_alone(protocol, alone):
    if protocols.get(protocol).seed_field != "seeds":
        pytest.skip(f"{protocol} runs one seed per config")
    together = protocols.run_config(_config(protocol, (0, SEED)))
    assert _of_seed(together, SEED) == _alone(protocol, alone)


def _sweep(protocol: str, out_dir, workers: int) -> dict:
    method, overrides = SHRINK[protocol]
    jobs = sweep.make_jobs(protocol, "tiny", [method] if method else [], [0, SEED], overrides,
                           out_dir=str(out_dir))
    failures = sweep.run_jobs_local(jobs, workers=workers)
    assert failures == []
    (job,) = [j for j in jobs if j["seed"] == SEED]
    return protocols.load_results(job["out"])


@pytest.mark.parametrize("protocol", sorted(SHRINK))
def test_sweep_job_equals_alone(protocol, alone, tmp_path):
    assert _of_seed(_sweep(protocol, tmp_path, workers=1), SEED) == _alone(protocol, alone)


def test_sweep_in_two_worker_processes_equals_alone(alone, tmp_path):
    assert _of_seed(_sweep("noisy_warm_start", tmp_path, workers=2), SEED) == _alone("noisy_warm_start", alone)


class _Killed(Exception):
    pass


@pytest.mark.parametrize("protocol", sorted(p for p, e in protocols.PROTOCOLS.items() if e.resumable))
def test_resumed_after_a_kill_equals_alone(protocol, alone, tmp_path, monkeypatch):
    entry = protocols.get(protocol)
    # chunked resumes inside one seed's run; the others between records of a two-seed run, so
    # the resumed part holds seed 1 and starts without anything seed 0 left in memory.
    seeds = (SEED,) if entry.seed_field == "seed" else (0, SEED)
    config = _config(protocol, seeds)
    save = runs.save_checkpoint
    written = []

    def save_then_die(path, state):
        save(path, state)
        written.append(path)
        raise _Killed

    monkeypatch.setattr(runs, "save_checkpoint", save_then_die)
    with pytest.raises(_Killed):
        protocols.run_config(config, out=tmp_path / "r.json", checkpoint_dir=tmp_path / "ck")
    assert len(written) == 1 and not (tmp_path / "r.json").exists()
    monkeypatch.setattr(runs, "save_checkpoint", save)
    resumed = protocols.run_config(config, out=tmp_path / "r.json", checkpoint_dir=tmp_path / "ck", resume=True)
    assert resumed["provenance"]["resumed"] is True
    assert _of_seed(protocols.load_results(tmp_path / "r.json"), SEED) == _alone(protocol, alone)
    assert not list(tmp_path.glob(".*.lock")) and not (tmp_path / "ck" / ".lock").exists()


def test_one_worker_runs_with_one_thread_like_a_spawned_worker(tmp_path):
    # the study runner's --workers 1 runs jobs in its own process: it must use one torch thread, as a
    # spawned worker does, whatever the calling process was set to (the thread count changes sums)
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        one = _sweep("chunked", tmp_path / "one", workers=1)
        assert torch.get_num_threads() == 2                     # restored afterwards
    finally:
        torch.set_num_threads(before)
    two = _sweep("chunked", tmp_path / "two", workers=2)
    assert one["provenance"]["torch_threads"] == two["provenance"]["torch_threads"] == 1
    assert _of_seed(one, SEED) == _of_seed(two, SEED)
