"""The outbox: every email the service sends, each exactly once, at the sending mailbox's rate.

A message is queued under its idempotency key (queuing the same key again
does nothing), then drained:

    queued --(marked before the request)--> sending --(202)--> sent
                                                \\--(refused: bad address)--> failed

`sending` is written before the request goes, so a crash (or a lost answer)
leaves the message `sending`; it is never sent again blindly. A later drain,
once the mailbox has had time to file it, looks for it in Sent Items by its
Message-ID: found means sent, not found means it goes again.

The limiter counts what the outbox itself sent in the last window: at most
`per_window` messages per `window_seconds` (Exchange Online: 30 a minute)
and `per_day` recipients per `day_seconds` (10,000 a day). A send is timed
when its answer arrives, later than Graph saw it, so Graph never counts more
than the limit in any window. What cannot go now stays queued for the next
run.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from coprod.state import OutboxEntry, StateStore
from coprod.words import count_kind
from graph_client import (
    Attachment,
    GraphError,
    GraphResponseError,
    GraphTransportError,
    Mail,
    OutgoingMail,
    ServiceError,
    ThrottledError,
)

__all__ = ["DrainReport", "GraphTransport", "MailError", "MailRefused", "MailThrottled", "MailTransport",
           "MailUncertain", "Outbox", "SendLimits", "from_payload", "to_payload"]

log = logging.getLogger("coprod.outbox")
RECHECK_AFTER = 300.0  # seconds a `sending` message is left before Sent Items is asked about it
MAX_ATTEMPTS = 5
PAUSED = "outbox.paused-until"  # a checkpoint: the time the mailbox's Retry-After ends


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


class MailRefused(MailError):
    """Refused: not sent. `final` when trying again cannot help (a bad address, a missing permission)."""

    def __init__(self, detail: str, *, final: bool) -> None:
        super().__init__(detail)
        self.final = final


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
        try:
            self.mail.send(mail)
        except ThrottledError as error:
            raise MailThrottled(str(error), error.retry_after) from error
        except (GraphTransportError, ServiceError) as error:
            raise MailUncertain(str(error)) from error
        except GraphResponseError as error:
            raise MailRefused(str(error), final=error.status in (400, 403, 404)) from error
        except GraphError as error:  # no token: nothing was sent
            raise MailRefused(str(error), final=False) from error

    def was_sent(self, key: str) -> bool:
        try:
            return self.mail.find_sent(key) is not None
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
    by_kind: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        kinds = ", ".join(count_kind(n, kind) for kind, n in sorted(self.by_kind.items()))
        parts = [f"{self.sent} sent" + (f" ({kinds})" if kinds else "")]
        if self.waiting:
            parts.append(f"{self.waiting} waiting for the mailbox's sending limit")
        if self.failed:
            parts.append(f"{self.failed} could not be sent (see `status`)")
        if self.recovered:
            parts.append(f"{self.recovered} found already sent after an interruption")
        if self.throttled:
            parts.append(f"{self.throttled} throttled by the mailbox")
        return "Emails: " + "; ".join(parts) + "."


def to_payload(mail: OutgoingMail) -> dict[str, Any]:
    return {"to": list(mail.to), "to_name": mail.to_name, "subject": mail.subject, "text": mail.text,
            "html": mail.html, "headers": dict(mail.headers),
            "attachments": [{"filename": a.filename, "content_type": a.content_type,
                             "content": base64.b64encode(a.content).decode()}
                            for a in mail.attachments]}


def from_payload(key: str, payload: dict[str, Any]) -> OutgoingMail:
    return OutgoingMail(key=key, to=tuple(payload["to"]), subject=payload["subject"], text=payload["text"],
                        html=payload.get("html"), headers=dict(payload.get("headers") or {}),
                        to_name=payload.get("to_name"),
                        attachments=tuple(Attachment(a["filename"], a["content_type"], base64.b64decode(a["content"]))
                                          for a in payload.get("attachments", [])))


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

    def enqueue(self, mail: OutgoingMail, kind: str) -> bool:
        """Queue a message under its key; False (and nothing queued) if that key was queued before."""
        return self.store.outbox_add(mail.key, kind, to_payload(mail), len(mail.to))

    # --- draining ----------------------------------------------------------------
    def _next_slot(self, recipients: int) -> float:
        """Seconds until a message to `recipients` people fits the limits (0: now)."""
        now = self.clock()
        recent = self.store.outbox_send_times(now - self.limits.window_seconds)
        wait = 0.0
        if len(recent) >= self.limits.per_window:
            # the window frees a place when the send that put it at the limit leaves it
            wait = recent[len(recent) - self.limits.per_window] + self.limits.window_seconds - now
        _, people = self.store.outbox_sent_since(now - self.limits.day_seconds)
        if people + recipients > self.limits.per_day:
            wait = max(wait, self.limits.day_seconds)  # the day's allowance is spent: a later run carries on
        return max(0.0, wait)

    def _recover(self, report: DrainReport) -> None:
        """Settle messages left `sending` by a crash or a lost answer: sent if Sent Items has them, else queued."""
        for entry in self.store.outbox_list("sending", updated_before=self.clock() - self.recheck_after):
            try:
                found = self.transport.was_sent(entry.key)
            except MailError as error:
                log.warning("Could not check whether a message was sent: %s", error.detail)
                continue
            if found:
                self.store.outbox_set(entry.key, "sent", sent_at=entry.updated)
                report.recovered += 1
            else:
                self.store.outbox_set(entry.key, "queued")
                report.resent += 1

    def drain(self, *, deadline: float | None = None, progress: Callable[[str], None] | None = None) -> DrainReport:
        """Send what is queued, at the mailbox's rate, until done or `deadline` (a `clock()` time) would pass."""
        report = DrainReport()
        self._recover(report)
        queue = self.store.outbox_list("queued", ready_by=self.clock())
        paused_until = float(self.store.get_checkpoint(PAUSED) or 0)
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
            if not self._send(entry, report):
                report.waiting = len(queue) - position
                break
            if progress and report.sent and report.sent % 25 == 0:
                progress(f"emails: {report.sent} sent, {len(queue) - position - 1} to go")
        return report

    def _send(self, entry: OutboxEntry, report: DrainReport) -> bool:
        """Send one message; False when the mailbox says stop for now."""
        self.store.outbox_set(entry.key, "sending", attempt=True)
        try:
            self.transport.send(from_payload(entry.key, entry.payload))
        except MailThrottled as error:  # the limiter should prevent this; if it comes, the whole mailbox waits
            report.throttled += 1
            self.store.outbox_set(entry.key, "queued")
            self.store.set_checkpoint(PAUSED, str(self.clock() + (error.retry_after or 60.0)))
            return False
        except MailUncertain as error:
            log.warning("A message may or may not have gone; it will be checked before any resend: %s", error.detail)
            return True  # stays `sending`: settled by _recover on a later run
        except MailRefused as error:
            final = error.final or entry.attempts + 1 >= MAX_ATTEMPTS
            self.store.outbox_set(entry.key, "failed" if final else "queued", error=error.detail[:500])
            report.failed += final
            return True
        self.store.outbox_set(entry.key, "sent", sent_at=self.clock())
        report.sent += 1
        report.by_kind[entry.kind] = report.by_kind.get(entry.kind, 0) + 1
        return True
