"""What a stand-in for an outside service (tests/support/acs_fake.py, notify_fake.py) keeps for the tests to read:
what it sent, and every request it answered, in order, under one lock (its handlers answer from several threads)."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

__all__ = ["Recorded"]

SentT = TypeVar("SentT")
ServedT = TypeVar("ServedT")


class Recorded(Generic[SentT, ServedT]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: list[SentT] = []
        self._log: list[ServedT] = []

    @property
    def sent(self) -> list[SentT]:
        with self._lock:
            return list(self._sent)

    @property
    def log(self) -> list[ServedT]:
        """Every request answered, in order: how many times a client really asked."""
        with self._lock:
            return list(self._log)

    def record(self, served: ServedT) -> None:
        with self._lock:
            self._log.append(served)
