"""Approximate search with a FAISS HNSW graph (``IndexHNSWFlat``, inner product).

The graph stores the float32 vectors, so scores are exact cosines of the vectors it finds.
HNSW cannot delete nodes, so removal is a tombstone: the removed rows are cleared in a bitmap
that FAISS checks during the graph search (``SearchParametersHNSW.sel``), so a removed id is
never returned and every result row still gets up to ``k`` live neighbours; the removed
vectors themselves are overwritten with zeros at once (a deleted face's embedding must not stay
in memory or in a saved file). When tombstones
exceed ``rebuild_fraction`` of the rows the graph is rebuilt from the live vectors (read back
from the graph's own storage). FAISS node numbers are internal; ids map through an array, so a
removed id may be added again.

Defaults for unit face embeddings (measured with ``faceprint bench search``): ``M=32``,
``ef_construction=100``, ``ef_search=128``; raise ``ef_search`` for more recall on queries far
from every stored face (probes of people not enrolled), at proportionally more time.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar, Self

import faiss
import numpy as np
import numpy.typing as npt

from faceprint.errors import IndexCorruptError, InvalidArgumentError
from faceprint.index._faiss import read_faiss, write_faiss
from faceprint.index._files import IndexWriter
from faceprint.index._persist import check_ids_loaded, open_index, save_index
from faceprint.index._util import (
    FloatArray,
    Growable,
    IdArray,
    IdSet,
    TopK,
    Workers,
    check_add,
    check_ids,
    default_threads,
)
from faceprint.index.base import IndexManifest, SearchResult, VectorIndex

__all__ = ["HNSWIndex"]

logger = logging.getLogger(__name__)


class HNSWIndex(VectorIndex):
    """FAISS HNSW graph over unit vectors with tombstone deletes.

    Args:
        dim: vector size.
        M: graph degree (neighbours per node on upper layers; ``2M`` on the base layer).
        ef_construction: candidate list size while inserting (build time vs graph quality).
        ef_search: candidate list size while searching (raised to ``k`` when smaller).
        rebuild_fraction: rebuild the graph when this fraction of its nodes is removed.
        threads: threads for small query batches (large batches use FAISS's OpenMP).
    """

    name: ClassVar[str] = "hnsw"
    BUILD_PARAMS: ClassVar[frozenset[str]] = frozenset({"M", "ef_construction"})

    def __init__(
        self,
        dim: int,
        *,
        M: int = 32,
        ef_construction: int = 100,
        ef_search: int = 128,
        rebuild_fraction: float = 0.2,
        threads: int | None = None,
    ) -> None:
        super().__init__(dim)
        if M < 2 or ef_construction < 1 or ef_search < 1 or not 0 < rebuild_fraction <= 1:
            raise InvalidArgumentError(
                "need M >= 2, ef_construction >= 1, ef_search >= 1, 0 < rebuild_fraction <= 1"
            )
        self.M, self.ef_construction = int(M), int(ef_construction)
        self.ef_search, self.rebuild_fraction = int(ef_search), float(rebuild_fraction)
        self._workers = Workers(threads or default_threads())
        self._graph = self._new_graph()
        self._ext = Growable((), np.int64)  # node -> id
        self._alive = Growable((), np.bool_)  # node -> not removed
        self._live = IdSet()
        self._bitmap: npt.NDArray[np.uint8] | None = None  # cached packed ``alive``

    def _new_graph(self) -> Any:
        g = faiss.IndexHNSWFlat(self.dim, self.M, faiss.METRIC_INNER_PRODUCT)
        g.hnsw.efConstruction = self.ef_construction
        g.hnsw.efSearch = self.ef_search
        return g

    @property
    def params(self) -> dict[str, Any]:
        return {
            "M": self.M,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
            "rebuild_fraction": self.rebuild_fraction,
            "threads": self._workers.threads,
        }

    def __len__(self) -> int:
        return len(self._live)

    @property
    def tombstones(self) -> int:
        """Removed nodes still in the graph (skipped by every search)."""
        return len(self._ext) - len(self._live)

    def ids(self) -> IdArray:
        return self._live.values()

    @property
    def nbytes(self) -> int:
        h = self._graph.hnsw
        links = 4 * h.neighbors.size() + 4 * h.levels.size() + 8 * h.offsets.size()
        vectors = 4 * self.dim * int(self._graph.ntotal)
        return links + vectors + self._ext.nbytes + self._alive.nbytes + self._live.nbytes

    def close(self) -> None:
        self._workers.close()

    # --- changes ------------------------------------------------------------------------------
    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        id_arr, vec = check_add(self.dim, ids, vectors)
        dup = id_arr[self._live.contains(id_arr)]
        if len(dup):
            raise InvalidArgumentError(
                f"ids already in the index: {dup[:5].tolist()} (remove them first)"
            )
        self._graph.add(vec)
        self._ext.append(id_arr)
        self._alive.append(np.ones(len(id_arr), bool))
        self._live.add(id_arr)
        self._bitmap = None

    def remove(self, ids: npt.ArrayLike) -> int:
        gone = self._live.discard(check_ids(ids))
        if len(gone) == 0:
            return 0
        nodes = np.flatnonzero(np.isin(self._ext.view, gone) & self._alive.view)
        self._alive.view[nodes] = False
        self._vectors()[nodes] = 0.0  # erase the vectors now: saved files must not keep them
        self._bitmap = None
        if self.tombstones > self.rebuild_fraction * len(self._ext):
            self.rebuild()
        return len(gone)

    def _vectors(self) -> FloatArray:
        """The graph's stored vectors, ``(nodes, dim)`` (a view into FAISS memory)."""
        n = int(self._graph.ntotal)
        if n == 0:
            return np.zeros((0, self.dim), np.float32)
        storage = faiss.downcast_index(self._graph.storage)
        raw = faiss.rev_swig_ptr(storage.codes.data(), n * self.dim * 4)  # type: ignore[attr-defined]
        return np.asarray(raw).view(np.float32).reshape(n, self.dim)

    def rebuild(self) -> None:
        """Rebuild the graph from the live vectors (drops all tombstones)."""
        keep = self._alive.view.copy()
        logger.info("rebuilding HNSW graph: %d live of %d nodes", keep.sum(), len(keep))
        live_vec = self._vectors()[keep].copy()
        self._graph = self._new_graph()
        if len(live_vec):
            self._graph.add(live_vec)
        self._ext.keep(keep)
        self._alive = Growable((), np.bool_, np.ones(len(self._ext), bool))
        self._bitmap = None

    # --- search -------------------------------------------------------------------------------
    def _search_params(self, k: int) -> Any:
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        params.efSearch = max(self.ef_search, k)
        if self.tombstones:
            if self._bitmap is None:
                self._bitmap = np.packbits(self._alive.view, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(self._ext), faiss.swig_ptr(self._bitmap))
        return params

    def _search(self, q: FloatArray, k: int, floor: np.float32) -> SearchResult:
        params = self._search_params(k)
        bitmap = self._bitmap  # keep the selector's memory alive during the call
        parts = self._workers.split_queries(
            lambda part: self._graph.search(part, k, params=params),
            q,
            direct_from=4 * self._workers.threads,
        )
        del bitmap
        dist, nodes = (np.concatenate(x) for x in zip(*parts, strict=True))
        ok = nodes >= 0
        ids = np.where(ok, self._ext.view[np.where(ok, nodes, 0)], -1)
        acc = TopK(len(q), k, floor)
        acc.push(np.where(ok, dist, -np.inf).astype(np.float32), ids)
        return SearchResult(*acc.result())

    # --- persistence ----------------------------------------------------------------------------
    def save(self, path: Path, *, fingerprint: str = "", pack: str = "") -> None:
        def write(w: IndexWriter) -> dict[str, Any]:
            write_faiss(self._graph, w.file("graph.faiss"))
            w.register("graph.faiss")
            w.array("nodes.i64", self._ext.view)
            w.array("alive.u8", self._alive.view.view(np.uint8))
            return {}

        save_index(self, path, fingerprint=fingerprint, pack=pack, write=write)

    @classmethod
    def load(cls, path: Path, *, expect: IndexManifest) -> Self:
        reader, params = open_index(cls, path, expect)
        ext = reader.array("nodes.i64")
        alive = reader.array("alive.u8").view(np.bool_)
        if alive.shape != ext.shape:
            raise IndexCorruptError(f"{reader.path}: node arrays differ in length")
        check_ids_loaded(reader, ext[alive])
        index = cls(expect.dim, **params)
        index._graph = _read_graph(reader.verify("graph.faiss"), expect.dim, len(ext))
        index._graph.hnsw.efSearch = index.ef_search
        index._ext = Growable((), np.int64, ext)
        index._alive = Growable((), np.bool_, alive.copy())
        index._live = IdSet(ext[alive])
        return index


def _read_graph(path: Path, dim: int, nodes: int) -> Any:
    graph = read_faiss(path)
    if not isinstance(graph, faiss.IndexHNSWFlat) or graph.d != dim or graph.ntotal != nodes:
        raise IndexCorruptError(f"{path}: not an HNSW graph of {nodes} x {dim} vectors")
    return graph
