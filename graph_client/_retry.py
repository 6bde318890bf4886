"""The one retry policy: which failures are retried, and how long to wait.

Graph asks throttled clients to wait `Retry-After` (seconds, or an HTTP
date); without it we back off exponentially with jitter. Attempts and the
total wait are bounded. Nothing else in the stack retries (no kiota retry
handler, no httpx retries, no retry policy in host.json), so attempts never
multiply.

Who retries what, across the whole service (each failure has one owner):

    what failed                        owner                            how
    a Graph request (429, 503, 504,    GraphClient.send (tenacity,      this policy; a request that may have
      a dropped connection)              this module)                     been carried out only if idempotent
    entries of a `$batch`, or the      GraphClient.batch                this policy's bounds; the envelope is
      whole envelope                                                      sent by `send` with retry=False
    an email (throttled, no answer,    coprod.mail.outbox               throttled: the mailbox pauses; no
      refused)                                                           answer: checked in Sent Items, never
                                                                         resent blindly; refused: at most
                                                                         MAX_ATTEMPTS tries across runs
    an email by ACS                    coprod.mail.outbox               the SDK's own retries are off
    a guest invitation refused         coprod.guests.access             tried again an hour later (a
                                                                         permission may have been fixed); a
                                                                         lost answer is settled by a directory
                                                                         look-up, never a second invitation
    a whole run                        the next run (the timer)         the Functions host does not retry it
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["RETRY_STATUSES", "RetryPolicy", "parse_retry_after"]

RETRY_STATUSES = frozenset({429, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"})


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date); None if absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now())


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries. `max_attempts` counts the first try; `max_wait` bounds the total sleep."""

    max_attempts: int = 8
    max_wait: float = 300.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    jitter: float = 0.1  # extra share added to a Retry-After wait, never less than it asks

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """How long to wait before attempt `attempt + 1` (attempt counts from 1)."""
        if retry_after is not None:
            return retry_after * (1 + rng.uniform(0, self.jitter))
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        return rng.uniform(ceiling / 2, ceiling)  # "equal jitter": never zero, never synchronised


def may_retry(method: str, status: int | None, *, sent: bool, idempotent: bool | None = None) -> bool:
    """Whether a failure may be retried without risking doing the thing twice.

    429 and 503 mean Graph refused the request, so any method may go again. A
    504, a read timeout or a dropped connection after sending may hide a
    request that was carried out: only idempotent requests go again.
    """
    safe = (method.upper() in IDEMPOTENT) if idempotent is None else idempotent
    if status is None:
        return safe or not sent
    if status in (429, 503):
        return True
    if status == 504:
        return safe
    return False
