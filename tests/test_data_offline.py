"""Offline datasets (MNIST-1D, digits, feature/noise images) and the load_dataset registry."""

import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from plasticity_sim.data import Dataset, load_dataset, make_feature_noise, offline


# --------------------------------------------------------------------------------- registry

def test_unknown_dataset_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"'imagenet'.*mnist1d.*feature_noise.*tiny_imagenet"):
        load_dataset("imagenet")


def test_unknown_option_names_it_and_the_allowed_ones():
    with pytest.raises(ValueError, match=r"'num_sample'.*allowed:.*num_samples"):
        load_dataset("mnist1d", num_sample=600)


def test_real_dataset_without_files_does_not_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_dataset("cifar10", root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_dataset_validates_dtypes_and_lengths():
    x, y = torch.zeros(4, 1, 3), torch.zeros(4, dtype=torch.int64)
    Dataset("ok", x, y, x, y, 2)
    with pytest.raises(ValueError, match="float32"):
        Dataset("bad", x.double(), y, x, y, 2)
    with pytest.raises(ValueError, match="int64"):
        Dataset("bad", x, y.int(), x, y, 2)
    with pytest.raises(ValueError, match="rows"):
        Dataset("bad", x, y[:3], x, y, 2)


def test_dataset_to_and_input_shape():
    d = load_dataset("feature_noise", n_train=10, n_test=4, image_size=8, features_per_class=3,
                     noise_patches=1, device="cpu")
    assert d.input_shape == (1, 8, 8)
    moved = d.to("cpu")
    assert moved.x_train.device.type == "cpu" and moved.input_shape == d.input_shape
    assert torch.equal(moved.x_test, d.x_test) and moved.meta is d.meta


def test_importing_data_package_does_not_import_mnist1d_or_pyplot():
    code = ("import sys, plasticity_sim.data; "
            "assert 'mnist1d' not in sys.modules, 'mnist1d'; "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot'")
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------- MNIST-1D

def test_mnist1d_shapes_split_and_standardisation():
    d = load_dataset("mnist1d", num_samples=600)
    assert d.x_train.shape == (480, 1, 40) and d.x_test.shape == (120, 1, 40)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.num_classes == 10 and set(d.y_train.tolist()) <= set(range(10))
    # 60 examples per class in total (num_samples // 10 per class)
    counts = torch.bincount(torch.cat([d.y_train, d.y_test]), minlength=10)
    assert counts.tolist() == [60] * 10
    allx = torch.cat([d.x_train, d.x_test])
    assert abs(allx.mean().item()) < 1e-4 and abs(allx.std(correction=0).item() - 1) < 1e-4
    assert d.meta["num_train"] == 480 and json.dumps(d.meta)


def test_mnist1d_leaves_global_rng_untouched():
    offline._mnist1d_arrays.cache_clear()      # make sure the library really runs
    np.random.seed(123)
    random.seed(123)
    expected_np, expected_py = np.random.rand(3), [random.random() for _ in range(3)]
    np.random.seed(123)
    random.seed(123)
    load_dataset("mnist1d", num_samples=600)
    assert np.array_equal(np.random.rand(3), expected_np)
    assert [random.random() for _ in range(3)] == expected_py


def test_mnist1d_is_deterministic_and_data_seed_controls_it():
    a = load_dataset("mnist1d", num_samples=600)
    offline._mnist1d_arrays.cache_clear()
    b = load_dataset("mnist1d", num_samples=600, seed=7)      # run seed does not change the data
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    c = load_dataset("mnist1d", num_samples=600, data_seed=None, seed=7)
    d = load_dataset("mnist1d", num_samples=600, data_seed=7)
    assert not torch.equal(a.x_train, c.x_train)
    assert torch.equal(c.x_train, d.x_train) and c.meta["data_seed"] == 7


def test_mnist1d_returned_tensors_do_not_alias_the_cache():
    a = load_dataset("mnist1d", num_samples=600)
    a.x_train.zero_()
    b = load_dataset("mnist1d", num_samples=600)
    assert b.x_train.abs().sum() > 0


@pytest.mark.parametrize("kw", [{"num_samples": 605}, {"num_samples": 0}, {"train_split": 1.0}])
def test_mnist1d_bad_options(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        load_dataset("mnist1d", **kw)


# --------------------------------------------------------------------------------- digits

def test_digits_shapes_range_and_stratified_split():
    from sklearn.datasets import load_digits as sk

    class_counts = np.bincount(sk().target, minlength=10)
    d = load_dataset("digits")
    assert d.x_train.shape[1:] == (1, 8, 8) and d.num_train + d.num_test == 1797
    assert d.x_train.min() >= 0 and d.x_train.max() <= 1 and d.x_train.max() == 1
    test_counts = torch.bincount(d.y_test, minlength=10).numpy()
    assert np.array_equal(test_counts, np.round(0.2 * class_counts).astype(int))
    # pixel sums identify images well enough to see that the two splits partition the data
    sums = sorted((torch.cat([d.x_train, d.x_test]).sum((1, 2, 3)) * 16).round().int().tolist())
    assert sums == sorted(sk().images.reshape(1797, -1).sum(1).astype(int).tolist())


def test_digits_seed_and_standardize():
    a, b = load_dataset("digits", seed=1), load_dataset("digits", seed=1)
    c = load_dataset("digits", seed=2)
    assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.y_train, c.y_train)
    s = load_dataset("digits", seed=1, scale="standardize")
    assert abs(s.x_train.mean().item()) < 1e-5 and abs(s.x_train.std(correction=0).item() - 1) < 1e-4
    with pytest.raises(ValueError, match="'unit', 'standardize'"):
        load_dataset("digits", scale="minmax")


# --------------------------------------------------------------------------------- feature/noise

SMALL = dict(num_classes=3, features_per_class=5, patch_size=4, image_size=16, noise_patches=2,
             noise_std=0.5, n_train=300, n_test=100)


def test_feature_noise_images_match_their_ground_truth():
    d = make_feature_noise(seed=3, **SMALL)
    t, s = d.truth, 4
    assert d.x_train.shape == (300, 1, 16, 16) and d.x_test.shape == (100, 1, 16, 16)
    assert torch.bincount(d.y_train).tolist() == [100, 100, 100]
    x = d.x_train.numpy()
    for i in range(300):
        y = int(d.y_train[i])
        covered = np.zeros((16, 16), bool)
        starts = []
        for k in range(5):
            r, c = t["train_feature_pos"][i, k]
            assert (r >= 0) == t["train_features"][i, k]
            if r >= 0:
                np.testing.assert_array_equal(x[i, :, r:r + s, c:c + s], t["feature_patterns"][y, k])
                covered[r:r + s, c:c + s] = True
                starts.append((r, c))
        for r, c in t["train_noise_pos"][i]:
            patch = x[i, :, r:r + s, c:c + s]
            assert (patch != 0).all()          # Gaussian noise is never exactly 0
            covered[r:r + s, c:c + s] = True
            starts.append((r, c))
        assert len(set(starts)) == len(starts)           # no two patches share a slot
        assert all(r % s == 0 and c % s == 0 for r, c in starts)
        assert (x[i, 0][~covered] == 0).all()            # nothing outside the patches


def test_feature_noise_default_frequency_law_and_pattern_scale():
    d = make_feature_noise(seed=0, **SMALL)
    p = d.truth["frequencies"]
    assert p.shape == (3, 5) and (p >= 0).all() and (p <= 0.2).all()
    assert (np.diff(p, axis=1) <= 0).all()                # sorted descending per class
    rms = np.sqrt((d.truth["feature_patterns"] ** 2).mean(axis=(2, 3, 4)))
    np.testing.assert_allclose(rms, 1.0, rtol=1e-5)
    assert json.loads(json.dumps(d.meta))["frequencies"] == p.round(6).tolist()
    low = make_feature_noise(seed=0, frequency_params={"p_max": 0.05}, **SMALL)
    np.testing.assert_allclose(low.truth["frequencies"], p / 4)   # same uniforms, scaled
    two = make_feature_noise(seed=0, frequencies="two_level", **SMALL)
    assert two.truth["frequencies"][0].tolist() == [0.2, 0.02, 0.02, 0.02, 0.02]


def test_feature_noise_empirical_frequencies_follow_p():
    p = np.array([[0.5, 0.1, 0.0], [0.9, 0.3, 0.02]])
    d = make_feature_noise(num_classes=2, features_per_class=3, frequencies=p, image_size=8,
                           patch_size=2, noise_patches=1, n_train=20000, n_test=10)
    f, y = d.truth["train_features"], d.y_train.numpy()
    for c in range(2):
        emp = f[y == c].mean(0)
        tol = 4 * np.sqrt(p[c] * (1 - p[c]) / 10000) + 1e-12
        assert (np.abs(emp - p[c]) <= tol).all(), (c, emp)


def test_feature_noise_explicit_frequencies_and_noise_strength():
    p = np.zeros((2, 4))
    p[0, 0] = 1.0                                         # every class-0 point holds feature 0 only
    d = make_feature_noise(num_classes=2, features_per_class=4, frequencies=p, image_size=8,
                           patch_size=4, noise_patches=1, noise_std=3.0, n_train=400, n_test=10)
    f, y = d.truth["train_features"], d.y_train.numpy()
    assert f[y == 0, 0].all() and not f[y == 0, 1:].any() and not f[y == 1].any()
    nz = (d.x_train != 0).flatten(1).sum(1).numpy()
    assert (nz[y == 1] == 16).all() and (nz[y == 0] == 32).all()
    noise = d.x_train[torch.from_numpy(y == 1)]
    assert abs(noise[noise != 0].std().item() - 3.0) < 0.15
    quiet = make_feature_noise(num_classes=2, features_per_class=4, frequencies=p, image_size=8,
                               noise_patches=1, noise_std=0.0, n_train=40, n_test=10)
    assert (quiet.x_train[quiet.y_train == 1] == 0).all()


def test_feature_noise_seeds_and_independent_streams():
    a, b = make_feature_noise(seed=5, **SMALL), make_feature_noise(seed=5, **SMALL)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_test, b.x_test)
    c = make_feature_noise(seed=6, **SMALL)
    assert not torch.equal(a.x_train, c.x_train)
    bigger = make_feature_noise(seed=5, **{**SMALL, "n_train": 500})
    assert torch.equal(bigger.x_test, a.x_test)           # test set independent of n_train
    np.testing.assert_array_equal(bigger.truth["feature_patterns"], a.truth["feature_patterns"])


def test_feature_noise_channels():
    d = make_feature_noise(**{**SMALL, "channels": 3, "n_train": 20, "n_test": 5})
    assert d.x_train.shape == (20, 3, 16, 16) and d.truth["feature_patterns"].shape == (3, 5, 3, 4, 4)


@pytest.mark.parametrize("kw, msg", [
    ({"image_size": 18}, "multiple of patch_size"),
    ({"frequencies": np.zeros((2, 5))}, r"\(3, 5\).*\(2, 5\)"),
    ({"frequencies": np.full((3, 5), 1.5)}, r"\[0, 1\]"),
    ({"frequencies": "zipf"}, "'zipf'.*'paper'"),
    ({"frequencies": np.zeros((3, 5)), "frequency_params": {"p_max": 0.1}}, "named law"),
    ({"num_classes": 1}, "num_classes=1"),
    ({"noise_std": -1.0}, "noise_std"),
    ({"noise_patches": 17}, "patch slots"),
    ({"frequencies": np.ones((3, 5)), "image_size": 8}, "only 4 patch slots"),
])
def test_feature_noise_bad_options(kw, msg):
    with pytest.raises(ValueError, match=msg):
        make_feature_noise(**{**SMALL, **kw})
