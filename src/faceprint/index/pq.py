"""4-bit product-quantised codes scanned with SIMD fast-scan kernels, re-ranked exactly: a cascade.

The fastest of faceprint's backends for a single query over a large gallery, at a small RAM cost:

1. **Fast scan**: every vector is a product-quantisation code of ``m`` sub-quantizers of 16
   centroids each (4 bits: ``m / 2`` bytes per face, 32 bytes by default). FAISS's
   ``IndexPQFastScan`` keeps the 16-entry lookup tables of a query in SIMD registers and scores
   codes in blocks of 32, an order of magnitude faster per code than a Hamming scan with
   popcount. A flat scan has no coarse partition to miss: face embeddings spread over a high
   effective dimension, where inverted lists (IVF) and graphs (HNSW) need to visit much of the
   gallery to find a probe's true neighbour. The codes are split into one shard per worker
   thread, each scanned in its own thread (FAISS parallelises over queries, not over the codes
   of one query), keeping ``shortlist`` candidates in all.
2. **Exact re-rank** of the shortlist with cosines on the full float32 vectors, which after a
   load are memory-mapped from the saved index (``mmap=True``), as in the binary cascade: RAM is
   the codes plus the ids, and only ``shortlist`` rows per query are read from the mapped file.
   Returned scores are exact cosines.

Training needs data: until the index holds ``min_train`` vectors it answers exactly from the
stored vectors; then the PQ codebooks are learnt on up to ``train_size`` of them (a second or
two) and everything is encoded. Removal compacts the shard's codes (FAISS ``remove_ids``).

``rotation="random"`` (default) applies a random orthogonal rotation before quantisation, which
spreads the variance evenly over the sub-quantizers. On the 1M x 128 ``dlib`` synthetic gallery
(``faceprint bench search --n 1000000 --dim 128 --backend pq --param pq.rotation=none``, then
``=random``, ``--sweep pq.shortlist=128,256``) it lifted recall@1 of enrolled probes from 0.992
to 0.994 (shortlist 128) and 0.998 (256), for 0.01-0.03 less on non-enrolled probes.

Measured by ``faceprint bench search`` (docs/benchmarks/search.md): with the default ``shortlist=256`` the exact
top-1 template of 100% (1M x 512) and 99.8% (1M x 128) of the probes of enrolled identities is
found at about 2 ms a query on 2 cores; non-enrolled probes, whose exact top-1 is one of many
near-tied impostors, need a much longer shortlist (or ``m=dim`` at 128-d).
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
    Growable,
    IdArray,
    IdMap,
    Workers,
    check_add,
    check_ids,
    default_threads,
    divisor_at_most,
)
from faceprint.index.base import IndexManifest, SearchResult, VectorIndex
from faceprint.index.binary import random_orthogonal

__all__ = ["PQIndex", "default_pq_m"]

logger = logging.getLogger(__name__)

ADD_ROWS = 65536
#: queries per FAISS call in a batch search (bounds the per-call candidate buffers)
QUERY_ROWS = 256


def default_pq_m(dim: int) -> int:
    """Sub-quantizers (4 bits each): ``dim / 2`` up to 128-d, ``dim / 8`` above; 32 bytes per
    face for the 128-d and 512-d packs."""
    return divisor_at_most(dim, dim // 2 if dim <= 128 else dim // 8)


class _Shard:
    """One FAISS fast-scan index and the store row of each of its positions."""

    def __init__(self, index: Any, rows: IdArray | None = None) -> None:
        self.index = index
        self.rows = Growable((), np.int64, rows)

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, vectors: FloatArray, rows: IdArray) -> None:
        for s in range(0, len(vectors), ADD_ROWS):
            self.index.add(vectors[s : s + ADD_ROWS])
        self.rows.append(rows)

    def remove(self, rows: IdArray) -> int:
        pos = np.flatnonzero(np.isin(self.rows.view, rows))
        if len(pos) == 0:
            return 0
        removed = int(self.index.remove_ids(pos.astype(np.int64)))
        if removed != len(pos):
            raise IndexCorruptError(f"pq: removed {removed} of {len(pos)} codes from FAISS")
        keep = np.ones(len(self), bool)
        keep[pos] = False
        self.rows.keep(keep)
        return removed

    def search(self, q: FloatArray, s: int) -> tuple[FloatArray, IdArray]:
        """Approximate scores and store rows (``-1`` pads) of the ``s`` best codes per query."""
        s = min(s, len(self))
        if s == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        parts = [self.index.search(q[i : i + QUERY_ROWS], s) for i in range(0, len(q), QUERY_ROWS)]
        dist = np.concatenate([p[0] for p in parts]).astype(np.float32, copy=False)
        pos = np.concatenate([p[1] for p in parts])
        rows = np.where(pos >= 0, self.rows.view[np.maximum(pos, 0)], -1)
        return np.where(pos >= 0, dist, -np.inf).astype(np.float32), rows


class PQIndex(VectorIndex):
    """4-bit PQ fast-scan shortlist re-ranked by exact cosine (see the module docstring).

    Args:
        dim: vector size.
        m: sub-quantizers, ``m / 2`` bytes per face (``None``: :func:`default_pq_m`).
        rotation: ``"random"`` (a random orthogonal rotation before quantisation) or ``"none"``.
        shortlist: candidates per query re-ranked exactly (at least ``k``).
        mmap: after :meth:`load`, keep the full vectors memory-mapped instead of in RAM.
        prefault: with ``mmap``, map every page of the vectors when loading (one pass over the
            file, which the load's checksum has just read), so queries never wait for page
            faults; set ``False`` when the vectors are much larger than RAM.
        min_train / train_size: learn the codebooks once this many rows are in the index, from
            at most ``train_size`` of them.
        threads: shards scanned in parallel (one per thread).
        seed: training sample and k-means seed.
        scratch: a folder where the full vectors added before the first save are kept (an
            unlinked temporary file) instead of in RAM, for builds larger than memory; not saved.
    """

    name: ClassVar[str] = "pq"
    BUILD_PARAMS: ClassVar[frozenset[str]] = frozenset({"m", "rotation", "seed"})

    def __init__(
        self,
        dim: int,
        *,
        m: int | None = None,
        rotation: Literal["none", "random"] = "random",
        shortlist: int = 256,
        mmap: bool = True,
        prefault: bool = True,
        min_train: int = 1000,
        train_size: int = 65536,
        threads: int | None = None,
        seed: int = 0,
        scratch: str | Path | None = None,
    ) -> None:
        super().__init__(dim)
        self.m = int(m) if m is not None else default_pq_m(self.dim)
        if self.m < 1 or self.dim % self.m:
            raise InvalidArgumentError(f"m={self.m} must be a positive divisor of dim={self.dim}")
        if rotation not in ("none", "random"):
            raise InvalidArgumentError(f"rotation must be 'none' or 'random', got {rotation!r}")
        self.rotation = rotation
        self.shortlist, self.mmap = int(shortlist), bool(mmap)
        if self.shortlist < 1:
            raise InvalidArgumentError(f"shortlist must be >= 1, got {shortlist}")
        self.min_train, self.train_size, self.seed = int(min_train), int(train_size), int(seed)
        self._workers = Workers(threads or default_threads())
        self.scratch = scratch_folder(scratch)
        self.prefault = bool(prefault)
        self._store = FloatStore(self.dim, scratch=self.scratch)
        self._rows = IdMap()  # id -> store row
        self._row_ids = Growable((), np.int64)  # store row -> id (stale rows keep their old id)
        self._shards: list[_Shard] = []
        self._rot: FloatArray | None = None  # made when training

    @property
    def params(self) -> dict[str, Any]:
        return {
            "m": self.m,
            "rotation": self.rotation,
            "shortlist": self.shortlist,
            "mmap": self.mmap,
            "prefault": self.prefault,
            "min_train": self.min_train,
            "train_size": self.train_size,
            "threads": self._workers.threads,
            "seed": self.seed,
        }

    @property
    def trained(self) -> bool:
        return bool(self._shards)

    def __len__(self) -> int:
        return len(self._rows)

    def ids(self) -> IdArray:
        return self._rows.items()[0].copy()

    @property
    def code_bytes(self) -> int:
        """Bytes of PQ code per face."""
        return (self.m * 4 + 7) // 8

    @property
    def nbytes(self) -> int:
        codes = sum(len(s) * (self.code_bytes + 8) for s in self._shards)
        books = 4 * self.dim * 16 if self._shards else 0
        books += self._rot.nbytes if self._rot is not None else 0
        return codes + books + self._rows.nbytes + self._row_ids.nbytes + self._store.nbytes

    @property
    def mapped_bytes(self) -> int:
        return self._store.mapped_bytes

    def close(self) -> None:
        self._workers.close()

    # --- training and changes -----------------------------------------------------------------
    def _project(self, x: FloatArray) -> FloatArray:
        return x if self._rot is None else np.asarray(x @ self._rot, dtype=np.float32)

    def _train(self) -> None:
        ids, rows = self._rows.items()
        rng = np.random.default_rng(self.seed)
        pick = np.sort(rng.choice(len(rows), size=min(len(rows), self.train_size), replace=False))
        base = faiss.IndexPQFastScan(self.dim, self.m, 4, faiss.METRIC_INNER_PRODUCT)
        base.pq.cp.seed = self.seed
        if self.rotation == "random":
            self._rot = random_orthogonal(self.dim, self.seed)
        base.train(self._project(self._store.gather(rows[pick])))
        self._shards = [_Shard(faiss.clone_index(base)) for _ in range(self._workers.threads)]
        self._add_to_shards(np.sort(rows))
        logger.info(
            "pq: %d sub-quantizers trained on %d of %d vectors", self.m, len(pick), len(ids)
        )

    def _add_to_shards(self, rows: IdArray) -> None:
        """Encode these store rows into the shards, filling the smallest ones first."""
        sizes = np.array([len(s) for s in self._shards], np.int64)
        target = (sizes.sum() + len(rows)) // len(sizes) + 1
        want = np.maximum(target - sizes, 0)
        cut = np.minimum(np.cumsum(want), len(rows))
        bounds = np.concatenate([[0], cut])
        bounds[-1] = len(rows)
        jobs = [
            (shard, rows[a:b])
            for shard, a, b in zip(self._shards, bounds[:-1], bounds[1:], strict=True)
            if b > a
        ]

        def encode(job: tuple[_Shard, IdArray]) -> None:
            shard, part = job
            for s in range(0, len(part), ADD_ROWS):
                chunk = part[s : s + ADD_ROWS]
                shard.add(self._project(self._store.gather(chunk)), chunk)

        self._workers.map(encode, jobs)

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        id_arr, vec = check_add(self.dim, ids, vectors)
        dup = id_arr[self._rows.lookup(id_arr) >= 0]
        if len(dup):
            raise InvalidArgumentError(
                f"ids already in the index: {dup[:5].tolist()} (remove them first)"
            )
        first = self._store.append(vec)
        rows = np.arange(first, first + len(vec), dtype=np.int64)
        self._rows.add(id_arr, rows)
        self._row_ids.append(id_arr)
        if self._shards:
            self._add_to_shards(rows)
        elif len(self) >= self.min_train:
            self._train()

    def remove(self, ids: npt.ArrayLike) -> int:
        gone, rows = self._rows.discard(check_ids(ids))
        if len(gone) and self._shards:
            removed = sum(shard.remove(rows) for shard in self._shards)
            if removed != len(gone):
                raise IndexCorruptError(f"pq: {removed} codes removed for {len(gone)} ids")
        return len(gone)

    # --- search -------------------------------------------------------------------------------
    def _search(self, q: FloatArray, k: int, floor: np.float32) -> SearchResult:
        if not self._shards:
            return SearchResult(*search_rows(self._store, q, *self._rows.items(), k, floor))
        s = min(max(self.shortlist, k), len(self))
        projected = self._project(q)
        parts = self._workers.map(lambda shard: shard.search(projected, s), self._shards)
        dist = np.concatenate([p[0] for p in parts], axis=1)
        rows = np.concatenate([p[1] for p in parts], axis=1)
        if dist.shape[1] > s:
            best = np.argpartition(-dist, s - 1, axis=1)[:, :s]
            rows = np.take_along_axis(rows, best, axis=1)
        ids = np.where(rows >= 0, self._row_ids.view[np.maximum(rows, 0)], -1)
        return SearchResult(*rerank(self._store, q, rows, ids, k, floor))

    # --- persistence ----------------------------------------------------------------------------
    def save(self, path: Path, *, fingerprint: str = "", pack: str = "") -> None:
        # saved in shard order, so that shard i owns a contiguous range of rows after a load
        if self._shards:
            rows = np.concatenate([s.rows.view for s in self._shards])
        else:
            rows = np.sort(self._rows.items()[1])
        ids = self._row_ids.view[rows]

        def write(w: IndexWriter) -> dict[str, Any]:
            w.array("ids.i64", ids)
            w.array_chunks(
                "vectors.f32", self._store.chunks(rows), np.float32, (len(rows), self.dim)
            )
            if self._rot is not None:
                w.array("rotation.f32", self._rot)
            for i, shard in enumerate(self._shards):
                name = f"shard{i}.faiss"
                write_faiss(shard.index, w.file(name))
                w.register(name)
            return {"shards": [len(s) for s in self._shards]}

        save_index(self, path, fingerprint=fingerprint, pack=pack, write=write)

    @classmethod
    def load(cls, path: Path, *, expect: IndexManifest) -> Self:
        reader, params = open_index(cls, path, expect)
        index = cls(expect.dim, **params)
        ids, index._store = load_ids_and_vectors(
            reader, expect.dim, mmap=index.mmap, prefault=index.prefault, scratch=index.scratch
        )
        index._rows = IdMap(ids, np.arange(len(ids), dtype=np.int64))
        index._row_ids = Growable((), np.int64, ids)
        sizes = [int(x) for x in reader.state.get("shards", [])]
        if sizes and index.rotation == "random":
            rot = reader.array("rotation.f32")
            if rot.shape != (expect.dim, expect.dim):
                raise IndexCorruptError(f"{reader.path}: rotation has shape {rot.shape}")
            index._rot = np.ascontiguousarray(rot, dtype=np.float32)
        if sizes and sum(sizes) != len(ids):
            raise IndexCorruptError(f"{reader.path}: shards hold {sum(sizes)} of {len(ids)} rows")
        start = 0
        for i, size in enumerate(sizes):
            shard = _read_shard(reader.verify(f"shard{i}.faiss"), expect.dim, index.m, size)
            index._shards.append(_Shard(shard, np.arange(start, start + size, dtype=np.int64)))
            start += size
        return index


def _read_shard(path: Path, dim: int, m: int, count: int) -> Any:
    shard = read_faiss(path)
    ok = isinstance(shard, faiss.IndexPQFastScan) and shard.d == dim and int(shard.M) == m
    if not ok or shard.ntotal != count:
        raise IndexCorruptError(f"{path}: not a 4-bit PQ fast-scan index of {count} x {dim}")
    return shard
