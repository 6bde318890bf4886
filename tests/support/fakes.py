"""The tests' one fake clock and one fake mail transport.

A test hands `FakeClock` to the service as its clock (called for the time) and its `sleep`, so that waiting
costs nothing and every time is the test's to choose; and `FakeMailbox` to the outbox as its transport, so
that what was sent, and when, can be read back, and a send can be made to fail or to lose its answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from coprod.mail.outbox import MailUncertain
from graph_client import OutgoingMail

__all__ = ["T0", "FakeClock", "FakeMailbox"]

T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC: where a fixed clock starts unless told otherwise


class FakeClock:
    """A clock the test moves, in one of two kinds.

    - Fixed, `FakeClock()` or `FakeClock(at)`: the time is `now`, which only the test moves (`clock.now += 60`):
      for rules tested alone, where every second is exact.
    - Real, `FakeClock.real()`: real time plus `offset`, which the test moves (`clock.offset += 300`): for whole
      runs against the emulator, which keeps real time. This is what the `clock` fixture gives.

    `offset` is how far the clock has been moved, in either kind. `sleep` moves it on instead of waiting and, as
    `time.sleep` does, refuses a negative length; with `waits=True` it waits for real instead (the emulator's
    invitation throttle counts real seconds). With `tick`, each reading first moves it on that far, as a real clock
    moves between two readings.
    """

    def __init__(self, at: float | None = T0, *, tick: float = 0.0, waits: bool = False) -> None:
        self.fixed = at is not None
        self._start = at if at is not None else 0.0
        self._now = self._start  # a fixed clock's time
        self._offset = 0.0  # a real clock's lead on real time
        self.tick = tick
        self.waits = waits

    @classmethod
    def real(cls, *, waits: bool = False) -> FakeClock:
        return cls(None, waits=waits)

    @property
    def now(self) -> float:
        return self._now if self.fixed else time.time() + self._offset

    @now.setter
    def now(self, value: float) -> None:
        if self.fixed:
            self._now = value
        else:
            self._offset = value - time.time()

    @property
    def offset(self) -> float:
        return self._now - self._start if self.fixed else self._offset

    @offset.setter
    def offset(self, value: float) -> None:
        if self.fixed:
            self._now = self._start + value
        else:
            self._offset = value

    def __call__(self) -> float:
        if self.tick:
            self.move(self.tick)
        return self.now

    def move(self, seconds: float) -> None:
        """On by `seconds` (back, if negative)."""
        if self.fixed:
            self._now += seconds
        else:
            self._offset += seconds

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"sleep length must be non-negative, not {seconds}")
        if self.waits:
            time.sleep(seconds)
        else:
            self.move(seconds)

    def to_uk_midday(self) -> None:
        """On to the next noon, UK time, so a test of "once a day" can't straddle midnight."""
        uk = ZoneInfo("Europe/London")
        now = datetime.fromtimestamp(self(), uk)
        noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
        if noon <= now:
            noon = (now + timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
        self.offset += noon.timestamp() - self()


class FakeMailbox:
    """A mail transport (the outbox's `send` and `was_sent`) that records each message it is given.

    `sent`: (when, key) for each message sent, in order, the time read from `clock`; `keys()`: the keys alone.
    `fail`: exceptions the next sends raise instead, one a send, in turn (nothing is sent).
    `lost_answers`: keys whose message goes but whose answer is lost (`MailUncertain`, as after a read timeout).
    `during_send`: callables run while a send is in hand, each once: someone acting as the message goes.
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock if clock is not None else FakeClock()
        self.sent: list[tuple[float, str]] = []
        self.fail: list[Exception] = []
        self.lost_answers: set[str] = set()
        self.during_send: list[Callable[[], object]] = []

    def send(self, mail: OutgoingMail) -> None:
        if self.fail:
            raise self.fail.pop(0)
        self.sent.append((self.clock(), mail.key))
        while self.during_send:
            self.during_send.pop(0)()
        if mail.key in self.lost_answers:
            raise MailUncertain("send an email: read timed out")

    def was_sent(self, key: str) -> bool:
        return any(k == key for _, k in self.sent)

    def keys(self) -> list[str]:
        return [k for _, k in self.sent]
