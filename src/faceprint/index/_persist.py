"""Save/load plumbing shared by the local backends (manifest, id checks, parameter merging)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.errors import IndexCorruptError, InvalidArgumentError, StorageError, map_exceptions
from faceprint.index._files import IndexReader, IndexWriter
from faceprint.index._store import FloatStore
from faceprint.index.base import IndexManifest, VectorIndex, ids_checksum

__all__ = ["check_ids_loaded", "load_ids_and_vectors", "open_index", "save_index"]

#: parameters that describe the machine, not the index: not taken from a saved manifest
MACHINE_PARAMS = frozenset({"threads"})


def save_index(
    index: VectorIndex,
    path: Path,
    *,
    fingerprint: str,
    pack: str,
    write: Callable[[IndexWriter], Mapping[str, Any]],
) -> None:
    """Write ``index`` to ``path``: ``write`` stores the data files and returns the state."""
    manifest = index.manifest(fingerprint=fingerprint, pack=pack)
    with (
        map_exceptions({OSError: StorageError}, source=path, what="write the index"),
        IndexWriter(Path(path)) as w,
    ):
        state = {"fingerprint": fingerprint, **write(w)}
        w.finish(manifest, state)


def open_index(
    cls: type[VectorIndex], path: Path, expect: IndexManifest
) -> tuple[IndexReader, dict[str, Any]]:
    """Check ``path`` against ``expect``; returns the reader and the parameters to build with.

    Build parameters are compared with ``expect``'s after filling in defaults (an index built
    with other settings is stale); search parameters come from ``expect``.
    """
    if expect.backend != cls.name:
        raise InvalidArgumentError(f"{cls.__name__} cannot load a {expect.backend!r} index")
    wanted = _resolved_params(cls, expect)
    reader = IndexReader(
        Path(path),
        expect=dataclasses.replace(expect, params=wanted),
        build_params=cls.BUILD_PARAMS,
    )
    saved = {k: v for k, v in reader.manifest.params.items() if k not in MACHINE_PARAMS}
    params = {**saved, **expect.params}
    _resolved_params(cls, dataclasses.replace(expect, params=params))  # fails early if unusable
    return reader, params


def _resolved_params(cls: type[VectorIndex], expect: IndexManifest) -> dict[str, Any]:
    try:
        return cls(expect.dim, **expect.params).params
    except (TypeError, ValueError) as e:
        raise IndexCorruptError(f"unusable parameters for index backend {cls.name!r}: {e}") from e


def check_ids_loaded(reader: IndexReader, ids: np.ndarray, dim_rows: int | None = None) -> None:
    """The loaded ids must be the ones the manifest was computed from."""
    m = reader.manifest
    if len(ids) != m.count or (dim_rows is not None and dim_rows != m.count):
        raise IndexCorruptError(f"{reader.path}: holds {len(ids)} vectors, manifest says {m.count}")
    fingerprint = str(reader.state.get("fingerprint", ""))
    if ids_checksum(ids, fingerprint=fingerprint) != m.checksum:
        raise IndexCorruptError(f"{reader.path}: ids do not match the manifest checksum")


def load_ids_and_vectors(
    reader: IndexReader,
    dim: int,
    *,
    mmap: bool,
    prefault: bool = False,
    scratch: Path | None = None,
) -> tuple[np.ndarray, FloatStore]:
    """The verified ``ids.i64`` and a :class:`FloatStore` over ``vectors.f32`` (row i: id i),
    memory-mapped when ``mmap`` (every page mapped at once with ``prefault``; rows added later go
    to ``scratch`` if given): what the re-ranking backends save."""
    ids = reader.array("ids.i64")
    check_ids_loaded(reader, ids)
    vectors = reader.array("vectors.f32", mmap=mmap, prefault=prefault)
    if vectors.shape != (len(ids), dim):
        raise IndexCorruptError(f"{reader.path}: vectors have shape {vectors.shape}")
    return ids, FloatStore(dim, vectors, scratch=scratch)
