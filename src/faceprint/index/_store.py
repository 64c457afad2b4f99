"""Full float32 vectors for exact re-ranking, in RAM or memory-mapped from the saved index.

Cascades (``binary``, ``ivfpq``) keep only compact codes in RAM; the full vectors are read for
the few shortlisted candidates of each query. After :func:`load` with ``mmap=True`` the saved
rows stay on disk (read-only memory map: pages come from the OS page cache on demand and are
not part of the process' own memory); rows added afterwards live in a RAM tail until the next
save. Rows are addressed by their number; removed rows are simply no longer referenced and are
dropped when the index is saved.

With a ``scratch`` folder the tail is kept on disk instead (:class:`DiskRows`: an unlinked
temporary file there, memory-mapped for reading), so a build larger than RAM (10M x 512 float32
is 20.5 GB) holds only its compact codes in memory until the save writes the rows into the index.
"""

from __future__ import annotations

import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from faceprint.errors import InvalidArgumentError, StorageError, map_exceptions
from faceprint.index._util import FloatArray, Growable, IdArray, TopK

__all__ = ["DiskRows", "FloatStore", "rerank", "scratch_folder"]

GATHER_CHUNK = 65536


def scratch_folder(folder: str | Path | None) -> Path | None:
    """A backend's ``scratch`` parameter: ``None`` or an existing folder."""
    if folder is None:
        return None
    path = Path(folder)
    if not path.is_dir():
        raise InvalidArgumentError(f"scratch must be an existing folder, got {str(folder)!r}")
    return path


class DiskRows:
    """Append-only float32 rows in an unlinked temporary file in ``folder`` (no name on disk;
    its space is freed when this object is collected or the process ends), read through a
    memory map that is renewed as the file grows.

    Offers what :class:`FloatStore` needs of a :class:`~faceprint.index._util.Growable`:
    ``len``, ``append``, ``view`` and ``nbytes`` (RAM held: none; see ``mapped_bytes``).
    """

    def __init__(self, dim: int, folder: Path) -> None:
        self.dim = dim
        self._folder = folder
        with map_exceptions({OSError: StorageError}, source=folder, what="create a scratch file"):
            self._file = tempfile.TemporaryFile(dir=folder, prefix="faceprint-rows-")  # noqa: SIM115
        # owned by this object: closed (its space freed) when the object is collected
        weakref.finalize(self, self._file.close)
        self._n = 0
        self._map: np.ndarray = np.zeros((0, dim), np.float32)

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        return 0

    @property
    def mapped_bytes(self) -> int:
        return self._n * self.dim * 4

    def append(self, rows: np.ndarray) -> int:
        start = self._n
        with map_exceptions({OSError: StorageError}, source=self._folder, what="write vectors"):
            self._file.seek(start * self.dim * 4)
            self._file.write(np.ascontiguousarray(rows, dtype=np.float32).tobytes())
            self._file.flush()
        self._n += len(rows)
        return start

    @property
    def view(self) -> np.ndarray:
        if len(self._map) != self._n:
            self._map = (
                np.memmap(self._file, np.float32, mode="r", shape=(self._n, self.dim))
                if self._n
                else np.zeros((0, self.dim), np.float32)
            )
        return self._map


class FloatStore:
    """Rows ``0 .. len-1``: a read-only base (RAM or memory map) followed by a tail in RAM, or
    on disk in ``scratch`` (see the module docstring)."""

    def __init__(
        self, dim: int, base: np.ndarray | None = None, *, scratch: Path | None = None
    ) -> None:
        self.dim = dim
        self._base = base if base is not None else np.zeros((0, dim), np.float32)
        self._tail: Growable | DiskRows = (
            Growable((dim,), np.float32) if scratch is None else DiskRows(dim, Path(scratch))
        )

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
        tail = self._tail.mapped_bytes if isinstance(self._tail, DiskRows) else 0
        return (int(self._base.nbytes) if self.mapped else 0) + tail

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
