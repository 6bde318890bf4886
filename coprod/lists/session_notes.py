"""A session's Sync note, composed one way whoever writes it.

The registration sync writes it when it decides a session; the meeting sync writes it in the same run when the
session's meeting is refused (or works again), so the note says so at once rather than a run later. Both compose
it here from the same inputs (the records, the place rule, the ledger: all shared, so neither job imports the
other), so the next registration run finds the note already as it would write it, and writes nothing.
"""

from __future__ import annotations

from datetime import datetime

from coprod.handoffs import MailFailed, MeetingRecord
from coprod.lists.notes import Notes
from coprod.lists.places import allocate
from coprod.lists.records import Session, parse_registration, parse_session
from coprod.store import LedgerPart, StateStore

__all__ = ["briefs_failed", "session_note", "session_note_now"]


def session_note(ledger: LedgerPart, session_id: str, session: Session, admin_note: str | None,
                 brief_failed: bool) -> str | None:
    """The note: the session's own problems, the places' (`admin_note`), why its meeting could not be made (while it
    is Open), and a facilitators' brief that could not be sent. None: nothing to say."""
    notes = list(session.problems) + ([admin_note] if admin_note else [])
    meeting_problem = MeetingRecord.problem(ledger, session_id)
    if meeting_problem is not None and session.status == "Open":
        notes.append(meeting_problem)
    if brief_failed:
        notes.append(Notes.BRIEF_FAILED)
    return " ".join(notes) if notes else None


def briefs_failed(ledger: LedgerPart) -> set[str]:
    """The sessions an email about the session itself (a facilitators' brief) failed for: one read of the ledger."""
    sessions = set()
    for _, failure in MailFailed.every(ledger):
        session = failure.about.get("session")
        if session and not failure.about.get("registration"):
            sessions.add(session)
    return sessions


def session_note_now(store: StateStore, session_id: str, now: datetime, failed_briefs: set[str]) -> str | None:
    """The note the registration sync would write for the session now, from the store alone (the mirrored
    session and its registrations, the ledger); `failed_briefs` from `briefs_failed`. None: nothing to say (or
    the session is not mirrored)."""
    mirrored = store.mirror.get("Sessions", session_id)
    if mirrored is None:
        return None
    session = parse_session(session_id, mirrored.fields)
    regs = [parse_registration(i.item_id, i.created, i.fields)
            for i in store.mirror.items("Registrations", group=session_id)]
    _, admin_note = allocate(session, regs, now)
    brief_failed = session_id in failed_briefs and (session.end is None or session.end >= now)
    return session_note(store.ledger, session_id, session, admin_note, brief_failed)
