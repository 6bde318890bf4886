"""The ledger's packs and index on Table Storage (see ledger.py's docstring): reading them, and the one way they are
written (`Packs.write`)."""

from __future__ import annotations

import functools
import json
import random
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coprod.store.azure._batch import send, together, wire_size
from coprod.store.azure._entities import BATCH, BATCH_BYTES, after, escape_key, pack, packed_json, unpack
from coprod.store.azure._table import read_entity

if TYPE_CHECKING:
    from azure.data.tables import TableClient

__all__ = ["INDEX", "PACKS", "PACK_ITEMS", "Packs", "Row", "TooBig", "bucket_of", "packs_of", "status_count"]

PARTITION = "ledger"
PACKS, INDEX = "%p|", "%k|"
SPAN = 256  # numbers a numbered index bucket spans (registrations 0-255, 256-511, ...)
HASHED = 64  # index buckets for the keys of one prefix that have an address in them, or no number
PACK_ITEMS = 100  # entries a new entry may join in a pack
PACK_CHARS = 200_000  # and characters of escaped JSON (room left for entries to grow as they are settled)
HARD_CHARS = 420_000  # a pack past this sends its grown entry to a pack of its own: under pack()'s 450,000 UTF-16
# units, and under 1 MiB as Azurite counts an entity (its JSON on the wire, where an emoji is 12 bytes)
ROUNDS = 20  # a write that lost a race is done again from a fresh reading, this many times at most
APART = 0.05  # seconds: after a lost race, a random wait of up to this, doubled each round up to a second
Row = list[Any]  # an entry in its pack: [status, created, updated, payload]
_NUMBER = re.compile(r"[0-9]+")


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


@functools.lru_cache(maxsize=1 << 15)  # (a key's bucket is asked for several times as it is written)
def bucket_of(key: str) -> str:
    """A key's index bucket. Keys made together share one, so a first sync writes a few index entities, not one
    a key, and no bucket grows without end:
    - keys alike but for their numbers, the numbers close: "message:confirmed:registration-7:session-3" with the
      other confirmations of registrations 0 to 255 (a bucket "%k|<hash of the key's shape>|<number // SPAN>...");
    - any other key (an address in it, a digest, or no number): one of HASHED buckets for the text before its
      first colon ("guest:", "subscriber:"), each holding a share of those keys (people, not bookings)."""
    numbers = _NUMBER.findall(key)
    if numbers and "@" not in key and len(numbers) <= 4 and all(len(n) <= 12 for n in numbers):
        return f"{INDEX}{_crc(_NUMBER.sub('#', key)):08x}|" + ".".join(f"{int(n) // SPAN:010d}" for n in numbers)
    return f"{INDEX}{_crc(key.split(':', 1)[0]):08x}|h{_crc(key) % HASHED:02d}"


@functools.lru_cache(maxsize=256)
def packs_of(kind: str) -> str:
    """The RowKey prefix of a kind's packs."""
    return PACKS + escape_key(kind).replace("|", "%7C") + "|"


def weight(key: str, row: Row) -> int:
    """What an entry adds to its pack, in characters of escaped JSON (`\\u` escapes: never fewer than its
    UTF-16 units, and what Azurite counts), give or take a character."""
    return len(json.dumps([key, row], separators=(",", ":")))


def status_count(status: str) -> str:
    """The property counting a pack's entries with this status (a name Table Storage takes, whatever the status)."""
    return "s" + status.encode("utf-8", "surrogatepass").hex()


@dataclass
class _Pack:
    row_key: str
    kind: str
    items: dict[str, Row]
    etag: str | None  # None: not written yet
    chars: int = 0  # the escaped JSON's size (`weight`), as last written, give or take the changes since
    changed: bool = False

    def copy(self) -> _Pack:
        return _Pack(self.row_key, self.kind, dict(self.items), self.etag, self.chars)

    def put(self, key: str, row: Row | None, size: int | None = None) -> None:
        """`row` (of `size`, if known) in; None: `key` out. Its size counted."""
        old = self.items.pop(key, None)
        if old is not None:
            self.chars -= weight(key, old)
        if row is not None:
            self.items[key] = row
            self.chars += weight(key, row) if size is None else size
        self.changed = True


@dataclass
class _Bucket:
    row_key: str
    keys: dict[str, str]  # key -> its pack's RowKey
    etag: str | None
    changed: bool = False

    def copy(self) -> _Bucket:
        return _Bucket(self.row_key, dict(self.keys), self.etag)


@dataclass
class _Plan:
    """What one transaction writes: packs and index buckets, as changed."""

    packs: dict[str, _Pack] = field(default_factory=dict)
    buckets: dict[str, _Bucket] = field(default_factory=dict)
    extra: list[tuple[Any, ...]] = field(default_factory=list)  # other operations in the same transaction
    open: dict[str, str | None] = field(default_factory=dict)  # a kind's packs' prefix -> a pack with room
    top: dict[str, int] = field(default_factory=dict)  # and the highest number its packs have


class Packs:
    """The ledger's packs and index buckets on one table, with what this object last read or wrote of them."""

    def __init__(self, table: TableClient) -> None:
        self.table = table
        self._seen: dict[str, _Pack | _Bucket] = {}  # RowKey -> as last read or written here
        self._where: dict[str, str] = {}  # key -> the RowKey of the pack it was last seen in
        self._lock = threading.RLock()  # one write at a time from this object: `_seen` stays one writer's view
        self._rng = random.Random()  # noqa: S311 - when to go again after a lost race, not cryptography

    # --- reading ----------------------------------------------------------------------------------------------
    def _read(self, row_key: str) -> Any | None:
        return read_entity(self.table, PARTITION, row_key)

    def _pack(self, entity: Any) -> _Pack:
        found = _Pack(str(entity["RowKey"]), str(entity.get("knd", "")), unpack(entity, "items"),
                      entity.metadata["etag"], int(entity.get("chars", 0)))
        self._remember(found)
        return found

    def _bucket(self, entity: Any | None, row_key: str) -> _Bucket:
        found = _Bucket(row_key, unpack(entity, "idx"), entity.metadata["etag"]) if entity is not None else _Bucket(
            row_key, {}, None)
        self._remember(found)
        return found

    def _remember(self, seen: _Pack | _Bucket) -> None:
        if len(self._seen) > 2_000:  # a long-lived instance: start again rather than keep everything
            self._seen.clear()
            self._where.clear()
        self._seen[seen.row_key] = seen
        if isinstance(seen, _Pack):
            self._where.update(dict.fromkeys(seen.items, seen.row_key))

    def query(self, low: str, status: str | None = None) -> list[_Pack]:
        query = "PartitionKey eq @p and RowKey ge @low and RowKey lt @high"
        if status is not None:
            query += f" and {status_count(status)} gt 0"  # (a name of hex digits: nothing of the caller's reaches
            # the query's text; the values are parameters). A pack without the property fails the comparison and
            # is not sent: "Querying tables and entities" (learn.microsoft.com/rest/api/storageservices/
            # querying-tables-and-entities: a constant of the property's type, here Int32) and the OData $filter
            # rules ([MS-ODATA] 2.2.3.6.1.4); tests/contract/test_ledger_packs.py holds Azurite to it
        entities = self.table.query_entities(query, parameters={"p": PARTITION, "low": low, "high": after(low)})
        return [self._pack(e) for e in entities]

    def find(self, key: str) -> tuple[str, Row] | None:
        """A key's kind and entry, read now (from the pack it was last seen in, else by its index bucket)."""
        if (where := self._where.get(key)) is not None and (entity := self._read(where)) is not None:
            found = self._pack(entity)
            if key in found.items:
                return found.kind, found.items[key]
        where = self._bucket(self._read(bucket_of(key)), bucket_of(key)).keys.get(key)
        if where is None or (entity := self._read(where)) is None:
            return None
        found = self._pack(entity)
        return (found.kind, found.items[key]) if key in found.items else None

    # --- the one way anything is written ----------------------------------------------------------------------
    def write(self, keys: list[str], decide: Callable[[dict[str, Row | None]], dict[str, Any]],
              extra: Callable[[], list[tuple[Any, ...]]] | None = None, kinds: Iterable[str] = ()) -> set[str]:
        """Read the entries of `keys` (None: absent), ask `decide` what to change ({key: (kind or None, row)} to
        add or change, {key: None} to delete), and write that in one transaction conditional on what was read,
        with `extra()`'s operations. A transaction refused because something changed meanwhile is done again
        from a fresh reading. Returns the keys changed. (`kinds`: of the keys that may be added, so a pack with
        room for them is looked for while their index buckets are read.)"""
        from azure.data.tables import TableTransactionError

        for round_ in range(ROUNDS):
            try:
                with self._lock:
                    return self._write_once(keys, decide, fresh=round_ > 0, extra=extra, kinds=set(kinds))
            except TableTransactionError:
                if round_ == ROUNDS - 1:
                    raise
                time.sleep(self._rng.uniform(0, min(1.0, APART * 2**round_)))  # writers that collided go apart
        raise AssertionError("unreachable")

    def _write_once(self, keys: list[str], decide: Callable[[dict[str, Row | None]], dict[str, Any]], *,
                    fresh: bool, extra: Callable[[], list[tuple[Any, ...]]] | None, kinds: set[str]) -> set[str]:
        plan = _Plan(extra=extra() if extra is not None else [])
        found: dict[str, _Pack | None] = {}
        unknown = []
        for key in keys:  # first from the packs this object has seen (a write on them is conditional)
            seen = None if fresh else self._seen.get(self._where.get(key, ""))
            if isinstance(seen, _Pack) and key in seen.items:
                found[key] = plan.packs.setdefault(seen.row_key, seen.copy())
            else:
                unknown.append(key)
        if unknown:  # then from the index, read now (and meanwhile, a pack with room for what may be added)
            buckets: list[_Bucket] = []
            together(lambda job: job(), [lambda: buckets.extend(self._read_buckets({bucket_of(k) for k in unknown})),
                                         *(self._opener(plan, packs_of(kind), fresh) for kind in sorted(kinds))])
            for b in buckets:
                plan.buckets[b.row_key] = b.copy()
            homes = {k: plan.buckets[bucket_of(k)].keys.get(k) for k in unknown}
            for p in self._read_packs({h for h in homes.values() if h is not None and h not in plan.packs}):
                plan.packs[p.row_key] = p.copy()
            for key, home in homes.items():
                pack_ = plan.packs.get(home) if home is not None else None
                found[key] = pack_ if pack_ is not None and key in pack_.items else None
        changes = decide({k: (p.items[k] if p is not None else None) for k, p in found.items()})
        if not fresh and any(k not in changes for k in found.keys() - set(unknown)):
            # something left as it was, as this object last saw it: not written, so no condition would tell
            # if that is out of date (an `add` of a key since deleted); decided again from a fresh reading
            return self._write_once(keys, decide, fresh=True, extra=extra, kinds=kinds)
        if not changes and not plan.extra:
            return set()
        for key, change in changes.items():
            self._apply(plan, key, found[key], change, fresh)
        self._send(plan)
        return set(changes)

    def _read_buckets(self, row_keys: set[str]) -> list[_Bucket]:
        """Index buckets, read now: a few by point reads, a few at once; many of one shape (one hash) by one
        range read, from the first to the last wanted."""
        families: dict[str, list[str]] = {}
        for row_key in sorted(row_keys):
            families.setdefault(row_key.rsplit("|", 1)[0], []).append(row_key)
        found: dict[str, Any] = {}
        single = [r for rows in families.values() if len(rows) <= 8 for r in rows]
        found |= dict(zip(single, together(self._read, single), strict=True))
        for rows in (rows for rows in families.values() if len(rows) > 8):
            found |= {r: None for r in rows} | {e["RowKey"]: e for e in self.table.query_entities(
                "PartitionKey eq @p and RowKey ge @low and RowKey le @high",
                parameters={"p": PARTITION, "low": rows[0], "high": rows[-1]}) if e["RowKey"] in row_keys}
        return [self._bucket(found[r], r) for r in sorted(row_keys)]

    def _read_packs(self, row_keys: set[str]) -> list[_Pack]:
        return [self._pack(e) for r in sorted(row_keys) if (e := self._read(r)) is not None]

    def _apply(self, plan: _Plan, key: str, home: _Pack | None, change: Any, fresh: bool) -> None:
        """One key's change made in `plan`'s packs and buckets (copies of what was read, or new)."""
        if change is None:  # deleted: out of its pack and its index bucket
            if home is not None:
                home.put(key, None)
                self._bucket_for(plan, key).keys.pop(key, None)
                self._bucket_for(plan, key).changed = True
            return
        kind, row = change
        if home is not None:
            home.put(key, row)
            if home.chars <= HARD_CHARS or len(home.items) == 1:
                return
            home.put(key, None)  # grown too big for its pack: to a pack of its own
            kind = home.kind
        size = weight(key, row)
        target = self._room_for(plan, str(kind), size, fresh, alone=home is not None)
        target.put(key, row, size)
        bucket = self._bucket_for(plan, key)
        bucket.keys[key] = target.row_key
        bucket.changed = True

    def _bucket_for(self, plan: _Plan, key: str) -> _Bucket:
        row_key = bucket_of(key)
        if row_key not in plan.buckets:
            plan.buckets[row_key] = self._read_buckets({row_key})[0].copy()
        return plan.buckets[row_key]

    def _room_for(self, plan: _Plan, kind: str, size: int, fresh: bool, *, alone: bool) -> _Pack:
        """A pack of the kind with room for a new entry of `size` (`alone`: none, it needs one of its own), or a
        new pack, numbered after every other."""
        prefix = packs_of(kind)
        if not alone:
            if prefix not in plan.open:
                plan.open[prefix] = self._open_pack(plan, prefix, fresh)
            candidate = plan.packs.get(plan.open[prefix] or "")
            if candidate is not None and len(candidate.items) < PACK_ITEMS and candidate.chars + size <= PACK_CHARS:
                return candidate
        if prefix not in plan.top:  # the kind's packs, by their keys alone (once in 100 new entries or so)
            rows = self.table.query_entities("PartitionKey eq @p and RowKey ge @low and RowKey lt @high",
                                             parameters={"p": PARTITION, "low": prefix, "high": after(prefix)},
                                             select=["RowKey"])
            plan.top[prefix] = max((int(str(e["RowKey"]).rsplit("|", 1)[1]) for e in rows), default=-1)
        plan.top[prefix] = max([plan.top[prefix], *(int(r.rsplit("|", 1)[1]) for r in plan.packs
                                                    if r.startswith(prefix))]) + 1
        new = _Pack(f"{prefix}{plan.top[prefix]:06d}", kind, {}, None)
        plan.packs[new.row_key] = new
        if not alone:
            plan.open[prefix] = new.row_key
        return new

    def _opener(self, plan: _Plan, prefix: str, fresh: bool) -> Callable[[], None]:
        return lambda: plan.open.update({prefix: self._open_pack(plan, prefix, fresh)})

    def _open_pack(self, plan: _Plan, prefix: str, fresh: bool) -> str | None:
        """The RowKey of a pack of the kind with room, in `plan`: one this object has seen lately, else the first
        Table Storage finds (one request: filtered on its counts, and a page of one)."""
        seen = [] if fresh else [s for s in list(self._seen.values()) if isinstance(s, _Pack) and s.row_key.startswith(
            prefix) and len(s.items) < PACK_ITEMS and s.chars < PACK_CHARS]
        if seen:
            found = max(seen, key=lambda s: s.row_key)
        else:
            entity = next(iter(self.table.query_entities(
                "PartitionKey eq @p and RowKey ge @low and RowKey lt @high and n lt @items and chars lt @chars",
                parameters={"p": PARTITION, "low": prefix, "high": after(prefix), "items": PACK_ITEMS,
                            "chars": PACK_CHARS}, results_per_page=1)), None)
            if entity is None:
                return None
            found = self._pack(entity)
        plan.packs.setdefault(found.row_key, found.copy())
        return found.row_key

    def _send(self, plan: _Plan) -> None:
        """The plan's changed entities in one transaction, each conditional on what it was read as."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        writes: list[tuple[_Pack | _Bucket, tuple[Any, ...]]] = []
        every: list[_Pack | _Bucket] = [*plan.packs.values(), *plan.buckets.values()]
        for item in every:
            if not item.changed:
                continue
            if isinstance(item, _Pack):
                content: dict[str, Any] = item.items
                text = packed_json(content)
                item.chars = len(json.dumps(content, separators=(",", ":")))
                entity = {"PartitionKey": PARTITION, "RowKey": item.row_key, "knd": item.kind,
                          "n": len(content), "chars": item.chars} | self._counts(item) | pack("items", content, text)
            else:
                content = item.keys
                entity = {"PartitionKey": PARTITION, "RowKey": item.row_key} | pack("idx", content)
            condition = {"etag": item.etag, "match_condition": MatchConditions.IfNotModified}
            if item.etag is None:
                if content:
                    writes.append((item, ("create", entity)))
            elif content:
                writes.append((item, ("update", entity, condition | {"mode": UpdateMode.REPLACE})))
            else:
                writes.append((item, ("delete", entity, condition)))
        operations = [*plan.extra, *(op for _, op in writes)]
        if len(operations) > BATCH or wire_size(operations) > BATCH_BYTES:
            raise TooBig("one change to the ledger is more than one transaction holds")
        etags = send(self.table, operations)[len(plan.extra):]
        for (item, operation), etag in zip(writes, etags, strict=True):
            item.changed = False
            if operation[0] == "delete" or etag is None:
                self._seen.pop(item.row_key, None)
            else:
                item.etag = etag
                self._remember(item)

    @staticmethod
    def _counts(item: _Pack) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in item.items.values():
            counts[status_count(str(row[0]))] = counts.get(status_count(str(row[0])), 0) + 1
        return counts


class TooBig(ValueError):
    """A change to the ledger past one transaction's limits (100 entities, 4 MiB)."""
