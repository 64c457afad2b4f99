"""Inverted lists with product-quantised codes (FAISS ``IndexIVFPQ``, inner product).

For galleries that do not fit in RAM as float32: each vector costs ``m`` bytes of PQ code plus
its 8-byte id in the inverted lists. A query visits the ``nprobe`` lists whose centroids are
closest and ranks their codes by approximate inner product. With ``refine=True`` (default) the
best ``shortlist`` candidates are re-scored exactly on the full vectors, memory-mapped after a
load like the binary cascade's, so returned scores are exact cosines.

``fastscan=True`` stores 4-bit codes (``m / 2`` bytes, ``m`` default ``dim / 2`` up to 128-d) in
FAISS's ``IndexIVFPQFastScan``, whose SIMD kernels score a list's codes in blocks of 32 with
lookup tables held in registers: an order of magnitude faster per code than 8-bit IVF-PQ, so
many more lists can be visited for the same time. Codes encode the residual from their list's
centroid, which keeps 4-bit codes accurate enough to shortlist for the exact re-rank; with
``rotation="opq"`` the vectors are first rotated so that every sub-quantizer sees an even share
of the variance (on 1M dlib-like faces, the true neighbour left the 256 best-coded candidates
for 0.05 % of probes instead of 0.25 %). This is the configuration for ten million faces on one
machine (docs/scale.md).

Training needs data: until the index holds ``min_train`` vectors it answers exactly from the
stored vectors; then the coarse quantizer (``nlist`` centroids, default ``~sqrt(n)`` rounded to
a power of two) and the PQ codebooks are learnt on up to ``train_size`` of them and everything
is encoded. FAISS ids are the template ids, so removal is FAISS's own ``remove_ids``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import faiss
import numpy as np
import numpy.typing as npt

from faceprint.errors import IndexCorruptError, InvalidArgumentError
from faceprint.index._faiss import read_faiss, write_faiss
from faceprint.index._files import IndexWriter
from faceprint.index._persist import load_ids_and_vectors, open_index, save_index
from faceprint.index._store import FloatStore, rerank, scratch_folder, search_rows
from faceprint.index._util import (
    FloatArray,
    IdArray,
    IdMap,
    TopK,
    Workers,
    check_add,
    check_ids,
    default_threads,
    divisor_at_most,
)
from faceprint.index.base import IndexManifest, SearchResult, VectorIndex

__all__ = ["IVFPQIndex", "auto_nlist", "default_m"]

logger = logging.getLogger(__name__)

ADD_ROWS = 65536


def default_m(dim: int) -> int:
    """PQ bytes per vector: ``dim / 4`` up to 256-d (dlib-like embeddings sit in a narrow cone
    where neighbours differ by little), ``dim / 8`` above (64 bytes for 512-d)."""
    return divisor_at_most(dim, dim // 4 if dim <= 256 else dim // 8)


def default_fastscan_m(dim: int) -> int:
    """4-bit sub-quantizers of the fast-scan variant: ``dim / 2`` up to 128-d (32 bytes for the
    128-d packs), ``dim / 4`` above (64 bytes for 512-d)."""
    return divisor_at_most(dim, dim // 2 if dim <= 128 else dim // 4)


def auto_nlist(n: int) -> int:
    """Number of inverted lists for ``n`` vectors: ``sqrt(n)`` rounded to a power of two."""
    return int(np.clip(2 ** round(np.log2(max(n, 1)) / 2), 16, 65536))


class IVFPQIndex(VectorIndex):
    """FAISS IVF-PQ with an optional exact re-rank on memory-mapped full vectors.

    Args:
        dim: vector size.
        nlist: inverted lists (``None``: :func:`auto_nlist` of the size at training time).
        m: PQ sub-quantizers, bytes per code with ``nbits=8`` (``None``: :func:`default_m`).
        nbits: bits per sub-quantizer code (4 with ``fastscan``).
        fastscan: 4-bit codes scanned by FAISS's SIMD fast-scan kernels (see the module doc).
        rotation: ``"opq"`` learns an orthogonal rotation with the codebooks (FAISS's
            ``OPQMatrix``) that spreads the variance evenly over the sub-quantizers, so the codes
            rank candidates closer to their exact order (see the module doc); ``"none"``.
        nprobe: lists visited per query.
        refine: re-score the ``shortlist`` best PQ candidates exactly.
        shortlist: candidates re-scored per query (at least ``k``).
        mmap: after :meth:`load`, keep the full vectors memory-mapped instead of in RAM.
        prefault: with ``mmap``, map every page of the vectors when loading (one pass over the
            file, which the load's checksum has just read), so queries never wait for page
            faults; set ``False`` when the vectors are much larger than RAM.
        min_train / train_size: train once this many vectors are in, on at most this many.
        seed: training sample seed.
        threads: threads for small query batches (large batches use FAISS's OpenMP).
        scratch: a folder where the full vectors added before the first save are kept (an
            unlinked temporary file) instead of in RAM, for builds larger than memory; not saved.
    """

    name: ClassVar[str] = "ivfpq"
    BUILD_PARAMS: ClassVar[frozenset[str]] = frozenset(
        {"nlist", "m", "nbits", "fastscan", "rotation", "seed"}
    )

    def __init__(
        self,
        dim: int,
        *,
        nlist: int | None = None,
        m: int | None = None,
        nbits: int | None = None,
        fastscan: bool = False,
        rotation: Literal["none", "opq"] = "none",
        nprobe: int = 64,
        refine: bool = True,
        shortlist: int = 256,
        mmap: bool = True,
        prefault: bool = True,
        min_train: int = 20000,
        train_size: int = 65536,
        seed: int = 0,
        threads: int | None = None,
        scratch: str | Path | None = None,
    ) -> None:
        super().__init__(dim)
        self.fastscan = bool(fastscan)
        default = default_fastscan_m if self.fastscan else default_m
        self.m = int(m) if m is not None else default(self.dim)
        if self.m < 1 or self.dim % self.m:
            raise InvalidArgumentError(f"m={self.m} must divide dim={self.dim}")
        nbits = (4 if self.fastscan else 8) if nbits is None else int(nbits)
        if self.fastscan and nbits != 4:
            raise InvalidArgumentError(f"fastscan needs nbits=4, got {nbits}")
        if rotation not in ("none", "opq"):
            raise InvalidArgumentError(f"rotation must be 'none' or 'opq', got {rotation!r}")
        self.rotation = rotation
        self.nlist, self.nbits, self.nprobe = nlist, nbits, int(nprobe)
        self.refine, self.shortlist, self.mmap = bool(refine), int(shortlist), bool(mmap)
        self.min_train, self.train_size, self.seed = int(min_train), int(train_size), int(seed)
        least = max(1 << self.nbits, int(nlist or 0))  # FAISS needs a point per centroid
        if min(self.min_train, self.train_size) < least:
            raise InvalidArgumentError(
                f"min_train ({self.min_train}) and train_size ({self.train_size}) must be at "
                f"least {least} (2**nbits PQ centroids and nlist lists need a point each)"
            )
        self._workers = Workers(threads or default_threads())
        self.scratch = scratch_folder(scratch)
        self.prefault = bool(prefault)
        self._store = FloatStore(self.dim, scratch=self.scratch)
        self._rows = IdMap()  # id -> store row
        self._ivf: Any = None
        self._rot: FloatArray | None = None  # x @ _rot: the OPQ rotation (once trained)

    @property
    def params(self) -> dict[str, Any]:
        return {
            "nlist": self.nlist,
            "m": self.m,
            "nbits": self.nbits,
            "fastscan": self.fastscan,
            "rotation": self.rotation,
            "nprobe": self.nprobe,
            "refine": self.refine,
            "shortlist": self.shortlist,
            "mmap": self.mmap,
            "prefault": self.prefault,
            "min_train": self.min_train,
            "train_size": self.train_size,
            "seed": self.seed,
            "threads": self._workers.threads,
        }

    @property
    def trained(self) -> bool:
        return self._ivf is not None

    def __len__(self) -> int:
        return len(self._rows)

    def ids(self) -> IdArray:
        return self._rows.items()[0].copy()

    @property
    def nbytes(self) -> int:
        ivf = 0
        if self._ivf is not None:
            ivf = int(self._ivf.ntotal) * (int(self._ivf.code_size) + 8)
            ivf += 4 * self.dim * (int(self._ivf.nlist) + (1 << self.nbits))
        if self._rot is not None:
            ivf += int(self._rot.nbytes)
        return ivf + self._rows.nbytes + self._store.nbytes

    @property
    def mapped_bytes(self) -> int:
        return self._store.mapped_bytes

    def close(self) -> None:
        self._workers.close()

    # --- training and changes -----------------------------------------------------------------
    def _new_ivf(self, nlist: int) -> Any:
        quantizer = faiss.IndexFlatIP(self.dim)
        kind = faiss.IndexIVFPQFastScan if self.fastscan else faiss.IndexIVFPQ
        ivf = kind(quantizer, self.dim, nlist, self.m, self.nbits, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.seed = self.seed
        return ivf

    def _train(self) -> None:
        ids, rows = self._rows.items()
        nlist = self.nlist or auto_nlist(len(ids))
        rng = np.random.default_rng(self.seed)
        pick = np.sort(rng.choice(len(rows), size=min(len(rows), self.train_size), replace=False))
        ivf = self._new_ivf(nlist)
        sample = self._store.gather(rows[pick])
        if self.rotation == "opq":
            opq = faiss.OPQMatrix(self.dim, self.m)
            opq.train(sample)
            matrix = faiss.vector_to_array(opq.A).reshape(self.dim, self.dim)
            self._rot = np.ascontiguousarray(matrix.T, dtype=np.float32)
        ivf.train(self._project(sample))
        for s in range(0, len(ids), ADD_ROWS):
            chunk = self._project(self._store.gather(rows[s : s + ADD_ROWS]))
            ivf.add_with_ids(chunk, ids[s : s + ADD_ROWS])
        self._ivf = ivf
        logger.info("ivfpq: trained %d lists on %d of %d vectors", nlist, len(pick), len(ids))

    def _project(self, x: FloatArray) -> FloatArray:
        """Vectors as the codes see them: rotated by OPQ (an orthogonal rotation, so inner
        products are unchanged) when ``rotation="opq"``."""
        return x if self._rot is None else np.ascontiguousarray(x @ self._rot)

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        id_arr, vec = check_add(self.dim, ids, vectors)
        dup = id_arr[self._rows.lookup(id_arr) >= 0]
        if len(dup):
            raise InvalidArgumentError(
                f"ids already in the index: {dup[:5].tolist()} (remove them first)"
            )
        first = self._store.append(vec)
        self._rows.add(id_arr, np.arange(first, first + len(vec), dtype=np.int64))
        if self._ivf is not None:
            for s in range(0, len(vec), ADD_ROWS):
                chunk = self._project(vec[s : s + ADD_ROWS])
                self._ivf.add_with_ids(chunk, id_arr[s : s + ADD_ROWS])
        elif len(self) >= self.min_train:
            self._train()

    def remove(self, ids: npt.ArrayLike) -> int:
        gone, _ = self._rows.discard(check_ids(ids))
        if len(gone) and self._ivf is not None:
            removed = self._ivf.remove_ids(gone)
            if removed != len(gone):
                raise IndexCorruptError(f"ivfpq: removed {removed} of {len(gone)} ids from FAISS")
        return len(gone)

    # --- search -------------------------------------------------------------------------------
    def _search(self, q: FloatArray, k: int, floor: np.float32) -> SearchResult:
        if self._ivf is None:
            return SearchResult(*search_rows(self._store, q, *self._rows.items(), k, floor))
        s = min(max(self.shortlist, k), len(self)) if self.refine else k
        params = faiss.SearchParametersIVF()
        params.nprobe = self.nprobe
        parts = self._workers.split_queries(
            lambda part: self._ivf.search(self._project(part), s, params=params),
            q,
            direct_from=4 * self._workers.threads,
        )
        dist, ids = (np.concatenate(x) for x in zip(*parts, strict=True))
        if self.refine:
            rows = np.where(ids >= 0, self._rows.lookup(ids.ravel()).reshape(ids.shape), -1)
            return SearchResult(*rerank(self._store, q, rows, ids, k, floor))
        acc = TopK(len(q), k, floor)
        acc.push(np.where(ids >= 0, dist, -np.inf).astype(np.float32), ids)
        return SearchResult(*acc.result())

    # --- persistence ----------------------------------------------------------------------------
    def save(self, path: Path, *, fingerprint: str = "", pack: str = "") -> None:
        ids, rows = self._rows.items()

        def write(w: IndexWriter) -> dict[str, Any]:
            w.array("ids.i64", ids)
            w.array_chunks(
                "vectors.f32", self._store.chunks(rows), np.float32, (len(rows), self.dim)
            )
            if self._ivf is not None:
                write_faiss(self._ivf, w.file("ivfpq.faiss"))
                w.register("ivfpq.faiss")
            if self._rot is not None:
                w.array("rotation.f32", self._rot)
            return {"trained": self._ivf is not None}

        save_index(self, path, fingerprint=fingerprint, pack=pack, write=write)

    @classmethod
    def load(cls, path: Path, *, expect: IndexManifest) -> Self:
        reader, params = open_index(cls, path, expect)
        index = cls(expect.dim, **params)
        ids, index._store = load_ids_and_vectors(
            reader, expect.dim, mmap=index.mmap, prefault=index.prefault, scratch=index.scratch
        )
        index._rows = IdMap(ids, np.arange(len(ids), dtype=np.int64))
        if reader.state.get("trained"):
            path = reader.verify("ivfpq.faiss")
            index._ivf = _read_ivf(path, expect.dim, len(ids), index.fastscan)
            if index.rotation == "opq":
                rot = reader.array("rotation.f32")
                if rot.shape != (expect.dim, expect.dim):
                    raise IndexCorruptError(f"{reader.path}: rotation has shape {rot.shape}")
                index._rot = np.ascontiguousarray(rot, dtype=np.float32)
        return index


def _read_ivf(path: Path, dim: int, count: int, fastscan: bool) -> Any:
    ivf = read_faiss(path)
    kind = faiss.IndexIVFPQFastScan if fastscan else faiss.IndexIVFPQ
    if not isinstance(ivf, kind) or ivf.d != dim or ivf.ntotal != count:
        what = "IVF-PQ fast-scan" if fastscan else "IVF-PQ"
        raise IndexCorruptError(f"{path}: not an {what} index of {count} x {dim} vectors")
    return ivf
