"""The gallery's source of truth: one SQLite database (``gallery.sqlite``).

Tables (schema version in ``PRAGMA user_version``)::

    identities(id, name UNIQUE, metadata JSON, created_at, updated_at)
    templates(id, identity_id → identities ON DELETE CASCADE, embedding BLOB float32 LE,
              source, x1, y1, x2, y2, pack, thumbnail BLOB JPEG, created_at)
    settings(key PRIMARY KEY, value JSON)

Every SQL statement of the gallery lives in this module. The connection comes from
:func:`faceprint._sqlite.connect`: WAL mode (readers in other processes never block the writer),
foreign keys on, ``secure_delete`` on (deleted rows are overwritten with zeros) and a busy
timeout. Every change runs in one ``BEGIN IMMEDIATE`` transaction; sqlite3 errors are translated
to :class:`~faceprint.errors.GalleryError` here, at the boundary. Ids use ``AUTOINCREMENT`` so a
template id is never reused: the set of template ids identifies the gallery's content (templates
are immutable), which :meth:`GalleryStore.state` turns into the index checksum.

The schema evolves through :data:`MIGRATIONS` (``MIGRATIONS[v]`` upgrades version ``v`` to
``v + 1``; :func:`faceprint._sqlite.migrate` runs the missing steps when a gallery is opened), so
a gallery written by this version opens in the next; a gallery written by a newer faceprint is
refused with "upgrade faceprint". A file that is not a faceprint gallery (empty, or another
program's database) is recognised read-only and left untouched.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from faceprint._sqlite import (
    Migration,
    check_version,
    connect,
    migrate,
    probe,
    sqlite_errors,
    transaction,
)
from faceprint.errors import (
    GalleryError,
    IdentityExistsError,
    IdentityNotFoundError,
    map_exceptions,
)
from faceprint.gallery.types import Identity, PersonSummary, Template

__all__ = [
    "DB_NAME",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "GalleryStore",
    "StoreState",
    "TemplateRow",
    "utc_now",
]

logger = logging.getLogger(__name__)

DB_NAME = "gallery.sqlite"
#: 16 KiB pages: a thumbnail fits in one page, and bulk inserts run about 30% faster than at 4 KiB
PAGE_SIZE = 16384

_SCHEMA = """
CREATE TABLE identities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    embedding BLOB NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    x1 REAL, y1 REAL, x2 REAL, y2 REAL,
    pack TEXT NOT NULL,
    thumbnail BLOB,
    created_at TEXT NOT NULL
);
CREATE INDEX templates_identity ON templates(identity_id);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_TABLES = frozenset({"identities", "templates", "settings"})
_SQLITE_MAGIC = b"SQLite format 3\x00"

#: the schema's history: ``MIGRATIONS[v]`` upgrades version ``v`` to ``v + 1`` (append a step,
#: never edit one that shipped); version 1 is the first schema
MIGRATIONS: tuple[Migration, ...] = (_SCHEMA,)
SCHEMA_VERSION = len(MIGRATIONS)

#: one template to insert: identity id, float32 embedding bytes, source, box, thumbnail
TemplateRow = tuple[int, bytes, str, "tuple[float, float, float, float] | None", "bytes | None"]
IntArray = npt.NDArray[np.int64]


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string (milliseconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class StoreState(NamedTuple):
    """What the templates are: changes with every change (ids are never reused)."""

    size: int
    max_id: int
    id_sum: int


class GalleryStore:
    """Typed access to ``gallery.sqlite``; one connection, serialised by a lock.

    Use :meth:`create` or :meth:`open`; both raise :class:`GalleryError` with the fix.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()

    # --- opening --------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: Path,
        settings: dict[str, Any],
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> GalleryStore:
        """A new database at ``path`` (which must not exist) with initial ``settings``."""
        if path.exists():
            raise GalleryError(f"{path} exists already; open it with Gallery.open", source=path)
        store = cls(path, _connect(path))
        try:
            migrate(store._conn, path, migrations, error=GalleryError, what="gallery")
            with store.transaction() as cur:
                store.put_settings(cur, settings)
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def open(cls, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> GalleryStore:
        """The existing database at ``path``, upgraded to the current schema when older.

        ``migrations`` is for tests of future schema steps; callers use the default.

        Raises:
            GalleryError: no file, not a faceprint gallery (the file is left untouched), or
                written by a newer faceprint.
        """
        if not path.is_file():
            raise GalleryError(
                f"no gallery database at {path}; create one with Gallery.create", source=path
            )
        _check_file(path, len(migrations))
        store = cls(path, _connect(path))
        try:
            migrate(store._conn, path, migrations, error=GalleryError, what="gallery")
            if "pack" not in store.settings():  # create() stopped between schema and settings
                raise GalleryError(
                    f"{path}: this gallery's creation was interrupted (it has no settings); "
                    "delete its folder and create it again",
                    source=path,
                )
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- transactions ---------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back on any exception."""
        with self._lock, transaction(self._conn, self.path, error=GalleryError) as cur:
            yield cur

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Cursor]:
        """A cursor for one consistent read (a deferred transaction)."""
        with self._lock, _translated(self.path):
            cur = self._conn.cursor()
            cur.execute("BEGIN")
            try:
                yield cur
            finally:
                self._conn.rollback()

    def _scalar(self, sql: str, args: Sequence[Any] = ()) -> Any:
        with self._lock, _translated(self.path):
            row = self._conn.execute(sql, args).fetchone()
        return None if row is None else row[0]

    def data_version(self) -> int:
        """Changes whenever *another* connection commits (``PRAGMA data_version``)."""
        return int(self._scalar("PRAGMA data_version"))

    # --- settings -------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        with self.reading() as cur:
            rows = cur.execute("SELECT key, value FROM settings").fetchall()
        return {k: json.loads(v) for k, v in rows}

    @staticmethod
    def put_settings(cur: sqlite3.Cursor, values: dict[str, Any]) -> None:
        cur.executemany(
            "INSERT INTO settings(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(k, json.dumps(v)) for k, v in values.items()],
        )

    # --- identities -----------------------------------------------------------------------
    @staticmethod
    def identity_id(cur: sqlite3.Cursor, name: str) -> int | None:
        row = cur.execute("SELECT id FROM identities WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    @staticmethod
    def identity_name(cur: sqlite3.Cursor, identity_id: int) -> str | None:
        row = cur.execute("SELECT name FROM identities WHERE id = ?", (identity_id,)).fetchone()
        return None if row is None else str(row[0])

    @classmethod
    def require_identity(cls, cur: sqlite3.Cursor, name: str) -> int:
        found = cls.identity_id(cur, name)
        if found is None:
            raise IdentityNotFoundError(f"no identity named {name!r} in the gallery")
        return found

    @staticmethod
    def insert_identity(cur: sqlite3.Cursor, name: str, metadata: str, now: str) -> int:
        try:
            cur.execute(
                "INSERT INTO identities(name, metadata, created_at, updated_at) VALUES (?,?,?,?)",
                (name, metadata, now, now),
            )
        except sqlite3.IntegrityError:
            raise IdentityExistsError(
                f"identity {name!r} exists already; append to it (append=True, --append) "
                "or choose another name"
            ) from None
        return int(cur.lastrowid or 0)

    @staticmethod
    def insert_identities(cur: sqlite3.Cursor, names: Sequence[str], now: str) -> IntArray:
        """Create identities ``names`` (all new, distinct); their ids in order."""
        first = _sequence(cur, "identities")
        try:
            cur.executemany(
                "INSERT INTO identities(name, metadata, created_at, updated_at) "
                "VALUES (?, '{}', ?, ?)",
                zip(names, [now] * len(names), [now] * len(names)),
            )
        except sqlite3.IntegrityError:
            raise IdentityExistsError(
                "some names exist already; pass append=True to add templates to existing identities"
            ) from None
        return _new_ids(cur, "identities", first, len(names))

    @staticmethod
    def ensure_identities(cur: sqlite3.Cursor, names: Iterable[str], now: str) -> dict[str, int]:
        """Ids of ``names``, creating the missing identities."""
        unique = sorted(set(names))
        before = int(cur.execute("SELECT COALESCE(MAX(id), 0) FROM identities").fetchone()[0])
        cur.executemany(
            "INSERT OR IGNORE INTO identities(name, metadata, created_at, updated_at) "
            "VALUES (?, '{}', ?, ?)",
            [(n, now, now) for n in unique],
        )
        rows = cur.execute("SELECT name, id FROM identities WHERE id > ?", (before,))
        ids: dict[str, int] = dict(rows.fetchall())
        old = [n for n in unique if n not in ids]
        for start in range(0, len(old), 500):
            chunk = old[start : start + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT name, id FROM identities WHERE name IN ({marks})"
            ids.update((n, int(i)) for n, i in cur.execute(sql, chunk))
        return ids

    @staticmethod
    def import_identity(
        cur: sqlite3.Cursor, name: str, metadata: str, created_at: str, updated_at: str
    ) -> int:
        """Insert an identity with given timestamps (an imported one); its new id."""
        cur.execute(
            "INSERT INTO identities(name, metadata, created_at, updated_at) VALUES (?,?,?,?)",
            (name, metadata, created_at, updated_at),
        )
        return int(cur.lastrowid or 0)

    @staticmethod
    def set_identity_metadata(
        cur: sqlite3.Cursor, identity_id: int, metadata: str, now: str | None = None
    ) -> None:
        """Replace an identity's metadata (JSON text); ``now`` also sets ``updated_at``."""
        if now is None:
            cur.execute("UPDATE identities SET metadata = ? WHERE id = ?", (metadata, identity_id))
        else:
            cur.execute(
                "UPDATE identities SET metadata = ?, updated_at = ? WHERE id = ?",
                (metadata, now, identity_id),
            )

    @staticmethod
    def rename_identity(cur: sqlite3.Cursor, identity_id: int, name: str, now: str) -> None:
        cur.execute(
            "UPDATE identities SET name = ?, updated_at = ? WHERE id = ?",
            (name, now, identity_id),
        )

    @staticmethod
    def delete_identity(cur: sqlite3.Cursor, identity_id: int) -> IntArray:
        """Delete an identity with its templates (cascade); the deleted template ids."""
        rows = cur.execute("SELECT id FROM templates WHERE identity_id = ?", (identity_id,))
        tids = np.asarray([r[0] for r in rows], np.int64)
        cur.execute("DELETE FROM identities WHERE id = ?", (identity_id,))
        return tids

    @staticmethod
    def delete_template(cur: sqlite3.Cursor, template_id: int) -> int | None:
        """Delete one template; its identity id, or ``None`` when there is no such template."""
        row = cur.execute(
            "SELECT identity_id FROM templates WHERE id = ?", (template_id,)
        ).fetchone()
        if row is None:
            return None
        cur.execute("DELETE FROM templates WHERE id = ?", (template_id,))
        return int(row[0])

    @staticmethod
    def touch(cur: sqlite3.Cursor, identity_ids: Iterable[int], now: str) -> None:
        cur.executemany(
            "UPDATE identities SET updated_at = ? WHERE id = ?", [(now, i) for i in identity_ids]
        )

    def identities(self, name: str | None = None) -> list[Identity]:
        """Every identity sorted by name, or only the one called ``name``."""
        where = "" if name is None else "WHERE i.name = ? "
        sql = (
            "SELECT i.id, i.name, i.metadata, i.created_at, i.updated_at, COUNT(t.id) "
            "FROM identities i LEFT JOIN templates t ON t.identity_id = i.id "
            f"{where}GROUP BY i.id ORDER BY i.name"
        )
        with self.reading() as cur:
            rows = cur.execute(sql, () if name is None else (name,)).fetchall()
        return [Identity(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5]) for r in rows]

    def people_page(
        self, folded_query: str, limit: int, offset: int
    ) -> tuple[list[PersonSummary], int]:
        """One page of people sorted by name whose case-folded name contains ``folded_query``
        (``""``: everybody), and how many match in all: one query, whose template join only
        touches the page's people."""
        sql = (
            "WITH matching AS (SELECT id, name, created_at FROM identities "
            "  WHERE ?1 = '' OR instr(faceprint_fold(name), ?1) > 0), "
            "page AS (SELECT * FROM matching ORDER BY name LIMIT ?2 OFFSET ?3) "
            "SELECT (SELECT COUNT(*) FROM matching), p.id, p.name, p.created_at, COUNT(t.id), "
            "  MIN(CASE WHEN t.thumbnail IS NOT NULL THEN t.id END) "
            "FROM (SELECT 1) LEFT JOIN page p LEFT JOIN templates t ON t.identity_id = p.id "
            "GROUP BY p.id ORDER BY p.name"
        )
        with self.reading() as cur:
            rows = cur.execute(sql, (folded_query, limit, offset)).fetchall()
        total = int(rows[0][0]) if rows else 0
        people = [
            PersonSummary(int(r[1]), r[2], r[3], int(r[4]), None if r[5] is None else int(r[5]))
            for r in rows
            if r[1] is not None
        ]
        return people, total

    def has_identity(self, name: str) -> bool:
        with self.reading() as cur:
            return self.identity_id(cur, name) is not None

    def identity_names(self) -> dict[int, str]:
        with self.reading() as cur:
            return dict(cur.execute("SELECT id, name FROM identities"))

    # --- templates ------------------------------------------------------------------------
    @staticmethod
    def insert_templates(
        cur: sqlite3.Cursor, rows: Sequence[TemplateRow], pack: str, now: str
    ) -> IntArray:
        """Insert ``rows``; their new ids (consecutive, in order)."""
        first = _sequence(cur, "templates")
        cur.executemany(
            "INSERT INTO templates(identity_id, embedding, source, x1, y1, x2, y2, pack, "
            "thumbnail, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                (ident, emb, src, *(box if box is not None else (None,) * 4), pack, thumb, now)
                for ident, emb, src, box, thumb in rows
            ),
        )
        return _new_ids(cur, "templates", first, len(rows))

    @staticmethod
    def insert_embeddings(
        cur: sqlite3.Cursor,
        identity_ids: IntArray,
        vectors: npt.NDArray[np.float32],
        sources: Sequence[str] | None,
        pack: str,
        now: str,
    ) -> IntArray:
        """Bulk fast path of :meth:`insert_templates` for rows without box or thumbnail."""
        first = _sequence(cur, "templates")
        raw = np.ascontiguousarray(vectors, dtype="<f4").tobytes()
        step = vectors.shape[1] * 4
        blobs = (raw[i : i + step] for i in range(0, len(raw), step))
        srcs = sources if sources is not None else [""] * len(identity_ids)
        cur.executemany(
            "INSERT INTO templates(identity_id, embedding, source, pack, created_at) "
            "VALUES (?,?,?,?,?)",
            zip(identity_ids.tolist(), blobs, srcs, [pack] * len(srcs), [now] * len(srcs)),
        )
        return _new_ids(cur, "templates", first, len(identity_ids))

    def template_map(self, after: int = 0) -> tuple[IntArray, IntArray]:
        """(template ids, their identity ids) for ids above ``after``, sorted by template id.

        The whole map is read from the covering index on ``identity_id`` (16 bytes a row)
        rather than the table, whose rows carry the embeddings: at 1M 512-d templates that is
        0.4 s instead of 1.1 s, most of a gallery's open time. Increments read the table by id.
        """
        with self.reading() as cur:
            if after <= 0:
                count = int(cur.execute("SELECT count(*) FROM templates").fetchone()[0])
                rows = cur.execute(
                    "SELECT id, identity_id FROM templates INDEXED BY templates_identity"
                )
            else:
                count = -1
                rows = cur.execute(
                    "SELECT id, identity_id FROM templates WHERE id > ? ORDER BY id", (after,)
                )
            flat = np.fromiter(
                itertools.chain.from_iterable(rows),
                dtype=np.int64,
                count=2 * count if count >= 0 else -1,
            )
        arr = flat.reshape(-1, 2)
        if after <= 0:
            arr = arr[np.argsort(arr[:, 0], kind="stable")]
        return arr[:, 0].copy(), arr[:, 1].copy()

    def embeddings(self, dim: int, after: int = 0) -> tuple[IntArray, npt.NDArray[np.float32]]:
        """(template ids, float32 (N, dim) embeddings) of templates with ids above ``after``."""
        with self.reading() as cur:
            rows = cur.execute(
                "SELECT id, embedding FROM templates WHERE id > ? ORDER BY id", (after,)
            ).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        blob = b"".join(r[1] for r in rows)
        vecs = np.frombuffer(blob, dtype="<f4").astype(np.float32).reshape(len(rows), dim)
        return ids, vecs

    def embeddings_of(self, identity_id: int, dim: int) -> npt.NDArray[np.float32]:
        """float32 (N, dim) embeddings of one identity's templates, oldest first."""
        with self.reading() as cur:
            rows = cur.execute(
                "SELECT embedding FROM templates WHERE identity_id = ? ORDER BY id", (identity_id,)
            ).fetchall()
        blob = b"".join(r[0] for r in rows)
        return np.frombuffer(blob, dtype="<f4").astype(np.float32).reshape(len(rows), dim)

    def templates_of(self, identity_id: int) -> list[Template]:
        sql = (
            "SELECT id, identity_id, source, x1, y1, x2, y2, pack, created_at, "
            "thumbnail IS NOT NULL FROM templates WHERE identity_id = ? ORDER BY id"
        )
        with self.reading() as cur:
            rows = cur.execute(sql, (identity_id,)).fetchall()
        return [_template(r) for r in rows]

    def sources_of(self, identity_id: int) -> set[str]:
        with self.reading() as cur:
            rows = cur.execute("SELECT source FROM templates WHERE identity_id = ?", (identity_id,))
            return {r[0] for r in rows}

    def thumbnails(self, template_ids: Iterable[int]) -> dict[int, bytes]:
        ids = sorted({int(t) for t in template_ids})
        out: dict[int, bytes] = {}
        with self.reading() as cur:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                sql = f"SELECT id, thumbnail FROM templates WHERE id IN ({','.join('?' * len(chunk))})"
                out.update((int(i), bytes(t)) for i, t in cur.execute(sql, chunk) if t is not None)
        return out

    def export_rows(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """All identities and all templates (with embeddings and thumbnails), for export."""
        with self.reading() as cur:
            idents = cur.execute(
                "SELECT id, name, metadata, created_at, updated_at FROM identities ORDER BY id"
            ).fetchall()
            temps = cur.execute(
                "SELECT identity_id, embedding, source, x1, y1, x2, y2, pack, thumbnail, "
                "created_at FROM templates ORDER BY id"
            ).fetchall()
        return idents, temps

    def state(self) -> StoreState:
        """Count, max id and id sum of the templates (what an index was built from)."""
        with self.reading() as cur:
            row = cur.execute(
                "SELECT COUNT(*), COALESCE(MAX(id), 0), COALESCE(SUM(id), 0) FROM templates"
            ).fetchone()
        return StoreState(int(row[0]), int(row[1]), int(row[2]))

    # --- secure deletion ------------------------------------------------------------------
    def _mostly_free(self) -> bool:
        """Whether over a quarter of the database file (and over 1 MiB) is free pages, as after
        deleting people with large thumbnails: then :meth:`scrub` rebuilds the file, so that
        deleted means small as well as gone."""
        free = int(self._conn.execute("PRAGMA freelist_count").fetchone()[0])
        pages = int(self._conn.execute("PRAGMA page_count").fetchone()[0])
        size = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
        return free * size > FREE_BYTES_TO_VACUUM and free * 4 > pages

    def scrub(self, *, vacuum: bool) -> bool:
        """Checkpoint the WAL into the database and truncate it (and VACUUM when asked, or
        when most of the file is free pages).

        With ``secure_delete`` on, deleted rows are zeroed in the database pages; this moves
        those pages out of the WAL and empties the WAL file. Returns ``False`` when another
        connection's open read kept the WAL from being emptied (the deleted bytes then stay in
        the WAL until the next checkpoint).
        """
        with self._lock, _translated(self.path):
            if vacuum or self._mostly_free():
                self._conn.execute("VACUUM")
            busy, _log, _done = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            logger.warning("%s: WAL not truncated (another process is reading)", self.path)
        return not busy


#: free pages worth rebuilding the database file for (see GalleryStore._mostly_free)
FREE_BYTES_TO_VACUUM = 1024 * 1024


def _sequence(cur: sqlite3.Cursor, table: str) -> int:
    row = cur.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    return 0 if row is None else int(row[0])


def _new_ids(cur: sqlite3.Cursor, table: str, first: int, n: int) -> IntArray:
    """Ids of the ``n`` rows just inserted into ``table`` after sequence value ``first``
    (``AUTOINCREMENT`` under the write lock allocates them consecutively)."""
    last = _sequence(cur, table)
    if last - first != n:
        raise GalleryError(f"{table} ids were not allocated consecutively; the store is corrupt")
    return np.arange(first + 1, last + 1, dtype=np.int64)


def _template(r: Sequence[Any]) -> Template:
    box = None if r[3] is None else (float(r[3]), float(r[4]), float(r[5]), float(r[6]))
    return Template(int(r[0]), int(r[1]), r[2], box, r[7], r[8], bool(r[9]))


def _connect(path: Path) -> sqlite3.Connection:
    conn = connect(path, error=GalleryError, page_size=PAGE_SIZE)
    # name search folds case in every script (SQLite's own LIKE/lower fold ASCII only)
    conn.create_function("faceprint_fold", 1, _fold, deterministic=True)
    return conn


def _fold(name: object) -> str:
    return name.casefold() if isinstance(name, str) else ""


def _not_a_gallery(path: Path, why: str) -> GalleryError:
    return GalleryError(
        f"{path} is not a faceprint gallery ({why}); it was left unchanged", source=path
    )


def _check_file(path: Path, known: int) -> None:
    """Refuse, without changing the file, what is not a faceprint gallery this version reads."""
    with (
        map_exceptions({OSError: GalleryError}, source=path, what="read the gallery database"),
        open(path, "rb") as f,
    ):
        header = f.read(len(_SQLITE_MAGIC))
    if header and header != _SQLITE_MAGIC:
        raise _not_a_gallery(path, "not an SQLite database")
    try:
        found = probe(path, error=GalleryError)
    except GalleryError as exc:
        if "not a database" not in str(exc) and "malformed" not in str(exc):
            raise  # e.g. permission denied: say so, not "not a gallery"
        raise _not_a_gallery(path, "not an SQLite database") from exc
    check_version(found.version, known, path, error=GalleryError, what="gallery")
    if found.version == 0:
        what = "an empty database" if not found.tables else "another program's database"
        raise _not_a_gallery(path, what)
    if missing := _TABLES - found.tables:
        raise _not_a_gallery(path, f"no {', '.join(sorted(missing))} table")


def _translated(path: Path) -> contextlib.AbstractContextManager[None]:
    """sqlite3 errors in the block → :class:`GalleryError` naming ``path``."""
    return sqlite_errors(path, GalleryError, "use the gallery database")
