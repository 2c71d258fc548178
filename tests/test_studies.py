"""Numbers of the DASH chapters (plasticity_sim.dash.studies) that need no training run, checked by hand.

Those computed from a protocol's result are tested beside the protocol (test_two_phase.py,
test_subsets.py, test_feature_probe.py), where a tiny run is at hand.
"""
import numpy as np
import pytest

from plasticity_sim.dash.studies import shrink_2d, shrink_factor, spearman


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


def test_spearman_by_hand():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks a = (0,1,2,3), b = (0,2,1,3): rho = 1 - 6*sum(d^2)/(n(n^2-1)) = 1 - 6*2/60 = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="constant"):
        spearman([1, 1, 1], [1, 2, 3])


def test_whole_network_test_cosine_retrains_the_subset_model():
    # the same (seed, size) model as run_subset_cosines; cos_all < 0 exactly when a small uniform shrink
    # lowers the test loss (first order: dL/de at e = 0 is |w| |grad| cos_all)
    from plasticity_sim.data import load_dataset
    from plasticity_sim.protocols.subsets import SubsetCosineConfig, run_subset_cosines
    from plasticity_sim.dash.studies import whole_network_test_cosine

    data = load_dataset("mnist1d", num_samples=250)
    config = SubsetCosineConfig(sizes=(40, 80), seeds=(0,), max_epochs=5)
    ref = run_subset_cosines(config, data=data).records[1]
    out = whole_network_test_cosine(config, 0, 80, shrink=1e-3, data=data)
    assert out["test_acc"] == ref["test_acc"] and out["size"] == 80
    assert -1 <= out["cos_all"] <= 1 and -1 <= out["cos_body"] <= 1
    assert (out["test_loss_shrunk"] < out["test_loss"]) == (out["cos_all"] < 0)
    with pytest.raises(ValueError, match="size"):
        whole_network_test_cosine(config, 0, 10**6, data=data)
