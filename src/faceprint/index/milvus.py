"""Milvus as the scale-out backend, through pymilvus (extra: ``pip install "faceprint[milvus]"``).

The same code talks to an embedded ``milvus-lite`` database (``uri`` is a local file path
ending in ``.db``) or a Milvus server / cluster (``uri="http://host:19530"``, ``token=...``).
One collection holds ``id`` (int64 primary key = template id) and ``embedding``
(``FLOAT_VECTOR``, inner product), created with strong consistency so that an insert or delete is
visible to the next search. Contract as for the local backends: adding a present id raises,
removing is real (Milvus deletes by primary key), threshold and padding are applied here.

The index object keeps the set of its ids client-side (8 bytes per template) to refuse
duplicates without a round trip; it assumes it is the collection's only writer (the gallery's
SQLite store is the source of truth and rebuilds the collection when in doubt). ``save`` flushes
the collection and writes the manifest and the id list to a local directory; ``load`` checks that
the collection exists with the right dimension and row count, and that a sample of the ids is
there. A new index (not loaded) drops and recreates its collection on first use.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
from pymilvus import DataType, MilvusClient, MilvusException

from faceprint.errors import GalleryError, IndexCorruptError, InvalidArgumentError
from faceprint.index._files import IndexWriter
from faceprint.index._persist import check_ids_loaded, open_index, save_index
from faceprint.index._util import (
    FloatArray,
    IdArray,
    IdSet,
    TopK,
    check_add,
    check_ids,
)
from faceprint.index.base import IndexManifest, SearchResult, VectorIndex

__all__ = ["MilvusIndex"]

logger = logging.getLogger(__name__)

ID_FIELD, VEC_FIELD = "id", "embedding"
#: Milvus' largest ``limit`` per search
MAX_LIMIT = 16384
VERIFY_SAMPLE = 100


class MilvusIndex(VectorIndex):
    """A Milvus collection as a vector index.

    Args:
        dim: vector size.
        uri: ``path/to/file.db`` (milvus-lite) or ``http://host:19530`` (server).
        collection: collection name (one per gallery).
        token: server credentials (``"user:password"`` or an API key), empty for milvus-lite.
        index_type: Milvus index (``"FLAT"`` exact; ``"HNSW"``, ``"IVF_FLAT"`` ... on a server).
        index_params / search_params: passed to Milvus as they are.
        batch: rows per insert request.
    """

    name: ClassVar[str] = "milvus"
    BUILD_PARAMS: ClassVar[frozenset[str]] = frozenset({"uri", "collection", "index_type"})

    def __init__(
        self,
        dim: int,
        *,
        uri: str = "",
        collection: str = "faceprint_templates",
        token: str = "",
        index_type: str = "FLAT",
        index_params: Mapping[str, Any] | None = None,
        search_params: Mapping[str, Any] | None = None,
        batch: int = 5000,
    ) -> None:
        super().__init__(dim)
        if not uri:
            raise InvalidArgumentError(
                "the milvus index needs uri=: a local file such as 'gallery/milvus.db' "
                "(milvus-lite) or a server such as 'http://localhost:19530'"
            )
        self.uri, self.collection, self.token = str(uri), str(collection), token
        self.index_type = index_type
        self.index_params = dict(index_params or {})
        self.search_params = dict(search_params or {})
        self.batch = int(batch)
        self._client: MilvusClient | None = None
        self._ready = False  # collection known to exist
        self._ids = IdSet()

    @property
    def params(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "collection": self.collection,
            "index_type": self.index_type,
            "index_params": self.index_params,
            "search_params": self.search_params,
            "batch": self.batch,
        }

    # --- connection ---------------------------------------------------------------------------
    @property
    def client(self) -> MilvusClient:
        if self._client is None:
            try:
                self._client = MilvusClient(uri=self.uri, token=self.token)
            except MilvusException as e:
                raise GalleryError(f"cannot connect to Milvus at {self.uri}: {e}") from e
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _create(self) -> None:
        c = self.client
        if c.has_collection(self.collection):
            c.drop_collection(self.collection)
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(ID_FIELD, DataType.INT64, is_primary=True)
        schema.add_field(VEC_FIELD, DataType.FLOAT_VECTOR, dim=self.dim)
        index = c.prepare_index_params()
        index.add_index(
            field_name=VEC_FIELD,
            index_type=self.index_type,
            metric_type="IP",
            params=self.index_params,
        )
        c.create_collection(self.collection, schema=schema, consistency_level="Strong")
        # an index on an empty collection is ready at once; sync=False skips pymilvus' wait
        # loop, whose timestamp call milvus-lite does not implement (it logged a traceback)
        c.create_index(self.collection, index, sync=False)
        c.load_collection(self.collection)
        self._ready = True

    def _ensure(self) -> None:
        if not self._ready:
            self._create()

    # --- the interface ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ids)

    def ids(self) -> IdArray:
        return self._ids.values()

    @property
    def nbytes(self) -> int:
        """Client-side RAM (the id set); the vectors live in Milvus."""
        return self._ids.nbytes

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        id_arr, vec = check_add(self.dim, ids, vectors)
        dup = id_arr[self._ids.contains(id_arr)]
        if len(dup):
            raise InvalidArgumentError(
                f"ids already in the index: {dup[:5].tolist()} (remove them first)"
            )
        self._ensure()
        for s in range(0, len(id_arr), self.batch):
            rows = [
                {ID_FIELD: int(i), VEC_FIELD: v}
                for i, v in zip(id_arr[s : s + self.batch], vec[s : s + self.batch], strict=True)
            ]
            self.client.insert(self.collection, rows)
        self._ids.add(id_arr)

    def remove(self, ids: npt.ArrayLike) -> int:
        gone = self._ids.discard(check_ids(ids))
        for s in range(0, len(gone), self.batch):
            self.client.delete(self.collection, ids=gone[s : s + self.batch].tolist())
        return len(gone)

    def _search(self, q: FloatArray, k: int, floor: np.float32) -> SearchResult:
        hits = self.client.search(
            self.collection,
            data=[row for row in q],
            limit=min(k, len(self), MAX_LIMIT),
            anns_field=VEC_FIELD,
            search_params={"metric_type": "IP", "params": self.search_params},
            output_fields=[ID_FIELD],
        )
        return _to_result(hits, len(q), k, floor)

    # --- persistence ----------------------------------------------------------------------------
    def save(self, path: Path, *, fingerprint: str = "", pack: str = "") -> None:
        self._ensure()
        self.client.flush(self.collection)

        def write(w: IndexWriter) -> dict[str, Any]:
            w.array("ids.i64", self._ids.values())
            return {"uri": self.uri, "collection": self.collection}

        save_index(self, path, fingerprint=fingerprint, pack=pack, write=write)

    @classmethod
    def load(cls, path: Path, *, expect: IndexManifest) -> Self:
        reader, params = open_index(cls, path, expect)
        ids = reader.array("ids.i64")
        check_ids_loaded(reader, ids)
        index = cls(expect.dim, **params)
        try:
            index._verify_remote(ids)
        except MilvusException as e:
            raise IndexCorruptError(f"Milvus collection {index.collection!r}: {e}") from e
        index._ids, index._ready = IdSet(ids), True
        return index

    def _verify_remote(self, ids: IdArray) -> None:
        c, name = self.client, self.collection
        if not c.has_collection(name):
            raise IndexCorruptError(f"Milvus at {self.uri} has no collection {name!r}")
        fields = {f["name"]: f for f in c.describe_collection(name)["fields"]}
        dim = int(fields.get(VEC_FIELD, {}).get("params", {}).get("dim", -1))
        if dim != self.dim:
            raise IndexCorruptError(
                f"Milvus collection {name!r} has dim {dim}, expected {self.dim}"
            )
        c.load_collection(name)
        count = int(c.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"])
        if count != len(ids):
            raise IndexCorruptError(
                f"Milvus collection {name!r} holds {count} rows, expected {len(ids)}"
            )
        sample = np.random.default_rng(0).choice(ids, min(len(ids), VERIFY_SAMPLE), replace=False)
        found = c.get(name, ids=sample.tolist(), output_fields=[ID_FIELD]) if len(sample) else []
        if len(found) != len(sample):
            raise IndexCorruptError(f"Milvus collection {name!r} lacks ids of the saved index")


def _to_result(hits: Any, nq: int, k: int, floor: np.float32) -> SearchResult:
    scores = np.full((nq, k), -np.inf, np.float32)
    ids = np.full((nq, k), -1, np.int64)
    for qi, row in enumerate(hits):
        for j, hit in enumerate(row[:k]):
            ids[qi, j] = int(hit["id"])
            scores[qi, j] = float(hit["distance"])
    acc = TopK(nq, k, floor)
    acc.push(scores, ids)
    return SearchResult(*acc.result())
