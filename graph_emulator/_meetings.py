"""Teams online meetings, per organiser: state and rules only."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Meetings"]


class Meetings:
    """Online meetings of every organiser in the tenant. Callers hold the backend's lock around changes."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
