"""Fast exact engine for the discrete learning process (the rules of ``process.py``, vectorised).

**Classes never interact.** A class-``c`` point is explained by class-``c`` features only, so the
counts of class ``c`` change only when a class-``c`` feature is learned. The global greedy rule
(largest count over all classes, ties to the lowest flat index ``c*K + k``) therefore picks, within
each class, that class's largest count (ties to the lowest ``k``), and it stops exactly when every
class has stopped. The final learned set and memorised points are those of ``C`` independent one-class
runs; only the interleaving of the steps differs (``process.trace_training_run`` keeps it). So the
engine works on *lanes*: one lane = one class of one data set, many lanes at once (all classes, and in
``run_fig3`` all seeds).

Cold start is the expensive method (it retrains on everything); ``cold_start.ColdLanes`` simulates it
by guess-and-repair of the learning order. Warm, ideal, DASH-like and shrink & perturb keep the
learned set and run a few greedy steps per experiment with incremental counts (``KeepLanes`` here).

Explained in: book/theory/02_discrete_process.ipynb
"""
from __future__ import annotations

import numpy as np

from .cold_start import ColdLanes
from .lanes import Lanes, in_threads

__all__ = ["Lanes", "KeepLanes", "run_lanes", "in_threads"]


class KeepLanes:
    """Methods that keep the learned set L between experiments.

    ``pool="chunk"``: warm (active = new points not explained; memorised points stay memorised).
    ``pool="all"``: ideal / DASH-like (memorisation forgotten: active = every seen point not explained).
    ``forget_prob > 0`` (with ``pool="all"``): shrink & perturb, each learned feature forgotten with that
    probability before every experiment j >= 2, coins from ``rngs[lane // lanes_per_rng]``.
    """

    def __init__(self, data: Lanes, gamma, tau, *, pool, forget_prob=0.0, rngs=(), lanes_per_rng=1):
        self.data, self.gamma, self.tau = data, gamma, tau
        B, K = data.B, data.K
        self.B, self.K = B, K
        self.pool, self.forget_prob = pool, forget_prob
        self.rngs, self.lanes_per_rng = list(rngs), lanes_per_rng
        self.L = np.zeros((B, K), bool)
        self.nL = np.zeros(B * data.M, data.small)  # learned features held by each seen point
        self.U = np.zeros((B, K + 1), np.int64)   # active points: feature counts | number of points
        self.memorised = np.zeros(B, np.int64)
        self.active_at_start = np.zeros(B, np.int64)

    def _rows_sum(self, lanes, pids):
        """Per lane: summed feature vectors of the given points, and how many there are."""
        out = np.zeros((self.B, self.K + 1), np.int64)
        self.data.add_points(out, lanes, pids)
        return out

    def _forget(self, j):
        K, C, M = self.K, self.lanes_per_rng, self.data.M
        coins = np.concatenate([rng.random((C, K)) < self.forget_prob for rng in self.rngs])
        lanes, feats = np.nonzero(self.L & coins)
        if not len(lanes):
            return
        self.L[lanes, feats] = False
        _, pids = self.data.gather(lanes, feats, np.zeros(len(lanes), np.int64),
                                   self.data.upto[lanes, feats, j - 1])
        pids, lost = np.unique(pids, return_counts=True)
        before = self.nL[pids]
        self.nL[pids] = before - lost
        tau = self.tau[pids // M]
        back = (before >= tau) & (before - lost < tau)              # explained -> active again
        self.U += self._rows_sum(pids[back] // M, pids[back])

    def step(self, j, Xc32, m0):
        """Experiment ``j``: (forget,) add the chunk, then greedy steps with incremental counts."""
        K, tau, gamma, B, M = self.K, self.tau, self.gamma, self.B, self.data.M
        n = Xc32.shape[2]
        if self.forget_prob > 0 and j > 1:
            self._forget(j)
        nL = (self.L[:, None, :].astype(np.float32) @ Xc32)[:, 0, :]
        self.nL[(np.arange(B)[:, None] * M + np.arange(m0, m0 + n)[None, :]).ravel()] = nL.ravel()
        unexplained = (nL < tau[:, None]).astype(np.float32)
        new = np.empty((B, K + 1), np.int64)
        new[:, :K] = (Xc32 @ unexplained[:, :, None])[:, :, 0]
        new[:, K] = unexplained.sum(axis=1)
        self.U = new if self.pool == "chunk" else self.U + new
        self.active_at_start = self.U[:, K].copy()
        lo_chunk = j - 1 if self.pool == "chunk" else 0
        while True:
            counts = np.where(self.L, -1, self.U[:, :K])
            g = counts.argmax(axis=1)                    # ties -> lowest feature index
            lanes = np.flatnonzero(counts[np.arange(B), g] >= gamma)   # gamma per lane
            if not len(lanes):
                break
            g = g[lanes]
            self.L[lanes, g] = True
            req, pids = self.data.gather(lanes, g, self.data.upto[lanes, g, lo_chunk],
                                         self.data.upto[lanes, g, j])
            self.nL[pids] += 1
            hit = self.nL[pids] == tau[lanes[req]]       # just reached tau: explained now
            self.U -= self._rows_sum(lanes[req][hit], pids[hit])
        if self.pool == "chunk":
            self.memorised += self.U[:, K]
        else:
            self.memorised = self.U[:, K].copy()

    def outcome(self):
        """(learned (B, K) bool, memorised points per lane (B,))."""
        return self.L.copy(), self.memorised.copy()


def run_lanes(X, *, n_chunk, n_exp, gamma, tau, engines, progress=False, index=None):
    """Run every experiment for every engine spec on the lanes ``X`` (B, K, >= n_exp * n_chunk) bool.

    ``gamma`` and ``tau`` are numbers or one value per lane (lanes never interact, so one call can run
    several thresholds on shared data). ``index``: a ``Lanes(X, n_chunk, n_exp)`` built earlier, reused
    (the engines never modify it).

    ``engines``: dict key -> ("cold",) or ("keep", pool, forget_prob, rngs, lanes_per_rng).
    Returns key -> dict of arrays ``learned`` (n_exp, B, K), ``active`` and ``memorised`` (n_exp, B).
    """
    if index is None:
        data = Lanes(X, n_chunk, n_exp)
    elif index.X.shape != (X.shape[0], X.shape[1], n_exp * n_chunk) or index.upto.shape[2] != n_exp + 1:
        raise ValueError(f"index was built for lanes {index.X.shape} and {index.upto.shape[2] - 1} "
                         f"experiments, not {X.shape[:2]} x {n_exp} experiments of {n_chunk} points")
    else:
        data = index
    B, K = data.B, data.K
    gamma = np.broadcast_to(np.asarray(gamma, np.int64), (B,)).copy()
    tau = np.broadcast_to(np.asarray(tau, np.int64), (B,)).copy()
    sims = {}
    for key, spec in engines.items():
        if spec[0] == "cold":
            sims[key] = ColdLanes(data, gamma, tau)
        else:
            _, pool, forget_prob, rngs, per = spec
            sims[key] = KeepLanes(data, gamma, tau, pool=pool, forget_prob=forget_prob,
                                  rngs=rngs, lanes_per_rng=per)
    keep = any(isinstance(sim, KeepLanes) for sim in sims.values())   # they multiply with a float chunk
    out = {key: {"learned": np.zeros((n_exp, B, K), bool), "active": np.zeros((n_exp, B), np.int64),
                 "memorised": np.zeros((n_exp, B), np.int64)} for key in engines}
    steps = range(1, n_exp + 1)
    if progress:
        from tqdm.auto import tqdm
        steps = tqdm(steps, desc="experiments")
    for j in steps:
        m0 = (j - 1) * n_chunk
        Xc32 = data.X[:, :, m0:m0 + n_chunk].astype(np.float32) if keep else None
        for key, sim in sims.items():
            sim.step(j, Xc32, m0)
            learned, memorised = sim.outcome()
            out[key]["learned"][j - 1] = learned
            out[key]["memorised"][j - 1] = memorised
            out[key]["active"][j - 1] = (j * n_chunk if isinstance(sim, ColdLanes)
                                         else sim.active_at_start)
    return out
