"""Video search: every track of one or many videos in one SQLite file, found by name or face.

    index = VideoIndex.open("videos")                     # DIR/videos.sqlite, created
    index.add("clip.mp4", cast={"Barack Obama": "obama.jpg"})
    for r in index.find("Barack Obama"):
        print(r.video, r.start, r.end, r.names)

A video whose content (SHA-256) is indexed already is skipped. Names are those given when the
video was indexed, or those of a gallery given to :meth:`VideoIndex.find` (the stored track
embeddings are identified again, so people enrolled later are found too).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from faceprint._hashing import sha256_file
from faceprint._json import JsonResult, json_options
from faceprint._sqlite import connect, migrate, sqlite_errors, transaction
from faceprint.batch import Engine
from faceprint.errors import (
    FaceprintError,
    InvalidArgumentError,
    PackMismatchError,
    StorageError,
    map_exceptions,
)
from faceprint.gallery import Gallery
from faceprint.index import create_index
from faceprint.packs import DEFAULT_PACK
from faceprint.pipeline import Augment, EmbeddingSpace, FaceAnalyzer
from faceprint.video.screentime import (
    Cast,
    ProgressCallback,
    VideoOptions,
    faces_agree,
    name_tracks,
    screentime,
)
from faceprint.video.types import ScreenTime, Segment, merge_segments

__all__ = ["DB_NAME", "IndexOutcome", "VideoIndex", "VideoRange"]

DB_NAME = "videos.sqlite"
FloatArray = npt.NDArray[np.float32]

_SCHEMA = """
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE videos (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    duration REAL NOT NULL,
    frames INTEGER NOT NULL,
    decode_errors INTEGER NOT NULL,
    indexed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE tracks (
    id INTEGER PRIMARY KEY,
    video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    start REAL NOT NULL,
    "end" REAL NOT NULL,
    label TEXT,
    status TEXT NOT NULL,
    similarity REAL,
    embedding BLOB,
    thumbnail BLOB
);
CREATE INDEX tracks_video ON tracks(video_id);
CREATE INDEX tracks_label ON tracks(label)
"""
MIGRATIONS = (
    _SCHEMA,
    # each track's embedded faces (float32, faces × D): names and --face matches need most of
    # them to agree, not only the mean (NULL in rows written before: judged by the mean)
    "ALTER TABLE tracks ADD COLUMN faces BLOB",
)


@dataclass(frozen=True)
class IndexOutcome(JsonResult):
    """What :meth:`VideoIndex.add` did with one video.

    Attributes:
        path: the video.
        status: ``"indexed"``, or ``"unchanged"`` (its content was indexed already).
        tracks: tracks stored (for ``"unchanged"``: tracks it has in the index).
        result: the screen-time analysis when the video was indexed now.
    """

    path: str
    status: Literal["indexed", "unchanged"]
    tracks: int
    result: ScreenTime | None = field(default=None, metadata={"json": False})


@dataclass(frozen=True)
class VideoRange(JsonResult):
    """A time range of one video where the people searched for are on screen.

    Attributes:
        video: the video's absolute path as indexed.
        start / end: seconds of the video.
        names: labels of every track on screen during the range (enrolled and unknown_N).
    """

    video: str
    start: float = field(metadata=json_options(digits=3))
    end: float = field(metadata=json_options(digits=3))
    names: tuple[str, ...]


@dataclass(frozen=True, eq=False, slots=True)
class _Row:
    video: str
    start: float
    end: float
    label: str | None
    status: str
    embedding: FloatArray | None
    faces: FloatArray | None = None


class VideoIndex:
    """Tracks of many videos in ``DIR/videos.sqlite`` (see the module docstring).

    Thread-safe: one lock serialises the use of the connection.
    """

    def __init__(self, directory: Path, conn: sqlite3.Connection) -> None:
        self.directory = directory
        self.path = directory / DB_NAME
        self._conn = conn
        self._lock = threading.RLock()

    @classmethod
    def open(cls, directory: str | os.PathLike[str], *, create: bool = True) -> VideoIndex:
        """The index in ``directory`` (created when ``create`` and absent).

        Raises:
            StorageError: no index there (and not ``create``), or the file cannot be used.
        """
        folder = Path(directory)
        path = folder / DB_NAME
        if not path.is_file():
            if not create:
                raise StorageError(
                    f"{folder}: no video index here (run `faceprint video index`)", source=folder
                )
            with map_exceptions(
                {OSError: StorageError}, source=folder, what="create the index folder"
            ):
                folder.mkdir(parents=True, exist_ok=True)
        conn = connect(path)
        try:
            migrate(conn, path, MIGRATIONS, what="video index")
        except BaseException:
            conn.close()
            raise
        return cls(folder, conn)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> VideoIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- settings -----------------------------------------------------------------------------
    def _setting(self, key: str) -> str | None:
        with sqlite_errors(self.path):
            row = self._conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @property
    def pack(self) -> str | None:
        """The model pack of the stored embeddings (``None`` while empty)."""
        return self._setting("pack")

    @property
    def augment(self) -> Augment:
        """The test-time augmentation of the stored embeddings (``"none"`` while empty)."""
        return cast(Augment, self._setting("augment") or "none")

    @property
    def space(self) -> EmbeddingSpace | None:
        """The embedding space of the stored tracks (``None`` while empty)."""
        pack = self.pack
        return None if pack is None else EmbeddingSpace(pack, self.augment)

    def _check_space(self, other: EmbeddingSpace) -> None:
        mine = self.space
        if mine is not None:
            mine.check(other, holder=f"{self.directory}: this video index", source=self.directory)

    # --- adding -------------------------------------------------------------------------------
    def add(
        self,
        video: str | os.PathLike[str],
        cast: Gallery | Cast | None = None,
        *,
        analyzer: FaceAnalyzer | None = None,
        options: VideoOptions | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> IndexOutcome:
        """Analyse ``video`` (see :func:`~faceprint.video.screentime`) and store its tracks;
        skipped when a file with the same content is indexed already."""
        path = Path(video)
        with map_exceptions({OSError: StorageError}, source=path, what="read"):
            digest = sha256_file(path) if path.is_file() else ""
        known = self._video_by_hash(digest) if digest else None
        if known is not None:
            return IndexOutcome(str(path), "unchanged", self._count(known))
        if analyzer is not None:
            self._check_space(analyzer.space)
        elif isinstance(cast, Gallery):
            self._check_space(cast.space)
        else:
            self._check_space(EmbeddingSpace(DEFAULT_PACK))
        result = screentime(
            path, cast, analyzer=analyzer, options=options, progress=progress, cancel=cancel
        )
        self._check_space(_space_of(result))
        stored = self._store(path.resolve(), digest, result)
        return IndexOutcome(str(path), "indexed", stored, result)

    def add_on(
        self,
        engine: Engine,
        videos: Iterable[str | os.PathLike[str]],
        cast: Gallery | Cast | None = None,
        *,
        options: VideoOptions | None = None,
    ) -> Iterator[IndexOutcome | FaceprintError]:
        """:meth:`add` for many videos on the workers of ``engine`` (e.g. on Ray): one video
        per task, analysed where the worker runs (the files, and a gallery's folder, must be
        readable there at the same paths); each result is stored here, in this process, as it
        arrives. Yields each video's outcome, or the error that stopped it, as they complete."""
        options = options or VideoOptions()
        self._check_space(engine.space)
        if isinstance(cast, Gallery):
            self._check_space(cast.space)
        people = str(cast.directory) if isinstance(cast, Gallery) else cast
        todo: dict[str, str] = {}
        for video in videos:
            path = Path(video)
            with map_exceptions({OSError: StorageError}, source=path, what="read"):
                digest = sha256_file(path) if path.is_file() else ""
            known = self._video_by_hash(digest) if digest else None
            if known is not None:
                yield IndexOutcome(str(path), "unchanged", self._count(known))
            else:
                todo[str(path)] = digest
        tasks = [(name, people, options) for name in todo]
        for name, result in engine.map(_screentime_task, tasks, ordered=False):
            yield result if isinstance(result, FaceprintError) else self._keep(name, todo, result)

    def _keep(self, path: str, digests: dict[str, str], result: ScreenTime) -> IndexOutcome:
        self._check_space(_space_of(result))
        known = self._video_by_hash(digests[path]) if digests[path] else None
        if known is not None:  # the same content twice in one call: stored once
            return IndexOutcome(path, "unchanged", self._count(known))
        stored = self._store(Path(path).resolve(), digests[path], result)
        return IndexOutcome(path, "indexed", stored, result)

    def _video_by_hash(self, digest: str) -> int | None:
        with self._lock, sqlite_errors(self.path):
            row = self._conn.execute("SELECT id FROM videos WHERE sha256 = ?", (digest,)).fetchone()
        return None if row is None else int(row[0])

    def _count(self, video_id: int) -> int:
        with self._lock, sqlite_errors(self.path):
            return int(
                self._conn.execute(
                    "SELECT count(*) FROM tracks WHERE video_id = ?", (video_id,)
                ).fetchone()[0]
            )

    def _store(self, path: Path, digest: str, result: ScreenTime) -> int:
        rows = [
            (t.start, t.end, t.label, t.status,
             None if not np.isfinite(t.similarity) else float(t.similarity),
             None if t.embedding is None else np.asarray(t.embedding, np.float32).tobytes(),
             t.thumbnail,
             None if t.face_embeddings is None
             else np.asarray(t.face_embeddings, np.float32).tobytes())
            for t in result.tracks
        ]  # fmt: skip
        with self._lock, transaction(self._conn, self.path) as cur:
            cur.execute("INSERT OR IGNORE INTO settings VALUES ('pack', ?)", (result.pack,))
            cur.execute("INSERT OR IGNORE INTO settings VALUES ('augment', ?)", (result.augment,))
            cur.execute("DELETE FROM videos WHERE path = ?", (str(path),))  # replaced content
            cur.execute(
                "INSERT INTO videos (path, sha256, size, duration, frames, decode_errors) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    str(path),
                    digest,
                    path.stat().st_size,
                    result.duration,
                    result.frames,
                    result.decode_errors,
                ),
            )
            video_id = cur.lastrowid
            cur.executemany(
                'INSERT INTO tracks (video_id, start, "end", label, status, similarity, embedding, '
                "thumbnail, faces) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(video_id, *row) for row in rows],
            )
        return len(rows)

    # --- reading ------------------------------------------------------------------------------
    def videos(self) -> list[dict[str, Any]]:
        """Every indexed video: path, sha256, duration, frames, decode_errors, tracks."""
        with self._lock, sqlite_errors(self.path):
            rows = self._conn.execute(
                "SELECT v.path, v.sha256, v.duration, v.frames, v.decode_errors, count(t.id) "
                "FROM videos v LEFT JOIN tracks t ON t.video_id = v.id GROUP BY v.id ORDER BY v.path"
            ).fetchall()
        keys = ("path", "sha256", "duration", "frames", "decode_errors", "tracks")
        return [dict(zip(keys, r)) for r in rows]

    def _rows(self) -> list[_Row]:
        with self._lock, sqlite_errors(self.path):
            rows = self._conn.execute(
                'SELECT v.path, t.start, t."end", t.label, t.status, t.embedding, t.faces '
                "FROM tracks t JOIN videos v ON v.id = t.video_id ORDER BY v.path, t.start"
            ).fetchall()
        return [
            _Row(
                p,
                float(s),
                float(e),
                lab,
                st,
                None if emb is None else np.frombuffer(emb, np.float32),
                _faces(emb, faces),
            )
            for p, s, e, lab, st, emb, faces in rows
        ]

    def _relabel(self, rows: list[_Row], gallery: Gallery) -> list[_Row]:
        """Labels from ``gallery`` for the judged tracks (the others keep theirs)."""
        mine = self.space
        if mine is not None:
            mine.check(
                gallery.space,
                holder=f"{self.directory}: this video index (asked with the gallery "
                f"{gallery.directory})",
                source=gallery.directory,
            )
        judged = [
            i
            for i, r in enumerate(rows)
            if r.status in ("identified", "unknown") and r.embedding is not None
        ]
        if not judged:
            return rows
        found = name_tracks(
            gallery,
            np.stack([rows[i].embedding for i in judged]),  # type: ignore[misc]
            [rows[i].faces for i in judged],
            gallery.threshold,
        )
        out = list(rows)
        for i, (name, _similarity) in zip(judged, found):
            r = rows[i]
            keep = r.label if r.status == "unknown" else None
            out[i] = _Row(r.video, r.start, r.end, name or keep, r.status, r.embedding, r.faces)
        return out

    def find(
        self,
        name: str,
        *,
        with_name: str | None = None,
        gap: float = 2.0,
        gallery: Gallery | None = None,
    ) -> list[VideoRange]:
        """The ranges where ``name`` is on screen (together with ``with_name`` when given),
        ranges less than ``gap`` seconds apart joined; per video, in time order."""
        _check_gap(gap)
        rows = self._rows()
        if gallery is not None:
            rows = self._relabel(rows, gallery)
        ranges = _ranges(rows, lambda r: r.label == name, gap)
        if with_name is not None:
            other = _ranges(rows, lambda r: r.label == with_name, gap)
            ranges = _intersect(ranges, other)
        return _named(ranges, rows)

    def find_face(
        self,
        embedding: npt.ArrayLike,
        *,
        threshold: float,
        gap: float = 2.0,
        pack: str | None = None,
        augment: str | None = None,
    ) -> list[VideoRange]:
        """The ranges of tracks whose embedding is at least ``threshold`` (cosine) similar to
        ``embedding`` (a face of the index's pack and augmentation)."""
        _check_gap(gap)
        if pack is not None:
            self._check_space(EmbeddingSpace(pack, cast(Augment, augment or self.augment)))
        rows = self._rows()
        usable = [i for i, r in enumerate(rows) if r.embedding is not None]
        query = np.asarray(embedding, np.float32).reshape(1, -1)
        if not usable:
            return []
        vecs = np.stack([rows[i].embedding for i in usable])  # type: ignore[misc]
        if query.shape[1] != vecs.shape[1]:
            raise PackMismatchError(
                f"the face is {query.shape[1]}-d, the index holds {vecs.shape[1]}-d embeddings"
            )
        index = create_index("exact", vecs.shape[1])
        index.add(np.arange(len(usable)), vecs)
        hits = index.search(query, len(usable), threshold=threshold)
        chosen = [rows[usable[int(i)]] for i in hits.ids[0][hits.valid[0]]]
        # the mean finds the candidates; most of a track's own faces must be that face too
        chosen = [
            r
            for r in chosen
            if faces_agree(None if r.faces is None else r.faces @ query[0] >= threshold)
        ]
        return _named(_ranges(chosen, lambda _r: True, gap), rows)


def _faces(embedding: bytes | None, faces: bytes | None) -> FloatArray | None:
    """A track's stored faces as (faces, D), ``None`` where the row has none."""
    if embedding is None or faces is None:
        return None
    dim = len(embedding) // 4
    return np.frombuffer(faces, np.float32).reshape(-1, dim)


def _space_of(result: ScreenTime) -> EmbeddingSpace:
    return EmbeddingSpace(result.pack, cast(Augment, result.augment))


def _screentime_task(
    analyzer: FaceAnalyzer, task: tuple[str, str | Cast | None, VideoOptions]
) -> tuple[str, ScreenTime | FaceprintError]:
    """One video on an engine worker, which opens a gallery given by its folder itself."""
    path, people, options = task
    try:
        if isinstance(people, str):
            with Gallery.open(people) as gallery:
                return path, screentime(path, gallery, analyzer=analyzer, options=options)
        return path, screentime(path, people, analyzer=analyzer, options=options)
    except FaceprintError as exc:
        exc.source = exc.source or path
        return path, exc
    except ValueError as exc:
        return path, FaceprintError(f"{path}: {exc}", source=path)


def _ranges(
    rows: Sequence[_Row], keep: Callable[[_Row], bool], gap: float
) -> dict[str, tuple[Segment, ...]]:
    per_video: dict[str, list[Segment]] = {}
    for row in rows:
        if keep(row):
            per_video.setdefault(row.video, []).append(Segment(row.start, row.end))
    return {v: merge_segments(s, gap) for v, s in per_video.items()}


def _intersect(
    a: dict[str, tuple[Segment, ...]], b: dict[str, tuple[Segment, ...]]
) -> dict[str, tuple[Segment, ...]]:
    out: dict[str, tuple[Segment, ...]] = {}
    for video in a.keys() & b.keys():
        both = [
            Segment(max(x.start, y.start), min(x.end, y.end))
            for x in a[video]
            for y in b[video]
            if min(x.end, y.end) > max(x.start, y.start)
        ]
        if both:
            out[video] = merge_segments(both)
    return out


def _named(ranges: dict[str, tuple[Segment, ...]], rows: Iterable[_Row]) -> list[VideoRange]:
    rows = list(rows)
    found = []
    for video in sorted(ranges):
        for seg in ranges[video]:
            names = {
                r.label for r in rows
                if r.video == video and r.label and r.start < seg.end and r.end > seg.start
            }  # fmt: skip
            found.append(VideoRange(video, seg.start, seg.end, tuple(sorted(names))))
    return found


def _check_gap(gap: float) -> None:
    if gap < 0:
        raise InvalidArgumentError(f"gap must not be negative, got {gap}")
