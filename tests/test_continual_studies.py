"""Continual-learning protocols through the registry, and the statistics of the studies module."""

import json

import numpy as np
import pytest

from plasticity_sim import continual_studies as cs
from plasticity_sim import protocols


def test_paired_ci_by_hand_and_bad_inputs():
    ci = cs.paired_ci([1.0, 2.0, 3.0])
    # mean 2, sd 1, t(0.975, 2) = 4.302653 -> half-width 4.302653 / sqrt(3)
    assert ci["mean"] == 2.0 and ci["n"] == 3
    assert ci["hi"] - 2.0 == pytest.approx(4.302653 / np.sqrt(3), rel=1e-6)
    with pytest.raises(ValueError, match="paired"):
        cs.paired_ci([1.0])
    with pytest.raises(ValueError, match="paired"):
        cs.paired_ci([1.0, float("nan")])
    r = cs.pearson_ci([1, 2, 3, 4, 5], [2, 4, 6, 8, 11])
    assert 0.99 < r["r"] <= 1 and r["lo"] < r["r"] < r["hi"] + 1e-12


def test_slow_regression_protocol_writes_and_reads_a_results_file(tmp_path):
    cfg = protocols.preset_config("tiny", protocol="slow_regression", method="cbp")
    out = tmp_path / "r.json"
    res = protocols.run_config(cfg, out=out)
    data = protocols.load_results(out)
    assert data["protocol"] == "slow_regression" and len(data["records"]) == 2
    rec = data["records"][0]
    assert len(rec["error_bins"]) == cfg.steps // cfg.bin_size and rec["replaced"] > 0
    assert data["provenance"]["torch_version"] and res["summary"] == data["summary"]
    bad = json.loads(out.read_text())
    bad["records"][0]["error_last"] += 1.0
    out.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="summary"):
        protocols.load_results(out)


@pytest.mark.parametrize("assignment, word", [("replacement_rate=-0.1", "replacement_rate"),
                                              ("decay_rate=1.0", "decay_rate"),
                                              ("maturity_threshold=-1", "maturity_threshold"),
                                              ("steps=1001", "multiple")])
def test_slow_regression_config_rejects_bad_values(assignment, word):
    from plasticity_sim import runs

    cfg = protocols.preset_config("tiny", protocol="slow_regression")
    with pytest.raises(ValueError, match=word):
        new = runs.apply_overrides(cfg, [assignment])
        runs.validate_config(new)


def test_permuted_and_class_incremental_tiny_records():
    for name, key in (("permuted", "online_acc"), ("class_incremental", "relative_acc")):
        cfg = protocols.preset_config("tiny", protocol=name, method="cbp")
        res = protocols.run_config(cfg)
        recs = res["records"]
        assert recs and all(key in r for r in recs)
        for r in recs:
            assert {"dormant_redo", "dormant_lop", "dormant_zero", "effective_rank", "stable_rank",
                    "weight_magnitude"} <= set(r)
            assert 0 <= r["dormant_redo"] <= 1 and r["effective_rank"] >= 1


def test_headline_pairs_only_matching_seeds(tmp_path):
    cfg = dict(steps=4000, bin_size=1000, flip_every=500)
    cs.run_regression_study(tmp_path, seeds=(0, 1, 2), **cfg)
    h = cs.regression_headline(tmp_path)
    assert h["n"] == 3 and h["bins"] == 4
    data = json.loads((tmp_path / "regression_cbp.json").read_text())
    data["records"][0]["seed"] = 7
    (tmp_path / "regression_cbp.json").write_text(json.dumps(data))
    with pytest.raises(ValueError):
        cs.regression_headline(tmp_path)
