"""The state store: checkpoints (delta links), a mirror of list items, and the ledger.

- Checkpoints: a delta link per list, saved only after its changes are processed.
- Mirror: the last state we saw (or wrote) of each list item, with its eTag, so a
  run needs only the changes to decide what every session's places are.
- Ledger: idempotency keys with a status. A side effect (a message, a guest
  invitation) is recorded `due` before it happens and `done` after; a key is
  never recorded twice, so a rerun or a crash never repeats it.

`StateStore` is the interface; `SqliteStore` the embedded default. An Azure
Table Storage implementation fills the same interface in production.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = ["LedgerEntry", "MirrorItem", "SqliteStore", "StateStore", "open_store"]


@dataclass(frozen=True)
class MirrorItem:
    list_name: str
    item_id: str
    etag: str | None
    created: str  # ISO 8601, as Graph gave it
    fields: dict[str, Any]
    group: str | None = None  # the item's session id, for registrations


@dataclass(frozen=True)
class LedgerEntry:
    key: str
    kind: str
    status: str  # due, done, failed, ...
    payload: dict[str, Any]
    created: float
    updated: float


class StateStore(Protocol):
    def get_checkpoint(self, name: str) -> str | None: ...
    def set_checkpoint(self, name: str, value: str) -> None: ...

    def mirror_get(self, list_name: str, item_id: str) -> MirrorItem | None: ...
    def mirror_items(self, list_name: str, group: str | None = None) -> list[MirrorItem]: ...
    def mirror_put(self, items: Iterable[MirrorItem]) -> None: ...
    def mirror_delete(self, list_name: str, item_ids: Iterable[str]) -> None: ...
    def mirror_replace(self, list_name: str, items: Iterable[MirrorItem]) -> set[str]: ...

    def ledger_add(self, key: str, kind: str, payload: dict[str, Any], status: str = "due") -> bool: ...
    def ledger_get(self, key: str) -> LedgerEntry | None: ...
    def ledger_set(self, key: str, status: str, payload: dict[str, Any] | None = None) -> None: ...
    def ledger_list(self, kind: str | None = None, status: str | None = None) -> list[LedgerEntry]: ...

    def close(self) -> None: ...


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
"""


class SqliteStore:
    """The embedded store: one SQLite file (WAL), safe to share between threads of one process."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- checkpoints -------------------------------------------------------
    def get_checkpoint(self, name: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM checkpoints WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def set_checkpoint(self, name: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO checkpoints VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                       "value = excluded.value, updated = excluded.updated", (name, value, time.time()))

    # --- mirror ------------------------------------------------------------
    @staticmethod
    def _item(row: tuple[Any, ...]) -> MirrorItem:
        return MirrorItem(row[0], row[1], row[2], row[3], json.loads(row[5]), row[4])

    def mirror_get(self, list_name: str, item_id: str) -> MirrorItem | None:
        with self._lock:
            row = self._db.execute("SELECT list, item_id, etag, created, grp, fields FROM mirror WHERE list = ? AND "
                                   "item_id = ?", (list_name, item_id)).fetchone()
        return self._item(row) if row else None

    def mirror_items(self, list_name: str, group: str | None = None) -> list[MirrorItem]:
        query = "SELECT list, item_id, etag, created, grp, fields FROM mirror WHERE list = ?"
        args: tuple[Any, ...] = (list_name,)
        if group is not None:
            query += " AND grp = ?"
            args += (group,)
        with self._lock:
            return [self._item(row) for row in self._db.execute(query, args)]

    def mirror_put(self, items: Iterable[MirrorItem]) -> None:
        rows = [(i.list_name, i.item_id, i.etag, i.created, i.group, json.dumps(i.fields, ensure_ascii=False))
                for i in items]
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO mirror VALUES (?, ?, ?, ?, ?, ?)", rows)

    def mirror_delete(self, list_name: str, item_ids: Iterable[str]) -> None:
        with self._tx() as db:
            db.executemany("DELETE FROM mirror WHERE list = ? AND item_id = ?", [(list_name, i) for i in item_ids])

    def mirror_replace(self, list_name: str, items: Iterable[MirrorItem]) -> set[str]:
        """Make the mirror of a list exactly `items`; returns the ids that were dropped."""
        items = list(items)
        keep = {i.item_id for i in items}
        with self._lock:
            known = {row[0] for row in self._db.execute("SELECT item_id FROM mirror WHERE list = ?", (list_name,))}
        dropped = known - keep
        self.mirror_delete(list_name, dropped)
        self.mirror_put(items)
        return dropped

    # --- ledger ------------------------------------------------------------
    def ledger_add(self, key: str, kind: str, payload: dict[str, Any], status: str = "due") -> bool:
        """Record a key once; False if it was already there (then nothing changes)."""
        now = time.time()
        with self._tx() as db:
            cursor = db.execute("INSERT OR IGNORE INTO ledger VALUES (?, ?, ?, ?, ?, ?)",
                                (key, kind, status, json.dumps(payload, ensure_ascii=False), now, now))
            return cursor.rowcount == 1

    def ledger_get(self, key: str) -> LedgerEntry | None:
        with self._lock:
            row = self._db.execute("SELECT key, kind, status, payload, created, updated FROM ledger WHERE key = ?",
                                   (key,)).fetchone()
        return LedgerEntry(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5]) if row else None

    def ledger_set(self, key: str, status: str, payload: dict[str, Any] | None = None) -> None:
        with self._tx() as db:
            if payload is None:
                db.execute("UPDATE ledger SET status = ?, updated = ? WHERE key = ?", (status, time.time(), key))
            else:
                db.execute("UPDATE ledger SET status = ?, payload = ?, updated = ? WHERE key = ?",
                           (status, json.dumps(payload, ensure_ascii=False), time.time(), key))

    def ledger_list(self, kind: str | None = None, status: str | None = None) -> list[LedgerEntry]:
        query, args = "SELECT key, kind, status, payload, created, updated FROM ledger WHERE 1 = 1", []
        if kind is not None:
            query += " AND kind = ?"
            args.append(kind)
        if status is not None:
            query += " AND status = ?"
            args.append(status)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created, key", args).fetchall()
        return [LedgerEntry(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]


def open_store(url: str) -> StateStore:
    """A store from `COPROD_STATE`: `sqlite:///path` (relative) or `sqlite:////abs/path`."""
    if url.startswith("sqlite:///"):
        return SqliteStore(url[len("sqlite:///"):] or ":memory:")
    if "AccountName=" in url or "UseDevelopmentStorage=true" in url:
        raise NotImplementedError("COPROD_STATE: the Azure Table Storage store is not built yet; use sqlite:///path")
    raise ValueError("COPROD_STATE: expected sqlite:///path or an Azure Storage connection string")
