"""The one way faceprint opens and talks to an SQLite file it writes.

Galleries, photo libraries, video indexes, API keys and the embedding cache all use
:func:`connect` (WAL, foreign keys, ``secure_delete``, a busy timeout, autocommit so that each
change is one explicit ``BEGIN IMMEDIATE`` transaction), :func:`transaction` and
:func:`sqlite_errors`, which translates :mod:`sqlite3` exceptions into faceprint's tree with the
file they concern. Schemas evolve with :func:`migrate`: stepwise ``user_version`` upgrades, and a
file written by a newer faceprint is refused with a clear message. :func:`probe` reads a file's
version and tables read-only, so that a file that is not yours (empty, another program's) can be
refused before :func:`connect` switches it to WAL.

    conn = connect(path, error=StorageError)
    migrate(conn, path, MIGRATIONS, error=StorageError)   # MIGRATIONS[v] upgrades v -> v + 1
    with transaction(conn, path) as cur:
        cur.execute("INSERT ...")
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from faceprint.errors import FaceprintError, StorageError, map_exceptions

__all__ = [
    "BUSY_TIMEOUT_S",
    "FileProbe",
    "Migration",
    "check_version",
    "connect",
    "migrate",
    "probe",
    "schema_version",
    "sqlite_errors",
    "transaction",
]

BUSY_TIMEOUT_S = 30.0
#: one upgrade step: runs inside the migration's transaction, given its cursor
Migration = Callable[[sqlite3.Cursor], None] | str


@contextmanager
def sqlite_errors(
    path: object, error: type[FaceprintError] = StorageError, what: str = ""
) -> Iterator[None]:
    """Translate :mod:`sqlite3` errors raised in the block into ``error`` naming ``path``."""
    mapping: dict[type[BaseException], type[FaceprintError]] = {sqlite3.Error: error}
    with map_exceptions(mapping, source=path, what=what or "use the database"):
        yield


def connect(
    path: str | Path,
    *,
    error: type[FaceprintError] = StorageError,
    readonly: bool = False,
    immutable: bool = False,
    page_size: int | None = None,
    wal: bool = True,
) -> sqlite3.Connection:
    """An autocommit connection to ``path`` with faceprint's pragmas.

    Args:
        error: the faceprint error class raised when the file cannot be opened.
        readonly: open with ``mode=ro`` (never modifies the file).
        immutable: with ``readonly``, also promise SQLite that nobody changes the file, so it
            creates no ``-wal``/``-shm`` files next to a WAL-mode database (only safe when no
            ``-wal`` file exists: then the main file holds every committed change).
        page_size: for a new file only (SQLite ignores it for an existing one).
        wal: switch to WAL journaling (readers never block the writer).

    The connection may be used from several threads (``check_same_thread=False``); callers
    serialise their use of it.
    """
    path = Path(path)
    with sqlite_errors(path, error, "open the database"):
        if readonly:
            flags = "mode=ro&immutable=1" if immutable else "mode=ro"
            uri = f"file:{quote(path.resolve().as_posix())}?{flags}"
            conn = sqlite3.connect(
                uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                check_same_thread=False,
            )  # fmt: skip
        else:
            conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if page_size and not readonly:
            conn.execute(f"PRAGMA page_size = {int(page_size)}")
        if wal and not readonly:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                conn.close()
                raise error(f"{path}: the file system does not support SQLite WAL mode")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")
    return conn


@contextmanager
def transaction(
    conn: sqlite3.Connection, path: object, *, error: type[FaceprintError] = StorageError
) -> Iterator[sqlite3.Cursor]:
    """One ``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on any exception), errors translated."""
    with sqlite_errors(path, error, "change the database"):
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
            conn.commit()
        except BaseException:
            if conn.in_transaction:  # also after a failed COMMIT (disk full, I/O error)
                conn.rollback()
            raise


class FileProbe(NamedTuple):
    """What an existing SQLite file holds, read without changing it."""

    version: int
    tables: frozenset[str]


def probe(path: str | Path, *, error: type[FaceprintError] = StorageError) -> FileProbe:
    """The ``user_version`` and table names of the SQLite file ``path``, opened read-only.

    Call it before :func:`connect` to recognise a file that is not yours (an empty file, another
    program's database) without switching it to WAL or writing to it.

    Raises:
        error: the file is not an SQLite database (or cannot be read).
    """
    with (
        sqlite_errors(path, error, "read the database"),
        closing(
            connect(path, error=error, readonly=True, wal=False, immutable=not _has_wal(path))
        ) as conn,
    ):
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return FileProbe(schema_version(conn), frozenset(str(t[0]) for t in tables))


def _has_wal(path: str | Path) -> bool:
    """Whether a ``-wal`` file sits next to ``path`` (changes may live only there)."""
    return Path(f"{path}-wal").exists()


def schema_version(conn: sqlite3.Connection) -> int:
    """``PRAGMA user_version``."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_version(
    found: int,
    target: int,
    path: object,
    *,
    error: type[FaceprintError] = StorageError,
    what: str = "database",
) -> None:
    """Refuse a file whose schema version ``found`` is newer than ``target`` (ours)."""
    if found > target:
        raise error(
            f"{path}: this {what} has schema version {found}, newer than this faceprint "
            f"understands ({target}); upgrade faceprint to open it",
            source=path,
        )


def migrate(
    conn: sqlite3.Connection,
    path: object,
    migrations: Sequence[Migration],
    *,
    error: type[FaceprintError] = StorageError,
    what: str = "database",
) -> int:
    """Bring the schema to ``len(migrations)`` step by step; returns the version found.

    ``migrations[v]`` upgrades version ``v`` to ``v + 1`` (a SQL script or a function of the
    cursor); version 0 is an empty file, so ``migrations[0]`` creates the first schema. Each step
    runs in its own transaction with the version bump, so a crash leaves a consistent version.

    Raises:
        error: the file was written by a newer faceprint (its version is above ours).
    """
    found = schema_version(conn)
    target = len(migrations)
    check_version(found, target, path, error=error, what=what)
    for version in range(found, target):
        step = migrations[version]
        with transaction(conn, path, error=error) as cur:
            if schema_version(conn) != version:  # another process migrated meanwhile
                continue
            if isinstance(step, str):
                for statement in step.strip().split(";\n"):
                    if statement.strip():
                        cur.execute(statement)
            else:
                step(cur)
            cur.execute(f"PRAGMA user_version = {version + 1}")
    return found
