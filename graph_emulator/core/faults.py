"""Faults on demand (throttling, outages, latency) and the log of every request served."""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["KINDS", "FaultRule", "Faults", "LogEntry", "RequestLog"]

_CODES = {429: "TooManyRequests", 503: "serviceNotAvailable", 504: "UnknownError", 500: "generalException"}
_MESSAGES = {
    429: "Too many requests. Please retry after the time given in the Retry-After header.",
    503: "The service is temporarily unavailable. Please retry later.",
    504: "The gateway timed out before the service answered.",
    500: "An unspecified error has occurred.",
}


# Operation kinds a rule can name instead of a path (`kind="batch"`): the round trips a real tenant takes time over.
KINDS: dict[str, tuple[str, str]] = {
    "batch": ("POST", r"^/\$batch$"),                     # one `$batch` envelope (up to 20 writes or reads)
    "delta": ("GET", r"/items/delta$"),                    # one page of a list's changes
    "page": ("GET", r"/lists/[^/]+/items$"),               # one page of a list's items
    "send": ("POST", r"/sendMail$"),                       # one email sent
    "write": ("PATCH", r"/items/[^/]+/fields$"),           # one item's fields written, alone
}


@dataclass
class FaultRule:
    """Answer a share of matching requests with an error status, or slow them down.

    `path` is a regular expression searched in the request path (without
    `/v1.0`); `method` an HTTP method; `rate` the share of matching requests
    hit (0..1); `count` how many at most (None: no limit); `status` 0 means
    latency only, and a rule that gives `latency_ms` without a status is
    latency only (otherwise the status defaults to 429). Rules apply to `$batch` entries one by one, and to the
    `$batch` call itself. `after`: the request is carried out, and then the
    answer is the fault (a 504 that hides a request that went through: what a
    client must never simply send again).
    """

    status: int | None = None  # None: 429, or 0 (latency only) when the rule gives latency_ms
    rate: float = 1.0
    path: str | None = None
    method: str | None = None
    retry_after: float | None = 1
    count: int | None = None
    latency_ms: int = 0
    code: str | None = None
    after: bool = False
    hits: int = 0
    kind: str | None = None

    def __post_init__(self) -> None:
        if self.kind is not None:
            if self.kind not in KINDS:
                raise ValueError(f"unknown kind {self.kind!r}: one of {', '.join(KINDS)}")
            self.method, self.path = KINDS[self.kind]
        if self.status is None:
            self.status = 0 if self.latency_ms else 429

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return not self.path or re.search(self.path, path) is not None


@dataclass
class Fault:
    status: int
    code: str
    message: str
    headers: dict[str, str]
    latency_ms: int
    after: bool = False


class Faults:
    def __init__(self, seed: int = 20261122) -> None:
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = []
        self._random = random.Random(seed)  # noqa: S311 - reproducible fault draws

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self.rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def draw(self, method: str, path: str) -> tuple[int, Fault | None]:
        """(latency in ms, the error to answer or None) for one request."""
        latency = 0
        with self._lock:
            for rule in self.rules:
                if not rule.matches(method, path):
                    continue
                if rule.count is not None and rule.hits >= rule.count:
                    continue
                if self._random.random() >= rule.rate:
                    continue
                rule.hits += 1
                latency = max(latency, rule.latency_ms)
                if rule.status:
                    headers = {}
                    if rule.retry_after is not None and rule.status in (429, 503):
                        headers["Retry-After"] = _fmt_seconds(rule.retry_after)
                    return latency, Fault(rule.status, rule.code or _CODES.get(rule.status, "UnknownError"),
                                          _MESSAGES.get(rule.status, "Injected fault."), headers, latency,
                                          rule.after)
        return latency, None

    def as_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(rule) for rule in self.rules]


def _fmt_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass
class LogEntry:
    at: float  # monotonic seconds
    method: str
    path: str  # without /v1.0, with the query string
    operation: str  # e.g. "GET /sites/{}/lists/{}/items"
    status: int
    retry_after: float | None = None
    in_batch: bool = False
    client: str = ""


@dataclass
class RequestLog:
    entries: list[LogEntry] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: LogEntry) -> None:
        with self._lock:
            self.entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def snapshot(self) -> list[LogEntry]:
        with self._lock:
            return list(self.entries)

    def counts(self) -> dict[str, int]:
        """Requests per operation, `$batch` entries counted under their own operation."""
        return dict(Counter(e.operation for e in self.snapshot()))

    def summary(self) -> dict[str, Any]:
        entries = self.snapshot()
        http = [e for e in entries if not e.in_batch]
        return {
            "requests": len(http),
            "batch_entries": len(entries) - len(http),
            "by_operation": dict(Counter(e.operation for e in entries)),
            "by_status": {str(k): v for k, v in Counter(e.status for e in entries).items()},
        }
