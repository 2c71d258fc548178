"""The bridge part: feature/noise chunked loop, per-feature measurements, oracle, comparisons."""

import json

import numpy as np
import pytest
import torch

from plasticity_sim import study
from plasticity_sim.bridge import compare, measure, studies
from plasticity_sim.ground_truth import noise_patch_vectors
from plasticity_sim.data import make_feature_noise
from plasticity_sim.interventions import InterventionContext, get_intervention
from plasticity_sim.models import PatchCNN
from plasticity_sim.protocols import feature_chunked

SMALL = dict(num_classes=2, features_per_class=4, frequencies="uniform", frequency_params={"p": 0.3},
             patch_size=4, image_size=12, channels=3, noise_patches=1, noise_std=1.0, n_train=80, n_test=40)


def _data():
    return make_feature_noise(seed=3, **SMALL)


def _patch_model(data, filters=3):
    return PatchCNN(3, 4, filters, 2, generator=torch.Generator().manual_seed(0))


def test_probe_score_sees_a_planted_feature_and_nothing_else():
    data = _data()
    model = _patch_model(data, 2)
    pat = torch.from_numpy(data.truth["feature_patterns"])
    with torch.no_grad():
        model.conv.weight.zero_()
        model.conv.weight[0] = pat[1, 2]          # a detector of feature (1, 2) only
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.head.weight[1, 0] = 10.0           # ... voting for class 1 above a response of 3
        model.head.bias[1] = -30.0
    m = measure.Measurer(data, seed=0)
    score = m.scores(model)
    assert score[1, 2] >= measure.learned_threshold(2)
    others = np.delete(score.ravel(), 1 * 4 + 2)
    assert np.abs(others).max() < measure.learned_threshold(2)
    assert measure.alignment(model, data.truth["feature_patterns"])[1, 2] == pytest.approx(1.0)


def test_swap_noise_changes_only_the_noise_patches():
    data = _data()
    x = measure.swap_noise(data, np.random.default_rng(0)).numpy()
    x0 = data.x_train.numpy()
    changed = np.zeros(x.shape, bool)
    for i, pos in enumerate(data.truth["train_noise_pos"]):
        for r, q in pos:
            changed[i, :, r:r + 4, q:q + 4] = True
    assert (x[~changed] == x0[~changed]).all()
    assert (x[changed] != x0[changed]).all()


def test_oracle_resets_the_noise_filter_and_keeps_the_feature_filter():
    data = _data()
    model = _patch_model(data, 3)
    noise_vec = torch.from_numpy(noise_patch_vectors(data, [0])[0]).reshape(3, 4, 4)
    with torch.no_grad():
        model.conv.weight[0] = torch.from_numpy(data.truth["feature_patterns"][0, 1])
        model.conv.weight[1] = noise_vec
    before = model.conv.weight.detach().clone()
    oracle = get_intervention("oracle_reset", patterns=data.truth["feature_patterns"])
    ctx = InterventionContext(experiment=2, x_seen=data.x_train[:40], y_seen=data.y_train[:40], chunk_size=20,
                              generator=torch.Generator().manual_seed(1), initial_state=None,
                              make_fresh_model=lambda: PatchCNN(3, 4, 3, 2, generator=torch.Generator().manual_seed(9)),
                              make_optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    fresh = ctx.make_fresh_model()
    flags = oracle.noise_fitted(model, ctx.x_seen, fresh)
    assert flags[1] and not flags[0]
    model, _ = oracle(model, None, ctx)
    assert torch.equal(model.conv.weight[0], before[0])
    assert torch.equal(model.conv.weight[1], fresh.conv.weight[1])
    with pytest.raises(ValueError, match="patterns"):
        get_intervention("oracle_reset")


def test_feature_chunked_refuses_bad_configs():
    with pytest.raises(ValueError, match="patch_cnn"):
        feature_chunked.check(feature_chunked.FeatureChunkedConfig(data=SMALL, model="cnn", method="oracle"))
    with pytest.raises(ValueError, match="num_chunks=3"):
        feature_chunked.check(feature_chunked.FeatureChunkedConfig(data=SMALL, num_chunks=3))
    with pytest.raises(ValueError, match="method"):
        feature_chunked.check(feature_chunked.FeatureChunkedConfig(data=SMALL, method="cbp"))


def test_a_short_run_records_every_measurement(tmp_path):
    cfg = dict(data=SMALL, num_chunks=2, max_epochs=3, width=8)
    out = {}
    for method in ("cold", "warm"):
        c = feature_chunked.FeatureChunkedConfig(method=method, seed=1, **cfg)
        out[method] = feature_chunked.run(c, measure=measure.Measurer(feature_chunked.load_data(c), 1)).records
    for method, recs in out.items():
        assert [r["experiment"] for r in recs] == [1, 2]
        assert np.shape(recs[1]["end"]["score"]) == (2, 4) and np.shape(recs[1]["end"]["alignment"]) == (2, 4)
        assert sum(map(sum, recs[1]["start"]["seen"])) > 0
    # experiment 1 is the same for both (paired seeds); warm starts experiment 2 from it, cold does not
    assert out["cold"][0]["end"] == out["warm"][0]["end"]
    assert out["warm"][1]["start"]["fitted"] >= out["warm"][0]["end"]["fitted"] or \
        out["warm"][1]["start"]["fitted"] != out["cold"][1]["start"]["fitted"]


def test_holm_steps_down_and_intervals_widen():
    fam = {"big": {0: 5.0, 1: 6.0, 2: 5.5, 3: 6.2}, "none": {0: 1.0, 1: -1.0, 2: 0.5, 3: -0.4}}
    res = compare.holm(fam)
    assert res["big"]["holds"] and not res["none"]["holds"]
    plain = compare.stats.paired_ci(fam["big"])
    assert res["big"]["ci"]["low"] < plain.low     # Holm's level is stricter than 95 %
    assert res["big"]["ci"]["mean"] == pytest.approx(plain.mean)
    with pytest.raises(ValueError, match="pair"):
        compare.difference({0: 1.0}, {1: 1.0})


def test_model_prediction_on_the_study_regime_has_a_warm_penalty():
    pred = compare.model_prediction(5, seeds=3)
    rare = compare.rare_mask()
    cold = pred["cold"]["learned"][:, -1][:, rare].sum(1)
    warm = pred["warm"]["learned"][:, -1][:, rare].sum(1)
    assert (cold > warm).all()
    assert pred["warm"]["memorised"][:, -1].mean() > pred["cold"]["memorised"][:, -1].mean()


def test_study_is_registered_and_refuses_to_overwrite(tmp_path):
    s = study.select("bridge/networks")[0]
    assert len(study.jobs(s, out_dir=tmp_path)) == sum(len(m) for m in studies.METHODS.values())
    out = tmp_path / "x.json"
    out.write_text("{}")
    with pytest.raises(ValueError, match="already exists"):
        studies.network_file(out, network="cnn", method="warm", seeds=[0], check_only=True)
    with pytest.raises(ValueError, match="unknown network"):
        studies.config("mlp", "warm", 0)


def _fake_results(scores, starts, memorised):
    """A results dict of one seed: per experiment a (C, K) score, a start {"seen", "active"} and the
    memorised indices."""
    exps = [{"end": {"score": sc, "memorised": mem}, "start": st} for sc, st, mem in zip(scores, starts, memorised)]
    return {"seeds": [0], "runs": [{"seed": 0, "experiments": exps}]}


def test_fitted_shares_and_kept_share_by_hand():
    no, yes = [[0.0, 0.0]] * 2, [[0.9, 0.0]] + [[0.0, 0.0]]
    # experiment 2: feature (0, 0) is learned; (0, 1) and (1, *) are not. Seen / active counts at its start:
    start2 = {"seen": [[10, 10], [4, 0]], "active": [[5, 1], [2, 0]], "fitted": 0}
    res = _fake_results([no, yes], [{"seen": [[0, 0], [0, 0]], "active": [[0, 0], [0, 0]]}, start2],
                        [[1, 2, 3, 4], [3, 4, 5]])
    missed, learned = compare.fitted_shares(res)[0]
    assert learned == pytest.approx(0.5)                     # (0, 0): 1 - 5/10
    assert missed == pytest.approx(np.mean([0.9, 0.5]))      # (0, 1): 1 - 1/10; (1, 0): 1 - 2/4; (1, 1) unseen
    assert compare.fitted_share_gap(res)[0] == pytest.approx(missed - learned)
    assert compare.kept_share(res)[0] == pytest.approx(0.5)  # {3, 4} of {1, 2, 3, 4} kept
