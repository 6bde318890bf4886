"""The embedded state store: one SQLite file (WAL), for the CLI, the demo and the tests.

A store of parts, one per concern, each its own object sharing the one connection (database.py: the file, its
schema, its lock, its transactions): checkpoints.py, mirror.py, ledger.py, outbox.py, counters.py, leases.py.

SQL is written in triple quotes, which mutation testing leaves as it is: of its mutants of SQL text, two in
three were changes of letter case, which SQLite ignores. What each statement does is tested through the methods.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from coprod.store.sqlite.checkpoints import SqliteCheckpoints
from coprod.store.sqlite.counters import SqliteCounters
from coprod.store.sqlite.database import Database
from coprod.store.sqlite.leases import SqliteLeases
from coprod.store.sqlite.ledger import SqliteLedger
from coprod.store.sqlite.mirror import SqliteMirror
from coprod.store.sqlite.outbox import SqliteOutbox

__all__ = ["SqliteStore"]


class SqliteStore:
    """The embedded store: one SQLite file (WAL), safe to share between threads of one process."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.database = Database(path, clock)
        self.path, self.clock = self.database.path, clock  # (every time the store records comes from the clock)
        self.checkpoints = SqliteCheckpoints(self.database)
        self.mirror = SqliteMirror(self.database)
        self.ledger = SqliteLedger(self.database)
        self.outbox = SqliteOutbox(self.database)
        self.counters = SqliteCounters(self.database)
        self.leases = SqliteLeases(self.database)

    def batch(self) -> AbstractContextManager[None]:
        return self.database.batch()

    def close(self) -> None:
        self.database.close()

    def forget_freed(self) -> None:
        self.database.forget_freed()
