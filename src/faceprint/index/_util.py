"""Building blocks shared by the index backends: input checks, id sets, growable arrays,
worker threads and a running top-k over blocks of scores."""

from __future__ import annotations

import itertools
import os
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from faceprint.errors import InvalidArgumentError

IdArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
T = TypeVar("T")
R = TypeVar("R")

#: rows whose norm is further than this from 1 are refused (embeddings must be L2-normalised)
NORM_TOLERANCE = 1e-2
NO_FLOOR = np.float32(-np.inf)
#: ids an :class:`IdMap` needs before it builds a direct lookup table
DENSE_MIN = 4096


def default_threads() -> int:
    """CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def check_ids(ids: npt.ArrayLike) -> IdArray:
    """A 1-D int64 id array (no copy when already one)."""
    a = np.asarray(ids)
    if a.ndim != 1:
        raise InvalidArgumentError(f"ids must be a 1-D array, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise InvalidArgumentError(f"ids must be integers, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.int64)


def check_add(dim: int, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> tuple[IdArray, FloatArray]:
    """Validated ``(N,)`` unique ids and ``(N, dim)`` finite unit float32 rows."""
    id_arr = check_ids(ids)
    vec = np.ascontiguousarray(vectors, dtype=np.float32)
    if vec.ndim != 2 or vec.shape != (len(id_arr), dim):
        raise InvalidArgumentError(
            f"vectors must have shape ({len(id_arr)}, {dim}), got {vec.shape}"
        )
    if len(np.unique(id_arr)) != len(id_arr):
        raise InvalidArgumentError("ids must be unique within one add() call")
    norms = np.einsum("ij,ij->i", vec, vec)
    if not np.all(np.abs(norms - 1.0) <= 2 * NORM_TOLERANCE):  # also catches NaN / inf
        raise InvalidArgumentError(
            "vectors must be finite and L2-normalised (use faceprint.embed.base.l2_normalize)"
        )
    return id_arr, vec


def check_queries(dim: int, queries: npt.ArrayLike, k: int) -> FloatArray:
    """``(Q, dim)`` C-contiguous float32 queries (a single ``(dim,)`` query becomes ``(1, dim)``)."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidArgumentError(f"k must be an integer >= 1, got {k!r}")
    try:
        q = np.ascontiguousarray(queries, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"queries must be a float array, got {exc}") from exc
    if q.ndim == 1:
        q = q.reshape(1, -1)
    if q.ndim != 2 or q.shape[1] != dim:
        raise InvalidArgumentError(f"queries must have shape (Q, {dim}), got {np.shape(queries)}")
    if not np.all(np.isfinite(q)):
        raise InvalidArgumentError("queries must be finite")
    return q


def check_threshold(threshold: float | None) -> float | None:
    """``threshold`` by the library's one rule (:func:`faceprint.compare.check_threshold`: a
    cosine in [-1, 1]), or ``None``."""
    from faceprint.compare import check_threshold as check_cosine

    return None if threshold is None else check_cosine(threshold)


def threshold_floor(threshold: float | None) -> np.float32:
    """The largest float32 strictly below ``threshold`` (scores ``>`` it pass); -inf if None."""
    if threshold is None:
        return np.float32(-np.inf)
    return np.nextafter(np.float32(threshold), np.float32(-np.inf))


class IdSet:
    """A set of int64 ids as one sorted array (8 bytes per id, vectorised membership)."""

    def __init__(self, ids: IdArray | None = None) -> None:
        self._sorted = np.sort(ids) if ids is not None else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self._sorted)

    @property
    def nbytes(self) -> int:
        return int(self._sorted.nbytes)

    def contains(self, ids: IdArray) -> npt.NDArray[np.bool_]:
        pos = np.searchsorted(self._sorted, ids)
        pos = np.minimum(pos, len(self._sorted) - 1)
        if len(self._sorted) == 0:
            return np.zeros(len(ids), bool)
        return np.asarray(self._sorted[pos] == ids)

    def add(self, ids: IdArray) -> None:
        """Insert ids known to be absent."""
        new = np.sort(ids)
        self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, new), new)

    def discard(self, ids: IdArray) -> IdArray:
        """Remove the present ones of ``ids``; returns them (unique)."""
        ids = np.unique(ids)
        present = ids[self.contains(ids)]
        if len(present):
            self._sorted = np.delete(self._sorted, np.searchsorted(self._sorted, present))
        return present

    def values(self) -> IdArray:
        return self._sorted.copy()


class IdMap:
    """int64 id -> int64 value as two sorted arrays (16 bytes per id, vectorised lookups).

    When the ids are dense (their span at most twice their count, as a gallery's consecutive
    template ids are) and there are at least :data:`DENSE_MIN` of them, lookups go through a
    direct table (up to 16 more bytes per id, built at the first lookup after a change): a
    re-rank looks up every candidate, and a binary search over 10M ids took 1.3 ms per 1,024
    ids where the table takes 0.01 ms.
    """

    def __init__(self, keys: IdArray | None = None, values: IdArray | None = None) -> None:
        if keys is None or values is None:
            keys, values = np.zeros(0, np.int64), np.zeros(0, np.int64)
        order = np.argsort(keys, kind="stable")
        self._keys, self._vals = keys[order], values[order]
        self._table: IdArray | None = None
        self._table_checked = False

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def nbytes(self) -> int:
        table = 0 if self._table is None else self._table.nbytes
        return int(self._keys.nbytes + self._vals.nbytes + table)

    def lookup(self, ids: IdArray) -> IdArray:
        """Values of ``ids`` (``-1`` for absent ones)."""
        if len(self._keys) == 0:
            return np.full(len(ids), -1, np.int64)
        table = self._dense_table()
        if table is not None:
            offset = ids - self._keys[0]
            inside = (offset >= 0) & (offset < len(table))
            return np.where(inside, table[np.where(inside, offset, 0)], -1)
        pos = np.minimum(np.searchsorted(self._keys, ids), len(self._keys) - 1)
        return np.where(self._keys[pos] == ids, self._vals[pos], -1)

    def _dense_table(self) -> IdArray | None:
        if not self._table_checked:
            self._table_checked = True
            span = int(self._keys[-1]) - int(self._keys[0]) + 1
            if len(self._keys) >= DENSE_MIN and span <= 2 * len(self._keys):
                self._table = np.full(span, -1, np.int64)
                self._table[self._keys - self._keys[0]] = self._vals
        return self._table

    def _changed(self) -> None:
        self._table, self._table_checked = None, False

    def add(self, ids: IdArray, values: IdArray) -> None:
        """Insert ids known to be absent."""
        order = np.argsort(ids, kind="stable")
        at = np.searchsorted(self._keys, ids[order])
        self._keys = np.insert(self._keys, at, ids[order])
        self._vals = np.insert(self._vals, at, values[order])
        self._changed()

    def discard(self, ids: IdArray) -> tuple[IdArray, IdArray]:
        """Remove the present ones of ``ids``; returns them and their values."""
        ids = np.unique(ids)
        vals = self.lookup(ids)
        hit = vals >= 0
        if hit.any():
            drop = np.searchsorted(self._keys, ids[hit])
            self._keys, self._vals = np.delete(self._keys, drop), np.delete(self._vals, drop)
            self._changed()
        return ids[hit], vals[hit]

    def items(self) -> tuple[IdArray, IdArray]:
        return self._keys, self._vals


class Growable:
    """An array that grows along axis 0 with amortised O(1) appends and compacts on demand."""

    def __init__(self, tail: tuple[int, ...], dtype: Any, data: np.ndarray | None = None) -> None:
        self._tail = tail
        self._dtype = np.dtype(dtype)
        self._buf = np.empty((0, *tail), self._dtype) if data is None else data
        self._n = len(self._buf)

    def __len__(self) -> int:
        return self._n

    @property
    def view(self) -> np.ndarray:
        return self._buf[: self._n]

    @property
    def nbytes(self) -> int:
        return int(self._n * self._dtype.itemsize * int(np.prod(self._tail, dtype=np.int64)))

    def append(self, rows: np.ndarray) -> int:
        """Append rows; returns the index of the first one."""
        start, end = self._n, self._n + len(rows)
        if end > len(self._buf) or not self._buf.flags.writeable:
            self._grow(end)
        self._buf[start:end] = rows
        self._n = end
        return start

    def _grow(self, need: int) -> None:
        cap = need if self._n == 0 else max(need, int(len(self._buf) * 1.5) + 1024)
        buf = np.empty((cap, *self._tail), self._dtype)
        buf[: self._n] = self._buf[: self._n]
        self._buf = buf

    def truncate(self, n: int) -> None:
        """Drop the rows from ``n`` on (the buffer is kept)."""
        self._n = min(self._n, int(n))

    def keep(self, mask: npt.NDArray[np.bool_]) -> None:
        """Keep only the rows where ``mask`` is true (order preserved)."""
        kept = self.view[mask]
        self._buf, self._n = np.ascontiguousarray(kept), len(kept)


class IdBook:
    """Ids by position plus a lazily built id set, for backends whose positions are compact."""

    def __init__(self, ids: IdArray | None = None) -> None:
        self.ext = Growable((), np.int64, ids)
        self._set: IdSet | None = None

    @property
    def idset(self) -> IdSet:
        if self._set is None:
            self._set = IdSet(self.ext.view)
        return self._set

    @property
    def nbytes(self) -> int:
        return self.ext.nbytes + (self._set.nbytes if self._set is not None else 0)

    def check_new(self, ids: IdArray) -> None:
        dup = ids[self.idset.contains(ids)]
        if len(dup):
            raise InvalidArgumentError(
                f"ids already in the index: {dup[:5].tolist()} (remove them first)"
            )

    def append(self, ids: IdArray) -> None:
        self.idset.add(ids)
        self.ext.append(ids)

    def positions_of(self, ids: IdArray) -> IdArray:
        """Positions of the present ids (and forget them from the id set)."""
        present = self.idset.discard(ids)
        if len(present) == 0:
            return np.zeros(0, np.int64)
        return np.flatnonzero(np.isin(self.ext.view, present))


def _single_threaded_openmp() -> None:
    """Worker-thread initializer: FAISS calls made from this thread use one OpenMP thread.

    ``omp_set_num_threads`` sets a per-thread OpenMP variable, so this changes nothing for the
    host process' other threads. FAISS parallelises over *queries*: for one query its OpenMP team
    only adds barrier waits, which on a loaded machine stall for milliseconds.
    """
    try:
        import faiss
    except ImportError:  # the core install: no FAISS, no OpenMP team to size
        return
    faiss.omp_set_num_threads(1)


class Workers:
    """A lazily started thread pool owned by one index (numpy, BLAS and FAISS release the GIL).

    FAISS calls made in its threads run without OpenMP teams; parallelism comes from the pool.
    """

    def __init__(self, threads: int) -> None:
        self.threads = max(1, int(threads))
        self._pool: ThreadPoolExecutor | None = None

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``fn`` over ``items`` in the pool's threads (in order)."""
        if not items:
            return []
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self.threads,
                thread_name_prefix="faceprint-index",
                initializer=_single_threaded_openmp,
            )
            weakref.finalize(self, self._pool.shutdown, wait=False)
        return list(self._pool.map(fn, items))

    def split_queries(
        self, fn: Callable[[FloatArray], R], queries: FloatArray, *, direct_from: int
    ) -> list[R]:
        """``fn`` on row groups of ``queries``, one per thread; from ``direct_from`` queries on,
        one direct call (FAISS's OpenMP over many queries is efficient)."""
        if len(queries) >= direct_from:
            return [fn(queries)]
        groups = np.array_split(queries, min(self.threads, len(queries)))
        return self.map(fn, groups)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None


def divisor_at_most(n: int, m: int) -> int:
    """The largest divisor of ``n`` that is at most ``max(m, 1)`` (PQ sub-quantizer counts)."""
    m = max(1, min(int(m), int(n)))
    while n % m:
        m -= 1
    return m


def split_ranges(n: int, parts: int, *, min_rows: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges covering ``range(n)``: ``parts`` of them when each gets ``min_rows``."""
    parts = max(1, min(parts, n // max(1, min_rows)))
    edges = np.linspace(0, n, parts + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]


class TopK:
    """Running top-k per query over blocks of scores (candidates must beat the current k-th).

    ``floor``: scores must be strictly greater (use :func:`threshold_floor`).
    """

    def __init__(self, nq: int, k: int, floor: np.float32 = NO_FLOOR) -> None:
        self.k = k
        self.scores = np.full((nq, k), -np.inf, np.float32)
        self.ids = np.full((nq, k), -1, np.int64)
        self._floor = np.float32(floor)
        self._kth = np.full(nq, floor, np.float32)

    def push(self, scores: FloatArray, ids: IdArray) -> None:
        """Offer ``(Q, b)`` scores with ids ``(b,)`` (shared by all queries) or ``(Q, b)``."""
        mask = scores > self._kth[:, None]
        count = int(np.count_nonzero(mask))
        if count == 0:
            return
        nq, b = scores.shape
        if count > 2 * nq * self.k and b > self.k:
            self._push_dense(scores, ids)
            return
        qi, cj = np.nonzero(mask)
        cand_ids = ids[cj] if ids.ndim == 1 else ids[qi, cj]
        self._merge_sparse(qi, scores[qi, cj], cand_ids)

    def _push_dense(self, scores: FloatArray, ids: IdArray) -> None:
        b = scores.shape[1]
        part = np.argpartition(scores, b - self.k, axis=1)[:, b - self.k :]
        cs = np.take_along_axis(scores, part, axis=1)
        ci = ids[part] if ids.ndim == 1 else np.take_along_axis(ids, part, axis=1)
        all_s = np.concatenate([self.scores, cs], axis=1)
        all_i = np.concatenate([self.ids, ci], axis=1)
        top = np.argpartition(-all_s, self.k - 1, axis=1)[:, : self.k]
        self.scores = np.take_along_axis(all_s, top, axis=1)
        self.ids = np.take_along_axis(all_i, top, axis=1)
        below = self.scores <= self._floor
        self.scores[below], self.ids[below] = -np.inf, -1
        self._kth = np.maximum(self.scores.min(axis=1), self._floor)

    def _merge_sparse(self, qi: IdArray, cand_s: FloatArray, cand_i: IdArray) -> None:
        nq, k = self.scores.shape
        qs = np.concatenate([np.repeat(np.arange(nq), k), qi])
        ss = np.concatenate([self.scores.ravel(), cand_s])
        ii = np.concatenate([self.ids.ravel(), cand_i])
        order = np.lexsort((-ss, qs))
        counts = np.bincount(qs, minlength=nq)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.arange(len(order)) - np.repeat(starts, counts)
        keep = order[rank < k]
        self.scores = ss[keep].reshape(nq, k)
        self.ids = ii[keep].reshape(nq, k)
        self._kth = np.maximum(self.scores[:, -1], self._floor)

    def merge(self, other: TopK) -> None:
        self.push(other.scores, other.ids)

    def result(self) -> tuple[FloatArray, IdArray]:
        """``(Q, k)`` scores descending and ids, padding ``-inf`` / ``-1``."""
        order = np.argsort(-self.scores, axis=1, kind="stable")
        s = np.take_along_axis(self.scores, order, axis=1)
        i = np.take_along_axis(self.ids, order, axis=1)
        i[~np.isfinite(s)] = -1
        return s, i


def topk_rows(
    scores: FloatArray, ids: IdArray, k: int, floor: np.float32
) -> tuple[FloatArray, IdArray]:
    """Top-``k`` of each row of ``(Q, n)`` scores with ``(Q, n)`` ids (``-1`` ids are ignored)."""
    acc = TopK(scores.shape[0], k, floor)
    scores = np.where(ids >= 0, scores, np.float32(-np.inf))
    acc.push(scores, ids)
    return acc.result()
