"""`python -m plasticity_sim ...` end to end, in process (plasticity_sim.cli.main)."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from plasticity_sim import cli, methods, protocols, runs
from plasticity_sim.protocols import specs

# The tiny preset shrunk further: 600 MNIST-1D samples (480 train), 3 chunks, a narrow MLP, 2 epochs.
SMALL = ["--set", "dataset_kwargs.num_samples=600", "--set", "dataset_kwargs.train_split=0.8", "--set", "num_chunks=3", "--set", "max_epochs=2",
         "--set", "model_kwargs.width=16", "--set", "device=cpu"]


def run_cli(*args) -> int:
    return cli.main(list(args))


def test_run_writes_a_valid_results_file(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert run_cli("run", "chunked", "--preset", "tiny", "--method", "sp", "--seed", "3", *SMALL,
                   "--set", "method_params.shrink=0.5", "--out", str(out)) == 0
    text = capsys.readouterr().out
    first = text.splitlines()
    assert "method=sp seed=3" in first[0] and "preset 'tiny'" in first[1]  # ETA line before the run
    results = protocols.load_results(out)
    assert results["config"]["seed"] == 3 and results["config"]["num_chunks"] == 3
    assert results["method"]["name"] == "sp" and results["method"]["intervention"] == "shrink_perturb"
    assert results["method"]["requested"] == {"mode": "gaussian", "shrink": 0.5}
    assert results["method"]["params"]["shrink"] == 0.5  # the intervention's own record, with defaults
    assert results["provenance"]["package_version"] and results["provenance"]["torch_version"]
    assert results["provenance"]["device"] == "cpu" and results["provenance"]["wall_time_s"] > 0
    assert [r["n_train"] for r in results["experiments"]] == [160, 320, 480]


def test_quiet_run_prints_nothing(tmp_path, capsys):
    assert run_cli("run", "chunked", "--method", "warm", *SMALL, "--out", str(tmp_path / "r.json"),
                   "--quiet") == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_checkpoint_and_resume_from_the_command_line(tmp_path):
    ck = tmp_path / "ck"
    args = ["run", "chunked", "--method", "warm", *SMALL, "--checkpoint-dir", str(ck), "--quiet"]
    assert run_cli(*args, "--out", str(tmp_path / "a.json")) == 0
    assert (ck / runs.CHECKPOINT_NAME).is_file()
    # the checkpoint holds all 3 experiments: resuming only rewrites the results
    assert run_cli(*args, "--resume", "--out", str(tmp_path / "b.json")) == 0
    a, b = (protocols.load_results(tmp_path / n) for n in ("a.json", "b.json"))
    assert a["summary"] == b["summary"] and b["provenance"]["resumed"] is True


@pytest.mark.parametrize("args, fragment", [
    (["--preset", "huge"], "unknown preset 'huge'"),
    (["--method", "magic"], "unknown method 'magic'"),
    (["--set", "learning_rate=1"], "unknown config key 'learning_rate'"),
    (["--set", "lr=fast"], "bad value 'fast' for lr"),
    (["--set", "target_train_acc=1.5"], "target_train_acc=1.5 must lie in (0, 1]"),
    (["--set", "dataset=imagenet"], "unknown dataset 'imagenet'"),
    (["--set", "model=transformer"], "unknown model 'transformer'"),
    (["--set", "num_chunks=7"], "num_chunks=7 does not divide"),
    (["--set", "dataset_kwargs.bogus=1"], "bogus"),
    (["--method", "sp", "--set", "method_params.lam=0.5"], "does not take ['lam']"),
    (["--resume"], "--resume needs --checkpoint-dir"),
    (["--threads", "0"], "--threads 0 must be >= 1"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, args, fragment):
    out = tmp_path / "out" / "r.json"
    code = run_cli("run", "chunked", *SMALL, *args, "--out", str(out), "--quiet",
                   *(["--checkpoint-dir", str(tmp_path / "ck")] if "--resume" not in args else []))
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and fragment in err
    assert os.listdir(tmp_path) == []


def test_unknown_protocol_is_a_usage_error(capsys):
    assert run_cli("run", "continual") == 2
    assert "invalid choice: 'continual'" in capsys.readouterr().err


def test_sweep_in_process_skips_done_jobs_and_protects_other_configs(tmp_path, capsys):
    base = ["sweep", "chunked", "--methods", "cold,warm", "--seeds", "0", "--workers", "1",
            *SMALL, "--out-dir", str(tmp_path)]
    assert run_cli(*base) == 0
    text = capsys.readouterr().out
    files = sorted(os.listdir(tmp_path))
    assert files == ["chunked_tiny_cold_seed0.json", "chunked_tiny_warm_seed0.json"]
    assert "cold" in text.splitlines()[-2] and "warm" in text.splitlines()[-1]  # summary table
    assert run_cli(*base) == 0
    assert text.count("skip (already done)") == 0
    assert capsys.readouterr().out.count("skip (already done)") == 2
    assert run_cli(*base, "--set", "lr=0.005") == 2  # same file names, different numbers
    assert "exists with a different or invalid config" in capsys.readouterr().err


def test_sweep_in_parallel_processes(tmp_path):
    assert run_cli("sweep", "chunked", "--methods", "warm", "--seeds", "0,1", "--workers", "2",
                   *SMALL, "--out-dir", str(tmp_path), "--quiet") == 0
    seeds = [protocols.load_results(tmp_path / f"chunked_tiny_warm_seed{s}.json")["config"]["seed"] for s in (0, 1)]
    assert seeds == [0, 1]


def test_ray_backend_without_ray_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    assert run_cli("sweep", "chunked", "--backend", "ray", *SMALL, "--out-dir", str(tmp_path)) == 2
    assert "needs the optional dependency ray" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("args, fragment", [
    (["--set", "num_chunks=7"], "num_chunks=7 does not divide"),
    (["--methods", "warm,sp", "--set", "method_params.shrink=2"], "shrink"),
])
def test_sweep_checks_every_job_before_starting(tmp_path, capsys, args, fragment):
    assert run_cli("sweep", "chunked", "--methods", "warm", *SMALL, *args, "--workers", "2",
                   "--out-dir", str(tmp_path / "out"), "--checkpoint-dir", str(tmp_path / "ck")) == 2
    assert fragment in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_bad_seeds_and_workers(tmp_path, capsys):
    assert run_cli("sweep", "chunked", "--seeds", "0,x", "--out-dir", str(tmp_path)) == 2
    assert run_cli("sweep", "chunked", "--workers", "0", "--out-dir", str(tmp_path)) == 2
    assert run_cli("sweep", "chunked", "--methods", "warm,magic", "--out-dir", str(tmp_path)) == 2
    assert "unknown method 'magic'" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_module_entry_point_lists_presets_and_methods():
    proc = subprocess.run([sys.executable, "-m", "plasticity_sim", "list"], capture_output=True, text=True,
                          check=True)
    for name in (*specs.CHUNKED_PRESETS, *methods.trainable(), *protocols.PROTOCOLS):
        assert name in proc.stdout
    json.dumps(proc.stdout)  # plain text, no exotic objects


def _job_that_dies_or_works(job):
    # a sweep job stand-in: seed 1 kills its own worker process (as the OOM killer would)
    if job["seed"] == 1:
        os.kill(os.getpid(), 9)
    return f"done {job['seed']}"


def test_a_dead_worker_fails_only_its_own_job():
    from plasticity_sim.sweep import run_jobs_local

    done = []
    jobs = [{"seed": s, "out": f"job{s}"} for s in (0, 1, 2, 3)]
    failures = run_jobs_local(jobs, workers=2, on_done=done.append, target=_job_that_dies_or_works)
    assert sorted(done) == ["done 0", "done 2", "done 3"]
    assert [(j["seed"], reason) for j, reason in failures] == [(1, "worker died (exit code -9)")]


def test_divergence_is_a_run_failure_naming_experiment_epoch_and_step(tmp_path, capsys):
    code = run_cli("run", "chunked", *SMALL, "--set", "lr=1e30", "--set", "optimizer=sgd",
                   "--out", str(tmp_path / "r.json"), "--quiet")
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith("run failed: non-finite loss") and "experiment 1: epoch 1, step" in err
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
def test_ray_executor_runs_the_same_jobs_on_a_local_ray_instance(tmp_path):
    import ray

    from plasticity_sim.sweep import make_jobs, run_jobs_ray

    jobs = make_jobs("chunked", "tiny", ["warm", "dash"], [0], SMALL[1::2], out_dir=str(tmp_path))
    jobs.append(dict(jobs[0], config=dict(jobs[0]["config"], num_chunks=7), out=str(tmp_path / "bad.json")))
    try:
        failures = run_jobs_ray(jobs, init_kwargs={"num_cpus": 2, "include_dashboard": False,
                                                   "object_store_memory": 80 * 2**20})
    finally:
        ray.shutdown()
    assert [(j["out"], "num_chunks=7 does not divide" in reason) for j, reason in failures] == \
        [(str(tmp_path / "bad.json"), True)]
    for method in ("warm", "dash"):
        assert protocols.load_results(tmp_path / f"chunked_tiny_{method}_seed0.json")["config"]["method"] == method
