"""Leases on Table Storage: one runner at a time, shared by every instance."""

from __future__ import annotations

import contextlib

from coprod.store._base import Lease
from coprod.store.azure._entities import escape_key
from coprod.store.azure._table import TablePart

__all__ = ["TableLeases"]


class TableLeases(TablePart):
    """A lease is an entity in the `leases` table (PartitionKey "lease", RowKey its name): taken by an insert,
    renewed or taken over by a write conditional on its ETag, let go by a conditional delete."""

    partition = "lease"

    def acquire(self, name: str, holder: str, seconds: float) -> bool:
        while True:
            now = self.clock()
            entity = self._get(name)
            lease = {"PartitionKey": "lease", "RowKey": escape_key(name), "holder": holder, "since": now,
                     "expires": now + seconds}
            if entity is None:
                if self._insert(lease):
                    return True
                continue
            mine = entity["holder"] == holder and float(entity["expires"]) > now
            if not mine and float(entity["expires"]) > now:
                return False  # held by another, and not expired
            if mine:
                lease["since"] = float(entity["since"])
            if self._update_if(lease, entity.metadata["etag"], replace=True):
                return True

    def release(self, name: str, holder: str) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError

        entity = self._get(name)
        if entity is None or entity["holder"] != holder:
            return
        with contextlib.suppress(HttpResponseError):  # taken over meanwhile (ours had expired): theirs stands
            self.table.delete_entity("lease", escape_key(name), etag=entity.metadata["etag"],
                                     match_condition=MatchConditions.IfNotModified)

    def get(self, name: str) -> Lease | None:
        entity = self._get(name)
        if entity is None or float(entity["expires"]) <= self.clock():
            return None
        return Lease(name, str(entity["holder"]), float(entity["since"]), float(entity["expires"]))
