"""Leases on Table Storage: one runner at a time, shared by every instance (mixed into AzureTableStore)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from coprod.store._base import Lease
from coprod.store._entities import escape_key

__all__ = ["TableLeases"]


class TableLeases:
    """A lease is an entity in the `leases` table (PartitionKey "lease", RowKey its name): taken by an insert,
    renewed or taken over by a write conditional on its ETag, let go by a conditional delete."""

    clock: Callable[[], float]
    _tables: dict[str, Any]

    _get: Callable[..., Any]  # the store's plumbing (AzureTableStore): a point read, an insert, a conditional write
    _insert: Callable[..., bool]
    _update_if: Callable[..., bool]

    def lease_acquire(self, name: str, holder: str, seconds: float) -> bool:
        while True:
            now = self.clock()
            entity = self._get("leases", "lease", name)
            lease = {"PartitionKey": "lease", "RowKey": escape_key(name), "holder": holder, "since": now,
                     "expires": now + seconds}
            if entity is None:
                if self._insert("leases", lease):
                    return True
                continue
            mine = entity["holder"] == holder and float(entity["expires"]) > now
            if not mine and float(entity["expires"]) > now:
                return False  # held by another, and not expired
            if mine:
                lease["since"] = float(entity["since"])
            if self._update_if("leases", lease, entity.metadata["etag"], replace=True):
                return True

    def lease_release(self, name: str, holder: str) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError

        entity = self._get("leases", "lease", name)
        if entity is None or entity["holder"] != holder:
            return
        with contextlib.suppress(HttpResponseError):  # taken over meanwhile (ours had expired): theirs stands
            self._tables["leases"].delete_entity("lease", escape_key(name), etag=entity.metadata["etag"],
                                                 match_condition=MatchConditions.IfNotModified)

    def lease_get(self, name: str) -> Lease | None:
        entity = self._get("leases", "lease", name)
        if entity is None or float(entity["expires"]) <= self.clock():
            return None
        return Lease(name, str(entity["holder"]), float(entity["since"]), float(entity["expires"]))
