"""The points of many lanes (one class of one data set each), indexed for the discrete engine.

Its own module so that both simulators, ``engine.KeepLanes`` and ``cold_start.ColdLanes``, read
``Lanes`` without importing each other (the engine builds both; ``cold_start`` needs only the index).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["Lanes", "in_threads"]


def in_threads(fn, items):
    """``[fn(item) for item in items]``, on as many threads as this process may use CPU cores.

    For jobs that spend their time in large numpy calls (random draws, comparisons, nonzero, copies),
    which release the GIL: two cores nearly halve them. Each job must touch only its own outputs.
    """
    items = list(items)
    workers = min(len(items), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else
                  os.cpu_count() or 1)
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


class Lanes:
    """The points of B lanes, indexed both ways the engine needs.

    A point is named by its flat id ``pid = lane * M + i``. Posting lists (by feature): for lane b and
    feature k, the sorted pids of the points containing k, ``upto[b, k, j]`` of them in the first j
    chunks; the same as bitsets ``bits`` (B, K+1, W) uint64, bit i of row (b, k) for point i, row K
    empty. Feature lists (by point): the features of point pid, for summing feature vectors.
    ``X`` (B, K, M) feature-major answers "does point i hold feature k" (``offset``).
    """

    def __init__(self, X: np.ndarray, n_chunk: int, n_exp: int):
        self.X = np.ascontiguousarray(X[:, :, :n_exp * n_chunk])
        self.n_chunk = n_chunk
        B, K, M = self.X.shape
        self.B, self.K, self.M = B, K, M
        self.Xflat = self.X.reshape(-1)
        # per-point small counters and feature ids (K is small; int16 halves memory traffic)
        self.small = np.int16 if K < 2**15 - 3 else np.int32
        # three independent indexes, each a few large numpy calls: built side by side
        in_threads(lambda build: build(n_chunk, n_exp), [self._posting_lists, self._feature_lists, self._bitsets])

    def _posting_lists(self, n_chunk, n_exp):
        """Flat indices (lane * K + k) * M + i of X's true entries, sorted, turned into pids."""
        B, K, M = self.B, self.K, self.M
        upto = np.zeros((B, K, n_exp + 1), np.int64)
        postings = np.flatnonzero(self.Xflat)
        per_chunk = np.bincount(postings // n_chunk, minlength=B * K * n_exp).reshape(B, K, n_exp)
        np.cumsum(per_chunk, axis=2, out=upto[:, :, 1:])
        lengths = upto[:, :, -1].ravel()
        self.start = (np.cumsum(lengths) - lengths).reshape(B, K)
        shift = np.arange(B)[:, None] * (K - 1) * M + np.arange(K)[None, :] * M
        postings -= np.repeat(shift.ravel(), lengths)
        self.postings = postings.astype(np.int32 if B * M < 2**31 else np.int64)
        self.upto = upto

    def _feature_lists(self, n_chunk, n_exp):
        """From a point-major copy (flat indices pid * (K+1) + k come sorted), each list ending in
        column K, the point counter of add_points' rows."""
        B, K, M = self.B, self.K, self.M
        point_major = np.empty((B, M, K + 1), bool)
        point_major[:, :, :K] = self.X.transpose(0, 2, 1)
        point_major[:, :, K] = True
        entries = np.flatnonzero(point_major)
        del point_major
        np.remainder(entries, K + 1, out=entries)
        self.feature_of = entries.astype(self.small)
        del entries
        n_features_of = self.X.sum(axis=1, dtype=self.small).ravel().astype(np.int64) + 1
        self.first_entry = np.cumsum(n_features_of) - n_features_of
        self.n_features_of = n_features_of

    def _bitsets(self, n_chunk, n_exp):
        """Bit i of word row (lane, k) set iff point i holds k; row K stays zero."""
        B, K, M = self.B, self.K, self.M
        self.W = -(-M // 64)
        packed = np.zeros((B, K + 1, self.W * 8), np.uint8)
        packed[:, :K, :-(-M // 8)] = np.packbits(self.X, axis=2, bitorder="little")
        self.bits = packed.view("<u8")

    def gather(self, lanes, features, lo, hi):
        """Entries ``lo:hi`` of the posting lists ``(lanes[r], features[r])``: (request r, pid)."""
        lengths = (hi - lo).astype(np.int64)
        starts = self.start[lanes, features] + lo
        request = np.repeat(np.arange(len(lengths)), lengths)
        if len(lengths) <= 64:   # a few long slices: copy them
            pids = np.concatenate([self.postings[a:a + n] for a, n in zip(starts.tolist(), lengths.tolist())]
                                  or [self.postings[:0]])
        else:
            idx = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())
            pids = self.postings[idx]
        return request, pids

    def offset(self, lanes, features):
        """``Xflat[pid + offset(lane, k)]`` says whether point pid (of that lane) holds feature k."""
        return lanes * ((self.K - 1) * self.M) + features * self.M

    def features(self, pids):
        """The features of points ``pids`` then K, concatenated: (lengths, feature ids and K)."""
        lengths = self.n_features_of[pids]
        idx = (np.repeat(self.first_entry[pids] - (np.cumsum(lengths) - lengths), lengths)
               + np.arange(lengths.sum()))
        return lengths, self.feature_of[idx]

    def add_points(self, out, keys, pids, minus_keys=None):
        """``out[keys[i]] += (feature vector of pids[i], 1)`` (and ``-=`` at ``minus_keys[i]``).

        ``out`` is an (n_keys, K + 1) int array; the last column counts points.
        """
        K1 = self.K + 1
        lengths, features = self.features(pids)
        if not out.flags.c_contiguous:   # reshape would copy and the updates would be lost
            raise ValueError("add_points needs a C-contiguous output array")
        flat = out.reshape(-1)
        for k, sign in ((keys, 1), (minus_keys, -1)):
            if k is not None:
                np.add.at(flat, np.repeat(k * K1, lengths) + features, sign)
