"""Vector indexes of a gallery's template embeddings (derived from its SQLite store).

Backends (``list_backends()``): ``exact``, ``exact-f16``, ``exact-int8`` (brute force),
``hnsw`` and ``ivfpq`` (FAISS approximate search), ``binary`` (1-bit codes) and ``pq`` (4-bit
PQ fast-scan codes), both with an exact re-rank cascade, and ``milvus`` (pymilvus /
milvus-lite, extra ``faceprint[milvus]``). Backend modules are imported on first use.
"""

from faceprint.index.base import (
    BACKENDS,
    IndexManifest,
    SearchResult,
    VectorIndex,
    backend_class,
    create_index,
    ids_checksum,
    list_backends,
    load_index,
    state_checksum,
)

__all__ = [
    "BACKENDS",
    "IndexManifest",
    "SearchResult",
    "VectorIndex",
    "backend_class",
    "create_index",
    "ids_checksum",
    "list_backends",
    "load_index",
    "state_checksum",
]
