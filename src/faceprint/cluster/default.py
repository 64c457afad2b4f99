"""The default clustering method: strict cores, then average-linkage merging of whole clusters.

Chosen on LFW's ``peopleDevTrain`` people (``benchmarks/bench_cluster.py``): with the dlib pack's
embeddings, impostor similarities are high and spread (mean 0.84, standard deviation 0.034) and
one threshold cannot be both safe for single edges and loose enough for a person's varied
photos. So the method works in two stages, with one threshold ``t``:

1. **Cores**: Chinese whispers, weighted by similarity, on the k-NN graph restricted to edges
   ``>= t + CORE_OFFSET``: small, pure clusters (a single strong edge is trusted only this high).
2. **Merging**: clusters (and the faces left alone) are merged by **average linkage** — the mean
   similarity of all cross pairs, which for unit vectors is ``S_a . S_b / (n_a n_b)`` with ``S``
   the sum of a cluster's embeddings, so it costs one dot product — when it is ``>= t``, only
   between *reciprocal best* partners (each is the other's best candidate), round after round,
   like agglomerative clustering. Two lone faces need ``t + PAIR_OFFSET`` (one pair is a noisy
   measurement; averages over many pairs are not). Candidates come from a k-NN search over the
   cluster centroids: exact up to :data:`~faceprint.cluster.graph.EXACT_MAX` faces, above it
   the k-means lists of :mod:`faceprint.cluster.listjoin` (one list join, then list searches),
   with the merge threshold as a floor.

Complexity: the k-NN graph (see :mod:`faceprint.cluster.graph`), then ``O(N k)`` for the cores;
each merge round is one k-NN search over the current clusters (``C <= N`` centroids) plus
``O(C k)``; at most
:data:`MAX_ROUNDS` rounds. Memory: ``O(N k + C D)``, never ``N x N``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt

from faceprint.cluster.algorithms import chinese_whispers, relabel
from faceprint.cluster.graph import EXACT_MAX, KnnGraph
from faceprint.cluster.listjoin import ListIndex
from faceprint.index import create_index

__all__ = [
    "CORE_OFFSET",
    "DEFAULT_K",
    "MAX_ROUNDS",
    "PAIR_OFFSET",
    "average_linkage_merge",
    "merge_cores",
    "precise_clusters",
    "strict_cores",
]

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]

#: neighbours per face of the k-NN graph
DEFAULT_K = 20
#: the cores use edges at or above ``threshold + CORE_OFFSET``
CORE_OFFSET = 0.0225
#: two lone faces merge at ``threshold + PAIR_OFFSET``
PAIR_OFFSET = 0.0075
#: candidate partners searched per cluster in each merge round
MERGE_K = 10
#: most merge rounds
MAX_ROUNDS = 30
#: clusters whose candidates are scored at once
MERGE_CHUNK = 1 << 20


class _CentroidIndex:
    """The centroid directions of the initial clusters in an index, searched for the current
    clusters: a hit on an initial cluster stands for the current cluster holding it, so the
    index is built once. Up to EXACT_MAX faces: exact search. Above: k-means lists
    (:mod:`faceprint.cluster.listjoin`); the first round's candidates (every cluster) come from
    one list join, later rounds search the same lists (:meth:`ListIndex.search`).

    ``floor``: hits below this cosine are dropped (the average linkage of two clusters never
    exceeds the cosine of their centroid directions, so a floor at the merge threshold loses
    no possible merge)."""

    def __init__(
        self, sums: npt.NDArray[np.floating], floor: float, k: int, *, exact: bool
    ) -> None:
        m = len(sums)
        self.floor = floor
        self.first: IntArray | None = None
        dirs = _directions(sums)
        if exact:
            self.index: Any = create_index("exact", sums.shape[1])
            self.index.add(np.arange(m, dtype=np.int64), dirs)
            return
        self.index = ListIndex(dirs)
        self.first, _ = self.index.join(k + 1, floor)

    def candidates(
        self,
        sums: npt.NDArray[np.floating],
        queries: IntArray,
        current: IntArray,
        k: int,
        *,
        first: bool = False,
    ) -> tuple[IntArray, IntArray]:
        """Pairs ``(a, b)`` of current clusters, ``b`` near ``a`` (``a`` in ``queries``);
        ``current`` maps each initial cluster to the current one holding it. ``first``: the
        first round (nothing merged yet: the list join's neighbours serve)."""
        kk = min(k + 1, len(current))
        if first and self.first is not None and kk <= self.first.shape[1]:
            ids = self.first[queries, :kk]
        else:
            ids = self._search(_directions(sums[queries]), kk)
        hits = np.where(ids >= 0, current[np.maximum(ids, 0)], -1)
        ok = (hits >= 0) & (hits != queries[:, None])
        a = np.repeat(queries, kk).reshape(len(queries), kk)[ok]
        # unique (a, b) pairs in (a, b) order, as one int64 key per pair
        key = np.unique(a * len(current) + hits[ok])
        return key // len(current), key % len(current)

    def _search(self, q: FloatArray, kk: int) -> IntArray:
        if isinstance(self.index, ListIndex):
            return self.index.search(q, kk, self.floor)[0]
        parts = [self.index.search(q[lo : lo + 4096], kk).ids for lo in range(0, len(q), 4096)]
        return np.concatenate(parts) if parts else np.zeros((0, kk), np.int64)

    def close(self) -> None:
        if not isinstance(self.index, ListIndex):
            self.index.close()


def _directions(sums: npt.NDArray[np.floating]) -> FloatArray:
    return (sums / np.linalg.norm(sums, axis=1, keepdims=True)).astype(np.float32)


#: candidate pairs scored per block (bounds the temporary to ``2 x PAIR_BLOCK x D`` float64)
PAIR_BLOCK = 65536


def _linkage(
    sums: npt.NDArray[np.floating], n: npt.NDArray[np.float64], a: IntArray, b: IntArray
) -> npt.NDArray[np.float64]:
    """Average-linkage similarity of the cluster pairs ``(a, b)``, block by block."""
    out = np.empty(len(a))
    for lo in range(0, len(a), PAIR_BLOCK):
        sa, sb = a[lo : lo + PAIR_BLOCK], b[lo : lo + PAIR_BLOCK]
        out[lo : lo + PAIR_BLOCK] = np.einsum("ij,ij->i", sums[sa], sums[sb]) / (n[sa] * n[sb])
    return out


def merge_threshold(
    na: npt.NDArray[np.float64], nb: npt.NDArray[np.float64], threshold: float, pair_t: float
) -> npt.NDArray[np.float64]:
    """The average linkage two clusters of ``na`` and ``nb`` faces need to merge."""
    return np.where((na == 1) & (nb == 1), pair_t, threshold)


def _best(
    a: IntArray, b: IntArray, score: npt.NDArray[np.float64]
) -> tuple[IntArray, IntArray, npt.NDArray[np.float64]]:
    """Each cluster ``a``'s best-scoring candidate ``b`` (the first in ``(a, b)`` order on
    ties) and its score."""
    order = np.lexsort((-score, a))
    a_sorted = a[order]
    first = np.ones(len(order), bool)
    first[1:] = a_sorted[1:] != a_sorted[:-1]
    sel = order[first]
    return a[sel], b[sel], score[sel]


def average_linkage_merge(
    x: FloatArray,
    labels: IntArray,
    threshold: float,
    *,
    pair_threshold: float | None = None,
    k: int = MERGE_K,
    max_rounds: int = MAX_ROUNDS,
) -> IntArray:
    """Merge clusters (``-1``: a face alone) whose average-linkage similarity is ``>= threshold``
    (two lone faces: ``>= pair_threshold``), reciprocal best partners first, round by round.

    A cluster whose best candidate is below its threshold stays out of later rounds unless it
    merges: the average linkage to a union is a weighted mean of the linkages to its parts, so
    merges elsewhere never lift it. Returns labels ``0..C-1`` (lone faces are clusters of one).
    """
    lab = labels.copy()
    alone = lab < 0
    lab[alone] = lab.max(initial=-1) + 1 + np.arange(int(alone.sum()))
    lab = relabel(lab)
    pair_t = threshold if pair_threshold is None else pair_threshold
    m = int(lab.max(initial=-1)) + 1
    # above EXACT_MAX faces: float32 sums (10M faces: ~5M clusters, 2.5 GB less) and
    # candidates from k-means lists (exact search over 15k centroids took 11 s at 30k faces)
    small = len(x) <= EXACT_MAX
    sums = np.zeros((m, x.shape[1]), np.float64 if small else np.float32)
    np.add.at(sums, lab, x)
    n = np.bincount(lab, minlength=m).astype(np.float64)
    if m < 2:
        return relabel(lab)
    index = _CentroidIndex(sums, min(threshold, pair_t), k, exact=small)
    current = np.arange(m, dtype=np.int64)  # initial cluster -> current cluster
    try:
        lab = _merge_rounds(lab, sums, n, index, current, threshold, pair_t, k, max_rounds)
    finally:
        index.close()
    return relabel(lab)


def _merge_rounds(
    lab: IntArray,
    sums: npt.NDArray[np.floating],
    n: npt.NDArray[np.float64],
    index: _CentroidIndex,
    current: IntArray,
    threshold: float,
    pair_t: float,
    k: int,
    max_rounds: int,
) -> IntArray:
    m = len(n)
    active = np.arange(m, dtype=np.int64)
    best = np.full(m, -1, np.int64)
    best_score = np.full(m, -np.inf)
    for rnd in range(max_rounds):
        if m < 2 or len(active) == 0:
            break
        queried = active
        best[active], best_score[active] = -1, -np.inf
        for lo in range(0, len(active), MERGE_CHUNK):  # bounds the pair arrays' memory
            qs = active[lo : lo + MERGE_CHUNK]
            a, b = index.candidates(sums, qs, current, k if rnd == 0 else 2 * k, first=rnd == 0)
            avg = _linkage(sums, n, a, b)
            need = merge_threshold(n[a], n[b], threshold, pair_t)
            ua, ub, score = _best(a, b, avg - need)
            best[ua], best_score[ua] = ub, score
        index.first = None
        p = np.flatnonzero((best >= 0) & (best_score >= 0))
        p = p[(best[best[p]] == p) & (p < best[p])]
        if len(p) == 0:
            break
        q = best[p]
        parent = np.arange(m, dtype=np.int64)
        parent[q] = p
        keep = parent == np.arange(m)
        new_id = np.cumsum(keep) - 1
        # the union's sums and sizes; its partner lists are stale, so it searches again
        _add_rows(sums, p, q)
        n[p] += n[q]
        stale = np.flatnonzero(np.isin(best, p) | np.isin(best, q))
        touched = np.unique(np.concatenate([p, stale]))
        active = new_id[touched[keep[touched]]]
        sums, n = _compact(sums, np.flatnonzero(keep)), n[keep]
        best = np.where(best >= 0, new_id[parent[np.maximum(best, 0)]], -1)[keep]
        best_score = best_score[keep]
        lab = new_id[parent[lab]]
        current = new_id[parent[current]]
        m = len(n)
        logger.debug(
            "merge round %d: %d clusters searched, %d merges, %d clusters left",
            rnd + 1,
            len(queried),
            len(p),
            m,
        )
    return lab


def _add_rows(sums: npt.NDArray[np.floating], p: IntArray, q: IntArray) -> None:
    """``sums[p] += sums[q]`` block by block (``p`` and ``q`` disjoint, each without repeats)."""
    for lo in range(0, len(p), PAIR_BLOCK):
        sums[p[lo : lo + PAIR_BLOCK]] += sums[q[lo : lo + PAIR_BLOCK]]


def _compact(sums: npt.NDArray[np.floating], rows: IntArray) -> npt.NDArray[np.floating]:
    """``sums[rows]`` for increasing ``rows``, moved up in place block by block (no second
    ``(m, D)`` array): row ``rows[j] >= j`` is read before anything overwrites it."""
    for lo in range(0, len(rows), PAIR_BLOCK):
        hi = min(lo + PAIR_BLOCK, len(rows))
        sums[lo:hi] = sums[rows[lo:hi]]
    return sums[: len(rows)]


def strict_cores(graph: KnnGraph, threshold: float) -> IntArray:
    """Stage 1: Chinese whispers on edges ``>= threshold + CORE_OFFSET``; clusters of one -1."""
    cores = chinese_whispers(graph.restrict(threshold + CORE_OFFSET), weighted=True)
    sizes = np.bincount(cores)
    return np.where(sizes[cores] >= 2, cores, -1)


def merge_cores(x: FloatArray, cores: IntArray, threshold: float) -> IntArray:
    """Stage 2: average-linkage merging of the cores and the faces left alone."""
    return average_linkage_merge(x, cores, threshold, pair_threshold=threshold + PAIR_OFFSET)


def precise_clusters(graph: KnnGraph, threshold: float, x: FloatArray) -> IntArray:
    """The default method (see the module docstring): labels ``0..C-1`` of every face."""
    return merge_cores(x, strict_cores(graph, threshold), threshold)
