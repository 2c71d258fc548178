"""Bounds and predictions that the theorems chapter checks against simulation.

The DASH paper's own theorem statements could not be retrieved; the propositions R1-R5 stated in the
theorems chapter are *reconstructed* from the verified model, and every function here says which one
it serves. Notation: ``n`` = new points per class per experiment (``n_per_exp / C``), ``p`` a feature
frequency, ``gamma`` the learning threshold, ``J`` experiments.

Explained in: book/theory/04_theorems.ipynb
"""
from __future__ import annotations

import numpy as np

from .model import int_at_least, check_frequencies

__all__ = ["binomial_tail", "chernoff_tail_bound", "warm_learn_bound", "cold_total_cost",
           "explain_probability", "population_accuracy", "set_agreement", "subset_rate"]


def _probabilities(p) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    bad = ~((p >= 0) & (p <= 1))
    if bad.any():
        raise ValueError(f"probabilities must lie in [0, 1], got {float(p[bad].ravel()[0])!r}")
    return p


def binomial_tail(n: int, p, gamma: int) -> np.ndarray:
    """Exact P(Bin(n, p) >= gamma), vectorised over ``p``.

    R2: the warm learner can add feature (c, k) at experiment j >= 2 only if this many of the n new
    class-c points contain it. Uses ``scipy.stats.binom`` (imported here only).

    Explained in: book/theory/04_theorems.ipynb
    """
    from scipy.stats import binom

    n = int_at_least("n", n, 0)
    gamma = int_at_least("gamma", gamma, 0)
    return binom.sf(gamma - 1, n, _probabilities(p))


def chernoff_tail_bound(n: int, p, gamma: int) -> np.ndarray:
    """Multiplicative Chernoff bound on P(Bin(n, p) >= gamma): exp(-(gamma - np)^2 / (gamma + np)).

    Valid when ``n p < gamma`` (with (1 + d) n p = gamma it is exp(-d^2 np / (2 + d))); 1 elsewhere.
    Source: Proposition R2 of the theorems chapter (reconstructed, not quoted from the paper).

    Explained in: book/theory/04_theorems.ipynb
    """
    n = int_at_least("n", n, 0)
    gamma = int_at_least("gamma", gamma, 1)
    mu = n * _probabilities(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.exp(-((gamma - mu) ** 2) / (gamma + mu))
    return np.where(mu < gamma, bound, 1.0)


def warm_learn_bound(p, *, n: int, gamma: int, n_exp: int, kind: str = "exact") -> np.ndarray:
    """R2, the warm-start ceiling: P(warm ever learns a feature of frequency p in n_exp experiments).

    At every experiment the warm count of a feature is at most the number of *new* class-c points
    holding it, X ~ Bin(n, p), however large the pooled data grows. A union bound over experiments
    gives ``min(1, n_exp * P(X >= gamma))``; ``kind="chernoff"`` uses ``chernoff_tail_bound`` instead of
    the exact tail.

    Explained in: book/theory/04_theorems.ipynb
    """
    n_exp = int_at_least("n_exp", n_exp, 1)
    if kind == "exact":
        tail = binomial_tail(n, p, gamma)
    elif kind == "chernoff":
        tail = chernoff_tail_bound(n, p, gamma)
    else:
        raise ValueError(f"kind must be 'exact' or 'chernoff', got {kind!r}")
    return np.minimum(1.0, n_exp * tail)


def cold_total_cost(n_per_exp: int, n_exp: int) -> int:
    """R1: cold start trains on every point seen so far, j * N at experiment j: N J (J + 1) / 2 in all.

    Explained in: book/theory/04_theorems.ipynb
    """
    n_per_exp = int_at_least("n_per_exp", n_per_exp, 1)
    n_exp = int_at_least("n_exp", n_exp, 1)
    return n_per_exp * n_exp * (n_exp + 1) // 2


def explain_probability(p, features, tau: int) -> np.ndarray:
    """P(a fresh point of each class holds >= tau learned features): shape ``features.shape[:-1]``.

    ``p`` (C, K) frequencies, ``features`` (..., C, K) bool. The number of learned features a point
    holds is a sum of independent Bernoulli(p_k) over the learned k (Poisson-binomial); a dynamic
    programme over the K features tracks P(count = 0..tau-1).
    """
    p = check_frequencies(p)
    features = np.asarray(features, dtype=bool)
    if features.shape[-2:] != p.shape:
        raise ValueError(f"features must have shape (..., {p.shape[0]}, {p.shape[1]}), got {features.shape}")
    tau = int_at_least("tau", tau, 1)
    if tau > p.shape[1]:  # no point can hold more than K features
        raise ValueError(f"tau must satisfy 1 <= tau <= K={p.shape[1]}, got {tau}")
    q = np.where(features, p, 0.0)                         # unlearned features never count
    below = np.zeros(features.shape[:-1] + (tau,))
    below[..., 0] = 1.0                                     # P(count = c) for c < tau
    for k in range(p.shape[1]):
        pk = q[..., k, None]
        shifted = np.concatenate([np.zeros_like(below[..., :1]), below[..., :-1]], axis=-1)
        below = below * (1 - pk) + shifted * pk
    return 1.0 - below.sum(axis=-1)


def population_accuracy(p, features, tau: int) -> np.ndarray:
    """R4: expected accuracy on the whole test distribution (no test sample): shape ``features.shape[:-2]``.

    ``mean_c [P_c + (1 - P_c) / C]`` with ``P_c = explain_probability``. Enlarging L can only raise
    every ``P_c``, so accuracy is monotone in L.

    Explained in: book/theory/04_theorems.ipynb
    """
    P = explain_probability(p, features, tau)
    C = P.shape[-1]
    return (P + (1.0 - P) / C).mean(axis=-1)


def set_agreement(features_a, features_b) -> np.ndarray:
    """Whether two learned sets are equal, per leading index: ``(..., C, K)`` x2 -> ``(...)`` bool.

    R5: ideal's set equals cold's in most experiments (``set_agreement(ideal, cold).mean()``).

    Explained in: book/theory/04_theorems.ipynb
    """
    a, b = np.asarray(features_a, bool), np.asarray(features_b, bool)
    if a.shape != b.shape:
        raise ValueError(f"feature arrays must have the same shape, got {a.shape} and {b.shape}")
    return (a == b).all(axis=(-2, -1))


def subset_rate(features_a, features_b) -> float:
    """Fraction of leading indices where set a is a subset of set b (e.g. warm within cold, R2-R3).

    Explained in: book/theory/04_theorems.ipynb
    """
    a, b = np.asarray(features_a, bool), np.asarray(features_b, bool)
    if a.shape != b.shape:
        raise ValueError(f"feature arrays must have the same shape, got {a.shape} and {b.shape}")
    return float((~a | b).all(axis=(-2, -1)).mean())
