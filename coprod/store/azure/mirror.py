"""The mirror on Table Storage, packed: a session's registrations in a few entities, not one entity each.

One entity per mirrored item made the first sync of a list one write per item, and reading one session's
registrations a scan of the whole list's partition (Table Storage filters on `grp` by reading every entity).
Packed, the items of one group (a registration's session) share a few entities, and an index says where each
item is:

    PartitionKey   RowKey                   properties
    list name      "g|<group>|<00000>"       grp, n (items), chars (JSON size), items* {id: [etag, created, fields]}
    list name      "i|<bucket>"              idx* {id: [chunk RowKey, etag]}   (ids 0-999 in bucket 0, ...)

- Reading a session's registrations is one RowKey range; an item by id is its index bucket, then its chunk;
  eTags alone (to tell the echo of our own writes) are the index buckets only.
- A write reads the index buckets and the chunks it changes, then writes those back in entity group
  transactions, each conditional on the ETag it read (or a create, refused if someone made it first); a lost
  race reads again and does it again, after a short random wait (writers that collided do not collide again
  in step), and an entity whose content is as read is not written. The run's lease makes races rare: the
  mirror has one writer at a time.
  The items' index buckets are written with their chunks even when unchanged (the same content, on the same
  condition): a chunk written from an index another writer changed meanwhile would hold an item the index
  places elsewhere (twice in `items`), or columns that are not those of the eTag the index holds.
- A chunk holds at most GROUP_ITEMS items and CHUNK_CHARS characters of JSON (an entity holds 1 MiB); an
  emptied chunk is deleted.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from coprod.store._base import MirrorItem
from coprod.store.azure._batch import together, transact
from coprod.store.azure._entities import after, escape_key, fit_fields, pack, packed_json, units, unpack
from coprod.store.azure._table import read_entity

if TYPE_CHECKING:
    from azure.data.tables import TableClient

__all__ = ["PackedMirror"]

GROUP_ITEMS = 100  # items in one chunk entity at most
CHUNK_CHARS = 300_000  # and UTF-16 units of JSON (pack() takes up to 450,000: an item too big has a chunk alone)
BUCKET = 1000  # item ids per index entity
ROUNDS = 10  # a write that lost a race is done again from a fresh reading, this many times at most
APART = 0.05  # seconds: after a lost race, a random wait of up to this, doubled each round up to a second
Loc = tuple[str, str | None]  # (chunk RowKey, eTag)


def _bucket(item_id: str) -> str:
    if item_id.isdigit() and len(item_id) < 16:
        return f"i|{int(item_id) // BUCKET:012d}"
    return f"i|h{zlib.crc32(item_id.encode()) % 4096:04d}"  # (SharePoint's ids are numbers; any other is hashed)


def _group_prefix(group: str | None) -> str:
    return "g|" + escape_key(group or "").replace("|", "%7C") + "|"


class PackedMirror:
    """The store's mirror part on one Table Storage table (see the module's docstring)."""

    def __init__(self, table: TableClient) -> None:
        self.table = table
        self._rng = random.Random()  # noqa: S311 - when to go again after a lost race, not cryptography

    # --- reading -------------------------------------------------------------------------------------------
    def _range(self, list_name: str, low: str, select: list[str] | None = None) -> list[Any]:
        return list(self.table.query_entities("PartitionKey eq @list and RowKey ge @low and RowKey lt @high",
                                              parameters={"list": list_name, "low": low, "high": after(low)},
                                              select=select))

    def _entity(self, list_name: str, row_key: str) -> Any | None:
        return read_entity(self.table, list_name, row_key)

    def _index(self, list_name: str, item_ids: Iterable[str]) -> dict[str, tuple[dict[str, list[Any]], Any]]:
        """The index buckets holding `item_ids`: bucket -> (its map, its entity or None)."""
        buckets = sorted({_bucket(i) for i in item_ids})
        if len(buckets) > 20:  # one range read of the whole index costs less than many point reads
            found = {e["RowKey"]: e for e in self._range(list_name, "i|")}
            entities = [found.get(b) for b in buckets]
        else:
            entities = together(lambda b: self._entity(list_name, b), buckets)
        return {b: (unpack(e, "idx") if e is not None else {}, e) for b, e in zip(buckets, entities, strict=True)}

    def _locations(self, list_name: str, item_ids: Iterable[str]) -> dict[str, Loc]:
        item_ids = set(item_ids)
        out: dict[str, Loc] = {}
        for mapping, _entity in self._index(list_name, item_ids).values():
            out |= {i: (str(loc[0]), loc[1]) for i, loc in mapping.items() if i in item_ids}
        return out

    @staticmethod
    def _items(list_name: str, chunk: Any) -> list[MirrorItem]:
        group = chunk.get("grp") or None
        return [MirrorItem(list_name, item_id, etag or None, created, fields, group)
                for item_id, (etag, created, fields) in unpack(chunk, "items").items()]

    def _chunks(self, list_name: str, row_keys: set[str]) -> dict[str, Any]:
        if len(row_keys) > 50:
            return {e["RowKey"]: e for e in self._range(list_name, "g|") if e["RowKey"] in row_keys}
        keys = sorted(row_keys)
        return {k: e for k, e in zip(keys, together(lambda k: self._entity(list_name, k), keys), strict=True)
                if e is not None}

    def get(self, list_name: str, item_id: str) -> MirrorItem | None:
        return self.many(list_name, [item_id]).get(item_id)

    def many(self, list_name: str, item_ids: Iterable[str]) -> dict[str, MirrorItem]:
        locations = self._locations(list_name, item_ids)
        chunks = self._chunks(list_name, {row_key for row_key, _ in locations.values()})
        return {i.item_id: i for chunk in chunks.values() for i in self._items(list_name, chunk)
                if i.item_id in locations}

    def etags(self, list_name: str, item_ids: Iterable[str]) -> dict[str, str | None]:
        return {i: etag for i, (_, etag) in self._locations(list_name, item_ids).items()}

    def groups(self, list_name: str) -> set[str]:
        return {str(e["grp"]) for e in self._range(list_name, "g|", select=["grp"]) if e.get("grp")}

    def items(self, list_name: str, group: str | None = None) -> list[MirrorItem]:
        low = "g|" if group is None else _group_prefix(group)
        return [i for chunk in self._range(list_name, low) for i in self._items(list_name, chunk)]

    # --- writing -------------------------------------------------------------------------------------------
    def put(self, items: Iterable[MirrorItem]) -> None:
        by_list: dict[str, dict[str, MirrorItem]] = {}
        for item in items:
            by_list.setdefault(item.list_name, {})[item.item_id] = item  # (the last of an id wins)
        for list_name, wanted in by_list.items():
            self._change(list_name, wanted, set())

    def delete(self, list_name: str, item_ids: Iterable[str]) -> None:
        self._change(list_name, {}, set(item_ids))

    def ids(self, list_name: str) -> set[str]:
        return {i for e in self._range(list_name, "i|") for i in unpack(e, "idx")}

    def _change(self, list_name: str, put: dict[str, MirrorItem], drop: set[str]) -> None:
        """Put and drop items, done again from a fresh reading if another writer changed an entity meanwhile."""
        from azure.data.tables import TableTransactionError

        if not put and not drop:
            return
        for round_ in range(ROUNDS):
            try:
                self._change_once(list_name, put, drop)
                return
            except TableTransactionError:
                if round_ == ROUNDS - 1:
                    raise
                time.sleep(self._rng.uniform(0, min(1.0, APART * 2**round_)))  # writers that collided go apart

    def _change_once(self, list_name: str, put: dict[str, MirrorItem], drop: set[str]) -> None:
        index = self._index(list_name, set(put) | drop)
        where = {i: str(loc[0]) for mapping, _ in index.values() for i, loc in mapping.items()}
        sizes = {e["RowKey"]: [int(e.get("n", 0)), int(e.get("chars", 0))]
                 for e in self._range(list_name, "g|", select=["RowKey", "n", "chars"])}
        texts = {i: [item.etag or "", item.created, fit_fields(item.fields)] for i, item in put.items()}
        weight = {i: units(packed_json(value)) for i, value in texts.items()}
        stay = {i for i, item in put.items() if (w := where.get(i)) is not None and w.startswith(
            _group_prefix(item.group)) and (sizes.get(w, [0, 0])[1] + weight[i] <= CHUNK_CHARS
                                            or sizes.get(w, [0, 0])[0] <= 1)}
        last: dict[str, str] = {}  # group prefix -> its last chunk, where items with no place yet go while it has room
        for row_key in sorted(sizes):
            last[row_key.rsplit("|", 1)[0] + "|"] = row_key
        wanted = {where[i] for i in set(put) | drop if i in where}
        wanted |= {last[p] for i in set(put) - stay if (p := _group_prefix(put[i].group)) in last}
        loaded = self._chunks(list_name, wanted)
        chunks = {k: unpack(e, "items") for k, e in loaded.items()}
        before = {k: dict(content) for k, content in chunks.items()}
        groups = {k: str(e.get("grp") or "") for k, e in loaded.items()}
        for item_id in drop | set(put):  # out of where they were (an item staying is put back below)
            if (old := where.get(item_id)) is not None and old in chunks:
                chunks[old].pop(item_id, None)
                sizes[old] = [len(chunks[old]), sum(units(packed_json(v)) for v in chunks[old].values())]
        placed: dict[str, str] = {}
        for item_id, item in put.items():
            prefix = _group_prefix(item.group)
            row_key = where[item_id] if item_id in stay else last.get(prefix)
            if row_key is None or row_key not in chunks or (item_id not in stay and (
                    sizes[row_key][0] >= GROUP_ITEMS or sizes[row_key][1] + weight[item_id] > CHUNK_CHARS)):
                number = int(row_key.rsplit("|", 1)[1]) + 1 if row_key is not None else 0
                row_key = last[prefix] = f"{prefix}{number:05d}"
                chunks[row_key], sizes[row_key], groups[row_key] = {}, [0, 0], item.group or ""
            chunks[row_key][item_id] = texts[item_id]
            sizes[row_key] = [sizes[row_key][0] + 1, sizes[row_key][1] + weight[item_id]]
            placed[item_id] = row_key
        operations: list[tuple[Any, ...]] = []
        for row_key, content in chunks.items():
            entity = loaded.get(row_key)
            if entity is not None and content == before[row_key]:
                continue  # as it was (most often, what another run has just written): not written again
            if not content:
                if entity is not None:
                    operations.append(("delete", entity, self._if(entity)))
                continue
            new = {"PartitionKey": list_name, "RowKey": row_key, "grp": groups[row_key], "n": len(content),
                   "chars": sum(units(packed_json(v)) for v in content.values())} | pack("items", content)
            operations.append(("update", new, self._if(entity) | {"mode": _replace()}) if entity is not None
                              else ("create", new))
        moved = bool(operations)  # then every index bucket of the items goes in too, as read or changed: a write
        # decided from where the index said the items were is refused if another writer changed that meanwhile
        for bucket, (mapping, entity) in index.items():  # and the index
            changed = {i: loc for i, loc in mapping.items() if i not in drop}
            changed |= {i: [row_key, put[i].etag] for i, row_key in placed.items() if _bucket(i) == bucket}
            if changed == mapping and (entity is None or not moved):
                continue
            new = {"PartitionKey": list_name, "RowKey": bucket} | pack("idx", changed)
            if entity is None:
                operations.append(("create", new))
            elif changed:
                operations.append(("update", new, self._if(entity) | {"mode": _replace()}))
            else:
                operations.append(("delete", entity, self._if(entity)))
        transact(self.table, operations)

    @staticmethod
    def _if(entity: Any) -> dict[str, Any]:
        from azure.core import MatchConditions

        return {"etag": entity.metadata["etag"], "match_condition": MatchConditions.IfNotModified}


def _replace() -> Any:
    from azure.data.tables import UpdateMode

    return UpdateMode.REPLACE
