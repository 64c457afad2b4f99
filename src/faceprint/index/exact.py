"""Exact (brute-force) search: every query is scored against every stored vector.

``exact`` keeps float32 rows and streams them block by block:

- a few queries (``Q < gemm_min_queries``): the rows are split into one range per thread and
  each range is scored with FAISS's SIMD inner-product kernel, one pass over memory. (OpenBLAS'
  GEMV measured about 2x slower than the memory bound on this kind of machine.) Without FAISS
  (the core install, no ``faceprint[faiss]``) numpy's matrix-vector product scores the range.
- batches: each block of ``block_rows`` rows is multiplied with all queries by BLAS SGEMM
  (multi-threaded by BLAS), so the temporary is ``Q x block_rows`` and every row is read once.

A running top-k keeps, per query, only scores above the current k-th best (or the threshold),
so the selection costs little beyond the first block. Removal moves the last rows into the holes
(order is not kept), so the scan never wastes time on dead rows.

``exact-f16`` and ``exact-int8`` store 2 and 1 bytes per dimension in a FAISS scalar-quantizer
index: single queries use FAISS's SIMD scan over the codes (bandwidth halved or quartered);
batches decode blocks to float32 and use SGEMM. int8 codes are ``round(x / scale)`` with a
symmetric scale, either ``global`` (data independent: ``clip_sigmas / sqrt(dim) / 127``, since
components of unit vectors spread as ``1 / sqrt(dim)``) or ``per-dim`` (``max |x_d|`` of the
first added batch of at least ``min_train`` rows, later rows clipped). Queries are multiplied by
the scale, so scores come back as cosines.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt

from faceprint._optional import require
from faceprint.errors import IndexCorruptError, InvalidArgumentError
from faceprint.index._files import IndexWriter
from faceprint.index._persist import check_ids_loaded, open_index, save_index
from faceprint.index._util import (
    FloatArray,
    Growable,
    IdArray,
    IdBook,
    TopK,
    Workers,
    check_add,
    check_ids,
    default_threads,
    split_ranges,
)
from faceprint.index.base import IndexManifest, SearchResult, VectorIndex

try:  # optional for ``exact`` (a faster kernel), needed by the quantized backends
    import faiss
except ImportError:  # pragma: no cover - the core install
    faiss = None  # type: ignore[assignment]

__all__ = ["ExactF16Index", "ExactIndex", "ExactInt8Index"]

logger = logging.getLogger(__name__)

#: below this many rows per thread a scan stays on one thread
MIN_ROWS_PER_THREAD = 32768


def _ip_into(out: FloatArray, query: FloatArray, rows: FloatArray) -> None:
    """``out[i] = rows[i] . query`` with FAISS's SIMD kernel (releases the GIL), else numpy's."""
    if faiss is None:
        np.matmul(rows, query, out=out[: len(rows)])
        return
    faiss.fvec_inner_products_ny(  # type: ignore[attr-defined]
        faiss.swig_ptr(out), faiss.swig_ptr(query), faiss.swig_ptr(rows), rows.shape[1], len(rows)
    )


class ExactIndex(VectorIndex):
    """Brute-force float32 search (see the module docstring).

    Args:
        dim: vector size.
        threads: scan threads for single queries (default: the usable cores).
        block_rows: rows per block (bounds the ``Q x block_rows`` temporary).
        gemm_min_queries: batches of at least this many queries use SGEMM.
    """

    name: ClassVar[str] = "exact"

    def __init__(
        self,
        dim: int,
        *,
        threads: int | None = None,
        block_rows: int = 16384,
        gemm_min_queries: int = 4,
    ) -> None:
        super().__init__(dim)
        if block_rows < 1 or gemm_min_queries < 1:
            raise InvalidArgumentError("block_rows and gemm_min_queries must be >= 1")
        self.block_rows = int(block_rows)
        self.gemm_min_queries = int(gemm_min_queries)
        self._workers = Workers(threads or default_threads())
        self._vec = Growable((self.dim,), np.float32)
        self._book = IdBook()

    @property
    def params(self) -> dict[str, Any]:
        return {
            "threads": self._workers.threads,
            "block_rows": self.block_rows,
            "gemm_min_queries": self.gemm_min_queries,
        }

    def __len__(self) -> int:
        return len(self._vec)

    def ids(self) -> IdArray:
        return self._book.ext.view.copy()

    @property
    def nbytes(self) -> int:
        return self._vec.nbytes + self._book.nbytes

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        id_arr, vec = check_add(self.dim, ids, vectors)
        self._book.check_new(id_arr)
        self._vec.append(vec)
        self._book.append(id_arr)

    def remove(self, ids: npt.ArrayLike) -> int:
        pos = self._book.positions_of(check_ids(ids))
        if len(pos) == 0:
            return 0
        n, n_new = len(self._vec), len(self._vec) - len(pos)
        holes = pos[pos < n_new]
        tail = np.arange(n_new, n)
        donors = tail[~np.isin(tail, pos)]
        for arr in (self._vec.view, self._book.ext.view):
            arr[holes] = arr[donors]
        self._vec.truncate(n_new)
        self._book.ext.truncate(n_new)
        return len(pos)

    def close(self) -> None:
        self._workers.close()

    # --- search -------------------------------------------------------------------------------
    def _search(self, q: FloatArray, k: int, floor: np.float32) -> SearchResult:
        if len(q) >= self.gemm_min_queries:
            acc = self._scan_gemm(q, k, floor)
        else:
            acc = self._scan_simd(q, k, floor)
        return SearchResult(*acc.result())

    def _blocks(self, lo: int, hi: int) -> list[tuple[int, int]]:
        return [(s, min(s + self.block_rows, hi)) for s in range(lo, hi, self.block_rows)]

    def _scan_gemm(self, q: FloatArray, k: int, floor: np.float32) -> TopK:
        acc = TopK(len(q), k, floor)
        data, ext = self._vec.view, self._book.ext.view
        for lo, hi in self._blocks(0, len(data)):
            acc.push(q @ data[lo:hi].T, ext[lo:hi])
        return acc

    def _scan_simd(self, q: FloatArray, k: int, floor: np.float32) -> TopK:
        data, ext = self._vec.view, self._book.ext.view

        def scan(rng: tuple[int, int]) -> TopK:
            acc = TopK(len(q), k, floor)
            scores = np.empty((len(q), self.block_rows), np.float32)
            for lo, hi in self._blocks(*rng):
                for j in range(len(q)):
                    _ip_into(scores[j], q[j], data[lo:hi])
                acc.push(scores[:, : hi - lo], ext[lo:hi])
            return acc

        ranges = split_ranges(len(data), self._workers.threads, min_rows=MIN_ROWS_PER_THREAD)
        parts = [scan(ranges[0])] if len(ranges) == 1 else self._workers.map(scan, ranges)
        for other in parts[1:]:
            parts[0].merge(other)
        return parts[0]

    # --- persistence ----------------------------------------------------------------------------
    def save(self, path: Path, *, fingerprint: str = "", pack: str = "") -> None:
        def write(w: IndexWriter) -> dict[str, Any]:
            w.array("vectors.f32", self._vec.view)
            w.array("ids.i64", self._book.ext.view)
            return {}

        save_index(self, path, fingerprint=fingerprint, pack=pack, write=write)

    @classmethod
    def load(cls, path: Path, *, expect: IndexManifest) -> Self:
        reader, params = open_index(cls, path, expect)
        ids = reader.array("ids.i64")
        vec = reader.array("vectors.f32")
        check_ids_loaded(reader, ids, len(vec))
        if vec.shape != (len(ids), expect.dim):
            raise _corrupt(reader.path, f"vectors have shape {vec.shape}")
        index = cls(expect.dim, **params)
        index._vec = Growable((expect.dim,), np.float32, vec)
        index._book = IdBook(ids)
        return index


def _corrupt(path: Path, why: str) -> IndexCorruptError:
    return IndexCorruptError(f"{path}: {why}")


class _QuantizedExact(VectorIndex):
    """Exact search over scalar-quantised rows held in a FAISS ``IndexScalarQuantizer``."""

    QTYPE: ClassVar[str]  #: the ``faiss.ScalarQuantizer`` code type's name

    def __init__(
        self,
        dim: int,
        *,
        threads: int | None = None,
        block_rows: int = 16384,
        gemm_min_queries: int = 8,
    ) -> None:
        super().__init__(dim)
        self.block_rows = int(block_rows)
        self.gemm_min_queries = int(gemm_min_queries)
        self.threads = int(threads or default_threads())
        self._workers = Workers(self.threads)
        fs = require("faiss", feature=f"index backend {self.name!r}")
        qtype = getattr(fs.ScalarQuantizer, self.QTYPE)
        self._sq = fs.IndexScalarQuantizer(self.dim, qtype, fs.METRIC_INNER_PRODUCT)
        self._book = IdBook()

    @property
    def params(self) -> dict[str, Any]:
        return {
            "threads": self.threads,
            "block_rows": self.block_rows,
            "gemm_min_queries": self.gemm_min_queries,
        }

    # scaling hooks (identity for float16)
    def _encode_input(self, vec: FloatArray) -> FloatArray:
        return vec

    def _query_scale(self, q: FloatArray) -> FloatArray:
        return q

    def _scan_query(self, q: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The query as FAISS's scan takes it and the ``(Q, 1)`` factor that rescales scores."""
        return q, np.ones((len(q), 1), np.float32)

    def __len__(self) -> int:
        return int(self._sq.ntotal)

    def ids(self) -> IdArray:
        return self._book.ext.view.copy()

    @property
    def nbytes(self) -> int:
        return int(self._sq.ntotal * self._sq.code_size) + self._book.nbytes

    def close(self) -> None:
        self._workers.close()

    def _codes(self) -> npt.NDArray[np.uint8]:
        n = int(self._sq.ntotal) * int(self._sq.code_size)
        if n == 0:
            return np.zeros((0, self._sq.code_size), np.uint8)
        flat = faiss.rev_swig_ptr(self._sq.codes.data(), n)
        return np.asarray(flat).reshape(-1, self._sq.code_size)

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        id_arr, vec = check_add(self.dim, ids, vectors)
        self._book.check_new(id_arr)
        self._sq.add(self._encode_input(vec))
        self._book.append(id_arr)

    def remove(self, ids: npt.ArrayLike) -> int:
        pos = self._book.positions_of(check_ids(ids))
        if len(pos):
            self._sq.remove_ids(faiss.IDSelectorBatch(pos))
            keep = np.ones(len(self._book.ext), bool)
            keep[pos] = False
            self._book.ext.keep(keep)
        return len(pos)

    def _search(self, q: FloatArray, k: int, floor: np.float32) -> SearchResult:
        q = self._query_scale(q)
        acc = TopK(len(q), k, floor)
        if len(q) >= self.gemm_min_queries:
            self._scan_decode(q, acc)
        else:
            self._scan_faiss(q, k, acc)
        return SearchResult(*acc.result())

    def _scan_faiss(self, q: FloatArray, k: int, acc: TopK) -> None:
        fq, factor = self._scan_query(q)
        parts = self._workers.split_queries(
            lambda part: self._sq.search(part, k), fq, direct_from=4 * self.threads
        )
        d, i = (np.concatenate(x) for x in zip(*parts, strict=True))
        ok = i >= 0
        scores = np.where(ok, d * factor, -np.inf).astype(np.float32)
        acc.push(scores, self._book.ext.view[np.where(ok, i, 0)])

    def _scan_decode(self, q: FloatArray, acc: TopK) -> None:
        codes, ext = self._codes(), self._book.ext.view
        for lo in range(0, len(codes), self.block_rows):
            hi = min(lo + self.block_rows, len(codes))
            rows = self._sq.sa_decode(codes[lo:hi])
            acc.push(q @ rows.T, ext[lo:hi])

    def _extra_state(self, w: IndexWriter) -> dict[str, Any]:
        return {}

    def _restore_extra(self, reader: Any) -> None:
        return None

    def save(self, path: Path, *, fingerprint: str = "", pack: str = "") -> None:
        def write(w: IndexWriter) -> dict[str, Any]:
            w.array("codes.u8", self._codes())
            w.array("ids.i64", self._book.ext.view)
            return self._extra_state(w)

        save_index(self, path, fingerprint=fingerprint, pack=pack, write=write)

    @classmethod
    def load(cls, path: Path, *, expect: IndexManifest) -> Self:
        reader, params = open_index(cls, path, expect)
        ids = reader.array("ids.i64")
        codes = reader.array("codes.u8")
        check_ids_loaded(reader, ids, len(codes))
        index = cls(expect.dim, **params)
        if codes.shape != (len(ids), index._sq.code_size):
            raise _corrupt(reader.path, f"codes have shape {codes.shape}")
        index._restore_extra(reader)
        if len(codes):
            index._sq.add_sa_codes(codes)
        index._book = IdBook(ids)
        return index


class ExactF16Index(_QuantizedExact):
    """Exact search over float16 rows (2 bytes per dimension)."""

    name: ClassVar[str] = "exact-f16"
    QTYPE: ClassVar[str] = "QT_fp16"


class ExactInt8Index(_QuantizedExact):
    """Exact search over int8 rows with a symmetric scale (1 byte per dimension).

    Args:
        scale: ``"global"`` (data independent) or ``"per-dim"`` (learnt from the first batch of
            at least ``min_train`` rows; smaller first batches use the global scale).
        clip_sigmas: the global scale maps ``clip_sigmas / sqrt(dim)`` to 127.
    """

    name: ClassVar[str] = "exact-int8"
    QTYPE: ClassVar[str] = "QT_8bit_direct_signed"
    BUILD_PARAMS: ClassVar[frozenset[str]] = frozenset({"scale", "clip_sigmas"})

    def __init__(
        self,
        dim: int,
        *,
        scale: Literal["global", "per-dim"] = "per-dim",
        clip_sigmas: float = 5.0,
        min_train: int = 1000,
        **kw: Any,
    ) -> None:
        super().__init__(dim, **kw)
        if scale not in ("global", "per-dim"):
            raise InvalidArgumentError(f"scale must be 'global' or 'per-dim', got {scale!r}")
        self.scale_mode = scale
        self.clip_sigmas = float(clip_sigmas)
        self.min_train = int(min_train)
        self._scale = np.full(self.dim, self.clip_sigmas / np.sqrt(self.dim) / 127, np.float32)
        self._trained = scale == "global"

    @property
    def params(self) -> dict[str, Any]:
        return {
            **super().params,
            "scale": self.scale_mode,
            "clip_sigmas": self.clip_sigmas,
            "min_train": self.min_train,
        }

    @property
    def scale(self) -> FloatArray:
        """Per-dimension size of one int8 step."""
        return self._scale.copy()

    def _encode_input(self, vec: FloatArray) -> FloatArray:
        if not self._trained:  # the first batch fixes the scale of all stored codes
            if len(vec) >= self.min_train:
                top = np.abs(vec).max(axis=0)
                self._scale = (np.maximum(top, 1e-6) / 127).astype(np.float32)
            self._trained = True
        return np.clip(np.rint(vec / self._scale), -127, 127).astype(np.float32)

    def _query_scale(self, q: FloatArray) -> FloatArray:
        return np.ascontiguousarray(q * self._scale, dtype=np.float32)

    def _scan_query(self, q: FloatArray) -> tuple[FloatArray, FloatArray]:
        # FAISS scans int8 codes with an int8 x int8 dot product: quantise the (scaled) query
        # to integers per row, and undo that factor on the scores
        step = np.maximum(np.abs(q).max(axis=1, keepdims=True), 1e-30) / 127
        return np.rint(q / step).astype(np.float32), step.astype(np.float32)

    def _extra_state(self, w: IndexWriter) -> dict[str, Any]:
        w.array("scale.f32", self._scale)
        return {}

    def _restore_extra(self, reader: Any) -> None:
        scale = reader.array("scale.f32")
        if scale.shape != (self.dim,) or not np.all(scale > 0):
            raise _corrupt(reader.path, "bad int8 scale")
        self._scale, self._trained = scale.astype(np.float32), True
