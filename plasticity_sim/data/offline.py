"""Datasets that need no network: MNIST-1D, scikit-learn's digits, and feature/noise images.

* MNIST-1D is where the warm-start penalty shows at CPU scale (measured in the project's CPU
  findings: warm about -3 pts vs cold, chunked protocol, MLP), so it is the CPU default.
* digits is too easy to show the penalty: an honest control.
* feature/noise images put the DASH paper's discrete data model into pixels, with ground truth.
"""

from __future__ import annotations

import functools
import random

import numpy as np
import torch

from .dataset import Dataset

__all__ = ["load_mnist1d", "load_digits", "make_feature_noise"]

MAX_MNIST1D_SAMPLES = 1_000_000     # about 450 s to generate on one core (4.5 s per 10,000)
MAX_GENERATED_ELEMENTS = 1 << 30    # float32 pixels (4 GiB) or slots in one generated array


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


# ---------------------------------------------------------------------------------------------
# MNIST-1D
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def _mnist1d_arrays(num_samples: int, train_split: float, data_seed: int) -> tuple[np.ndarray, ...]:
    """Generate MNIST-1D once per setting (about 4.5 s for 10,000 samples on one core)."""
    # Imported here: mnist1d imports matplotlib.pyplot and requests at import time.
    import mnist1d.data

    args = mnist1d.data.get_dataset_args()
    args.num_samples, args.train_split, args.seed = num_samples, train_split, data_seed
    # make_dataset calls random.seed / np.random.seed (its set_seed): put the caller's global RNG
    # states back afterwards so that loading data never changes anyone else's random numbers.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        # NEVER mnist1d.data.get_dataset: it downloads a pickle by default.
        raw = mnist1d.data.make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    out = (raw["x"], raw["y"], raw["x_test"], raw["y_test"])
    for a in out:
        a.setflags(write=False)  # cached: nobody may modify them in place
    return out


def load_mnist1d(*, seed: int = 0, num_samples: int = 10000, train_split: float = 0.8,
                 data_seed: int | None = 42, validation: int = 0) -> Dataset:
    """MNIST-1D (Greydanus 2020) generated offline: x of shape (N, 1, 40), 10 classes.

    `num_samples` examples in total (default 10,000 -> 8,000 train / 2,000 test), generated with
    `mnist1d.data.make_dataset` (never the downloading `get_dataset`); the library standardises the
    whole set to mean 0 and std 1. `data_seed` is the library's generation seed: the default 42 is
    the library's own, and it is the same dataset for every run seed (as in the CPU findings), so
    `seed` does not change the data unless `data_seed=None`, which uses `seed` instead.
    `validation` > 0 carves a validation split from the *training* points for tuning: that many
    training points, chosen by a permutation seeded with `data_seed`, become the returned "test"
    set and the rest the training set; the real test set is then not returned at all, so a tuning
    run cannot see it (book/dash/02c).
    The caller's global `random` / `np.random` states are left untouched.

    Source: Greydanus, "Scaling down deep learning with MNIST-1D" (package `mnist1d`).
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 20 \
            or num_samples % 10 or num_samples > MAX_MNIST1D_SAMPLES:
        raise ValueError(f"num_samples={num_samples!r}: must be a multiple of 10 (one share per "
                         f"class) from 20 to {MAX_MNIST1D_SAMPLES:,} (generation takes about 4.5 s "
                         "per 10,000)")
    if not _is_number(train_split) or not 0.0 < train_split < 1.0:
        raise ValueError(f"train_split={train_split!r}: must lie strictly between 0 and 1")
    for nm, v in (("seed", seed), ("data_seed", data_seed)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0):
            raise ValueError(f"{nm}={v!r}: must be an integer >= 0")
    data_seed = seed if data_seed is None else data_seed
    x, y, xt, yt = _mnist1d_arrays(num_samples, float(train_split), int(data_seed))
    if len(yt) == 0:
        raise ValueError(f"train_split={train_split} leaves no test examples of {num_samples}")
    if isinstance(validation, bool) or not isinstance(validation, (int, np.integer)) \
            or not 0 <= validation < len(y):
        raise ValueError(f"validation={validation!r}: must be an int from 0 to {len(y) - 1} (points of the "
                         f"{len(y)} training points held out for tuning)")
    if validation:
        perm = np.random.default_rng(int(data_seed)).permutation(len(y))
        held, kept = np.sort(perm[:validation]), np.sort(perm[validation:])
        x, y, xt, yt = x[kept], y[kept], x[held], y[held]
    return Dataset(
        name="mnist1d",
        x_train=torch.tensor(x, dtype=torch.float32).unsqueeze(1),
        y_train=torch.tensor(y, dtype=torch.int64),
        x_test=torch.tensor(xt, dtype=torch.float32).unsqueeze(1),
        y_test=torch.tensor(yt, dtype=torch.int64),
        num_classes=10,
        meta={"source": "mnist1d.data.make_dataset (offline)", "num_samples": num_samples,
              "train_split": float(train_split), "data_seed": int(data_seed), "seed": seed,
              "num_train": len(y), "num_test": len(yt), "standardised": True,
              # only when asked, so that the meta of every earlier results file stays as it was
              **({"validation": int(validation), "test_is": "validation split of the training points"}
                 if validation else {})})


# ---------------------------------------------------------------------------------------------
# scikit-learn digits
# ---------------------------------------------------------------------------------------------

def load_digits(*, seed: int = 0, test_fraction: float = 0.2, scale: str = "unit") -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images) as (N, 1, 8, 8), 10 classes.

    Stratified random split from `seed`: in every class round(test_fraction * n_class) images go
    to the test set (default 0.2 -> 1,438 train / 359 test); the train order is shuffled too.
    `scale="unit"` divides the 0..16 pixel counts by 16 (values in [0, 1]); `"standardize"`
    subtracts the train mean and divides by the train std (one scalar each, over all pixels).
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    if not _is_number(test_fraction) or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction={test_fraction!r}: must lie strictly between 0 and 1")
    if scale not in ("unit", "standardize"):
        raise ValueError(f"scale={scale!r}: allowed values are 'unit', 'standardize'")
    bunch = _sk_load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8) in [0, 1]
    y = bunch.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(test_fraction * len(idx)))
        test_idx.append(idx[:k])
        train_idx.append(idx[k:])
    train_idx = rng.permutation(np.concatenate(train_idx))
    test_idx = np.sort(np.concatenate(test_idx))
    x_train, x_test = x[train_idx], x[test_idx]
    if scale == "standardize":
        mean, std = float(x_train.mean()), float(x_train.std())
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    return Dataset(
        name="digits", x_train=torch.from_numpy(np.ascontiguousarray(x_train)),
        y_train=torch.from_numpy(y[train_idx]), x_test=torch.from_numpy(np.ascontiguousarray(x_test)),
        y_test=torch.from_numpy(y[test_idx]), num_classes=10,
        meta={"source": "sklearn.datasets.load_digits", "seed": seed,
              "test_fraction": float(test_fraction), "scale": scale,
              "num_train": len(train_idx), "num_test": len(test_idx)})


# ---------------------------------------------------------------------------------------------
# Feature/noise images: the DASH discrete data model drawn as pixels
# ---------------------------------------------------------------------------------------------

def _draw_points(rng: np.random.Generator, n: int, freqs: np.ndarray, patterns: np.ndarray,
                 grid: tuple[int, int], noise_patches: int, noise_std: float) -> dict:
    """Draw n points: balanced labels, present features, slot positions, noise; build images."""
    C, K, ch, s, _ = patterns.shape
    gh, gw = grid
    S = gh * gw
    y = rng.permutation(np.arange(n) % C)                 # exactly balanced up to n % C
    present = rng.random((n, K)) < freqs[y]               # z_k ~ Bernoulli(p[y, k]), own class only
    need = present.sum(1) + noise_patches
    if n and need.max() > S:
        raise ValueError(
            f"a point holds {need.max() - noise_patches} features + {noise_patches} noise patches "
            f"but the image has only {S} patch slots ({gh}x{gw}); use a larger image_size, a "
            "smaller patch_size, fewer noise_patches or lower frequencies")
    # A random permutation of the slots per point (argsort of uniforms): the first noise_patches
    # slots take the noise, the next ones take the present features in order. Slots never overlap.
    perm = np.argsort(rng.random((n, S)), axis=1)
    rank = np.cumsum(present, axis=1) - 1                 # j-th present feature -> slot index j
    col = np.clip(noise_patches + rank, 0, S - 1)
    feat_slot = np.where(present, np.take_along_axis(perm, col, axis=1), -1)
    noise_slot = perm[:, :noise_patches]

    content = np.zeros((n, S, ch, s, s), dtype=np.float32)
    pi, pk = np.nonzero(present)
    content[pi, feat_slot[pi, pk]] = patterns[y[pi], pk]
    noise = (noise_std * rng.standard_normal((n, noise_patches, ch, s, s))).astype(np.float32)
    content[np.arange(n)[:, None], noise_slot] = noise
    # (n, gh, gw, ch, s, s) -> (n, ch, gh, s, gw, s) -> (n, ch, H, W)
    x = content.reshape(n, gh, gw, ch, s, s).transpose(0, 3, 1, 4, 2, 5).reshape(n, ch, gh * s, gw * s)

    def pos(slot):  # top-left pixel (row, col) of a slot, -1 where absent
        rc = np.stack([(slot // gw) * s, (slot % gw) * s], axis=-1)
        return np.where(slot[..., None] >= 0, rc, -1).astype(np.int32)

    return {"x": np.ascontiguousarray(x), "y": y.astype(np.int64), "features": present,
            "feature_pos": pos(feat_slot), "noise_pos": pos(noise_slot)}


def make_feature_noise(*, seed: int = 0, num_classes: int = 2, features_per_class: int = 50,
                       frequencies="paper", frequency_params: dict | None = None, patch_size: int = 4,
                       image_size: int | tuple[int, int] = 32, channels: int = 1,
                       noise_patches: int = 4, noise_std: float = 1.0, n_train: int = 5000,
                       n_test: int = 2000) -> Dataset:
    """Images from the DASH discrete data model: class features and per-point noise as patches.

    Each class c owns K = `features_per_class` features; feature (c, k) is a fixed random
    `patch_size` x `patch_size` pattern (per channel, Gaussian, scaled to unit root-mean-square).
    A point of class c holds feature k with probability p[c, k] (independently; points only hold
    their own class's features). `frequencies` is a law of
    :func:`plasticity_sim.theory.model.sample_frequencies` ("paper" = the DASH notebook's: per
    class K draws of Uniform(0, 0.2) sorted descending; "uniform", "power_law", "two_level"; a
    callable), with `frequency_params` passed to the law (e.g. {"p_max": 0.1}), or an explicit
    (C, K) array - so the images share their frequencies with the discrete model's chapters.
    Every point also carries `noise_patches` patches of its own: fresh N(0, `noise_std`^2) pixels
    shared with no other point (test points get new noise, so memorised noise never helps).
    The image (`image_size`, a multiple of `patch_size`) is a grid of non-overlapping patch slots;
    each point puts its features and noise into distinct random slots, the rest stays 0.
    Labels are balanced (n // C per class, shuffled).

    `truth` (numpy): "frequencies" (C, K); "feature_patterns" (C, K, ch, s, s);
    "{train,test}_features" (N, K) bool - feature k of point i is feature (y_i, k);
    "{train,test}_feature_pos" (N, K, 2) top-left (row, col), -1 if absent;
    "{train,test}_noise_pos" (N, M, 2). A noise patch's pixels are x at its position.
    Random streams for the features, train set and test set are independent children of `seed`,
    so changing n_train leaves the features and the test set unchanged.

    Source: DASH (Shin et al. 2024), data model of `Discrete_Feature_Learning.ipynb`, drawn as images.
    """
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        H, W = image_size, image_size
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        H, W = image_size
    else:
        raise ValueError(f"image_size={image_size!r}: must be an integer or a (height, width) pair")
    for nm, v, lo in (("num_classes", num_classes, 2), ("features_per_class", features_per_class, 1),
                      ("patch_size", patch_size, 1), ("channels", channels, 1),
                      ("noise_patches", noise_patches, 0), ("n_train", n_train, 1),
                      ("n_test", n_test, 1), ("image height", H, 1), ("image width", W, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{nm}={v!r}: must be an integer >= {lo}")
    if H % patch_size or W % patch_size:
        raise ValueError(f"image_size=({H}, {W}) must be a multiple of patch_size={patch_size}")
    if not _is_number(noise_std) or not noise_std >= 0 or not np.isfinite(noise_std):
        raise ValueError(f"noise_std={noise_std!r}: must be a finite number >= 0")
    grid = (H // patch_size, W // patch_size)
    if noise_patches > grid[0] * grid[1]:
        raise ValueError(f"noise_patches={noise_patches} exceeds the {grid[0] * grid[1]} patch slots")
    # Bound what will be allocated before drawing anything (Python ints: no overflow).
    slots = grid[0] * grid[1]
    for nm, n in (("n_train", n_train), ("n_test", n_test)):
        sizes = {"pixels": int(n) * channels * H * W, "patch slots": int(n) * slots,
                 "feature cells": int(n) * features_per_class}
        what, size = max(sizes.items(), key=lambda kv: kv[1])
        if size > MAX_GENERATED_ELEMENTS:
            raise ValueError(
                f"{nm}={n!r} with image_size=({H}, {W}), channels={channels}, patch_size="
                f"{patch_size}, features_per_class={features_per_class} needs {size:,} {what} in one "
                f"array, more than the {MAX_GENERATED_ELEMENTS:,} allowed; use fewer points or "
                "smaller images")
    cells = num_classes * features_per_class * channels * patch_size * patch_size
    if cells > MAX_GENERATED_ELEMENTS:
        raise ValueError(f"num_classes={num_classes!r} x features_per_class={features_per_class!r} "
                         f"patterns of {channels}x{patch_size}x{patch_size} need {cells:,} values, "
                         f"more than the {MAX_GENERATED_ELEMENTS:,} allowed; use fewer features")

    freq_rng, pattern_rng, train_rng, test_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))
    # The data model's laws (shared with the theory part), so chapters and images draw frequencies alike.
    from plasticity_sim.frequencies import check_frequencies, sample_frequencies

    if isinstance(frequencies, str) or callable(frequencies):
        freqs = sample_frequencies(num_classes, features_per_class, freq_rng, law=frequencies,
                                   **(frequency_params or {}))
    else:
        if frequency_params:
            raise ValueError(f"frequency_params={frequency_params!r} only apply to a named law, "
                             "not to an explicit frequencies array")
        freqs = check_frequencies(frequencies, num_classes, features_per_class)
    patterns = pattern_rng.standard_normal((num_classes, features_per_class, channels,
                                            patch_size, patch_size))
    patterns /= np.sqrt((patterns ** 2).mean(axis=(2, 3, 4), keepdims=True))
    patterns = patterns.astype(np.float32)

    tr = _draw_points(train_rng, n_train, freqs, patterns, grid, noise_patches, noise_std)
    te = _draw_points(test_rng, n_test, freqs, patterns, grid, noise_patches, noise_std)
    truth = {"frequencies": freqs, "feature_patterns": patterns}
    for split, d in (("train", tr), ("test", te)):
        for key in ("features", "feature_pos", "noise_pos"):
            truth[f"{split}_{key}"] = d[key]
    meta = {
        "source": "feature/noise images from the DASH discrete data model", "seed": seed,
        "num_classes": num_classes, "features_per_class": features_per_class,
        "patch_size": patch_size, "image_size": [H, W], "channels": channels,
        "noise_patches": noise_patches, "noise_std": float(noise_std),
        "n_train": n_train, "n_test": n_test,
        "frequency_law": (frequencies if isinstance(frequencies, str) else
                          getattr(frequencies, "__name__", "callable") if callable(frequencies)
                          else "explicit"),
        "frequency_params": dict(frequency_params or {}),
        "frequencies": freqs.round(6).tolist(),
        "mean_features_per_train_point": float(tr["features"].sum(1).mean()),
        "train_points_without_features": int((tr["features"].sum(1) == 0).sum()),
    }
    return Dataset(name="feature_noise", x_train=torch.from_numpy(tr["x"]),
                   y_train=torch.from_numpy(tr["y"]), x_test=torch.from_numpy(te["x"]),
                   y_test=torch.from_numpy(te["y"]), num_classes=num_classes, meta=meta,
                   truth=truth)
