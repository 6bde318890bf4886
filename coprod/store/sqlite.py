"""The embedded state store: one SQLite file (WAL), for the CLI, the demo and the tests.

Each change is one transaction (`BEGIN IMMEDIATE`), so two processes sharing the file see each other's
writes whole; conditional changes (add-if-absent, claim-if-queued) are single statements. Deleted and
overwritten text is zeroed (`secure_delete`), and `forget_freed` empties the log after an erasure, so an
erased person's details are not left in the file's free space or in the log.

SQL is written in triple quotes, which mutation testing leaves as it is: of its mutants of SQL text, two in
three were changes of letter case, which SQLite ignores. What each statement does is tested through the methods.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from coprod.store._base import Lease, LedgerEntry, MirrorItem, OutboxEntry

__all__ = ["SqliteStore"]

_text = functools.partial(json.dumps, ensure_ascii=False)  # JSON as written: "Zoë", not "Zo\u00eb"

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


class SqliteStore:
    """The embedded store: one SQLite file (WAL), safe to share between threads of one process."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self.clock = clock  # every time the store records comes from here, so tests can move it
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._batching = 0  # how deep in `batch()` the thread holding the lock is
        self._wal()
        self._db.execute("""PRAGMA synchronous=NORMAL""")
        self._db.execute("""PRAGMA secure_delete=ON""")  # what is deleted or overwritten is zeroed, not kept
        self._db.executescript(_SCHEMA)

    def _wal(self) -> None:
        """The file in WAL mode. While another process turns a new file to WAL, this one is answered "database
        is locked" at once (SQLite does not wait on that lock, whatever the timeout: waiting could deadlock), so
        it tries again, for as long as the connection would wait on any other lock (5 s)."""
        deadline = time.monotonic() + 5.0
        while True:
            try:
                self._db.execute("""PRAGMA journal_mode=WAL""")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._batching:  # inside `batch()`: part of its one transaction
                yield self._db
                return
            self._db.execute("""BEGIN IMMEDIATE""")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("""COMMIT""")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Several writes as one transaction (one commit, not one each); they all happen or none does. Other
        processes wait for it, so callers keep it short: store work only, never a Graph call inside."""
        with self._tx(), self._lock:
            self._batching += 1
            try:
                yield
            finally:
                self._batching -= 1

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def forget_freed(self) -> None:
        """After an erasure: copy the write-ahead log into the file and empty it, so no older copy of an erased row
        stays in the log (with `secure_delete`, freed space in the file is zeros already). A reader in another
        connection holds back only the part it still reads; the next checkpoint takes the rest."""
        with self._lock:
            self._db.execute("""PRAGMA wal_checkpoint(TRUNCATE)""").fetchall()

    # --- checkpoints -------------------------------------------------------
    def get_checkpoint(self, name: str) -> str | None:
        with self._lock:
            row = self._db.execute("""SELECT value FROM checkpoints WHERE name = ?""", (name,)).fetchone()
        return row[0] if row else None

    def set_checkpoint(self, name: str, value: str) -> None:
        with self._tx() as db:
            db.execute("""INSERT INTO checkpoints VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET
                          value = excluded.value, updated = excluded.updated""", (name, value, self.clock()))

    # --- mirror ------------------------------------------------------------
    @staticmethod
    def _item(row: tuple[Any, ...]) -> MirrorItem:
        return MirrorItem(row[0], row[1], row[2], row[3], json.loads(row[5]), row[4])

    def mirror_get(self, list_name: str, item_id: str) -> MirrorItem | None:
        with self._lock:
            row = self._db.execute("""SELECT list, item_id, etag, created, grp, fields FROM mirror WHERE list = ? AND
                                      item_id = ?""", (list_name, item_id)).fetchone()
        return self._item(row) if row else None

    def mirror_many(self, list_name: str, item_ids: Iterable[str]) -> dict[str, MirrorItem]:
        return {row[1]: self._item(row) for row in self._by_ids("""list, item_id, etag, created, grp, fields""",
                                                                list_name, item_ids)}

    def mirror_etags(self, list_name: str, item_ids: Iterable[str]) -> dict[str, str | None]:
        return {row[0]: row[1] for row in self._by_ids("""item_id, etag""", list_name, item_ids)}

    def mirror_groups(self, list_name: str) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("""SELECT DISTINCT grp FROM mirror WHERE list = ? AND grp IS NOT
                                                          NULL""", (list_name,))}

    def _by_ids(self, columns: str, list_name: str, item_ids: Iterable[str]) -> list[tuple[Any, ...]]:
        ids, rows = list(dict.fromkeys(item_ids)), []
        with self._lock:
            for start in range(0, len(ids), 500):  # SQLite allows 999 parameters a statement
                chunk = ids[start:start + 500]
                marks = ", ".join("?" * len(chunk))  # placeholders only: the ids are parameters
                query = f"SELECT {columns} FROM mirror WHERE list = ? AND item_id IN ({marks})"  # noqa: S608
                rows += self._db.execute(query, (list_name, *chunk)).fetchall()
        return rows

    def mirror_items(self, list_name: str, group: str | None = None) -> list[MirrorItem]:
        query = """SELECT list, item_id, etag, created, grp, fields FROM mirror WHERE list = ?"""
        args: tuple[Any, ...] = (list_name,)
        if group is not None:
            query += """ AND grp = ?"""
            args += (group,)
        with self._lock:
            return [self._item(row) for row in self._db.execute(query, args)]

    def mirror_put(self, items: Iterable[MirrorItem]) -> None:
        rows = ((i.list_name, i.item_id, i.etag, i.created, i.group, _text(i.fields))
                for i in items)  # (one row at a time: a run's whole list is not held twice)
        with self._tx() as db:
            db.executemany("""INSERT OR REPLACE INTO mirror VALUES (?, ?, ?, ?, ?, ?)""", rows)

    def mirror_delete(self, list_name: str, item_ids: Iterable[str]) -> None:
        with self._tx() as db:
            db.executemany("""DELETE FROM mirror WHERE list = ? AND item_id = ?""", [(list_name, i) for i in item_ids])

    def mirror_ids(self, list_name: str) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("""SELECT item_id FROM mirror WHERE list = ?""", (list_name,))}

    # --- ledger ------------------------------------------------------------
    def ledger_add(self, key: str, kind: str, payload: dict[str, Any], status: str = "due") -> bool:
        """Record a key once; False if it was already there (then nothing changes)."""
        now = self.clock()
        with self._tx() as db:
            cursor = db.execute("""INSERT OR IGNORE INTO ledger VALUES (?, ?, ?, ?, ?, ?)""",
                                (key, kind, status, _text(payload), now, now))
            return cursor.rowcount == 1

    def ledger_add_many(self, entries: Iterable[tuple[str, str, dict[str, Any], str]]) -> set[str]:
        now, added = self.clock(), set()
        with self._tx() as db:
            for n, (key, kind, payload, status) in enumerate(entries):
                at = now + n * 1e-6  # in the order given: `ledger_list` lists oldest first
                if db.execute("""INSERT OR IGNORE INTO ledger VALUES (?, ?, ?, ?, ?, ?)""",
                              (key, kind, status, _text(payload), at, at)).rowcount == 1:
                    added.add(key)
        return added

    def ledger_get(self, key: str) -> LedgerEntry | None:
        with self._lock:
            row = self._db.execute("""SELECT key, kind, status, payload, created, updated FROM ledger WHERE key = ?""",
                                   (key,)).fetchone()
        return LedgerEntry(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5]) if row else None

    def ledger_set(self, key: str, status: str, payload: dict[str, Any] | None = None) -> None:
        with self._tx() as db:
            if payload is None:
                db.execute("""UPDATE ledger SET status = ?, updated = ? WHERE key = ?""", (status, self.clock(), key))
            else:
                db.execute("""UPDATE ledger SET status = ?, payload = ?, updated = ? WHERE key = ?""",
                           (status, _text(payload), self.clock(), key))

    def ledger_put(self, key: str, kind: str, status: str, payload: dict[str, Any]) -> None:
        """Record a key with this status and payload, whether or not it was recorded before."""
        now = self.clock()
        with self._tx() as db:
            db.execute("""INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET
                          status = excluded.status, payload = excluded.payload, updated = excluded.updated""",
                       (key, kind, status, _text(payload), now, now))

    def ledger_swap(self, key: str, expect: LedgerEntry, status: str, payload: dict[str, Any]) -> bool:
        """Change an entry only if it is still as `expect` saw it (same status, same last update): True if so.
        Two runners taking over the same stale entry: one wins."""
        with self._tx() as db:
            cursor = db.execute("""UPDATE ledger SET status = ?, payload = ?, updated = ? WHERE key = ? AND status = ?
                                   AND updated = ?""", (status, _text(payload), self.clock(),
                                                        key, expect.status, expect.updated))
            return cursor.rowcount == 1

    def ledger_delete(self, key: str) -> None:
        with self._tx() as db:
            db.execute("""DELETE FROM ledger WHERE key = ?""", (key,))

    def ledger_scrub(self, key: str, status: str, payload: dict[str, Any]) -> None:
        self.ledger_set(key, status, payload)  # one column: the old payload is gone with the update

    def ledger_list(self, kind: str | None = None, status: str | None = None) -> list[LedgerEntry]:
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

    # --- outbox ------------------------------------------------------------
    _OUTBOX = """SELECT key, kind, status, payload, recipients, attempts, created, updated, not_before, sent_at,
                 error FROM outbox"""

    @staticmethod
    def _outbox(row: tuple[Any, ...]) -> OutboxEntry:
        return OutboxEntry(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6], row[7], row[8],
                           row[9], row[10])

    def outbox_add(self, key: str, kind: str, payload: dict[str, Any], recipients: int) -> bool:
        """Queue a message once; False if its key was queued before (then nothing changes)."""
        now = self.clock()
        with self._tx() as db:
            cursor = db.execute("""INSERT OR IGNORE INTO outbox (key, kind, status, payload, recipients, created,
                                   updated) VALUES (?, ?, 'queued', ?, ?, ?, ?)""",
                                (key, kind, _text(payload), recipients, now, now))
            return cursor.rowcount == 1

    def outbox_get(self, key: str) -> OutboxEntry | None:
        with self._lock:
            row = self._db.execute(self._OUTBOX + """ WHERE key = ?""", (key,)).fetchone()
        return self._outbox(row) if row else None

    def outbox_list(self, status: str, *, ready_by: float | None = None, updated_before: float | None = None,
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

    def outbox_claim(self, key: str) -> OutboxEntry | None:
        """`queued -> sending` (one more attempt), only if it is still queued: the entry as claimed, else None."""
        with self._tx() as db:
            row = db.execute("""UPDATE outbox SET status = 'sending', attempts = attempts + 1, updated = ?
                                WHERE key = ? AND status = 'queued' RETURNING key, kind, status, payload, recipients,
                                attempts, created, updated, not_before, sent_at, error""",
                             (self.clock(), key)).fetchone()
        return self._outbox(row) if row else None

    def outbox_set(self, key: str, status: str, *, error: str | None = None, not_before: float | None = None,
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

    def outbox_sent_since(self, since: float) -> tuple[int, int]:
        """(messages, recipients) sent at or after `since`: what the mailbox's limits count."""
        with self._lock:
            row = self._db.execute("""SELECT COUNT(*), COALESCE(SUM(recipients), 0) FROM outbox WHERE sent_at >= ?""",
                                   (since,)).fetchone()
        return int(row[0]), int(row[1])

    def outbox_send_times(self, since: float) -> list[float]:
        """When each message sent at or after `since` went, oldest first; one whose answer was lost counts too."""
        with self._lock:
            rows = self._db.execute("""SELECT COALESCE(sent_at, updated) AS at FROM outbox WHERE sent_at >= ?
                                       OR (status = 'sending' AND updated >= ?) ORDER BY at""", (since, since))
            return [row[0] for row in rows]

    def outbox_tally(self, key_prefix: str) -> dict[str, int]:
        """How many messages whose key starts with `key_prefix` are in each status (a campaign's progress)."""
        with self._lock:
            rows = self._db.execute("""SELECT status, COUNT(*) FROM outbox WHERE substr(key, 1, ?) = ?
                                       GROUP BY status""", (len(key_prefix), key_prefix))
            return {status: n for status, n in rows}

    def outbox_cancel(self, key_prefix: str, key_suffix: str) -> int:
        """Withdraw queued messages whose key starts and ends so (someone's updates, when they unsubscribe)."""
        with self._tx() as db:
            cursor = db.execute("""UPDATE outbox SET status = 'cancelled', updated = ? WHERE status = 'queued'
                                   AND substr(key, 1, ?) = ? AND substr(key, -?) = ?""",
                                (self.clock(), len(key_prefix), key_prefix, len(key_suffix), key_suffix))
            return cursor.rowcount

    def outbox_scrub(self, key: str, *, cancel: bool) -> bool:
        with self._tx() as db:
            cursor = db.execute("""UPDATE outbox SET payload = '{}', updated = ?, status = CASE WHEN ? AND status IN
                                   ('queued', 'sending') THEN 'cancelled' ELSE status END WHERE key = ?""",
                                (self.clock(), cancel, key))
            return cursor.rowcount == 1

    def outbox_counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("""SELECT status, COUNT(*) FROM outbox GROUP BY status""")
            return {status: n for status, n in rows}

    # --- counters ----------------------------------------------------------
    def counter_add(self, name: str, expires: float, by: int = 1) -> int:
        """Add `by` to the counter `name` (a new one, if it was absent or has expired, lasts until `expires`);
        returns its value now. A negative `by` gives back what was counted, never below 0."""
        now = self.clock()
        with self._tx() as db:
            db.execute("""DELETE FROM counters WHERE expires <= ?""", (now,))
            row = db.execute("""INSERT INTO counters VALUES (?, MAX(?, 0), ?) ON CONFLICT(name) DO UPDATE SET
                                value = MAX(value + ?, 0) RETURNING value""", (name, by, expires, by)).fetchone()
        return int(row[0])

    # --- leases -------------------------------------------------------------
    def lease_acquire(self, name: str, holder: str, seconds: float) -> bool:
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

    def lease_release(self, name: str, holder: str) -> None:
        with self._tx() as db:
            db.execute("""DELETE FROM leases WHERE name = ? AND holder = ?""", (name, holder))

    def lease_get(self, name: str) -> Lease | None:
        with self._lock:
            row = self._db.execute("""SELECT holder, since, expires FROM leases WHERE name = ?""", (name,)).fetchone()
        return Lease(name, row[0], row[1], row[2]) if row is not None and row[2] > self.clock() else None
