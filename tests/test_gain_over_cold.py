"""The J sweep's machinery (book/dash/02c): streams keyed by size share cold's last experiment across
J, the budget control's continuation, the validation split, and the selection and pairing code."""
import math

import numpy as np
import pytest

from plasticity_sim import protocols, runs
from plasticity_sim.dash import gain_over_cold as g
from plasticity_sim.data import load_mnist1d
from plasticity_sim.protocols.chunked import check, run_chunked


def _cfg(**kw):
    c = protocols.preset_config("tiny", protocol="chunked")
    c.dataset_kwargs = {"num_samples": 1000, "train_split": 0.4}
    c.max_epochs, c.progress, c.streams, c.method = 30, False, "by_size", "cold"
    for k, v in kw.items():
        setattr(c, k, v)
    runs.ensure_valid(c)
    return c


def _key(record):
    return record["test_acc"], record["steps"], record["train_acc"]


def test_cold_last_experiment_is_the_same_run_at_every_j_and_alone():
    full2 = run_chunked(_cfg(num_chunks=2)).records
    full5 = run_chunked(_cfg(num_chunks=5)).records
    alone = run_chunked(_cfg(num_chunks=4, only_last=True)).records
    assert len(alone) == 1 and alone[0]["experiment"] == 4 and alone[0]["n_train"] == 400
    assert _key(full2[-1]) == _key(full5[-1]) == _key(alone[0])
    # ...while earlier experiments differ with J (they train on different amounts of data)
    assert full2[0]["n_train"] != full5[0]["n_train"]


def test_sequential_streams_make_cold_last_depend_on_j():
    # the default streams run through the experiments: the motivation for "by_size"
    a = run_chunked(_cfg(num_chunks=2, streams="sequential")).records[-1]
    b = run_chunked(_cfg(num_chunks=5, streams="sequential")).records[-1]
    assert _key(a) != _key(b)


def test_by_size_keeps_methods_paired_at_the_first_experiment():
    warm = run_chunked(_cfg(num_chunks=4, method="warm")).records
    cold = run_chunked(_cfg(num_chunks=4)).records
    assert _key(warm[0]) == _key(cold[0])      # same initial model, chunk and batch order
    assert _key(warm[-1]) != _key(cold[-1])


def test_only_last_is_refused_where_the_last_experiment_depends_on_earlier_ones():
    with pytest.raises(ValueError, match="only_last"):
        check(_cfg(num_chunks=4, only_last=True, method="warm"))
    with pytest.raises(ValueError, match="streams=by_size"):
        _cfg(num_chunks=4, only_last=True, streams="sequential")
    with pytest.raises(ValueError, match="num_chunks >= 2"):
        _cfg(num_chunks=1, only_last=True)


def test_continuation_trains_on_and_measures_the_same_network():
    plain = run_chunked(_cfg(num_chunks=2, only_last=True)).records[0]
    cont = run_chunked(_cfg(num_chunks=2, only_last=True, continue_epochs=5, continue_eval_every=2)).records[0]
    assert _key(plain) == _key(cont)          # the continuation starts after the record's numbers
    curve = cont["continuation"]
    assert curve["epochs"] == [2, 4, 5]
    steps_per_epoch = math.ceil(400 / 128)
    assert curve["steps"] == [2 * steps_per_epoch, 4 * steps_per_epoch, 5 * steps_per_epoch]
    assert all(0.0 <= a <= 1.0 for a in curve["test_acc"]) and len(set(curve["test_acc"])) > 1


def test_validation_split_holds_out_training_points_and_never_returns_the_test_set():
    full = load_mnist1d(num_samples=1000, train_split=0.4)
    val = load_mnist1d(num_samples=1000, train_split=0.4, validation=100)
    assert len(val.y_train) == 300 and len(val.y_test) == 100
    pool = {tuple(np.round(v.numpy().ravel(), 5)) for v in full.x_train}
    test = {tuple(np.round(v.numpy().ravel(), 5)) for v in full.x_test}
    held = {tuple(np.round(v.numpy().ravel(), 5)) for v in val.x_test}
    kept = {tuple(np.round(v.numpy().ravel(), 5)) for v in val.x_train}
    assert held <= pool and kept <= pool and not held & kept and not held & test
    assert val.meta["validation"] == 100 and "validation" not in full.meta
    with pytest.raises(ValueError, match="validation=400"):
        load_mnist1d(num_samples=1000, train_split=0.4, validation=400)


def test_a_config_field_added_later_compares_as_its_default():
    cls = protocols.get("chunked").config
    new = runs.to_dict(_cfg(streams="sequential"))
    old = {k: v for k, v in new.items() if k not in ("streams", "only_last", "continue_epochs", "continue_eval_every")}
    assert runs.same_results_config(old, new, cls)
    assert not runs.same_results_config(old, dict(new, streams="by_size"), cls)


def _cold(acc_at_target, steps_at_target, curve_accs, every=10, steps_per_epoch=32):
    epochs = [every * (k + 1) for k in range(len(curve_accs))]
    return {"experiments": [{"test_acc": acc_at_target, "steps": steps_at_target, "continuation": {
        "epochs": epochs, "steps": [e * steps_per_epoch for e in epochs], "test_acc": curve_accs}}]}


def test_budget_control_reads_the_cold_curve_at_the_methods_steps():
    cold = _cold(0.60, 1000, [0.61, 0.63, 0.62])     # points at 1000, 1320, 1640, 1960 steps
    assert g.cold_at_steps(cold, 500) == (0.60, 1000)   # a cold start is never read before its target
    assert g.cold_at_steps(cold, 1400) == (0.61, 1320)
    assert g.cold_at_steps(cold, 1960) == (0.62, 1960)
    with pytest.raises(ValueError, match="raise continue_epochs"):
        g.cold_at_steps(cold, 5000)
    assert g.cold_best(cold) == (0.63, 1640)
    assert g.cold_at_epochs(cold, 20) == 0.63 and g.cold_at_epochs(cold, 0) == 0.60
    with pytest.raises(ValueError, match="epochs=15"):
        g.cold_at_epochs(cold, 15)


def _tuning(dash_accs, sp_accs, cold_curves):
    def arm(acc):
        return {s: {"summary": {"test_acc_last": acc + 0.001 * s}} for s in g.TUNE_SEEDS}
    out = {("dash", lam): arm(a) for lam, a in zip(g.LAMBDAS, dash_accs)}
    out.update({("sp", s): arm(a) for s, a in zip(g.SHRINKS, sp_accs)})
    out["cold_last"] = {s: _cold(c[0], 100, c[1:]) for s, c in zip(g.TUNE_SEEDS, cold_curves)}
    return out


def test_selection_takes_the_best_validation_mean_and_keeps_the_default_on_ties():
    curves = [[0.5, 0.52, 0.55, 0.54]] * 3
    sel = g.select_strengths(_tuning([0.60, 0.62, 0.61], [0.7, 0.6, 0.7], curves))["chosen"]
    assert sel["dash"] == 0.3 and sel["sp"] == 0.1 and sel["cold_epochs"] == 20
    sel = g.select_strengths(_tuning([0.63, 0.63, 0.61], [0.5, 0.5, 0.6], [[0.6, 0.5, 0.5, 0.5]] * 3))["chosen"]
    assert sel["dash"] == 0.3 and sel["sp"] == 0.6 and sel["cold_epochs"] == 0


def test_theory_beside_the_sweep_has_cold_equal_to_ideal_and_warm_losing_more_with_j():
    t = g.theory_vs_j(n_seeds=2)
    assert sorted(t) == list(g.J_VALUES)
    for j in g.J_VALUES:
        assert t[j]["ideal"][0] == pytest.approx(t[j]["cold"][0])
    gaps = [t[j]["cold"][0] - t[j]["warm"][0] for j in g.J_VALUES]
    assert all(a < b for a, b in zip(gaps, gaps[1:]))


def test_an_only_last_results_file_loads_and_counts_as_done(tmp_path):
    from plasticity_sim import sweep
    out = tmp_path / "cold_last.json"
    cfg = _cfg(num_chunks=4, only_last=True, continue_epochs=2)
    protocols.run_config(cfg, out=str(out))
    loaded = protocols.load_results(out)
    assert len(loaded["experiments"]) == 1 and loaded["experiments"][0]["experiment"] == 4
    job = {"protocol": "chunked", "config": runs.to_dict(cfg), "out": str(out)}
    todo, done = sweep.pending([job], overwrite=False)
    assert done == [job] and todo == []


def test_files_from_before_a_config_field_existed_combine_with_new_ones():
    new = {"protocol": "chunked", "config": runs.to_dict(_cfg(streams="sequential", method="cold"))}
    old_cfg = {k: v for k, v in new["config"].items() if k not in ("streams", "only_last", "continue_epochs",
                                                                    "continue_eval_every")}
    old = {"protocol": "chunked", "config": dict(old_cfg, method="warm")}
    protocols.check_together([("new.json", new), ("old.json", old)], protocol="chunked")
    with pytest.raises(ValueError, match="streams"):
        protocols.check_together([("new.json", new), ("other.json", {"protocol": "chunked", "config": dict(
            new["config"], streams="by_size", method="warm")})], protocol="chunked")
