"""The SQLite store's outbox: one row an email in the `outbox` table, its payload as JSON."""

from __future__ import annotations

import json
from typing import Any

from coprod.store._base import OutboxEntry
from coprod.store.sqlite.database import Part, text

__all__ = ["SqliteOutbox"]


class SqliteOutbox(Part):
    _OUTBOX = """SELECT key, kind, status, payload, recipients, attempts, created, updated, not_before, sent_at,
                 error FROM outbox"""

    @staticmethod
    def _outbox(row: tuple[Any, ...]) -> OutboxEntry:
        return OutboxEntry(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6], row[7], row[8],
                           row[9], row[10])

    def add(self, key: str, kind: str, payload: dict[str, Any], recipients: int) -> bool:
        """Queue a message once; False if its key was queued before (then nothing changes)."""
        now = self.clock()
        with self._tx() as db:
            cursor = db.execute("""INSERT OR IGNORE INTO outbox (key, kind, status, payload, recipients, created,
                                   updated) VALUES (?, ?, 'queued', ?, ?, ?, ?)""",
                                (key, kind, text(payload), recipients, now, now))
            return cursor.rowcount == 1

    def get(self, key: str) -> OutboxEntry | None:
        with self._lock:
            row = self._db.execute(self._OUTBOX + """ WHERE key = ?""", (key,)).fetchone()
        return self._outbox(row) if row else None

    def sent_since(self, since: float) -> tuple[int, int]:
        """(messages, recipients) sent at or after `since`: what the mailbox's limits count."""
        with self._lock:
            row = self._db.execute("""SELECT COUNT(*), COALESCE(SUM(recipients), 0) FROM outbox WHERE sent_at >= ?""",
                                   (since,)).fetchone()
        return int(row[0]), int(row[1])

    def send_times(self, since: float) -> list[float]:  # (before `list` below, which would be this `list`)
        """When each message sent at or after `since` went, oldest first; one whose answer was lost counts too."""
        with self._lock:
            rows = self._db.execute("""SELECT COALESCE(sent_at, updated) AS at FROM outbox WHERE sent_at >= ?
                                       OR (status = 'sending' AND updated >= ?) ORDER BY at""", (since, since))
            return [row[0] for row in rows]

    def list(self, status: str, *, ready_by: float | None = None, updated_before: float | None = None,
             limit: int = 1000) -> list[OutboxEntry]:
        """Entries in `status`, oldest first; `ready_by`: only those whose not_before has come."""
        query, args = self._OUTBOX + """ WHERE status = ?""", [status]  # type: tuple[str, list[Any]]
        if ready_by is not None:
            query += """ AND not_before <= ?"""
            args.append(ready_by)
        if updated_before is not None:
            query += """ AND updated < ?"""
            args.append(updated_before)
        with self._lock:
            rows = self._db.execute(query + """ ORDER BY created, key LIMIT ?""", [*args, limit]).fetchall()
        return [self._outbox(row) for row in rows]

    def claim(self, key: str) -> OutboxEntry | None:
        """`queued -> sending` (one more attempt), only if it is still queued: the entry as claimed, else None."""
        with self._tx() as db:
            row = db.execute("""UPDATE outbox SET status = 'sending', attempts = attempts + 1, updated = ?
                                WHERE key = ? AND status = 'queued' RETURNING key, kind, status, payload, recipients,
                                attempts, created, updated, not_before, sent_at, error""",
                             (self.clock(), key)).fetchone()
        return self._outbox(row) if row else None

    def set(self, key: str, status: str, *, error: str | None = None, not_before: float | None = None,
            sent_at: float | None = None, attempts: int | None = None, expect: str | None = None) -> bool:
        """Change an entry; with `expect`, only if its status is that now. True if it changed."""
        sets: list[str] = ["""status = ?""", """updated = ?"""]
        args: list[Any] = [status, self.clock()]
        for column, value in (("""error""", error), ("""not_before""", not_before), ("""sent_at""", sent_at),
                              ("""attempts""", attempts)):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        where, args_where = """key = ?""", [key]
        if expect is not None:
            where += """ AND status = ?"""
            args_where.append(expect)
        with self._tx() as db:
            cursor = db.execute(f"UPDATE outbox SET {', '.join(sets)} WHERE {where}",  # noqa: S608 - fixed names
                                [*args, *args_where])
            return cursor.rowcount == 1

    def tally(self, key_prefix: str) -> dict[str, int]:
        """How many messages whose key starts with `key_prefix` are in each status (a campaign's progress)."""
        with self._lock:
            rows = self._db.execute("""SELECT status, COUNT(*) FROM outbox WHERE substr(key, 1, ?) = ?
                                       GROUP BY status""", (len(key_prefix), key_prefix))
            return {status: n for status, n in rows}

    def cancel(self, key_prefix: str, key_suffix: str) -> int:
        """Withdraw queued messages whose key starts and ends so (someone's updates, when they unsubscribe)."""
        with self._tx() as db:
            cursor = db.execute("""UPDATE outbox SET status = 'cancelled', updated = ? WHERE status = 'queued'
                                   AND substr(key, 1, ?) = ? AND substr(key, -?) = ?""",
                                (self.clock(), len(key_prefix), key_prefix, len(key_suffix), key_suffix))
            return cursor.rowcount

    def scrub(self, key: str, *, cancel: bool) -> bool:
        with self._tx() as db:
            cursor = db.execute("""UPDATE outbox SET payload = '{}', updated = ?, status = CASE WHEN ? AND status IN
                                   ('queued', 'sending') THEN 'cancelled' ELSE status END WHERE key = ?""",
                                (self.clock(), cancel, key))
            return cursor.rowcount == 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("""SELECT status, COUNT(*) FROM outbox GROUP BY status""")
            return {status: n for status, n in rows}
