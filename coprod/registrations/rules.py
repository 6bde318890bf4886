"""Registration rules, with no I/O: who gets a place, and which message a decision calls for.

Who gets a place (`allocate`, deciding the records of `coprod.lists.records`) is in `coprod.lists.places`, shared
with the Sync note that says when more people hold places than there are; this job adds the messages.
"""

from __future__ import annotations

from coprod.lists.places import Decision, allocate
from coprod.lists.records import HELD

__all__ = ["Decision", "allocate", "message_kind"]


def message_kind(before: str | None, after: str) -> str | None:
    """Which message a change of status calls for (None: no message)."""
    if after == "Confirmed":
        return "promoted" if before == "Waitlisted" else (None if before == "Confirmed" else "confirmed")
    if after == "Waitlisted":
        return None if before in HELD else "waitlisted"
    if after == "Cancelled" and before in HELD:
        return "cancelled"
    return None
