"""Export and erase find exactly one person, and erase leaves nothing of them behind (issue 24, findings 1 and 6).

Every test runs the service's own commands against the emulator over HTTPS, on a programme built as people
build one: sessions and bookings typed into the lists, the service's runs in between."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from coprod.mail.outbox import readable
from coprod.privacy.dataprotection import Person, export
from coprod.privacy.erasure import erase
from coprod.run import run_once
from coprod.store import LedgerEntry, SqliteStore
from graph_emulator import FaultRule
from tests.support.programme import Programme, soon
from tests.support.store_scan import raw_text

STATUSES = ("queued", "sending", "sent", "failed", "cancelled")


@pytest.fixture
def programme_settings() -> dict[str, str]:
    return {"COPROD_PUBLIC_URL": "https://coprod.example.org",
            "COPROD_ADMIN_EMAIL": "team@council.example.org",
            "COPROD_GUEST_AUTO_APPROVE_DOMAINS": "example.org"}


def queue_only(programme: Programme) -> list[str]:
    """A run that prepares its emails but sends none: the mailbox answers 429 for now, so they wait in the
    outbox (the next run after `programme.backend.faults.clear()` and the Retry-After sends them)."""
    programme.backend.faults.add(FaultRule(status=429, path="/sendMail", retry_after=600))
    programme.clock.offset += 300
    return run_once(programme.services, drain_seconds=0)


def emails(programme: Programme) -> dict[str, Any]:
    """Every email in the outbox, by key: its status and recipients."""
    return {e.key: (e.status, tuple(readable(e.payload).get("to") or ())) for status in STATUSES
            for e in programme.services.store.outbox.list(status, limit=10**6)}


def records(programme: Programme, address: str) -> list[LedgerEntry]:
    """The ledger's records that carry `address` as a whole value (a key part or a payload value)."""
    def carries(entry: LedgerEntry) -> bool:
        values = entry.key.split(":") + [str(v) for v in entry.payload.values()]
        return address in values
    return [e for e in programme.services.store.ledger.list() if carries(e)]


def fields_of(programme: Programme, list_name: str, address: str) -> list[dict[str, Any]]:
    return [i.fields for i in programme.services.lists.iter_items(list_name) if i.fields.get("Email") == address]


# (whom we erase, who shares the text of their address and must be left alone)
PAIRS = (("al@partner.example.org", "hal@partner.example.org"),
         ("bob@example.org", "bob@example.org.uk"),
         ("ed@example.net", "fred@example.net"))


def test_export_and_erase_find_an_address_whole_never_inside_a_longer_one(programme: Programme) -> None:
    """Issue 24, finding 1: `export` and `erase` find a person by their whole address (and its keyed digest),
    never by a piece of text inside another address. Exporting or erasing al@, bob@example.org or ed@ shows or
    touches nothing of hal@, bob@example.org.uk or fred@: their bookings, rows, records and queued emails stay
    as they were, their places stay theirs, and Hal's queued confirmation still goes."""
    programme.clock.to_uk_midday()
    session = programme.session("Planning the park", soon(20), capacity=6)
    names = {"al@partner.example.org": "Alison Short", "hal@partner.example.org": "Harold Long",
             "bob@example.org": "Bobby Home", "bob@example.org.uk": "Roberta Abroad",
             "ed@example.net": "Edwina Brief", "fred@example.net": "Frederick Longer"}
    for address, name in names.items():
        programme.register(session, name, Email=address, JoinMailingList=True, WantsSiteAccess=True)
    queue_only(programme)
    queue_only(programme)  # the meeting is made, then the confirmations wait in the outbox
    for erased, kept in PAIRS:
        assert records(programme, kept), f"{kept} has records to keep"
        held = export(programme.services, erased)
        assert {item["fields"]["Email"] for item in held["lists"]} == {erased}
        assert held["state"]["handoffs"] and held["state"]["emails"]  # their own records and emails are there
        assert kept not in json.dumps(held), f"exporting {erased} showed {kept}'s data"

    before = {kept: (records(programme, kept), {k: v for k, v in emails(programme).items() if kept in v[1]},
                     [fields_of(programme, name, kept) for name in ("Registrations", "Subscribers", "GuestRequests")])
              for _, kept in PAIRS}
    assert any(status == "queued" for status, _ in before["hal@partner.example.org"][1].values())
    for erased, _ in PAIRS:
        erase(programme.services, erased)
    for _, kept in PAIRS:
        after = (records(programme, kept), {k: v for k, v in emails(programme).items() if kept in v[1]},
                 [fields_of(programme, name, kept) for name in ("Registrations", "Subscribers", "GuestRequests")])
        assert after == before[kept], f"erasing touched {kept}"
        [booking] = after[2][0]
        assert booking["Status"] == "Confirmed"

    programme.backend.faults.clear()
    programme.run(minutes=15)  # the next run sends what waited: Hal's confirmation goes
    subjects = [m.subject for m in programme.mail_to("hal@partner.example.org")]
    assert "Your place is booked: Planning the park" in subjects
    for erased, _ in PAIRS:
        assert programme.mail_to(erased) == []


def test_an_address_the_service_cannot_use_is_found_by_its_text(programme: Programme) -> None:
    """Issue 24, findings 1 and 6(b): a row whose Email the service cannot use (josé@..., which it will not send
    to) is still found by `export` and `erase`, by the text as typed (any case, spaces around), compared whole:
    export shows it and erase clears it, and jose@... is left alone."""
    session = programme.session("Talking buses", soon(20))
    jose = programme.register(session, "José Unusable", Email="josé@example.org", Phone="01632 960 777")
    other = programme.register(session, "Jose Plain", Email="jose@example.org")
    site, sharepoint = programme.site, programme.backend.sharepoint
    row = str(sharepoint.create_item(site, "GuestRequests", {"Title": "José Unusable", "Email": "José@Example.org",
                                                             "Organisation": "Bus users"}).id)
    programme.run()

    held = export(programme.services, "  JOSÉ@example.org ")
    assert sorted((i["list"], i["id"]) for i in held["lists"]) == [("GuestRequests", row), ("Registrations", jose)]
    assert "jose@example.org" not in json.dumps(held)

    done = erase(programme.services, " josé@EXAMPLE.org")
    assert done.registrations == [jose] and done.rows["GuestRequests"] == 1
    fields = sharepoint.get_item(site, "Registrations", jose)[1].fields
    assert fields["Status"] == "Erased" and not fields.get("Email") and not fields.get("Phone")
    assert programme.field("Registrations", other, "Email") == "jose@example.org"
    assert "José Unusable" not in raw_text(programme.services.store)
    assert "josé@example.org" not in raw_text(programme.services.store).casefold()



@pytest.mark.parametrize(("text", "named"), [
    ('{"to": ["al@partner.example.org"]}', True), ("guest:al@partner.example.org", True),
    ("Write to <AL@Partner.Example.org>.", True), ("mailto:al@partner.example.org.", True),
    ("subscriber:hal@partner.example.org", False), ("al@partner.example.org.uk", False),
    ("bob+al@partner.example.org", False), ("mail:guest-confirm:4:0123456789abcdef0123", True),
    ("0123456789abcdef01234", False), ("x0123456789abcdef0123", False)])
def test_a_person_is_named_only_by_their_whole_address_or_digest(text: str, named: bool) -> None:
    """Issue 24, finding 1: what `export` and `erase` take to name someone: their address or keyed digest as a
    whole value (any case, a full stop after it), never inside a longer address or a longer string of hex."""
    person = Person("al@partner.example.org", "al@partner.example.org", "0123456789abcdef0123")
    assert person.named_in(text) is named


ZOE, ZOE_NAME, PHONE = "zoe.erase@example.org", "Zoë Brief", "01632 960 123"


def test_a_queued_team_email_quoting_an_erased_person_is_withheld(programme: Programme) -> None:
    """Issue 24, finding 6(a): the facilitators' brief and the team's phone-or-post list wait in the outbox with
    an erased person's access needs ("epilepsy"), name and phone number. `erase` withholds them (cancelled and
    emptied, so they never go and nothing of them is kept); the next run sends nobody those words, the other
    people's emails still go, and the team's emails are made again without her, once."""
    programme.clock.to_uk_midday()
    session = programme.session("Tomorrow's talk", soon(1), Facilitators="fac.one@council.example.org")
    programme.register(session, ZOE_NAME, Email=ZOE, Phone=PHONE, AccessNeeds="epilepsy", ContactPreference="Phone")
    programme.register(session, "Ann Stays", AccessNeeds="Large print")
    programme.register(session, "Pat Phone", Email="", Phone="01632 960 777", ContactPreference="Phone")
    queue_only(programme)
    queue_only(programme)
    waiting = {e.kind: json.dumps(readable(e.payload), ensure_ascii=False)
               for e in programme.services.store.outbox.list("queued", limit=10**6)}
    assert "epilepsy" in waiting["facilitator_brief"] and PHONE in waiting["facilitator_brief"]
    assert PHONE in waiting["contact-digest"]

    done = erase(programme.services, ZOE)
    held = raw_text(programme.services.store)  # every email's words too
    assert "epilepsy" not in held and PHONE not in held and ZOE_NAME not in held
    assert done.team_withheld == 2
    assert ("Team emails: 2 queued emails that quoted them (a facilitators' brief, say) were withheld" in
            "\n".join(done.lines()))

    programme.backend.faults.clear()
    programme.run(minutes=15)
    team = [m for m in programme.mail() if m.to != ("ann.stays@example.org",)]
    assert all("epilepsy" not in (m.text_body or "") and PHONE not in (m.text_body or "") for m in team)
    assert [m.subject for m in programme.mail_to("ann.stays@example.org")] == [
        "Your place is booked: Tomorrow's talk"]
    # the rest of the team still get theirs, made again without her: the brief, and the phone-or-post list
    [brief] = programme.mail_to("fac.one@council.example.org")
    assert "Large print" in (brief.text_body or "") and "Pat Phone" in (brief.text_body or "")
    [listed] = programme.mail_to("team@council.example.org")
    assert "Pat Phone" in (listed.text_body or "") and "01632 960 777" in (listed.text_body or "")
    programme.run(minutes=15)
    assert len(programme.mail_to("fac.one@council.example.org")) == 1  # and once


def test_erase_drops_the_copy_of_a_row_already_deleted_in_sharepoint(programme: Programme) -> None:
    """Issue 24, finding 6(c): an admin deleted someone's Subscribers and GuestRequests rows in SharePoint before
    any run saw it, so the service's copy of them is all that is left. `erase` drops those copies and says so;
    it does not answer that nothing is held."""
    site, sharepoint = programme.site, programme.backend.sharepoint
    rows = {name: str(sharepoint.create_item(site, name, values).id) for name, values in (
        ("Subscribers", {"Title": ZOE_NAME, "Email": ZOE, "Status": "Subscribed"}),
        ("GuestRequests", {"Title": ZOE_NAME, "Email": ZOE, "Organisation": "Park friends"}))}
    programme.run()
    for name, row in rows.items():
        assert programme.services.store.mirror.get(name, row) is not None
        sharepoint.delete_item(site, name, row)

    done = erase(programme.services, ZOE)
    for name, row in rows.items():
        assert programme.services.store.mirror.get(name, row) is None
    assert ZOE not in raw_text(programme.services.store) and ZOE_NAME not in raw_text(programme.services.store)
    assert done.found and done.copies == {"Subscribers": 1, "GuestRequests": 1}
    said = "\n".join(done.lines())
    assert "Subscribers: 1 copy of a row already deleted in SharePoint was dropped" in said


def test_sqlite_keeps_no_copy_of_an_erased_address_in_its_files(programme: Programme) -> None:
    """Issue 24, finding 6 (deliver 5): on SQLite, erasure is real: right after `erase`, with the store still
    open, neither the database file nor its write-ahead log holds the erased address or name anywhere (not in
    freed space, not in an older copy of a page)."""
    store = programme.services.store
    assert isinstance(store, SqliteStore)
    session = programme.session("Planning the park", soon(20))
    programme.register(session, ZOE_NAME, Email=ZOE, Phone=PHONE, JoinMailingList=True, WantsSiteAccess=True)
    programme.register(session, "Ann Stays")
    programme.run()
    programme.run()
    files = [Path(store.path), Path(store.path + "-wal")]
    assert any(ZOE.encode() in f.read_bytes() for f in files if f.exists())

    erase(programme.services, ZOE)
    for f in files:
        data = f.read_bytes() if f.exists() else b""
        assert ZOE.encode() not in data, f"{f.name} still holds the address"
        assert ZOE_NAME.encode() not in data and PHONE.encode() not in data, f"{f.name} still holds them"
    assert "ann.stays@example.org" in raw_text(store)  # the rest is still there
