"""The SQLite store's one connection, shared by its parts: the file, its schema, its lock and its transactions.

Each change is one transaction (`BEGIN IMMEDIATE`), so two processes sharing the file see each other's
writes whole; conditional changes (add-if-absent, claim-if-queued) are single statements. Deleted and
overwritten text is zeroed (`secure_delete`), and `forget_freed` empties the log after an erasure, so an
erased person's details are not left in the file's free space or in the log.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Database", "Part", "text"]

text = functools.partial(json.dumps, ensure_ascii=False)  # JSON as written: "Zoë", not "Zo\u00eb"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS mirror (
    list TEXT NOT NULL, item_id TEXT NOT NULL, etag TEXT, created TEXT NOT NULL, grp TEXT,
    fields TEXT NOT NULL, PRIMARY KEY (list, item_id));
CREATE INDEX IF NOT EXISTS mirror_group ON mirror (list, grp);
CREATE TABLE IF NOT EXISTS ledger (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, payload TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_kind_status ON ledger (kind, status);
CREATE TABLE IF NOT EXISTS outbox (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, payload TEXT NOT NULL,
    recipients INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, updated REAL NOT NULL,
    not_before REAL NOT NULL DEFAULT 0, sent_at REAL, error TEXT);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox (status, created);
CREATE INDEX IF NOT EXISTS outbox_sent ON outbox (sent_at);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS counters_expires ON counters (expires);
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, since REAL NOT NULL,
    expires REAL NOT NULL);
"""


class Database:
    """One SQLite file (WAL) and one connection to it, safe to share between threads of one process."""

    def __init__(self, path: str | Path, clock: Callable[[], float]) -> None:
        self.path = str(path)
        self.clock = clock  # every time the store records comes from here, so tests can move it
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.lock = threading.RLock()
        self._batching = 0  # how deep in `batch()` the thread holding the lock is
        self._wal()
        self.connection.execute("""PRAGMA synchronous=NORMAL""")
        self.connection.execute("""PRAGMA secure_delete=ON""")  # what is deleted or overwritten is zeroed, not kept
        self.connection.executescript(_SCHEMA)

    def _wal(self) -> None:
        """The file in WAL mode. While another process turns a new file to WAL, this one is answered "database
        is locked" at once (SQLite does not wait on that lock, whatever the timeout: waiting could deadlock), so
        it tries again, for as long as the connection would wait on any other lock (5 s)."""
        deadline = time.monotonic() + 5.0
        while True:
            try:
                self.connection.execute("""PRAGMA journal_mode=WAL""")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            if self._batching:  # inside `batch()`: part of its one transaction
                yield self.connection
                return
            self.connection.execute("""BEGIN IMMEDIATE""")
            try:
                yield self.connection
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            self.connection.execute("""COMMIT""")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Several writes as one transaction (one commit, not one each); they all happen or none does. Other
        processes wait for it, so callers keep it short: store work only, never a Graph call inside."""
        with self.transaction(), self.lock:
            self._batching += 1
            try:
                yield
            finally:
                self._batching -= 1

    def close(self) -> None:
        with self.lock:
            self.connection.close()

    def forget_freed(self) -> None:
        """After an erasure: copy the write-ahead log into the file and empty it, so no older copy of an erased row
        stays in the log (with `secure_delete`, freed space in the file is zeros already). A reader in another
        connection holds back only the part it still reads; the next checkpoint takes the rest."""
        with self.lock:
            self.connection.execute("""PRAGMA wal_checkpoint(TRUNCATE)""").fetchall()


class Part:
    """What each part of the store shares: the one connection (`_db`), its lock, its transactions (`_tx`, or the
    batch it is in) and the store's clock."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.clock = database.clock
        self._db = database.connection
        self._lock = database.lock
        self._tx = database.transaction
