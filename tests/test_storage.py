"""Storage that can evolve: versioned SQLite schemas for the gallery and the evaluation cache.

A gallery written by the code before migrations existed opens unchanged; a newer one is refused
with "upgrade faceprint"; a file that is not a gallery is refused without a single byte changed;
a step added to a test-local migration list upgrades a version-1 gallery in place.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from faceprint import _sqlite
from faceprint.errors import GalleryError, StorageError
from faceprint.evaluate.cache import MIGRATIONS as CACHE_MIGRATIONS
from faceprint.evaluate.cache import EmbeddingCache
from faceprint.gallery import Gallery
from faceprint.gallery.store import DB_NAME, MIGRATIONS, GalleryStore
from faceprint.packs import DEFAULT_PACK

DIM = 128

# The schema and creation steps of GalleryStore.create as they were before migrations existed
# (faceprint 9afa404): version 1, written in one transaction on a WAL file with 16 KiB pages.
_V1_SCHEMA = """
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


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def write_v1_gallery(directory: Path, vectors: np.ndarray) -> None:
    """A gallery as the pre-migration code wrote it: one identity per row of ``vectors``."""
    directory.mkdir(parents=True)
    conn = sqlite3.connect(directory / DB_NAME, isolation_level=None)
    conn.execute("PRAGMA page_size = 16384")
    assert conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
    now = "2026-01-01T00:00:00.000+00:00"
    settings = {
        "uuid": "0" * 32,
        "pack": "dlib",
        "dim": DIM,
        "threshold": None,
        "threshold_source": "",
        "index_backend": "exact",
        "index_params": {},
        "created_at": now,
    }
    conn.execute("BEGIN IMMEDIATE")
    for statement in _V1_SCHEMA.strip().split(";\n"):
        conn.execute(statement)
    conn.executemany(
        "INSERT INTO settings(key, value) VALUES (?, ?)",
        [(k, json.dumps(v)) for k, v in settings.items()],
    )
    for i, vec in enumerate(vectors):
        cur = conn.execute(
            "INSERT INTO identities(name, metadata, created_at, updated_at) VALUES (?,?,?,?)",
            (f"person{i}", "{}", now, now),
        )
        conn.execute(
            "INSERT INTO templates(identity_id, embedding, source, pack, created_at) "
            "VALUES (?,?,?,?,?)",
            (cur.lastrowid, vec.astype("<f4").tobytes(), f"p{i}.jpg", "dlib", now),
        )
    conn.execute("PRAGMA user_version = 1")
    conn.execute("COMMIT")
    conn.close()


def _version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def test_gallery_written_before_migrations_opens_unchanged(tmp_path: Path) -> None:
    vectors = _unit(np.random.default_rng(0).normal(size=(5, DIM)))
    write_v1_gallery(tmp_path / "g", vectors)
    with Gallery.open(tmp_path / "g") as gal:
        assert len(gal) == 5 and gal.template_count == 5 and gal.pack == "dlib"
        assert [r.name for r in gal.identify(vectors[[3, 1]], threshold=0.9)] == [
            "person3",
            "person1",
        ]
        gal.add_embeddings(["new"], vectors[:1] + 0.01)
        assert gal.templates("new")[0].id == 6
    assert _version(tmp_path / "g" / DB_NAME) == len(MIGRATIONS) == 1


def test_gallery_of_a_newer_faceprint_is_refused_untouched(tmp_path: Path) -> None:
    write_v1_gallery(tmp_path / "g", _unit(np.ones((1, DIM))))
    db = tmp_path / "g" / DB_NAME
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 7")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(GalleryError, match=r"schema version 7.*upgrade faceprint") as err:
        Gallery.open(tmp_path / "g")
    assert err.value.source == str(db)
    assert db.read_bytes() == before


def _foreign_db(path: Path) -> None:
    conn = sqlite3.connect(path)  # rollback journal, like most programs' databases
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)")
    conn.execute("INSERT INTO photos(path) VALUES ('a.jpg')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda p: p.write_bytes(b""), "an empty database"),
        (_foreign_db, "another program's database"),
        (lambda p: p.write_bytes(b"not sqlite at all " * 100), "not an SQLite database"),
        (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200), "not an SQLite"),
    ],
    ids=["empty", "foreign", "garbage", "bad-header"],
)
def test_a_file_that_is_not_a_gallery_is_left_untouched(tmp_path: Path, make, why: str) -> None:
    directory = tmp_path / "g"
    directory.mkdir()
    db = directory / DB_NAME
    make(db)
    before = db.read_bytes()
    with pytest.raises(GalleryError, match=f"not a faceprint gallery \\((an )?{why}") as err:
        Gallery.open(directory)
    assert err.value.source == str(db)
    assert db.read_bytes() == before
    assert sorted(p.name for p in directory.iterdir()) == [DB_NAME]  # no -wal, no -shm


def _add_note_column(cur: sqlite3.Cursor) -> None:
    cur.execute("ALTER TABLE identities ADD COLUMN note TEXT NOT NULL DEFAULT ''")
    cur.execute("UPDATE identities SET note = 'migrated ' || name")


def test_a_migration_step_upgrades_a_version_1_gallery(tmp_path: Path) -> None:
    write_v1_gallery(tmp_path / "g", _unit(np.eye(DIM, dtype=np.float32)[:3] + 0.1))
    db = tmp_path / "g" / DB_NAME
    steps = (*MIGRATIONS, _add_note_column, "CREATE INDEX identities_note ON identities(note)")
    store = GalleryStore.open(db, migrations=steps)
    try:
        assert _sqlite.schema_version(store._conn) == 3
        with store.reading() as cur:
            notes = cur.execute("SELECT name, note FROM identities ORDER BY id").fetchall()
        assert notes == [(f"person{i}", f"migrated person{i}") for i in range(3)]
        assert len(store.identities()) == 3 and store.state().size == 3
    finally:
        store.close()
    again = GalleryStore.open(db, migrations=steps)  # nothing left to do
    again.close()
    with pytest.raises(GalleryError, match=r"schema version 3.*upgrade faceprint"):
        GalleryStore.open(db)  # this faceprint knows only version 1


def test_a_failing_migration_step_leaves_the_previous_version(tmp_path: Path) -> None:
    write_v1_gallery(tmp_path / "g", _unit(np.ones((2, DIM))))
    db = tmp_path / "g" / DB_NAME

    def broken(cur: sqlite3.Cursor) -> None:
        cur.execute("ALTER TABLE identities ADD COLUMN half TEXT")
        cur.execute("SELECT * FROM no_such_table")

    with pytest.raises(GalleryError, match="no such table"):
        GalleryStore.open(db, migrations=(*MIGRATIONS, broken))
    assert _version(db) == 1
    with sqlite3.connect(db) as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(identities)")]
    conn.close()
    assert "half" not in columns
    with Gallery.open(tmp_path / "g") as gal:
        assert len(gal) == 2


def test_new_gallery_has_the_current_version_and_wal(tmp_path: Path) -> None:
    with Gallery.create(tmp_path / "g") as gal:
        assert gal.settings.pack == DEFAULT_PACK
    db = tmp_path / "g" / DB_NAME
    assert _version(db) == len(MIGRATIONS)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 16384
    conn.close()


# --- the evaluation cache -------------------------------------------------------------------------
def test_cache_written_before_versioning_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(str(CACHE_MIGRATIONS[0]))
    vec = np.arange(4, dtype=np.float32)
    conn.execute("INSERT INTO embeddings VALUES ('k', 'f', 4, ?)", (vec.tobytes(),))
    conn.commit()
    conn.close()
    with EmbeddingCache(path) as cache:
        np.testing.assert_array_equal(cache.get_embeddings("k", ["f"])["f"], vec)
        cache.put_embeddings("k", {"g": vec + 1})
        assert set(cache.get_embeddings("k", ["f", "g", "h"])) == {"f", "g"}
    assert _version(path) == len(CACHE_MIGRATIONS)


def test_cache_of_a_newer_faceprint_or_corrupt_is_a_storage_error(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {len(CACHE_MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StorageError, match="upgrade faceprint") as err:
        EmbeddingCache(newer)
    assert err.value.source == str(newer)
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"\x00garbage" * 512)
    with pytest.raises(StorageError, match="evaluation cache"):
        EmbeddingCache(corrupt)


# --- the shared helper ------------------------------------------------------------------------------
def test_transaction_rolls_back_and_translates(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    conn = _sqlite.connect(path)
    _sqlite.migrate(conn, path, ["CREATE TABLE t (x INTEGER UNIQUE)"])
    with _sqlite.transaction(conn, path) as cur:
        cur.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(StorageError, match="UNIQUE") as err, _sqlite.transaction(conn, path) as cur:
        cur.execute("INSERT INTO t VALUES (2)")
        cur.execute("INSERT INTO t VALUES (1)")
    assert err.value.source == str(path) and isinstance(err.value.__cause__, sqlite3.Error)
    assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    assert not conn.in_transaction
    conn.close()


def test_probe_reads_without_creating(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        _sqlite.probe(tmp_path / "missing.sqlite")
    assert not (tmp_path / "missing.sqlite").exists()


def test_a_gallery_whose_creation_stopped_before_its_settings_is_refused(tmp_path: Path) -> None:
    (tmp_path / "g").mkdir()
    db = tmp_path / "g" / DB_NAME
    conn = _sqlite.connect(db)
    _sqlite.migrate(conn, db, MIGRATIONS)  # the schema, then a crash before the settings
    conn.close()
    with pytest.raises(GalleryError, match="creation was interrupted"):
        Gallery.open(tmp_path / "g")
