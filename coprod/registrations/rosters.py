"""A session's places as the last run left them, so a run decides a session from what changed, not from every booking.

Deciding a session in full parses every registration it has (`parse_registration`) and runs `allocate` over them:
a cancellation in a session of 1,000 costs 1,000 parses. Yet most of a session is settled: after a run, the people
holding places keep them (`allocate` never takes a place away), those waiting wait in their order, and a booking
that needs attention for its own fault needs it until it is changed. So each session's roster keeps, for each
registration that holds a place or waits behind another booking of the same person, what `allocate` needs of it
beyond its own fields: its status, its order and who it is (a keyed digest of its address: no address is kept).

An incremental run decides, of a session, only what can have moved (`Roster.plan`):
- the registrations changed this run (parsed);
- those of the same person as a changed one, before or after the change (a duplicate may now be the one that
  counts, or a new booking a duplicate of one held);
- the first waiting, as many as there are places not held by the rest (they may be given a place);
and counts the rest that hold places (`aside`, which `allocate` takes off the free places). `allocate` over these
decides them exactly as over the whole session: the rest is as the last run left it (see `plan`).

A session is decided in full, and its roster made again, whenever anything else may have moved: the session
itself changed (or its time is over, or it is a drop-in, or its places are unreadable), a cancel link, an email
failure, a write that failed or conflicted, a whole read of the lists, or no roster yet. A roster whose session
reads differently from when it was made (`fingerprint`), or that disagrees with what the mirror holds of a
registration it names, is not used.

Rosters are kept in the mirror (as items of `ROSTERS`, by session id), stored before the run's mirrored items
(`ListMirror.flush`): a run killed between the two leaves rosters newer than the mirror, and the next run reads
the same changes again, with its own writes among them (the mirror never learned their eTags), so every entry
that moved is decided again.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from coprod.lists.notes import Notes
from coprod.lists.places import Decision
from coprod.lists.records import Registration, Session, item_number, listed_status_of
from coprod.store import MirrorItem, StateStore

__all__ = ["MOST", "ROSTERS", "Roster", "Rosters", "fingerprint"]

ROSTERS = "Registrations~places"  # the mirror's name for the rosters (no SharePoint list name holds a ~)
MOST = 5000  # entries a roster keeps at most: a bigger session is decided in full each time (an entity holds 1 MiB)
VERSION = 2  # (one more when an entry, or how a person is told apart, changes: the rosters kept are then not used)
CODES = {"Confirmed": "C", "Waitlisted": "W", "NeedsAttention": "D"}  # D: waits behind the same person's booking
Entry = tuple[str, str, int, str]  # (status code, created, id as a number, digest of the person): sorts in order


def fingerprint(session: Session, scheme: str) -> str:
    """What of a session its places depend on, and how people are told apart: a roster made under another is
    not used."""
    return "|".join(str(part) for part in (VERSION, scheme, session.status, session.capacity, session.start,
                                           session.end, session.slot_minutes))


def incremental(session: Session | None, now_over: bool) -> bool:
    """Whether a session can be decided from its roster: an open group session with readable places and times,
    not over (then `allocate` keeps every booking as it is, or checks each new one's time)."""
    return (session is not None and session.status == "Open" and session.capacity is not None
            and not session.drop_in and session.start is not None and session.end is not None
            and session.end > session.start and not now_over)


@dataclass(frozen=True)
class Roster:
    fingerprint: str
    entries: dict[str, Entry]  # registration id -> entry

    def plan(self, session: Session, changed: Iterable[str], now: list[Registration],
             digest: Callable[[str], str]) -> tuple[set[str], int]:
        """Which unchanged registrations to decide with the changed ones (`now`: those in the session as they
        now are, parsed; `changed`: every id changed this run that was or is in it), and how many others hold
        a place (`aside`).

        Why the rest stays as it is: each was decided by the last run and is unchanged, as is the session, so it
        is still a valid booking; no two of them hold places for one person (`allocate` leaves one of each), and
        none shares a person with a changed one (those are decided). One confirmed keeps its place: places are
        never taken away. One waiting behind the same person's booking still does (that booking is unchanged
        and still counts). One waiting for a place stays waiting: the free places go in order, and the first of
        the waiting, as many as there can be free places (the capacity less those `aside`), are decided."""
        changed = set(changed)
        people = {self.entries[i][3] for i in changed if i in self.entries} | {digest(r.identity) for r in now}
        affected = {i for i, entry in self.entries.items() if entry[3] in people and i not in changed}
        out = changed | affected
        aside = self.held - sum(1 for i in out if i in self.entries and self.entries[i][0] == "C")
        free = session.capacity - aside if session.capacity else 0  # (0: no limit; then nobody waits)
        if free > 0:  # (a full session, the most common, reads no further)
            first = heapq.nsmallest(free, ((e[1], e[2], i) for i, e in self.entries.items()
                                           if e[0] == "W" and i not in out))
            affected |= {i for _, _, i in first}
        return affected, aside

    @functools.cached_property
    def held(self) -> int:
        """How many of the roster hold a place."""
        return sum(1 for entry in self.entries.values() if entry[0] == "C")

    def agrees(self, items: Iterable[MirrorItem], session_id: str) -> bool:
        """Whether the mirror holds these registrations as the roster says (in the session, with the status it
        names): a roster that does not agree is not used."""
        statuses = {code: status for status, code in CODES.items()}
        return all(item.group == session_id and item.item_id in self.entries
                   and statuses[self.entries[item.item_id][0]] == listed_status_of(item.fields) for item in items)

    def updated(self, changed: Iterable[str], decided: Iterable[tuple[str, Entry | None]]) -> Roster:
        """This roster with the changed and decided registrations' entries replaced by what was decided."""
        decided = list(decided)
        gone = {*changed, *(item_id for item_id, _ in decided)}
        entries = {i: e for i, e in self.entries.items() if i not in gone}
        return Roster(self.fingerprint, entries | {i: e for i, e in decided if e is not None})


def entry_of(reg: Registration, decision: Decision, digest: Callable[[str], str]) -> Entry | None:
    """What the roster keeps of a decided registration: one holding a place or waiting for one, or waiting
    behind the same person's booking (the one whose decision can change with others'); None for the rest."""
    if decision.kept:
        return None
    code = CODES.get(decision.status)
    if code is None or (code == "D" and decision.note != Notes.DUPLICATE):
        return None
    return code, *reg.order, digest(reg.identity)


class Rosters:
    """The rosters of a run: read from the store, changed as sessions are decided, stored by `save`."""

    def __init__(self, store: StateStore, digest: Callable[[str], str] | None) -> None:
        self.store = store
        self.scheme = "keyed" if digest is not None else "plain"
        self.digest = digest or (lambda identity: hashlib.sha256(identity.encode()).hexdigest()[:20])
        self._kept: dict[str, Roster | None] = {}
        self._read: dict[str, MirrorItem | None] = {}

    def read(self, session_ids: Iterable[str]) -> None:
        """Read the rosters of these sessions at once (one read of the store, not one a session), for `get`."""
        session_ids = [s for s in session_ids if s not in self._read]
        found = self.store.mirror.many(ROSTERS, session_ids) if session_ids else {}
        self._read |= {s: found.get(s) for s in session_ids}

    def get(self, session_id: str, session: Session) -> Roster | None:
        item = self._read[session_id] if session_id in self._read else self.store.mirror.get(ROSTERS, session_id)
        if item is None or item.fields.get("fingerprint") != fingerprint(session, self.scheme):
            return None
        return _decoded(item.fields)

    def empty(self, session: Session) -> Roster:
        return Roster(fingerprint(session, self.scheme), {})

    def keep(self, session_id: str, roster: Roster | None) -> None:
        """To be stored (None: the session's roster is dropped, and it is decided in full next time; so is one too
        big, or naming an id or a time with a comma, which `_encoded` cannot write)."""
        if roster is not None and (len(roster.entries) > MOST or any(
                "," in i or "," in e[1] for i, e in roster.entries.items())):
            roster = None
        self._kept[session_id] = roster

    def save(self) -> None:
        if keep := {s: r for s, r in self._kept.items() if r is not None}:
            self.store.mirror.put(MirrorItem(ROSTERS, s, None, "", _encoded(r), s)  # (each its own group)
                                  for s, r in keep.items())
        if drop := [s for s, r in self._kept.items() if r is None]:
            self.store.mirror.delete(ROSTERS, drop)
        self._kept, self._read = {}, {}

    def reset(self) -> None:
        self._kept, self._read = {}, {}


def _encoded(roster: Roster) -> dict[str, str]:
    """A roster as stored: each part of its entries one text, in the entries' order, joined by commas (a thousand
    entries are a few texts to read, not four thousand values); an entry's number is its id's (`item_number`)."""
    ids = list(roster.entries)
    entries = roster.entries.values()
    return {"fingerprint": roster.fingerprint, "ids": ",".join(ids), "codes": "".join(e[0] for e in entries),
            "created": ",".join(e[1] for e in entries), "people": ",".join(e[3] for e in entries)}  # (the numbers
    # are the ids')


def _decoded(fields: dict[str, Any]) -> Roster | None:
    """The roster `_encoded` wrote; None for anything else (written by another version: the session is decided in
    full, and its roster made again)."""
    try:
        parts = [fields[name] for name in ("ids", "codes", "created", "people")]
    except KeyError:
        return None
    if not all(isinstance(part, str) for part in parts):
        return None
    if not parts[0]:
        return Roster(fields["fingerprint"], {})
    ids, codes, created, people = parts[0].split(","), parts[1], parts[2].split(","), parts[3].split(",")
    numbers = [item_number(i) for i in ids]
    if not len(ids) == len(codes) == len(created) == len(people) or set(codes) - set("CWD"):
        return None
    return Roster(fields["fingerprint"], dict(zip(ids, zip(codes, created, numbers, people, strict=True),
                                                  strict=True)))
