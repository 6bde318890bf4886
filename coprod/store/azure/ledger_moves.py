"""Once, on the first start after the ledger was packed: each entry of the old form (an entity a key, RowKey the
escaped key) moves into its kind's packs.

An entry moves in one transaction with the deletion of its old entity, conditional on that entity's ETag (and
on the packs and index buckets, as every ledger write is). So instances that start together move each entry
once: the one that loses a race finds the entity gone, or the key already packed; and an entry erased after it
moved can never come back from its old entity. The store sets the "ledger.format" checkpoint when no entity of
the old form is left, and no instance uses the ledger before that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coprod.store.azure._batch import together
from coprod.store.azure._entities import unescape_key, unpack
from coprod.store.azure._ledger_packs import INDEX, PACKS, TooBig
from coprod.store.azure._table import read_entity

if TYPE_CHECKING:
    from coprod.store.azure.ledger import TableLedger

__all__ = ["CHUNK", "move_in"]

CHUNK = 30  # old entities moved in one transaction (with their packs and index buckets)


def _old(row_key: str) -> bool:
    return not row_key.startswith((PACKS, INDEX))


def move_in(ledger: TableLedger) -> int:
    """Move every entry of the old form into the packs; returns how many this call moved."""
    moved = 0
    while True:
        old = [str(e["RowKey"]) for e in ledger.table.query_entities(
            "PartitionKey eq @p", parameters={"p": ledger.partition}, select=["RowKey"]) if _old(str(e["RowKey"]))]
        if not old:
            return moved
        for start in range(0, len(old), CHUNK):
            chunk = old[start:start + CHUNK]
            try:
                moved += _move(ledger, chunk)
            except TooBig:  # (nothing was sent) one at a time
                moved += sum(_move(ledger, [row_key]) for row_key in chunk)


def _move(ledger: TableLedger, row_keys: list[str]) -> int:
    """Entries of the old form into the packs, each with the deletion of its old entity (one transaction)."""
    from azure.core import MatchConditions

    now: dict[str, Any] = {}  # key -> its old entity, as read in this round

    def deletions() -> list[tuple[Any, ...]]:  # read again on each round: another instance may have moved some
        now.clear()
        found = together(lambda r: read_entity(ledger.table, ledger.partition, r), row_keys)
        now.update({unescape_key(r): e for r, e in zip(row_keys, found, strict=True) if e is not None})
        return [("delete", e, {"etag": e.metadata["etag"], "match_condition": MatchConditions.IfNotModified})
                for e in now.values()]

    def decide(rows: dict[str, Any]) -> dict[str, Any]:
        return {key: (str(e["kind"]), [str(e["status"]), float(e["created"]), float(e["updated"]),
                                       unpack(e, "payload")])
                for key, e in now.items() if rows.get(key) is None}  # (one packed already is the newer)

    ledger.packs.write([unescape_key(r) for r in row_keys], decide, deletions)
    return len(now)
