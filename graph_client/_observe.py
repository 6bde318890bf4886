"""Watching Graph requests from outside (telemetry), without the client knowing who watches."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CallRecord", "notify", "observe", "observers"]

log = logging.getLogger("graph_client")


@dataclass(frozen=True)
class CallRecord:
    """One HTTP request to Graph, as telemetry may see it: never its URL, query or body (they can name people)."""

    operation: str  # in words: "read Registrations changes"
    method: str
    status: int | None  # None: no answer came
    started: float  # time.time() when it was sent
    seconds: float
    request_id: str | None


observers: list[Callable[[CallRecord], None]] = []


def observe(callback: Callable[[CallRecord], None]) -> Callable[[], None]:
    """Call `callback` after every Graph request of every client (telemetry); returns what stops it. A callback
    that raises is logged and ignored: watching a request never breaks it."""
    observers.append(callback)
    return lambda: observers.remove(callback)


def notify(record: CallRecord) -> None:
    for callback in list(observers):
        try:
            callback(record)
        except Exception:  # telemetry must never break a request
            log.warning("A Graph call observer failed", exc_info=True)
