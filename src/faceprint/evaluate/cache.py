"""On-disk cache of detections and embeddings, so that a second evaluation run recomputes nothing.

Two levels, both keyed by the *content* of the image file (sha256 of its bytes), never by its path:

* **detections** – every face a detector configuration found in an image (boxes, scores, five
  landmarks), keyed by ``(detector key, file sha256)``. The detector key names the backend, its
  options and the checksums of its model files (:func:`detector_key`).
* **embeddings** – one face's embedding, keyed by ``(embedder key, file sha256, landmark digest)``.
  The embedder key names the pack, the embedder backend, its options, the checksum of its model
  file and the crop template (:func:`embedder_key`); the landmark digest ties the embedding to the
  exact five points it was aligned with, so a change of detector or face choice never returns a
  stale vector.

Storage is one SQLite file (``faceprint_home()/cache/evaluate.sqlite`` by default) opened with
:func:`faceprint._sqlite.connect` (WAL mode, a busy timeout): several processes may read and
write it at the same time (SQLite serialises the writers); every write is one short transaction,
so an interrupted run keeps what it finished. Its schema is versioned (:data:`MIGRATIONS`), and
every sqlite3 error becomes a :class:`~faceprint.errors.StorageError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceprint._hashing import sha256_file
from faceprint._home import faceprint_home
from faceprint._sqlite import Migration, connect, migrate, sqlite_errors, transaction
from faceprint.align import ALIGN_REVISION
from faceprint.errors import StorageError
from faceprint.packs.spec import PackSpec
from faceprint.types import Faces

__all__ = [
    "MIGRATIONS",
    "Detections",
    "EmbeddingCache",
    "default_cache_path",
    "detector_key",
    "embedder_key",
    "face_key",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS detections (
    det_key TEXT NOT NULL, sha TEXT NOT NULL, height INTEGER NOT NULL, width INTEGER NOT NULL,
    n INTEGER NOT NULL, boxes BLOB NOT NULL, scores BLOB NOT NULL, landmarks BLOB NOT NULL,
    PRIMARY KEY (det_key, sha)
);
CREATE TABLE IF NOT EXISTS embeddings (
    emb_key TEXT NOT NULL, face TEXT NOT NULL, dim INTEGER NOT NULL, vec BLOB NOT NULL,
    PRIMARY KEY (emb_key, face)
);
"""
#: ``MIGRATIONS[v]`` upgrades version ``v`` to ``v + 1``; version 1 is the first schema (caches
#: written before it was versioned have version 0 and the same tables: ``IF NOT EXISTS`` adopts them)
MIGRATIONS: tuple[Migration, ...] = (_SCHEMA,)
_CHUNK = 500  # parameters per SELECT ... IN (...)


@dataclass(frozen=True)
class Detections:
    """The faces a detector found in one image, and the image's (height, width)."""

    faces: Faces
    shape: tuple[int, int]


def default_cache_path() -> Path:
    """``faceprint_home()/cache/evaluate.sqlite``."""
    return faceprint_home() / "cache" / "evaluate.sqlite"


_FILE_SUMS: dict[tuple[str, int, int], str] = {}


def _model_sum(path: Path) -> str:
    """sha256 of a model file, remembered per (path, size, mtime) within the process."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _FILE_SUMS:
        _FILE_SUMS[key] = sha256_file(path)
    return _FILE_SUMS[key]


def _digest(parts: Mapping[str, Any]) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def detector_key(pack: PackSpec, backend: str, options: Mapping[str, Any]) -> str:
    """Cache key of a detector configuration: backend, options and its model files' checksums."""
    roles = [r for r in ("landmarks", "cnn_detector", "detector") if r in pack.files]
    files = {r: _model_sum(pack.file(r)) for r in roles if Path(pack.files[r]).is_file()}
    return "det-" + _digest({"backend": backend, "options": dict(options), "files": files})


def embedder_key(pack: PackSpec, options: Mapping[str, Any]) -> str:
    """Cache key of an embedder: pack name, backend, options, model checksum and crop template.

    ``batch_size`` is left out: it does not change the vectors.
    """
    opts = {k: v for k, v in options.items() if k != "batch_size"}
    model = _model_sum(pack.file("embedder")) if "embedder" in pack.files else ""
    parts = {
        "pack": pack.name,
        "embedder": pack.embedder,
        "options": opts,
        "model": model,
        "crop": [pack.crop.size, pack.crop.template],
        "align": ALIGN_REVISION,  # the crops changed (bicubic enlargement of small faces)
    }
    return f"emb-{pack.name}-" + _digest(parts)


def face_key(sha: str, landmarks: npt.ArrayLike) -> str:
    """Key of one face: the image's sha256 and a digest of its landmarks (rounded to 1/100 px)."""
    pts = np.round(np.asarray(landmarks, np.float64).reshape(5, 2), 2).astype(np.float32)
    return f"{sha}:{hashlib.sha1(pts.tobytes()).hexdigest()[:16]}"


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


class EmbeddingCache:
    """The two-level store described in the module docstring.

    Args:
        path: the SQLite file (created with its folder); default :func:`default_cache_path`.

    One instance per process; the database itself may be shared by several processes.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = connect(self.path, error=StorageError)
            try:
                migrate(self._db, self.path, MIGRATIONS, what="evaluation cache")
            except BaseException:
                self._db.close()
                raise
        except (OSError, StorageError) as exc:
            raise StorageError(
                f"cannot open the evaluation cache {self.path}: {exc} "
                "(set FACEPRINT_HOME to a writable folder, or pass no_cache)",
                source=self.path,
            ) from exc

    def close(self) -> None:
        self._db.close()

    def _errors(self, what: str) -> AbstractContextManager[None]:
        return sqlite_errors(self.path, StorageError, f"{what} the evaluation cache")

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_detections(self, det_key: str, shas: Sequence[str]) -> dict[str, Detections]:
        """Cached detections of the images with these checksums (missing ones are absent)."""
        out: dict[str, Detections] = {}
        for part in _chunks(sorted(set(shas))):
            marks = ",".join("?" * len(part))
            with self._errors("read"):
                rows = self._db.execute(
                    "SELECT sha, height, width, n, boxes, scores, landmarks FROM detections "
                    f"WHERE det_key = ? AND sha IN ({marks})",
                    (det_key, *part),
                ).fetchall()
            for sha, height, width, n, boxes, scores, landmarks in rows:
                faces = Faces(
                    np.frombuffer(boxes, np.float32).reshape(n, 4),
                    np.frombuffer(scores, np.float32).reshape(n),
                    np.frombuffer(landmarks, np.float32).reshape(n, 5, 2),
                )
                out[sha] = Detections(faces, (height, width))
        return out

    def put_detections(self, det_key: str, items: Mapping[str, Detections]) -> None:
        """Store detections (one transaction)."""
        rows = [
            (
                det_key,
                sha,
                *d.shape,
                len(d.faces),
                d.faces.boxes.tobytes(),
                d.faces.scores.tobytes(),
                d.faces.landmarks.tobytes(),
            )
            for sha, d in items.items()
        ]
        with transaction(self._db, self.path) as cur:
            cur.executemany(
                "INSERT OR REPLACE INTO detections VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
            )

    def get_embeddings(
        self, emb_key: str, faces: Sequence[str]
    ) -> dict[str, npt.NDArray[np.float32]]:
        """Cached embeddings of these face keys (see :func:`face_key`); missing ones are absent."""
        out: dict[str, npt.NDArray[np.float32]] = {}
        for part in _chunks(sorted(set(faces))):
            marks = ",".join("?" * len(part))
            with self._errors("read"):
                rows = self._db.execute(
                    f"SELECT face, dim, vec FROM embeddings WHERE emb_key = ? AND face IN ({marks})",
                    (emb_key, *part),
                ).fetchall()
            for face, dim, vec in rows:
                out[face] = np.frombuffer(vec, np.float32).reshape(dim).copy()
        return out

    def put_embeddings(self, emb_key: str, items: Mapping[str, npt.NDArray[np.float32]]) -> None:
        """Store embeddings (one transaction)."""
        rows = [
            (emb_key, face, int(v.shape[0]), np.ascontiguousarray(v, np.float32).tobytes())
            for face, v in items.items()
        ]
        with transaction(self._db, self.path) as cur:
            cur.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)
