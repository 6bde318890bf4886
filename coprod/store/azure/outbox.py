"""The outbox on Table Storage: an entity an email in the `outbox` table (PartitionKey "outbox"), its payload
split over properties (_entities.py); claiming and settling are writes conditional on the entity's ETag."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from coprod.store._base import OutboxEntry
from coprod.store.azure._entities import after, escape_key, pack, unescape_key, unpack
from coprod.store.azure._table import TablePart

__all__ = ["TableOutbox"]


class TableOutbox(TablePart):
    partition = "outbox"

    @staticmethod
    def _outbox(entity: Any) -> OutboxEntry:
        sent_at = entity.get("sent_at")
        return OutboxEntry(unescape_key(str(entity["RowKey"])), str(entity["kind"]), str(entity["status"]),
                           unpack(entity, "payload"), int(entity["recipients"]), int(entity["attempts"]),
                           float(entity["created"]), float(entity["updated"]), float(entity.get("not_before", 0.0)),
                           float(sent_at) if sent_at is not None else None, entity.get("error") or None)

    def add(self, key: str, kind: str, payload: dict[str, Any], recipients: int) -> bool:
        now = self.clock()
        return self._insert({"PartitionKey": "outbox", "RowKey": escape_key(key), "kind": kind, "status": "queued",
                             "recipients": recipients, "attempts": 0, "created": now, "updated": now,
                             "not_before": 0.0} | pack("payload", payload))

    def get(self, key: str) -> OutboxEntry | None:
        entity = self._get(key)
        return self._outbox(entity) if entity is not None else None

    def sent_since(self, since: float) -> tuple[int, int]:
        rows = list(self._query("PartitionKey eq 'outbox' and sent_at ge @since", {"since": since},
                                select=["recipients"]))
        return len(rows), sum(int(r["recipients"]) for r in rows)

    def send_times(self, since: float) -> list[float]:  # (before `list` below, which would be this `list`)
        # (a parameter must be followed by a space: the SDK reads its name up to the next one)
        rows = self._query("PartitionKey eq 'outbox' and (sent_at ge @since or (status eq 'sending' and "
                           "updated ge @since ) )", {"since": since}, select=["sent_at", "updated"])
        return sorted(float(r["sent_at"]) if r.get("sent_at") is not None else float(r["updated"]) for r in rows)

    def _with_prefix(self, key_prefix: str, extra: str = "", parameters: dict[str, Any] | None = None,
                     select: list[str] | None = None) -> Iterator[Any]:
        low = escape_key(key_prefix)
        return self._query("PartitionKey eq 'outbox' and RowKey ge @low and RowKey lt @high" + extra,
                           {"low": low, "high": after(low)} | (parameters or {}), select=select)

    def list(self, status: str, *, ready_by: float | None = None, updated_before: float | None = None,
             limit: int = 1000) -> list[OutboxEntry]:
        query = "PartitionKey eq 'outbox' and status eq @status"
        parameters: dict[str, Any] = {"status": status}
        if ready_by is not None:
            query += " and not_before le @ready"
            parameters["ready"] = ready_by
        if updated_before is not None:
            query += " and updated lt @before"
            parameters["before"] = updated_before
        entries = sorted((self._outbox(e) for e in self._query(query, parameters)), key=lambda e: (e.created, e.key))
        return entries[:limit]

    def claim(self, key: str) -> OutboxEntry | None:
        entity = self._get(key)
        if entity is None or entity["status"] != "queued":
            return None
        change = {"PartitionKey": "outbox", "RowKey": escape_key(key), "status": "sending",
                  "attempts": int(entity["attempts"]) + 1, "updated": self.clock()}
        if not self._update_if(change, entity.metadata["etag"]):
            return None  # another runner claimed it first
        return self.get(key)

    def set(self, key: str, status: str, *, error: str | None = None, not_before: float | None = None,
            sent_at: float | None = None, attempts: int | None = None, expect: str | None = None) -> bool:
        change: dict[str, Any] = {"PartitionKey": "outbox", "RowKey": escape_key(key), "status": status}
        for name, value in (("error", error), ("not_before", not_before), ("sent_at", sent_at),
                            ("attempts", attempts)):
            if value is not None:
                change[name] = value
        while True:  # read, check, write if unchanged meanwhile; a lost race is read again
            entity = self._get(key)
            if entity is None or (expect is not None and entity["status"] != expect):
                return False
            if self._update_if(change | {"updated": self.clock()}, entity.metadata["etag"]):
                return True

    def tally(self, key_prefix: str) -> dict[str, int]:
        tally: dict[str, int] = {}
        for row in self._with_prefix(key_prefix, select=["status"]):
            tally[str(row["status"])] = tally.get(str(row["status"]), 0) + 1
        return tally

    def cancel(self, key_prefix: str, key_suffix: str) -> int:
        cancelled = 0
        for entity in self._with_prefix(key_prefix, " and status eq 'queued'"):
            if not unescape_key(str(entity["RowKey"])).endswith(key_suffix):
                continue
            change = {"PartitionKey": "outbox", "RowKey": entity["RowKey"], "status": "cancelled",
                      "updated": self.clock()}
            cancelled += self._update_if(change, entity.metadata["etag"])
        return cancelled

    def scrub(self, key: str, *, cancel: bool) -> bool:
        unsent = ("queued", "sending") if cancel else ()
        return self._replace_payload(key, {}, lambda e: {"status": "cancelled"} if e["status"] in unsent else {})

    def counts(self) -> dict[str, int]:
        return dict(Counter(str(row["status"]) for row in self._query("PartitionKey eq 'outbox'", {},
                                                                      select=["status"])))
