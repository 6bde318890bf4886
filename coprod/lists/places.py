"""Who gets a place: the rule deciding one session's registrations, with no I/O.

Validate, de-duplicate, allocate places and waiting lists (drop-in appointments one person a slot), and say what
happened in the notes people read (`coprod.lists.notes`). It decides the records of `coprod.lists.records` alone,
so it is shared: the registration sync writes its decisions, and a session's Sync note (`session_notes`), whoever
writes it, says when more people hold places than there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from coprod.lists.notes import Notes
from coprod.lists.records import HELD, Registration, Session

__all__ = ["Decision", "allocate"]


@dataclass(frozen=True)
class Decision:
    status: str
    note: str
    valid: bool  # passed validation: a real booking (Confirmed, Waitlisted, or cancelled by its owner)
    kept: bool = False  # left exactly as it is (erased, or history: its session is over): nothing written or due


def _problem(reg: Registration, session: Session | None, now: datetime) -> str | None:
    if not reg.name:
        return Notes.NO_NAME
    if reg.contact == "Phone" and not reg.phone:
        return Notes.NO_PHONE
    if reg.contact == "Post" and not reg.postal:
        return Notes.NO_POSTAL
    if reg.email is None and not (reg.assisted and not reg.email_shown):
        if reg.email_problem == "international":
            return Notes.INTERNATIONAL_EMAIL.format(value=reg.email_shown)
        return Notes.BAD_EMAIL.format(value=reg.email_shown) if reg.email_shown else Notes.NO_EMAIL
    if not reg.consent:
        return Notes.NO_CONSENT
    if reg.session_id is None:
        return Notes.NO_SESSION
    if session is None:
        return Notes.UNKNOWN_SESSION
    if session.status != "Open":
        return Notes.NOT_OPEN
    if reg.status in HELD:
        return None  # a place once given is kept: the team is told about the session's own problems
    if session.start is None or session.end is None or session.end <= session.start:
        return Notes.NO_TIME  # no meeting, no calendar file, no "when": nothing to book yet
    if session.end < now:
        return Notes.SESSION_OVER
    return None


def allocate(session: Session | None, regs: list[Registration], now: datetime, *,
             session_deleted: bool = False, aside: int = 0) -> tuple[dict[str, Decision], str | None]:
    """Decide every registration of one session; returns decisions and a note for the session's admins.

    Rules: an erased registration, and one already decided for a session that is
    over, is left as it is; a cancelled registration stays cancelled; a cancelled (or deleted)
    session cancels its bookings; invalid ones need attention; of two
    bookings by one address the one holding a place (else the earlier) wins;
    people already confirmed keep their place; free places go in order of
    registration; the rest wait, in that order (their notes don't number them).
    `aside`: confirmed registrations of the session not among `regs` (a roster's, `coprod.registrations.rosters`),
    holding places as those among them do.
    """
    decisions: dict[str, Decision] = {}
    candidates: list[Registration] = []
    over = session is not None and not session_deleted and session.end is not None and session.end < now
    for reg in sorted(regs, key=lambda r: r.order):
        if reg.status == "Erased" or (over and reg.status):
            decisions[reg.id] = Decision(reg.status or "", reg.note or "", valid=False, kept=True)
        elif reg.status == "Cancelled":
            decisions[reg.id] = Decision("Cancelled", reg.note or Notes.CANCELLED_BY_YOU, valid=False)
        elif reg.cancel:
            decisions[reg.id] = Decision("Cancelled", Notes.CANCELLED_BY_YOU, valid=True)
        elif session_deleted and reg.status in HELD:
            decisions[reg.id] = Decision("Cancelled", Notes.SESSION_GONE, valid=True)
        elif session is not None and session.status == "Cancelled":
            had_place = reg.status in HELD
            decisions[reg.id] = Decision("Cancelled" if had_place else "NeedsAttention",
                                         Notes.SESSION_CANCELLED, valid=had_place)
        else:
            problem = _problem(reg, None if session_deleted else session, now)
            if problem:
                decisions[reg.id] = Decision("NeedsAttention", problem, valid=False)
            else:
                candidates.append(reg)

    by_address: dict[str, Registration] = {}
    for reg in sorted(candidates, key=lambda r: (r.status != "Confirmed", r.status != "Waitlisted", r.order)):
        first = by_address.setdefault(reg.identity, reg)
        if first is not reg:
            decisions[reg.id] = Decision("NeedsAttention", Notes.DUPLICATE, valid=False)
    active = [r for r in candidates if r.id not in decisions]

    assert session is not None or not active
    if session is not None and session.drop_in:
        return _appointments(session, active, decisions), None
    admin_note = None
    held = [r for r in active if r.status == "Confirmed"]
    if session is None or session.unlimited:
        free = len(active)
    elif session.capacity is None:
        free = 0
    else:
        free = session.capacity - len(held) - aside
        if free < 0:
            admin_note = (f"{len(held) + aside} people are confirmed but there are only {session.capacity} places. "
                          "Nobody has been moved; please contact people yourself if places must be cut.")
    for reg in active:
        if reg.status == "Confirmed":
            decisions[reg.id] = Decision("Confirmed", Notes.CONFIRMED, valid=True)
        elif free > 0:
            free -= 1
            decisions[reg.id] = Decision("Confirmed", Notes.CONFIRMED, valid=True)
        else:
            note = Notes.CHECKING_PLACES if session is not None and session.capacity is None else Notes.WAITLISTED
            decisions[reg.id] = Decision("Waitlisted", note, valid=True)
    return decisions, admin_note


def _appointments(session: Session, active: list[Registration], decisions: dict[str, Decision]
                  ) -> dict[str, Decision]:
    """A drop-in: one person a slot. A booking keeps its slot; of two for one slot the one already confirmed
    (else the earlier) has it; a booking without one of the offered times needs attention. No waiting list."""
    offered = set(session.slots)
    taken: set[datetime] = set()
    for reg in sorted(active, key=lambda r: (r.status != "Confirmed", r.order)):
        if reg.slot is None or reg.slot not in offered:
            decisions[reg.id] = Decision("NeedsAttention", Notes.NO_SLOT, valid=False)
        elif reg.slot in taken:
            decisions[reg.id] = Decision("NeedsAttention", Notes.SLOT_TAKEN, valid=False)
        elif reg.method == "Phone" and not reg.phone:
            decisions[reg.id] = Decision("NeedsAttention", Notes.NO_PHONE_FOR_SLOT, valid=False)
        else:
            taken.add(reg.slot)
            decisions[reg.id] = Decision("Confirmed", Notes.CONFIRMED, valid=True)
    return decisions
