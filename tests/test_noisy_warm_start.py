"""The Hare & Tortoise warm-start protocol with label noise (noisy_warm_start)."""

import json

import pytest
import torch

from plasticity_sim import protocols, runs
from plasticity_sim.protocols.noisy_warm_start import (choose_subset, jobs, noisy_labels, phase1_epochs)


def test_label_noise_is_exact_on_average_and_seeded():
    y = torch.zeros(20000, dtype=torch.int64)
    new, replaced = noisy_labels(y, 0.3, 10, torch.Generator().manual_seed(0))
    assert abs(replaced.double().mean().item() - 0.3) < 0.01             # replaced with prob. 0.3
    assert abs((new != y).double().mean().item() - 0.3 * 0.9) < 0.01     # a random class may be the true one
    assert torch.equal(new[~replaced], y[~replaced])
    counts = torch.bincount(new[replaced], minlength=10).double()
    assert (counts / counts.sum() - 0.1).abs().max() < 0.02               # uniform over classes
    again, _ = noisy_labels(y, 0.3, 10, torch.Generator().manual_seed(0))
    other, _ = noisy_labels(y, 0.3, 10, torch.Generator().manual_seed(1))
    assert torch.equal(new, again) and not torch.equal(new, other)
    assert torch.equal(noisy_labels(y, 0.0, 10, torch.Generator())[0], y)


def test_noise_levels_and_subsets_are_nested():
    y = torch.arange(1000) % 10
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    _, r_small = noisy_labels(y, 0.2, 10, g())
    _, r_big = noisy_labels(y, 0.5, 10, g())
    assert bool((r_small <= r_big).all())
    a, b = choose_subset(1000, 0.1, g()), choose_subset(1000, 0.5, g())
    assert len(a) == 100 and len(b) == 500 and torch.equal(a, b[:100])


def test_epoch_scaling_matches_the_paper():
    assert [phase1_epochs(100, r) for r in (0.1, 0.2, 0.4, 0.6, 0.8, 1.0)] == [1000, 500, 250, 166, 125, 100]
    assert phase1_epochs(50, 0.3) == 166


@pytest.mark.parametrize("ratio", [0, -0.5, 1.5, float("nan")])
def test_bad_ratio_is_one_clear_error(ratio):
    with pytest.raises(ValueError, match="ratio") as err:
        phase1_epochs(100, ratio)
    assert str(ratio) in str(err.value)
    with pytest.raises(ValueError, match="ratio"):
        protocols.preset_config("tiny", protocol="noisy_warm_start", ratios=(ratio,))


@pytest.mark.parametrize("noise", [-0.1, 1.01])
def test_bad_noise_is_one_clear_error(noise):
    with pytest.raises(ValueError, match="noise") as err:
        noisy_labels(torch.zeros(3, dtype=torch.int64), noise, 10, torch.Generator())
    assert str(noise) in str(err.value)
    with pytest.raises(ValueError, match="noise"):
        protocols.preset_config("tiny", protocol="noisy_warm_start", noises=(noise,))


def test_registered_and_method_params_checked():
    entry = protocols.get("noisy_warm_start")
    assert entry.resumable and entry.method_field == "methods"
    with pytest.raises(ValueError, match="not a method"):
        protocols.preset_config("tiny", protocol="noisy_warm_start", method_params={"nope": {}})
    cfg = protocols.preset_config("compare", protocol="noisy_warm_start")
    assert protocols.with_job(cfg, method="warm", seed=3).methods == ("warm",)


def test_jobs_order():
    cfg = protocols.preset_config("tiny", protocol="noisy_warm_start", ratios=(0.5, 1.0), methods=("warm", "sp_init"),
                                  seeds=(0, 1))
    js = jobs(cfg)
    assert len(js) == 2 * (1 + 2 * 2) and js[0] == {"seed": 0, "method": "cold", "ratio": None, "noise": None}


def test_tiny_run_records_and_tortoise_evaluation(tmp_path):
    cfg = protocols.preset_config("tiny", protocol="noisy_warm_start", methods=("warm", "hare_tortoise"),
                                  method_params={"hare_tortoise": {"momentum": 0.9, "reset_every": 5}})
    res = protocols.run_config(cfg, out=tmp_path / "r.json")
    recs = {r["method"]: r for r in res["records"]}
    assert set(recs) == {"cold", "warm", "hare_tortoise"}
    w = recs["warm"]
    assert w["phase1_epochs"] == 6 and w["phase1_points"] == 400
    assert 0.3 < w["phase1_replaced"] < 0.7
    assert set(w["phase1_metrics"]) >= {"weight_distance", "srank"}
    assert recs["hare_tortoise"]["test_acc"] != w["test_acc"]
    loaded = protocols.load_results(tmp_path / "r.json")
    assert loaded["summary"] == res["summary"]


def test_resume_gives_the_same_records(tmp_path):
    cfg = protocols.preset_config("tiny", protocol="noisy_warm_start", methods=("warm", "sp_init"))
    full = protocols.run_config(cfg)
    part = protocols.run_config(cfg, checkpoint_dir=tmp_path / "ck", stop_after=2)
    assert not part["complete"] and len(part["records"]) == 2
    done = protocols.run_config(cfg, checkpoint_dir=tmp_path / "ck", resume=True)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "wall_time"} for r in rs]  # noqa: E731
    assert done["complete"] and strip(done["records"]) == strip(full["records"])
