"""The feature/noise ground-truth probe (book/dash/01_dash_rule.ipynb) on a tiny run, with its figures."""
import numpy as np
import pytest

from plasticity_sim.dash.figures import plot_factor_histograms, plot_probe_scatter
from plasticity_sim.ground_truth import feature_share, max_abs_cosine
from plasticity_sim.protocols.feature_probe import FeatureProbeConfig, probe_seed, run_feature_probe


def test_probe_seed_tiny():
    cfg = FeatureProbeConfig(n_train=40, n_test=20, filters=4, max_epochs=3, seeds=(0,))
    s = probe_seed(cfg, 0)
    for key in ("cos_row", "cos_old", "cos_new", "feature_share", "noise_alignment"):
        assert s[key].shape == (4,)
    assert s["cos_kernel"].shape == (4, 3)
    assert np.all((s["feature_share"] >= 0) & (s["feature_share"] <= 1 + 1e-9))
    assert s["feature_span_chance"] == pytest.approx(8 / 192)
    # factors are max(lam, cos) of the cosines reported
    assert np.allclose(s["factors"]["row"]["conv.weight"], np.clip(s["cos_row"], 0.3, 1.0), atol=1e-6)
    assert np.allclose(s["factors"]["kernel"]["conv.weight"], np.clip(s["cos_kernel"], 0.3, 1.0), atol=1e-6)
    res = run_feature_probe(cfg)
    assert np.array_equal(res.pooled("cos_row"), s["cos_row"])  # same seed -> same numbers
    fig = plot_probe_scatter(res.per_seed)
    assert len(fig.axes) == 2
    fig = plot_factor_histograms({"conv": {"kernel": s["factors"]["kernel"]["conv.weight"],
                                           "row": s["factors"]["row"]["conv.weight"]}})
    assert len(fig.axes) == 1
    with pytest.raises(ValueError, match="even"):
        probe_seed(FeatureProbeConfig(n_train=41), 0)


def test_feature_share_and_alignment_by_hand():
    patterns = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])     # span = first two axes
    w = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 2.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    assert np.allclose(feature_share(w, patterns), [1.0, 0.0, 0.5, 0.0])
    assert np.allclose(max_abs_cosine(w[:3], patterns), [1 / np.sqrt(2), 0.0, 1 / np.sqrt(2)])
    with pytest.raises(ValueError, match="dimension"):
        feature_share(w, np.ones((1, 4)))
