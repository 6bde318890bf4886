"""Counters on Table Storage: an entity a counter in the `counters` table (PartitionKey "counter"), each count a
write conditional on its ETag."""

from __future__ import annotations

from coprod.store.azure._batch import transact
from coprod.store.azure._entities import BATCH, escape_key
from coprod.store.azure._table import TablePart

__all__ = ["TableCounters"]


class TableCounters(TablePart):
    partition = "counter"

    def add(self, name: str, expires: float, by: int = 1) -> int:
        """As the SQLite store's: `by` added (given back when negative, never below 0), conditional on the
        counter's ETag and done again if another instance counted meanwhile."""
        while True:
            now = self.clock()
            entity = self._get(name)
            if entity is None:
                if by <= 0:
                    return 0  # nothing counted (or it expired): nothing to give back
                if self._insert({"PartitionKey": "counter", "RowKey": escape_key(name), "value": by,
                                 "expires": expires}):
                    self._forget_expired(now)
                    return by
                continue
            fresh = float(entity["expires"]) <= now
            value = max(0, (0 if fresh else int(entity["value"])) + by)
            change = {"PartitionKey": "counter", "RowKey": escape_key(name), "value": value,
                      "expires": expires if fresh else float(entity["expires"])}
            if self._update_if(change, entity.metadata["etag"]):
                return value

    def _forget_expired(self, now: float) -> None:
        """A new window's counter: clear away some that have expired (each window has its own name)."""
        expired = self._query("PartitionKey eq 'counter' and expires le @now", {"now": now}, select=["RowKey"])
        transact(self.table, [("delete", {"PartitionKey": "counter", "RowKey": row["RowKey"]})
                              for _, row in zip(range(BATCH), expired, strict=False)])
