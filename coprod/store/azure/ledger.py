"""The ledger on Table Storage: an entity a key in the `ledger` table (PartitionKey "ledger"), its payload split
over properties (_entities.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from coprod.store._base import LedgerEntry
from coprod.store.azure._batch import send, together
from coprod.store.azure._entities import BATCH, escape_key, pack, unescape_key, unpack
from coprod.store.azure._table import TablePart

__all__ = ["TableLedger"]


class TableLedger(TablePart):
    partition = "ledger"

    @staticmethod
    def _entry(entity: Any) -> LedgerEntry:
        return LedgerEntry(unescape_key(str(entity["RowKey"])), str(entity["kind"]), str(entity["status"]),
                           unpack(entity, "payload"), float(entity["created"]), float(entity["updated"]))

    def add(self, key: str, kind: str, payload: dict[str, Any], status: str = "due") -> bool:
        now = self.clock()
        return self._insert({"PartitionKey": "ledger", "RowKey": escape_key(key), "kind": kind, "status": status,
                             "created": now, "updated": now} | pack("payload", payload))

    def add_many(self, entries: Iterable[tuple[str, str, dict[str, Any], str]]) -> set[str]:
        """Entity group transactions of 100 creates; one refused (a key exists) is done again insert by insert."""
        from azure.data.tables import TableTransactionError

        now, rows = self.clock(), list(entries)
        chunks = [{key: {"PartitionKey": "ledger", "RowKey": escape_key(key), "kind": kind, "status": status,
                         "created": now + (start + n) * 1e-6, "updated": now} | pack("payload", payload)
                   for n, (key, kind, payload, status) in enumerate(rows[start:start + BATCH])}
                  for start in range(0, len(rows), BATCH)]

        def add(chunk: dict[str, dict[str, Any]]) -> set[str]:
            try:
                send(self.table, [("create", entity) for entity in chunk.values()])
                return set(chunk)
            except TableTransactionError:
                return {key for key, entity in chunk.items() if self._insert(entity)}

        return set().union(*together(add, chunks))

    def get(self, key: str) -> LedgerEntry | None:
        entity = self._get(key)
        return self._entry(entity) if entity is not None else None

    def set(self, key: str, status: str, payload: dict[str, Any] | None = None) -> None:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        change = {"PartitionKey": "ledger", "RowKey": escape_key(key), "status": status, "updated": self.clock()}
        if payload is not None:
            change |= pack("payload", payload)
        with contextlib.suppress(ResourceNotFoundError):  # as in SQLite: setting a key not there changes nothing
            self.table.update_entity(change, mode=UpdateMode.MERGE)

    def put(self, key: str, kind: str, status: str, payload: dict[str, Any]) -> None:
        if not self.add(key, kind, payload, status):
            self.set(key, status, payload)  # keeps its kind and when it was first written

    def delete(self, key: str) -> None:
        self.table.delete_entity("ledger", escape_key(key))  # (the SDK ignores a 404: gone already)

    def scrub(self, key: str, status: str, payload: dict[str, Any]) -> None:
        self._replace_payload(key, payload, lambda entity: {"status": status})

    def list(self, kind: str | None = None, status: str | None = None) -> list[LedgerEntry]:
        clauses, parameters = ["PartitionKey eq 'ledger'"], dict[str, Any]()
        if kind is not None:
            clauses.append("kind eq @kind")
            parameters["kind"] = kind
        if status is not None:
            clauses.append("status eq @status")
            parameters["status"] = status
        entries = [self._entry(e) for e in self._query(" and ".join(clauses), parameters)]
        return sorted(entries, key=lambda e: (e.created, e.key))

    def swap(self, key: str, expect: LedgerEntry, status: str, payload: dict[str, Any]) -> bool:
        entity = self._get(key)
        if entity is None or entity["status"] != expect.status or float(entity["updated"]) != expect.updated:
            return False
        change = {"PartitionKey": "ledger", "RowKey": escape_key(key), "status": status,
                  "updated": self.clock()} | pack("payload", payload)
        return self._update_if(change, entity.metadata["etag"])
