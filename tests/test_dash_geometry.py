"""DASH geometry figures and the feature/noise ground-truth probe (book/dash/01_dash_rule.ipynb)."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from plasticity_sim.dash_geometry import (plot_factor_histograms, plot_probe_scatter, plot_shrink_geometry,
                                          shrink_2d, shrink_factor)
from plasticity_sim.protocols.feature_probe import (FeatureProbeConfig, PatchCNN, feature_share,
                                                    max_abs_cosine, probe_seed, run_feature_probe)


def test_shrink_factor_is_max_of_lam_and_cos():
    assert np.allclose(shrink_factor([1.0, 0.5, 0.3, 0.1, -1.0], 0.3), [1.0, 0.5, 0.3, 0.3, 0.3])
    with pytest.raises(ValueError, match="lam"):
        shrink_factor([0.5], 1.5)
    with pytest.raises(ValueError, match="cosines"):
        shrink_factor([1.5], 0.3)


def test_shrink_2d_by_hand():
    # 0 deg: kept; 60 deg: cos 0.5 -> x0.5; 90 deg: floor; opposite: floor; zero vector: floor (cos 0)
    w = np.array([[2.0, 0.0], [1.0, np.sqrt(3)], [0.0, 1.0], [-1.0, 0.0], [0.0, 0.0]])
    out, f = shrink_2d(w, [3.0, 0.0], lam=0.3)
    assert np.allclose(f, [1.0, 0.5, 0.3, 0.3, 0.3])
    assert np.allclose(out, w * f[:, None])
    with pytest.raises(ValueError, match="dimension"):
        shrink_2d(w, [1.0, 0.0, 0.0])


def test_geometry_figure_builds():
    fig = plot_shrink_geometry(0.5)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="lam"):
        plot_shrink_geometry(-0.1)


def test_feature_share_and_alignment_by_hand():
    patterns = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])     # span = first two axes
    w = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 2.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    assert np.allclose(feature_share(w, patterns), [1.0, 0.0, 0.5, 0.0])
    assert np.allclose(max_abs_cosine(w[:3], patterns), [1 / np.sqrt(2), 0.0, 1 / np.sqrt(2)])
    with pytest.raises(ValueError, match="dimension"):
        feature_share(w, np.ones((1, 4)))


def test_patch_cnn_filters_see_one_patch_each():
    net = PatchCNN(1, 2, 3, 2, generator=torch.Generator().manual_seed(0))
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, :2, :2] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    h = torch.relu(net.conv(x))
    # only the top-left slot is non-zero; its pre-activation is the filter's dot product with the patch
    expected = torch.relu(net.conv.weight.reshape(3, -1) @ x[0, 0, :2, :2].reshape(-1))
    assert torch.allclose(h[0, :, 0, 0], expected) and h[0, :, 1:, :].abs().sum() == 0
    with pytest.raises(ValueError, match="filters"):
        PatchCNN(1, 2, 0, 2, generator=torch.Generator())


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


def test_geometry_module_does_not_import_torch():
    code = "import plasticity_sim.dash_geometry, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
