"""The Hare & Tortoise warm-start protocol with label noise (noisy_warm_start)."""

import pytest
import torch

from plasticity_sim import protocols
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


# ------------------------------------------------------------------ the §5.2 continual protocol
from plasticity_sim.protocols.growing_data import ReplayBuffer, noise_schedule, phase_indices  # noqa: E402


def test_noise_schedule_falls_linearly():
    assert noise_schedule(10, 0.5, 0.0)[0] == 0.5 and noise_schedule(10, 0.5, 0.0)[-1] == 0.0
    assert pytest.approx(noise_schedule(6, 0.5, 0.0)) == [0.5, 0.4, 0.3, 0.2, 0.1, 0.0]


def test_replay_buffer_never_exceeds_its_size_and_is_uniform():
    buf = ReplayBuffer(50, torch.Generator().manual_seed(0))
    for k in range(10):
        buf.add(range(100 * k, 100 * (k + 1)))
        assert len(buf.items) == min(50, 100 * (k + 1)) and len(set(buf.items)) == len(buf.items)
    assert buf.seen == 1000
    counts = torch.zeros(10)
    for seed in range(200):
        b = ReplayBuffer(50, torch.Generator().manual_seed(seed))
        b.add(range(1000))
        counts += torch.bincount(torch.tensor(b.items) // 100, minlength=10)
    assert (counts / counts.sum() - 0.1).abs().max() < 0.02          # every chunk equally likely
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(0, torch.Generator())


def test_phase_data_full_access_and_buffer():
    full = protocols.preset_config("tiny", protocol="growing_data")
    idx = phase_indices(full, 800, 0)
    assert [len(i) for i in idx] == [160, 320, 480]
    buf = protocols.preset_config("tiny", protocol="growing_data", access="buffer", buffer_size=100)
    idx_b = phase_indices(buf, 800, 0)
    assert [len(i) for i in idx_b] == [160, 260, 260]
    assert set(idx_b[2][:160].tolist()) == set(idx[2][320:].tolist())   # phase 3's new chunk first
    with pytest.raises(ValueError, match="exceeds"):
        protocols.preset_config("tiny", protocol="growing_data", num_phases=6)


def test_growing_data_runs_and_resumes(tmp_path):
    cfg = protocols.preset_config("tiny", protocol="growing_data", methods=("warm", "hare_tortoise"),
                                  method_params={"hare_tortoise": {"momentum": 0.9, "reset_every": 3}})
    full = protocols.run_config(cfg)
    assert [r["phase"] for r in full["records"]] == [1, 2, 3] * 2
    part = protocols.run_config(cfg, checkpoint_dir=tmp_path / "ck", stop_after=1)
    assert not part["complete"]
    done = protocols.run_config(cfg, checkpoint_dir=tmp_path / "ck", resume=True)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "wall_time"} for r in rs]  # noqa: E731
    assert strip(done["records"]) == strip(full["records"])
