"""Pre-train-then-train sweep (book/dash/03_noise_memorisation.ipynb): invariants on tiny data.

Tiny MNIST-1D (200 points) and a narrow MLP keep every test well under a second or two.
"""
import dataclasses
import math

import numpy as np
import pytest
from types import SimpleNamespace
import torch

from plasticity_sim.data import load_dataset
from plasticity_sim.dash.figures import plot_pretrain_sweep
from plasticity_sim import methods
from plasticity_sim.protocols.two_phase import (PretrainSweepConfig, between_phases, run_cold,
                                                run_pretrain_sweep, seed_streams, split_pretrain,
                                                validate_config)
from plasticity_sim.dash.studies import dash_factors_after_pretraining, first_fitted_epoch, gap_to_cold


@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist1d", num_samples=250)  # 200 train / 50 test


def _config(**kw):
    base = dict(dataset_kwargs={"num_samples": 250}, model_kwargs={"width": 16}, lr=1e-2,
                pretrain_epochs=(0, 2), methods=("warm",), seeds=(0,), max_epochs=3, target_train_acc=0.999)
    base.update(kw)
    return PretrainSweepConfig(**base)


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_zero_pretraining_is_exactly_a_cold_start(data):
    # The sweep's E=0 path (snapshot, deepcopy, fresh optimizer) must equal the separate cold path.
    cfg = _config(pretrain_epochs=(0,), reset_optimizer=False)  # reset False: the sweep runs run_cold too
    result, models = run_pretrain_sweep(cfg, data=data, return_models=True)
    warm0 = result.select(method="warm", pretrain_epochs=0)[0]
    cold_rec, cold_model = run_cold(cfg, 0, data=data, return_model=True)
    assert _same_weights(models[(0, "warm", 0)], cold_model)
    assert warm0["test_acc"] == cold_rec["test_acc"] and warm0["steps"] == cold_rec["steps"]
    # ... and the reused cold reference (reset_optimizer=True) is that same run
    res2 = run_pretrain_sweep(_config(pretrain_epochs=(0,)), data=data)
    assert res2.cold[0]["test_acc"] == cold_rec["test_acc"] and res2.cold[0]["method"] == "cold"


def test_pretraining_changes_the_start(data):
    _, models = run_pretrain_sweep(_config(pretrain_epochs=(0, 2)), data=data, return_models=True)
    assert not _same_weights(models[(0, "warm", 0)], models[(0, "warm", 2)])


def test_snapshots_equal_separate_runs(data):
    # Grid (1, 3): the E=3 run continues the E=1 run; it must equal a sweep with grid (3,) alone.
    _, a = run_pretrain_sweep(_config(pretrain_epochs=(1, 3)), data=data, return_models=True)
    _, b = run_pretrain_sweep(_config(pretrain_epochs=(3,)), data=data, return_models=True)
    assert _same_weights(a[(0, "warm", 3)], b[(0, "warm", 3)])


def test_dash_between_phases_scales_rows_by_factors_in_lam_1():
    g = torch.Generator().manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    x = torch.randn(40, 6, generator=g)
    y = torch.randint(0, 3, (40,), generator=g)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lam = 0.3
    setup = SimpleNamespace(x_all=x, y_all=y, n_first=20, streams={"intervention": 0}, initial_state=None,
                            fresh_model=None, optimizer_for=None)
    dash = methods.build("dash", {"lam": lam, "alpha": 0.3})
    between_phases(model, None, dash, setup)
    factors = dash.last_factors
    for name in ("0.weight", "2.weight"):
        w0, w1 = before[name], model.state_dict()[name]
        ratio = (w1 * w0).sum(1) / (w0 * w0).sum(1)            # per-row scale actually applied
        assert torch.allclose(w1, ratio[:, None] * w0, atol=1e-6)  # rows are only rescaled
        assert (ratio >= lam - 1e-6).all() and (ratio <= 1 + 1e-6).all()
        assert torch.allclose(ratio, factors[name], atol=1e-6)
    # warm leaves the weights alone
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert between_phases(model, None, methods.build("warm"), setup) == (model, None)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_dash_with_lam_one_is_warm(data):
    _, a = run_pretrain_sweep(_config(methods=("warm", "dash"), method_params={"dash": {"lam": 1.0}},
                                      pretrain_epochs=(2,)),
                              data=data, return_models=True)
    assert _same_weights(a[(0, "warm", 2)], a[(0, "dash", 2)])


def test_split_is_a_partition():
    first, rest = split_pretrain(10, 0.3, torch.Generator().manual_seed(0))
    assert len(first) == 3 and len(rest) == 7
    assert sorted(torch.cat([first, rest]).tolist()) == list(range(10))
    with pytest.raises(ValueError, match="empty part"):
        split_pretrain(3, 0.1, torch.Generator().manual_seed(0))


def test_seed_streams_are_distinct_and_reproducible():
    s = seed_streams(3)
    assert s == seed_streams(3) and len(set(s.values())) == 5 and s != seed_streams(4)
    with pytest.raises(ValueError, match="seed"):
        seed_streams(-1)


@pytest.mark.parametrize("field,value,match", [
    ("pretrain_epochs", (), "pretrain_epochs"), ("pretrain_epochs", (2, 2), "repeated"),
    ("pretrain_epochs", (-1,), "pretrain_epochs"), ("methods", ("magic",), "methods"),
    ("pretrain_fraction", 1.0, "pretrain_fraction"), ("method_params", {"cold": {}}, "method_params"),
    ("methods", ("warm", "warm"), "repeated"), ("seeds", (), "seeds"),
    ("max_epochs", 0, "max_epochs")])
def test_bad_config_raises(field, value, match):
    with pytest.raises(ValueError, match=match):
        validate_config(_config(**{field: value}))


def test_result_helpers(data):
    cfg = _config(pretrain_epochs=(0, 1, 2), methods=("warm", "dash"), seeds=(0, 1))
    res = run_pretrain_sweep(cfg, data=data)
    assert len(res.records) == 2 * 3 * 2 and len(res.cold) == 2
    grid, mean, std = res.curve("warm")
    assert grid.tolist() == [0, 1, 2] and (std >= 0).all()
    gaps = gap_to_cold(res, "warm")
    assert gaps[0] == (0.0, 0.0)          # E=0 warm is the cold run itself
    # mean and *sample* std (ddof = 1) over seeds, in the curve and in the gaps alike
    warm2 = [r["test_acc"] for r in res.select(method="warm", pretrain_epochs=2)]
    assert std[2] == pytest.approx(np.std(warm2, ddof=1)) and mean[2] == pytest.approx(np.mean(warm2))
    cold_by = {r["seed"]: r["test_acc"] for r in res.cold}
    d2 = [100 * (r["test_acc"] - cold_by[r["seed"]]) for r in res.select(method="warm", pretrain_epochs=2)]
    assert gaps[2] == pytest.approx((np.mean(d2), np.std(d2, ddof=1)))
    # a run missing at one E is an error, not a gap over the other seeds
    holed = dataclasses.replace(res, records=[r for r in res.records
                                              if (r["method"], r["pretrain_epochs"], r["seed"]) != ("warm", 1, 1)])
    with pytest.raises(ValueError, match=r"warm \(E = 1\) lacks seed\(s\) \[1\]"):
        gap_to_cold(holed, "warm")
    fitted = first_fitted_epoch(res, threshold=1.01)
    assert fitted == math.inf             # no accuracy reaches 101 %
    with pytest.raises(ValueError, match="method"):
        res.curve("cold")
    one = res.for_seeds((1,))
    assert {r["seed"] for r in one.records} == {1} and [r["seed"] for r in one.cold] == [1]
    assert one.curve("warm")[1].tolist() == [r["test_acc"] for r in res.select(method="warm", seed=1)]
    with pytest.raises(ValueError, match="seeds"):
        res.for_seeds((7,))
    fig = plot_pretrain_sweep(res)           # one band per method, plus the cold line and pre-training acc.
    assert fig.axes[0].get_xlabel() == "pre-training epochs on the first part (E)"


def test_granularity_factors_shapes_and_range(data):
    out = dash_factors_after_pretraining(_config(model="cnn", model_kwargs={"channels": 4}), 0, 1, data=data)
    k, r = out["kernel"], out["row"]
    assert k["features.2.weight"].shape == (4, 4) and r["features.2.weight"].shape == (4,)
    assert k["features.2.bias"].shape == () and r["features.2.bias"].shape == (4,)
    for d in (k, r):
        for v in d.values():
            assert np.all(v >= 0.3 - 1e-6) and np.all(v <= 1 + 1e-6)
    with pytest.raises(ValueError, match="granularities"):
        dash_factors_after_pretraining(_config(), 0, 1, granularities=("layer",), data=data)
