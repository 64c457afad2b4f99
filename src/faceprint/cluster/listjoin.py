"""The ``k`` nearest neighbours of every face by an IVF list join: most work in BLAS products.

1. **Lists**: spherical k-means (FAISS) splits the ``N`` faces into ``L = N / list_size``
   lists. Each face *lives* in its nearest list and *probes* its ``nprobe`` nearest lists (as an
   IVF index searches them; probing per face, not per list, is what keeps recall on face
   embeddings, whose faces often sit far from their list's centre).
2. **Own list**: one ``X_l X_l^T`` product per list gives every member its best neighbours
   within its list, and so a running ``k``-th best similarity per face.
3. **Visits**: for every list, the faces that probe it (living elsewhere) times its members:
   one ``Q X_l^T`` product; only scores at or above the face's running ``k``-th best (and the
   floor) are kept and merged into its top ``k``. So the top-``k`` selection touches few scores.
4. **Refinement** (``refine`` rounds, one NN-descent step each): every face also scores the
   neighbours of its ``REFINE_FANOUT`` best neighbours (a friend of a friend is likely a
   friend), which recovers most neighbours that the list boundaries cut off.

Cost: about ``N * nprobe * list_size`` dot products in SGEMM (multi-threaded), ``N * L``
(``L`` up to :data:`FLAT_ASSIGN_MAX`) or an HNSW search over the centres for the probes, and
``N * REFINE_FANOUT * k`` dot products per refinement round. Memory: the ``(N, k)`` top-``k``
arrays (int32 ids), the ``(N, nprobe)`` probes (int32) and one product block.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from faceprint._optional import require
from faceprint.index._util import default_threads

__all__ = ["LIST_SIZE", "NPROBE", "ListIndex", "list_join_knn"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]

#: faces per k-means list (on average)
LIST_SIZE = 1000
#: lists each face is compared with (its own and the nearest others)
NPROBE = 8
#: NN-descent refinement rounds after the join
REFINE = 1
#: best neighbours whose own neighbours each face scores in a refinement round
REFINE_FANOUT = 10
#: scores per product block (bounds the temporary: 16M float32 = 64 MB)
BLOCK = 1 << 24
#: above this many lists, the probes come from an HNSW graph over the centres
FLAT_ASSIGN_MAX = 4096
#: training points per k-means centre (a sample of the faces)
TRAIN_PER_LIST = 32
#: k-means iterations
TRAIN_ITERATIONS = 10
#: lists scored at once (threads; the usable cores, at most 4)
THREADS = min(4, default_threads())
#: buffered candidate scores merged into the top-k at once
MERGE_AT = 1 << 22


class _TopK:
    """The running ``k`` best ``(id, similarity)`` per face, nearest first (``-1`` / ``-inf``
    pads); candidates are buffered and merged in batches."""

    def __init__(self, n: int, k: int, floor: float) -> None:
        self.k = k
        self.floor = np.float32(floor)
        self.ids = np.full((n, k), -1, np.int32)
        self.sims = np.full((n, k), -np.inf, np.float32)
        self._buf: list[tuple[Int32Array, Int32Array, FloatArray]] = []
        self._held = 0

    def bar(self, rows: Int32Array) -> FloatArray:
        """The score a new candidate of each row must reach."""
        return np.maximum(self.sims[rows, -1], self.floor)

    def push(self, rows: Int32Array, ids: Int32Array, sims: FloatArray) -> None:
        self._buf.append((rows, ids, sims))
        self._held += len(rows)
        if self._held >= MERGE_AT:
            self.flush()

    def flush(self) -> None:
        if not self._buf:
            return
        rows = np.concatenate([b[0] for b in self._buf])
        ids = np.concatenate([b[1] for b in self._buf])
        sims = np.concatenate([b[2] for b in self._buf])
        self._buf, self._held = [], 0
        self._merge(rows, ids, sims)

    def _merge(self, rows: Int32Array, ids: Int32Array, sims: FloatArray) -> None:
        k = self.k
        u, inv = np.unique(rows, return_inverse=True)
        m = len(u)
        all_rows = np.concatenate([np.repeat(np.arange(m, dtype=np.int64), k), inv.ravel()])
        all_ids = np.concatenate([self.ids[u].ravel(), ids])
        all_sims = np.concatenate([self.sims[u].ravel(), sims])
        order = np.lexsort((-all_sims, all_rows))
        all_rows, all_ids, all_sims = all_rows[order], all_ids[order], all_sims[order]
        rank = np.arange(len(all_rows)) - np.searchsorted(all_rows, np.arange(m))[all_rows]
        keep = rank < k
        new_ids = np.full((m, k), -1, np.int32)
        new_sims = np.full((m, k), -np.inf, np.float32)
        new_ids[all_rows[keep], rank[keep]] = all_ids[keep]
        new_sims[all_rows[keep], rank[keep]] = all_sims[keep]
        self.ids[u], self.sims[u] = new_ids, new_sims


def _train(x: FloatArray, n_lists: int, seed: int) -> FloatArray:
    """Spherical k-means centres on a sample of ``TRAIN_PER_LIST`` rows a list; above
    FLAT_ASSIGN_MAX lists each iteration assigns the sample with an HNSW graph over the
    centres (exact assignment costs sample x lists: at 10M faces, 320k x 10k x 10 iterations)."""
    faiss: Any = require("faiss")
    rng = np.random.default_rng(seed)
    n_train = min(len(x), n_lists * TRAIN_PER_LIST)
    sample = x[np.sort(rng.choice(len(x), n_train, replace=False))]
    cp = faiss.ClusteringParameters()
    cp.niter = TRAIN_ITERATIONS
    cp.spherical = True
    cp.seed = seed
    cp.max_points_per_centroid = TRAIN_PER_LIST
    cp.min_points_per_centroid = 1
    clus = faiss.Clustering(x.shape[1], n_lists, cp)
    clus.train(sample, _quantizer(np.zeros((0, x.shape[1]), np.float32), 1, n_lists))
    centres = faiss.vector_to_array(clus.centroids).reshape(n_lists, x.shape[1])
    return np.ascontiguousarray(centres, dtype=np.float32)


def _quantizer(centres: FloatArray, nprobe: int, n_lists: int | None = None) -> Any:
    """An index over the centres (``n_lists`` of them, default: as given): exact up to
    FLAT_ASSIGN_MAX of them, HNSW above."""
    faiss: Any = require("faiss")
    d = centres.shape[1]
    if (len(centres) if n_lists is None else n_lists) <= FLAT_ASSIGN_MAX:
        index = faiss.IndexFlatIP(d)
    else:
        index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = max(64, 4 * nprobe)
    index.add(centres)
    return index


def _probes(quantizer: Any, x: FloatArray, nprobe: int) -> Int32Array:
    """The ``nprobe`` nearest centres of every row of ``x``, nearest first."""
    out = np.empty((len(x), nprobe), np.int32)
    step = 65536
    for lo in range(0, len(x), step):
        _, ids = quantizer.search(x[lo : lo + step], nprobe)
        out[lo : lo + step] = ids
    return out


def _groups(keys: Int32Array, n_groups: int) -> tuple[Int32Array, IntArray]:
    """Positions of ``keys`` sorted by key, and each key's range ``bounds[g]:bounds[g+1]``."""
    order = np.argsort(keys, kind="stable").astype(np.int32)
    bounds = np.searchsorted(keys[order], np.arange(n_groups + 1)).astype(np.int64)
    return order, bounds


Found = list[tuple[Int32Array, Int32Array, FloatArray]]


def _score_block(
    top: _TopK,
    xq: FloatArray,
    queries: Int32Array,
    xm: FloatArray,
    members: Int32Array,
    own: bool,
) -> Found:
    """Score rows ``queries`` of ``xq`` against rows ``members`` of ``xm`` in row chunks; what
    beats each query's bar (``own``: the same rows, each skipping itself) as ``(query, member,
    score)`` arrays. Reads ``top`` only (a bar read before a merge is lower: nothing is lost)."""
    found: Found = []
    if len(members) == 0 or len(queries) == 0:
        return found
    block = xm[members]
    step = max(1, BLOCK // len(members))
    for lo in range(0, len(queries), step):
        q = queries[lo : lo + step]
        s = xq[q] @ block.T
        if own:
            s[np.arange(len(q)), np.arange(lo, lo + len(q))] = -np.inf  # self
            bar = _own_bar(s, top.k, top.floor)
        else:
            bar = top.bar(q)
        hit = np.flatnonzero(s.max(axis=1) >= bar)  # rows with a survivor: few
        if len(hit) == 0:
            continue
        r, c = np.nonzero(s[hit] >= bar[hit, None])
        r = hit[r]
        found.append((q[r], members[c], s[r, c]))
    return found


def _run(
    top: _TopK, blocks: Iterable[tuple[FloatArray, Int32Array, FloatArray, Int32Array, bool]]
) -> None:
    """Score the blocks on THREADS threads (BLAS on one thread each: the scan around the
    product is single-threaded numpy, so two blocks at once keep both cores busy) and merge
    what they find into ``top`` in order."""
    if THREADS <= 1:
        for b in blocks:
            for f in _score_block(top, *b):
                top.push(*f)
        return
    limits = require("threadpoolctl").threadpool_limits
    with limits(1), ThreadPoolExecutor(THREADS) as pool:
        pending: deque[Future[Found]] = deque()
        for b in blocks:
            pending.append(pool.submit(_score_block, top, *b))
            while len(pending) > 2 * THREADS:
                for f in pending.popleft().result():
                    top.push(*f)
        while pending:
            for f in pending.popleft().result():
                top.push(*f)


def _own_bar(s: FloatArray, k: int, floor: np.float32) -> FloatArray:
    """Per row: the floor, or the k-th best score where more than k reach the floor."""
    bar = np.full(len(s), floor, np.float32)
    if s.shape[1] <= k:
        return bar
    many = np.count_nonzero(s >= floor, axis=1) > k
    if many.any():
        kth = np.partition(s[many], s.shape[1] - k, axis=1)[:, s.shape[1] - k]
        bar[many] = np.maximum(kth, floor)
    return bar


def _refine(top: _TopK, x: FloatArray, fanout: int) -> None:
    """One NN-descent step: every face scores the neighbours of its ``fanout`` best."""
    faiss: Any = require("faiss")
    n, k = top.ids.shape
    f = min(fanout, k)
    step = max(1, BLOCK // (8 * f * k))
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        first = top.ids[lo:hi, :f]
        cand = np.where(first[:, :, None] >= 0, top.ids[np.maximum(first, 0)], -1)
        cand = np.ascontiguousarray(cand.reshape(hi - lo, f * k).astype(np.int64))
        rows = np.arange(lo, hi, dtype=np.int64)
        cand[cand == rows[:, None]] = -1
        # drop candidates already held (and repeats within the row)
        known = np.concatenate([top.ids[lo:hi].astype(np.int64), cand], axis=1)
        order = np.argsort(known, axis=1, kind="stable")
        srt = np.take_along_axis(known, order, axis=1)
        dup = np.zeros_like(srt, bool)
        dup[:, 1:] = srt[:, 1:] == srt[:, :-1]
        dup_orig = np.empty_like(dup)
        np.put_along_axis(dup_orig, order, dup, axis=1)
        cand[dup_orig[:, k:]] = -1
        sims = np.empty(cand.shape, np.float32)
        faiss.fvec_inner_products_by_idx(  # reads x in place (-1: -inf)
            faiss.swig_ptr(sims),
            faiss.swig_ptr(x[lo:hi]),
            faiss.swig_ptr(x),
            faiss.swig_ptr(cand),
            x.shape[1],
            hi - lo,
            cand.shape[1],
        )
        ok = (cand >= 0) & (sims >= top.bar(rows.astype(np.int32))[:, None])
        r, c = np.nonzero(ok)
        if len(r):
            top.push((r + lo).astype(np.int32), cand[r, c].astype(np.int32), sims[r, c])
    top.flush()


def list_join_knn(
    x: FloatArray,
    k: int,
    floor: float,
    *,
    list_size: int = LIST_SIZE,
    nprobe: int = NPROBE,
    refine: int = REFINE,
    seed: int = 0,
) -> tuple[IntArray, FloatArray]:
    """The ``k`` nearest other faces of every unit row of ``x`` with similarity >= ``floor``,
    nearest first: ``(N, k)`` ids (``-1`` pads) and similarities (``-inf`` pads)."""
    return ListIndex(x, list_size=list_size, nprobe=nprobe, seed=seed).join(k, floor, refine)


class ListIndex:
    """The rows of ``x`` in k-means lists (see the module docstring): :meth:`join` finds every
    row's neighbours among the others, :meth:`search` other vectors' neighbours among them."""

    def __init__(
        self, x: FloatArray, *, list_size: int = LIST_SIZE, nprobe: int = NPROBE, seed: int = 0
    ) -> None:
        self.x = x = np.ascontiguousarray(x, dtype=np.float32)
        n_lists = max(1, len(x) // list_size)
        self.nprobe = min(nprobe, n_lists)
        self.centres = _train(x, n_lists, seed)
        self.quantizer = _quantizer(self.centres, self.nprobe)
        self.probes: Int32Array | None = _probes(self.quantizer, x, self.nprobe)
        self.home, self.bounds = _groups(self.probes[:, 0], n_lists)

    @property
    def n_lists(self) -> int:
        return len(self.centres)

    def members(self, lst: int) -> Int32Array:
        return self.home[self.bounds[lst] : self.bounds[lst + 1]]

    def join(self, k: int, floor: float, refine: int = REFINE) -> tuple[IntArray, FloatArray]:
        """Every row's ``k`` nearest other rows at or above ``floor`` (the rows' own probes
        are dropped after it: call it once)."""
        x, probes, nprobe = self.x, self.probes, self.nprobe
        if probes is None:
            raise RuntimeError("ListIndex.join runs once")
        logger.debug("list join: %d rows, %d lists, %d probes", len(x), self.n_lists, nprobe)
        top = _TopK(len(x), k, floor)
        _run(top, ((x, self.members(i), x, self.members(i), True) for i in range(self.n_lists)))
        top.flush()
        if nprobe > 1:
            visits, vb = _groups(np.ascontiguousarray(probes[:, 1:]).ravel(), self.n_lists)
            self.probes = probes = None
            visitors = (visits // (nprobe - 1)).astype(np.int32)
            del visits
            blocks = (
                (x, visitors[vb[i] : vb[i + 1]], x, self.members(i), False)
                for i in range(self.n_lists)
            )
            _run(top, blocks)
            top.flush()
        self.probes = None
        for _ in range(refine):
            _refine(top, x, REFINE_FANOUT)
        return top.ids.astype(np.int64), top.sims

    def search(self, q: FloatArray, k: int, floor: float) -> tuple[IntArray, FloatArray]:
        """The ``k`` nearest rows of ``x`` at or above ``floor`` of every row of ``q`` (each
        probing its ``nprobe`` nearest lists), nearest first, ``-1`` / ``-inf`` pads."""
        top = _TopK(len(q), k, floor)
        if len(q) == 0:
            return top.ids.astype(np.int64), top.sims
        visits, vb = _groups(_probes(self.quantizer, q, self.nprobe).ravel(), self.n_lists)
        visitors = (visits // self.nprobe).astype(np.int32)
        blocks = (
            (q, visitors[vb[i] : vb[i + 1]], self.x, self.members(i), False)
            for i in range(self.n_lists)
        )
        _run(top, blocks)
        top.flush()
        return top.ids.astype(np.int64), top.sims
