"""The outbox alone (a fake transport and clock): the mailbox's rate, each message once, crashes survived.

Sending through Graph to the emulator is covered in the end-to-end tests; these pin the outbox's own rules.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from coprod.handoffs import MailFailed
from coprod.mail.outbox import (
    BLOCKED,
    MAX_ATTEMPTS,
    PAUSED,
    UNCHECKED_LIMIT,
    DrainReport,
    GraphTransport,
    MailBlocked,
    MailError,
    MailRefused,
    MailThrottled,
    MailUncertain,
    Outbox,
    SendLimits,
    from_payload,
    to_payload,
)
from coprod.store import SqliteStore
from graph_client import Attachment, GraphClient, Mail, OutgoingMail, RetryPolicy, TokenError, message_id_for
from tests.support.fakes import FakeClock, FakeMailbox

pytestmark = pytest.mark.clock(fixed=True)  # the `clock` fixture is fixed, and the `store` fixture reads it


def lose_two_answers_then_recheck(store: SqliteStore, clock: FakeClock, mailbox: FakeMailbox) -> DrainReport:
    """Two messages whose send answers are lost; the drain after the recheck time: its report."""
    mailbox.lost_answers.update({"mail:test:1", "mail:test:2"})
    outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep, recheck_after=300)
    outbox.enqueue(mail(1), "test")
    outbox.enqueue(mail(2), "test")
    outbox.drain()
    clock.now += 301
    return outbox.drain()


def mail(n: int) -> OutgoingMail:
    return OutgoingMail(key=f"mail:test:{n}", to=(f"person{n}@example.org",), subject="Hello", text="Hello")


def test_each_key_is_queued_once() -> None:
    clock = FakeClock()
    db = SqliteStore(":memory:")
    outbox = Outbox(db, FakeMailbox(clock), clock=clock, sleep=clock.sleep)
    assert [outbox.enqueue(mail(1), "test"), outbox.enqueue(mail(1), "test")] == [True, False]
    assert db.outbox.counts() == {"queued": 1}


def test_no_more_than_the_limit_in_any_window(store: SqliteStore, clock: FakeClock) -> None:
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


def test_what_cannot_go_before_the_deadline_waits_for_the_next_run(store: SqliteStore, clock: FakeClock) -> None:
    mailbox = FakeMailbox(clock)
    outbox = Outbox(store, mailbox, SendLimits(per_window=30, window_seconds=60), clock=clock, sleep=clock.sleep)
    for n in range(50):
        outbox.enqueue(mail(n), "test")
    first = outbox.drain(deadline=clock() + 30)
    assert (first.sent, first.waiting) == (30, 20)
    clock.now += 60
    assert outbox.drain().sent == 20
    assert len({k for _, k in mailbox.sent}) == 50 == len(mailbox.sent)


def test_recipients_a_day_are_counted(store: SqliteStore, clock: FakeClock) -> None:
    outbox = Outbox(store, FakeMailbox(clock), SendLimits(per_window=1000, per_day=3), clock=clock, sleep=clock.sleep)
    for n in range(5):
        outbox.enqueue(mail(n), "test")
    assert outbox.drain(deadline=clock() + 600).sent == 3


def test_a_lost_answer_is_checked_in_sent_items_never_sent_twice(store: SqliteStore, clock: FakeClock) -> None:
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
    assert store.outbox.counts() == {"sent": 1}


def test_a_crash_before_the_send_left_it_sending_and_it_goes_once(store: SqliteStore, clock: FakeClock) -> None:
    """Marked `sending`, then the process died before the request: not in Sent Items, so it goes (once)."""
    mailbox = FakeMailbox(clock)
    outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep, recheck_after=300)
    outbox.enqueue(mail(1), "test")
    store.outbox.set("mail:test:1", "sending")  # as the crashed run left it
    assert outbox.drain().sent == 0  # too soon to tell (another run may be sending it now)
    clock.now += 301
    report = outbox.drain()
    assert (report.resent, report.sent, [k for _, k in mailbox.sent]) == (1, 1, ["mail:test:1"])


def test_throttling_stops_the_drain_and_respects_retry_after(store: SqliteStore, clock: FakeClock) -> None:
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


class TestGivingUp:
    """A message is tried a bounded number of times across runs, then failed with its reason; a 429 costs none."""

    def test_a_final_refusal_fails_at_once_with_its_reason_and_is_never_tried_again(self, store: SqliteStore,
                                                                                    clock: FakeClock) -> None:
        mailbox = FakeMailbox(clock)
        mailbox.fail.append(MailRefused("send an email: HTTP 400 ErrorInvalidRecipients", final=True))
        outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep)
        outbox.enqueue(mail(1), "test")
        outbox.enqueue(mail(2), "test")
        report = outbox.drain()
        assert (report.sent, report.failed) == (1, 1)
        entry = store.outbox.get("mail:test:1")
        assert entry is not None and (entry.status, entry.error, entry.attempts) == (
            "failed", "send an email: HTTP 400 ErrorInvalidRecipients", 1)
        clock.now += 3600
        assert outbox.drain().sent == 0 and [k for _, k in mailbox.sent] == ["mail:test:2"]
        assert report.line() == "Emails: 1 sent (1 test); 1 could not be sent (see `status`)."

    def test_a_refused_recipient_is_tried_again_next_run_and_given_up_only_when_refused_again(
            self, store: SqliteStore, clock: FakeClock) -> None:
        """Graph has refused a good recipient once and taken it when sent again; giving it up gives a public
        booking's place away, so only a second refusal, on a later run, gives the address up."""
        refused = "send an email: HTTP 400 ErrorInvalidRecipients"
        mailbox = FakeMailbox(clock)
        mailbox.fail.extend(MailRefused(refused, final=True, undeliverable=True) for _ in range(3))
        outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep)
        outbox.enqueue(mail(1), "test", {"registration": "5", "session": "2"})
        assert (outbox.drain().failed, outbox.drain().failed) == (0, 1)
        entry = store.outbox.get("mail:test:1")
        assert entry is not None and (entry.status, entry.error, entry.attempts) == (
            "failed", f"{MailFailed.UNDELIVERABLE}: {refused}", 2)
        mailbox.fail[:] = [MailRefused(refused, final=True, undeliverable=True)]
        outbox.enqueue(mail(2), "test")
        assert (outbox.drain().sent, outbox.drain().sent) == (0, 1)  # refused once, then taken: it goes
        entry = store.outbox.get("mail:test:2")
        assert entry is not None and (entry.status, entry.error, entry.attempts) == ("sent", refused, 2)

    def test_a_refusal_that_may_mend_is_tried_again_up_to_the_limit(self, store: SqliteStore, clock: FakeClock) -> None:
        mailbox = FakeMailbox(clock)
        mailbox.fail.extend(MailRefused("send an email: no token", final=False) for _ in range(MAX_ATTEMPTS + 2))
        outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep)
        outbox.enqueue(mail(1), "test")
        failed = [outbox.drain().failed for _ in range(MAX_ATTEMPTS + 2)]
        assert failed == [0] * (MAX_ATTEMPTS - 1) + [1, 0, 0]
        entry = store.outbox.get("mail:test:1")
        assert entry is not None and (entry.status, entry.attempts) == ("failed", MAX_ATTEMPTS)
        assert len(mailbox.fail) == 2  # tried exactly MAX_ATTEMPTS times

    def test_a_refusal_that_mends_is_sent_once(self, store: SqliteStore, clock: FakeClock) -> None:
        mailbox = FakeMailbox(clock)
        mailbox.fail.append(MailRefused("send an email: no token", final=False))
        outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep)
        outbox.enqueue(mail(1), "test")
        assert (outbox.drain().sent, outbox.drain().sent) == (0, 1)
        entry = store.outbox.get("mail:test:1")
        assert entry is not None and (entry.status, entry.error, entry.attempts) == (
            "sent", "send an email: no token", 2)

    def test_throttling_costs_no_attempt_and_without_retry_after_waits_a_minute(self, store: SqliteStore,
                                                                                clock: FakeClock) -> None:
        mailbox = FakeMailbox(clock)
        outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep)
        outbox.enqueue(mail(1), "test")
        for _ in range(MAX_ATTEMPTS + 1):
            mailbox.fail.append(MailThrottled("send an email: HTTP 429", retry_after=None))
            assert outbox.drain().throttled == 1
            assert float(store.checkpoints.get(PAUSED) or 0) == clock.now + 60.0
            clock.now += 59
            assert outbox.drain().sent == 0  # still paused
            clock.now += 2
        entry = store.outbox.get("mail:test:1")
        assert entry is not None and (entry.status, entry.attempts) == ("queued", 0)
        assert outbox.drain().sent == 1

    def test_a_message_whose_answer_is_lost_again_and_again_is_given_up_not_sent_for_ever(
            self, store: SqliteStore, clock: FakeClock) -> None:
        """Each lost answer is settled (not in Sent Items: queued again), and that cycle is bounded too."""

        class NeverFiled(FakeMailbox):
            def send(self, mail_: OutgoingMail) -> None:
                self.sent.append((self.clock(), mail_.key))
                raise MailUncertain("send an email: read timed out")

            def was_sent(self, key: str) -> bool:
                return False

        mailbox = NeverFiled(clock)
        outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep, recheck_after=300)
        outbox.enqueue(mail(1), "test")
        for _ in range(MAX_ATTEMPTS + 3):
            outbox.drain()
            clock.now += 301
        outbox.drain()
        entry = store.outbox.get("mail:test:1")
        assert entry is not None and (entry.status, entry.error) == (
            "failed", f"not sent after {MAX_ATTEMPTS} attempts")
        assert len(mailbox.sent) == MAX_ATTEMPTS


class TestOneMessageNeverStopsTheRest:
    def test_a_lost_answer_leaves_that_message_for_checking_and_the_drain_goes_on(self, store: SqliteStore,
                                                                                  clock: FakeClock) -> None:
        mailbox = FakeMailbox(clock)
        mailbox.lost_answers.add("mail:test:1")
        outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep)
        for n in (1, 2, 3):
            outbox.enqueue(mail(n), "test")
        report = outbox.drain()
        assert (report.sent, report.waiting) == (2, 0)
        assert store.outbox.counts() == {"sending": 1, "sent": 2}

    def test_a_message_that_cannot_be_checked_waits_and_the_others_are_settled(self, store: SqliteStore,
                                                                               clock: FakeClock) -> None:
        class Unsure(FakeMailbox):
            def was_sent(self, key: str) -> bool:
                if key == "mail:test:1":
                    raise MailError("look for a sent email: HTTP 403 ErrorAccessDenied")
                return super().was_sent(key)

        mailbox = Unsure(clock)
        report = lose_two_answers_then_recheck(store, clock, mailbox)
        assert (report.recovered, store.outbox.get("mail:test:1").status) == (1, "sending")  # type: ignore[union-attr]
        assert len(mailbox.sent) == 2  # and neither was sent again

    def test_the_report_says_what_waits_and_what_was_found(self, store: SqliteStore, clock: FakeClock) -> None:
        outbox = Outbox(store, FakeMailbox(clock), SendLimits(per_window=2, window_seconds=60), clock=clock,
                        sleep=clock.sleep)
        for n in range(5):
            outbox.enqueue(mail(n), "confirmed" if n % 2 else "reminder")
        report = outbox.drain(deadline=clock() + 1)
        assert (report.sent, report.waiting) == (2, 3)
        assert report.line() == ("Emails: 2 sent (1 booking confirmation, 1 reminder); 3 waiting for the mailbox's "
                                 "sending limit.")


class TestGraphOutcomes:
    """Graph's answers to sendMail, as the outbox's outcomes: nothing sent, maybe sent, or refused."""

    @staticmethod
    def outcome(response: httpx.Response | Exception) -> Exception:
        def handler(request: httpx.Request) -> httpx.Response:
            if isinstance(response, Exception):
                raise response
            return response

        client = GraphClient("https://graph.test/v1.0", StaticToken(), transport=httpx.MockTransport(handler),
                             sleep=lambda s: None, policy=RetryPolicy(max_attempts=1))
        transport = GraphTransport(Mail(client, "team@council.example.org"))
        with pytest.raises(MailError) as caught:
            transport.send(mail(1))
        return caught.value

    @pytest.mark.parametrize(("status", "final"), [(400, True), (404, True), (401, False),
                                                   (409, False), (413, False)])
    def test_a_refusal_is_final_only_when_trying_again_cannot_help(self, status: int, final: bool) -> None:
        error = self.outcome(httpx.Response(status, json={"error": {"code": "Refused", "message": "no"}}))
        assert isinstance(error, MailRefused) and error.final is final
        assert f"HTTP {status} Refused" in error.detail

    def test_a_403_blocks_the_mailbox_and_names_the_permission(self) -> None:
        """Not this message's fault: every message waits, and the team reads what to grant."""
        error = self.outcome(httpx.Response(403, json={"error": {"code": "ErrorAccessDenied",
                                                                 "message": "Access is denied."}}))
        assert isinstance(error, MailBlocked)
        assert error.detail.startswith("Microsoft 365 would not let the app send email as the team's mailbox "
                                       "(403 ErrorAccessDenied): the app's identity needs the Mail.Send ")
        assert "https://learn.microsoft.com/graph/api/user-sendmail?view=graph-rest-1.0" in error.detail

    def test_a_429_is_throttling_with_its_retry_after(self) -> None:
        error = self.outcome(httpx.Response(429, headers={"Retry-After": "7"},
                                            json={"error": {"code": "ApplicationThrottled", "message": "slow"}}))
        assert isinstance(error, MailThrottled) and error.retry_after == 7.0
        assert error.detail == "send an email: HTTP 429 ApplicationThrottled (request-id none): slow"

    @pytest.mark.parametrize("response", [
        httpx.Response(500, json={"error": {"code": "InternalServerError", "message": "x"}}),
        httpx.Response(504, json={"error": {"code": "GatewayTimeout", "message": "x"}}),
        httpx.Response(502, text="<html>Bad gateway</html>", headers={"content-type": "text/html"}),
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("peer closed connection"),
    ])
    def test_no_readable_answer_means_it_may_have_gone(self, response: httpx.Response | Exception) -> None:
        error = self.outcome(response)
        assert type(error) is MailUncertain and isinstance(error, MailError)
        assert error.detail.startswith("send an email: ")  # what the operator reads says which call it was

    def test_no_token_means_nothing_was_sent(self) -> None:
        class NoToken:
            def get_token(self, *, force_refresh: bool = False) -> str:
                raise TokenError("get a token", "invalid_client", "AADSTS7000215: Invalid client secret.")

        client = GraphClient("https://graph.test/v1.0", NoToken(), transport=httpx.MockTransport(
            lambda r: httpx.Response(202)), sleep=lambda s: None)
        with pytest.raises(MailRefused) as caught:
            GraphTransport(Mail(client, "team@council.example.org")).send(mail(1))
        assert caught.value.final is False
        assert caught.value.detail.startswith("get a token: the token authority refused: invalid_client")


class StaticToken:
    def get_token(self, *, force_refresh: bool = False) -> str:
        return "token"


class TestWhatIsKept:
    def test_a_message_reads_back_exactly_as_it_was_queued(self, store: SqliteStore, clock: FakeClock) -> None:
        """The outbox keeps the rendered message: a later run sends exactly what was decided."""
        full = OutgoingMail(key="mail:k", to=("ann@example.org", "bob@example.org"), subject="Your place",
                            text="Hi", html="<p>Hi</p>", headers={"List-Unsubscribe": "<https://x.example/u>"},
                            to_name="Ann", attachments=(Attachment("session.ics", "text/calendar; method=REQUEST",
                                                                   b"BEGIN:VCALENDAR\r\n\xe2\x80\x94"),))
        Outbox(store, FakeMailbox(clock)).enqueue(full, "confirmed", {"registration": "5", "session": "2"})
        entry = store.outbox.get("mail:k")
        assert entry is not None and (entry.kind, entry.recipients, entry.payload["about"]) == (
            "confirmed", 2, {"registration": "5", "session": "2"})
        assert from_payload("mail:k", entry.payload) == full
        assert to_payload(full) == {k: v for k, v in entry.payload.items() if k != "about"}

    def test_a_payload_of_an_older_version_without_the_optional_parts_still_reads(self) -> None:
        assert from_payload("k", {"to": ["ann@example.org"], "subject": "Hi", "text": "Hello"}) == OutgoingMail(
            key="k", to=("ann@example.org",), subject="Hi", text="Hello")


class Interferes(FakeMailbox):
    """While a message is being sent, another runner settles it (its recovery found it in Sent Items)."""

    def __init__(self, clock: FakeClock, store: SqliteStore, outcome: Exception | None) -> None:
        super().__init__(clock)
        self.store = store
        self.outcome = outcome

    def send(self, mail_: OutgoingMail) -> None:
        self.store.outbox.set(mail_.key, "sent", sent_at=1.0)
        if self.outcome is not None:
            raise self.outcome
        super().send(mail_)


@pytest.mark.parametrize("outcome", [
    None, MailThrottled("429", retry_after=5), MailRefused("refused", final=True),
    MailRefused("refused for now", final=False), RuntimeError("a bug")])
def test_what_another_runner_settled_meanwhile_stands(store: SqliteStore, clock: FakeClock,
                                                      outcome: Exception | None) -> None:
    """Each outcome applies only to the message this runner still holds (`sending`): never over another's record."""
    outbox = Outbox(store, Interferes(clock, store, outcome), clock=clock, sleep=clock.sleep)
    outbox.enqueue(mail(1), "test", {"registration": "1"})
    report = outbox.drain()
    entry = store.outbox.get("mail:test:1")
    assert entry is not None and (entry.status, entry.sent_at, entry.error) == ("sent", 1.0, None)
    assert report.failed == 0 and store.ledger.list(kind="mail-failed") == []


class TestCounting:
    def test_every_settled_withdrawn_and_skipped_message_is_counted(self, store: SqliteStore, clock: FakeClock) -> None:
        mailbox = FakeMailbox(clock)
        mailbox.lost_answers.update({"mail:test:1", "mail:test:2", "mail:test:3", "mail:test:4"})
        outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep, recheck_after=300)
        for n in range(1, 5):
            outbox.enqueue(mail(n), "test")
        outbox.drain()
        mailbox.sent = [(t, k) for t, k in mailbox.sent if k in ("mail:test:1", "mail:test:2")]  # 3, 4: never went
        mailbox.lost_answers.clear()
        for n in range(5, 11):
            outbox.enqueue(mail(n), "update" if n < 9 else "test")
        outbox.checks["update"] = lambda entry: entry.key not in ("mail:test:5", "mail:test:6")
        taken = ("mail:test:9", "mail:test:10")
        original = outbox.store.outbox.claim

        def claim(key: str) -> Any:  # another runner took these two between our read of the queue and our turn
            if key in taken:
                return None
            return original(key)

        outbox.store.outbox.claim = claim  # type: ignore[method-assign]
        clock.now += 301
        report = outbox.drain()
        assert (report.recovered, report.resent, report.cancelled, report.skipped, report.sent) == (2, 2, 2, 2, 4)
        assert report.line() == ("Emails: 4 sent (2 tests, 2 mailing-list updates); 2 found already sent after an "
                                 "interruption; 4 withdrawn before sending.")

    def test_a_failure_keeps_at_most_500_characters_of_its_reason_and_notes_200(self, store: SqliteStore,
                                                                                  clock: FakeClock) -> None:
        mailbox = FakeMailbox(clock)
        mailbox.fail.append(MailRefused("x" * 1000, final=True))
        outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep)
        outbox.enqueue(mail(1), "confirmed", {"registration": "4", "session": "2"})
        outbox.drain()
        entry = store.outbox.get("mail:test:1")
        assert entry is not None and entry.error == "x" * 500
        [noted] = store.ledger.list(kind="mail-failed")
        assert (noted.key, noted.payload) == ("mail-failed:mail:test:1", {
            "registration": "4", "session": "2", "kind": "confirmed", "to": ["person1@example.org"],
            "reason": "x" * 200})

    def test_a_message_about_nothing_in_particular_fails_without_a_note(self, store: SqliteStore,
                                                                         clock: FakeClock) -> None:
        mailbox = FakeMailbox(clock)
        mailbox.fail.append(MailRefused("refused", final=True))
        outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep)
        outbox.enqueue(mail(1), "guest-digest")
        assert outbox.drain().failed == 1 and store.ledger.list(kind="mail-failed") == []


class TestTiming:
    def test_the_mailbox_sends_again_the_moment_its_retry_after_ends(self, store: SqliteStore,
                                                                     clock: FakeClock) -> None:
        mailbox = FakeMailbox(clock)
        mailbox.fail.append(MailThrottled("429", retry_after=120.0))
        outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep)
        for n in (1, 2, 3):
            outbox.enqueue(mail(n), "test")
        assert outbox.drain().waiting == 3
        clock.now += 119.5
        paused = outbox.drain()
        assert (paused.sent, paused.waiting) == (0, 3)
        clock.now += 0.5
        assert outbox.drain().sent == 3

    def test_a_send_that_fits_exactly_before_the_deadline_goes(self, store: SqliteStore, clock: FakeClock) -> None:
        mailbox = FakeMailbox(clock)
        outbox = Outbox(store, mailbox, SendLimits(per_window=1, window_seconds=60), clock=clock, sleep=clock.sleep)
        for n in (1, 2, 3):
            outbox.enqueue(mail(n), "test")
        report = outbox.drain(deadline=clock() + 60)
        assert (report.sent, report.waiting) == (2, 1)

    def test_a_throttle_midway_leaves_the_rest_waiting(self, store: SqliteStore, clock: FakeClock) -> None:
        mailbox = FakeMailbox(clock)
        outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep)
        for n in range(1, 6):
            outbox.enqueue(mail(n), "test")

        class ThrottleThird(FakeMailbox):
            def send(self, mail_: OutgoingMail) -> None:
                if mail_.key == "mail:test:3":
                    raise MailThrottled("429", retry_after=30)
                super().send(mail_)

        outbox.transport = ThrottleThird(clock)
        report = outbox.drain()
        assert (report.sent, report.throttled, report.waiting) == (2, 1, 3)

    def test_progress_is_told_every_25_emails(self, store: SqliteStore, clock: FakeClock) -> None:
        outbox = Outbox(store, FakeMailbox(clock), SendLimits(per_window=1000), clock=clock, sleep=clock.sleep)
        for n in range(60):
            outbox.enqueue(mail(n), "test")
        told: list[str] = []
        outbox.drain(progress=told.append)
        assert told == ["emails: 25 sent, 35 to go", "emails: 50 sent, 10 to go"]


class TestLogs:
    def test_what_an_operator_reads_names_the_problem_and_no_address(self, store: SqliteStore, clock: FakeClock,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
        class Troubled(FakeMailbox):
            def send(self, mail_: OutgoingMail) -> None:
                if mail_.key == "mail:test:2":
                    raise MailUncertain("send an email: read timed out")
                if mail_.key == "mail:test:3":
                    raise KeyError("person3@example.org")
                super().send(mail_)

            def was_sent(self, key: str) -> bool:
                raise MailError("look for a sent email: HTTP 403 ErrorAccessDenied")

        caplog.set_level("WARNING", logger="coprod.mail.outbox")
        outbox = Outbox(store, Troubled(clock), clock=clock, sleep=clock.sleep, recheck_after=300)
        for n in (1, 2, 3):
            outbox.enqueue(mail(n), "test")
        outbox.drain()
        clock.now += 301
        outbox.drain()
        assert [r.getMessage() for r in caplog.records] == [
            "A message may or may not have gone; it will be checked before any resend: send an email: read timed out",
            "A message could not be built or sent (KeyError); marked failed, the rest go on",
            "Could not check whether a message was sent: look for a sent email: HTTP 403 ErrorAccessDenied"]


class TestGraphSentItems:
    @staticmethod
    def transport(answer: httpx.Response) -> tuple[GraphTransport, list[httpx.Request]]:
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return answer

        client = GraphClient("https://graph.test/v1.0", StaticToken(), transport=httpx.MockTransport(handler),
                             sleep=lambda s: None, policy=RetryPolicy(max_attempts=1))
        return GraphTransport(Mail(client, "team@council.example.org")), seen

    def test_a_message_in_sent_items_was_sent_and_is_looked_for_by_its_message_id(self) -> None:
        transport, seen = self.transport(httpx.Response(200, json={"value": [
            {"id": "AAMk1", "subject": "Hi", "internetMessageId": "<x@council.example.org>"}]}))
        assert transport.was_sent("mail:test:1") is True
        wanted = message_id_for("mail:test:1", "team@council.example.org")
        assert seen[0].url.params["$filter"] == f"internetMessageId eq '{wanted}'"

    def test_no_such_message_was_not_sent(self) -> None:
        transport, _ = self.transport(httpx.Response(200, json={"value": []}))
        assert transport.was_sent("mail:test:1") is False

    def test_not_being_able_to_look_is_an_error_that_says_why(self) -> None:
        transport, _ = self.transport(httpx.Response(403, json={"error": {"code": "ErrorAccessDenied",
                                                                          "message": "Access is denied."}}))
        with pytest.raises(MailBlocked) as caught:
            transport.was_sent("mail:test:1")
        assert caught.value.detail.startswith("Microsoft 365 would not let the app check the mailbox's Sent Items "
                                              "(403 ErrorAccessDenied): the app's identity needs the "
                                              "Mail.ReadBasic.All application permission")

    def test_a_check_that_fails_otherwise_says_why_in_graphs_words(self) -> None:
        transport, _ = self.transport(httpx.Response(400, json={"error": {"code": "BadRequest", "message": "no"}}))
        with pytest.raises(MailError) as caught:
            transport.was_sent("mail:test:1")
        assert not isinstance(caught.value, MailBlocked)
        assert caught.value.detail.startswith("look for a sent email: HTTP 400 BadRequest")


def test_errors_carry_what_the_outbox_needs() -> None:
    throttled = MailThrottled("send an email: HTTP 429", retry_after=12.5)
    assert (throttled.detail, throttled.retry_after, str(throttled)) == (
        "send an email: HTTP 429", 12.5, "send an email: HTTP 429")
    assert MailRefused("no", final=True).final is True


class TestRaces:
    """Settling a message applies only while it is still `sending`: another runner's record stands."""

    def test_a_recovery_never_overwrites_what_another_runner_settled_while_it_looked(self, store: SqliteStore,
                                                                                      clock: FakeClock) -> None:
        class LooksSlowly(FakeMailbox):
            def was_sent(self, key: str) -> bool:
                found = key == "mail:test:1"
                store.outbox.set(key, "failed", error="settled by another runner")  # meanwhile, elsewhere
                return found

        mailbox = LooksSlowly(clock)
        report = lose_two_answers_then_recheck(store, clock, mailbox)
        assert (report.recovered, report.resent) == (0, 0)
        assert {store.outbox.get(f"mail:test:{n}").status for n in (1, 2)} == {"failed"}  # type: ignore[union-attr]

    def test_a_withdrawal_never_overwrites_what_another_runner_settled(self, store: SqliteStore,
                                                                        clock: FakeClock) -> None:
        outbox = Outbox(store, FakeMailbox(clock), clock=clock, sleep=clock.sleep)
        outbox.enqueue(mail(1), "update")

        def unwanted_and_meanwhile_failed(entry: Any) -> bool:
            store.outbox.set(entry.key, "failed", error="settled elsewhere")
            return False

        outbox.checks["update"] = unwanted_and_meanwhile_failed
        assert outbox.drain().cancelled == 0
        assert store.outbox.get("mail:test:1").status == "failed"  # type: ignore[union-attr]

    def test_a_recovered_message_counts_against_the_limit_from_when_it_went(self, store: SqliteStore,
                                                                             clock: FakeClock) -> None:
        mailbox = FakeMailbox(clock)
        mailbox.lost_answers.add("mail:test:1")
        outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep, recheck_after=300)
        outbox.enqueue(mail(1), "test")
        outbox.drain()
        went = store.outbox.get("mail:test:1").updated  # type: ignore[union-attr]
        clock.now += 301
        assert outbox.drain().recovered == 1
        assert store.outbox.get("mail:test:1").sent_at == went  # type: ignore[union-attr]


def test_two_failures_in_one_drain_are_both_counted_and_reasons_kept_to_500(store: SqliteStore,
                                                                           clock: FakeClock) -> None:
    mailbox = FakeMailbox(clock)
    mailbox.fail.extend([MailRefused("a" * 900, final=True), MailRefused("b" * 900, final=False),
                         MailRefused("c", final=True)])
    outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep)
    for n in (1, 2, 3):
        outbox.enqueue(mail(n), "test")
    report = outbox.drain()
    assert report.failed == 2
    assert [store.outbox.get(f"mail:test:{n}").error for n in (1, 2, 3)] == ["a" * 500, "b" * 500, "c"]  # type: ignore[union-attr]


def test_the_summary_of_a_blocked_or_uncheckable_drain_ends_its_reason_once() -> None:
    reason = "The app needs Mail.Send; see section X."
    assert DrainReport(blocked=reason, waiting=2).line() == (
        "Emails: 0 sent; paused, 2 emails waiting. The app needs Mail.Send; see section X.")
    assert DrainReport(unchecked=1, check_problem=reason).line() == (
        "Emails: 0 sent; 1 interrupted email not yet checked in Sent Items. The app needs Mail.Send; see section X.")
    assert DrainReport(unchecked=2).line() == "Emails: 0 sent; 2 interrupted emails not yet checked in Sent Items."


def test_the_summary_of_a_quiet_or_throttled_drain() -> None:
    assert DrainReport().line() == "Emails: 0 sent."
    assert DrainReport(sent=1, by_kind={"reminder": 1}, throttled=1, waiting=4).line() == (
        "Emails: 1 sent (1 reminder); 4 waiting for the mailbox's sending limit; 1 throttled by the mailbox.")


class TestBlockedMailbox:
    """A 403 on sending is the mailbox's permission, not a message's fault: every message waits, none loses an
    attempt, the reason is kept for `status`, and it clears the moment a message goes again."""

    REASON = "Microsoft 365 would not let the app send email as the team's mailbox (403 ErrorAccessDenied)"

    def test_a_block_stops_the_drain_and_gives_the_attempt_back(self, store: SqliteStore, clock: FakeClock) -> None:
        mailbox = FakeMailbox(clock)
        mailbox.fail.append(MailBlocked(self.REASON + "x" * 1500))
        outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep)
        for n in (1, 2, 3):
            outbox.enqueue(mail(n), "confirmed")
        report = outbox.drain()
        assert (report.sent, report.waiting, mailbox.sent) == (0, 3, [])
        first = store.outbox.get("mail:test:1")
        assert first is not None and (first.status, first.attempts) == ("queued", 0)
        assert store.checkpoints.get(BLOCKED) == (self.REASON + "x" * 1500)[:1000]
        assert report.line() == f"Emails: 0 sent; paused, 3 emails waiting. {self.REASON}{'x' * 1500}."

    def test_the_block_clears_when_one_message_goes(self, store: SqliteStore, clock: FakeClock) -> None:
        store.checkpoints.set(BLOCKED, self.REASON)
        outbox = Outbox(store, FakeMailbox(clock), clock=clock, sleep=clock.sleep)
        outbox.enqueue(mail(1), "confirmed")
        assert outbox.drain().sent == 1
        assert store.checkpoints.get(BLOCKED) == ""

    def test_a_refused_message_does_not_clear_the_block(self, store: SqliteStore, clock: FakeClock) -> None:
        """Only a message that went shows the mailbox may send again."""
        store.checkpoints.set(BLOCKED, self.REASON)
        mailbox = FakeMailbox(clock)
        mailbox.fail.append(MailRefused("HTTP 400 ErrorInvalidRecipients", final=True))
        outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep)
        outbox.enqueue(mail(1), "confirmed")
        assert outbox.drain().failed == 1
        assert store.checkpoints.get(BLOCKED) == self.REASON

    def test_a_blocked_send_never_overwrites_what_another_runner_settled(self, store: SqliteStore,
                                                                         clock: FakeClock) -> None:
        outbox = Outbox(store, Interferes(clock, store, MailBlocked(self.REASON)), clock=clock, sleep=clock.sleep)
        outbox.enqueue(mail(1), "test")
        outbox.drain()
        entry = store.outbox.get("mail:test:1")
        assert entry is not None and (entry.status, entry.sent_at) == ("sent", 1.0)

    @pytest.mark.parametrize("method", ["send", "was_sent"])
    def test_graphs_own_words_for_a_403_go_to_the_log(self, method: str, caplog: pytest.LogCaptureFixture) -> None:
        """The team reads the plain sentence; the log keeps Graph's code and request id for whoever fixes it."""
        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(403, headers={"request-id": "req-403"},
                                  json={"error": {"code": "ErrorAccessDenied", "message": "Access is denied."}})

        client = GraphClient("https://graph.test/v1.0", StaticToken(), transport=httpx.MockTransport(handler),
                             sleep=lambda s: None, policy=RetryPolicy(max_attempts=1))
        transport = GraphTransport(Mail(client, "team@council.example.org"))
        with caplog.at_level("WARNING", logger="coprod.mail.outbox"), pytest.raises(MailBlocked):
            transport.send(mail(1)) if method == "send" else transport.was_sent("mail:test:1")
        [record] = [r for r in caplog.records if r.name == "coprod.mail.outbox"]
        operation = "send an email" if method == "send" else "look for a sent email"
        assert record.getMessage() == f"{operation}: HTTP 403 ErrorAccessDenied (request-id req-403): Access is denied."


class TestUncheckable:
    """A message whose sending was interrupted and that cannot be checked in Sent Items waits, up to a day."""

    @staticmethod
    def unsure(clock: FakeClock) -> FakeMailbox:
        class Unsure(FakeMailbox):
            def was_sent(self, key: str) -> bool:
                raise MailBlocked("Microsoft 365 would not let the app check the mailbox's Sent Items (403)")

        return Unsure(clock)

    def test_each_waits_and_is_counted_until_a_day_has_passed_then_fails_as_may_have_gone(
            self, store: SqliteStore, clock: FakeClock) -> None:
        mailbox = self.unsure(clock)
        report = lose_two_answers_then_recheck(store, clock, mailbox)
        assert (report.unchecked, report.recovered, report.failed) == (2, 0, 0)
        assert report.line() == ("Emails: 0 sent; 2 interrupted emails not yet checked in Sent Items. Microsoft 365 "
                                 "would not let the app check the mailbox's Sent Items (403).")
        outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep, recheck_after=300)
        clock.now += UNCHECKED_LIMIT - 301 - 1  # a second short of a day since they were claimed
        assert outbox.drain().unchecked == 2
        clock.now += 1  # exactly a day
        report = outbox.drain()
        assert (report.unchecked, report.failed) == (0, 2)
        for n in (1, 2):
            entry = store.outbox.get(f"mail:test:{n}")
            assert entry is not None and (entry.status, entry.error) == (
                "failed", f"{MailFailed.MAY_HAVE_GONE}: its sending was interrupted and it could not be checked "
                          "for a day, so it was not sent again")
        assert len(mailbox.sent) == 2  # never sent a second time


def test_a_queued_message_is_kept_compactly_and_sent_exactly_as_rendered() -> None:
    """The words and attachments are stored compressed: a long queue takes a fraction of the room, and what is
    sent is byte for byte what was rendered."""
    import json

    from coprod.mail.outbox import from_payload, readable, to_payload
    from graph_client import Attachment, OutgoingMail

    text = "Hello Zoë,\n\n" + "Here is what the carers' forum said about short breaks. " * 60
    mail = OutgoingMail(key="mail:update-1-2", to=("zoe@example.org",), subject="News", text=text,
                        html="<p>" + text.replace("\n", "<br>") + "</p>", to_name="Zoë",
                        attachments=(Attachment("session.ics", "text/calendar", b"BEGIN:VCALENDAR\r\n" * 40),))
    payload = to_payload(mail)
    whole = len(json.dumps(readable(payload), ensure_ascii=False))
    assert len(json.dumps(payload, ensure_ascii=False)) * 5 < whole  # at least five times smaller here
    assert "Zoë," not in json.dumps(payload, ensure_ascii=False) and readable(payload)["text"] == text
    assert from_payload(mail.key, payload) == mail
    old = {"to": ["zoe@example.org"], "subject": "News", "text": "Hi", "html": None}  # stored before packing
    assert from_payload("mail:k", old).text == "Hi"


class TestUnusedKey:
    """A team email (a brief, a digest) withheld by an erasure is made again under the next free key, the rest of
    the team still get theirs; one that went, waits or was withdrawn otherwise is never made twice."""

    @staticmethod
    def withheld(store: SqliteStore, key: str) -> None:
        store.outbox.add(key, "brief", to_payload(mail(1)), 1)
        assert store.outbox.scrub(key, cancel=True)  # an erasure: cancelled, its payload (which quoted them) gone

    def test_a_key_nobody_used_is_used_as_it_is(self, store: SqliteStore, clock: FakeClock) -> None:
        assert Outbox(store, FakeMailbox(clock)).unused_key("mail:brief:7:1") == "mail:brief:7:1"

    def test_a_withheld_email_is_made_again_under_the_next_free_key(self, store: SqliteStore, clock: FakeClock) -> None:
        outbox = Outbox(store, FakeMailbox(clock))
        self.withheld(store, "mail:brief:7:1")
        assert outbox.unused_key("mail:brief:7:1") == "mail:brief:7:1:again-1"
        self.withheld(store, "mail:brief:7:1:again-1")
        assert outbox.unused_key("mail:brief:7:1") == "mail:brief:7:1:again-2"

    def test_one_that_went_waits_or_was_withdrawn_with_its_words_is_not_made_again(self, store: SqliteStore,
                                                                                    clock: FakeClock) -> None:
        outbox = Outbox(store, FakeMailbox(clock))
        outbox.enqueue(OutgoingMail(key="mail:queued", to=("team@example.org",), subject="Brief", text="Hi"), "brief")
        assert outbox.unused_key("mail:queued") is None
        store.outbox.add("mail:sent", "brief", to_payload(mail(1)), 1)
        store.outbox.set("mail:sent", "sent")
        store.outbox.scrub("mail:sent", cancel=True)  # an erasure after it went: its payload goes, it stays sent
        assert outbox.unused_key("mail:sent") is None
        store.outbox.add("mail:withdrawn", "brief", to_payload(mail(1)), 1)
        assert store.outbox.cancel("mail:", "withdrawn") == 1  # withdrawn (unsubscribed), its words kept
        assert outbox.unused_key("mail:withdrawn") is None
        self.withheld(store, "mail:again")
        outbox.enqueue(OutgoingMail(key="mail:again:again-1", to=("team@example.org",), subject="Brief", text="Hi"),
                       "brief")
        assert outbox.unused_key("mail:again") is None  # made again once already, and that one waits

    def test_it_gives_up_after_twenty_versions(self, store: SqliteStore, clock: FakeClock) -> None:
        from coprod.mail.outbox import AGAIN_AT_MOST

        outbox = Outbox(store, FakeMailbox(clock))
        keys = ["mail:digest", *(f"mail:digest:again-{n}" for n in range(1, AGAIN_AT_MOST))]
        for key in keys[:-1]:
            self.withheld(store, key)
        assert (AGAIN_AT_MOST, outbox.unused_key("mail:digest")) == (20, keys[-1])
        self.withheld(store, keys[-1])
        assert outbox.unused_key("mail:digest") is None


class Recorder(FakeMailbox):
    """A transport that keeps every message as it was handed over for sending."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.mails: list[OutgoingMail] = []

    def send(self, mail_: OutgoingMail) -> None:
        super().send(mail_)
        self.mails.append(mail_)


def test_an_attachment_that_is_not_text_is_sent_byte_for_byte(store: SqliteStore, clock: FakeClock) -> None:
    """A PDF (any bytes that are not UTF-8) is kept as base64 and goes exactly as it was given; a calendar file
    (UTF-8) is kept as text; both in the one message."""
    pdf = b"%PDF-1.7\n\xe2\xe3\xcf\xd3\n" + bytes(range(256)) + b"\xff\xfe\x80"
    ics = "BEGIN:VCALENDAR\r\nSUMMARY:Zoë's forum\r\n".encode()
    sent = OutgoingMail(key="mail:papers", to=("ann@example.org",), subject="Papers", text="Attached.",
                        attachments=(Attachment("plan.pdf", "application/pdf", pdf),
                                     Attachment("forum.ics", "text/calendar", ics)))
    mailbox = Recorder(clock)
    outbox = Outbox(store, mailbox, clock=clock, sleep=clock.sleep)
    assert outbox.enqueue(sent, "papers")
    entry = store.outbox.get("mail:papers")
    assert entry is not None
    from coprod.mail.outbox import readable

    kept = readable(entry.payload)["attachments"]
    assert [sorted(a) for a in kept] == [["content", "content_type", "filename"], ["content_type", "filename", "text"]]
    assert from_payload("mail:papers", entry.payload) == sent
    assert outbox.drain().sent == 1
    assert mailbox.mails == [sent] and mailbox.mails[0].attachments[0].content == pdf


def test_the_words_are_packed_as_utf_8_at_zlibs_best_compression() -> None:
    """Letters beyond ASCII are kept as themselves (an escape takes six bytes for each), and the JSON is packed at
    zlib's highest level: the smallest a long queue of updates in Welsh or Chinese can be kept."""
    import base64
    import json
    import zlib

    from coprod.mail.outbox import readable

    text = "Annwyl Siân, dyma'r newyddion o'r fforwm gofalwyr. 李小龙的会议记录。 " * 40
    packed = base64.b64decode(to_payload(OutgoingMail(key="mail:k", to=("sian@example.org",), subject="Newyddion",
                                                      text=text))["body"])
    words = zlib.decompress(packed)
    assert b"\\u" not in words and "Siân" in words.decode() and json.loads(words)["text"] == text
    assert zlib.compress(words, 9) == packed
    assert readable({"body": base64.b64encode(packed).decode()})["text"] == text
