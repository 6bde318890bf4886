"""The rules of `erase` and `export` (issue 25), as the council's IT admin and the people on the lists see them.

Pinned here: every booking of theirs is cleared, in every session, and each freed place is offered on; a booking
someone edits meanwhile is read again, and left alone once it is no longer theirs; what Graph refuses is reported,
never hidden. Every record and email that names them, or is about their rows, is emptied (however many, wherever
they sit among other people's); records keyed by their address go; a hand-off still due about them is settled
`erased`. The team's emails that quote them are withheld, others' are left. With `--remove-guest`, only a guest
account the service invited is deleted, and a later erase still knows which it invited. What erase prints, word
for word; and what `export` shows, field by field.

Everything runs against the emulator over HTTPS with the SQLite store; records and emails another part of the
service would write are put in the store as that part writes them."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from coprod.handoffs import sessions_to_decide
from coprod.privacy.dataprotection import Person, export, iso
from coprod.privacy.erasure import Busy, Erasure, erase
from coprod.templates import UK
from graph_client import CallRecord, observe
from graph_emulator import FaultRule
from tests.support.programme import Programme, soon
from tests.support.store_scan import raw_text

ZOE, NAME, PHONE = "zoe.erase@example.org", "Zoë Erase", "01632 960 123"
STATUSES = ("queued", "sending", "sent", "failed", "cancelled")


@pytest.fixture
def programme_settings() -> dict[str, str]:
    return {"COPROD_PUBLIC_URL": "https://coprod.example.org", "COPROD_LEASE_SECONDS": "60",
            "COPROD_ADMIN_EMAIL": "team@council.example.org"}


def fields(programme: Programme, list_name: str, item_id: str) -> dict[str, Any]:
    return dict(programme.backend.sharepoint.get_item(programme.site, list_name, item_id)[1].fields)


def digest(programme: Programme, address: str = ZOE) -> str:
    return Person.of(address, programme.services.signer).digest


# --- bookings ------------------------------------------------------------------------------


def test_erase_clears_every_booking_of_theirs_in_every_session_and_offers_each_place(programme: Programme) -> None:
    """Zoë booked the last place of three sessions, and waits for a fourth; she also has a booking that names no
    session. Erase clears all five and marks them Erased (with the day, as the note says), and each of the three
    places goes to the person waiting next; what it prints names the three sessions, and no `-`."""
    programme.clock.to_uk_midday()
    sessions = [programme.session(f"Session {n}", soon(20 + n), capacity=1) for n in range(4)]
    full = sessions[3]
    programme.register(full, "Fay First")
    mine = [programme.register(s, NAME, Email=ZOE, Phone=PHONE) for s in sessions]
    mine.append(programme.register("", NAME, Email=ZOE))
    waiting = [programme.register(s, f"Wes Waiting{n}") for n, s in enumerate(sessions[:3])]
    programme.run()
    programme.run()
    assert [programme.field("Registrations", r, "Status") for r in mine[:4]] == [
        "Confirmed", "Confirmed", "Confirmed", "Waitlisted"]

    said: list[str] = []
    done, calls = observed(lambda: erase(programme.services, ZOE, progress=said.append))
    day = datetime.fromtimestamp(programme.clock(), UK).strftime("%-d %B %Y")
    assert sorted(done.registrations, key=int) == sorted(mine, key=int)
    assert done.sessions == set(sessions) and done.copies == {} and done.address == ZOE
    for booking in mine:
        erased = fields(programme, "Registrations", booking)
        assert erased["Status"] == "Erased" and not erased.get("Email") and not erased.get("Phone")
        assert erased["StatusNote"] == (f"Personal details erased at the person's request on {day}. "
                                        "The place was freed.")
    for booking, session in zip(mine, sessions, strict=False):
        kept = programme.services.store.mirror.get("Registrations", booking)
        assert kept is not None and kept.group == session and kept.fields["Status"] == "Erased"
    assert done.lines()[0] == (f"Registrations: 5 bookings cleared and marked Erased (sessions "
                               f"{', '.join(sorted(sessions))}); their places go to the next people waiting.")
    assert said == ["Registrations: 5 items with that address", "Subscribers: 0 items with that address",
                    "GuestRequests: 0 items with that address"]
    operations = {call.operation for call in calls}
    assert {"read a Registrations item", "update Registrations items", "read Registrations items"} <= operations
    assert not [op for op in operations if "item" in op and ("None" in op or " list " in op)]

    programme.run()
    assert [programme.field("Registrations", w, "Status") for w in waiting] == ["Confirmed"] * 3



T = TypeVar("T")

def observed(work: Callable[[], T]) -> tuple[T, list[CallRecord]]:
    """What `work` returns, and every Graph call it made, in order."""
    calls: list[CallRecord] = []
    stop = observe(calls.append)
    try:
        return work(), calls
    finally:
        stop()

def conflict_once(programme: Programme, booking: str, **edit: Any) -> None:
    """Someone edits `booking` in SharePoint just before erase writes to it: erase's write meets a new eTag."""
    lists = programme.services.lists
    real = lists.update_fields

    def edited_first(*args: Any, **kwargs: Any) -> Any:
        lists.update_fields = real  # type: ignore[method-assign]
        programme.edit("Registrations", booking, **edit)
        return real(*args, **kwargs)

    lists.update_fields = edited_first  # type: ignore[method-assign]


def test_the_erased_note_gives_the_day_in_uk_time(programme: Programme) -> None:
    """Erased at 00:30 on a summer night in the UK (23:30 the day before in UTC): the note says the UK day."""
    session = programme.session("Planning the park", soon(20))
    booking = programme.register(session, NAME, Email=ZOE)
    programme.run()
    summer = datetime(datetime.now(UK).year + 1, 7, 1, 23, 30, tzinfo=UTC).timestamp()
    programme.clock.offset = summer - time.time()
    erase(programme.services, ZOE)
    assert fields(programme, "Registrations", booking)["StatusNote"] == (
        f"Personal details erased at the person's request on 2 July {datetime.now(UK).year + 1}. "
        "The place was freed.")


def test_a_booking_edited_while_it_is_erased_is_read_again_and_erased_then(programme: Programme) -> None:
    """An admin edits Zoë's booking (her phone) while erase runs: the write is refused on its eTag, the booking
    read again and erased as it is now; nothing is reported."""
    session = programme.session("Planning the park", soon(20))
    booking = programme.register(session, NAME, Email=ZOE, Phone=PHONE)
    programme.run()
    conflict_once(programme, booking, Phone="01632 960 999")
    done, calls = observed(lambda: erase(programme.services, ZOE))
    assert done.registrations == [booking] and done.problems == []
    reads = [call.operation for call in calls if call.operation.startswith("read") and "item" in call.operation]
    assert reads == ["read Registrations items", "read Registrations items", "read a Registrations item",
                     "read Contributions items"]
    # found, read again after the refused write, read as written; then what she told us on the contribution page
    erased = fields(programme, "Registrations", booking)
    assert erased["Status"] == "Erased" and not erased.get("Phone")


def test_a_booking_given_another_address_meanwhile_is_left_and_the_next_still_erased(programme: Programme) -> None:
    """An admin corrects the address of one of Zoë's bookings (it was her son's) while erase runs: that booking
    is no longer hers, so it is left as it now is; her other booking is still erased."""
    session = programme.session("Planning the park", soon(20))
    sons = programme.register(session, "Sam Erase", Email=ZOE, Phone=PHONE)
    hers = programme.register(session, NAME, Email=ZOE)
    programme.run()
    conflict_once(programme, sons, Email="sam@example.org")
    done = erase(programme.services, ZOE)
    assert done.registrations == [hers] and done.problems == []
    kept = fields(programme, "Registrations", sons)
    assert (kept["Status"], kept["Email"], kept["Title"], kept["Phone"]) == (
        "Confirmed", "sam@example.org", "Sam Erase", PHONE)
    assert fields(programme, "Registrations", hers)["Status"] == "Erased"


def test_bookings_graph_refuses_to_change_are_reported_and_the_rest_erased(programme: Programme) -> None:
    """One booking keeps changing (three eTag refusals in a row), one is refused for want of permission, one
    for a bad request: each is reported in plain words, and the fourth is still erased."""
    session = programme.session("Planning the park", soon(20))
    bookings = [programme.register(session, NAME, Email=ZOE) for _ in range(4)]
    programme.run()
    faults = programme.backend.faults
    faults.add(FaultRule(status=412, path=f"/items/{bookings[0]}/fields", method="PATCH", count=3))
    faults.add(FaultRule(status=403, path=f"/items/{bookings[1]}/fields", method="PATCH", count=1))
    faults.add(FaultRule(status=400, path=f"/items/{bookings[2]}/fields", method="PATCH", count=1,
                         code="invalidRequest"))
    done = erase(programme.services, ZOE)
    assert done.registrations == [bookings[3]]
    first, second, third = done.problems
    assert first == (f"Registrations item {bookings[0]} kept changing while it was erased: run erase again.")
    assert second.startswith(f"Registrations item {bookings[1]} was not erased: Microsoft 365 would not let the "
                             "app write to the SharePoint lists (403")
    assert third.startswith(f"Registrations item {bookings[2]} was not erased: ")
    assert "erase a Registrations item" in third and "400" in third
    assert done.lines()[-3:] == done.problems
    for booking in bookings[:3]:
        assert fields(programme, "Registrations", booking)["Email"] == ZOE


def test_erase_waits_for_a_run_that_holds_the_lease_and_holds_it_itself_meanwhile(programme: Programme) -> None:
    """While a run holds the lease, erase does nothing and says who holds it, for how long more (on the
    service's clock); otherwise it holds the lease itself, for the configured time, while it works."""
    programme.clock.offset += 86_400
    store = programme.services.store
    assert store.leases.acquire("sync", "other-host", 600)
    held = store.leases.get("sync")
    assert held is not None
    with pytest.raises(Busy) as busy:
        erase(programme.services, ZOE)
    since = time.strftime("%H:%M:%S", time.gmtime(held.since))
    assert str(busy.value) == (f"Another run is working (held by other-host since {since} UTC, for 600 s more "
                               "unless renewed); this one did nothing.")
    store.leases.release("sync", "other-host")

    leases: list[Any] = []
    erase(programme.services, ZOE, progress=lambda _: leases.append(store.leases.get("sync")))
    assert leases and all(lease is not None and lease.expires - lease.since == pytest.approx(60) for lease in leases)


# --- what it prints --------------------------------------------------------------------------


def test_what_erase_prints_counts_one_and_several_in_plain_words() -> None:
    one = Erasure("zoe@example.org", registrations=["4"], sessions={"7"}, rows={"Subscribers": 1},
                  records_deleted=1, records_emptied=1, emails_cancelled=1, emails_emptied=1, emails_sent=1,
                  team_withheld=1, copies={"GuestRequests": 1}, accounts=["Directory: one."], problems=["Oops."])
    assert one.lines() == [
        "Registrations: 1 booking cleared and marked Erased (sessions 7); their places go to the next people waiting.",
        "Subscribers: 1 row deleted.",
        "GuestRequests: 1 copy of a row already deleted in SharePoint was dropped from the service's records.",
        "State: 1 record deleted, 1 emptied; 1 queued email cancelled, 1 email record emptied.",
        "Team emails: 1 queued email that quoted them (a facilitators' brief, say) was withheld and won't go; the "
        "next run makes them again without them, for everyone else on them.",
        "Directory: one.",
        "Left: copies of the 1 email sent to them stay in the sending mailbox's Sent Items; "
        "docs/data-protection.md says how to clear them.",
        "Oops."]
    several = Erasure("zoe@example.org", registrations=["4", "5", "6"], sessions={"12", "7"},
                      rows={"Subscribers": 2, "GuestRequests": 0}, records_deleted=2, records_emptied=3,
                      emails_cancelled=2, emails_emptied=4, emails_sent=2, team_withheld=2,
                      copies={"Registrations": 2})
    assert several.lines() == [
        "Registrations: 3 bookings cleared and marked Erased (sessions 12, 7); their places go to the next people "
        "waiting.",
        "Subscribers: 2 rows deleted.", "GuestRequests: 0 rows deleted.",
        "Registrations: 2 copies of a row already deleted in SharePoint were dropped from the service's records.",
        "State: 2 records deleted, 3 emptied; 2 queued emails cancelled, 4 email records emptied.",
        "Team emails: 2 queued emails that quoted them (a facilitators' brief, say) were withheld and won't go; the "
        "next run makes them again without them, for everyone else on them.",
        "Left: copies of the 2 emails sent to them stay in the sending mailbox's Sent Items; "
        "docs/data-protection.md says how to clear them."]
    nothing = Erasure("zoe@example.org")
    assert nothing.lines() == ["Registrations: 0 bookings cleared and marked Erased.",
                               "State: 0 records deleted, 0 emptied; 0 queued emails cancelled, 0 email records "
                               "emptied."]
    assert not nothing.found


# --- the state store ------------------------------------------------------------------------


def test_records_keyed_by_their_address_go_and_records_about_them_are_emptied_wherever_they_sit(
        programme: Programme) -> None:
    """The ledger holds Zoë's records among other people's, hers first, then others', then hers again: the
    guards keyed by her address are deleted; every record naming her (in its key or only in its payload, her
    address, her digest, her name with its accent), or about her booking or her Subscribers row, keeps its key
    and loses its payload; one still due (or in flight) is settled `erased`, one settled keeps its status.
    A record still due that only shares her name, and other people's records, are left as they were."""
    session = programme.session("Planning the park", soon(20))
    booking = programme.register(session, NAME, Email=ZOE)
    other = programme.register(session, "Ann Stays")
    sharepoint, site = programme.backend.sharepoint, programme.site
    row = str(sharepoint.create_item(site, "Subscribers", {"Title": NAME, "Email": ZOE, "Status": "Subscribed"}).id)
    while str(sharepoint.create_item(site, "GuestRequests", {"Title": NAME, "Email": ZOE}).id) != str(int(row) + 1):
        pass  # her GuestRequests row has the id of another person's Subscribers row: that one's records stay
    programme.run()
    store, mine = programme.services.store, digest(programme)
    for key in [e.key for e in store.ledger.list()]:
        store.ledger.delete(key)
    store.ledger.put("aaa:already", "message", "done", {"erased": True})  # an earlier erasure's: skipped
    deleted = [("guest:zoe.erase@example.org", "guest-request"), ("subscriber:zoe.erase@example.org", "subscriber"),
               ("bookings-asked:zoe.erase@example.org:2030-01-01", "bookings-asked"),
               ("invite:zoe.erase@example.org", "invitation"), ("guest-row:zoe.erase@example.org", "guest-row"),
               ("subscriber-row:zoe.erase@example.org", "subscriber-row")]
    for key, kind in deleted:
        store.ledger.put(key, kind, "done", {"row": "9"})
    others = {"guest:ann.stays@example.org": ("guest-request", "due", {"row": "3"}),
              f"cancel-request:{other}": ("cancel-request", "due", {}),
              "told:someone": ("told", "due", {"note": "Zoë Erase is coming too"}),  # only her name, still due
              f"message:confirmed:registration-{other}:v1": ("message", "due", {"registration": other}),
              f"rejoin-asked:{int(row) + 1}": ("rejoin-asked", "due", {})}
    for key, (kind, status, payload) in others.items():
        store.ledger.put(key, kind, status, payload)
    emptied: dict[str, tuple[str, str, str, dict[str, Any]]] = {
        f"message:confirmed:registration-{booking}:v1": ("message", "due", "erased", {}),
        f"cancel-request:{booking}": ("cancel-request", "sending", "erased", {}),
        "contact:promoted:x": ("contact-due", "throttled", "erased", {"registration": int(booking)}),
        "mail-failed:mail:x": ("mail-failed", "failed", "failed", {"to": "Zoe.Erase@Example.org"}),
        "guest-confirmed:5:x": ("guest-confirmed", "due", "erased", {"digest": mine}),
        f"booked-online:{session}:{mine}": ("booked-online", "done", "done", {}),
        "told:named": ("told", "done", "done", {"note": "Zoë Erase came"}),  # her name, settled
        f"rejoin-asked:{row}": ("rejoin-asked", "done", "done", {})}
    for key, (kind, status, _, payload) in emptied.items():
        store.ledger.put(key, kind, status, payload)
    before = {e.key: e for e in store.ledger.list()}

    done, calls = observed(lambda: erase(programme.services, ZOE))
    assert {call.operation for call in calls if call.operation.startswith("delete")} == {
        "delete a Subscribers item", "delete a GuestRequests item"}
    assert done.rows == {"Subscribers": 1, "GuestRequests": 2}
    after = {e.key: e for e in store.ledger.list()}
    assert not {key for key, _ in deleted} & set(after)
    assert done.records_deleted == len(deleted)
    for key, (_, _, status, _) in emptied.items():
        assert (after[key].status, after[key].payload) == (status, {"erased": True}), key
    assert done.records_emptied == len(emptied)
    for key in [*others, "aaa:already"]:
        assert after[key] == before[key], key
    assert "State: 6 records deleted, 8 emptied;" in "\n".join(done.lines())
    assert after[f"erased:{mine}"].status == "done"
    assert after[f"erased:{mine}"].payload == {"at": pytest.approx(programme.clock(), abs=60), "invited": []}


def email(programme: Programme, key: str, kind: str, to: list[str], *, status: str = "queued",
          **words: Any) -> None:
    """An email as the outbox keeps it (its words whole), then moved on to `status`."""
    payload = {"to": to, "subject": "News", "text": "Hello."} | words
    programme.services.store.outbox.add(key, kind, payload, len(to))
    if status != "queued":
        assert programme.services.store.outbox.set(key, status, sent_at=programme.clock())


def outbox(programme: Programme) -> dict[str, tuple[str, dict[str, Any]]]:
    return {e.key: (e.status, e.payload) for status in STATUSES
            for e in programme.services.store.outbox.list(status, limit=10**6)}


def test_every_email_to_or_naming_them_is_emptied_however_many_and_wherever_they_sit(programme: Programme) -> None:
    """The outbox holds over a thousand queued emails to Zoë (a campaign's, say), with an already emptied one
    first and other people's among them; others to her sending, sent and failed; others naming her. Every one
    is emptied and each not yet sent cancelled; the emails to other people are left as they were. What it
    prints counts them, and the copies of those sent to her left in Sent Items."""
    programme.backend.sharepoint.create_item(programme.site, "Subscribers", {"Title": NAME, "Email": ZOE})
    email(programme, "mail:aaa-emptied", "update", ["ann@example.org"])
    assert programme.services.store.outbox.scrub("mail:aaa-emptied", cancel=False)
    email(programme, "mail:aab-ann", "update", ["ann@example.org"], text="Zoë Erase is on the panel.")
    for n in range(1001):
        email(programme, f"mail:update-9-{n:04}", "update", ["Zoe.Erase@Example.org"])
    email(programme, "mail:update-9-ann", "update", ["ann@example.org"])
    email(programme, "mail:sending", "confirmed", [ZOE], status="sending")
    email(programme, "mail:sent-1", "confirmed", [ZOE], status="sent")
    email(programme, "mail:sent-2", "reminder", [ZOE], status="sent")
    email(programme, "mail:failed", "reminder", [ZOE], status="failed")
    email(programme, "mail:about", "promoted", ["team@council.example.org"], status="sent",
          text="Please phone zoe.erase@example.org back.")
    email(programme, "mail:about-queued", "promoted", ["team@council.example.org"],
          text="Please phone zoe.erase@example.org back.")
    email(programme, "mail:named-sent", "promoted", ["bob@example.org"], status="sent", text="Zoë Erase said hi.")
    email(programme, f"mail:guest-confirm:7:{digest(programme)}", "guest-confirm", ["bob@example.org"])
    before = outbox(programme)
    export_before = export(programme.services, ZOE)
    assert len(export_before["state"]["emails"]) == 1001 + 4

    done = erase(programme.services, ZOE)
    after = outbox(programme)
    kept = ("mail:aaa-emptied", "mail:aab-ann", "mail:update-9-ann")
    for key in kept:
        assert after[key] == before[key], key
    cancelled = [k for k in after if k.startswith("mail:update-9-0")] + [
        "mail:sending", "mail:about-queued", f"mail:guest-confirm:7:{digest(programme)}"]
    for key in cancelled:
        assert after[key] == ("cancelled", {}), key
    for key, status in (("mail:sent-1", "sent"), ("mail:sent-2", "sent"), ("mail:failed", "failed"),
                        ("mail:about", "sent"), ("mail:named-sent", "sent")):
        assert after[key] == (status, {}), key
    assert (done.emails_cancelled, done.emails_emptied, done.emails_sent, done.team_withheld) == (
        1004, 1009, 2, 0)
    said = "\n".join(done.lines())
    assert "1004 queued emails cancelled, 1009 email records emptied." in said
    assert ("Left: copies of the 2 emails sent to them stay in the sending mailbox's Sent Items; "
            "docs/data-protection.md says how to clear them.") in said


NEEDS = "NB: " + "Wheelchair user; needs step-free access and a quiet room nearby, with hearing loop on. " * 9


def test_team_emails_that_quote_them_are_withheld_and_the_rest_left(programme: Programme) -> None:
    """Emails to the team wait in the outbox, each quoting Zoë somewhere: her name in a subject's last words, in
    whom it is addressed to, her phone in the HTML, a line of her postal address in the text or an attachment,
    her short name, her access needs cut as each email cuts them (40, 80, 120 or 500 characters). Each is
    withheld (cancelled and emptied); so is the brief of the session she was confirmed for. The brief of another
    session, and another person's confirmation that happens to carry her phone number, are left alone."""
    session = programme.session("Planning the park", soon(20))
    elsewhere = programme.session("Talking buses", soon(21), capacity=1)
    programme.register(elsewhere, "Fay First")
    programme.register(session, NAME, Email=ZOE, Phone=PHONE, AccessNeeds=NEEDS, PostalAddress="Flat 2\nHigh Street")
    programme.register(elsewhere, NAME, Email=ZOE)  # waiting there: that session's brief does not list her
    programme.backend.sharepoint.create_item(programme.site, "Subscribers", {"Title": "Zoë", "Email": ZOE})
    programme.run()
    team = ["fac@council.example.org"]
    quoting: dict[str, dict[str, Any]] = {
        "mail:guest-digest:subject": {"subject": f"Guests to add: {NAME}"},
        "mail:guest-digest:to-name": {"to_name": NAME},
        "mail:guest-digest:html": {"html": f"<p>Phone {PHONE}</p>"},
        "mail:guest-digest:text": {"text": "Post to Flat 2, please."},
        "mail:guest-digest:short": {"text": "Zoë said yes."},
        "mail:guest-digest:attached": {"attachments": [{"filename": "list.txt", "content_type": "text/plain",
                                                       "text": "High Street"}]}}
    quoting |= {f"mail:guest-digest:needs-{limit}": {"text": f"Needs: {NEEDS[:limit].rstrip()}…"}
                for limit in (40, 80, 120, 500)}
    for key, words in quoting.items():
        email(programme, key, "guest-digest", team, **words)
    email(programme, f"mail:brief:session-{session}:v1", "facilitator_brief", team, text="Six booked.")
    email(programme, f"mail:brief:session-{elsewhere}:v1", "facilitator_brief", team, text="Nine booked.")
    email(programme, "mail:confirmed:ann", "confirmed", ["ann@example.org"], text=f"Call {PHONE} if lost.")
    email(programme, "mail:guest-digest:sent", "guest-digest", team, status="sent", text=f"Phone {PHONE}.")
    email(programme, "mail:waved", "confirmed", ["ann@example.org"], status="sent", text="Zoë waved.")
    before = outbox(programme)

    done = erase(programme.services, ZOE)
    after = outbox(programme)
    for key in [*quoting, f"mail:brief:session-{session}:v1"]:
        assert after[key] == ("cancelled", {}), key
    assert after["mail:guest-digest:sent"] == after["mail:waved"] == ("sent", {})  # settled: emptied for her name
    for key in (f"mail:brief:session-{elsewhere}:v1", "mail:confirmed:ann"):
        assert after[key] == before[key], key
    assert done.team_withheld == len(quoting) + 1
    assert f"Team emails: {len(quoting) + 1} queued emails that quoted them" in "\n".join(done.lines())


def test_a_withheld_phone_or_post_list_puts_the_others_on_that_days_next_one(programme: Programme) -> None:
    """The team's phone-or-post list for one day waits in the outbox, listing Zoë and Ann; erase withholds it,
    and Ann's item on it is due again, for the next list. An item of another day's list (one already sent,
    which erase only empties) stays settled."""
    session = programme.session("Planning the park", soon(20))
    programme.register(session, NAME, Email=ZOE, Phone=PHONE)
    programme.run()
    store = programme.services.store
    email(programme, "mail:contact-digest:2030-01-02", "contact-digest", ["team@council.example.org"],
          text=f"Zoë Erase {PHONE}\nAnn Phone 01632 960 777")
    email(programme, "mail:contact-digest:2030-01-01", "contact-digest", ["team@council.example.org"],
          status="sent", text=f"Zoë Erase {PHONE}\nBob Post 1 Low Road")
    store.ledger.put("contact:confirmed:registration-91:session-1:v0", "contact-due", "done",
                     {"registration": "91", "outcome": "in the digest of 2030-01-02"})
    store.ledger.put("contact:confirmed:registration-92:session-1:v0", "contact-due", "done",
                     {"registration": "92", "outcome": "in the digest of 2030-01-01"})

    done = erase(programme.services, ZOE)
    assert done.team_withheld == 1
    assert store.ledger.get("contact:confirmed:registration-91:session-1:v0").status == "due"  # type: ignore[union-attr]
    assert store.ledger.get("contact:confirmed:registration-92:session-1:v0").status == "done"  # type: ignore[union-attr]
    assert outbox(programme)["mail:contact-digest:2030-01-01"] == ("sent", {})


# --- the directory ----------------------------------------------------------------------------


def test_remove_guest_deletes_only_the_guest_accounts_the_service_invited(programme: Programme) -> None:
    """Zoë's address belongs to several accounts: guests the service invited (one recorded by its invitation,
    two by their GuestRequests rows), a guest someone else made, another nobody invited who is in no group, a
    colleague's member account. Erase without `--remove-guest` leaves them all and says how to take them out,
    and remembers which the service invited. Erase again with it: each invited guest in no other group leaves
    the guest group and is deleted; one in another group too is kept; the others stay, and each line says why."""
    directory, group = programme.backend.directory, programme.backend.guest_group.id
    upn = directory.guest_upn(ZOE)

    def guest(name: str, *, upn: str = upn, in_group: bool = True) -> str:
        user = directory.add_user(name, upn, mail=ZOE, user_type="Guest")
        if in_group:
            directory.add_member(group, user.id)
        return user.id

    invited = guest("Zoë (invited)")
    busy = guest("Zoë (also a volunteer)")
    directory.add_member(directory.add_group("Volunteers").id, busy)
    outside = guest("Zoë (not yet in the group)", in_group=False)
    made = guest("Zoë (made by hand)", upn="zoe.erase@partner.example.net")
    stray = guest("Zoë (stray)", upn="zoe.stray@partner.example.net", in_group=False)
    directory.add_user("Zoe at work", "zoe.work@council.example.org", mail=ZOE)  # a member: never touched
    sharepoint, site = programme.backend.sharepoint, programme.site
    for status, user in (("Invited", busy), ("Invited", outside), ("Removed", made), ("Invited", "")):
        sharepoint.create_item(site, "GuestRequests", {"Title": NAME, "Email": ZOE, "Status": status, "UserId": user})
    programme.services.store.ledger.put(f"invite:{ZOE}", "invitation", "done",
                                        {"user": invited, "how": "invited", "row": "1"})
    programme.services.store.ledger.put("invite:zoe.other@example.org", "invitation", "done",
                                        {"user": made, "how": "member", "row": "2"})

    first = erase(programme.services, ZOE)
    guests = [invited, busy, outside, made, stray]
    assert first.accounts == [f"Directory: their guest account ({user}) is still there; erase again with "
                              "--remove-guest to take it out." for user in guests]
    assert first.lines()[-len(guests):] == first.accounts
    record = programme.services.store.ledger.get(f"erased:{digest(programme)}")
    assert record is not None and record.payload["invited"] == sorted([invited, busy, outside])
    assert {u.id for u in directory.users_with_address(ZOE)} >= set(guests)

    second = erase(programme.services, ZOE, remove_guest=True)
    assert second.accounts == [
        f"Directory: their guest account ({invited}) left the guest group and was deleted (Entra can restore it "
        "for 30 days).",
        f"Directory: their guest account ({busy}) left the guest group; it was kept because it is in 1 other group.",
        f"Directory: their guest account ({outside}) was deleted (Entra can restore it for 30 days).",
        f"Directory: their guest account ({made}) left the guest group; it was kept because the service did not "
        "invite it.",
        f"Directory: their guest account ({stray}) is not in the guest group; it was kept because the service did "
        "not invite it."]
    left = {u.id for u in directory.users_with_address(ZOE)}
    assert invited not in left and outside not in left and {busy, made, stray} <= left
    assert [u.id for u in directory.members(group)] == []
    record = programme.services.store.ledger.get(f"erased:{digest(programme)}")
    assert record is not None and record.payload["invited"] == sorted([invited, busy, outside])


def test_what_the_directory_refuses_is_reported_per_account(programme: Programme) -> None:
    """Graph refuses: the directory search (then nothing more is tried), taking one guest out of the guest
    group, deleting another. Each is reported in plain words naming the permission's step; nothing is hidden."""
    directory, group = programme.backend.directory, programme.backend.guest_group.id
    faults = programme.backend.faults
    faults.add(FaultRule(status=403, path="^/users$", method="GET", count=1))
    done = erase(programme.services, ZOE, remove_guest=True)
    assert done.accounts == [] and len(done.problems) == 1
    assert done.problems[0].startswith("The directory could not be searched: Microsoft 365 would not let the app "
                                       "look people up in the directory (403")

    ids = []
    for n in range(2):
        user = directory.add_user(f"Zoë {n}", f"zoe{n}@partner.example.net", mail=ZOE, user_type="Guest")
        directory.add_member(group, user.id)
        ids.append(user.id)
    programme.services.store.ledger.put(f"erased:{digest(programme)}", "erased", "done", {"invited": ids})
    faults.add(FaultRule(status=403, path=f"/members/{ids[0]}", method="DELETE", count=1))
    faults.add(FaultRule(status=403, path=f"^/users/{ids[1]}$", method="DELETE", count=1))
    done = erase(programme.services, ZOE, remove_guest=True)
    assert done.accounts == []
    group_refused, delete_refused = done.problems
    assert group_refused.startswith(f"Directory: their guest account ({ids[0]}) was not removed: Microsoft 365 "
                                    "would not let the app add guests to the guest group (403")
    assert delete_refused.startswith(f"Directory: their guest account ({ids[1]}) was not removed: Microsoft 365 "
                                     "would not let the app delete guest accounts it invited (403")
    assert {u.id for u in directory.users_with_address(ZOE)} == set(ids)


# --- rows already deleted in SharePoint ------------------------------------------------------------


def test_copies_of_rows_deleted_in_sharepoint_go_with_what_was_about_them(programme: Programme) -> None:
    """An admin deleted Zoë's booking (the last place of a session, Ben waiting), her booking that named no
    session, and her Subscribers row, before any run saw it. Erase drops the service's copies, empties the
    records about that booking and that row, and has the next run decide the session again (not `-`)."""
    session = programme.session("Planning the park", soon(20), capacity=1)
    booking = programme.register(session, NAME, Email=ZOE)
    loose = programme.register("", NAME, Email=ZOE)
    programme.register(session, "Ben Waiting")
    sharepoint, site = programme.backend.sharepoint, programme.site
    for n in range(4):  # other people's rows first: her row's id is none of her bookings'
        sharepoint.create_item(site, "Subscribers", {"Title": f"Sub {n}", "Email": f"sub{n}@example.org"})
    row = str(sharepoint.create_item(site, "Subscribers", {"Title": NAME, "Email": ZOE, "Status": "Subscribed"}).id)
    programme.run()
    store = programme.services.store
    assert row not in (booking, loose)
    store.ledger.put(f"rejoin-asked:{booking}", "rejoin-asked", "done", {"asked": 2})  # another subscriber's
    store.ledger.put(f"message:reminder:registration-{booking}:v3", "message", "done", {"registration": booking})
    store.ledger.put(f"rejoin-asked:{row}", "rejoin-asked", "done", {"asked": 1})
    store.ledger.put("told:registration-999", "told", "done", {"registration": "999"})
    for name, item in (("Registrations", booking), ("Registrations", loose), ("Subscribers", row)):
        sharepoint.delete_item(site, name, item)
    from coprod.handoffs import set_sessions_to_decide
    set_sessions_to_decide(store.checkpoints, [])

    done = erase(programme.services, ZOE)
    assert done.copies == {"Registrations": 2, "Subscribers": 1}
    assert store.mirror.get("Registrations", booking) is None and store.mirror.get("Subscribers", row) is None
    assert sessions_to_decide(store.checkpoints) == [session]
    for key in (f"message:reminder:registration-{booking}:v3", f"rejoin-asked:{row}"):
        assert store.ledger.get(key).payload == {"erased": True}, key  # type: ignore[union-attr]
    assert store.ledger.get("told:registration-999").payload == {"registration": "999"}  # type: ignore[union-attr]
    assert store.ledger.get(f"rejoin-asked:{booking}").payload == {"asked": 2}  # type: ignore[union-attr]
    assert done.found and done.registrations == [] and NAME not in raw_text(store)


# --- export ----------------------------------------------------------------------------------------


def test_export_shows_each_thing_held_about_them_field_by_field(programme: Programme) -> None:
    """`export` answers a subject access request: their booking as the list has it now (with when it was
    made, and no Graph bookkeeping), the copy of a row deleted in SharePoint, every record naming them (in its
    key, or only in its payload), every email to them (over a thousand, say), and their directory account."""
    session = programme.session("Planning the park", soon(20))
    booking = programme.register(session, NAME, Email=ZOE, Phone=PHONE)
    sharepoint, site = programme.backend.sharepoint, programme.site
    row = str(sharepoint.create_item(site, "Subscribers", {"Title": NAME, "Email": ZOE, "Status": "Subscribed"}).id)
    programme.run()
    sharepoint.delete_item(site, "Subscribers", row)
    store = programme.services.store
    for key in [e.key for e in store.ledger.list()]:
        store.ledger.delete(key)
    store.ledger.put(f"guest:{ZOE}", "guest-request", "due", {"row": "4"})
    store.ledger.put("mail-failed:x", "mail-failed", "failed", {"to": ZOE})
    store.ledger.put("told:ann", "told", "done", {"to": "ann@example.org"})
    for n in range(1001):
        email(programme, f"mail:update-9-{n:04}", "update", [ZOE], subject="Park news")
    email(programme, "mail:sent", "confirmed", [ZOE], status="sent", subject="Booked")
    user = programme.backend.directory.add_user(NAME, programme.backend.directory.guest_upn(ZOE), mail=ZOE,
                                                user_type="Guest", external_user_state="PendingAcceptance")

    held, calls = observed(lambda: export(programme.services, " Zoe.Erase@Example.org "))
    reads = {call.operation for call in calls if "item" in call.operation}
    assert {"read Registrations items", "read Subscribers items"} <= reads and not [r for r in reads if "None" in r
                                                                                   or " list " in r]
    assert held["address"] == ZOE
    [item] = held["lists"]
    created = programme.services.lists.get_item("Registrations", booking).created_date_time
    assert (item["list"], item["id"], item["created"]) == ("Registrations", booking, str(created or ""))
    assert item["created"] and item["fields"]["Phone"] == PHONE
    assert not [name for name in item["fields"] if name.startswith("@")]
    [copy] = held["state"]["copies"]
    assert (copy["list"], copy["id"], copy["fields"]["Title"]) == ("Subscribers", row, NAME)
    assert [{k: v for k, v in h.items() if k != "updated"} for h in held["state"]["handoffs"]] == [
        {"key": f"guest:{ZOE}", "kind": "guest-request", "status": "due", "payload": {"row": "4"}},
        {"key": "mail-failed:x", "kind": "mail-failed", "status": "failed", "payload": {"to": ZOE}}]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", h["updated"]) for h in held["state"]["handoffs"])
    emails = held["state"]["emails"]
    assert len(emails) > 1001 and {"kind": "update", "status": "queued", "subject": "Park news",
                                   "sent_at": None} in emails
    [sent] = [e for e in emails if e["subject"] == "Booked"]
    assert sent == {"kind": "confirmed", "status": "sent", "subject": "Booked",
                    "sent_at": iso(store.outbox.get("mail:sent").sent_at)}  # type: ignore[union-attr]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", sent["sent_at"])  # ISO 8601, not seconds
    assert held["directory"] == [{"id": user.id, "displayName": NAME, "mail": ZOE,
                                  "userPrincipalName": user.user_principal_name, "userType": "Guest",
                                  "externalUserState": "PendingAcceptance"}]


def test_export_finds_an_unusable_address_named_only_in_a_payload_and_refuses_text_that_is_no_address(
        programme: Programme) -> None:
    """A record names josé@example.org (an address the service cannot use) only in its payload: export finds it
    by that text, accent and all. Text with no @ is refused, with what to type instead."""
    store = programme.services.store
    store.ledger.put("mail-failed:y", "mail-failed", "failed", {"note": "refused josé@example.org"})
    store.ledger.put("mail-failed:z", "mail-failed", "failed", {"note": "refused jose@example.org"})
    held = export(programme.services, "José@Example.org")
    assert [h["key"] for h in held["state"]["handoffs"]] == ["mail-failed:y"]
    assert held["directory"] == []
    with pytest.raises(ValueError) as refused:
        export(programme.services, "Zoë Erase")
    assert str(refused.value) == "that isn't an email address: type the person's address as the lists have it"


@pytest.mark.parametrize(("text", "named"), [("Write to her:...zoe.erase@example.org", True),
                                             ("see .zoe.erase@example.org.", True),
                                             ("x.zoe.erase@example.org", False)])
def test_an_address_after_dots_still_names_them(text: str, named: bool) -> None:
    """Dots before an address (an ellipsis) are not part of it; a name before the dot is."""
    assert Person(ZOE, ZOE, "0123456789abcdef0123").named_in(text) is named


def test_an_address_in_another_form_is_still_theirs() -> None:
    """The admin typed the address in the form mail headers show it (the domain's ASCII form): the row typed with
    the accented domain, in capitals, is still hers; another domain is not."""
    person = Person("zoe@xn--exmple-cua.org", "zoe@xn--exmple-cua.org", "0123456789abcdef0123")
    assert person.owns("Zoe@Exämple.org") and not person.owns("zoe@example.org")


def test_a_sent_email_to_an_address_carrying_their_name_is_emptied(programme: Programme) -> None:
    """Zoë signed up with her name typed as "zoe.erase" (as people do). A newsletter already sent to her old
    address, zoe.erase@old.example.net, carries that name: erase empties it (a settled email costs nothing to
    empty); a queued one to that old address is left, as another person's may share a name."""
    programme.backend.sharepoint.create_item(programme.site, "Subscribers", {"Title": "zoe.erase", "Email": ZOE})
    email(programme, "mail:old-sent", "update", ["zoe.erase@old.example.net"], status="sent")
    email(programme, "mail:old-queued", "update", ["zoe.erase@old.example.net"])
    before = outbox(programme)
    done = erase(programme.services, ZOE)
    after = outbox(programme)
    assert after["mail:old-sent"] == ("sent", {}) and after["mail:old-queued"] == before["mail:old-queued"]
    assert (done.emails_emptied, done.emails_sent) == (1, 0)


def test_an_address_the_service_cannot_use_is_not_looked_up_in_the_directory(programme: Programme) -> None:
    """No account can have an address the service cannot use (josé@...): erase does not search the directory
    for one, and says nothing about accounts."""
    done, calls = observed(lambda: erase(programme.services, "josé@example.org", remove_guest=True))
    assert done.accounts == [] and done.problems == [] and done.address == "josé@example.org"
    assert not [call for call in calls if "directory" in call.operation]


def test_a_queued_email_naming_an_unusable_address_is_withheld(programme: Programme) -> None:
    """An email to the team waits in the outbox naming josé@example.org (an address the service cannot use),
    accent and all: erasing josé@ withholds it; one naming jose@ is left."""
    email(programme, "mail:note-1", "promoted", ["team@council.example.org"], text="Call josé@example.org back.")
    email(programme, "mail:note-2", "promoted", ["team@council.example.org"], text="Call jose@example.org back.")
    before = outbox(programme)
    done = erase(programme.services, "josé@example.org")
    after = outbox(programme)
    assert after["mail:note-1"] == ("cancelled", {}) and after["mail:note-2"] == before["mail:note-2"]
    assert (done.emails_cancelled, done.emails_emptied) == (1, 1)
