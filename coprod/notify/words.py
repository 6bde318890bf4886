"""What a text or a letter says: for each thing someone booked by phone or post must be told (a `ContactDue`), the
same news the team's daily list gives (a place booked, a place come up, the waiting list and their number, a
cancellation, a change, something to read first, "how was it?"), with the session's title, its day and time in UK
time, and how to join.

A text is one placeholder of the council's text template, `((message))`: short, plain English. A letter fills the
letter template's `((subject))` and `((body))`, and its address: the person's name, then the lines of their postal
address, the postcode last (docs/notify.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from config import Settings
from coprod.handoffs import FEEDBACK, ContactDue, MeetingRecord
from coprod.links import Signer
from coprod.lists.records import Registration, parse_session, queue_positions
from coprod.store import StateStore
from coprod.templates import uk_clock, uk_time

__all__ = ["TEXT_LIMIT", "Letter", "Text", "Wait", "Words"]

TEXT_LIMIT = 612  # characters a text may run to (four texts' worth; Notify's own limit is 918)
ADDRESS_LINES = 7  # Notify's most (`address_line_1` to `_7`), the person's name the first
NOT_AT_START = "@()=[]\"”\\/,<>~ "  # characters Notify refuses at the start of an address line
CANCELLED = ("Cancelled", "Deleted")


@dataclass(frozen=True)
class Text:
    message: str


@dataclass(frozen=True)
class Letter:
    address: tuple[str, ...]
    subject: str
    body: str


@dataclass(frozen=True)
class Wait:
    """Not yet: the session's Teams meeting, whose join link the message carries, is not made yet."""


@dataclass(frozen=True)
class _Session:
    title: str
    start: datetime | None
    status: str
    join_url: str | None
    drop_in: bool
    pre_reading: str
    location: str  # where to go in person ('' for none yet)


class Words:
    """The texts and letters of one run, from the store's records (each session read once)."""

    def __init__(self, store: StateStore, settings: Settings, signer: Signer, clock: Callable[[], float]) -> None:
        self.store, self.settings, self.signer, self.clock = store, settings, signer, clock
        self._sessions: dict[str, _Session] = {}

    def compose(self, contact: ContactDue, reg: Registration, channel: str) -> Text | Letter | Wait | str:
        """The text (`sms`) or letter telling `reg` what `contact` says; Wait; or, in words for the team's list,
        why it cannot go by Notify."""
        session = self._session(contact.session)
        start = reg.slot if session.drop_in and reg.slot is not None else session.start
        if start is None:
            return "the session has no date or time yet"
        when = f"{uk_time(start)} (UK time)"
        how = self._how(session, reg, channel)
        if contact.message in ("confirmed", "promoted", "changed") and session.status not in CANCELLED and how is None:
            return Wait()
        told = _TOLD.get(contact.message)
        if told is None:
            return f"a text or letter has nothing to say about '{contact.message}'"
        position = self._position(reg) if contact.message == "waitlisted" else 0
        link = self._feedback_link(reg.id, contact.session) if contact.message == "feedback" else ""
        cancelled = session.status in CANCELLED
        phone, hours = self.settings.contact_phone, self.settings.contact_hours
        if channel == "sms":
            message = told(session, when, how or "", position, link, cancelled, True)
            if phone and contact.message in ("confirmed", "promoted", "changed"):
                message = f"{message} Can't come? Ring us on {phone}."
            if len(message) > TEXT_LIMIT:
                return f"it is too long for a text ({len(message)} characters; at most {TEXT_LIMIT})"
            return Text(message)
        body = told(session, when, how or "", position, link, cancelled, False)
        greeting = f"Dear {reg.name_shown}," if reg.name_shown else "Hello,"
        subject = "Cancelled: {title}" if cancelled and contact.message == "cancelled" else _SUBJECTS[contact.message]
        ask = (f"ring us on {phone}" + (f" ({hours})" if hours else "")) if phone else "get in touch with us"
        return Letter(address(reg), subject.format(title=session.title),
                      f"{greeting}\n\n{body}\n\nIf you have any questions, or can no longer come, please {ask}.\n\n"
                      f"{self.settings.programme_name}")

    def _session(self, session_id: str) -> _Session:
        if session_id not in self._sessions:
            record = MeetingRecord.of(self.store.ledger, session_id)
            item = self.store.mirror.get("Sessions", session_id)
            parsed = parse_session(session_id, item.fields) if item else None
            self._sessions[session_id] = _Session(
                record.title if record else parsed.title if parsed else "the session",
                record.start if record else parsed.start if parsed else None,
                parsed.status if parsed else "Deleted", record.join_url if record and not record.deleted else None,
                bool(parsed and parsed.drop_in), parsed.pre_reading if parsed else "",
                parsed.location if parsed else "")
        return self._sessions[session_id]

    @staticmethod
    def _how(session: _Session, reg: Registration, channel: str) -> str | None:
        """How they join (as their emails would say: a drop-in appointment as they chose it; where a session in person
        is); None when that is the Teams link, and there is none yet."""
        if session.drop_in and reg.slot is not None and reg.method == "Phone":
            return f"We'll ring you at {uk_clock(reg.slot)}."
        if session.drop_in and reg.slot is not None and reg.method == "In person":
            return f"In person, at {session.location}." if session.location else \
                "In person: we'll tell you where to go before the day."
        if not session.join_url:
            return None
        where = f"Where: {session.location}." if session.location and not session.drop_in else ""
        if channel == "sms":
            return f"{where} Or join on Microsoft Teams: {session.join_url}" if where else \
                f"Join on Microsoft Teams: {session.join_url}"
        if where:
            return (f"{where}\n\nYou can also join on Microsoft Teams, with this link on a computer, tablet or "
                    f"phone:\n{session.join_url}")
        return f"It's on Microsoft Teams. To join, use this link on a computer, tablet or phone:\n{session.join_url}"

    def _position(self, reg: Registration) -> int:
        queue = queue_positions(self.store.mirror.items("Registrations", group=reg.session_id))
        return queue.get(reg.id, len(queue) or 1)

    def _feedback_link(self, registration: str, session: str) -> str:
        token = self.signer.make(FEEDBACK.purpose, f"{registration}:{session}", FEEDBACK.lifetime.total_seconds())
        return FEEDBACK.url(self.settings.public_url, token)


def address(reg: Registration) -> tuple[str, ...]:
    """A letter's address: their name, then their postal address's lines, the last (the postcode) kept last; lines
    past Notify's seven joined onto the one before the postcode, and no line starting with a character Notify
    refuses there."""
    lines = [line.lstrip(NOT_AT_START) for line in (reg.name_shown, *reg.postal_lines)]
    lines = [line for line in lines if line]
    if len(lines) > ADDRESS_LINES:
        lines = [*lines[:ADDRESS_LINES - 2], ", ".join(lines[ADDRESS_LINES - 2:-1]), lines[-1]]
    return tuple(lines)


# --- each piece of news, as a text (`short`) or a letter's body ---------------------------------------------------
Told = Callable[[_Session, str, str, int, str, bool, bool], str]


def _booked(headline: str) -> Told:
    def told(s: _Session, when: str, how: str, position: int, link: str, cancelled: bool, short: bool) -> str:
        if short:
            return f"{headline}: {s.title}, {when}. {how}".strip()
        read = f"\n\nBefore the session, please read this:\n{s.pre_reading}" if s.pre_reading else ""
        return f"{headline} at {s.title}, on {when}.\n\n{how}{read}".rstrip()
    return told


def _waitlisted(s: _Session, when: str, how: str, position: int, link: str, cancelled: bool, short: bool) -> str:
    if short:
        return (f"{s.title}, {when}, is full, so you're on the waiting list (number {position}). We'll let you know "
                "if a place comes up.")
    return (f"{s.title}, on {when}, is full, so you're on the waiting list. You're number {position}. We'll let you "
            "know if a place comes up.")


def _cancelled(s: _Session, when: str, how: str, position: int, link: str, cancelled: bool, short: bool) -> str:
    if cancelled:
        return (f"Sorry: {s.title}, {when}, has been cancelled. We'll let you know about other sessions."
                if short else f"We're sorry: {s.title}, on {when}, has been cancelled. We'll let you know about "
                              "other sessions.")
    return f"Your place at {s.title}, {when}, is cancelled." if short else \
        f"Your place at {s.title}, on {when}, is cancelled. Thank you for letting us know."


def _changed(s: _Session, when: str, how: str, position: int, link: str, cancelled: bool, short: bool) -> str:
    if short:
        return f"{s.title} has changed. It's now {when}. {how}".strip()
    return f"{s.title} has changed. It's now on {when}.\n\n{how}".rstrip()


def _pre_reading(s: _Session, when: str, how: str, position: int, link: str, cancelled: bool, short: bool) -> str:
    if short:
        return f"Before {s.title}, {when}, please read this: {' '.join(s.pre_reading.split())}"
    return f"Before {s.title}, on {when}, please read this:\n\n{s.pre_reading}"


def _feedback(s: _Session, when: str, how: str, position: int, link: str, cancelled: bool, short: bool) -> str:
    days = FEEDBACK.lifetime.days
    if short:
        return f"How was {s.title}? Tell us in a couple of minutes: {link} (open for {days} days)."
    return (f"Thank you for coming to {s.title}. How was it? We'd like to know: how you'd rate it from 1 to 5, and "
            f"whether you felt listened to.\n\nYou can tell us on our website within {days} days:\n{link}\n\nOr "
            "tell us when we next see you.")


_TOLD: dict[str, Told] = {
    "confirmed": _booked("Your place is booked"),
    "promoted": _booked("A place has come up for you"),
    "waitlisted": _waitlisted,
    "cancelled": _cancelled,
    "changed": _changed,
    "pre_reading": _pre_reading,
    "feedback": _feedback,
}
_SUBJECTS = {
    "confirmed": "Your place is booked: {title}",
    "promoted": "A place has come up for you: {title}",
    "waitlisted": "You're on the waiting list: {title}",
    "cancelled": "Your place is cancelled: {title}",
    "changed": "A session you're booked on has changed: {title}",
    "pre_reading": "Something to read before {title}",
    "feedback": "How was it? {title}",
}
