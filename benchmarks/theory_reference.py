"""A straightforward per-point Python reference of the discrete learning process (for benchmarks only).

Same rules as ``plasticity_sim.theory.process`` (papers.md Section A.3-A.5), written the way the
official notebook is: plain Python loops over points, counts recomputed from scratch at every step.
It exists to check the fast engine and to measure how much faster the engine is; it is slow on
purpose and never imported by the package.
"""
from __future__ import annotations

import time


def _points(data):
    """data (C, K, n) bool array -> per class, a list of points, each a list of its feature indices."""
    C, K, n = data.shape
    return [[[k for k in range(K) if data[c, k, i]] for i in range(n)] for c in range(C)]


def _explained(point, learned_c, tau):
    return sum(1 for k in point if learned_c[k]) >= tau


def train(points, learned, active, gamma, tau):
    """TRAIN(L, A). points[c][i] = feature list; learned[c][k] bool (changed in place);
    active[c] = list of point indices. Returns the memorised indices per class."""
    C, K = len(learned), len(learned[0])
    active = [[i for i in active[c] if not _explained(points[c][i], learned[c], tau)] for c in range(C)]
    while True:
        best, best_count = None, -1
        for c in range(C):                       # ties: lowest c * K + k wins (strict >)
            counts = [0] * K
            for i in active[c]:
                for k in points[c][i]:
                    counts[k] += 1
            for k in range(K):
                if not learned[c][k] and counts[k] > best_count:
                    best, best_count = (c, k), counts[k]
        if best is None or best_count < gamma:
            return active                        # every point still active is memorised
        c, k = best
        learned[c][k] = True
        active[c] = [i for i in active[c] if not _explained(points[c][i], learned[c], tau)]


def expected_accuracy(test_points, learned, tau):
    """Expected test accuracy: explained -> correct, else correct with probability 1/C."""
    C = len(test_points)
    total = 0.0
    for c in range(C):
        hit = sum(1 for point in test_points[c] if _explained(point, learned[c], tau))
        p = hit / len(test_points[c])
        total += p + (1.0 - p) / C
    return total / C


def simulate(data, test_data, *, n_per_exp, n_exp, gamma, tau, method):
    """One method over n_exp experiments: lists of learned sets, active-at-start, memorised, accuracy,
    and the seconds each experiment took (training and scoring)."""
    points, test_points = _points(data), _points(test_data)
    C, K = data.shape[0], data.shape[1]
    n = n_per_exp // C
    learned = [[False] * K for _ in range(C)]
    memorised = [set() for _ in range(C)]
    out = {"features": [], "active_at_start": [], "n_memorised": [], "accuracy": [], "seconds": []}
    for j in range(1, n_exp + 1):
        t0 = time.perf_counter()
        seen = range(j * n)
        if method == "cold":
            learned = [[False] * K for _ in range(C)]
            active = [list(seen) for _ in range(C)]
        elif method == "warm":
            active = [list(range((j - 1) * n, j * n)) for _ in range(C)]
        elif method == "ideal":
            active = [list(seen) for _ in range(C)]
        else:
            raise ValueError(f"unknown method {method!r}")
        active = [[i for i in active[c] if not _explained(points[c][i], learned[c], tau)] for c in range(C)]
        out["active_at_start"].append(sum(len(a) for a in active))
        left = train(points, learned, active, gamma, tau)
        if method == "warm":
            for c in range(C):
                memorised[c].update(left[c])       # memorised forever
        else:
            memorised = [set(left[c]) for c in range(C)]
        out["features"].append([row[:] for row in learned])
        out["n_memorised"].append(sum(len(m) for m in memorised))
        out["accuracy"].append(expected_accuracy(test_points, learned, tau))
        out["seconds"].append(time.perf_counter() - t0)
    return out
