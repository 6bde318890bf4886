"""The SQLite store's checkpoints: one row a name in the `checkpoints` table."""

from __future__ import annotations

from coprod.store.sqlite.database import Part

__all__ = ["SqliteCheckpoints"]


class SqliteCheckpoints(Part):
    def get(self, name: str) -> str | None:
        with self._lock:
            row = self._db.execute("""SELECT value FROM checkpoints WHERE name = ?""", (name,)).fetchone()
        return row[0] if row else None

    def set(self, name: str, value: str) -> None:
        with self._tx() as db:
            db.execute("""INSERT INTO checkpoints VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET
                          value = excluded.value, updated = excluded.updated""", (name, value, self.clock()))
