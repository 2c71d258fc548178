"""The DASH feature/noise data model: feature frequencies and data points.

``C`` classes each own ``K`` features of their own. Feature ``k`` of class ``c`` has a frequency
``p[c, k]``: a point of class ``c`` contains it independently with that probability. Every point also
carries noise of its own (shared with no other point, never seen at test time); the noise is never
materialised, it only appears in the bookkeeping of the learning process as *memorisation*.

Arrays of points are boolean with shape ``(C, K, n)``: ``data[c, k, i]`` is true iff the ``i``-th point
of class ``c`` contains feature ``k``. Everything random takes an explicit ``np.random.Generator``.

Source: DASH (Shin, Oh, Cho, Yun; NeurIPS 2024), Section 3, and the official notebook
``Discrete_Feature_Learning.ipynb`` (functions ``get_train_data`` / ``get_test_data``).

Explained in: book/theory/01_data_model.ipynb
"""
from __future__ import annotations

import numpy as np

# The laws live in the engine (the feature/noise images draw from them too); re-exported here so
# the theory part reads as one package.
from plasticity_sim.frequencies import (FREQUENCY_LAWS, check_frequencies, int_at_least,  # noqa: F401
                                        sample_frequencies)

__all__ = [
    "FREQUENCY_LAWS",
    "sample_frequencies",
    "check_frequencies",
    "sample_points",
    "sample_test_points",
]

MAX_SAMPLE_CELLS = 2 ** 32   # C * K * n draws in one sample_points call (paper: 2.5 million)


def sample_points(p, n_per_class: int, rng: np.random.Generator, *, out=None) -> np.ndarray:
    """Draw ``n_per_class`` points of every class: a bool array (C, K, n_per_class).

    ``data[c, k, i]`` is true iff the ``i``-th point of class ``c`` contains feature ``k``, which happens
    independently with probability ``p[c, k]``. One vectorised draw: a point contains the feature iff
    ``U < p`` with ``U`` uniform on [0, 1) in float32 (24 random bits; ``p`` is rounded to float32, an
    error below 1e-7 that buys a 10x faster draw than float64). Point ``i`` of every class belongs to
    the chunk ``i // (n_per_exp / C)`` when the array is used as training data. ``out``: an optional
    bool array of that shape to fill (same draws, no new allocation).

    Explained in: book/theory/01_data_model.ipynb
    """
    p = check_frequencies(p)
    n = int_at_least("n_per_class", n_per_class, 0)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    shape = (p.shape[0], p.shape[1], n)
    if p.shape[0] * p.shape[1] * n > MAX_SAMPLE_CELLS:  # checked before anything is allocated
        raise ValueError(f"n_per_class={n} with C={p.shape[0]}, K={p.shape[1]} needs "
                         f"{p.shape[0] * p.shape[1] * n:,} draws, more than the {MAX_SAMPLE_CELLS:,} "
                         "(16 GiB of uniforms) allowed in one call; use fewer points per class")
    if out is not None and (not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != bool):
        raise ValueError(f"out must be a bool array of shape {shape}, got {getattr(out, 'shape', out)!r}")
    u = rng.random(shape, dtype=np.float32)
    return np.less(u, p.astype(np.float32)[:, :, None], out=out)


def sample_test_points(p, n_test: int, rng: np.random.Generator) -> np.ndarray:
    """A balanced test set of ``n_test`` points in total (``n_test / C`` per class), shape (C, K, n_test / C).

    Test points are fresh draws from the same frequencies; their noise is new, so memorised noise never
    helps at test time.
    """
    p = check_frequencies(p)
    n_test = int_at_least("n_test", n_test, 1)
    if n_test % p.shape[0]:
        raise ValueError(f"n_test must be divisible by the number of classes C={p.shape[0]}, got {n_test}")
    return sample_points(p, n_test // p.shape[0], rng)
