"""Data protection, through the commands a council runs: erase one person everywhere, and nothing comes back."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from config import load_settings
from coprod.cli import main
from coprod.pages.app import create_web_app
from coprod.runtime import Services
from graph_emulator import EmulatorServer
from graph_emulator.testing import AsgiTransport
from tests.support.programme import Programme, soon
from tests.support.store_scan import raw_text

ZOE = "Zoe.Erase@Example.org"  # as she typed it; held as zoe.erase@example.org
NAME = "Zoë O'Erase"


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> dict[str, str]:
    for key, value in (env | {"COPROD_GUEST_AUTO_APPROVE_DOMAINS": "example.org",
                              "COPROD_PUBLIC_URL": "https://coprod.example.org"}).items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def services(configured: dict[str, str]) -> Iterator[Services]:
    with Services.open(load_settings()) as opened:
        yield opened


def everything_in_the_lists(services: Services) -> str:
    """Every item of the five lists, read through Graph as a tenant's admin would see them."""
    return json.dumps([item.fields for name in ("Sessions", "Registrations", "GuestRequests", "Subscribers", "Updates")
                       for item in services.lists.iter_items(name, label=name)], ensure_ascii=False)


def held_anywhere(services: Services) -> list[str]:
    """Where the address (as typed, or normalised) or the name still is: the lists, the whole state store."""
    places = {"lists": everything_in_the_lists(services), "state": raw_text(services.store)}
    return [f"{where}: {needle}" for where, text in places.items()
            for needle in (ZOE, ZOE.lower(), NAME, json.dumps(NAME)[1:-1]) if needle in text]


def confirm_guest_address(emulator: EmulatorServer, services: Services) -> None:
    """Zoë presses the button in "Please confirm your email address", so the next run invites her."""
    [email] = [m for m in emulator.backend.mail.sent(emulator.backend.sender)
               if m.to == (ZOE.lower(),) and m.subject == "Please confirm your email address"]
    link = re.search(r"https://coprod\.example\.org(/api/pages/guest/confirm\?t=\S+)", email.text_body or "")
    assert link is not None
    with httpx.Client(transport=AsgiTransport(create_web_app(services.web_context)),
                      base_url="https://coprod.example.org") as browser:
        token = re.search(r'name="t" value="([^"]+)"', browser.get(link.group(1)).text)
        assert token is not None
        assert browser.post("/api/pages/guest/confirm", data={"t": token.group(1)}).status_code == 200


def test_erase_leaves_nothing_of_them_and_the_next_person_gets_the_place(
        configured: dict[str, str], emulator: EmulatorServer, services: Services,
        capsys: pytest.CaptureFixture[str]) -> None:
    main(["provision"])
    sp, site, directory = emulator.backend.sharepoint, emulator.backend.site.id, emulator.backend.directory
    session = sp.create_item(site, "Sessions", {"Title": "Carers' drop-in", "Status": "Open", "Capacity": 1,
                                                "StartTime": "2030-01-01T10:00:00Z", "EndTime": "2030-01-01T11:00:00Z"})
    for name, address in ((NAME, ZOE), ("Ben Waiting", "ben@example.org")):
        sp.create_item(site, "Registrations", {"Title": name, "Email": address, "Consent": True,
                                               "SessionLookupId": str(session.id), "JoinMailingList": True,
                                               "WantsSiteAccess": True, "AccessNeeds": "Step-free access",
                                               "Phone": "01632 960 002"})
    main(["sync", "--once"])
    confirm_guest_address(emulator, services)
    main(["sync", "--once"])
    [guest] = directory.users_with_address("zoe.erase@example.org")
    assert guest.user_type == "Guest" and len(held_anywhere(services)) > 0  # she is held in many places
    capsys.readouterr()

    before = held_anywhere(services), services.store.outbox.counts()
    assert main(["erase", ZOE, "--remove-guest", "--dry-run"]) == 0  # what would go, changing nothing
    would = capsys.readouterr().out.splitlines()
    assert would[0] == ("Registrations: 1 booking would be cleared and marked Erased (Carers' drop-in); their places "
                        "would go to the next people waiting.")
    assert "Subscribers: 1 row would be deleted." in would and "GuestRequests: 1 row would be deleted." in would
    assert would[-3].startswith("State: ") and " to them would be emptied" in would[-3]
    assert would[-2].startswith("Directory: 1 account with that address: taken out of the guest group")
    assert would[-1] == "Nothing has been changed. Run the same command without --dry-run to erase."
    assert (held_anywhere(services), services.store.outbox.counts()) == before
    assert directory.users_with_address("zoe.erase@example.org") == [guest]

    assert main(["erase", " zoe.erase@EXAMPLE.org ", "--remove-guest"]) == 0
    said = capsys.readouterr().out
    assert "Registrations: 1 booking cleared and marked Erased" in said
    assert "Subscribers: 1 row deleted." in said and "GuestRequests: 1 row deleted." in said
    assert f"their guest account ({guest.id}) left the guest group and was deleted" in said
    assert "stay in the sending mailbox's Sent Items" in said and ZOE.lower() not in said.replace(" zoe", "")

    assert held_anywhere(services) == []
    assert directory.users_with_address("zoe.erase@example.org") == []
    registrations = {str(i.fields.get("Title")): i.fields for i in services.lists.iter_items("Registrations")}
    assert registrations["Ben Waiting"]["Status"] == "Confirmed"  # the freed place went to the next person
    [erased] = [f for title, f in registrations.items() if title != "Ben Waiting"]
    assert erased["Status"] == "Erased" and not erased.get("AccessNeeds") and not erased.get("Phone")
    told = [m.subject for m in emulator.backend.mail.sent(emulator.backend.sender) if m.to == ("ben@example.org",)]
    assert "A place has come up for you: Carers' drop-in" in told  # and Ben was told

    main(["sync", "--once"])  # a later run brings nothing back
    assert main(["erase", ZOE, "--remove-guest"]) == 0  # and erasing again finds nothing to do
    assert "Nothing is held about that address" in capsys.readouterr().out
    assert held_anywhere(services) == []


@pytest.fixture
def programme_settings() -> dict[str, str]:
    return {"COPROD_RETENTION_DAYS": "30", "COPROD_PUBLIC_URL": "https://coprod.example.org"}


def test_retention_clears_the_bookings_of_sessions_long_over_once_a_day(programme: Programme) -> None:
    programme.clock.to_uk_midday()
    over = programme.session("Carers' drop-in", soon(1), capacity=1)
    [ann, ben] = [programme.register(over, name, Phone="01632 960 003", AccessNeeds="Large print")
                  for name in ("Ann Old", "Ben Old")]
    first = programme.run()
    assert any(line.startswith("Retention (30 days): 0 registrations cleared") for line in first)
    later = programme.session("Next month's", soon(40))
    cat = programme.register(later, "Cat New")
    assert not any(line.startswith("Retention") for line in programme.run())  # once a day
    programme.clock.offset += 34 * 86_400  # the first session ended 33 days ago; the emails went 34 days ago
    lines = programme.run()
    [retention] = [line for line in lines if line.startswith("Retention")]
    assert retention == "Retention (30 days): 2 registrations cleared, 3 old emails emptied, 0 records removed."
    for booking, status in ((ann, "Confirmed"), (ben, "Waitlisted")):
        fields = programme.backend.sharepoint.get_item(programme.site, "Registrations", booking)[1].fields
        assert (fields.get("Title"), fields.get("Email"), fields.get("Phone"), fields.get("AccessNeeds")) == (
            "", "", "", "")
        assert fields["Status"] == status and "the session ended more than 30 days ago" in fields["StatusNote"]
    assert programme.field("Registrations", cat, "Title") == "Cat New"  # a session to come: untouched
    assert "ann.old@example.org" not in raw_text(programme.services.store)
    quiet = programme.run(minutes=24 * 60)  # the next day: nothing more to clear, nothing flagged
    assert "Retention (30 days): 0 registrations cleared, 0 old emails emptied, 0 records removed." in quiet
    assert programme.field("Registrations", ann, "Status") == "Confirmed"


def test_export_names_each_bookings_session_and_gives_times_in_iso_8601(
        programme: Programme, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 32: a person reads their export without decoding it: a booking says which session (its title and
    start, not only `SessionLookupId`), and times are ISO 8601 in UTC, whatever the machine's time zone."""
    import time

    from coprod.privacy.dataprotection import _iso_times, export, iso

    monkeypatch.setenv("TZ", "America/New_York")  # (a machine elsewhere: still UTC in the export)
    time.tzset()
    try:
        session = programme.session("Carers forum", soon(3))
        programme.register(session, "Ann Example")
        programme.run()
        [booking] = export(programme.services, "ann.example@example.org")["lists"]
        start = programme.field("Sessions", session, "StartTime")
        assert booking["session"] == {"id": session, "title": "Carers forum", "start": start}
        assert iso(0) == "1970-01-01T00:00:00Z" and iso(1796615737.17) == "2026-12-07T03:55:37Z" and iso(None) is None
        payload = {"at": 0, "sent_at": 60.5, "version": 3, "calendar": True, "since": "never", "updated": False}
        assert _iso_times(payload) == {"at": "1970-01-01T00:00:00Z", "sent_at": "1970-01-01T00:01:00Z", "version": 3,
                                       "calendar": True, "since": "never", "updated": False}
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
