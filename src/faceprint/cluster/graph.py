"""The k-nearest-neighbour similarity graph every clustering method starts from.

The graph is built with one of the gallery's index backends (:mod:`faceprint.index`),
never from an N x N matrix: every face is added to an index and searched for its ``k`` nearest
neighbours with a similarity floor, so memory is ``O(N k)`` edges plus the index itself.

- ``exact`` (brute force, BLAS blocks): ``O(N^2 D)`` time, exact neighbours; used up to
  :data:`EXACT_MAX` faces (13k faces: about 2 s of CPU).
- ``hnsw`` (FAISS HNSW graph): about ``O(N log N)`` time, approximate neighbours.
- ``ivf`` (an IVF list join, :mod:`faceprint.cluster.listjoin`): k-means lists, each face
  compared with the members of its ``NPROBE`` nearest lists in BLAS products, then one
  NN-descent refinement; ``O(N * NPROBE * LIST_SIZE)`` dot products. On 1M synthetic dlib-like
  faces the default clustering is 3.4x faster with it than with ``hnsw`` at pairwise F 0.878
  instead of 0.883 (precision equal), so ``auto`` keeps ``hnsw`` (docs/scale.md).

The edges are symmetrised (``i -> j`` or ``j -> i`` gives the undirected edge ``{i, j}``) and
stored once per direction in CSR form, so algorithms can walk each node's neighbours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse

from faceprint.cluster.listjoin import list_join_knn
from faceprint.index import create_index

__all__ = ["EXACT_MAX", "Backend", "KnnGraph", "knn_graph"]

logger = logging.getLogger(__name__)

#: above this many faces, ``backend="auto"`` uses HNSW instead of exact search
EXACT_MAX = 20_000
#: queries searched per call (bounds the temporary score block of the exact backend)
QUERY_BATCH = 2048

Backend = Literal["auto", "exact", "hnsw", "ivf"]
FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False, slots=True)
class KnnGraph:
    """A symmetric similarity graph over ``n`` faces.

    Attributes:
        n: number of nodes (faces); node ``i`` is row ``i`` of the embeddings.
        indptr / indices / sims: CSR adjacency: the neighbours of node ``i`` are
            ``indices[indptr[i]:indptr[i+1]]`` with cosine similarities ``sims[...]``; every
            undirected edge appears in both directions, no self loops.
        knn: ``(n, k)`` the directed k-NN lists (node numbers, ``-1`` pads) before the floor
            and symmetrisation, nearest first; ``knn_sims`` their similarities.
        backend: the index backend that found the neighbours.
    """

    n: int
    indptr: IntArray
    indices: IntArray
    sims: FloatArray
    knn: IntArray
    knn_sims: FloatArray
    backend: str

    @property
    def edges(self) -> int:
        """Number of undirected edges."""
        return len(self.indices) // 2

    def matrix(self) -> sparse.csr_matrix:
        """The adjacency as a scipy CSR matrix of similarities."""
        return sparse.csr_matrix((self.sims, self.indices, self.indptr), shape=(self.n, self.n))

    def upper(self) -> tuple[IntArray, IntArray, FloatArray]:
        """Each undirected edge once: ``(i, j, sim)`` with ``i < j``."""
        rows = np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self.indptr))
        keep = rows < self.indices
        return rows[keep], self.indices[keep], self.sims[keep]

    def restrict(self, floor: float) -> KnnGraph:
        """The same graph without edges below ``floor``."""
        rows = np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self.indptr))
        keep = self.sims >= floor
        return _from_directed(
            self.n,
            rows[keep],
            self.indices[keep],
            self.sims[keep],
            self.knn,
            self.knn_sims,
            self.backend,
            symmetric=True,
        )


def _pick_backend(n: int, backend: Backend) -> str:
    if backend == "auto":
        return "exact" if n <= EXACT_MAX else "hnsw"
    return backend


def _search_all(
    embeddings: FloatArray, k: int, floor: float, backend: str
) -> tuple[IntArray, FloatArray]:
    """The ``k`` nearest other faces of every face (``-1`` pads), similarities above ``floor``."""
    n = len(embeddings)
    if backend == "ivf":
        return list_join_knn(embeddings, k, floor)
    params = (
        {"M": 24, "ef_construction": 80, "ef_search": max(64, 2 * k)} if backend == "hnsw" else {}
    )
    index = create_index(backend, embeddings.shape[1], **params)
    try:
        index.add(np.arange(n, dtype=np.int64), embeddings)
        kk = min(k + 1, n)
        nbr = np.full((n, k), -1, np.int64)
        sim = np.full((n, k), -np.inf, np.float32)
        for lo in range(0, n, QUERY_BATCH):
            hi = min(lo + QUERY_BATCH, n)
            res = index.search(embeddings[lo:hi], kk, threshold=floor)
            _drop_self(res.ids, res.scores, np.arange(lo, hi), nbr[lo:hi], sim[lo:hi])
    finally:
        index.close()
    return nbr, sim


def _drop_self(
    ids: IntArray, scores: FloatArray, rows: IntArray, out_ids: IntArray, out_sims: FloatArray
) -> None:
    """Copy each result row without the query itself (kept order), truncated to ``k``."""
    k = out_ids.shape[1]
    not_self = ids != rows[:, None]
    # stable: move the self hit (if any) to the end of the row, then keep the first k
    order = np.argsort(~not_self, axis=1, kind="stable")
    ids = np.take_along_axis(ids, order, axis=1)[:, :k]
    scores = np.take_along_axis(scores, order, axis=1)[:, :k]
    bad = (ids < 0) | (ids == rows[:, None])
    out_ids[:, : ids.shape[1]] = np.where(bad, -1, ids)
    out_sims[:, : ids.shape[1]] = np.where(bad, -np.inf, scores)


def _from_directed(
    n: int,
    src: IntArray,
    dst: IntArray,
    sim: FloatArray,
    knn: IntArray,
    knn_sims: FloatArray,
    backend: str,
    *,
    symmetric: bool = False,
) -> KnnGraph:
    if not symmetric:
        src, dst, sim = (
            np.concatenate([src, dst]),
            np.concatenate([dst, src]),
            np.concatenate([sim, sim]),
        )
    m = sparse.coo_matrix((sim.astype(np.float32), (src, dst)), shape=(n, n)).tocsr()
    # duplicates (i->j found from both ends) were summed: take the max instead
    m.sum_duplicates()
    if not symmetric:
        both = sparse.coo_matrix((np.ones(len(src), np.float32), (src, dst)), shape=(n, n)).tocsr()
        both.sum_duplicates()
        m.data = (m.data / both.data).astype(np.float32)
    m.sort_indices()
    return KnnGraph(
        n=n,
        indptr=m.indptr.astype(np.int64),
        indices=m.indices.astype(np.int64),
        sims=m.data.astype(np.float32),
        knn=knn,
        knn_sims=knn_sims,
        backend=backend,
    )


def knn_graph(
    embeddings: npt.ArrayLike,
    *,
    k: int = 20,
    floor: float = 0.0,
    backend: Backend = "auto",
) -> KnnGraph:
    """The symmetrised ``k``-NN graph of L2-normalised ``embeddings``, edges with cosine
    similarity >= ``floor`` (see the module docstring for time and memory).

    Args:
        embeddings: ``(N, D)`` unit float32 rows.
        k: neighbours searched per face (each face keeps at most ``k`` out-edges; in-edges from
            other faces' lists are added by symmetrisation).
        floor: cosine similarity below which no edge is kept.
        backend: ``"exact"``, ``"hnsw"``, ``"ivf"`` or ``"auto"`` (exact up to
            :data:`EXACT_MAX` faces, ``hnsw`` above).
    """
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    n = len(x)
    name = _pick_backend(n, backend)
    if n < 2:
        empty = np.zeros((n, k), np.int64) - 1
        return _from_directed(n, *_no_edges(), empty, np.full((n, k), -np.inf, np.float32), name)
    nbr, sim = _search_all(x, k, floor, name)
    src, col = np.nonzero(nbr >= 0)  # row-major: each face's kept neighbours in order
    logger.debug("knn graph: %d faces, k=%d, %d directed edges (%s)", n, k, len(src), name)
    return _from_directed(n, src, nbr[src, col], sim[src, col], nbr, sim, name)


def _no_edges() -> tuple[IntArray, IntArray, FloatArray]:
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
