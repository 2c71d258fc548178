"""Fast exact engine for the discrete learning process (the rules of ``process.py``, vectorised).

Two facts make the paper's process cheap to simulate exactly.

1. **Classes never interact.** A class-``c`` point is explained by class-``c`` features only, so the
   counts of class ``c`` change only when a class-``c`` feature is learned. The global greedy rule
   (largest count over all classes, ties to the lowest flat index ``c*K + k``) therefore picks, within
   each class, that class's largest count (ties to the lowest ``k``), and it stops exactly when every
   class has stopped. The final learned set and memorised points are those of ``C`` independent
   one-class runs; only the interleaving of the steps differs (``process.trace_training_run`` keeps
   it). So the engine works on *lanes*: one lane = one class of one data set, many lanes at once
   (all classes, and in ``run_fig3`` all seeds).
2. **Cold start at experiment j is TRAIN(empty, T_1..j)** (Prop. R1), and its greedy order changes
   little from j-1 to j. The cold engine keeps the previous order as a guess, checks every step of the
   guess at once against the pooled counts, and repairs only where the greedy rule disagrees. It
   stores for each point its *explaining feature* (the learned feature that brought it to ``tau``;
   ``K`` = none, i.e. memorised) and ``G[w]`` = sum of the feature vectors of the points explained by
   ``w``. Sorting the rows of ``G`` by the learning order gives, by suffix sums, the counts the greedy
   rule sees after every step. Moving or inserting one feature ``g`` in the order can only change
   the explaining feature of points that contain ``g``, so a repair touches few points.

Warm, ideal, DASH-like and shrink & perturb keep the learned set and run a few greedy steps per
experiment with incremental counts (``KeepLanes``).

Explained in: book/theory/02_discrete_process.ipynb
"""
from __future__ import annotations

import numpy as np

__all__ = ["Postings", "ColdLanes", "KeepLanes", "run_lanes"]


class Postings:
    """For every lane ``b`` and feature ``k``: the sorted indices of the points containing ``k``.

    ``upto[b, k, j]`` = number of those points in the first ``j`` chunks.
    """

    def __init__(self, X: np.ndarray, n_chunk: int, n_exp: int):
        B, K, M = X.shape
        flat = np.flatnonzero(X)                      # sorted by (lane, feature, point)
        self.point = (flat % M).astype(np.int32)
        lane_feature = flat // M
        chunk = self.point // n_chunk
        per_chunk = np.bincount(lane_feature * n_exp + chunk, minlength=B * K * n_exp)
        self.upto = np.zeros((B, K, n_exp + 1), np.int64)
        np.cumsum(per_chunk.reshape(B, K, n_exp), axis=2, out=self.upto[:, :, 1:])
        lengths = self.upto[:, :, -1].ravel()
        self.start = (np.cumsum(lengths) - lengths).reshape(B, K)

    def gather(self, lanes, features, lo, hi):
        """Points ``lo:hi`` of the lists ``(lanes[r], features[r])``: (request id, point index)."""
        lengths = (hi - lo).astype(np.int64)
        starts = self.start[lanes, features] + lo
        offsets = np.cumsum(lengths) - lengths
        request = np.repeat(np.arange(len(lengths)), lengths)
        idx = np.repeat(starts - offsets, lengths) + np.arange(lengths.sum())
        return request, self.point[idx]


def _columns(X, lanes, points):
    """Feature vectors of the given points as a (len(points), K) bool array."""
    return X[lanes[:, None], np.arange(X.shape[1])[None, :], points[:, None]]


class ColdLanes:
    """Cold start: TRAIN(empty, all points seen so far), by guess-and-repair of the learning order."""

    def __init__(self, X, post, gamma, tau):
        self.X, self.post, self.gamma, self.tau = X, post, gamma, tau
        B, K, M = X.shape
        self.B, self.K = B, K
        self.chains = [[] for _ in range(B)]            # learning order per lane
        self.rank = np.full((B, K + 1), K + 1, np.int64)  # position 1..F of each feature; K+1 = unlearned
        # position -> row of G: chain positions 1..F, zero row (K+1) elsewhere, 'none' row K at K+1
        self.inv = np.full((B, K + 2), K + 1, np.int64)
        self.inv[:, K + 1] = K
        self.w = np.full((B, M), K, np.int64)            # explaining feature of each point (K = none)
        self.G = np.zeros((B, K + 2, K + 1), np.int64)   # [lane, explaining feature, feature | count]

    def _set_chain(self, b, chain):
        K = self.K
        self.chains[b] = chain
        self.rank[b, :K] = K + 1
        self.rank[b, chain] = np.arange(1, len(chain) + 1)
        self.inv[b, 1:K + 1] = K + 1
        self.inv[b, 1:len(chain) + 1] = chain

    def _add_to_G(self, lanes, w_old, w_new, rows):
        """Move points (feature vectors ``rows``) from rows ``w_old`` to ``w_new`` of G (None = absent)."""
        K, size = self.K, self.G.size
        r, k = np.nonzero(rows)
        delta = np.zeros(size, np.int64)
        for w, sign in ((w_new, 1), (w_old, -1)):
            if w is None:
                continue
            base = (lanes * (K + 2) + w) * (K + 1)
            keys = np.concatenate([base[r] + k, base + K])   # feature entries and the point count
            delta += sign * np.bincount(keys, minlength=size)
        self.G += delta.reshape(self.G.shape)

    def step(self, j, Xc32, m0):
        """Experiment ``j``: add chunk ``j`` under the current order, then repair the order."""
        K, tau = self.K, self.tau
        n = Xc32.shape[2]
        # Chunk points: t = first position at which >= tau of their features are learned.
        le = (self.rank[:, None, :K] <= np.arange(K + 1)[None, :, None]).astype(np.float32)
        t = ((le @ Xc32) < tau).sum(axis=1)              # (B, n) in 1..K+1, K+1 = never
        w = np.take_along_axis(self.inv, t, axis=1)
        self.w[:, m0:m0 + n] = w
        lanes = np.repeat(np.arange(self.B), K)
        feats = np.tile(np.arange(K), self.B)
        req, pts = self.post.gather(lanes, feats, self.post.upto[:, :, j - 1].ravel(),
                                    self.post.upto[:, :, j].ravel())
        lane_of = lanes[req]
        keys = np.concatenate([(lane_of * (K + 2) + self.w[lane_of, pts]) * (K + 1) + feats[req],
                               ((np.arange(self.B)[:, None] * (K + 2) + w) * (K + 1) + K).ravel()])
        self.G += np.bincount(keys, minlength=self.G.size).reshape(self.G.shape)
        while True:
            ok, choice, val = self._check()
            bad = np.flatnonzero(~ok.all(axis=1))
            if not len(bad):
                break
            self._repair(j, m0 + n, bad, ok, choice, val)

    def _check(self):
        """Replay every step of the current order at once: is it what the greedy rule would do?"""
        K, gamma = self.K, self.gamma
        H = self.G[np.arange(self.B)[:, None], self.inv]           # rows by position 0..K+1
        A = np.cumsum(H[:, ::-1], axis=1)[:, ::-1]                  # A[:, q] = rows q.. summed
        learned = self.rank[:, None, :K] <= np.arange(K + 1)[None, :, None]
        counts = np.where(learned, -1, A[:, 1:, :K])               # after s = 0..K learned features
        choice = counts.argmax(axis=2)                              # ties -> lowest feature index
        val = np.take_along_axis(counts, choice[:, :, None], axis=2)[:, :, 0]
        F = np.array([len(c) for c in self.chains])[:, None]
        s = np.arange(K + 1)[None, :]
        ok = np.where(s < F, (val >= gamma) & (choice == self.inv[:, 1:]),
                      np.where(s == F, val < gamma, True))
        return ok, choice, val

    def _repair(self, j, m, bad, ok, choice, val):
        """Fix the first wrong step of each bad lane, and later independent ones in the same pass."""
        K, gamma = self.K, self.gamma
        rank_old = self.rank.copy()
        moves = []   # (lane, g, s, e): g becomes step s+1; points explained at positions s+1..e may change
        cuts = []    # (lane, s): the order is cut after s steps
        for b in bad.tolist():
            chain = list(self.chains[b])
            edits, limit = [], 0
            for s in np.flatnonzero(~ok[b]).tolist():
                if s < limit:
                    continue  # inside an earlier repair of this pass
                if val[b, s] < gamma:
                    edits.append((s, None, None))
                    break
                g = int(choice[b, s])
                e = int(rank_old[b, g])
                edits.append((s, g, e))
                if e > K:     # g was never learned: inserted, every later step changes
                    break
                limit = e     # steps after e see the same learned set as before
            for s, g, e in reversed(edits):  # positions of earlier edits stay valid
                if g is None:
                    del chain[s:]
                    cuts.append((b, s))
                else:
                    if e <= K:
                        chain.pop(e - 1)
                    chain.insert(s, g)
                    moves.append((b, g, s, e))
            self._set_chain(b, chain)
        lanes, points = [], []
        if moves:
            mb, mg, ms, me = (np.array(v) for v in zip(*moves))
            req, pts = self.post.gather(mb, mg, np.zeros(len(mb), np.int64), self.post.upto[mb, mg, j])
            lane_of = mb[req]
            r_old = rank_old[lane_of, self.w[lane_of, pts]]
            keep = (r_old > ms[req]) & (r_old <= me[req])
            lanes.append(lane_of[keep])
            points.append(pts[keep])
        for b, s in cuts:
            wb = self.w[b, :m]
            pts = np.flatnonzero((rank_old[b, wb] > s) & (wb < K))
            lanes.append(np.full(len(pts), b))
            points.append(pts)
        lanes = np.concatenate(lanes)
        points = np.concatenate(points)
        rows = _columns(self.X, lanes, points)
        # New explaining feature: the tau-th smallest position among the point's features.
        pos = np.where(rows, self.rank[lanes, :K], K + 1)
        t = np.partition(pos, self.tau - 1, axis=1)[:, self.tau - 1]
        w_new = self.inv[lanes, t]
        self._add_to_G(lanes, self.w[lanes, points], w_new, rows)
        self.w[lanes, points] = w_new

    def outcome(self):
        """(learned (B, K) bool, memorised points per lane (B,))."""
        return self.rank[:, :self.K] <= self.K, self.G[:, self.K, self.K].copy()


class KeepLanes:
    """Methods that keep the learned set L between experiments.

    ``pool="chunk"``: warm (active = new points not explained; memorised points stay memorised).
    ``pool="all"``: ideal / DASH-like (memorisation forgotten: active = every seen point not explained).
    ``forget_prob > 0`` (with ``pool="all"``): shrink & perturb, each learned feature forgotten with that
    probability before every experiment j >= 2, coins from ``rngs[lane // lanes_per_rng]``.
    """

    def __init__(self, X, post, gamma, tau, *, pool, forget_prob=0.0, rngs=(), lanes_per_rng=1):
        self.X, self.post, self.gamma, self.tau = X, post, gamma, tau
        B, K, M = X.shape
        self.B, self.K = B, K
        self.pool, self.forget_prob = pool, forget_prob
        self.rngs, self.lanes_per_rng = list(rngs), lanes_per_rng
        self.L = np.zeros((B, K), bool)
        self.nL = np.zeros((B, M), np.int16)   # learned features in each seen point
        self.U = np.zeros((B, K + 1), np.int64)  # active points: feature counts | number of points
        self.memorised = np.zeros(B, np.int64)
        self.active_at_start = np.zeros(B, np.int64)

    def _rows_sum(self, lanes, points):
        """Per lane: summed feature vectors of the given points, and how many there are."""
        K = self.K
        r, k = np.nonzero(_columns(self.X, lanes, points))
        out = np.bincount(lanes[r] * (K + 1) + k, minlength=self.B * (K + 1)).reshape(self.B, K + 1)
        out[:, K] = np.bincount(lanes, minlength=self.B)
        return out

    def _forget(self, j):
        K, C = self.K, self.lanes_per_rng
        coins = np.concatenate([rng.random((C, K)) < self.forget_prob for rng in self.rngs])
        lanes, feats = np.nonzero(self.L & coins)
        if not len(lanes):
            return
        self.L[lanes, feats] = False
        req, pts = self.post.gather(lanes, feats, np.zeros(len(lanes), np.int64),
                                    self.post.upto[lanes, feats, j - 1])
        flat, lost = np.unique(lanes[req] * self.X.shape[2] + pts, return_counts=True)
        lane_of, pts = np.divmod(flat, self.X.shape[2])
        before = self.nL[lane_of, pts]
        self.nL[lane_of, pts] = before - lost
        back = (before >= self.tau) & (before - lost < self.tau)    # explained -> active again
        self.U += self._rows_sum(lane_of[back], pts[back])

    def step(self, j, Xc32, m0):
        K, tau, gamma = self.K, self.tau, self.gamma
        n = Xc32.shape[2]
        if self.forget_prob > 0 and j > 1:
            self._forget(j)
        nL = (self.L[:, None, :].astype(np.float32) @ Xc32)[:, 0, :]
        self.nL[:, m0:m0 + n] = nL
        unexplained = (nL < tau).astype(np.float32)
        new = np.empty((self.B, K + 1), np.int64)
        new[:, :K] = (Xc32 @ unexplained[:, :, None])[:, :, 0]
        new[:, K] = unexplained.sum(axis=1)
        self.U = new if self.pool == "chunk" else self.U + new
        self.active_at_start = self.U[:, K].copy()
        lo_chunk = j - 1 if self.pool == "chunk" else 0
        while True:
            counts = np.where(self.L, -1, self.U[:, :K])
            g = counts.argmax(axis=1)                    # ties -> lowest feature index
            lanes = np.flatnonzero(counts[np.arange(self.B), g] >= gamma)
            if not len(lanes):
                break
            g = g[lanes]
            self.L[lanes, g] = True
            req, pts = self.post.gather(lanes, g, self.post.upto[lanes, g, lo_chunk],
                                        self.post.upto[lanes, g, j])
            lane_of = lanes[req]
            self.nL[lane_of, pts] += 1
            hit = self.nL[lane_of, pts] == tau           # just reached tau: explained now
            self.U -= self._rows_sum(lane_of[hit], pts[hit])
        if self.pool == "chunk":
            self.memorised += self.U[:, K]
        else:
            self.memorised = self.U[:, K].copy()

    def outcome(self):
        return self.L.copy(), self.memorised.copy()


def run_lanes(X, *, n_chunk, n_exp, gamma, tau, engines, progress=False):
    """Run every experiment for every engine spec on the lanes ``X`` (B, K, >= n_exp * n_chunk) bool.

    ``engines``: dict key -> ("cold",) or ("keep", pool, forget_prob, rngs, lanes_per_rng).
    Returns key -> dict of arrays ``learned`` (n_exp, B, K), ``active`` and ``memorised`` (n_exp, B).
    """
    X = X[:, :, :n_exp * n_chunk]
    B, K, _ = X.shape
    post = Postings(X, n_chunk, n_exp)
    sims = {}
    for key, spec in engines.items():
        if spec[0] == "cold":
            sims[key] = ColdLanes(X, post, gamma, tau)
        else:
            _, pool, forget_prob, rngs, per = spec
            sims[key] = KeepLanes(X, post, gamma, tau, pool=pool, forget_prob=forget_prob,
                                  rngs=rngs, lanes_per_rng=per)
    out = {key: {"learned": np.zeros((n_exp, B, K), bool), "active": np.zeros((n_exp, B), np.int64),
                 "memorised": np.zeros((n_exp, B), np.int64)} for key in engines}
    steps = range(1, n_exp + 1)
    if progress:
        from tqdm.auto import tqdm
        steps = tqdm(steps, desc="experiments")
    for j in steps:
        m0 = (j - 1) * n_chunk
        Xc32 = X[:, :, m0:m0 + n_chunk].astype(np.float32)
        for key, sim in sims.items():
            sim.step(j, Xc32, m0)
            learned, memorised = sim.outcome()
            out[key]["learned"][j - 1] = learned
            out[key]["memorised"][j - 1] = memorised
            out[key]["active"][j - 1] = (j * n_chunk if isinstance(sim, ColdLanes)
                                         else sim.active_at_start)
    return out
