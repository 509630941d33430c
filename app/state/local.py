"""The one-host backend: an SQLite database in the server's run directory.

Every gunicorn worker of the host opens the same file (WAL journal, so readers never wait
for a writer), which makes it what the run directory's files were before: state shared by
the workers of one server, gone when the server stops. Each statement is a few tens of
microseconds; gevent cannot switch inside one, so a connection per process serves all its
greenlets, and no transaction spans a switch.

Bounded: expired rows are pruned as writes go by, and a space holding more than
MAX_ROWS_PER_SPACE values (or its own bound, see Store.bound) loses its least recently
written ones.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from .base import Store, check_name, decode, encode

FILE_NAME = "state.sqlite3"
MAX_ROWS_PER_SPACE = 100_000
PRUNE_EVERY = 500  # writes between two prunes of expired rows
BUSY_TIMEOUT_MS = 2000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    space TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires REAL, written REAL NOT NULL,
    PRIMARY KEY (space, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_written ON kv (space, written);
CREATE TABLE IF NOT EXISTS map (
    space TEXT NOT NULL, key TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (space, key, field)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counter (
    space TEXT NOT NULL, key TEXT NOT NULL, field TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (space, key, field)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lock (name TEXT PRIMARY KEY, token TEXT NOT NULL, expires REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal (
    kind TEXT NOT NULL, space TEXT NOT NULL, key TEXT NOT NULL, field TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (kind, space, key, field)) WITHOUT ROWID;
"""


class LocalStore(Store):
    backend = "local"

    def __init__(self, directory: str | os.PathLike, clock=time.time):
        self.path = Path(directory) / FILE_NAME
        self._clock = clock
        self._db: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._writes = 0
        self._bounded_puts: dict[str, int] = {}

    # -- connection ---------------------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        # One connection per process: a forked worker never uses its parent's.
        if self._db is None or self._pid != os.getpid():
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode=WAL")
            # The run directory dies with the server: durability across a power cut buys nothing.
            db.execute("PRAGMA synchronous=OFF")
            db.executescript(_SCHEMA)
            try:
                os.chmod(self.path, 0o600)
            except OSError:
                pass
            self._db, self._pid = db, os.getpid()
        return self._db

    def _wrote(self) -> None:
        self._writes += 1
        if self._writes % PRUNE_EVERY == 0:
            self.prune()

    def prune(self) -> None:
        db = self.db
        db.execute("DELETE FROM kv WHERE expires IS NOT NULL AND expires <= ?", (self._clock(),))
        db.execute("DELETE FROM lock WHERE expires <= ?", (self._clock(),))
        for (space,) in db.execute("SELECT space FROM kv GROUP BY space HAVING count(*) > ?", (MAX_ROWS_PER_SPACE,)):
            db.execute(
                "DELETE FROM kv WHERE space = ? AND key IN (SELECT key FROM kv WHERE space = ? "
                "ORDER BY written DESC LIMIT -1 OFFSET ?)",
                (space, space, MAX_ROWS_PER_SPACE),
            )

    def _trim(self, space: str, limit: int) -> None:
        """Every few puts into a bounded space, drop its least recently written values beyond the bound."""
        puts = self._bounded_puts[space] = self._bounded_puts.get(space, 0) + 1
        if puts % max(1, min(100, limit // 20)):
            return
        self.db.execute(
            "DELETE FROM kv WHERE space = ? AND key IN (SELECT key FROM kv WHERE space = ? "
            "ORDER BY written DESC LIMIT -1 OFFSET ?)",
            (space, space, limit),
        )

    def _expiry(self, ttl: float | None) -> float | None:
        return None if ttl is None else self._clock() + max(0.0, ttl)

    # -- values -------------------------------------------------------------------------------
    def get(self, space: str, key: str) -> Any:
        row = self.db.execute(
            "SELECT value FROM kv WHERE space = ? AND key = ? AND (expires IS NULL OR expires > ?)",
            (space, key, self._clock()),
        ).fetchone()
        return decode(row[0]) if row else None

    def get_many(self, space: str, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        rows = self.db.execute(
            f"SELECT key, value FROM kv WHERE space = ? AND key IN ({marks}) AND (expires IS NULL OR expires > ?)",
            (space, *keys, self._clock()),
        )
        return {key: decode(value) for key, value in rows}

    def entry(self, space: str, key: str) -> tuple[Any, float | None] | None:
        """(value, seconds left or None) of a live value: what a replay to Redis needs."""
        now = self._clock()
        row = self.db.execute(
            "SELECT value, expires FROM kv WHERE space = ? AND key = ? AND (expires IS NULL OR expires > ?)",
            (space, key, now),
        ).fetchone()
        if row is None:
            return None
        return decode(row[0]), (None if row[1] is None else row[1] - now)

    def put(self, space: str, key: str, value: Any, ttl: float | None = None) -> None:
        check_name(space, key)
        self.db.execute(
            "INSERT OR REPLACE INTO kv (space, key, value, expires, written) VALUES (?, ?, ?, ?, ?)",
            (space, key, encode(value), self._expiry(ttl), self._clock()),
        )
        self._wrote()
        limit = self.limit_of(space)
        if limit is not None:
            self._trim(space, limit)

    def put_many(self, space: str, values: dict[str, Any], ttl: float | None = None) -> None:
        # One transaction: one commit for the lot instead of one per key.
        if not values:
            return
        for key in values:
            check_name(space, key)
        db = self.db
        expires, now = self._expiry(ttl), self._clock()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR REPLACE INTO kv (space, key, value, expires, written) VALUES (?, ?, ?, ?, ?)",
                [(space, key, encode(value), expires, now) for key, value in values.items()],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        limit = self.limit_of(space)
        for _ in values:
            self._wrote()
            if limit is not None:
                self._trim(space, limit)

    def put_new(self, space: str, key: str, value: Any, ttl: float | None = None) -> bool:
        check_name(space, key)
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "DELETE FROM kv WHERE space = ? AND key = ? AND expires IS NOT NULL AND expires <= ?",
                (space, key, self._clock()),
            )
            stored = db.execute(
                "INSERT OR IGNORE INTO kv (space, key, value, expires, written) VALUES (?, ?, ?, ?, ?)",
                (space, key, encode(value), self._expiry(ttl), self._clock()),
            ).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._wrote()
        return stored == 1

    def exchange(self, space: str, key: str, value: Any, ttl: float | None = None) -> Any:
        check_name(space, key)
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            old = self.get(space, key)
            db.execute(
                "INSERT OR REPLACE INTO kv (space, key, value, expires, written) VALUES (?, ?, ?, ?, ?)",
                (space, key, encode(value), self._expiry(ttl), self._clock()),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._wrote()
        return old

    def delete(self, space: str, key: str) -> None:
        self.db.execute("DELETE FROM kv WHERE space = ? AND key = ?", (space, key))

    # -- maps ---------------------------------------------------------------------------------
    def map_get(self, space: str, key: str) -> dict[str, Any]:
        rows = self.db.execute("SELECT field, value FROM map WHERE space = ? AND key = ?", (space, key))
        return {field: decode(value) for field, value in rows}

    def map_set(self, space: str, key: str, field: str, value: Any) -> None:
        check_name(space, key, field)
        self.db.execute(
            "INSERT OR REPLACE INTO map (space, key, field, value) VALUES (?, ?, ?, ?)",
            (space, key, field, encode(value)),
        )

    def map_delete(self, space: str, key: str, field: str | None = None) -> None:
        if field is None:
            self.db.execute("DELETE FROM map WHERE space = ? AND key = ?", (space, key))
        else:
            self.db.execute("DELETE FROM map WHERE space = ? AND key = ? AND field = ?", (space, key, field))

    # -- counters -----------------------------------------------------------------------------
    def incr(self, space: str, key: str, field: str, amount: int = 1) -> int:
        check_name(space, key, field)
        row = self.db.execute(
            "INSERT INTO counter (space, key, field, n) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (space, key, field) DO UPDATE SET n = n + excluded.n RETURNING n",
            (space, key, field, int(amount)),
        ).fetchone()
        return int(row[0])

    def counts(self, space: str, key: str) -> dict[str, int]:
        rows = self.db.execute("SELECT field, n FROM counter WHERE space = ? AND key = ?", (space, key))
        return {field: int(n) for field, n in rows}

    # -- locks --------------------------------------------------------------------------------
    def try_lock(self, name: str, ttl: float) -> str | None:
        check_name(name)
        token = secrets.token_hex(8)
        now = self._clock()
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM lock WHERE name = ? AND expires <= ?", (name, now))
            taken = db.execute(
                "INSERT OR IGNORE INTO lock (name, token, expires) VALUES (?, ?, ?)", (name, token, now + ttl)
            ).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return token if taken == 1 else None

    def unlock(self, name: str, token: str) -> None:
        self.db.execute("DELETE FROM lock WHERE name = ? AND token = ?", (name, token))

    # -- the journal of writes made while Redis was away (see failover.py) --------------------
    def journal(self, kind: str, space: str, key: str, field: str = "", amount: int = 0) -> None:
        self.db.execute(
            "INSERT INTO journal (kind, space, key, field, n) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, space, key, field) DO UPDATE SET n = n + excluded.n",
            (kind, space, key, field, int(amount)),
        )

    def take_journal(self) -> list[tuple[str, str, str, str, int]]:
        """Every journal entry, removed in the same transaction (each is replayed once)."""
        return [tuple(row) for row in self.db.execute("DELETE FROM journal RETURNING kind, space, key, field, n")]

    def close(self) -> None:
        if self._db is not None and self._pid == os.getpid():
            self._db.close()
        self._db = None
