"""Bounces alone (a fake mailbox, a real store): which reports are believed, what each does, and each once.

The reports are in Exchange Online's shape: built by the emulator's `build_ndr` (its sources in its docstring),
and one written out by hand as an Office 365 NDR kept in sisimai/set-of-emails has it (the original's headers as
text/rfc822-headers, its Message-ID folded onto a line of its own). End to end, through the emulator over HTTPS:
tests/flows/test_bounces_emulator.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from coprod import handoffs
from coprod.handoffs import AddressBounces, BounceReport, ListCommand, MailFailed, SentId
from coprod.links import Signer
from coprod.mail.bounces import (
    FIRST_LOOK,
    HARD_LIMIT,
    LOOK_EVERY,
    MARGIN,
    NEXT_LOOK,
    PER_RUN,
    REFUSED,
    SINCE,
    BounceRun,
    Bounces,
    Report,
    classify,
    read_report,
    refused,
)
from coprod.mail.outbox import Outbox
from coprod.store import SqliteStore
from graph_client import ForbiddenError, GraphResponseError, NotFoundError, OutgoingMail, message_hash, message_id_for
from graph_client._mail import InboxMessage
from graph_emulator.mail.ndr import Failure, build_ndr
from tests.support.fakes import T0, FakeClock, FakeMailbox

SENDER = "coproduction@council.example.org"
SYSTEM = "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@council.example.org"
SIGNER = Signer("test-signing-key-0123456789abcdef")
pytestmark = pytest.mark.clock(fixed=True)  # the `clock` fixture is fixed at T0, and the `store` fixture reads it


class FakeMail:
    """The sender's Inbox: reports by Graph id, each with its MIME and when it came; `fail` for a read's error."""

    def __init__(self) -> None:
        self.inbox: dict[str, tuple[bytes, float]] = {}
        self.fail: dict[str, Exception] = {}
        self.listed: list[tuple[datetime, str]] = []
        self.read: list[str] = []
        self.list_error: Exception | None = None
        self.undated: set[str] = set()  # listed without receivedDateTime

    def put(self, raw: bytes, at: float) -> str:
        graph_id = f"AAMk{len(self.inbox)}"
        self.inbox[graph_id] = (raw, at)
        return graph_id

    def reports_since(self, since: datetime, system_sender: str) -> Iterator[InboxMessage]:
        self.listed.append((since, system_sender))
        if self.list_error is not None:
            raise self.list_error
        for graph_id, (_, at) in sorted(self.inbox.items(), key=lambda i: i[1][1]):
            if at >= since.timestamp():
                yield InboxMessage(id=graph_id, internet_message_id=f"<ndr-{graph_id}@eur.prod.outlook.com>",
                                   received_date_time=None if graph_id in self.undated else
                                   datetime.fromtimestamp(at, UTC))

    def mime(self, graph_id: str) -> bytes:
        self.read.append(graph_id)
        if graph_id in self.fail:
            raise self.fail[graph_id]
        return self.inbox[graph_id][0]


def forbidden() -> ForbiddenError:
    return ForbiddenError("read a non-delivery report", 403, "ErrorAccessDenied", "Access is denied.", None, None)


def sent(store: SqliteStore, clock: FakeClock, key: str, to: str, about: dict[str, str] | None = None,
         kind: str = "confirmed") -> str:
    """An email the outbox sent (so it recorded its Message-ID): its Message-ID."""
    outbox = Outbox(store, FakeMailbox(), clock=clock, sleep=lambda s: None)
    outbox.enqueue(OutgoingMail(key=key, to=(to,), subject="Your place is booked", text="Hello"), kind, about)
    assert outbox.drain().sent == 1
    return message_id_for(key, SENDER)


def ndr(message_id: str, *failed: tuple[str, str], sender: str = SENDER) -> bytes:
    original = (f"From: Co-production Team <{SENDER}>\r\nTo: someone\r\nSubject: Your place is booked\r\n"
                f"Message-ID: {message_id}\r\n\r\nHello\r\n").encode()
    return build_ndr(sender, original, "Your place is booked", message_id, [Failure(a, s) for a, s in failed], T0)


def bounces(store: SqliteStore, mail: FakeMail | None, clock: FakeClock) -> Bounces:
    return Bounces(store, mail, SIGNER, SENDER, clock=clock)  # type: ignore[arg-type]


def looked(store: SqliteStore, clock: FakeClock, mail: FakeMail) -> BounceRun:
    """A run at a time a look is due (the last send over LOOK_EVERY ago)."""
    clock.now += LOOK_EVERY.total_seconds() + 1
    return bounces(store, mail, clock).run()


# --- what a report says ------------------------------------------------------------------------------
OFFICE365 = "\r\n".join([  # as sisimai/set-of-emails maildir/bsd/lhost-office365-11.eml has it, shortened
    f"From: Microsoft Outlook <{SYSTEM}>",
    f"To: <{SENDER}>",
    "Content-Type: multipart/report; report-type=delivery-status;",
    '    boundary="2fb4ff5c"',
    "X-MS-Exchange-Message-Is-Ndr:",
    "Message-ID: <49d8ee10@PU1APC01HT176.mail.protection.outlook.com>",
    "Subject: Undeliverable: Nyaan",
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
    "",
    "--2fb4ff5c",
    'Content-Type: text/plain; charset="us-ascii"',
    "",
    "Diagnostic information for administrators:",
    "Remote Server returned '550 5.1.1 <kijitora@cr3.neko.example>... User Unknown'",
    "--2fb4ff5c",
    "Content-Type: message/delivery-status",
    "",
    "Reporting-MTA: dns;PU1APC01HT176.mail.protection.outlook.com",
    "",
    "Final-Recipient: rfc822;Kijitora@cr3.neko.example",
    "Action: failed",
    "Status: 5.1.1",
    "Diagnostic-Code: smtp;550 5.1.1 <kijitora@cr3.neko.example>... User Unknown",
    "",
    "--2fb4ff5c",
    "Content-Type: text/rfc822-headers",
    "",
    f"From: <{SENDER}>",
    "Subject: Nyaan",
    "Message-ID:",
    " <0123abcd@council.example.org>",
    "",
    "--2fb4ff5c--",
    ""]).encode()


def test_an_office_365_report_names_the_original_and_each_failed_address() -> None:
    assert read_report(OFFICE365, SENDER) == Report("<0123abcd@council.example.org>",
                                                    (("kijitora@cr3.neko.example", "5.1.1"),))
    assert read_report(ndr("<a1@council.example.org>", ("Gone@Example.org", "5.1.10"), ("x@example.org", "4.4.7")),
                       SENDER) == Report("<a1@council.example.org>", (("gone@example.org", "5.1.10"),
                                                                      ("x@example.org", "4.4.7")))


@pytest.mark.parametrize(("change", "why"), [
    (lambda r: r.replace(SYSTEM.encode(), b"postmaster@evil.example"), "not from Exchange"),
    (lambda r: r.replace(b"council.example.org>\r\nTo", b"evil.example>\r\nTo", 1), "not from Exchange"),
    (lambda r: r.replace(b"From: Microsoft", b"From: a@b.example, Microsoft"), "not from Exchange"),
    (lambda r: r.replace(b"report-type=delivery-status", b"report-type=disposition-notification"),
     "not a delivery report"),
    (lambda r: r.replace(b"multipart/report", b"multipart/mixed"), "not a delivery report"),
    (lambda r: r.replace(b"Subject: Undeliverable", b"In-Reply-To: <other@council.example.org>\r\nSubject: "
                                                   b"Undeliverable"), "not about one message"),
    (lambda r: r.replace(b"Message-ID:\r\n <0123abcd@council.example.org>", b"X-Nothing: here"),
     "not about one message"),
    (lambda r: r.replace(b"Action: failed", b"Action: delayed"), "no failed address"),
    (lambda r: r.replace(b"Final-Recipient: rfc822;", b"Final-Recipient: x400;"), "no failed address"),
    (lambda r: r.replace(b"Status: 5.1.1", b"Status: soon"), "no failed address"),
])
def test_what_is_not_exchanges_report_about_one_email_of_ours_is_not_believed(change: Any, why: str) -> None:
    """A forged "Undeliverable" from outside, one from Exchange of another tenant, a read receipt, a report that
    names no message, or two: each says why it is not believed."""
    assert read_report(change(OFFICE365), SENDER) == why


def test_a_recipient_type_and_a_status_are_read_as_rfc_3464_allows() -> None:
    """The address type in any case, a comment after the status; a status that is not one, or comes after words,
    is no status."""
    loose = OFFICE365.replace(b"Final-Recipient: rfc822;", b"Final-Recipient: RFC822 ; ").replace(
        b"Status: 5.1.1", b"Status: 5.1.1 (bad destination mailbox address)")
    assert read_report(loose, SENDER) == Report("<0123abcd@council.example.org>",
                                                (("kijitora@cr3.neko.example", "5.1.1"),))
    for status in (b"Status: x5.1.1", b"Status: 5.1", b"Status: 5.1.1x"):
        assert read_report(OFFICE365.replace(b"Status: 5.1.1", status), SENDER) == "no failed address"


def test_the_original_may_be_named_by_in_reply_to_alone_or_by_both_when_they_agree() -> None:
    alone = OFFICE365.replace(b"Message-ID:\r\n <0123abcd@council.example.org>", b"X-Nothing: here").replace(
        b"Subject: Undeliverable", b"In-Reply-To: <0123abcd@council.example.org>\r\nSubject: Undeliverable")
    both = OFFICE365.replace(b"Subject: Undeliverable",
                             b"In-Reply-To:  <0123abcd@council.example.org> \r\nSubject: Undeliverable")
    assert read_report(alone, SENDER) == read_report(both, SENDER) == read_report(OFFICE365, SENDER)
    broken = both.replace(b"In-Reply-To:  <0123abcd@council.example.org>", b"In-Reply-To: 0123abcd@council")
    assert read_report(broken, SENDER) == read_report(OFFICE365, SENDER)  # not an id at all: left out
    attached_only = ndr("<a1@council.example.org>", ("gone@example.org", "5.1.1")).replace(
        b"In-Reply-To: <a1@council.example.org>\r\n", b"")
    assert b"In-Reply-To" not in attached_only
    assert read_report(attached_only, SENDER) == Report("<a1@council.example.org>", (("gone@example.org", "5.1.1"),))


@pytest.mark.parametrize(("status", "kind"), [
    ("5.1.1", "hard"), ("5.1.2", "hard"), ("5.1.3", "hard"), ("5.1.6", "hard"), ("5.1.10", "hard"),
    ("5.4.1", "hard"), ("5.1.90", "limit"), ("5.2.2", "limit"), ("5.1.8", "other"), ("5.7.1", "other"),
    ("4.4.7", "other"), ("5.1.100", "other")])
def test_only_an_address_that_does_not_exist_is_a_hard_bounce(status: str, kind: str) -> None:
    """Exchange Online's NDR reference: 5.1.1 and 5.1.10, the recipient not found; 5.4.1, rejected by
    directory-based edge blocking (the address does not exist); 5.1.90 and 5.2.2, the sender's own limits."""
    assert classify(status) == kind


# --- acting on reports -------------------------------------------------------------------------------
def test_a_bookings_bounce_is_noted_on_it_and_its_later_emails_are_withheld(store: SqliteStore,
                                                                           clock: FakeClock) -> None:
    about = {"registration": "7", "session": "3"}
    original = sent(store, clock, "mail:message:confirmed:registration-7", "gone@example.org", about)
    mail = FakeMail()
    mail.put(ndr(original, ("gone@example.org", "5.1.1")), clock.now + 5)
    run = looked(store, clock, mail)
    assert (run.read, run.bookings, run.line()) == (1, 1, "Bounces: 1 non-delivery report read; 1 booking email "
                                                          "bounced (noted on the registration; no more emails to that "
                                                          "address).")
    [(_, failure)] = MailFailed.every(store.ledger)
    assert (failure.message_key, failure.kind, failure.reason, failure.about, failure.to, failure.bounced) == (
        "mail:message:confirmed:registration-7", "confirmed", "it came back undelivered (5.1.1)", about,
        ("gone@example.org",), True)
    digest = SIGNER.digest("gone@example.org")
    assert AddressBounces.of(store.ledger, digest)[1] == AddressBounces(digest, 1, 0,
                                                                        ("<ndr-AAMk0@eur.prod.outlook.com>",))

    outbox = Outbox(store, FakeMailbox(), clock=clock, sleep=lambda s: None)
    outbox.wanted = bounces(store, None, clock).wanted
    outbox.enqueue(OutgoingMail(key="mail:reminder:r7", to=("Gone@example.org",), subject="s", text="t"),
                   "reminder", about)
    outbox.enqueue(OutgoingMail(key="mail:reminder:r8", to=("here@example.org",), subject="s", text="t"),
                   "reminder", {"registration": "8"})
    outbox.enqueue(OutgoingMail(key="mail:update-1-9", to=("gone@example.org",), subject="s", text="t"),
                   "update", {"subscriber": "9"})
    outbox.enqueue(OutgoingMail(key="mail:update-1-10", to=("left@example.org",), subject="s", text="t"),
                   "update", {"subscriber": "10"})
    outbox.checks["update"] = lambda entry: entry.payload["about"]["subscriber"] == "9"  # (10 has left the list)
    drained = outbox.drain()
    assert (drained.sent, drained.cancelled) == (2, 2)  # each kind's check, and then every message's, are asked
    assert [store.outbox.get(k).status for k in ("mail:update-1-9", "mail:update-1-10")] == [  # type: ignore
        "sent", "cancelled"]
    assert store.outbox.get("mail:reminder:r7").status == "cancelled"  # type: ignore[union-attr]
    assert handoffs.get(store.ledger, MailFailed("mail:reminder:r7", "", "")).payload == {  # type: ignore[union-attr]
        "registration": "7", "session": "3", "kind": "reminder",
        "reason": "it came back undelivered: an earlier email to this address did", "to": ["Gone@example.org"]}


def test_a_subscriber_is_set_bouncing_after_three_hard_bounces_and_counts_again_after(store: SqliteStore,
                                                                                    clock: FakeClock) -> None:
    mail = FakeMail()
    for n in range(HARD_LIMIT + 1):
        original = sent(store, clock, f"mail:update-{n}-9", "gone@example.org", {"subscriber": "9"}, "update")
        mail.put(ndr(original, ("gone@example.org", "5.1.10")), clock.now + 1)
        run = looked(store, clock, mail)
        assert (run.read, run.subscribers, run.bouncing, run.bookings) == (1, 1, int(n == HARD_LIMIT - 1), 0)
    digest = SIGNER.digest("gone@example.org")
    [command] = store.ledger.list(kind="bouncing")
    assert (command.key, command.status) == (ListCommand("bouncing", f"9:{digest}").key, "due")
    record = AddressBounces.of(store.ledger, digest)[1]
    assert (record.hard, record.toward, len(record.reports)) == (4, 1, 4)
    assert MailFailed.every(store.ledger) == []  # an update's bounce notes nothing on a booking


def test_a_bounce_of_an_email_about_neither_only_stops_booking_emails_to_it(store: SqliteStore,
                                                                              clock: FakeClock) -> None:
    original = sent(store, clock, "mail:bookings-link:d:2026-12-01", "gone@example.org", None, "bookings_link")
    mail = FakeMail()
    mail.put(ndr(original, ("gone@example.org", "5.1.1")), clock.now + 1)
    run = looked(store, clock, mail)
    assert (run.read, run.bookings, run.subscribers, store.ledger.list(kind="bouncing")) == (1, 0, 0, [])
    assert AddressBounces.stopped(store.ledger) == {SIGNER.digest("gone@example.org")}


def test_one_run_counts_every_report_it_reads(store: SqliteStore, clock: FakeClock) -> None:
    """Two of each: bookings, subscribers' updates (two subscribers set Bouncing), the mailbox's limit, passing
    failures, and reports ignored for each reason; one report naming two addresses says what each was."""
    mail = FakeMail()
    for n in (1, 2):
        booking = sent(store, clock, f"mail:message:confirmed:registration-{n}", f"b{n}@example.org",
                       {"registration": str(n), "session": "3"})
        mail.put(ndr(booking, (f"b{n}@example.org", "5.1.1")), clock.now)
        for m in range(HARD_LIMIT):
            update = sent(store, clock, f"mail:update-{m}-{n}", f"s{n}@example.org", {"subscriber": str(n)},
                          "update")
            mail.put(ndr(update, (f"s{n}@example.org", "5.1.10")), clock.now)
        limit = sent(store, clock, f"mail:limit-{n}", f"l{n}@example.org")
        mail.put(ndr(limit, (f"l{n}@example.org", "5.1.90")), clock.now)
        other = sent(store, clock, f"mail:other-{n}", f"o{n}@example.org")
        mail.put(ndr(other, (f"o{n}@example.org", "4.4.7")), clock.now)
    mail.put(ndr("<0000@council.example.org>", ("x@example.org", "5.1.1")), clock.now)
    mail.put(ndr(message_id_for("mail:never-sent", SENDER), ("x@example.org", "5.1.1")), clock.now)
    outbox = Outbox(store, FakeMailbox(), clock=clock, sleep=lambda s: None)
    outbox.enqueue(OutgoingMail(key="mail:two", to=("f1@example.org", "f2@example.org"), subject="s", text="t"),
                   "facilitator_brief", {"session": "3"})
    assert outbox.drain().sent == 1
    two = mail.put(ndr(message_id_for("mail:two", SENDER), ("f1@example.org", "5.1.1"),
                       ("f2@example.org", "4.4.7")), clock.now)
    run = looked(store, clock, mail)
    assert (run.read, run.bookings, run.subscribers, run.bouncing, run.limit, run.other, run.ignored) == (
        2 + 2 * HARD_LIMIT + 4 + 2 + 1, 2, 2 * HARD_LIMIT, 2, 2, 3, 2)
    assert len(store.ledger.list(kind="bouncing")) == 2
    assert store.ledger.get(BounceReport(f"<ndr-{two}@eur.prod.outlook.com>").key).payload == {  # type: ignore
        "outcome": "hard 5.1.1, other 4.4.7"}
    assert {e.status for e in store.ledger.list(kind="bounced")} == {"done"}  # facts, not waiting for anyone


@pytest.mark.parametrize(("status", "counted"), [("5.1.90", "limit"), ("4.4.7", "other"), ("5.7.1", "other")])
def test_a_report_of_the_mailboxs_own_limit_or_a_passing_failure_changes_nothing(
        store: SqliteStore, clock: FakeClock, status: str, counted: str) -> None:
    original = sent(store, clock, "mail:message:confirmed:registration-7", "slow@example.org",
                    {"registration": "7", "session": "3"})
    mail = FakeMail()
    mail.put(ndr(original, ("slow@example.org", status)), clock.now + 1)
    run = looked(store, clock, mail)
    assert (run.read, getattr(run, counted), run.bookings) == (1, 1, 0)
    assert (MailFailed.every(store.ledger), AddressBounces.stopped(store.ledger)) == ([], set())
    assert store.ledger.get(BounceReport("<ndr-AAMk0@eur.prod.outlook.com>").key).payload == {  # type: ignore
        "outcome": f"{counted} {status}"}


def test_a_report_the_parser_gives_up_on_is_ignored(store: SqliteStore, clock: FakeClock,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def gives_up(raw: bytes, sender: str) -> Report:
        raise IndexError("a header no parser expected")

    monkeypatch.setattr("coprod.mail.bounces.read_report", gives_up)
    original = sent(store, clock, "mail:message:confirmed:registration-7", "gone@example.org")
    mail = FakeMail()
    mail.put(ndr(original, ("gone@example.org", "5.1.1")), clock.now + 1)
    assert looked(store, clock, mail).ignored == 1
    assert store.ledger.get(BounceReport("<ndr-AAMk0@eur.prod.outlook.com>").key).payload == {  # type: ignore
        "outcome": "ignored: unreadable (IndexError)"}


@pytest.mark.parametrize(("raw", "outcome"), [
    (lambda m: ndr(m, ("gone@example.org", "5.1.1"), sender="someone@evil.example"), "ignored: not from Exchange"),
    (lambda m: ndr("<0000@council.example.org>", ("gone@example.org", "5.1.1")), "ignored: not an email we sent"),
    (lambda m: ndr(m.replace("council.example.org", "evil.example"), ("gone@example.org", "5.1.1")),
     "ignored: not an email we sent"),
    (lambda m: ndr(m, ("other@example.org", "5.1.1")), "ignored: not an address that email went to"),
    (lambda m: b"\xff\xfe not mail at all", "ignored: not from Exchange"),
])
def test_a_forged_or_stray_report_changes_nothing(store: SqliteStore, clock: FakeClock, raw: Any, outcome: str) -> None:
    """A forged "Undeliverable" from outside, a Message-ID we never sent (or ours at another domain), an address
    the email never went to: counted as ignored, and nothing else."""
    original = sent(store, clock, "mail:message:confirmed:registration-7", "gone@example.org",
                    {"registration": "7", "session": "3"})
    mail = FakeMail()
    mail.put(raw(original), clock.now + 1)
    run = looked(store, clock, mail)
    assert (run.read, run.ignored, run.bookings) == (1, 1, 0)
    assert (MailFailed.every(store.ledger), store.ledger.list(kind="bounced")) == ([], [])
    assert store.ledger.get(BounceReport("<ndr-AAMk0@eur.prod.outlook.com>").key).payload == {  # type: ignore
        "outcome": outcome}
    assert run.line() == "Bounces: 1 non-delivery report read; 1 not about an email of ours (ignored)."


def test_a_report_about_an_email_that_did_not_go_is_ignored(store: SqliteStore, clock: FakeClock) -> None:
    sent(store, clock, "mail:other", "a@example.org")  # (something went, so it looks)
    key, lost = "mail:message:confirmed:registration-7", "mail:message:confirmed:registration-8"
    handoffs.record(store.ledger, SentId(message_hash(key), key), "done")  # recorded, but the email is still queued
    store.outbox.add(key, "confirmed", {"to": ["gone@example.org"]}, 1)
    handoffs.record(store.ledger, SentId(message_hash(lost), lost), "done")  # recorded, and no such email at all
    mail = FakeMail()
    for email in (key, lost):
        mail.put(ndr(message_id_for(email, SENDER), ("gone@example.org", "5.1.1")), clock.now + 1)
    run = looked(store, clock, mail)
    assert (run.read, run.ignored) == (2, 2)


# --- each report once ----------------------------------------------------------------------------------
def test_a_report_is_read_once_across_runs(store: SqliteStore, clock: FakeClock) -> None:
    original = sent(store, clock, "mail:message:confirmed:registration-7", "gone@example.org",
                    {"registration": "7", "session": "3"})
    mail = FakeMail()
    mail.put(ndr(original, ("gone@example.org", "5.1.1")), clock.now + 1)
    assert looked(store, clock, mail).read == 1
    store.checkpoints.set(SINCE, "0")  # as if the checkpoint were lost: the report is listed again
    again = looked(store, clock, mail)
    assert (again.read, again.line(), mail.read) == (0, None, ["AAMk0"])
    assert AddressBounces.of(store.ledger, SIGNER.digest("gone@example.org"))[1].hard == 1


def test_a_report_seen_by_two_runs_at_once_is_acted_on_once(store: SqliteStore, clock: FakeClock) -> None:
    """Both list it and read it; the conditional claim lets one act: one note, one count, one report read."""
    original = sent(store, clock, "mail:update-1-9", "gone@example.org", {"subscriber": "9"}, "update")
    mail = FakeMail()
    mail.put(ndr(original, ("gone@example.org", "5.1.1")), clock.now + 1)
    clock.now += LOOK_EVERY.total_seconds() + 1
    both_looking, both_read = threading.Barrier(2), threading.Barrier(2)
    real_mime = mail.mime

    def slow_mime(graph_id: str) -> bytes:
        raw = real_mime(graph_id)
        both_read.wait(timeout=10)  # neither claims before both have read it
        return raw

    def one_run() -> BounceRun:
        run = bounces(store, mail, clock)
        real_due = run._due

        def due(now: float) -> bool:
            both_looking.wait(timeout=10)  # both past "is it time to look?" before either says when the next is
            return real_due(now)

        run._due = due  # type: ignore[method-assign]
        return run.run()

    mail.mime = slow_mime  # type: ignore[method-assign]
    runs: list[BounceRun] = []
    threads = [threading.Thread(target=lambda: runs.append(one_run())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted((r.read, r.subscribers, r.waiting) for r in runs) == [(0, 0, True), (1, 1, False)]
    record = AddressBounces.of(store.ledger, SIGNER.digest("gone@example.org"))[1]
    assert (record.hard, record.toward) == (1, 1)
    assert store.ledger.get(BounceReport("<ndr-AAMk0@eur.prod.outlook.com>").key).status == "done"  # type: ignore


def test_a_run_that_stopped_after_its_claim_is_taken_over_and_nothing_is_done_twice(store: SqliteStore,
                                                                                   clock: FakeClock) -> None:
    original = sent(store, clock, "mail:update-1-9", "gone@example.org", {"subscriber": "9"}, "update")
    mail = FakeMail()
    mail.put(ndr(original, ("gone@example.org", "5.1.1")), clock.now + 1)
    crashing = bounces(store, mail, clock)
    crashing._act = lambda raw, report_id, report: (_ for _ in ()).throw(SystemExit())  # type: ignore
    clock.now += LOOK_EVERY.total_seconds() + 1
    with pytest.raises(SystemExit):
        crashing.run()
    report_key = BounceReport("<ndr-AAMk0@eur.prod.outlook.com>").key
    assert store.ledger.get(report_key).status == "sending"  # type: ignore[union-attr]
    store.checkpoints.set(NEXT_LOOK, "0")
    assert bounces(store, mail, clock).run().waiting  # another run may be reading it: left for later
    clock.now += 299
    store.checkpoints.set(NEXT_LOOK, "0")
    assert bounces(store, mail, clock).run().waiting  # still within the 5 minutes another run may take
    clock.now += 1
    store.checkpoints.set(NEXT_LOOK, "0")
    assert bounces(store, mail, clock).run().read == 1  # 5 minutes untouched: taken over
    digest = SIGNER.digest("gone@example.org")
    half_done = AddressBounces.of(store.ledger, digest)
    store.ledger.set(report_key, "sending")  # stopped again, after counting: nothing is counted twice
    clock.now += 301
    store.checkpoints.set(NEXT_LOOK, "0")
    assert bounces(store, mail, clock).run().read == 1
    assert AddressBounces.of(store.ledger, digest)[1] == half_done[1]


def test_two_runs_counting_two_reports_of_one_address_at_once_both_count(store: SqliteStore,
                                                                           clock: FakeClock) -> None:
    """The address's record is a conditional write: the run that loses reads it again and adds its own."""
    digest = SIGNER.digest("gone@example.org")
    first = sent(store, clock, "mail:update-1-9", "gone@example.org", {"subscriber": "9"}, "update")
    racing = bounces(store, None, clock)
    real_of = AddressBounces.of
    calls = 0

    def of_then_someone_else_counts(ledger: Any, address: str) -> Any:
        nonlocal calls
        seen = real_of(ledger, address)
        calls += 1
        if calls == 1:  # between this read and this run's write, another run counts its report
            handoffs.record(store.ledger, AddressBounces(digest, 1, 1, ("other",)), "done")
        return seen

    report = BounceRun()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AddressBounces, "of", staticmethod(of_then_someone_else_counts))
        racing._act(ndr(first, ("gone@example.org", "5.1.1")), "mine", report)
    assert AddressBounces.of(store.ledger, digest)[1] == AddressBounces(digest, 2, 2, ("other", "mine"))
    assert (calls, report.subscribers) == (2, 1)


# --- when to look, and what is said --------------------------------------------------------------------
def test_it_looks_every_15_minutes_only_for_what_went_in_the_last_two_days_and_not_just_now(
        store: SqliteStore, clock: FakeClock) -> None:
    mail = FakeMail()
    assert bounces(store, mail, clock).run().line() is None and mail.listed == []  # nothing ever went
    sent(store, clock, "mail:x", "a@example.org")
    clock.now += LOOK_EVERY.total_seconds()
    bounces(store, mail, clock).run()
    assert mail.listed == []  # it went only just 15 minutes ago (a report may still be on its way)
    clock.now += 1
    bounces(store, mail, clock).run()
    assert mail.listed == [(datetime.fromtimestamp(clock.now - FIRST_LOOK.total_seconds(), UTC) - MARGIN, SYSTEM)]
    assert store.checkpoints.get(NEXT_LOOK) == str(clock.now + LOOK_EVERY.total_seconds())
    clock.now += LOOK_EVERY.total_seconds() - 1
    bounces(store, mail, clock).run()
    assert len(mail.listed) == 1  # not yet time
    clock.now += 1
    bounces(store, mail, clock).run()
    assert len(mail.listed) == 2
    clock.now += FIRST_LOOK.total_seconds()
    bounces(store, mail, clock).run()
    assert len(mail.listed) == 2  # what went is over two days old: nothing can come back about it now
    assert bounces(store, None, clock).run() == BounceRun()  # mail that goes another way (ACS) is not read here


def test_the_checkpoint_moves_to_the_newest_read_or_stops_at_the_first_left_unread(
        store: SqliteStore, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    original = sent(store, clock, "mail:update-1-9", "gone@example.org", {"subscriber": "9"}, "update")
    mail = FakeMail()
    first = mail.put(ndr(original, ("gone@example.org", "4.4.7")), clock.now + 10)
    second = mail.put(ndr(original, ("gone@example.org", "4.4.7")), clock.now + 20)
    third = mail.put(ndr(original, ("gone@example.org", "4.4.7")), clock.now + 30)
    mail.fail[second] = GraphResponseError("read a non-delivery report", 500, "x", "boom", None, None)
    run = looked(store, clock, mail)
    assert (run.read, run.waiting, mail.read) == (1, True, [first, second])
    assert store.checkpoints.get(SINCE) == str(T0 + 20)
    assert run.line() == "Bounces: 1 non-delivery report read; 1 not a lasting failure (nothing done); more left " \
                         "for the next run."
    assert caplog.messages == ["A non-delivery report could not be read; tried again next run: read a "
                               "non-delivery report: HTTP 500 x (request-id none): boom"]
    del mail.fail[second]
    mail.fail[third] = NotFoundError("read a non-delivery report", 404, "ErrorItemNotFound", "gone", None, None)
    run = looked(store, clock, mail)  # (deleted from the Inbox since it was listed: nothing to read)
    assert (run.read, run.waiting, store.checkpoints.get(SINCE)) == (1, False, str(T0 + 30))
    assert mail.read == [first, second, second, third]
    assert mail.listed[-1][0] == datetime.fromtimestamp(T0 + 20, UTC) - MARGIN  # from the checkpoint
    mail.undated.add(third)
    store.ledger.delete(BounceReport(f"<ndr-{third}@eur.prod.outlook.com>").key)
    del mail.fail[third]
    assert looked(store, clock, mail).read == 1
    assert store.checkpoints.get(SINCE) == str(clock.now)  # a report with no time given counts as come now


def test_a_run_reads_at_most_its_share_and_leaves_the_rest(store: SqliteStore, clock: FakeClock,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("coprod.mail.bounces.PER_RUN", 2)
    original = sent(store, clock, "mail:update-1-9", "gone@example.org", {"subscriber": "9"}, "update")
    mail = FakeMail()
    for n in range(3):
        mail.put(ndr(original, ("gone@example.org", "4.4.7")), clock.now + n)
    run = looked(store, clock, mail)
    assert (run.read, run.waiting, store.checkpoints.get(SINCE)) == (2, True, str(T0 + 2))
    assert PER_RUN == 200  # (as the module has it, untouched)


def test_without_the_permission_every_run_says_so_in_one_line_and_a_look_that_reads_clears_it(
        store: SqliteStore, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    original = sent(store, clock, "mail:message:confirmed:registration-7", "gone@example.org",
                    {"registration": "7", "session": "3"})
    mail = FakeMail()
    graph_id = mail.put(ndr(original, ("gone@example.org", "5.1.1")), clock.now + 1)
    mail.fail[graph_id] = forbidden()
    line = looked(store, clock, mail).line()
    assert line == (
        "Bounces: not read. Microsoft 365 would not let the app read the non-delivery reports in the mailbox's "
        "Inbox (403 ErrorAccessDenied): the app's identity needs the Mail.Read application permission on the "
        "sending mailbox alone: with Exchange RBAC for Applications, the role 'Application Mail.Read' scoped to "
        "that mailbox (docs/permissions.md, section 3); see "
        "https://learn.microsoft.com/graph/api/message-get?view=graph-rest-1.0. Until then, a bounced address is "
        "not noticed: booking emails and updates keep going to it; nothing else waits.")
    assert store.checkpoints.get(REFUSED) == line.removeprefix("Bounces: not read. ")  # type: ignore[union-attr]
    assert caplog.messages == ["read a non-delivery report: HTTP 403 ErrorAccessDenied (request-id none): Access is "
                               "denied."]
    clock.now += 60  # not time to look again: still said
    assert bounces(store, mail, clock).run().line() == line
    assert (MailFailed.every(store.ledger), store.checkpoints.get(SINCE)) == ([], None)
    mail.list_error = forbidden()  # Mail.ReadBasic.All gone too: listing is refused the same way
    assert looked(store, clock, mail).line() == line
    mail.list_error = None
    del mail.fail[graph_id]
    assert looked(store, clock, mail).read == 1
    assert store.checkpoints.get(REFUSED) == ""
    nameless = ForbiddenError("read a non-delivery report", 403, None, "", None, None)
    assert refused(nameless).startswith("Microsoft 365 would not let the app read the non-delivery reports in the "
                                        "mailbox's Inbox (403): the app's identity needs")


def test_a_listing_that_fails_otherwise_waits_for_the_next_look(store: SqliteStore, clock: FakeClock,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    sent(store, clock, "mail:x", "a@example.org")
    mail = FakeMail()
    mail.list_error = GraphResponseError("read the mailbox's non-delivery reports", 503, "x", "busy", None, None)
    run = looked(store, clock, mail)
    assert (run.line(), store.checkpoints.get(SINCE)) == (None, str(clock.now - FIRST_LOOK.total_seconds()))
    assert caplog.messages == ["Non-delivery reports could not be listed: read the mailbox's non-delivery reports: "
                               "HTTP 503 x (request-id none): busy"]


def test_the_summary_says_each_count_once() -> None:
    run = BounceRun(read=9, bookings=2, subscribers=3, bouncing=1, limit=1, other=1, ignored=1)
    assert run.line() == (
        "Bounces: 9 non-delivery reports read; 2 booking emails bounced (noted on the registration; no more "
        "emails to that address); 3 updates to subscribers bounced; 1 subscriber set to Bouncing; 1 held back by the "
        "mailbox's own sending limit; 1 not a lasting failure (nothing done); 1 not about an email of ours "
        "(ignored).")
    assert BounceRun().line() is None


def test_an_email_that_went_is_recorded_under_its_message_id_and_a_recovered_one_too(store: SqliteStore,
                                                                                    clock: FakeClock) -> None:
    key = "mail:message:confirmed:registration-7"
    sent(store, clock, key, "a@example.org")
    assert SentId.key_of(store.ledger, message_hash(key)) == key
    assert store.ledger.get(SentId(message_hash(key)).key).status == "done"  # type: ignore[union-attr]
    assert SentId.key_of(store.ledger, message_hash("mail:never")) is None

    lost = FakeMailbox()
    lost.lost_answers.add("mail:lost")  # it goes, but its answer is lost; Sent Items has it
    outbox = Outbox(store, lost, clock=clock, sleep=lambda s: None, recheck_after=300)
    outbox.enqueue(OutgoingMail(key="mail:lost", to=("b@example.org",), subject="s", text="t"), "confirmed")
    outbox.drain()
    assert SentId.key_of(store.ledger, message_hash("mail:lost")) is None  # not known to have gone
    clock.now += 301
    assert outbox.drain().recovered == 1
    assert SentId.key_of(store.ledger, message_hash("mail:lost")) == "mail:lost"
