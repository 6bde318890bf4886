"""What a registration sync did, in numbers (`SyncReport`), and each session's places at a glance."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from coprod.lists.records import listed_status_of, parse_session
from coprod.store import StateStore
from coprod.words import count

__all__ = ["SyncReport", "session_summaries"]


@dataclass
class SyncReport:
    """What a run changed, in numbers (no personal data)."""

    sessions_read: int = 0  # changed or removed since the last run, by people (not our own writes)
    registrations_read: int = 0
    own_writes_seen: int = 0  # items delta returned only because we wrote them last run
    full_read: bool = False
    decided: dict[str, int] = field(default_factory=dict)  # new status -> how many changed to it
    messages_due: dict[str, int] = field(default_factory=dict)
    guest_requests_due: int = 0
    subscribers_due: int = 0
    writes: int = 0
    conflicts: int = 0
    failed_writes: int = 0
    session_notes: int = 0

    def line(self) -> str:
        words = {"NeedsAttention": "need attention", "Waitlisted": "on the waiting list"}
        changed = ", ".join(f"{n} {words.get(status, status.lower())}"
                            for status, n in sorted(self.decided.items())) or "no changes"
        extra = [f"{count(self.writes, 'row')} updated"]
        if self.conflicts:
            extra.append(f"{self.conflicts} re-read after someone else changed them")
        if self.failed_writes:
            extra.append(f"{self.failed_writes} could not be written (will retry next run)")
        if self.registrations_read or self.sessions_read or self.full_read:
            read = (f"{count(self.registrations_read, 'registration')} and {count(self.sessions_read, 'session')} "
                    f"{'read (whole lists)' if self.full_read else 'new or changed'}")
        else:
            read = "nothing new in the lists"
        return f"Registrations: {read}; {changed}; " + "; ".join(extra) + "."


def session_summaries(store: StateStore) -> list[dict[str, Any]]:
    """Per session: title, start, places, and how many are confirmed, waiting, or need attention."""
    out = []
    sessions = [parse_session(item.item_id, item.fields) for item in store.mirror.items("Sessions")]
    for session in sorted(sessions, key=lambda s: (s.start is not None, s.start or datetime.min.replace(tzinfo=UTC))):
        counts: dict[str, int] = {}
        for reg in store.mirror.items("Registrations", group=session.id):
            status = listed_status_of(reg.fields) or "New"
            counts[status] = counts.get(status, 0) + 1
        out.append({"id": session.id, "title": session.title, "status": session.status,
                    "start": session.start, "capacity": session.capacity, "counts": counts,
                    "note": session.sync_note or ""})
    return out
