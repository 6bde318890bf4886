"""Bounces end to end: full runs over HTTPS against the emulator, with the real Graph client, and an address that
the emulator makes bounce (`POST /_emulator/mail/bounce`: Exchange's NDR in the sender's Inbox).

The app reads the reports with Mail.Read granted on the sending mailbox alone (`exchange_app_roles`, as Exchange
RBAC for Applications grants it); without it, each run says so in one line and everything else goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from coprod.handoffs import AddressBounces
from coprod.lists.notes import Notes
from coprod.mail.bounces import BounceRun, Bounces
from coprod.operating.status import blocked, status, status_lines
from coprod.running.lease import record_run
from graph_client import Mail, message_id_for
from graph_emulator import ALL_ROLES, EmulatorServer
from graph_emulator.mail.ndr import Failure, build_ndr, system_sender
from tests.support.fakes import FakeClock
from tests.support.programme import Programme, soon

GONE = "gone@example.org"  # an address that does not exist: every email to it bounces


class Hub(Programme):
    """A programme whose runs keep the tenant's clock (when a report is received) with the service's, twenty minutes
    apart unless told, and whose mail is read as subjects."""

    def session(self, title: str = "Being included", start: datetime | None = None, **fields: Any) -> str:
        return super().session(title, start or soon(), **fields)

    def run(self, minutes: float = 20, drain_seconds: float = 600) -> list[str]:
        self.backend.offset = self.clock.offset + minutes * 60  # the tenant's clock keeps up
        return super().run(minutes, drain_seconds)

    def subjects_to(self, address: str) -> list[str]:
        return [m.subject for m in self.mail_to(address)]


@pytest.fixture
def hub(emulator: EmulatorServer, env: dict[str, str], clock: FakeClock) -> Iterator[Hub]:
    emulator.backend.identity.set_roles([role for role in ALL_ROLES if role != "Mail.Read"])  # not tenant-wide:
    emulator.backend.tenant.update({"exchange_app_roles": ["Mail.Read"]})  # the sending mailbox's content, alone
    emulator.backend.mail.transport.bounce(GONE, "5.1.1")
    with Hub.open(emulator, env, clock, COPROD_PUBLIC_URL="https://coprod.example.org",
                  COPROD_PROGRAMME_NAME="Having your say") as made:
        yield made
    emulator.backend.offset = 0.0


def bounce_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("Bounces:")]


def test_one_address_that_bounces_is_noted_on_its_booking_emailed_no_more_and_its_subscriber_set_bouncing(
        hub: Hub) -> None:
    session = hub.session()
    gone = hub.register(session, "Gone Person", GONE)
    kept = hub.register(session, "Kept Person", "kept@example.org")
    subscriber = hub.add("Subscribers", Title="Gone Person", Email=GONE, Status="Subscribed",
                         ConfirmedAt="2025-03-01T10:00:00Z")
    other = hub.add("Subscribers", Title="Kept Person", Email="kept@example.org", Status="Subscribed",
                    ConfirmedAt="2025-03-01T10:00:00Z")
    first = hub.run()
    assert hub.field("Registrations", gone, "Status") == "Confirmed"
    assert hub.subjects_to(GONE) == ["Your place is booked: Being included"]
    assert bounce_lines(first) == []  # nothing went a quarter of an hour ago yet: nothing to look for
    [delivery] = [d for d in hub.backend.mail.deliveries(hub.backend.sender) if d.recipient == GONE]
    assert (delivery.outcome, delivery.status) == ("bounced", "5.1.1")
    [report] = hub.backend.mail.inbox(hub.backend.sender)
    assert report.subject == "Undeliverable: Your place is booked: Being included"

    second = hub.run()
    assert bounce_lines(second) == ["Bounces: 1 non-delivery report read; 1 booking email bounced (noted on the "
                                    "registration; no more emails to that address)."]
    note = hub.field("Registrations", gone, "StatusNote")
    assert note == f"{Notes.CONFIRMED} {Notes.BOUNCED}"  # in the same run: the bounces are read first
    assert hub.field("Registrations", kept, "StatusNote") == Notes.CONFIRMED

    hub.backend.sharepoint.update_fields(hub.site, "Sessions", session, {"Title": "Being included: moved"})
    hub.run()
    assert hub.subjects_to("kept@example.org")[-1] == \
        "A session you're signed up for has changed: Being included: moved"
    assert hub.subjects_to(GONE) == ["Your place is booked: Being included"]  # withheld: the address bounced
    assert hub.field("Registrations", gone, "StatusNote") == note

    for n in range(1, 5):  # updates to the mailing list: the address bounces each one, until it is set Bouncing
        hub.add("Updates", Title=f"News {n}", Body="Hello **everyone**.", Ready=True)
        hub.run()
        lines = hub.run()
        if n == 3:
            assert bounce_lines(lines) == ["Bounces: 1 non-delivery report read; 1 update to subscribers bounced; "
                                           "1 subscriber set to Bouncing."]
            assert "1 subscriber set to Bouncing (3 updates came back undelivered)" in "".join(lines)
    assert [s for s in hub.subjects_to(GONE) if s.startswith("News")] == ["News 1", "News 2", "News 3"]
    assert [s for s in hub.subjects_to("kept@example.org") if s.startswith("News")] == [
        "News 1", "News 2", "News 3", "News 4"]
    assert (hub.field("Subscribers", subscriber, "Status"), hub.field("Subscribers", other, "Status")) == (
        "Bouncing", "Subscribed")

    hub.backend.sharepoint.update_fields(hub.site, "Registrations", gone, {"Email": "found@example.org"})
    hub.run()
    assert hub.subjects_to("found@example.org") == ["Your place is booked: Being included: moved"]  # a new address
    assert hub.field("Registrations", gone, "StatusNote") == Notes.CONFIRMED
    report_ = status(hub.services.store, hub.clock())
    assert (report_["addresses_bounced"], report_["subscribers_bouncing"]) == (1, 1)
    assert status_lines(report_)[-3:-1] == [  # (then what the service did today)
        "1 address bounced: no booking emails go to it until the booking's address is changed",
        "1 subscriber Bouncing: their updates came back undelivered 3 times, so no more go (see the Subscribers "
        "list)"]


def forged(hub: Hub, sender: str, message_id: str, address: str) -> None:
    original = f"Message-ID: {message_id}\r\nSubject: Your place is booked\r\n\r\nHello\r\n".encode()
    raw = build_ndr(hub.backend.sender.user_principal_name, original, "Your place is booked", message_id,
                    [Failure(address, "5.1.1")], hub.backend.clock())
    system = system_sender(hub.backend.sender.user_principal_name)
    raw = raw.replace(f"Microsoft Outlook <{system}>".encode(), sender.encode(), 1)
    hub.backend.mail.receive(hub.backend.sender, raw)


def test_forged_or_stray_undeliverable_reports_change_nothing(hub: Hub) -> None:
    """A forged "Undeliverable" from outside, one in Exchange's own name about a Message-ID we never sent, and one
    about our real email but an address it never went to: the booking keeps its note, its emails go on."""
    session = hub.session()
    kept = hub.register(session, "Kept Person", "kept@example.org")
    hub.run()
    sent = message_id_for("mail:message:confirmed:registration-" + kept + f":session-{session}",
                          hub.services.settings.sender)
    [confirmation] = [m for m in hub.backend.mail.sent(hub.backend.sender) if m.to == ("kept@example.org",)]
    assert confirmation.internet_message_id == sent
    system = f"Microsoft Outlook <{system_sender(hub.services.settings.sender)}>"
    forged(hub, "Microsoft Outlook <postmaster@evil.example>", sent, "kept@example.org")
    forged(hub, system, "<0000000000000000000000000000000000000000@council.example.org>", "kept@example.org")
    forged(hub, system, sent, "someone.else@example.org")
    lines = hub.run()
    assert bounce_lines(lines) == ["Bounces: 2 non-delivery reports read; 2 not about an email of ours (ignored)."]
    assert hub.field("Registrations", kept, "StatusNote") == Notes.CONFIRMED
    assert hub.services.store.ledger.list(kind="bounced") == []
    hub.backend.sharepoint.update_fields(hub.site, "Sessions", session, {"Title": "Moved"})
    hub.run()
    assert hub.subjects_to("kept@example.org")[-1] == "A session you're signed up for has changed: Moved"
    assert bounce_lines(hub.run()) == []  # each read once


def test_a_report_seen_by_two_runs_at_once_counts_once(hub: Hub) -> None:
    """Two readers over HTTPS list the same report and read it whole; the conditional claim lets one act."""
    session = hub.session()
    gone = hub.register(session, "Gone Person", GONE)
    hub.run()
    hub.clock.offset += 20 * 60
    looking, reading = threading.Barrier(2), threading.Barrier(2)
    runs: list[BounceRun] = []

    def reader() -> None:
        services = hub.services
        mail = Mail(services.graph, services.settings.sender)
        real_mime = mail.mime
        mail.mime = lambda graph_id: (real_mime(graph_id), reading.wait(timeout=20))[0]  # type: ignore
        bounces = Bounces(services.store, mail, services.signer, services.settings.sender, clock=hub.clock)
        real_due = bounces._due
        bounces._due = lambda now: (looking.wait(timeout=20), real_due(now))[1]  # type: ignore
        runs.append(bounces.run())

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted((r.read, r.bookings) for r in runs) == [(0, 0), (1, 1)]
    digest = hub.services.signer.digest(GONE)
    assert AddressBounces.of(hub.services.store.ledger, digest)[1].hard == 1
    hub.run()
    assert hub.field("Registrations", gone, "StatusNote") == f"{Notes.CONFIRMED} {Notes.BOUNCED}"


def test_without_mail_read_each_run_says_so_in_one_line_and_everything_else_goes_on(hub: Hub) -> None:
    hub.backend.tenant.update({"exchange_app_roles": []})  # Mail.ReadBasic.All lists the Inbox; reading needs more
    session = hub.session()
    gone = hub.register(session, "Gone Person", GONE)
    kept = hub.register(session, "Kept Person", "kept@example.org")
    hub.run()
    lines = hub.run()
    [line] = bounce_lines(lines)
    assert line.startswith("Bounces: not read. Microsoft 365 would not let the app read the non-delivery reports in "
                           "the mailbox's Inbox (403 ErrorAccessDenied): the app's identity needs the Mail.Read "
                           "application permission on the sending mailbox alone")
    assert not [other for other in lines if "stopped" in other]
    record_run(hub.services.store, hub.clock(), hub.clock(), "a test", lines)  # as `sync` records each run
    assert blocked(hub.services.store)["bounces"] == line.removeprefix("Bounces: ")  # `status` says it too
    assert bounce_lines(hub.run(minutes=5)) == [line]  # said every run, not only when it looks
    hub.backend.sharepoint.update_fields(hub.site, "Sessions", session, {"Title": "Moved"})
    hub.run()
    assert hub.subjects_to("kept@example.org")[-1] == hub.subjects_to(GONE)[-1] == \
        "A session you're signed up for has changed: Moved"  # not noticed: emails go on
    hub.backend.tenant.update({"exchange_app_roles": ["Mail.Read"]})
    assert bounce_lines(hub.run()) == ["Bounces: 2 non-delivery reports read; 2 booking emails bounced (noted on the "
                                       "registration; no more emails to that address)."]
    assert hub.field("Registrations", gone, "StatusNote") == f"{Notes.CONFIRMED} {Notes.BOUNCED}"
    assert hub.field("Registrations", kept, "StatusNote") == Notes.CONFIRMED


def test_export_shows_an_address_bounce_record_and_erase_empties_it(hub: Hub) -> None:
    """What the service keeps of an address's bounces is theirs: `export` shows it, `erase` empties it (the key keeps
    only the keyed digest, as every record about them does)."""
    from coprod.privacy.dataprotection import export
    from coprod.privacy.erasure import erase

    session = hub.session()
    hub.register(session, "Gone Person", GONE)
    hub.run()
    hub.run()  # the report read
    digest = hub.services.signer.digest(GONE)
    [entry] = [e for e in export(hub.services, GONE.upper())["state"]["handoffs"] if e["kind"] == "bounced"]
    assert entry["key"] == f"bounced:{digest}" and entry["payload"]["hard"] == 1
    erase(hub.services, GONE)
    held = hub.services.store.ledger.get(f"bounced:{digest}")
    assert held is None or held.payload == {"erased": True}
    assert [e for e in export(hub.services, GONE)["state"]["handoffs"] if e["kind"] == "bounced" and
            e["payload"].get("hard")] == []
