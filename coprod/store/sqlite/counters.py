"""The SQLite store's counters: one row a counter in the `counters` table, the expired ones cleared as it counts."""

from __future__ import annotations

from coprod.store.sqlite.database import Part

__all__ = ["SqliteCounters"]


class SqliteCounters(Part):
    def add(self, name: str, expires: float, by: int = 1) -> int:
        """Add `by` to the counter `name` (a new one, if it was absent or has expired, lasts until `expires`);
        returns its value now. A negative `by` gives back what was counted, never below 0."""
        now = self.clock()
        with self._tx() as db:
            db.execute("""DELETE FROM counters WHERE expires <= ?""", (now,))
            row = db.execute("""INSERT INTO counters VALUES (?, MAX(?, 0), ?) ON CONFLICT(name) DO UPDATE SET
                                value = MAX(value + ?, 0) RETURNING value""", (name, by, expires, by)).fetchone()
        return int(row[0])
