"""Registration rules, with no I/O: validate, de-duplicate, allocate places, and say what happened.

Columns are read with `coprod.lists.fields`, which never raises on anything people type. Notes are what
participants read: short, plain English, saying what to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from coprod.lists.fields import INTERNATIONAL_NOTE, as_bool, as_datetime, as_int, as_lines, as_text, check_email

__all__ = [
    "ASSISTED",
    "Decision",
    "Notes",
    "Registration",
    "Session",
    "allocate",
    "contact_preference",
    "message_kind",
    "parse_registration",
    "parse_session",
    "session_of",
]

HELD = ("Confirmed", "Waitlisted")
MAX_SLOTS = 96  # appointments one drop-in offers at most (a day of 5-minute slots is 96 an 8-hour day)
ASSISTED = ("Phone", "Post")  # ContactPreference values of a booking an officer made: told by phone or post


class Notes:
    """Everything a participant or an admin reads in a StatusNote or SyncNote."""

    CONFIRMED = "Your place is confirmed. We'll email you the joining link."
    # A waiting-list note names no position: one person leaving would otherwise rewrite every note behind them.
    # The position is in the waiting-list email, on the person's bookings page, and in `status`.
    WAITLISTED = "This session is full, so you're on the waiting list. We'll email you if a place comes up."
    CANCELLED_BY_YOU = "You've cancelled your place. Thank you for letting us know."
    SESSION_CANCELLED = "This session has been cancelled. We're sorry. We'll let you know about other sessions."
    SESSION_GONE = "This session is no longer running. We're sorry. We'll let you know about other sessions."
    NO_NAME = "Please add your name, so we know who is coming."
    NO_EMAIL = "Please add your email address, so we can send you the joining link."
    NO_PHONE = "We need a phone number to ring about this booking (How we contact them says Phone)."
    NO_SLOT = "Please choose one of the appointment times offered for this drop-in."
    SLOT_TAKEN = ("Someone booked this appointment time just before you. Please choose another time: your "
                  "booking for this one hasn't been made.")
    NO_PHONE_FOR_SLOT = "We need a phone number to ring you at your appointment time."
    NO_POSTAL = "We need a postal address to write to about this booking (How we contact them says Post)."
    BAD_EMAIL = "We couldn't use the email address “{value}”. Please check it for typing mistakes."
    INTERNATIONAL_EMAIL = INTERNATIONAL_NOTE
    NO_CONSENT = ("We need your agreement to keep your details before we can book your place. "
                  "Please tick the consent box.")
    NO_SESSION = "Please choose the session you'd like to join."
    UNKNOWN_SESSION = "We couldn't find the session you chose. Please choose one from the list of sessions."
    NOT_OPEN = "This session isn't open for booking yet. Your request will be looked at when it opens."
    SESSION_OVER = "This session has already taken place. Please choose another session."
    NO_TIME = ("This session's date and time aren't set yet. Your request will be looked at as soon as they "
               "are.")
    DUPLICATE = "You're already registered for this session, so we haven't booked a second place."
    EMAIL_FAILED = ("We couldn't email you at this address, so you may have missed our message. Please check the "
                    "address, or contact the programme team.")
    UNDELIVERABLE = ("This booking was made on our website, and we couldn't email this address, so the place has "
                     "gone to someone else. If it was yours, please book again with an address that works, or "
                     "contact the programme team.")
    BOUNCED = ("Our email didn't reach this address: it came back undelivered, so we've stopped emailing it. Please "
               "check the address, or contact the programme team; once it's corrected, our emails go to the new one.")
    EMAIL_UNCERTAIN = ("Our email to you was interrupted while it was being sent, so it may not have reached you. "
                       "If you haven't heard from us, please contact the programme team.")
    BRIEF_FAILED = ("We couldn't send the facilitators' brief for this session. Please check the addresses in "
                    "Facilitators.")
    ERASED = "Personal details erased at the person's request on {day}. The place was freed."
    RETAINED = ("Personal details cleared on {day}: the session ended more than {days} days ago "
                "(the programme's retention period).")
    CHECKING_PLACES = ("We're checking how many places this session has. Your booking is in the queue, and we'll "
                       "be in touch.")


@dataclass(frozen=True)
class Session:
    id: str
    title: str
    status: str
    start: datetime | None
    end: datetime | None
    capacity: int | None  # None: unreadable (then nobody new is confirmed)
    problems: tuple[str, ...] = ()
    slot_minutes: int = 0  # a drop-in's appointment length; 0 for a group session
    pre_reading: str = ""  # something to read before it (PreReading: text and links)

    @property
    def unlimited(self) -> bool:
        return self.capacity == 0

    @property
    def drop_in(self) -> bool:
        return self.slot_minutes > 0

    @property
    def slots(self) -> list[datetime]:
        """A drop-in's appointment times, from its start to its end (none for a group session)."""
        if not self.drop_in or self.start is None or self.end is None:
            return []
        step, at = timedelta(minutes=self.slot_minutes), self.start
        times: list[datetime] = []
        while at + step <= self.end and len(times) < MAX_SLOTS:
            times.append(at)
            at += step
        return times


def parse_session(item_id: str, fields: dict[str, Any]) -> Session:
    problems: list[str] = []
    title = as_text(fields.get("Title"), 255) or f"Session {item_id}"
    status = as_text(fields.get("Status"), 40) or "Draft"
    start, end = as_datetime(fields.get("StartTime")), as_datetime(fields.get("EndTime"))
    if start is None:
        problems.append("Start time is missing or not a date.")
    if end is None:
        problems.append("End time is missing or not a date.")
    elif start is not None and end <= start:
        problems.append("End time is before the start time.")
    raw_capacity = fields.get("Capacity")
    capacity = 0 if raw_capacity is None or raw_capacity == "" else as_int(raw_capacity)
    if capacity is None or capacity < 0:
        problems.append("Places must be a whole number, 0 for no limit. Nobody new is confirmed until it's fixed.")
        capacity = None
    if status not in ("Draft", "Open", "Cancelled"):
        problems.append(f"Status should be Draft, Open or Cancelled (it's “{status}”).")
    slot_minutes = 0
    if as_text(fields.get("Kind"), 20) == "DropIn":
        minutes = as_int(fields.get("SlotMinutes"))
        if minutes is not None and 5 <= minutes <= 480:
            slot_minutes = minutes
        else:
            problems.append("A drop-in needs Minutes a drop-in appointment between 5 and 480. Nobody new is "
                            "booked until it's set.")
            capacity = None
    return Session(item_id, title, status, start, end, capacity, tuple(problems), slot_minutes,
                   as_lines(fields.get("PreReading")))


@dataclass(frozen=True)
class Registration:
    id: str
    created: str
    name: str
    email: str | None
    email_shown: str
    email_problem: str | None
    session_id: str | None
    consent: bool
    cancel: bool
    status: str | None  # what the list says now
    note: str | None
    wants_site_access: bool
    join_mailing_list: bool
    contact: str = "Email"  # ContactPreference: Email, or Phone or Post for an assisted booking (no email sent)
    phone: str = ""
    postal: bool = False  # a postal address is given
    slot: datetime | None = None  # a drop-in appointment's start
    method: str = ""  # ContactMethod of a drop-in appointment: Phone, Teams or In person

    @property
    def assisted(self) -> bool:
        return self.contact in ASSISTED

    @property
    def identity(self) -> str:
        """What makes two bookings one person's: the address, or for an assisted booking its name and number."""
        return self.email or f"{self.contact}:{self.name.casefold()}:{''.join(c for c in self.phone if c.isdigit())}"

    @property
    def order(self) -> tuple[str, int]:
        """Order of registration: created time, then item id."""
        return (self.created, int(self.id) if self.id.isdigit() else 0)


def queue_positions(items: Iterable[Any]) -> dict[str, int]:
    """Each Waitlisted registration's place in its session's queue (1: next to get a place), in the order places
    are given (`Registration.order`). `items` are one session's mirror items; one pass, one sort."""
    waiting = sorted((i for i in items if i.fields.get("Status") == "Waitlisted"),
                     key=lambda i: (i.created, int(i.item_id) if i.item_id.isdigit() else 0))
    return {item.item_id: n for n, item in enumerate(waiting, 1)}


def parse_registration(item_id: str, created: str, fields: dict[str, Any]) -> Registration:
    session_id = session_of(fields)
    status = as_text(fields.get("Status"), 40) or None
    note = fields.get("StatusNote")
    email = check_email(fields.get("Email"))
    return Registration(
        id=item_id, created=created, name=as_text(fields.get("Title"), 255),
        email=email.address, email_shown=email.shown, email_problem=email.problem,
        session_id=session_id, consent=as_bool(fields.get("Consent")), cancel=as_bool(fields.get("Cancel")),
        status=status, note=note if isinstance(note, str) else None,
        wants_site_access=as_bool(fields.get("WantsSiteAccess")),
        join_mailing_list=as_bool(fields.get("JoinMailingList")),
        contact=contact_preference(fields), phone=as_text(fields.get("Phone"), 40),
        postal=bool(as_text(fields.get("PostalAddress"))), slot=as_datetime(fields.get("Slot")),
        method=as_text(fields.get("ContactMethod"), 20))


def contact_preference(fields: dict[str, Any]) -> str:
    """How a registration's person is told things: Email (the default), Phone or Post."""
    value = as_text(fields.get("ContactPreference"))
    return value if value in ASSISTED else "Email"


def session_of(fields: dict[str, Any]) -> str | None:
    """The session a registration names (its `SessionLookupId`: a list item id), or None if it names none."""
    value = fields.get("SessionLookupId")
    text = as_text(value, 20) if isinstance(value, (str, int)) else ""  # as_text reads a yes/no as nothing
    return text if text not in ("", "0") else None


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
             session_deleted: bool = False) -> tuple[dict[str, Decision], str | None]:
    """Decide every registration of one session; returns decisions and a note for the session's admins.

    Rules: an erased registration, and one already decided for a session that is
    over, is left as it is; a cancelled registration stays cancelled; a cancelled (or deleted)
    session cancels its bookings; invalid ones need attention; of two
    bookings by one address the one holding a place (else the earlier) wins;
    people already confirmed keep their place; free places go in order of
    registration; the rest wait, in that order (their notes don't number them).
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
        free = session.capacity - len(held)
        if free < 0:
            admin_note = (f"{len(held)} people are confirmed but there are only {session.capacity} places. "
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


def message_kind(before: str | None, after: str) -> str | None:
    """Which message a change of status calls for (None: no message)."""
    if after == "Confirmed":
        return "promoted" if before == "Waitlisted" else (None if before == "Confirmed" else "confirmed")
    if after == "Waitlisted":
        return None if before in HELD else "waitlisted"
    if after == "Cancelled" and before in HELD:
        return "cancelled"
    return None
