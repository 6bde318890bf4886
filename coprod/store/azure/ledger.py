"""The ledger on Table Storage, packed: the entries of one kind together in a few entities, with an index.

One entity per entry made a first sync of 10,000 registrations 13,000 entity writes, all in the one partition
(Table Storage serves a partition at about 2,000 entities a second: Microsoft's scalability targets), and most
of the time waited on Azurite. Packed, the entries of a kind share entities ("packs"), and an index says which
pack holds each key:

    PartitionKey   RowKey                     properties
    "ledger"       "%p|<kind>|<000000>"        knd, n (entries), chars (escaped JSON size), s<status in hex>
                                              (entries with that status),
                                              items* {key: [status, created, updated, payload]}
    "ledger"       "%k|<hash>|<numbers>"      idx* {key: pack RowKey}  (keys alike with numbers close together:
                                              `_ledger_packs.bucket_of`)

(A RowKey of the old form, an escaped key, never starts with "%p" or "%k": escaping writes `%` and two hex
digits. Entries of that form are moved in once: `ledger_moves.py`.)

- An entry stays in the pack it was made in; a status change rewrites that pack. Its kind's packs are one RowKey
  range, and a pack says how many of its entries have each status, so "the due messages" reads only the packs
  holding one (a filter on `s<hex of "due">`), not a kind's whole history.
- Every write is one entity group transaction, conditional on the ETag of each entity it was decided from (or a
  create, refused if someone made it first): the pack changed, and for a key added or removed, its index
  bucket. A write that lost a race reads again and does it again, after a short random wait.
- A key's pack, and the packs last read or written, are kept by the object (`_seen`): a write starts from them
  and its condition finds them out if they are out of date; a read always asks Table Storage, and a decision to
  write nothing is made again from a fresh reading. So settling the entries just listed is one request each, as
  it was with an entity each.
- A new entry goes in a pack of its kind with room (fewer than PACK_ITEMS entries and PACK_CHARS of escaped JSON:
  one request finds one, read while the key's index bucket is), else in a new pack; an entry that grows past
  HARD_CHARS in its pack moves to a pack of its own. An emptied pack is deleted.
- Cost against an entity a key, per operation on an instance that has seen nothing yet: a get is 2 round trips
  (bucket, then pack; was 1), an add 2 (was 1), a settle 3 (bucket, pack, write; was 1) and 1 once listed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from coprod.store._base import LedgerEntry
from coprod.store.azure._ledger_packs import PACK_ITEMS, PACKS, Packs, Row, TooBig, bucket_of, packs_of

if TYPE_CHECKING:
    from azure.data.tables import TableClient

__all__ = ["TableLedger"]

OPERATIONS = 90  # entities a transaction of `add_many` is planned to write (Table Storage takes 100)


def _entry(key: str, kind: str, row: Row) -> LedgerEntry:
    status, created, updated, payload = row
    return LedgerEntry(key, kind, str(status), payload, float(created), float(updated))


def _chunks(keys: list[str], wanted: dict[str, tuple[str, Row]]) -> Iterator[list[str]]:
    """`keys` (in bucket order) in runs whose index buckets and packs make at most OPERATIONS writes."""
    chunk: list[str] = []
    buckets: set[str] = set()
    kinds: dict[str, int] = {}
    for key in keys:
        bucket, kind = bucket_of(key), wanted[key][0]
        more = {**kinds, kind: kinds.get(kind, 0) + 1}
        if chunk and len(buckets | {bucket}) + sum(n // PACK_ITEMS + 2 for n in more.values()) > OPERATIONS:
            yield chunk
            chunk, buckets, more = [], set(), {kind: 1}
        chunk.append(key)
        buckets.add(bucket)
        kinds = more
    if chunk:
        yield chunk


def _add(packs: Packs, keys: list[str], wanted: dict[str, tuple[str, Row]]) -> set[str]:
    try:
        return packs.write(keys, lambda rows: {k: wanted[k] for k, row in rows.items() if row is None},
                           kinds={wanted[k][0] for k in keys})
    except TooBig:  # (nothing was sent) in halves
        if len(keys) == 1:
            raise
        return _add(packs, keys[:len(keys) // 2], wanted) | _add(packs, keys[len(keys) // 2:], wanted)


class TableLedger:
    """The store's ledger part on one Table Storage table (see the module's docstring)."""

    partition = "ledger"

    def __init__(self, table: TableClient, clock: Callable[[], float]) -> None:
        self.table = table
        self.clock = clock
        self.packs = Packs(table)

    def get(self, key: str) -> LedgerEntry | None:
        found = self.packs.find(key)
        return _entry(key, *found) if found is not None else None

    def list(self, kind: str | None = None, status: str | None = None) -> list[LedgerEntry]:
        packs = self.packs.query(PACKS if kind is None else packs_of(kind), status)
        entries = [_entry(key, p.kind, row) for p in packs for key, row in p.items.items()
                   if (kind is None or p.kind == kind) and (status is None or row[0] == status)]
        return sorted(entries, key=lambda e: (e.created, e.key))

    def add(self, key: str, kind: str, payload: dict[str, Any], status: str = "due") -> bool:
        now = self.clock()
        return key in self.packs.write([key], lambda rows: {key: (kind, [status, now, now, payload])}
                                       if rows[key] is None else {}, kinds=[kind])

    def add_many(self, entries: Iterable[tuple[str, str, dict[str, Any], str]]) -> set[str]:
        """In as few transactions as Table Storage's limits allow, each whole (entries with their index): the
        keys in the order of their index buckets, so a transaction holds few of them."""
        now, wanted = self.clock(), dict[str, tuple[str, Row]]()
        for n, (key, kind, payload, status) in enumerate(entries):
            wanted.setdefault(key, (kind, [status, now + n * 1e-6, now, payload]))  # (the first of a key wins)
        added: set[str] = set()
        for chunk in _chunks(sorted(wanted, key=bucket_of), wanted):
            added |= _add(self.packs, chunk, wanted)
        return added

    def set(self, key: str, status: str, payload: dict[str, Any] | None = None) -> None:
        now = self.clock()
        self.packs.write([key], lambda rows: {} if (row := rows[key]) is None else {
            key: (None, [status, row[1], now, row[3] if payload is None else payload])})

    def put(self, key: str, kind: str, status: str, payload: dict[str, Any]) -> None:
        now = self.clock()  # (an entry there keeps its kind and when it was first written)
        self.packs.write([key], lambda rows: {key: (kind, [status, now, now, payload]) if (row := rows[key]) is None
                                              else (None, [status, row[1], now, payload])}, kinds=[kind])

    def delete(self, key: str) -> None:
        self.packs.write([key], lambda rows: {key: None} if rows[key] is not None else {})

    def scrub(self, key: str, status: str, payload: dict[str, Any]) -> None:
        self.set(key, status, payload)  # the pack is written whole: nothing of the old payload is left in it

    def swap(self, key: str, expect: LedgerEntry, status: str, payload: dict[str, Any]) -> bool:
        now = self.clock()

        def change(rows: dict[str, Row | None]) -> dict[str, Any]:
            row = rows[key]
            if row is None or row[0] != expect.status or float(row[2]) != expect.updated:
                return {}
            return {key: (None, [status, row[1], now, payload])}

        return key in self.packs.write([key], change)
