"""What a rehearsal made: recorded as it is made, removed at its end, and removed by the next one if it never got
there (killed outright, or interrupted again while it removed).

Two ways to find what an earlier rehearsal left, so either is enough:
- the record in the state store (`rehearse.made`), written before each thing is made (a meeting by its externalId,
  then its id) and after (an item's id, a subscription's id), emptied as each is removed;
- the marks in the tenant itself: items whose Title starts with MARK, and the meeting each such session names in
  its MeetingId column (written there as soon as the meeting is made). Graph has no listing of an organiser's
  meetings (onlinemeeting-get documents look-ups by join link and by join meeting id only), so a meeting is found
  through its session or the record.

A subscription left by a killed rehearsal is in the record only; it was asked for RECHECK_HOURS, and expires then
whatever happens. One the service has since taken as a list's own (coprod.realtime.webhooks keeps the ids it uses) is
left alone: it is a working subscription to the service's own endpoint.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from coprod.lists.records import parse_registration, parse_session
from coprod.realtime.webhooks import known
from coprod.rehearse._report import brief
from coprod.words import count
from graph_client import GraphError, ListItem, OnlineMeetings, Page, SharePointLists, Subscriptions

__all__ = ["MARK", "RECORD", "Made", "find_marked", "remove"]

MARK = "REHEARSAL - delete me - "
RECORD = "rehearse.made"
ITEM_LISTS = ("Registrations", "Sessions")  # removed in this order: a booking before the session it looks up


class Made:
    """The record of what this rehearsal (and any earlier one that did not finish) made and has not yet removed."""

    def __init__(self, store: Any) -> None:
        self.store = store
        raw = store.checkpoints.get(RECORD)
        try:
            held = json.loads(raw) if raw else {}
        except ValueError:
            held = {}
        self.held: dict[str, list[Any]] = {k: list(v) for k, v in held.items() if isinstance(v, list)} \
            if isinstance(held, dict) else {}

    def __bool__(self) -> bool:
        return any(self.held.values())

    def add(self, kind: str, value: Any) -> None:
        if value not in self.held.setdefault(kind, []):
            self.held[kind].append(value)
            self._save()

    def drop(self, kind: str, value: Any) -> None:
        if value in self.held.get(kind, []):
            self.held[kind].remove(value)
            self._save()

    def meeting(self, external_id: str, meeting_id: str | None = None) -> None:
        """Record a meeting before asking for it (its externalId alone), then again once Graph gave its id."""
        entries = self.held.setdefault("meetings", [])
        entry = next((e for e in entries if isinstance(e, dict) and e.get("external") == external_id), None)
        if entry is None:
            entries.append({"external": external_id, "id": meeting_id})
        elif meeting_id:
            entry["id"] = meeting_id
        self._save()

    def forget_meeting(self, external_id: str) -> None:
        """A meeting Graph refused to make: nothing to remove."""
        self.held["meetings"] = [e for e in self.held.get("meetings", [])
                                 if not (isinstance(e, dict) and e.get("external") == external_id)]
        self._save()

    def _save(self) -> None:
        self.store.checkpoints.set(RECORD, json.dumps(self.held) if self else "")


def find_marked(lists: SharePointLists, made: Made) -> None:
    """Add to `made` the items whose Title carries MARK, and the meetings those sessions name."""
    for name in ITEM_LISTS:
        wanted = "Title,MeetingId" if name == "Sessions" else "Title"
        for page in lists.client.pages(f"look for rehearsal {name} items", f"/sites/{lists.site_id}/lists/{name}/items",
                                       Page[ListItem], params={"$expand": f"fields($select={wanted})",
                                                               "$top": str(lists.page_size)}):
            for item in page.value:
                session = parse_session(item.id, item.fields) if name == "Sessions" else None
                title = session.title_typed if session else parse_registration(item.id, "", item.fields).name_typed
                if (title or "").startswith(MARK):
                    made.add(name, item.id)
                    meeting = (session.meeting_id if session else "") or ""
                    if meeting.strip():
                        made.meeting(f"(named by session {item.id})", meeting.strip())


def remove(services: Any, made: Made) -> tuple[list[str], list[str]]:
    """Remove everything `made` holds; (what was removed, what could not be and why), in words."""
    removed: list[str] = []
    left: list[str] = []
    ours = {str(record.get("id")) for record in known(services.store).values() if isinstance(record, dict)}
    subscriptions = Subscriptions(services.graph)
    gone = 0
    for subscription in list(made.held.get("subscriptions", [])):
        try:
            if subscription not in ours:  # (one the service took as a list's own stays: it is a working one)
                subscriptions.delete(str(subscription))
            made.drop("subscriptions", subscription)
            gone += 1
        except GraphError as error:
            left.append(f"a change subscription ({brief(error)}; it expires within hours anyway)")
    if gone:
        removed.append(count(gone, "change subscription"))
    _meetings(services.meetings, made, removed, left)
    for name, noun in zip(ITEM_LISTS, ("booking", "session"), strict=True):
        gone = 0
        for item_id in list(made.held.get(name, [])):
            try:
                services.lists.delete_item(name, str(item_id), label=name)
            except GraphError as error:
                left.append(f"{noun} {item_id} in {name} ({brief(error)})")
                continue
            made.drop(name, item_id)
            gone += 1
        if gone:
            removed.append(count(gone, noun))
    return removed, left


def _meetings(meetings: OnlineMeetings, made: Made, removed: list[str], left: list[str]) -> None:
    """Delete each meeting recorded. One recorded by its externalId alone (the rehearsal stopped while asking for
    it) is asked for again: createOrGet answers with the meeting that externalId has, or makes one, and either is
    then deleted."""
    gone: set[str] = set()
    for entry in list(made.held.get("meetings", [])):
        meeting_id = str(entry.get("id") or "") if isinstance(entry, dict) else ""
        try:
            if not meeting_id and isinstance(entry, dict):
                start = datetime.now(UTC)
                meeting_id = meetings.create_or_get(str(entry.get("external")), MARK.strip(" -"), start,
                                                    start + timedelta(hours=1), []).id
            if meeting_id and meeting_id not in gone:
                meetings.delete(meeting_id)  # (gone already: that is what was wanted)
        except GraphError as error:
            left.append(f"a Teams meeting ({brief(error)})")
            continue
        gone.add(meeting_id)
        made.drop("meetings", entry)
    if gone - {""}:
        removed.append(count(len(gone - {""}), "Teams meeting"))
