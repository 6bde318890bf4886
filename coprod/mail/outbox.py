r"""The outbox: every email the service sends, each exactly once, at the sending mailbox's rate.

A message is queued under its idempotency key (queuing the same key again
does nothing), then drained:

    queued --(claimed: only if still queued)--> sending --(202)--> sent
      |                                            |--(429: nothing sent)--> queued; the mailbox waits
      |                                            |--(403: may not send)--> queued; the drain stops
      \--(its person unsubscribed)--> cancelled     |--(lost answer)--> stays sending; settled later
                                                   \--(refused, or cannot be built)--> failed

The claim (`queued -> sending`) is conditional and made right before the
request, so a message cancelled meanwhile (an unsubscribe during a drain)
or taken by another runner is not sent; nor is one its kind's check
(`checks`) or the check every message meets (`wanted`: an address that
bounced) says is no longer wanted. A message that went is recorded under
the hash its Message-ID is made of (`SentId`), so a non-delivery report
that names it can be matched to it (coprod/mail/bounces.py). `sending` is written before the
request goes, so a crash (or a lost answer) leaves the message `sending`;
it is never sent again blindly. A later drain, once the mailbox has had
time to file it, looks for it in Sent Items by its Message-ID: found means
sent, not found means it goes again. If Sent Items cannot be read (the app
lacks Mail.ReadBasic.All, or the check keeps failing), the message is
checked again each run, and after UNCHECKED_LIMIT (a day) it is settled as
`failed` with "may have been sent": never sent again, since a second copy
is worse than a doubt the team can see (and clear up by phone).

A 403 on sending (no Mail.Send, or an Exchange RBAC for Applications scope,
or an older application access policy, that leaves the mailbox out) is the mailbox's, not the message's: nothing
was sent, the message goes back to the queue with its attempt given back,
the drain stops, and the reason is kept (`BLOCKED`) for the run's summary
and `status` until a send succeeds. Each run tries one message, so mail
flows again the first run after the permission comes back.

Each claim is an attempt, and attempts are bounded across runs (a 429 does
not count: nothing was sent): after MAX_ATTEMPTS a message is `failed`.
So is one that cannot be built or meets an error nobody foresaw: that one
message fails with its reason, the rest of the queue goes on. A failed
message that names what it is about (`about`: a registration, a session)
is recorded in the ledger as `mail-failed`, so the team sees a note on
that item.

The limiter counts what the outbox itself sent in the last window: at most
`per_window` messages per `window_seconds` (Exchange Online: 30 a minute)
and `per_day` recipients per `day_seconds` (10,000 a day). A send is timed
when its answer arrives, later than Graph saw it, so Graph never counts more
than the limit in any window. What cannot go now stays queued for the next
run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from coprod import handoffs
from coprod.handoffs import BLOCKED, MailFailed, SentId, from_payload, mail_keys, readable, to_payload
from coprod.permissions import refusal
from coprod.store import OutboxEntry, StateStore
from coprod.words import count, count_kind
from graph_client import (
    ForbiddenError,
    GraphError,
    GraphResponseError,
    GraphTransportError,
    InvalidResponseError,
    Mail,
    OutgoingMail,
    ServiceError,
    ThrottledError,
    TokenError,
    message_hash,
)

__all__ = ["BLOCKED", "MAX_ATTEMPTS", "DrainReport", "GraphTransport", "MailBlocked", "MailError", "MailRefused",
           "MailThrottled", "MailTransport", "MailUncertain", "Outbox", "SendLimits", "from_payload", "readable",
           "to_payload"]

log = logging.getLogger("coprod.mail.outbox")
RECHECK_AFTER = 300.0  # seconds a `sending` message is left before Sent Items is asked about it
AGAIN_AT_MOST = 20  # a team email made again after erasures withheld it, at most this many times
# Graph has been reported to refuse a good recipient once and take it when sent again (ErrorInvalidRecipients:
# microsoftgraph/msgraph-sdk-dotnet issue 1891); a refused recipient is given up only when refused this many
# times, in different runs, since giving it up may give a public booking's place away.
REFUSED_RECIPIENT_TRIES = 2
MAX_ATTEMPTS = 5  # claims of one message, across runs, before it is given up as failed
FINAL_STATUSES = frozenset({400, 403, 404})  # refusals that trying again cannot mend (a bad address, no permission)
PAUSED = "outbox.paused-until"  # a checkpoint: the time the mailbox's Retry-After ends
UNCHECKED_LIMIT = 86_400.0  # seconds a `sending` message may stay uncheckable before it is settled


class MailError(Exception):
    """A transport could not send a message. `detail` is safe to log (no addresses)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class MailThrottled(MailError):
    """The service said: not now (nothing was sent). The whole sender waits `retry_after` seconds."""

    def __init__(self, detail: str, retry_after: float | None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class MailUncertain(MailError):
    """No clear answer (a timeout, a 5xx): the message may have gone. Settled later with `was_sent`."""


class MailBlocked(MailError):
    """The sender may not send at all (a missing permission or policy): nothing was sent; every message waits.
    `detail` says, in words for the team, what is missing."""


class MailRefused(MailError):
    """Refused: not sent. `final` when trying again cannot help (a bad address, a missing permission)."""

    def __init__(self, detail: str, *, final: bool, undeliverable: bool = False) -> None:
        super().__init__(detail)
        self.final = final
        self.undeliverable = undeliverable  # the recipient's address itself was refused


class MailTransport(Protocol):
    """How messages leave: Graph's sendMail by default, or Azure Communication Services Email.

    `send` returns when the service has taken the message, or raises one of `MailThrottled`,
    `MailUncertain`, `MailRefused`. `was_sent(key)` says whether the message with that key went (after a
    lost answer), raising `MailError` when it cannot tell now.
    """

    def send(self, mail: OutgoingMail) -> None: ...
    def was_sent(self, key: str) -> bool: ...


class GraphTransport:
    """Send through `POST /users/{sender}/sendMail`; look in the sender's Sent Items to settle doubts."""

    def __init__(self, mail: Mail) -> None:
        self.mail = mail

    def send(self, mail: OutgoingMail) -> None:
        """Graph's errors as the outbox's outcomes (the client has already retried what it safely could)."""
        try:
            self.mail.send(mail)
        except ThrottledError as error:  # refused: nothing was sent
            raise MailThrottled(str(error), error.retry_after) from error
        except TokenError as error:  # no token, so no request: nothing was sent
            raise MailRefused(str(error), final=False) from error
        except ForbiddenError as error:  # the mailbox's permission, not this message's fault
            log.warning("%s", error)  # pragma: no mutate - log.warning(error) logs the same text
            raise MailBlocked(refusal("send", error)) from error
        except GraphResponseError as error:
            if isinstance(error, ServiceError):  # a 5xx after retries: Exchange may have taken it
                raise MailUncertain(str(error)) from error
            raise MailRefused(str(error), final=error.status in FINAL_STATUSES,
                              undeliverable=error.code == "ErrorInvalidRecipients") from error
        except (GraphTransportError, InvalidResponseError, GraphError) as error:  # no readable answer: may have gone
            raise MailUncertain(str(error)) from error

    def was_sent(self, key: str) -> bool:
        try:
            return self.mail.find_sent(key) is not None
        except ForbiddenError as error:
            log.warning("%s", error)  # pragma: no mutate - log.warning(error) logs the same text
            raise MailBlocked(refusal("sent-items", error)) from error
        except GraphError as error:
            raise MailError(str(error)) from error


@dataclass(frozen=True)
class SendLimits:
    per_window: int = 30
    window_seconds: float = 60.0
    per_day: int = 10_000  # recipients
    day_seconds: float = 86_400.0


@dataclass
class DrainReport:
    sent: int = 0
    failed: int = 0
    throttled: int = 0  # 429s met (the limiter's job is to keep this at 0)
    recovered: int = 0  # `sending` messages found in Sent Items after a crash or a lost answer
    resent: int = 0  # `sending` messages not found there, so queued again
    waiting: int = 0  # still queued when the drain stopped
    cancelled: int = 0  # withdrawn just before sending (their person unsubscribed meanwhile)
    skipped: int = 0  # no longer queued when their turn came (cancelled, or another runner took them)
    unchecked: int = 0  # `sending` messages whose Sent Items check failed this run (they wait, up to a day)
    check_problem: str | None = None  # why the check failed (plain words when it is a permission)
    blocked: str | None = None  # why the mailbox may not send (plain words): everything waits
    by_kind: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        kinds = ", ".join(count_kind(n, kind) for kind, n in sorted(self.by_kind.items()))
        parts = [f"{self.sent} sent" + (f" ({kinds})" if kinds else "")]
        if self.blocked:
            parts.append(f"paused, {count(self.waiting, 'email')} waiting. {self.blocked.rstrip('.')}")
        if self.waiting and not self.blocked:
            parts.append(f"{self.waiting} waiting for the mailbox's sending limit")
        if self.failed:
            parts.append(f"{self.failed} could not be sent (see `status`)")
        if self.recovered:
            parts.append(f"{self.recovered} found already sent after an interruption")
        if self.cancelled + self.skipped:
            parts.append(f"{self.cancelled + self.skipped} withdrawn before sending")
        if self.throttled:
            parts.append(f"{self.throttled} throttled by the mailbox")
        if self.unchecked:
            parts.append(f"{count(self.unchecked, 'interrupted email')} not yet checked in Sent Items"
                         + (f". {self.check_problem.rstrip('.')}" if self.check_problem else ""))
        return "Emails: " + "; ".join(parts) + "."


StillWanted = Callable[[OutboxEntry], bool]


class Outbox:
    def __init__(self, store: StateStore, transport: MailTransport, limits: SendLimits | None = None, *,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 recheck_after: float = RECHECK_AFTER) -> None:
        self.store = store
        self.transport = transport
        self.limits = limits or SendLimits()
        self.clock = clock
        self.sleep = sleep
        self.recheck_after = recheck_after
        self.checks: dict[str, StillWanted] = {}  # per kind: asked right before sending, False withdraws it
        self.wanted: StillWanted | None = None  # asked of every message after its kind's check, likewise

    def unused_key(self, key: str) -> str | None:
        """A key to queue a team email under (a brief, a digest): `key` itself if no message has it; if the one
        that has it was withheld by an erasure (cancelled, its payload emptied: it quoted the person erased),
        the next `key:again-N` still free, so the rest of the team still get theirs, made afresh without them;
        None once one went or waits."""
        candidate = key
        for n in range(1, AGAIN_AT_MOST + 1):
            entry = self.store.outbox.get(candidate)
            if entry is None:
                return candidate
            if entry.status != "cancelled" or entry.payload:
                return None
            candidate = mail_keys.again(key, n)
        return None

    def enqueue(self, mail: OutgoingMail, kind: str, about: Mapping[str, str] | None = None) -> bool:
        """Queue a message under its key; False (and nothing queued) if that key was queued before.

        `about` names the list item the message is for (`{"registration": id, "session": id}`), so a message
        that fails can be noted on it.
        """
        payload = to_payload(mail) | ({"about": dict(about)} if about else {})
        return self.store.outbox.add(mail.key, kind, payload, len(mail.to))

    def _fail(self, entry: OutboxEntry, reason: str, report: DrainReport) -> None:
        """Give a message up: `failed` with its reason (safe to show: no addresses), and noted on its item."""
        if not self.store.outbox.set(entry.key, "failed", error=reason[:500], expect="sending"):
            return
        report.failed += 1
        about = entry.payload.get("about")
        if isinstance(about, dict):
            handoffs.record(self.store.ledger, MailFailed(entry.key, entry.kind, reason, about,
                                                   tuple(entry.payload.get("to") or ())))

    # --- draining ----------------------------------------------------------------
    def _next_slot(self, recipients: int) -> float:
        """Seconds until a message to `recipients` people fits the limits (0: now)."""
        now = self.clock()
        recent = self.store.outbox.send_times(now - self.limits.window_seconds)
        wait = 0.0
        if len(recent) >= self.limits.per_window:
            # the window frees a place when the send that put it at the limit leaves it
            wait = recent[len(recent) - self.limits.per_window] + self.limits.window_seconds - now
        _, people = self.store.outbox.sent_since(now - self.limits.day_seconds)
        if people + recipients > self.limits.per_day:
            wait = max(wait, self.limits.day_seconds)  # the day's allowance is spent: a later run carries on
        return max(0.0, wait)

    def _recover(self, report: DrainReport) -> None:
        """Settle messages left `sending` by a crash or a lost answer: sent if Sent Items has them, else queued
        (or failed, once its attempts are spent). One that cannot be checked now waits; the rest go on."""
        for entry in self.store.outbox.list("sending", updated_before=self.clock() - self.recheck_after):
            try:
                found = self.transport.was_sent(entry.key)
            except MailError as error:
                if self.clock() - entry.updated >= UNCHECKED_LIMIT:
                    self._fail(entry, f"{MailFailed.MAY_HAVE_GONE}: its sending was interrupted and it could not "
                                      "be checked for a day, so it was not sent again", report)
                    continue
                report.unchecked += 1
                if isinstance(error, MailBlocked):  # a permission: say which, and what it means
                    report.check_problem = error.detail
                log.warning("Could not check whether a message was sent: %s", error.detail)
                continue
            if found:
                recovered = self.store.outbox.set(entry.key, "sent", sent_at=entry.updated, expect="sending")
                if recovered:
                    self._sent(entry)
                report.recovered += recovered
            elif entry.attempts >= MAX_ATTEMPTS:
                self._fail(entry, f"not sent after {entry.attempts} attempts", report)
            else:
                report.resent += self.store.outbox.set(entry.key, "queued", expect="sending")

    def drain(self, *, deadline: float | None = None, progress: Callable[[str], None] | None = None) -> DrainReport:
        """Send what is queued, at the mailbox's rate, until done or `deadline` (a `clock()` time) would pass."""
        report = DrainReport()
        self._recover(report)
        queue = self.store.outbox.list("queued")
        blocked_before = bool(self.store.checkpoints.get(BLOCKED))
        paused_until = float(self.store.checkpoints.get(PAUSED) or 0)  # pragma: no mutate - 0, 1: long past alike
        if paused_until > self.clock():  # the mailbox said 429: nothing goes before its Retry-After
            report.waiting = len(queue)
            return report
        for position, entry in enumerate(queue):
            wait = self._next_slot(entry.recipients)
            if wait and deadline is not None and self.clock() + wait > deadline:
                report.waiting = len(queue) - position
                break
            if wait:
                self.sleep(wait)
            claimed = self.store.outbox.claim(entry.key)
            if claimed is None:  # cancelled since the queue was read, or another runner has it
                report.skipped += 1
                continue
            check = self.checks.get(claimed.kind)
            if (check is not None and not check(claimed)) or (self.wanted is not None and not self.wanted(claimed)):
                report.cancelled += self.store.outbox.set(claimed.key, "cancelled", expect="sending")
                continue
            if not self._send(claimed, report):
                report.waiting = len(queue) - position
                break
            if blocked_before and report.sent == 1:  # it sends again: status stops saying otherwise
                self.store.checkpoints.set(BLOCKED, "")
            if progress and report.sent and report.sent % 25 == 0:
                progress(f"emails: {report.sent} sent, {len(queue) - position - 1} to go")
        return report

    def _sent(self, entry: OutboxEntry) -> None:
        """Remember which email went under the Message-ID made from its key: a report that it bounced names that."""
        handoffs.record(self.store.ledger, SentId(message_hash(entry.key), entry.key), "done")

    def _send(self, entry: OutboxEntry, report: DrainReport) -> bool:
        """Send one claimed message; False when the mailbox says stop for now."""
        try:
            self.transport.send(from_payload(entry.key, entry.payload))
        except MailThrottled as error:  # the limiter should prevent this; if it comes, the whole mailbox waits
            report.throttled += 1  # pragma: no mutate - a 429 ends the drain: at most one is met in a drain
            # nothing was sent, so the attempt is given back
            self.store.outbox.set(entry.key, "queued", attempts=entry.attempts - 1, expect="sending")
            self.store.checkpoints.set(PAUSED, str(self.clock() + (error.retry_after or 60.0)))
            return False
        except MailBlocked as error:  # nothing was sent, and nothing will go until it is fixed
            self.store.outbox.set(entry.key, "queued", attempts=entry.attempts - 1, expect="sending")
            self.store.checkpoints.set(BLOCKED, error.detail[:1000])
            report.blocked = error.detail
            return False
        except MailUncertain as error:
            log.warning("A message may or may not have gone; it will be checked before any resend: %s", error.detail)
            return True  # stays `sending`: settled by _recover on a later run
        except MailRefused as error:
            if error.undeliverable and entry.attempts >= REFUSED_RECIPIENT_TRIES:
                self._fail(entry, f"{MailFailed.UNDELIVERABLE}: {error.detail}", report)
            elif (error.final and not error.undeliverable) or entry.attempts >= MAX_ATTEMPTS:
                self._fail(entry, error.detail, report)
            else:  # (a refused recipient once is tried again next run: see REFUSED_RECIPIENT_TRIES)
                self.store.outbox.set(entry.key, "queued", error=error.detail[:500], expect="sending")
            return True
        except Exception as error:  # one message that cannot be built must not stop the queue
            # Never resent: whatever happened, a second copy is worse than a failure the team can see.
            log.warning("A message could not be built or sent (%s); marked failed, the rest go on",
                        type(error).__name__)
            self._fail(entry, f"could not be built or sent ({type(error).__name__})", report)
            return True
        self.store.outbox.set(entry.key, "sent", sent_at=self.clock(), expect="sending")
        self._sent(entry)
        report.sent += 1
        report.by_kind[entry.kind] = report.by_kind.get(entry.kind, 0) + 1
        return True
