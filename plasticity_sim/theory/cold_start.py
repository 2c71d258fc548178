"""Cold start, simulated exactly without retraining from scratch at every experiment.

Cold start at experiment j is TRAIN(empty, T_1..j) (Prop. R1), and its greedy learning order changes
little from j-1 to j. ``ColdLanes`` keeps the previous order as a guess, checks every step of the guess
at once against the pooled counts, and repairs only where the greedy rule disagrees.

It stores for each point its *explaining feature* ``w`` (the learned feature that brought it to
``tau``; ``K`` = none, i.e. memorised) and ``G[w]`` = the summed feature vectors of the points
explained by ``w``. Sorting the rows of ``G`` by the learning order gives, by suffix sums, the counts
the greedy rule sees after every step. Moving feature ``g`` earlier in the order (or inserting it)
can only change the explaining feature of points that contain ``g``, so a repair touches few points;
cutting the order makes the points explained after the cut memorised. Those few points are found with
word operations on bitsets (points holding ``g``, points explained by each feature), not by scanning
``g``'s whole posting list.
"""
from __future__ import annotations

import numpy as np

from .lanes import Lanes

__all__ = ["ColdLanes"]


class ColdLanes:
    """Cold start: TRAIN(empty, all points seen so far), by guess-and-repair of the learning order.
    """

    def __init__(self, data: Lanes, gamma, tau):
        self.data, self.gamma, self.tau = data, gamma, tau
        B, K, M = data.B, data.K, data.M
        self.B, self.K = B, K
        self.chains = [[] for _ in range(B)]              # learning order per lane
        self.F = np.zeros(B, np.int64)                    # its length
        self.rank = np.full((B, K + 1), K + 1, np.int64)  # position 1..F of each feature; K+1 = unlearned
        # position -> row of G: chain positions 1..F, zero row (K+1) elsewhere, 'none' row K at K+1
        self.inv = np.full((B, K + 2), K + 1, np.int64)
        self.inv[:, K + 1] = K
        self.w = np.full(B * M, K, data.small)            # explaining feature of each point (K = none)
        self.n_held = np.zeros(B * M, data.small)         # learned features held (kept for memorised)
        self.G = np.zeros((B, K + 2, K + 1), np.int64)    # [lane, explaining feature, feature | count]
        # the same grouping as bitsets over points (row K: memorised, row K+1: always empty), so a
        # repair finds the few points it can change with word operations instead of posting lists
        self.wbits = np.zeros((B, K + 2, data.W), np.uint64)

    def _set_chains(self, lanes, chains):
        """New learning orders for ``lanes``: update rank, inv and F."""
        K = self.K
        for b, chain in zip(lanes, chains):
            self.chains[b] = chain
        lengths = np.array([len(c) for c in chains], np.int64)
        lanes = np.array(lanes, np.int64)
        self.F[lanes] = lengths
        flat_lane = np.repeat(lanes, lengths)
        feats = np.array([f for c in chains for f in c], np.int64)
        pos = np.arange(len(feats)) - np.repeat(np.cumsum(lengths) - lengths, lengths) + 1
        self.rank[lanes, :K] = K + 1
        self.rank[flat_lane, feats] = pos
        self.inv[lanes, 1:K + 1] = K + 1
        self.inv[flat_lane, pos] = feats

    def _regroup(self, lanes, pids, w_old, w_new):
        """Give points new explaining features; G moves their full feature vectors between rows."""
        moved = np.flatnonzero(w_old != w_new)
        lanes, pids, w_old, w_new = lanes[moved], pids[moved], w_old[moved], w_new[moved]
        rows_old, rows_new = lanes * (self.K + 2) + w_old, lanes * (self.K + 2) + w_new
        self.data.add_points(self.G.reshape(-1, self.K + 1), rows_new, pids, rows_old)
        self.w[pids] = w_new
        i = pids - lanes * self.data.M
        self._flip_bits(np.concatenate([rows_old, rows_new]), np.concatenate([i, i]))

    def _flip_bits(self, rows, i):
        """Toggle bit i (a point's index in its lane) in rows ``lane * (K+2) + w`` of ``wbits``; the
        points of one call are distinct."""
        np.bitwise_xor.at(self.wbits.reshape(-1), rows * self.data.W + (i >> 6),
                          np.left_shift(np.uint64(1), (i & 63).astype(np.uint64)))

    def _candidates(self, mb, mg, seg, insert, m):
        """Points that moving ``g`` earlier can affect, as (request, pid), via bitsets.

        A point that does not hold g learns its own features in the same order, only one step later:
        unchanged. A point explained by a segment feature and holding g may now be explained earlier.
        A point explained by g itself changes only if it holds a segment feature (else g still
        completes it). Memorised points holding g matter only when g is new (an insertion). ``seg`` is
        padded with K+1, an always-empty row.
        """
        K, words = self.K, -(-m // 64)
        lane = mb[:, None]
        P = self.data.bits[:, :, :words]
        hold_seg = np.bitwise_or.reduce(P[lane, np.minimum(seg, K)], axis=1)  # row K of bits is empty
        wb = self.wbits[:, :, :words]
        cand = (np.bitwise_or.reduce(wb[lane, seg], axis=1) | (wb[mb, mg] & hold_seg)
                | np.where(insert[:, None], wb[mb, K], np.uint64(0))) & P[mb, mg]
        flat = cand.view(np.uint8).ravel()
        at = np.flatnonzero(flat)                                     # non-empty bytes
        bit = np.flatnonzero(np.unpackbits(flat[at], bitorder="little"))
        at = at[bit >> 3]
        req = at // (words * 8)
        return req, mb[req] * self.data.M + (at - req * (words * 8)) * 8 + (bit & 7)

    def step(self, j, Xc32, m0):
        """Experiment ``j``: add chunk ``j`` under the current order, then repair the order.

        (``Xc32`` is the float copy of the chunk that ``KeepLanes`` multiplies with; not needed here.)
        """
        K, tau, B, M, n = self.K, self.tau, self.B, self.data.M, self.data.n_chunk
        # Chunk points: explained at the first position t where >= tau of their features are learned
        # (K+1: never). Running counts of held features along each lane's order, up to its longest.
        F = int(self.F.max())
        padded = np.zeros((B, K + 2, n), np.uint8)            # rows K, K+1: the order's padding
        padded[:, :K] = self.data.X[:, :, m0:m0 + n]
        held = padded[np.arange(B)[None, :], self.inv[:, 1:F + 1].T]   # (F, B, n): position q+1's feature
        if K >= 255:
            held = held.astype(np.int64)
        for q in range(1, F):   # running sums, row by row (numpy's cumsum over this axis is 5x slower)
            np.add(held[q - 1], held[q], out=held[q])
        chunk = (np.arange(B)[:, None] * M + np.arange(m0, m0 + n)[None, :]).ravel()
        if F:
            below = held < tau[None, :, None]
            t = below.view(np.uint8).sum(axis=0, dtype=np.uint8 if F < 255 else np.int64).astype(np.int64) + 1
            t[below[F - 1]] = K + 1                            # never reaches tau: memorised
            self.n_held[chunk] = held[F - 1].ravel()
        else:
            t = np.full((B, n), K + 1)
            self.n_held[chunk] = 0
        w = np.take_along_axis(self.inv, t, axis=1).ravel()
        self.w[chunk] = w
        # G[b, w] += feature vectors of the chunk points explained by w
        rows = np.repeat(np.arange(B) * (K + 2), n) + w
        self.data.add_points(self.G.reshape(-1, K + 1), rows, chunk)
        self._flip_bits(rows, np.tile(np.arange(m0, m0 + n), B))
        todo = np.arange(B)
        while len(todo):
            todo = self._check_and_repair(m0 + n, todo)

    def _check_and_repair(self, m, lanes):
        """Replay every step of the current orders at once; repair lanes where the greedy rule disagrees.

        ``m``: points seen so far in each lane. Returns the repaired lanes (to check again).
        """
        K, gamma = self.K, self.gamma[lanes][:, None]
        F = self.F[lanes][:, None]
        Fm = int(F.max())            # steps after the longest order hold nothing to check
        rows = np.concatenate([self.inv[lanes, :Fm + 1], np.full((len(lanes), 1), K)], axis=1)
        H = self.G[lanes[:, None], rows]                            # rows by position 0..Fm, memorised
        A = np.cumsum(H[:, ::-1], axis=1)[:, ::-1]                  # A[:, q] = rows q.. summed
        learned = self.rank[lanes, None, :K] <= np.arange(Fm + 1)[None, :, None]
        counts = np.where(learned, -1, A[:, 1:, :K])               # after s = 0..Fm learned features
        choice = counts.argmax(axis=2)                              # ties -> lowest feature index
        val = counts.max(axis=2)
        s = np.arange(Fm + 1)[None, :]
        ok = np.where(s < F, (val >= gamma) & (choice == self.inv[lanes, 1:Fm + 2]),
                      np.where(s == F, val < gamma, True))
        rows, steps = np.nonzero(~ok)
        if not len(rows):
            return rows
        stops = (val[rows, steps] < gamma[rows, 0]).tolist()
        picks = choice[rows, steps].tolist()
        rank_old = self.rank.copy()
        moves, cuts, edited, chains = [], [], [], []   # (lane, g, s, e, segment) / (lane, s)
        fails = {}
        for r, st, stop, g in zip(rows.tolist(), steps.tolist(), stops, picks):
            fails.setdefault(r, []).append((st, stop, g))
        for r, lane_fails in fails.items():
            b = int(lanes[r])
            old = self.chains[b]
            edits, limit = [], 0
            for st, stop, g in lane_fails:
                if st < limit:
                    continue  # inside an earlier repair of this pass
                if stop:
                    edits.append((st, None, None))
                    break
                e = int(rank_old[b, g])
                edits.append((st, g, e))
                if e > K:     # g was never learned: inserted, every later step changes
                    break
                limit = e     # steps from e on see the same learned sets as before
            chain = list(old)
            for st, g, e in reversed(edits):  # positions of earlier edits stay valid
                if g is None:
                    del chain[st:]
                    cuts.append((b, st))
                else:
                    # g becomes step st+1; the features of old steps st+1..e-1 (to the end if g is new)
                    # shift one step later; points explained in between may change explaining feature
                    moves.append((b, g, st, e, old[st:e - 1] if e <= K else old[st:]))
                    if e <= K:
                        chain.pop(e - 1)
                    chain.insert(st, g)
            edited.append(b)
            chains.append(chain)
        self._set_chains(edited, chains)
        if moves:
            self._move(m, moves, rank_old)
        for b, st in cuts:
            self._cut(b, st, m, rank_old)
        return np.array(edited, np.int64)

    def _move(self, m, moves, rank_old):
        """Moves/insertions: only points containing g and explained at an old step in (s, e] can change."""
        K = self.K
        mb, mg, ms, me = (np.array([mv[i] for mv in moves], np.int64) for i in range(4))
        seglen = np.array([len(mv[4]) for mv in moves], np.int64)
        seg = np.zeros((len(moves), max(1, int(seglen.max()))), np.int64)  # old steps s+1.., padded
        valid = np.arange(seg.shape[1])[None, :] < seglen[:, None]
        seg[valid] = [f for mv in moves for f in mv[4]]
        old_step = rank_old[mb]                                     # (n_moves, K+1) by explaining feature
        req, pids = self._candidates(mb, mg, np.where(valid, seg, K + 1), me > K, m)
        w_old = self.w[pids]
        t_old = old_step.ravel()[req * (K + 1) + w_old]
        # Most moves are swaps of neighbours (segment of one feature): a fast path, no padding.
        w_new = np.empty(len(pids), self.w.dtype)
        swap = seglen[req] <= 1
        for sel, R in ((np.flatnonzero(swap), 1), (np.flatnonzero(~swap), seg.shape[1])):
            if len(sel):
                w_new[sel] = self._new_explainer(mb, mg, ms, seg[:, :R], seglen, req[sel], pids[sel],
                                                 t_old[sel])
        self.n_held[pids] += t_old > K                             # memorised points now hold g too
        self._regroup(mb[req], pids, w_old, w_new)

    def _new_explainer(self, mb, mg, ms, seg, seglen, req, pids, t_old):
        """Explaining feature after g moved to step s+1, from the point's segment features only.

        The segment of a move is the old steps s+1..e-1 (s+1..F for a new g), now one step later.
        """
        K, tau = self.K, self.tau[mb[req]]
        R = seg.shape[1]
        if R == 1:
            return self._new_explainer_swap(mb, mg, ms, seg[:, 0], seglen, req, pids, t_old)
        valid = np.arange(R)[None, :] < seglen[:, None]
        offset = self.data.offset(mb[:, None], seg)                # feature seg[i, q] of lane mb[i]
        present = self.data.Xflat[pids[:, None] + offset[req]] & valid[req]
        cum = np.zeros((len(req), R + 1), np.int16)                # segment features among the first q
        np.cumsum(present, axis=1, out=cum[:, 1:])
        rows = np.arange(len(req))
        # Features still needed after g (step s+1). A point explained at old step t held tau-1 at step
        # t-1, so after s steps it misses exactly the segment features before t; a memorised point
        # holds n_held learned features in all.
        need = np.where(t_old > K, tau - 1 - self.n_held[pids] + cum[:, R],
                        cum[rows, np.minimum(t_old - ms[req] - 1, R)])
        hit = cum[:, 1:] >= need[:, None]
        first = hit.argmax(axis=1)
        w = np.where(hit[rows, first], seg.ravel()[req * R + first], K)
        return np.where(need <= 0, mg[req], w)

    def _new_explainer_swap(self, mb, mg, ms, a, seglen, req, pids, t_old):
        """``_new_explainer`` when every segment has at most one feature ``a`` (g swapped with a)."""
        K, tau = self.K, self.tau[mb[req]]
        has_a = self.data.Xflat[pids + self.data.offset(mb, a)[req]] & (seglen > 0)[req]
        # explained at old step s+2 (after a) and holding a: now a completes it; else g does (at s+1).
        # memorised: g and a may bring it to tau.
        need = np.where(t_old > K, tau - 1 - self.n_held[pids] + has_a, has_a & (t_old - ms[req] == 2))
        return np.where(need <= 0, mg[req], np.where(has_a & (need == 1), a[req], K))

    def _cut(self, b, s, m, rank_old):
        """The order stops after s steps: points not explained by then are memorised."""
        K, M = self.K, self.data.M
        pids = b * M + np.flatnonzero(rank_old[b, self.w[b * M:b * M + m]] > s)
        held = np.zeros((len(pids), K + 1), np.int64)
        self.data.add_points(held, np.arange(len(pids)), pids)
        self.n_held[pids] = held[:, :K][:, self.rank[b, :K] <= K].sum(axis=1)
        self._regroup(np.full(len(pids), b), pids, self.w[pids], np.full(len(pids), K, self.w.dtype))

    def outcome(self):
        """(learned (B, K) bool, memorised points per lane (B,))."""
        return self.rank[:, :self.K] <= self.K, self.G[:, self.K, self.K].copy()
