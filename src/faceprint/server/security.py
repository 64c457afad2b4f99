"""API keys, roles, rate and concurrency limits.

Keys live in ``GALLERY/keys.sqlite`` (opened with :mod:`faceprint._sqlite`); only the SHA-256 of
each key is stored. A key is ``fp_`` followed by 43 URL-safe characters (32 random bytes), shown
once by ``faceprint keys add``. Requests present it as ``Authorization: Bearer <key>``, never in a
URL; it is compared in constant time against every stored hash. Roles: ``read`` (analysis and
look-ups) and ``admin`` (everything, including changes). No key exists until an operator adds one.

Rate limiting is a token bucket per key (per client address when no keys are configured) with a
per-key cap on requests in progress; both answer 429 with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from faceprint._sqlite import connect, migrate, sqlite_errors, transaction
from faceprint.errors import InvalidArgumentError, StorageError
from faceprint.gallery.store import utc_now

__all__ = [
    "KEYS_DB",
    "ROLES",
    "ApiKey",
    "KeyStore",
    "RateLimiter",
    "Role",
    "hash_key",
    "new_key",
]

KEYS_DB = "keys.sqlite"
PREFIX = "fp_"
Role = Literal["read", "admin"]
ROLES: tuple[Role, ...] = ("read", "admin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
#: how long the in-memory copy of the key table is trusted (seconds): a revoked key stops
#: working within this time in a running server
CACHE_SECONDS = 1.0

MIGRATIONS = [
    """
    CREATE TABLE api_keys (
        name TEXT PRIMARY KEY,
        key_sha256 TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('read', 'admin')),
        created_at TEXT NOT NULL
    )
    """
]


@dataclass(frozen=True)
class ApiKey:
    """A stored key (without the secret): its name, role and creation time (ISO-8601 UTC)."""

    name: str
    role: Role
    created_at: str


def new_key() -> str:
    """A fresh random key (32 bytes of entropy)."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """Hex SHA-256 of a key (a key is random, so no salt or slow hash is needed)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    """The API keys of one gallery directory (thread-safe)."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / KEYS_DB
        self._lock = threading.Lock()
        self._cache: tuple[float, list[tuple[str, str, Role]]] | None = None

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = connect(self.path, error=StorageError)
        try:
            migrate(conn, self.path, MIGRATIONS, error=StorageError, what="key store")
            yield conn
        finally:
            conn.close()

    def add(self, name: str, role: Role) -> str:
        """Create key ``name`` with ``role``; returns the key (the only time it is known)."""
        if not _NAME.match(name):
            raise InvalidArgumentError(
                f"key name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-'"
            )
        if role not in ROLES:
            raise InvalidArgumentError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        key = new_key()
        with self._conn() as conn, transaction(conn, self.path) as cur:
            if cur.execute("SELECT 1 FROM api_keys WHERE name = ?", (name,)).fetchone():
                raise InvalidArgumentError(f"a key named {name!r} exists already; revoke it first")
            cur.execute(
                "INSERT INTO api_keys(name, key_sha256, role, created_at) VALUES (?,?,?,?)",
                (name, hash_key(key), role, utc_now()),
            )
        self._cache = None
        return key

    def revoke(self, name: str) -> None:
        """Delete key ``name``."""
        with self._conn() as conn, transaction(conn, self.path) as cur:
            if cur.execute("DELETE FROM api_keys WHERE name = ?", (name,)).rowcount == 0:
                raise InvalidArgumentError(f"no key named {name!r}")
        self._cache = None

    def keys(self) -> list[ApiKey]:
        """Every key, by name."""
        if not self.path.is_file():
            return []
        with self._conn() as conn, sqlite_errors(self.path):
            rows = conn.execute("SELECT name, role, created_at FROM api_keys ORDER BY name")
            return [ApiKey(r[0], r[1], r[2]) for r in rows]

    def _rows(self, max_age: float = CACHE_SECONDS) -> list[tuple[str, str, Role]]:
        now = time.monotonic()
        with self._lock:
            if self._cache is not None and now - self._cache[0] < max_age:
                return self._cache[1]
            rows: list[tuple[str, str, Role]] = []
            if self.path.is_file():
                with self._conn() as conn, sqlite_errors(self.path):
                    found = conn.execute("SELECT name, key_sha256, role FROM api_keys")
                    rows = [(r[0], r[1], r[2]) for r in found]
            self._cache = (now, rows)
            return rows

    def configured(self) -> bool:
        """Whether at least one key exists."""
        return bool(self._rows())

    def authenticate(self, key: str) -> ApiKey | None:
        """The key's record when ``key`` is valid (every stored hash is compared in constant
        time, so timing tells nothing about which one matched), else ``None``."""
        digest = hash_key(key)
        found = _match(digest, self._rows())
        if found is None:  # a key added a moment ago: look again (at most every 0.1 s)
            found = _match(digest, self._rows(max_age=0.1))
        return found


def _match(digest: str, rows: list[tuple[str, str, Role]]) -> ApiKey | None:
    found: ApiKey | None = None
    for name, stored, role in rows:
        if hmac.compare_digest(digest, stored):
            found = ApiKey(name, role, "")
    return found


class RateLimiter:
    """Token bucket (``rate`` per second, ``burst`` deep) and a cap on requests in progress,
    per client (key name or address). Thread-safe; clients idle for a minute are forgotten."""

    def __init__(self, rate: float, burst: int, concurrent: int) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self.concurrent = int(concurrent)
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._active: dict[str, int] = {}

    def acquire(self, client: str) -> float:
        """Take one token and one in-progress slot; returns 0, or the seconds to wait
        (nothing taken) when the client is over a limit."""
        now = time.monotonic()
        with self._lock:
            self._forget_idle(now)
            tokens, last = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if self._active.get(client, 0) >= self.concurrent:
                self._buckets[client] = (tokens, now)
                return 1.0
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                return max(1.0, math.ceil((1.0 - tokens) / self.rate))
            self._buckets[client] = (tokens - 1.0, now)
            self._active[client] = self._active.get(client, 0) + 1
            return 0.0

    def release(self, client: str) -> None:
        """Give back the in-progress slot taken by :meth:`acquire`."""
        with self._lock:
            left = self._active.get(client, 1) - 1
            if left > 0:
                self._active[client] = left
            else:
                self._active.pop(client, None)

    def _forget_idle(self, now: float) -> None:
        if len(self._buckets) < 1024:
            return
        for client, (_tokens, last) in list(self._buckets.items()):
            if now - last > 60 and client not in self._active:
                del self._buckets[client]
