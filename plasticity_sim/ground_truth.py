"""Ground truth of feature/noise images: how much of a weight vector lies on the known features,
and how closely it matches the known noise patches.

The engine's feature probe (:mod:`plasticity_sim.protocols.feature_probe`) measures what DASH's
cosine sees against these; they live in the engine, not in the DASH part, because the engine never
imports a part. numpy only.
"""
from __future__ import annotations

import numpy as np

__all__ = ["feature_share", "max_abs_cosine", "noise_patch_vectors"]


def feature_share(weights, patterns) -> np.ndarray:
    """Share of each row's squared norm inside the span of ``patterns`` (rows = vectors).

    ``weights`` (n, d), ``patterns`` (m, d) with m < d; a zero row gives 0.

    Explained in: book/dash/01_dash_rule.ipynb
    """
    w = np.asarray(weights, dtype=float).reshape(len(weights), -1)
    p = np.asarray(patterns, dtype=float).reshape(len(patterns), -1)
    if w.shape[1] != p.shape[1]:
        raise ValueError(f"weights have dimension {w.shape[1]} but patterns {p.shape[1]}")
    q, _ = np.linalg.qr(p.T)                     # orthonormal basis of the span, (d, m)
    energy = (w ** 2).sum(1)
    inside = ((w @ q) ** 2).sum(1)
    return np.divide(inside, energy, out=np.zeros(len(w)), where=energy > 0)


def max_abs_cosine(weights, vectors) -> np.ndarray:
    """For each row of ``weights``: the largest |cos| with any row of ``vectors``.
    """
    w = np.asarray(weights, dtype=float).reshape(len(weights), -1)
    v = np.asarray(vectors, dtype=float).reshape(len(vectors), -1)
    if w.shape[1] != v.shape[1] or len(v) == 0:
        raise ValueError(f"need vectors of dimension {w.shape[1]}, got shape {v.shape}")
    wn = w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)
    vn = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return np.abs(wn @ vn.T).max(1)


def noise_patch_vectors(data, indices) -> np.ndarray:
    """The noise patches of training points ``indices``, flattened: (len(indices) * M, ch * s * s).

    Read from the images at the positions in ``data.truth["train_noise_pos"]``.
    """
    if data.truth is None or "train_noise_pos" not in data.truth:
        raise ValueError(f"dataset {data.name!r} has no ground truth; use make_feature_noise")
    s = int(data.meta["patch_size"])
    x = data.x_train.detach().cpu().numpy()
    pos = data.truth["train_noise_pos"]
    out = [x[i, :, r:r + s, c:c + s].ravel() for i in np.asarray(indices) for r, c in pos[i]]
    if not out:
        raise ValueError("these points carry no noise patches (noise_patches=0)")
    return np.stack(out)
