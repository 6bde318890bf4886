"""Checkpoints on Table Storage: an entity a name in the `checkpoints` table (PartitionKey "checkpoint")."""

from __future__ import annotations

from coprod.store.azure._entities import escape_key
from coprod.store.azure._table import TablePart

__all__ = ["TableCheckpoints"]


class TableCheckpoints(TablePart):
    partition = "checkpoint"

    def get(self, name: str) -> str | None:
        entity = self._get(name)
        return str(entity["value"]) if entity is not None else None

    def set(self, name: str, value: str) -> None:
        from azure.data.tables import UpdateMode

        self.table.upsert_entity({"PartitionKey": "checkpoint", "RowKey": escape_key(name), "value": value,
                                  "updated": self.clock()}, mode=UpdateMode.REPLACE)
