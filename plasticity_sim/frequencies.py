"""Feature frequencies of the feature/noise data model: the named frequency laws and their checks.

One home for the laws that both the theory engine (numpy, ``plasticity_sim.theory``) and the
feature/noise images of the real-training engine (``plasticity_sim.data.offline``) draw from, so the
theory chapters and the images use the same frequencies. numpy only: importing this module imports
neither torch nor any book part.

Source: DASH (Shin, Oh, Cho, Yun; NeurIPS 2024), Section 3, and the official notebook
``Discrete_Feature_Learning.ipynb`` (``get_train_data``).

Explained in: book/theory/01_data_model.ipynb
"""
from __future__ import annotations

import numbers
from typing import Callable

import numpy as np

__all__ = ["FREQUENCY_LAWS", "MAX_COUNT", "check_frequencies", "int_at_least", "sample_frequencies"]

FrequencyLaw = Callable[[np.random.Generator, int, int], np.ndarray]


# The largest count any argument may take: exact in float64 and far inside int64, so that no
# count overflows inside numpy or scipy (a larger value is a typo, not an experiment).
MAX_COUNT = 2 ** 53


def int_at_least(name: str, value, low: int) -> int:
    """``value`` as a Python int, or a ValueError naming it (bools, floats and values above
    ``MAX_COUNT`` are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if value > MAX_COUNT:
        raise ValueError(f"{name} must be an integer in [{low}, 2**53], got {value!r}")
    return int(value)


# --- frequency laws -------------------------------------------------------------------------------
# Each law returns a (C, K) float array in [0, 1]. Only "paper" uses the generator; the others are
# deterministic shapes that the data-model chapter compares with it.

def _paper(rng, n_classes, n_features, p_max=0.2):
    # The notebook: per class, np.sort(0.2 * np.random.rand(K))[::-1] (feature 0 is the most common).
    return np.sort(rng.random((n_classes, n_features)) * p_max, axis=1)[:, ::-1].copy()


def _uniform(rng, n_classes, n_features, p=0.1):
    return np.full((n_classes, n_features), float(p))


def _power_law(rng, n_classes, n_features, p_max=0.2, alpha=1.0):
    # Zipf-like: p_k = p_max * (k + 1) ** -alpha, a few common features and a long rare tail.
    p = p_max * np.arange(1, n_features + 1, dtype=float) ** (-float(alpha))
    return np.broadcast_to(p, (n_classes, n_features)).copy()


def _two_level(rng, n_classes, n_features, n_common=None, p_common=0.2, p_rare=0.02):
    # n_common frequent features (default K // 5) and the rest rare.
    n_common = max(1, n_features // 5) if n_common is None else int(n_common)
    if not 0 <= n_common <= n_features:
        raise ValueError(f"n_common must be in [0, {n_features}], got {n_common}")
    p = np.full(n_features, float(p_rare))
    p[:n_common] = float(p_common)
    return np.broadcast_to(p, (n_classes, n_features)).copy()


_LAWS = {"paper": _paper, "uniform": _uniform, "power_law": _power_law, "two_level": _two_level}
FREQUENCY_LAWS = tuple(_LAWS)


def check_frequencies(p, n_classes: int | None = None, n_features: int | None = None) -> np.ndarray:
    """Return ``p`` as a float (C, K) array after checking its shape and that it lies in [0, 1].
    """
    p = np.asarray(p, dtype=float)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 1:
        raise ValueError(f"frequencies must be a (C, K) array with C, K >= 1, got shape {p.shape}")
    if n_classes is not None and n_features is not None and p.shape != (n_classes, n_features):
        raise ValueError(f"frequencies must have shape {(n_classes, n_features)}, got {p.shape}")
    bad = ~((p >= 0.0) & (p <= 1.0))  # also catches NaN
    if bad.any():
        c, k = np.argwhere(bad)[0]
        raise ValueError(f"frequencies must lie in [0, 1]; p[{c}, {k}] = {float(p[c, k])!r}")
    return p


def sample_frequencies(n_classes: int, n_features: int, rng: np.random.Generator,
                       law: str | FrequencyLaw = "paper", **params) -> np.ndarray:
    """Feature frequencies ``p`` of shape (C, K) for a frequency law.

    Laws (``params`` go to the law):

    * ``"paper"`` (default, the DASH notebook): per class, ``K`` draws of Uniform(0, ``p_max``=0.2)
      sorted in descending order.
    * ``"uniform"``: every feature has the same frequency ``p`` (default 0.1).
    * ``"power_law"``: ``p_k = p_max * (k + 1) ** -alpha`` (defaults 0.2 and 1.0).
    * ``"two_level"``: ``n_common`` (default ``K // 5``) features at ``p_common`` (0.2), the rest at
      ``p_rare`` (0.02).
    * any callable ``law(rng, C, K) -> (C, K) array`` (``params`` are then not allowed).

    Explained in: book/theory/01_data_model.ipynb
    """
    n_classes = int_at_least("n_classes", n_classes, 1)
    n_features = int_at_least("n_features", n_features, 1)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    if callable(law):
        if params:
            raise ValueError(f"parameters {sorted(params)} are only for named laws, not for a callable law")
        p = law(rng, n_classes, n_features)
    elif law in _LAWS:
        try:
            p = _LAWS[law](rng, n_classes, n_features, **params)
        except TypeError as err:  # an unknown keyword for that law
            raise ValueError(f"bad parameters {sorted(params)} for frequency law {law!r}: {err}") from None
    else:
        raise ValueError(f"unknown frequency law {law!r}; choose one of {FREQUENCY_LAWS} or pass a callable")
    return check_frequencies(p, n_classes, n_features)
