"""The library's SQLite file (``DIR/library.sqlite``): schema, migrations and row helpers.

Tables (schema version in ``PRAGMA user_version``)::

    settings(key PRIMARY KEY, value JSON)                  root, pack, gallery, created_at
    photos(id, path UNIQUE, size, mtime_ns, sha256, width, height, taken, orientation, scanned_at)
    people(id, name UNIQUE)                                a named person (= a gallery identity)
    clusters(id, person_id UNIQUE NULL)                    one per person, or an unnamed group
    faces(id, photo_id → photos ON DELETE CASCADE, idx, x1, y1, x2, y2, landmarks, score,
          size, quality, embedding, thumbnail, cluster_id → clusters, person_id → people,
          state free|auto|confirmed, template_id)          UNIQUE(photo_id, idx)
    rejections(face_id → faces, person_id → people NULL)   "not this person" (NULL: taken
                                                           out of an unnamed cluster)
    problems(path PRIMARY KEY, size, mtime_ns, reason)     files that could not be indexed

A photo and its faces are written in one transaction, so the index never holds half a photo.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from faceprint._sqlite import connect, migrate, sqlite_errors, transaction
from faceprint.errors import StorageError

__all__ = ["DB_NAME", "MIGRATIONS", "LibraryStore"]

DB_NAME = "library.sqlite"

_SCHEMA_V1 = """
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE photos (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    taken TEXT,
    orientation INTEGER,
    scanned_at TEXT NOT NULL
);
CREATE INDEX photos_sha256 ON photos(sha256);
CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE clusters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id INTEGER UNIQUE REFERENCES people(id) ON DELETE CASCADE
);
CREATE TABLE faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
    landmarks BLOB NOT NULL,
    score REAL NOT NULL,
    size REAL NOT NULL,
    quality REAL NOT NULL,
    embedding BLOB NOT NULL,
    thumbnail BLOB,
    cluster_id INTEGER REFERENCES clusters(id) ON DELETE SET NULL,
    person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
    state TEXT NOT NULL DEFAULT 'free' CHECK (state IN ('free', 'auto', 'confirmed')),
    template_id INTEGER,
    UNIQUE (photo_id, idx)
);
CREATE INDEX faces_cluster ON faces(cluster_id);
CREATE INDEX faces_person ON faces(person_id);
CREATE TABLE rejections (
    id INTEGER PRIMARY KEY,
    face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    person_id INTEGER REFERENCES people(id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX rejections_pair ON rejections(face_id, IFNULL(person_id, -1));
CREATE TABLE problems (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    reason TEXT NOT NULL
)
"""

#: ``MIGRATIONS[v]`` upgrades schema version v to v + 1
MIGRATIONS: list[str] = [
    _SCHEMA_V1,
    # v2: a user can hide a cluster from the people page; faces in no group, paged by quality
    "ALTER TABLE clusters ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;\n"
    "CREATE INDEX faces_free ON faces(quality) WHERE cluster_id IS NULL AND person_id IS NULL",
]


class LibraryStore:
    """The open SQLite file; callers serialise their use of it (the :class:`Library` lock)."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn
        #: results derived from the rows, valid while :meth:`version` is unchanged
        self.derived: dict[str, tuple[object, object]] = {}

    def version(self) -> tuple[int, int]:
        """Changes by this connection and commits by others: equal values, equal rows."""
        with sqlite_errors(self.path, StorageError, "read the library"):
            other = int(self.conn.execute("PRAGMA data_version").fetchone()[0])
        return self.conn.total_changes, other

    @classmethod
    def open(cls, path: Path, *, create: bool) -> LibraryStore:
        """Open (or, with ``create``, create) the library file and bring its schema up to date."""
        if not create and not path.is_file():
            raise StorageError(f"{path.parent}: no photo library here", source=path.parent)
        conn = connect(path, error=StorageError)
        try:
            migrate(conn, path, MIGRATIONS, error=StorageError, what="photo library")
        except BaseException:
            conn.close()
            raise
        return cls(path, conn)

    def close(self) -> None:
        with sqlite_errors(self.path):
            self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """One ``BEGIN IMMEDIATE`` … ``COMMIT``."""
        with transaction(self.conn, self.path) as cur:
            yield cur

    def query(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[Any]:
        """All rows of a read query."""
        with sqlite_errors(self.path, StorageError, "read the library"):
            return self.conn.execute(sql, args).fetchall()

    def scalar(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        rows = self.query(sql, args)
        return rows[0][0] if rows else None

    # --- settings ---------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.query("SELECT key, value FROM settings")}

    @staticmethod
    def put_settings(cur: sqlite3.Cursor, values: dict[str, Any]) -> None:
        cur.executemany(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(k, json.dumps(v)) for k, v in values.items()],
        )

    # --- people and clusters ----------------------------------------------------------------
    @staticmethod
    def person_id(cur: sqlite3.Cursor, name: str) -> int | None:
        row = cur.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    @classmethod
    def ensure_person(cls, cur: sqlite3.Cursor, name: str, cluster: int | None = None) -> int:
        """The person's id; a new person gets ``cluster`` (an unnamed cluster) as theirs, or a
        new cluster."""
        found = cls.person_id(cur, name)
        if found is not None:
            return found
        pid = int(cur.execute("INSERT INTO people (name) VALUES (?)", (name,)).lastrowid or 0)
        if cluster is None:
            cur.execute("INSERT INTO clusters (person_id) VALUES (?)", (pid,))
        else:
            cur.execute("UPDATE clusters SET person_id = ? WHERE id = ?", (pid, cluster))
        return pid

    @staticmethod
    def person_cluster(cur: sqlite3.Cursor, person_id: int) -> int:
        row = cur.execute("SELECT id FROM clusters WHERE person_id = ?", (person_id,)).fetchone()
        if row is not None:
            return int(row[0])
        return int(
            cur.execute("INSERT INTO clusters (person_id) VALUES (?)", (person_id,)).lastrowid or 0
        )
