"""The SQLite store's leases: one row a lease in the `leases` table, taken and renewed in one transaction."""

from __future__ import annotations

from coprod.store._base import Lease
from coprod.store.sqlite.database import Part

__all__ = ["SqliteLeases"]


class SqliteLeases(Part):
    def acquire(self, name: str, holder: str, seconds: float) -> bool:
        """Take the lease (free, expired, or ours already: renewed) until now + `seconds`; False if another holds it."""
        now = self.clock()
        with self._tx() as db:
            row = db.execute("""SELECT holder, since, expires FROM leases WHERE name = ?""", (name,)).fetchone()
            if row is not None and row[0] != holder and row[2] > now:
                return False
            since = row[1] if row is not None and row[0] == holder and row[2] > now else now
            db.execute("""INSERT INTO leases VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET
                          holder = excluded.holder, since = excluded.since, expires = excluded.expires""",
                       (name, holder, since, now + seconds))
            return True

    def release(self, name: str, holder: str) -> None:
        with self._tx() as db:
            db.execute("""DELETE FROM leases WHERE name = ? AND holder = ?""", (name, holder))

    def get(self, name: str) -> Lease | None:
        with self._lock:
            row = self._db.execute("""SELECT holder, since, expires FROM leases WHERE name = ?""", (name,)).fetchone()
        return Lease(name, row[0], row[1], row[2]) if row is not None and row[2] > self.clock() else None
