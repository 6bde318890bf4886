"""The outbox alone (a fake transport and clock): the mailbox's rate, each message once, crashes survived.

Sending through Graph to the emulator is covered in the end-to-end tests; these pin the outbox's own rules.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from coprod.outbox import MailThrottled, MailUncertain, Outbox, SendLimits
from coprod.state import SqliteStore
from graph_client import OutgoingMail


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeMailbox:
    """A transport that records when each message went; `fail` makes the next sends raise."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, str]] = []
        self.fail: list[Exception] = []
        self.lost_answers: set[str] = set()

    def send(self, mail: OutgoingMail) -> None:
        if self.fail:
            raise self.fail.pop(0)
        self.sent.append((self.clock(), mail.key))
        if mail.key in self.lost_answers:
            raise MailUncertain("send an email: read timed out")

    def was_sent(self, key: str) -> bool:
        return any(k == key for _, k in self.sent)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path, clock: Clock) -> Iterator[SqliteStore]:  # type: ignore[no-untyped-def]
    db = SqliteStore(tmp_path / "state.sqlite3", clock=clock)
    yield db
    db.close()


def mail(n: int) -> OutgoingMail:
    return OutgoingMail(key=f"mail:test:{n}", to=(f"person{n}@example.org",), subject="Hello", text="Hello")


def test_each_key_is_queued_once() -> None:
    clock = Clock()
    db = SqliteStore(":memory:")
    outbox = Outbox(db, FakeMailbox(clock), clock=clock, sleep=clock.sleep)
    assert [outbox.enqueue(mail(1), "test"), outbox.enqueue(mail(1), "test")] == [True, False]
    assert db.outbox_counts() == {"queued": 1}


def test_no_more_than_the_limit_in_any_window(store: SqliteStore, clock: Clock) -> None:
    """100 messages at 30 a minute: no 60-second window ever holds 31, and the queue empties."""
    mailbox = FakeMailbox(clock)
    outbox = Outbox(store, mailbox, SendLimits(per_window=30, window_seconds=60), clock=clock, sleep=clock.sleep)
    for n in range(100):
        outbox.enqueue(mail(n), "test")
    report = outbox.drain()
    assert report.sent == 100 and report.throttled == 0
    times = [t for t, _ in mailbox.sent]
    assert max(sum(1 for u in times if t <= u < t + 60) for t in times) == 30
    assert times[-1] - times[0] < 4 * 60  # and no slower than it must be: 100 at 30 a minute is just over 3 minutes


def test_what_cannot_go_before_the_deadline_waits_for_the_next_run(store: SqliteStore, clock: Clock) -> None:
    mailbox = FakeMailbox(clock)
    outbox = Outbox(store, mailbox, SendLimits(per_window=30, window_seconds=60), clock=clock, sleep=clock.sleep)
    for n in range(50):
        outbox.enqueue(mail(n), "test")
    first = outbox.drain(deadline=clock() + 30)
    assert (first.sent, first.waiting) == (30, 20)
    clock.now += 60
    assert outbox.drain().sent == 20
    assert len({k for _, k in mailbox.sent}) == 50 == len(mailbox.sent)


def test_recipients_a_day_are_counted(store: SqliteStore, clock: Clock) -> None:
    outbox = Outbox(store, FakeMailbox(clock), SendLimits(per_window=1000, per_day=3), clock=clock, sleep=clock.sleep)
    for n in range(5):
        outbox.enqueue(mail(n), "test")
    assert outbox.drain(deadline=clock() + 600).sent == 3


def test_a_lost_answer_is_checked_in_sent_items_never_sent_twice(store: SqliteStore, clock: Clock) -> None:
    """The answer to a send is lost: the message stays `sending`; later, Sent Items shows it went."""
    mailbox = FakeMailbox(clock)
    mailbox.lost_answers.add("mail:test:1")
    outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep, recheck_after=300)
    outbox.enqueue(mail(1), "test")
    outbox.drain()
    assert outbox.drain().sent == 0  # too soon to tell: left alone
    clock.now += 301
    report = outbox.drain()
    assert (report.recovered, report.sent, len(mailbox.sent)) == (1, 0, 1)
    assert store.outbox_counts() == {"sent": 1}


def test_a_crash_before_the_send_left_it_sending_and_it_goes_once(store: SqliteStore, clock: Clock) -> None:
    """Marked `sending`, then the process died before the request: not in Sent Items, so it goes (once)."""
    mailbox = FakeMailbox(clock)
    outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep, recheck_after=300)
    outbox.enqueue(mail(1), "test")
    store.outbox_set("mail:test:1", "sending")  # as the crashed run left it
    assert outbox.drain().sent == 0  # too soon to tell (another run may be sending it now)
    clock.now += 301
    report = outbox.drain()
    assert (report.resent, report.sent, [k for _, k in mailbox.sent]) == (1, 1, ["mail:test:1"])


def test_throttling_stops_the_drain_and_respects_retry_after(store: SqliteStore, clock: Clock) -> None:
    mailbox = FakeMailbox(clock)
    mailbox.fail.append(MailThrottled("send an email: HTTP 429 ApplicationThrottled", retry_after=120.0))
    outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep)
    outbox.enqueue(mail(1), "test")
    outbox.enqueue(mail(2), "test")
    report = outbox.drain()
    assert (report.throttled, report.sent, report.waiting) == (1, 0, 2)
    clock.now += 60
    assert outbox.drain().sent == 0  # Retry-After (120 s) not over yet for the first
    clock.now += 61
    assert outbox.drain().sent == 2
