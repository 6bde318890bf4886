"""`$batch`: requests in envelopes of 20, several envelopes in flight at once, throttling felt by all of them.

Graph answers a `$batch` of 20 list writes in hundreds of milliseconds on a real tenant, so a first sync of
10,000 registrations (500 envelopes) sent one after another waits minutes on round trips alone. Up to
`COPROD_GRAPH_CONCURRENCY` envelopes (default 4) go at once, each on its own lane (a thread; httpx's client is
shared and thread-safe). What stays as it was:

- each request's answer is matched by its id, and the caller gets them all together when the last envelope is
  answered: nothing is decided or mirrored in the order the answers happened to come back;
- entries (or whole envelopes) answered 429 or 503 go again, together, after the longest Retry-After among them,
  within the retry policy's budget: this is still the only loop that retries a `$batch`;
- a throttled answer on one lane holds every lane until its Retry-After has passed (SharePoint throttles the
  app, not a connection: "slow down" is for the whole run. Microsoft's "Avoid getting throttled or blocked in
  SharePoint Online", learn.microsoft.com/sharepoint/dev/general-development/how-to-avoid-getting-throttled-or-
  blocked-in-sharepoint-online: honour Retry-After, and reduce the number of concurrent requests);
- if an envelope fails in a way that may not be retried, the envelopes already in flight are waited for before
  the error is raised, so nothing is still being written after `batch` returns.

Microsoft documents no limit on concurrent `$batch` requests beyond throttling; its guidance for SharePoint is a
few concurrent requests at most, which is why the default is 4 and the setting's ceiling 16.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["MAX_BATCH", "BatchRequest", "Lanes"]

MAX_BATCH = 20  # Graph's most requests in one `$batch`
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class BatchRequest:
    """One request inside a `$batch`; `url` is relative to the version root (`/sites/...`)."""

    id: str
    method: str
    url: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": self.id, "method": self.method, "url": self.url}
        headers = dict(self.headers)
        if self.body is not None:
            entry["body"] = self.body
            headers.setdefault("Content-Type", "application/json")
        if headers:
            entry["headers"] = headers
        return entry


class Lanes:
    """Up to `width` calls at once; `hold(seconds)` keeps every lane from starting another call until then."""

    def __init__(self, width: int, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if width < 1:
            raise ValueError("at least one lane")
        self.width = width
        self._sleep, self._clock = sleep, clock
        self._lock = threading.Lock()
        self._resume_at = 0.0
        self._pool: ThreadPoolExecutor | None = None

    def hold(self, seconds: float) -> None:
        """Throttled: no lane starts another call for `seconds` (the longest hold asked for wins). One lane has
        nothing to hold: its caller waits between rounds."""
        if self.width > 1:
            with self._lock:
                self._resume_at = max(self._resume_at, self._clock() + seconds)

    def remaining(self, asked: float) -> float:
        """How long the caller still waits, between rounds, for a wait of `asked` seconds: with several lanes, what
        is left of their hold (its time ran while the other lanes waited), else all of it."""
        if self.width == 1:
            return asked
        with self._lock:
            left = max(0.0, self._resume_at - self._clock())
            self._resume_at = 0.0  # waited out by the caller, once, for every lane
        return min(asked, left)

    def _wait_turn(self) -> None:
        with self._lock:
            delay = self._resume_at - self._clock()
        if delay > 0:
            self._sleep(delay)

    def map(self, call: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """`call` on each item, up to `width` at once; the answers in the items' order. The first error is raised
        once every call already started has finished."""
        def one(item: T) -> R:
            self._wait_turn()
            return call(item)

        if self.width == 1 or len(items) <= 1:
            return [one(item) for item in items]
        with self._lock:  # (two callers on one client at once make one pool between them)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.width, thread_name_prefix="graph-batch")
            pool = self._pool
        futures: list[Future[R]] = [pool.submit(one, item) for item in items]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [future.exception() for future in done if future.exception() is not None]
        if failed:
            for future in futures:
                future.cancel()  # not started yet: never sent
            wait(futures)  # those in flight finish before the error is raised
            raise failed[0]  # type: ignore[misc]
        return [future.result() for future in futures]

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
