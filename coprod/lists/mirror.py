"""Keeping a SharePoint list and its mirror in the state store in step: reading changes, writing columns back.

Every reconciler does the same three things with its lists, so they live here:

- `read_changes`: what changed in several lists since their saved delta
  links, the first page of each in one `$batch` (a quiet run is one request).
  An item at the eTag the mirror holds is told apart without its fields, and
  after a write bigger than a page the pages carry ids and eTags alone
  (`relink`): fields are then read only for the items the mirror does not hold. A whole read drops from
  the mirror only what Graph confirms is gone, never what another run mirrored while it went on;
- `ListMirror.apply`: put those changes into the mirror, telling people's
  changes from the echo of our own last writes (delta returns those too). The
  mirror holds the eTag each write led to: the one the answer carried, or,
  since Graph's PATCH of fields need not carry one, the next version of the
  eTag the write was conditional on (`next_etag`: `"{GUID},7"` becomes
  `"{GUID},8"`). An echo is told by that eTag alone (`etag_key` evens out
  quotes, braces and case), reading no columns; an item whose eTag is not the
  one foreseen but whose columns are what we wrote is an echo too;
- `ListMirror.write`: write columns back in `$batch`es, each conditional on
  the eTag we read; an item changed meanwhile (412) is read again, never
  overwritten, and handed back to be decided again. An item whose eTag we do
  not know (our last write's answer had none) is read again first: unchanged
  but for our write, it is written on its fresh eTag; changed by someone, it
  is handed back to be decided again. A write is never unconditional; two updates of one item are one.

A delta link is saved (`save_link`) only by the caller, after it has
processed the changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from coprod.lists.feed import read_changes, reads_light, relink, save_link
from coprod.permissions import explain
from coprod.store import MirrorItem, StateStore
from coprod.words import count
from graph_client import (
    SYSTEM_FIELDS,
    DeltaResult,
    FieldUpdate,
    GraphError,
    ListItem,
    SharePointLists,
    etag_key,
    next_etag,
)

__all__ = ["WRITE_REFUSED", "Applied", "ListMirror", "Written", "feed_line", "mirror_item", "read_changes",
           "reads_light", "relink", "same_columns", "save_link"]

log = logging.getLogger("coprod.lists.mirror")
Grouper = Callable[[dict[str, Any]], str | None]
WRITE_CHUNK = 1000  # updates written, then mirrored, at a time
WRITE_REFUSED = "lists.write-refused"  # a checkpoint: why the lists refuse our writes (plain words), "" once they don't


def mirror_item(list_name: str, item: ListItem, group: str | None = None) -> MirrorItem:
    created = item.created_date_time.isoformat() if item.created_date_time else ""
    return MirrorItem(list_name, item.id, item.etag, created,
                      {k: v for k, v in item.fields.items() if not k.startswith("@")}, group)


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    """The list's own columns with a value (an empty column and a missing one are the same to SharePoint)."""
    return {k: v for k, v in fields.items()
            if k not in SYSTEM_FIELDS and not k.startswith(("@", "_")) and "@" not in k and v not in (None, "", [])}


def _columns_kept(fields: dict[str, Any]) -> dict[str, Any]:
    """What the mirror keeps of a write's answer: the columns, as a read keeps them (no annotations, no
    SharePoint bookkeeping; `_x...` is a column's encoded name, kept)."""
    return {k: v for k, v in fields.items() if not k.startswith("@") and k not in SYSTEM_FIELDS
            and not (k.startswith("_") and not k.startswith("_x"))}


def _written_etag(answered: Any, written_on: str | None) -> str | None:
    """The eTag an item is at after our write on `written_on`: the answer's, kept as the change feed will give it.

    Graph's answer to a PATCH of fields need not carry one: then it is the next version (`next_etag`; None: read
    again before the next write). When it does, it is written `guid,N` where the change feed writes `"{GUID},N"`
    (`etag_key`): the next version of the eTag we wrote on, when that is the same version, is kept instead, so
    the echo of thousands of writes is told by comparing text, with nothing to even out."""
    foreseen = next_etag(written_on)
    if not isinstance(answered, str) or not answered:
        return foreseen
    return foreseen if foreseen and etag_key(foreseen) == etag_key(answered) else answered


def same_columns(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two readings of an item hold the same values in the list's columns (system fields aside)."""
    return _columns(a) == _columns(b)


@dataclass
class Applied:
    """People's changes to a list, as the mirror saw them."""

    changed: list[tuple[MirrorItem | None, MirrorItem]] = field(default_factory=list)  # (before, after)
    deleted: list[MirrorItem] = field(default_factory=list)  # as they were before
    own_writes: int = 0
    full: bool = False
    seen: int = 0  # items the change feed held

    @property
    def count(self) -> int:
        return len(self.changed) + len(self.deleted)


def feed_line(name: str, delta: DeltaResult, applied: Applied) -> str:
    """A progress line on what a list's change feed held, agreeing with the run's summary: our own writes coming
    back are told apart from what people changed."""
    seen = applied.seen
    if applied.full:
        return f"{name}: read the whole list ({count(seen, 'row')})"
    if not seen:
        return f"{name}: no changes in the list"
    unchanged = seen - applied.count - applied.own_writes
    parts = [f"{applied.count} new, changed or removed" if applied.count else "",
             f"{applied.own_writes} made by the service itself" if applied.own_writes else "",
             f"{unchanged} unchanged" if unchanged > 0 else ""]
    return f"{name}: {count(seen, 'change')} since the last run: " + ", ".join(p for p in parts if p)


@dataclass
class Written:
    written: int = 0
    conflicts: int = 0  # answered 412 (or 409 resourceModified): someone changed the item since we read it
    conflicted: set[str] = field(default_factory=set)  # changed or deleted meanwhile: read again, decide again
    failed: set[str] = field(default_factory=set)  # Graph refused or failed: left for the next run


class ListMirror:
    """One list's mirror. `group` files each item under a key (a registration's session) for quick reading.

    With `staged`, what a run reads and writes is held back (`get`, `items` and `groups` see it) until the run
    has acted on it: `flush`, which the caller makes once the run is done, just before saving the delta link,
    stores it all in one put. So a run killed part way leaves the mirror as it was, and the next run reads those
    changes again and decides them again, finding their hand-offs recorded and their columns written (stored
    early, they would come back at the eTag the mirror holds and pass for nothing new). Each item is also
    stored once a run, not once as read and again as written.
    """

    def __init__(self, store: StateStore, list_name: str, group: Grouper | None = None, *,
                 staged: bool = False) -> None:
        self.store = store
        self.name = list_name
        self.group = group or (lambda fields: None)
        self.staged = staged
        self._held: dict[str, MirrorItem] = {}  # read this run, not yet stored
        self._held_groups: dict[str | None, dict[str, MirrorItem]] = {}

    def item(self, item: ListItem) -> MirrorItem:
        return mirror_item(self.name, item, self.group(item.fields))

    def get(self, item_id: str) -> MirrorItem | None:
        return self._held.get(item_id) or self.store.mirror.get(self.name, item_id)

    def many(self, item_ids: Iterable[str]) -> dict[str, MirrorItem]:
        """Several items by id, as `get` has each (the ones not mirrored are left out)."""
        found = {i: self._held[i] for i in item_ids if i in self._held}
        rest = [i for i in item_ids if i not in found]
        return found | (self.store.mirror.many(self.name, rest) if rest else {})

    def items(self, group: str | None = None) -> list[MirrorItem]:
        stored = self.store.mirror.items(self.name, group)
        if not self._held:
            return stored
        held = self._held if group is None else self._held_groups.get(group, {})
        return [i for i in stored if i.item_id not in self._held] + list(held.values())

    def groups(self) -> set[str]:
        """The groups the mirror files items under (with what is held)."""
        return self.store.mirror.groups(self.name) | {g for g in self._held_groups if g}

    def put(self, items: Iterable[MirrorItem]) -> None:
        """Store items as they now are (what is held for them is dropped)."""
        items = list(items)
        self._release(i.item_id for i in items)
        self.store.mirror.put(items)

    def hold(self, items: Iterable[MirrorItem]) -> None:
        """Items as read this run: held when staged (see the class), else stored."""
        if not self.staged:
            self.put(items)
            return
        for item in items:
            self._release([item.item_id])
            self._held[item.item_id] = item
            self._held_groups.setdefault(item.group, {})[item.item_id] = item

    def delete(self, item_ids: Iterable[str]) -> None:
        item_ids = list(item_ids)
        self._release(item_ids)
        self.store.mirror.delete(self.name, item_ids)

    def flush(self) -> None:
        """Store what is held: the run has acted on it."""
        self.store.mirror.put(list(self._held.values()))
        self.reset()

    def reset(self) -> None:
        """Forget what is held, unstored (a new run reads it again)."""
        self._held, self._held_groups = {}, {}

    def _release(self, item_ids: Iterable[str]) -> None:
        for item_id in item_ids:
            old = self._held.pop(item_id, None)
            if old is not None:
                self._held_groups[old.group].pop(item_id, None)

    def apply(self, delta: DeltaResult) -> Applied:
        """Put a delta's changes into the mirror, and drop what it says is deleted (after a whole read, what
        `read_changes` found gone: never an item merely missing from the read, which another run may have added
        and mirrored meanwhile).

        The echo of our own writes is told apart cheaply: first by eTag alone (the mirror holds the eTag each
        write led to; `read_changes` compares them and reads no fields for those, `delta.known`); only the rest
        are read whole, and one whose columns are what the mirror holds is an echo too (its eTag is learned).
        The changes taken in are taken out of `delta.changed`."""
        applied = Applied(full=delta.full, seen=len(delta.changed) + len(delta.known) + len(delta.deleted))
        applied.own_writes = len(delta.known)  # (`read_changes` has told these by eTag, reading no fields for them)
        items, rest = [], list(delta.changed)
        known = self.store.mirror.many(self.name, rest)  # one read for the page's others, not one an item
        for item_id in rest:  # (each change let go once taken in: memory holds one copy of a big read, not two)
            item, old = delta.changed.pop(item_id), known.get(item_id)
            if not delta.full and old is not None and same_columns(old.fields, item.fields):
                applied.own_writes += 1  # what we wrote, at an eTag we could not foresee: learn it
                items.append(self.item(item))
                continue
            new = self.item(item)
            applied.changed.append((old, new))
            items.append(new)
        gone = {i: self._held[i] for i in delta.deleted if i in self._held}
        gone |= self.store.mirror.many(self.name, ids) if (ids := [i for i in delta.deleted if i not in gone]) else {}
        applied.deleted = [gone[i] for i in sorted(gone)]
        self.delete(delta.deleted)
        self.hold(items)
        return applied

    def write(self, lists: SharePointLists, updates: list[FieldUpdate],
              progress: Callable[[str], None] | None = None, known: dict[str, MirrorItem] | None = None) -> Written:
        """Write columns back in `$batch`es, each conditional on its eTag; the mirror follows what was written.
        `known`: the mirrored items the updates were decided from, when the caller has them (saves reading them
        from the store again); each is let go from it once used, as the item's new state takes its place."""
        outcome = Written()
        if not updates:
            return outcome
        updates = self._with_etags(lists, self._one_each(updates, outcome), outcome)
        if progress and updates:
            progress(f"{self.name}: writing {count(len(updates), 'row')}")
        wrote = False
        for start in range(0, len(updates), WRITE_CHUNK):  # memory bounded by a chunk, not by the list
            wrote |= self._write_chunk(lists, updates[start:start + WRITE_CHUNK], outcome, known or {})
        if wrote and self.store.checkpoints.get(WRITE_REFUSED):
            self.store.checkpoints.set(WRITE_REFUSED, "")  # writes work again
        try:  # read again in `$batch`es, and mirrored in one write (another run may be writing the same rows)
            fresh = lists.read_items(self.name, sorted(outcome.conflicted), label=self.name)
        except GraphError as error:  # Graph failing: the next run sees them
            log.warning("%s", error)
            fresh = {}
        self.hold(self.item(item) for item in fresh.values() if item is not None)  # to be decided again
        return outcome

    @staticmethod
    def _one_each(updates: list[FieldUpdate], outcome: Written) -> list[FieldUpdate]:
        """One update an item (a `$batch` holds each id once). Several decided from one reading (one eTag) are
        one, their columns combined (the later's value for a column both set); decided from different readings,
        one is stale: none is written, and the item is read again and decided again, as after a 412."""
        merged: dict[str, FieldUpdate] = {}
        for update in updates:
            first = merged.get(update.item_id)
            if first is None:
                merged[update.item_id] = update
            elif (first.etag and etag_key(first.etag)) == (update.etag and etag_key(update.etag)):
                merged[update.item_id] = FieldUpdate(update.item_id, first.fields | update.fields, first.etag)
            else:
                outcome.conflicts += 1
                outcome.conflicted.add(update.item_id)
        return [u for u in merged.values() if u.item_id not in outcome.conflicted]

    def _write_chunk(self, lists: SharePointLists, updates: list[FieldUpdate], outcome: Written,
                     given: dict[str, MirrorItem]) -> bool:
        """One chunk of `write`: its `$batch`es, then the mirror; whether anything was written."""
        answers = lists.update_fields(self.name, updates, label=self.name)
        written = []
        known = {u.item_id: given.pop(u.item_id) for u in updates if u.item_id in given}  # (let go once written)
        known |= {u.item_id: self._held[u.item_id] for u in updates
                  if u.item_id not in known and u.item_id in self._held}
        known |= self.store.mirror.many(self.name, [u.item_id for u in updates if u.item_id not in known])
        for update in updates:
            answer = answers[update.item_id]
            old = known.get(update.item_id)
            if answer.ok and isinstance(answer.body, dict) and old is not None:
                # what the item now holds: what it held, what we wrote, and whatever the answer shows
                fields = {**old.fields, **update.fields, **_columns_kept(answer.body)}
                etag = _written_etag(answer.body.get("@odata.etag"), update.etag)
                written.append(MirrorItem(self.name, update.item_id, etag, old.created, fields, self.group(fields)))
                outcome.written += 1
            elif answer.modified_meanwhile:  # 412, or 409 resourceModified
                outcome.conflicts += 1
                outcome.conflicted.add(update.item_id)
            elif answer.status == 404:  # deleted meanwhile
                self.delete([update.item_id])
                outcome.conflicted.add(update.item_id)
            else:
                outcome.failed.add(update.item_id)
                try:
                    lists.client.raise_for_entry(f"update {self.name} items", answer)
                except GraphError as error:
                    log.warning("%s", error)
                    refused = explain("lists-write", error)
                    if refused:
                        self.store.checkpoints.set(WRITE_REFUSED, refused)
        self.hold(written)  # (staged: stored with the rest of the run's items, in one put)
        return bool(written)

    def _with_etags(self, lists: SharePointLists, updates: list[FieldUpdate], outcome: Written) -> list[FieldUpdate]:
        """Give every update an eTag, reading again the items whose eTag we do not know (in `$batch`es).

        An item that someone changed since we last saw it is not written: it goes in `outcome.conflicted`
        with its fresh state in the mirror, to be decided again, as after a 412.
        """
        unknown = [u.item_id for u in updates if not u.etag]
        if not unknown:
            return updates
        try:
            fresh = lists.read_items(self.name, unknown, label=self.name)
        except GraphError as error:  # cannot check them now: leave them for the next run
            log.warning("%s", error)
            outcome.failed.update(unknown)
            return [u for u in updates if u.etag]
        ready, seen, gone = [], [], []
        for update in updates:
            if update.etag:
                ready.append(update)
                continue
            item, old = fresh.get(update.item_id), self.get(update.item_id)
            if item is None:  # deleted meanwhile
                gone.append(update.item_id)
                outcome.conflicted.add(update.item_id)
            elif old is not None and item.etag and same_columns(old.fields, item.fields):
                ready.append(FieldUpdate(update.item_id, update.fields, item.etag))
                seen.append(MirrorItem(self.name, old.item_id, item.etag, old.created, old.fields, old.group))
            else:  # changed since we last saw it (or SharePoint gave no eTag to write on)
                seen.append(self.item(item))
                outcome.conflicts += 1
                outcome.conflicted.add(update.item_id)
        self.delete(gone)
        self.hold(seen)  # (in one write each, not one an item)
        return ready
