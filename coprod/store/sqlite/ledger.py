"""The SQLite store's ledger: one row a key in the `ledger` table, its payload as JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from coprod.store._base import LedgerEntry
from coprod.store.sqlite.database import Part, text

__all__ = ["SqliteLedger"]


class SqliteLedger(Part):
    def add(self, key: str, kind: str, payload: dict[str, Any], status: str = "due") -> bool:
        """Record a key once; False if it was already there (then nothing changes)."""
        now = self.clock()
        with self._tx() as db:
            cursor = db.execute("""INSERT OR IGNORE INTO ledger VALUES (?, ?, ?, ?, ?, ?)""",
                                (key, kind, status, text(payload), now, now))
            return cursor.rowcount == 1

    def add_many(self, entries: Iterable[tuple[str, str, dict[str, Any], str]]) -> set[str]:
        now, added = self.clock(), set()
        with self._tx() as db:
            for n, (key, kind, payload, status) in enumerate(entries):
                at = now + n * 1e-6  # in the order given: `list` lists oldest first
                if db.execute("""INSERT OR IGNORE INTO ledger VALUES (?, ?, ?, ?, ?, ?)""",
                              (key, kind, status, text(payload), at, at)).rowcount == 1:
                    added.add(key)
        return added

    def get(self, key: str) -> LedgerEntry | None:
        with self._lock:
            row = self._db.execute("""SELECT key, kind, status, payload, created, updated FROM ledger WHERE key = ?""",
                                   (key,)).fetchone()
        return LedgerEntry(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5]) if row else None

    def set(self, key: str, status: str, payload: dict[str, Any] | None = None) -> None:
        with self._tx() as db:
            if payload is None:
                db.execute("""UPDATE ledger SET status = ?, updated = ? WHERE key = ?""", (status, self.clock(), key))
            else:
                db.execute("""UPDATE ledger SET status = ?, payload = ?, updated = ? WHERE key = ?""",
                           (status, text(payload), self.clock(), key))

    def put(self, key: str, kind: str, status: str, payload: dict[str, Any]) -> None:
        """Record a key with this status and payload, whether or not it was recorded before."""
        now = self.clock()
        with self._tx() as db:
            db.execute("""INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET
                          status = excluded.status, payload = excluded.payload, updated = excluded.updated""",
                       (key, kind, status, text(payload), now, now))

    def swap(self, key: str, expect: LedgerEntry, status: str, payload: dict[str, Any]) -> bool:
        """Change an entry only if it is still as `expect` saw it (same status, same last update): True if so.
        Two runners taking over the same stale entry: one wins."""
        with self._tx() as db:
            cursor = db.execute("""UPDATE ledger SET status = ?, payload = ?, updated = ? WHERE key = ? AND status = ?
                                   AND updated = ?""", (status, text(payload), self.clock(),
                                                        key, expect.status, expect.updated))
            return cursor.rowcount == 1

    def delete(self, key: str) -> None:
        with self._tx() as db:
            db.execute("""DELETE FROM ledger WHERE key = ?""", (key,))

    def scrub(self, key: str, status: str, payload: dict[str, Any]) -> None:
        self.set(key, status, payload)  # one column: the old payload is gone with the update

    def list(self, kind: str | None = None, status: str | None = None) -> list[LedgerEntry]:
        query, args = """SELECT key, kind, status, payload, created, updated FROM ledger WHERE 1 = 1""", []
        if kind is not None:
            query += """ AND kind = ?"""
            args.append(kind)
        if status is not None:
            query += """ AND status = ?"""
            args.append(status)
        with self._lock:
            rows = self._db.execute(query + """ ORDER BY created, key""", args).fetchall()
        return [LedgerEntry(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]
