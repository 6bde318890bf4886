"""The lists' records as every part reads them: a session and a registration, parsed from their columns.

Columns are read with `coprod.lists.fields`, which never raises on anything people type, each once an item, and
cut to the lengths `config` names. The registration sync decides places with these; the messages, the meeting
sync, the pages, erasure, retention and the report read the same records, so a column means one thing everywhere.

A column the service writes back (a registration's Status and Attended, a session's SyncNote, JoinUrl and
MeetingId) is also kept as the list holds it, uncleaned: the service compares it with what it would write, and
writes only what differs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from config import (
    CHOICE_LENGTH,
    DESCRIPTION_LENGTH,
    NAME_LENGTH,
    NEEDS_LENGTH,
    NOTE_SHOWN,
    PHONE_LENGTH,
    POSTAL_LINE_LENGTH,
    POSTAL_LINES,
    REGISTRATIONS,
    ROLE_LENGTH,
    TEXT_LENGTH,
    THEME_LENGTH,
    THEME_SHOWN,
)
from coprod import i18n
from coprod.lists.fields import (
    as_bool,
    as_datetime,
    as_int,
    as_lines,
    as_text,
    check_email,
    facilitators,
    greeting_name,
)

__all__ = [
    "ASSISTED",
    "HELD",
    "MAX_SLOTS",
    "NO_SESSION",
    "Registration",
    "Session",
    "address_of",
    "contact_preference",
    "group_of",
    "item_number",
    "listed_status_of",
    "parse_registration",
    "parse_session",
    "places_held",
    "queue_positions",
    "session_of",
]

HELD = ("Confirmed", "Waitlisted")
MAX_SLOTS = 96  # appointments one drop-in offers at most (a day of 5-minute slots is 96 an 8-hour day)
ASSISTED = ("Phone", "Post")  # ContactPreference values of a booking an officer made: told by phone or post


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
    theme: str = ""  # Theme ('' for none), as the report groups by it and "you said, we did" matches it
    theme_shown: str = ""  # Theme as the timetable shows it
    audiences: tuple[str, ...] = ()  # Audience: the choices ticked (text values only)
    description: str = ""  # Description, on one line, as its page shows it
    question: str = ""  # Question: the one question the session aims to answer, on one line
    location: str = ""  # Location: where to go in person, on one line ('' for none)
    title_cy: str = ""  # TitleCy: the title in Welsh ('' for none: the English shows)
    description_cy: str = ""  # DescriptionCy: the description in Welsh, on one line
    facilitators: tuple[str, ...] = ()  # the usable addresses in Facilitators: the brief's recipients, presenters
    outcomes: str = ""  # "you said, we did" (Outcomes: text that keeps its lines)
    share_outcomes: bool = False  # ShareOutcomes ticked: email the outcomes to the people who held a place
    sync_note: str | None = None  # SyncNote as the list holds it (`_as_listed`)
    join_url: str | None = ""  # JoinUrl as the list holds it (`_as_named`)
    meeting_id: str | None = ""  # MeetingId as the list holds it (`_as_named`): the Teams meeting it names
    title_typed: str | None = None  # Title as typed (`_as_listed`), uncleaned: the rehearsal's mark is looked for in it

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
    title = as_text(fields.get("Title"), TEXT_LENGTH) or f"Session {item_id}"
    status = as_text(fields.get("Status"), CHOICE_LENGTH) or "Draft"
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
    audiences = fields.get("Audience")
    return Session(
        item_id, title, status, start, end, capacity, tuple(problems), slot_minutes, as_lines(fields.get("PreReading")),
        theme=as_text(fields.get("Theme"), THEME_LENGTH), theme_shown=as_text(fields.get("Theme"), THEME_SHOWN),
        audiences=tuple(a for a in audiences if isinstance(a, str)) if isinstance(audiences, list) else (),
        description=as_text(fields.get("Description"), DESCRIPTION_LENGTH),
        question=as_text(fields.get("Question"), TEXT_LENGTH), location=as_text(fields.get("Location"), TEXT_LENGTH),
        title_cy=as_text(fields.get("TitleCy"), TEXT_LENGTH),
        description_cy=as_text(fields.get("DescriptionCy"), DESCRIPTION_LENGTH),
        facilitators=tuple(facilitators(fields.get("Facilitators"))), outcomes=as_lines(fields.get("Outcomes")),
        share_outcomes=as_bool(fields.get("ShareOutcomes")), sync_note=_as_listed(fields.get("SyncNote")),
        join_url=_as_named(fields.get("JoinUrl")), meeting_id=_as_named(fields.get("MeetingId")),
        title_typed=_as_listed(fields.get("Title")))


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
    listed_status: str | None = None  # Status as the list holds it (`_as_listed`): what a write is checked against
    attended: str | None = None  # Attended as the list holds it (`_as_listed`): Yes, No or Unknown once known
    name_shown: str = ""  # Title as the team's emails and a greeting show it (NAME_LENGTH)
    greeting: str = ""  # the first name a booking made on the public pages is greeted by (`greeting_name`)
    name_typed: str | None = None  # Title as typed (`_as_listed`), uncleaned: erasure looks for it in team emails
    access_needs: str = ""  # AccessNeeds, on one line, as a confirmation and the facilitators' brief quote them
    role: str = ""  # Role, as the report counts it
    postal_address: str = ""  # PostalAddress on one line, its lines joined by commas
    postal_lines: tuple[str, ...] = ()  # PostalAddress's lines, each cleaned, blank ones left out (a letter's address)
    note_shown: str = ""  # StatusNote as the person's bookings page shows it
    personal: bool = False  # a personal column (REGISTRATIONS.personal) holds something: retention has to clear it
    language: str = "en"  # Language: the code of the language they read (coprod.i18n.language), English unless set

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
        return (self.created, item_number(self.id))


def item_number(item_id: str) -> int:
    """An item id as the number that breaks a tie in the order of registration (0 for one that is not a number)."""
    return int(item_id) if item_id.isdigit() else 0


def queue_positions(items: Iterable[Any]) -> dict[str, int]:
    """Each Waitlisted registration's place in its session's queue (1: next to get a place), in the order places
    are given (`Registration.order`). `items` are one session's mirror items; one pass, one sort."""
    waiting = sorted((i for i in items if i.fields.get("Status") == "Waitlisted"),
                     key=lambda i: (i.created, item_number(i.item_id)))
    return {item.item_id: n for n, item in enumerate(waiting, 1)}


def parse_registration(item_id: str, created: str, fields: dict[str, Any]) -> Registration:
    session_id = session_of(fields)
    status = as_text(fields.get("Status"), CHOICE_LENGTH) or None
    note = fields.get("StatusNote")
    email = check_email(fields.get("Email"))
    name = fields.get("Title")
    postal = _lines_of(fields.get("PostalAddress"))
    return Registration(
        id=item_id, created=created, name=as_text(name, TEXT_LENGTH),
        email=email.address, email_shown=email.shown, email_problem=email.problem,
        session_id=session_id, consent=as_bool(fields.get("Consent")), cancel=as_bool(fields.get("Cancel")),
        status=status, note=note if isinstance(note, str) else None,
        wants_site_access=as_bool(fields.get("WantsSiteAccess")),
        join_mailing_list=as_bool(fields.get("JoinMailingList")),
        contact=contact_preference(fields), phone=as_text(fields.get("Phone"), PHONE_LENGTH),
        postal=bool(as_text(fields.get("PostalAddress"))), slot=as_datetime(fields.get("Slot")),
        method=as_text(fields.get("ContactMethod"), 20), listed_status=listed_status_of(fields),
        attended=_as_listed(fields.get("Attended")), name_shown=as_text(name, NAME_LENGTH),
        greeting=greeting_name(name), name_typed=_as_listed(name),
        access_needs=as_text(fields.get("AccessNeeds"), NEEDS_LENGTH), role=as_text(fields.get("Role"), ROLE_LENGTH),
        postal_address=", ".join(postal), postal_lines=postal, note_shown=as_text(note, NOTE_SHOWN),
        personal=any(fields.get(column) for column in REGISTRATIONS.personal),
        language=i18n.language(fields.get("Language")))


def address_of(fields: dict[str, Any]) -> str | None:
    """A registration's address as its record has it (`Registration.email`), read alone: for a look through every
    booking for one address, which parses none of them."""
    return check_email(fields.get("Email")).address


def listed_status_of(fields: dict[str, Any]) -> str | None:
    """A registration's Status as the list holds it (`Registration.listed_status`), read alone (see `address_of`)."""
    return _as_listed(fields.get("Status"))


def places_held(items: Iterable[Any]) -> tuple[int, set[datetime]]:
    """How many of one session's registrations hold a place (Confirmed or Waitlisted), and the drop-in times they
    hold: what the timetable shows of each session, in one pass that parses no booking. `items`: mirror items."""
    holding = [i for i in items if listed_status_of(i.fields) in HELD]
    return len(holding), {slot for slot in (as_datetime(i.fields.get("Slot")) for i in holding) if slot is not None}


def _as_listed(value: Any) -> str | None:
    """A column as the list holds it, for a comparison with what the service writes, which is always text: the text
    itself, uncleaned; None for none; any other value (a number, a list) as text, which equals no word it writes."""
    if value is None or isinstance(value, str):
        return value
    return str(value) if value else ""


def _as_named(value: Any) -> str | None:
    """JoinUrl or MeetingId as the list holds it: the text itself ('' for none); None for a value that is not text,
    which names no meeting and equals nothing the meeting sync writes."""
    if not value:
        return ""
    return value if isinstance(value, str) else None


def _lines_of(value: Any) -> tuple[str, ...]:
    """A multi-line column's (a postal address's) lines, each cleaned, blank ones left out."""
    lines = (as_text(line, POSTAL_LINE_LENGTH) for line in str(value or "").splitlines()[:POSTAL_LINES])
    return tuple(line for line in lines if line)


def contact_preference(fields: dict[str, Any]) -> str:
    """How a registration's person is told things: Email (the default), Phone or Post."""
    value = as_text(fields.get("ContactPreference"))
    return value if value in ASSISTED else "Email"


def session_of(fields: dict[str, Any]) -> str | None:
    """The session a registration names (its `SessionLookupId`: a list item id), or None if it names none."""
    value = fields.get("SessionLookupId")
    text = as_text(value, 20) if isinstance(value, (str, int)) else ""  # as_text reads a yes/no as nothing
    return text if text not in ("", "0") else None


NO_SESSION = "-"  # the group of registrations that name no session


def group_of(fields: dict[str, Any]) -> str:
    """The session a registration points at (as the mirror groups it)."""
    return session_of(fields) or NO_SESSION
