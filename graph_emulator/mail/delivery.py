"""What Exchange Online does with a message after sendMail has answered 202: limits, late delivery, bounces.

Facts followed, and where from:
- A mailbox's sending limits are 30 messages a minute and 10,000 recipients a day (Exchange Online limits,
  learn.microsoft.com/office365/servicedescriptions/exchange-online-service-description/exchange-online-limits
  #sending-limits). They are not HTTP errors: sendMail has already answered 202. Messages over the message rate
  wait in the Outbox and go over the following minutes, "no rejections or bouncebacks, just delayed deliveries"
  (as Microsoft 365 tenants' own help pages describe it, e.g. vtcri.kayako.com article 38); past the recipient rate
  limit a message is not sent and the sender gets an NDR with 5.1.90 (Exchange Online's NDR reference,
  MicrosoftDocs/SupportArticles-docs .../ndr/non-delivery-reports-in-exchange-online.md).
- Graph's own limits on Outlook resources stay 429s with Retry-After: 10,000 requests in 10 minutes and 4
  concurrent requests per app per mailbox (learn.microsoft.com/graph/throttling-limits#outlook-service-limits).
  The code is ApplicationThrottled, with "Application is over its MailboxConcurrency limit." (as reported in
  learn.microsoft.com/answers/questions/1660054; the words for the request-rate limit are not documented, so the
  emulator says the same). A request here takes no time (the emulator serves one at a time), so "concurrent"
  is modelled: with `request_ms` set, each mail request keeps the mailbox busy that long, and a request that finds
  `concurrent` others still busy is refused.
- An address that does not exist bounces: an NDR in the sender's Inbox, status 5.1.1 unless a control call says
  otherwise (`ndr.py` has its shape).

Sent Items keeps every accepted message at once, delivered yet or not: whether Exchange files a message held back
by the message rate before it leaves is not documented, and a client that finds it there never sends it twice.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graph_emulator.core.errors import GraphFault
from graph_emulator.mail.messages import SentMessage
from graph_emulator.mail.ndr import Failure, build_ndr

__all__ = ["Delivery", "Transport"]

LIMIT_DEFAULTS: dict[str, Any] = {"per_window": 30, "window_seconds": 60.0, "recipients_per_day": 10_000,
                                  "day_seconds": 86_400.0, "requests_per_window": 10_000,
                                  "request_window_seconds": 600.0, "concurrent": 4, "request_ms": 0.0}
DAILY_LIMIT = "5.1.90"


@dataclass(frozen=True)
class Delivery:
    """What became of one message for one recipient: delivered (on time or late), bounced, or not sent."""

    message_id: str  # the original's internetMessageId
    mailbox: str
    recipient: str
    submitted: float
    at: float
    outcome: str  # "delivered", "bounced", "not sent"
    status: str = "2.0.0"

    @property
    def late(self) -> bool:
        return self.at > self.submitted


class Transport:
    """Exchange's transport for every mailbox. Callers hold the backend's lock; `clock` is the tenant's."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.bouncing: dict[str, str] = {}  # lower-cased address -> the status its NDR carries
        self.deliveries: list[Delivery] = []
        self.throttled: Counter[str] = Counter()  # Graph's 429s, by mailbox
        self._rate: dict[str, deque[float]] = {}  # mailbox -> delivery times, for the message rate
        self._day: dict[str, deque[tuple[float, int]]] = {}  # mailbox -> (time, recipients) sent, for the day
        self._requests: dict[str, deque[float]] = {}
        self._busy: dict[str, deque[float]] = {}  # mailbox -> when each request in progress ends
        # (deliver at, order, mailbox, message, when it was submitted)
        self._queue: list[tuple[float, int, str, SentMessage, float]] = []
        self._order = 0
        self.set_limit(enabled=False)

    # --- settings ---------------------------------------------------------------
    def set_limit(self, *, enabled: bool = True, **settings: Any) -> None:
        """The mailbox limits (off until set: tests send freely); any of LIMIT_DEFAULTS, the rest as they were."""
        unknown = set(settings) - set(LIMIT_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown mail limit {sorted(unknown)[0]!r}: use {', '.join(LIMIT_DEFAULTS)}")
        merged = {**LIMIT_DEFAULTS, **settings}
        if min(merged[k] for k in ("per_window", "recipients_per_day", "requests_per_window", "concurrent")) < 1 or \
                min(merged[k] for k in ("window_seconds", "day_seconds", "request_window_seconds")) <= 0 or \
                merged["request_ms"] < 0:
            raise ValueError("limits must be positive")
        self.limit = merged | {"enabled": enabled}

    def limit_json(self) -> dict[str, Any]:
        return dict(self.limit)

    def bounce(self, address: str, status: str = "5.1.1") -> None:
        """Every message to `address` bounces from now on (a hard bounce: the address does not exist)."""
        if status[:1] not in ("4", "5") or len(status.split(".")) != 3:
            raise ValueError("status must be an enhanced status code such as 5.1.1")
        self.bouncing[address.strip().lower()] = status

    # --- Graph's 429s ------------------------------------------------------------
    def request(self, mailbox: str) -> None:
        """Count a mail request against Graph's limits for the mailbox, or refuse it with 429 and Retry-After."""
        if not self.limit["enabled"]:
            return
        now = self.clock()
        requests = self._requests.setdefault(mailbox, deque())
        while requests and requests[0] <= now - self.limit["request_window_seconds"]:
            requests.popleft()
        busy = self._busy.setdefault(mailbox, deque())
        while busy and busy[0] <= now:
            busy.popleft()
        wait = 0.0
        if len(requests) >= self.limit["requests_per_window"]:
            wait = requests[0] + self.limit["request_window_seconds"] - now
        elif len(busy) >= self.limit["concurrent"]:
            wait = busy[0] - now
        if wait > 0:
            self.throttled[mailbox] += 1
            raise GraphFault(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.",
                             {"Retry-After": str(max(1, math.ceil(wait - 1e-9)))})
        requests.append(now)
        if self.limit["request_ms"]:
            busy.append(now + self.limit["request_ms"] / 1000)

    # --- after the 202 -------------------------------------------------------------
    def submit(self, mailbox: str, message: SentMessage) -> bytes | None:
        """Take a message the mailbox sent: schedule its delivery (late, past the message rate), or, past the
        recipient rate limit, send nothing and return the NDR the mailbox gets at once."""
        now = self.clock()
        recipients = list(dict.fromkeys(message.recipients))
        if self.limit["enabled"]:
            day = self._day.setdefault(mailbox, deque())
            while day and day[0][0] <= now - self.limit["day_seconds"]:
                day.popleft()
            if sum(n for _, n in day) + len(recipients) > self.limit["recipients_per_day"]:
                for address in recipients:
                    self.deliveries.append(Delivery(message.internet_message_id, mailbox, address, now, now,
                                                    "not sent", DAILY_LIMIT))
                return build_ndr(mailbox, message.raw, message.subject, message.internet_message_id,
                                 [Failure(a, DAILY_LIMIT) for a in recipients], now)
            day.append((now, len(recipients)))
        at = now
        if self.limit["enabled"]:
            rate = self._rate.setdefault(mailbox, deque())
            while rate and rate[0] <= now - self.limit["window_seconds"]:
                rate.popleft()
            if len(rate) >= self.limit["per_window"]:
                at = max(now, rate[-self.limit["per_window"]] + self.limit["window_seconds"])
            rate.append(at)
        self._order += 1
        heapq.heappush(self._queue, (at, self._order, mailbox, message, now))
        return None

    def due(self) -> list[tuple[str, bytes, float]]:
        """Deliver what is due by now: (mailbox, NDR, when) for each message that bounced, in the order they came."""
        now = self.clock()
        reports = []
        while self._queue and self._queue[0][0] <= now:
            at, _, mailbox, message, submitted = heapq.heappop(self._queue)
            failed = []
            for address in dict.fromkeys(message.recipients):
                status = self.bouncing.get(address.lower())
                outcome = "delivered" if status is None else "bounced"
                self.deliveries.append(Delivery(message.internet_message_id, mailbox, address, submitted, at,
                                                outcome, status or "2.0.0"))  # (late: held past the rate)
                if status is not None:
                    failed.append(Failure(address, status))
            if failed:
                reports.append((mailbox, build_ndr(mailbox, message.raw, message.subject,
                                                   message.internet_message_id, failed, at), at))
        return reports

    def waiting(self, mailbox: str) -> int:
        """Messages of the mailbox still held back by the message rate."""
        return sum(1 for _, _, box, _, _ in self._queue if box == mailbox)
