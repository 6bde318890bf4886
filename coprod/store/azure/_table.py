"""What each part of the Table Storage store shares: its table, the store's clock, and the few ways an entity of
its partition is read and written (a point read, an insert, a write conditional on the entity's ETag)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from coprod.store.azure._entities import escape_key, pack
from coprod.store.azure._entities import unpacked as unpack_out

if TYPE_CHECKING:
    from azure.data.tables import TableClient

__all__ = ["TablePart", "read_entity"]


def read_entity(table: TableClient, partition_key: str, row_key: str) -> Any | None:
    """One entity by its keys (already escaped), or None if there is none."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return table.get_entity(partition_key, row_key)
    except ResourceNotFoundError:
        return None


class TablePart:
    """A part of the store on one table (a client on the store's connection), its entities in one partition."""

    partition: str  # the PartitionKey of every entity of the part

    def __init__(self, table: TableClient, clock: Callable[[], float]) -> None:
        self.table = table
        self.clock = clock

    def _get(self, key: str) -> Any | None:
        return read_entity(self.table, self.partition, escape_key(key))

    def _insert(self, entity: dict[str, Any]) -> bool:
        from azure.core.exceptions import ResourceExistsError

        try:
            self.table.create_entity(entity)
        except ResourceExistsError:
            return False
        return True

    def _update_if(self, entity: dict[str, Any], etag: str, *, replace: bool = False) -> bool:
        """Write `entity` only if it is unchanged since it was read with `etag`; False if someone wrote first."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        try:
            self.table.update_entity(entity, mode=UpdateMode.REPLACE if replace else UpdateMode.MERGE, etag=etag,
                                     match_condition=MatchConditions.IfNotModified)
        except ResourceNotFoundError:
            return False
        except HttpResponseError as error:
            if error.status_code == 412:
                return False
            raise
        return True

    def _query(self, query: str, parameters: dict[str, Any], select: list[str] | None = None) -> Iterator[Any]:
        return iter(self.table.query_entities(query, parameters=parameters, select=select))

    def _replace_payload(self, key: str, payload: dict[str, Any], change: Callable[[Any], dict[str, Any]]) -> bool:
        """The entity again with a new payload (no old chunk left, as a MERGE would) and `change(entity)`."""
        while True:
            entity = self._get(key)
            if entity is None:
                return False
            new = unpack_out(entity, "payload") | pack("payload", payload) | change(entity) | {"updated": self.clock()}
            if self._update_if(new, entity.metadata["etag"], replace=True):
                return True
