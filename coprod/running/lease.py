"""One runner at a time: a lease in the state store, held by a run and renewed while it works.

In Azure Functions overlapping runs are normal: the timer, a manual run, a
retried invocation, more than one instance. A run first takes the lease
`sync` for LEASE_SECONDS; a thread renews it every third of that while the
run works. A run that finds it held says so in one line and does nothing.
A holder that dies (SIGKILL, a recycled instance) stops renewing, and its
lease runs out within LEASE_SECONDS.

The lease keeps runs apart, but nothing relies on it alone: every side
effect still takes its own conditional step (a key added once, a queued
email claimed only if still queued, a stale entry taken over only if
unchanged), so two runners that both believe they hold it still cannot do
anything twice. A runner that finds its lease gone (it stalled past the
expiry and another took over) stops at its next step.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from coprod.store import Lease, StateStore

log = logging.getLogger("coprod.lease")

__all__ = ["LEASE", "LEASE_SECONDS", "RunLease", "last_run", "record_run", "run_outcome"]

LEASE = "sync"
LEASE_SECONDS = 120.0
STOP_WAIT = 10.0  # how long leaving waits for a renewal under way (a store that hangs must not hang the run)
LAST_RUN = "run.last"  # a checkpoint: when the last run started and ended, and how it went (no personal data)


def holder_name() -> str:
    """Which process holds the lease: the machine, the process and a random tag (no personal data)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class RunLease:
    """`with RunLease(store) as lease:` then `lease.held` (ours: go on) or `lease.other` (who has it)."""

    def __init__(self, store: StateStore, *, seconds: float = LEASE_SECONDS, holder: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.seconds = seconds
        self.holder = holder or holder_name()
        self.clock = clock
        self.held: bool  # set on entering: ours (go on), or not
        self.other: Lease | None  # set on entering: who has it, if not us
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def lost(self) -> bool:
        """Whether the lease was taken from us while we worked (we stalled past its expiry)."""
        return self._lost.is_set()

    def __enter__(self) -> RunLease:
        self.held = self.store.leases.acquire(LEASE, self.holder, self.seconds)
        self.other = None if self.held else self.store.leases.get(LEASE)
        if not self.held:
            return self
        self._thread = threading.Thread(target=self._renew, name="run-lease", daemon=True)
        self._thread.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                if not self.store.leases.acquire(LEASE, self.holder, self.seconds):
                    self._lost.set()
                    return
            except Exception as error:  # the store unreachable for a moment: the next beat tries again in time
                log.warning("Could not renew the run's lease (%s); trying again", type(error).__name__)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_WAIT)
        if self.held and not self.lost:
            self.store.leases.release(LEASE, self.holder)

    def says_busy(self) -> str:
        """The one line a run that found the lease held prints."""
        if self.other is None:
            return "Another run has just finished; this one did nothing."
        since = time.strftime("%H:%M:%S", time.gmtime(self.other.since))
        left = max(0, round(self.other.expires - self.clock()))
        return (f"Another run is working (held by {self.other.holder} since {since} UTC, for {left} s more "
                "unless renewed); this one did nothing.")


@dataclass(frozen=True)
class LastRun:
    started: float
    finished: float
    holder: str
    outcome: str  # "done", or "some steps stopped"
    lines: tuple[str, ...]


def run_outcome(lines: list[str]) -> str:
    """A run's outcome in two words, from its summary lines."""
    return "some steps stopped" if any("stopped" in line for line in lines) else "done"


def record_run(store: StateStore, started: float, finished: float, holder: str, lines: list[str]) -> None:
    outcome = run_outcome(lines)
    store.checkpoints.set(LAST_RUN, json.dumps({"started": started, "finished": finished, "holder": holder,
                                               "outcome": outcome, "lines": lines}))


def last_run(store: StateStore) -> LastRun | None:
    raw = store.checkpoints.get(LAST_RUN)
    if not raw:
        return None
    data: dict[str, Any] = json.loads(raw)
    return LastRun(float(data["started"]), float(data["finished"]), str(data["holder"]), str(data["outcome"]),
                   tuple(str(line) for line in data.get("lines", ())))
