"""Mailboxes: mail sent through Graph (sendMail), each sender's Sent Items, and per-mailbox send limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Mailboxes"]


class Mailboxes:
    """Sent mail of every mailbox in the tenant. Callers hold the backend's lock around changes."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.set_limit(enabled=False)

    def set_limit(self, *, per_window: int = 30, window_seconds: float = 60.0, recipients_per_day: int = 10_000,
                  day_seconds: float = 86_400.0, enabled: bool = True) -> None:
        """Exchange Online's sending limits per mailbox: messages a minute, recipients a day.

        Off until set (tests send freely); `window_seconds` and `day_seconds` shrink for a compressed clock.
        """
        if per_window < 1 or recipients_per_day < 1 or window_seconds <= 0 or day_seconds <= 0:
            raise ValueError("limits must be positive")
        self.send_limit = {"per_window": per_window, "window_seconds": window_seconds,
                           "recipients_per_day": recipients_per_day, "day_seconds": day_seconds, "enabled": enabled}

    def limit_json(self) -> dict[str, Any]:
        return dict(self.send_limit)
