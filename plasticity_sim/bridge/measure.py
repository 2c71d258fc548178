"""Per-feature ground truth on a trained network (feature/noise images).

After every experiment of :mod:`plasticity_sim.protocols.feature_chunked`, :class:`Measurer` says

* which features the network has **learned**, two independent ways:

  - *probe score*: on test images that carry that one feature and fresh noise, the share classified
    as the feature's class minus the share when the feature's patch is blanked (same noise, same
    slots). Subtracting the blanked image removes whatever the network says about noise alone (a
    bias toward one class would otherwise make every feature of that class look learned); a
    feature is learned when its score is at least :func:`learned_threshold`;
  - *alignment* (patch CNN only): the largest ``feature_share`` of any filter in that one pattern's
    direction (cos², chance about 1/d per filter for d = ch * s * s);

* which training points it has **memorised**: fitted, yet misclassified once their noise patches
  are replaced by fresh noise (the features stay where they were);
* at the start of an experiment, for every feature, how many of the points seen so far carry it and
  how many of those the network does not fit yet: the *active* points of the discrete model, the
  only ones whose gradient can teach the feature.

Explained in: book/bridge/01_theory_meets_network.ipynb
"""
from __future__ import annotations

import numpy as np
import torch

from plasticity_sim.ground_truth import feature_share

PROBES_PER_FEATURE = 32


def learned_threshold(num_classes: int) -> float:
    """The probe score above which a feature counts as learned: half the way from nothing (0) to a
    feature that always wins (1 - 1/C, since a blanked image is still right 1/C of the time)."""
    return 0.5 * (1.0 - 1.0 / num_classes)


def _slots(meta) -> tuple[int, int, int]:
    s = int(meta["patch_size"])
    H, W = meta["image_size"]
    return s, H // s, W // s


def probe_images(data, rng: np.random.Generator, per_feature: int = PROBES_PER_FEATURE) -> dict:
    """For every feature (c, k), ``per_feature`` images holding that pattern alone plus the data's
    number of fresh noise patches, in distinct random slots; and the same images with the pattern
    blanked. Returns ``{"with", "without"}`` (n, ch, H, W) float32 tensors and ``"y"`` (n,)."""
    pat = data.truth["feature_patterns"]                 # (C, K, ch, s, s)
    C, K, ch = pat.shape[:3]
    s, gh, gw = _slots(data.meta)
    M, std = int(data.meta["noise_patches"]), float(data.meta["noise_std"])
    n = C * K * per_feature
    x = np.zeros((n, ch, gh * s, gw * s), dtype=np.float32)
    blank = np.zeros_like(x)
    y = np.repeat(np.arange(C), K * per_feature)
    for i in range(n):
        c, k = divmod(i // per_feature, K)
        slots = rng.permutation(gh * gw)[:M + 1]
        for m, slot in enumerate(slots):
            r, q = (slot // gw) * s, (slot % gw) * s
            if m == 0:
                x[i, :, r:r + s, q:q + s] = pat[c, k]
            else:
                x[i, :, r:r + s, q:q + s] = blank[i, :, r:r + s, q:q + s] = std * rng.standard_normal((ch, s, s))
    return {"with": torch.from_numpy(x), "without": torch.from_numpy(blank), "y": torch.from_numpy(y)}


def swap_noise(data, rng: np.random.Generator) -> torch.Tensor:
    """The training images with every noise patch replaced by fresh noise of the same law."""
    x = data.x_train.detach().cpu().numpy().copy()
    s = int(data.meta["patch_size"])
    std = float(data.meta["noise_std"])
    pos = data.truth["train_noise_pos"]
    for i in range(len(x)):
        for r, q in pos[i]:
            x[i, :, r:r + s, q:q + s] = std * rng.standard_normal(x.shape[1:2] + (s, s))
    return torch.from_numpy(x)


@torch.no_grad()
def _predict(model, x, batch: int = 2048) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i:i + batch]).argmax(1) for i in range(0, len(x), batch)])


def alignment(model, patterns) -> np.ndarray:
    """(C, K): the largest cos² between a filter of the patch CNN and each feature pattern."""
    w = model.conv.weight.detach().reshape(model.conv.out_channels, -1).cpu().numpy()
    p = np.asarray(patterns).reshape(-1, w.shape[1])
    out = np.array([feature_share(w, pk[None]).max() for pk in p])
    return out.reshape(np.asarray(patterns).shape[:2])


class Measurer:
    """The ``measure`` callable of ``feature_chunked.run`` for one data set (its probes and swapped
    noise drawn once from ``seed``, so every method of a seed is measured on the same images)."""

    def __init__(self, data, seed: int, per_feature: int = PROBES_PER_FEATURE):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 25]))
        self.probes = probe_images(data, rng, per_feature)
        self.x_swapped = swap_noise(data, rng)
        self.per_feature = per_feature
        f = data.truth["train_features"]                     # (N, K) bool: feature (y_i, k)
        C, K = data.truth["frequencies"].shape
        y = data.y_train.cpu().numpy()
        self.holds = np.zeros((len(y), C, K), dtype=bool)    # point i holds feature (c, k)
        self.holds[np.arange(len(y)), y] = f
        self.shape = (C, K)

    def scores(self, model) -> np.ndarray:
        """(C, K) probe scores (see the module docstring)."""
        y = self.probes["y"]
        hit = (_predict(model, self.probes["with"]) == y).float()
        base = (_predict(model, self.probes["without"]) == y).float()
        return (hit - base).reshape(*self.shape, self.per_feature).mean(-1).numpy()

    def __call__(self, phase, j, model, data, seen) -> dict:
        idx = seen.cpu().numpy()
        fitted = (_predict(model, data.x_train[seen]) == data.y_train[seen]).numpy()
        if phase == "start":
            holds = self.holds[idx]
            return {"seen": holds.sum(0).tolist(), "active": holds[~fitted].sum(0).tolist(),
                    "fitted": int(fitted.sum())}
        swapped = (_predict(model, self.x_swapped[seen]) == data.y_train[seen]).numpy()
        out = {"score": np.round(self.scores(model), 4).tolist(), "fitted": int(fitted.sum()),
               "memorised": sorted(int(i) for i in idx[fitted & ~swapped])}
        if hasattr(model, "conv") and model.conv.kernel_size == model.conv.stride:
            out["alignment"] = np.round(alignment(model, data.truth["feature_patterns"]), 4).tolist()
        return out
