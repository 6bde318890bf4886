"""The lists' assumptions, on the throwaway session and booking, through the service's own calls.

- the change feed (listitem-delta): a link taken with `token=latest` reports an item made after it, with its
  fields when the link asked for them (`$expand=fields`: the service's usual pages) and as its id and eTag when it
  did not (the pages the service reads after a big write); and the link that read hands back, saved, reports the
  next change. Graph says nothing of whether a delta link keeps `$expand` (undocumented for list items), so an
  item that comes without fields although they were asked for is seen and said, and held: the service then reads
  its fields itself (`SharePointLists._fill_fields`), one request more;
- a write of fields (listitem-update, conditional on the eTag read, in `$batch` as the service writes): the
  reference's example answer carries the fields and no `@odata.etag`, but is marked as shortened, so the answer
  may or may not carry it. The service keeps it when it does, and otherwise takes the next version of the eTag it
  wrote on (`next_etag`). Either is held when it is the version a read then shows;
- a write on an out-of-date eTag is refused (412, or the 409 `resourceModified` reported for the same thing), so
  an officer's edit between the service's read and its write is never overwritten.
"""

from __future__ import annotations

from typing import Any

from coprod.lists.records import parse_session
from coprod.rehearse._report import MAINTAINERS, Scene, Unheld
from graph_client import (
    FieldUpdate,
    GraphError,
    InvalidResponseError,
    ListItem,
    Page,
    SharePointLists,
    etag_key,
    graph_time,
    next_etag,
    says_latest,
)

__all__ = ["booking_fields", "change_feeds", "make_items", "saved_link", "session_fields", "stale_write", "write"]

SESSION_NOTE = ("Made by `python -m coprod rehearse` to check the service works in this tenant, and removed by it "
                "within minutes. Draft: no page lists it and nobody can book it. If it is still here, delete it.")
BOOKING_NOTE = ("Made by `python -m coprod rehearse` with its session, and removed with it. If it is still here, "
                "delete it.")


def session_fields(scene: Scene) -> dict[str, Any]:
    """Draft (never Open: the timetable and the booking form take Open sessions only), one place, its times."""
    return {"Title": scene.title, "Status": "Draft", "Capacity": 1, "StartTime": graph_time(scene.start),
            "EndTime": graph_time(scene.end), "Description": SESSION_NOTE, "SyncNote": SESSION_NOTE}


def booking_fields(scene: Scene, session_id: str) -> dict[str, Any]:
    """A booking that asks for nothing: no consent, no mailing list, no site access; its address (when set) is
    COPROD_ADMIN_EMAIL, the only one the rehearsal writes to."""
    fields: dict[str, Any] = {"Title": scene.title, "SessionLookupId": session_id, "Consent": False,
                              "Status": "NeedsAttention", "StatusNote": BOOKING_NOTE}
    if scene.services.settings.admin_email:
        fields["Email"] = scene.services.settings.admin_email
    return fields


def start_links(lists: SharePointLists) -> dict[str, str | GraphError]:
    """Before anything is made: the Sessions change link with fields, the Registrations one without (or the error
    each met, for its line to say)."""
    links: dict[str, str | GraphError] = {}
    for name, fields in (("Sessions", True), ("Registrations", False)):
        try:
            links[name] = lists.latest(name, fields=fields, label=name)
        except GraphError as error:
            links[name] = error
    return links


def make_items(scene: Scene) -> str:
    lists, made = scene.services.lists, scene.made
    session = lists.create_item("Sessions", session_fields(scene), label="Sessions")
    made.add("Sessions", session.id)
    scene.facts["session"] = session
    booking = lists.create_item("Registrations", booking_fields(scene, session.id), label="Registrations")
    made.add("Registrations", booking.id)
    scene.facts["booking"] = booking
    return (f"made “{scene.title}” in Sessions (Draft: no page lists it, nobody can book it) and a booking of it "
            "in Registrations (it asks for nothing and nobody is emailed about it)")


def change_feeds(scene: Scene, links: dict[str, str | GraphError], name: str) -> str:
    """One list's change feed from the link taken before the item was made: the item is in it, as asked."""
    link = links.get(name)
    if isinstance(link, InvalidResponseError) and "token=latest" in link.detail:
        raise Unheld("Graph handed back a change link that says token=latest: saved, it would report nothing ever "
                     "again (reported for drives, microsoft-graph-docs issue 2317)", MAINTAINERS)
    if isinstance(link, GraphError):
        raise link
    item: ListItem | None = scene.facts.get("session" if name == "Sessions" else "booking")  # type: ignore[assignment]
    if item is None or link is None:
        raise Unheld("not tried: the throwaway items were not made", "see the line about them above")
    changes, next_link = read_changes(scene.services.lists, link, name)
    if name == "Sessions":
        scene.facts["saved link"] = next_link  # what the service would save, for the next change
    found = changes.get(item.id)
    what = "session" if name == "Sessions" else "booking"
    if found is None:
        raise Unheld(f"the new {what} was not among the {len(changes)} changes the link reported: the service "
                     f"would miss such a change until its next whole-list read (COPROD_RESYNC_HOURS)", MAINTAINERS)
    if name == "Sessions":
        if found.has_fields and parse_session(found.id, found.fields).title_typed == scene.title:
            return "held: the new session came with its fields, as the link asked"
        return ("held: the new session came without its fields although the link asked for them; the service then "
                "reads them itself, one request more a change")
    if found.has_fields:
        return "held: the new booking came with its fields, though the link did not ask for them"
    return f"held: the new booking came as its id and eTag ({found.etag}), without fields, as the link asked"


def read_changes(lists: SharePointLists, link: str, name: str) -> tuple[dict[str, ListItem], str]:
    """Every item a change link reports (following nextLinks), as Graph sent it, and the link it hands back."""
    operation = f"read {name} changes"
    items: dict[str, ListItem] = {}
    page = lists.client.get(operation, link, Page[ListItem])
    while True:
        items.update((item.id, item) for item in page.value)
        if page.next_link:
            page = lists.client.get(operation, page.next_link, Page[ListItem])
            continue
        if not page.delta_link:
            raise InvalidResponseError(operation, 200, "application/json", "a page with neither nextLink nor deltaLink")
        return items, page.delta_link


def write(scene: Scene) -> str:
    """The service's write: fields of one item, on the eTag it read, in `$batch`; then the answer's eTag against
    what a read shows."""
    session: ListItem | None = scene.facts.get("session")  # type: ignore[assignment]
    if session is None:
        raise Unheld("not tried: the throwaway session was not made", "see the line about it above")
    lists = scene.services.lists
    meeting = scene.facts.get("meeting")
    fields = {"SyncNote": SESSION_NOTE + " (written again by the rehearsal)"}
    if meeting is not None:  # as the meetings sync writes it, so a session left behind names its meeting
        fields |= {"JoinUrl": getattr(meeting, "join_web_url", ""), "MeetingId": getattr(meeting, "id", "")}
    answer = lists.update_fields("Sessions", [FieldUpdate(session.id, fields, session.etag)], label="Sessions")[
        session.id]
    lists.client.raise_for_entry("update Sessions items", answer)
    said = answer.body.get("@odata.etag") if isinstance(answer.body, dict) else None
    now = lists.get_item("Sessions", session.id, label="Sessions")
    scene.facts["written"] = now
    if isinstance(said, str) and said:
        if etag_key(said) == etag_key(now.etag):
            return f"held: the answer carried @odata.etag ({said}), the version a read then showed"
        raise Unheld(f"the answer carried @odata.etag {said}, but a read then showed {now.etag}",
                     "the service keeps the answer's eTag to tell its own writes from people's; with these "
                     "differing it takes each write back as a change (one more read each, nothing lost); "
                     + MAINTAINERS)
    foreseen = next_etag(session.etag)
    if foreseen and etag_key(foreseen) == etag_key(now.etag):
        return (f"held: the answer carried no @odata.etag; the next version of the eTag written on ({foreseen}), "
                "which the service then takes, is the version a read showed")
    raise Unheld(f"the answer carried no @odata.etag, and a read showed {now.etag}, not the next version of "
                 f"{session.etag}", "the service then reads each item it wrote again before its next write to it "
                 f"(one more read each, nothing lost); {MAINTAINERS}")


def stale_write(scene: Scene) -> str:
    """A write on the eTag the session had before the last write: refused, and nothing changed."""
    session: ListItem | None = scene.facts.get("session")  # type: ignore[assignment]
    if session is None or "written" not in scene.facts:
        raise Unheld("not tried: no write went before it", "see the lines above")
    lists = scene.services.lists
    answer = lists.update_fields("Sessions", [FieldUpdate(session.id, {"SyncNote": "this must not be written"},
                                                          session.etag)], label="Sessions")[session.id]
    if answer.modified_meanwhile:
        return f"held: refused ({answer.status}), so an edit made after the service read an item is never overwritten"
    if answer.ok:
        raise Unheld(f"the write went through ({answer.status}) on an eTag that was out of date",
                     "the service would overwrite an officer's edit made between its read and its write; "
                     + MAINTAINERS)
    lists.client.raise_for_entry("update Sessions items", answer)
    raise Unheld(f"answered {answer.status}", MAINTAINERS)


def saved_link(scene: Scene) -> str:
    """The link the first read handed back reports the write, at the version the write led to."""
    link = scene.facts.get("saved link")
    written: ListItem | None = scene.facts.get("written")  # type: ignore[assignment]
    if not isinstance(link, str) or written is None:
        raise Unheld("not tried: the change feed or the write above did not happen", "see the lines above")
    if says_latest(link):
        raise Unheld("the link handed back says token=latest: saved, it would report nothing ever again", MAINTAINERS)
    changes, _ = read_changes(scene.services.lists, link, "Sessions")
    found = changes.get(written.id)
    if found is None:
        raise Unheld("the saved link did not report the write to the session", "the service would miss changes until "
                     f"its next whole-list read (COPROD_RESYNC_HOURS); {MAINTAINERS}")
    if etag_key(found.etag) == etag_key(written.etag):
        return "held: it reported the write, at the version the write led to (so the service tells its own writes)"
    return f"held: it reported the write, at a later version ({found.etag}) than the write led to"

