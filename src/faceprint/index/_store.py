"""Full float32 vectors for exact re-ranking, in RAM or memory-mapped from the saved index.

Cascades (``binary``, ``ivfpq``) keep only compact codes in RAM; the full vectors are read for
the few shortlisted candidates of each query. After :func:`load` with ``mmap=True`` the saved
rows stay on disk (read-only memory map: pages come from the OS page cache on demand and are
not part of the process' own memory); rows added afterwards live in a RAM tail until the next
save. Rows are addressed by their number; removed rows are simply no longer referenced and are
dropped when the index is saved.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from faceprint.index._util import FloatArray, Growable, IdArray, TopK

__all__ = ["FloatStore", "rerank"]

GATHER_CHUNK = 65536


class FloatStore:
    """Rows ``0 .. len-1``: a read-only base (RAM or memory map) followed by a RAM tail."""

    def __init__(self, dim: int, base: np.ndarray | None = None) -> None:
        self.dim = dim
        self._base = base if base is not None else np.zeros((0, dim), np.float32)
        self._tail = Growable((dim,), np.float32)

    def __len__(self) -> int:
        return len(self._base) + len(self._tail)

    @property
    def mapped(self) -> bool:
        return isinstance(self._base, np.memmap)

    @property
    def nbytes(self) -> int:
        """RAM held (a memory-mapped base is not counted)."""
        return self._tail.nbytes + (0 if self.mapped else int(self._base.nbytes))

    @property
    def mapped_bytes(self) -> int:
        return int(self._base.nbytes) if self.mapped else 0

    def append(self, vectors: FloatArray) -> int:
        """Append rows; returns the number of the first."""
        return len(self._base) + self._tail.append(vectors)

    def gather(self, rows: IdArray) -> FloatArray:
        """``(len(rows), dim)`` copies of these rows."""
        nb = len(self._base)
        if len(self._tail) == 0:
            return np.asarray(self._base[rows], dtype=np.float32)
        out = np.empty((len(rows), self.dim), np.float32)
        in_base = rows < nb
        out[in_base] = self._base[rows[in_base]]
        out[~in_base] = self._tail.view[rows[~in_base] - nb]
        return out

    def chunks(self, rows: IdArray) -> Iterator[FloatArray]:
        """These rows in order, in chunks (for writing them out)."""
        for s in range(0, len(rows), GATHER_CHUNK):
            yield self.gather(rows[s : s + GATHER_CHUNK])


def rerank(
    store: FloatStore,
    queries: FloatArray,
    rows: IdArray,
    ids: IdArray,
    k: int,
    floor: np.float32,
) -> tuple[FloatArray, IdArray]:
    """Exact top-k of ``(Q, S)`` candidate ``rows`` (``-1`` pads) whose ids are ``ids``."""
    valid = rows >= 0
    qi, _ = np.nonzero(valid)
    vec = store.gather(rows[valid])
    scores = np.full(rows.shape, -np.inf, np.float32)
    scores[valid] = np.einsum("ij,ij->i", vec, queries[qi])
    acc = TopK(len(queries), k, floor)
    acc.push(scores, np.where(valid, ids, -1))
    return acc.result()


def search_rows(
    store: FloatStore, queries: FloatArray, ids: IdArray, rows: IdArray, k: int, floor: np.float32
) -> tuple[FloatArray, IdArray]:
    """Exact top-k over the store ``rows`` whose ids are ``ids`` (untrained indexes)."""
    acc = TopK(len(queries), k, floor)
    acc.push(queries @ store.gather(rows).T, ids)
    return acc.result()
