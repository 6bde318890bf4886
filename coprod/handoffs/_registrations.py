"""Hand-offs of the registration sync: messages due, guest and subscriber requests, cancellations,
what each person was told, messages that failed, and sessions to decide again."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from coprod.store import CheckpointsPart, LedgerEntry, LedgerPart


@dataclass(frozen=True)
class MessageDue:
    """The registration sync decided a person must hear something: confirmed, promoted, waitlisted, cancelled."""

    KIND: ClassVar[str] = "message"
    message: str
    registration: str
    session: str
    again: str = ""  # a second copy of one (the address was corrected): part of the key only

    @property
    def key(self) -> str:
        return f"message:{self.message}:registration-{self.registration}:session-{self.session}{self.again}"

    def payload(self) -> dict[str, Any]:
        return {"kind": self.message, "registration": self.registration, "session": self.session}

    @classmethod
    def read(cls, entry: LedgerEntry) -> MessageDue:
        p = entry.payload
        return cls(str(p.get("kind")), str(p.get("registration") or ""), str(p.get("session") or ""))


@dataclass(frozen=True)
class GuestRequestDue:
    """A registration asked for access to the site: a GuestRequests row, once per address."""

    KIND: ClassVar[str] = "guest-request"
    email: str
    name: str
    registration: str

    @property
    def key(self) -> str:
        return f"guest:{self.email}"

    def payload(self) -> dict[str, Any]:
        return {"name": self.name, "email": self.email, "registration": self.registration}

    @classmethod
    def read(cls, entry: LedgerEntry) -> GuestRequestDue:
        p = entry.payload
        return cls(str(p.get("email") or ""), str(p.get("name") or ""), str(p.get("registration") or ""))


@dataclass(frozen=True)
class SubscriberDue:
    """Someone asked to join the mailing list: from a registration (once per address), or the subscribe page
    (once per address a day, `day`)."""

    KIND: ClassVar[str] = "subscriber"
    email: str
    name: str = ""
    source: str = "registration"  # or "website"
    registration: str | None = None
    topics: tuple[str, ...] = ()
    day: str = ""

    @property
    def key(self) -> str:
        return f"subscriber:web:{self.email}:{self.day}" if self.source == "website" else f"subscriber:{self.email}"

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"name": self.name, "email": self.email, "source": self.source}
        if self.registration is not None:
            payload["registration"] = self.registration
        if self.topics:
            payload["topics"] = list(self.topics)
        return payload

    @classmethod
    def read(cls, entry: LedgerEntry) -> SubscriberDue:
        p = entry.payload
        topics = p["topics"] if isinstance(p.get("topics"), list) else []
        return cls(str(p.get("email") or ""), str(p.get("name") or ""), str(p.get("source") or "registration"),
                   str(p["registration"]) if p.get("registration") else None, tuple(str(t) for t in topics))


@dataclass(frozen=True)
class CancelRequest:
    """A participant pressed "cancel my place" on the page their email's link opened."""

    KIND: ClassVar[str] = "cancel-request"
    registration: str
    address: str  # the keyed digest of the address the link was sent to

    @property
    def key(self) -> str:
        return f"cancel-request:{self.registration}"

    def payload(self) -> dict[str, Any]:
        return {"registration": self.registration, "address": self.address}

    @classmethod
    def read(cls, entry: LedgerEntry) -> CancelRequest:
        return cls(str(entry.payload.get("registration") or ""), str(entry.payload.get("address") or ""))


@dataclass(frozen=True)
class Told:
    """What a participant last heard from us: the session version of their details, when, and whether they ever
    had a calendar file (so a cancellation sends a cancelling one)."""

    KIND: ClassVar[str] = "told"
    registration: str
    version: int
    at: float
    calendar: bool

    @staticmethod
    def key_for(registration: str) -> str:
        return f"told:registration-{registration}"

    @property
    def key(self) -> str:
        return self.key_for(self.registration)

    def payload(self) -> dict[str, Any]:
        return {"version": self.version, "at": self.at, "calendar": self.calendar}

    @classmethod
    def of(cls, ledger: LedgerPart, registration: str) -> Told | None:
        entry = ledger.get(cls.key_for(registration))
        if entry is None:
            return None
        p = entry.payload
        return cls(registration, int(p["version"]), float(p["at"]), bool(p.get("calendar")))


@dataclass(frozen=True)
class MailFailed:
    """A message that could not be sent (or prepared): noted on the registration or session it was about."""

    KIND: ClassVar[str] = "mail-failed"
    MAY_HAVE_GONE: ClassVar[str] = "may have been sent"  # how the reason of an interrupted, uncheckable send starts
    UNDELIVERABLE: ClassVar[str] = "the address cannot take email"  # how the reason of a refused recipient starts
    BOUNCED: ClassVar[str] = "it came back undelivered"  # how the reason of a hard bounce (an NDR) starts
    NOTIFY_REFUSED: ClassVar[str] = "GOV.UK Notify refused the "  # ... "text: <its words>" or "letter: <its words>"
    message_key: str
    kind: str
    reason: str
    about: dict[str, str] = field(default_factory=dict)  # registration, session, subscriber
    to: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"mail-failed:{self.message_key}"

    @property
    def uncertain(self) -> bool:
        """Interrupted while sending and never confirmed: it may have arrived (it was not sent again)."""
        return self.reason.startswith(self.MAY_HAVE_GONE)

    @property
    def undeliverable(self) -> bool:
        """The recipient's address was refused: it cannot take email (a bounce says the same)."""
        return self.reason.startswith(self.UNDELIVERABLE)

    @property
    def bounced(self) -> bool:
        """A non-delivery report said the address does not exist (or an email was withheld because one did)."""
        return self.reason.startswith(self.BOUNCED)

    @property
    def notify_refused(self) -> tuple[str, str] | None:
        """("text" or "letter", Notify's words) when GOV.UK Notify refused the number or address it was sent to."""
        if not self.reason.startswith(self.NOTIFY_REFUSED):
            return None
        what, _, words = self.reason.removeprefix(self.NOTIFY_REFUSED).partition(": ")
        return what, words

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {**self.about, "kind": self.kind, "reason": self.reason[:200]}
        if self.to:
            payload["to"] = list(self.to)
        return payload

    @classmethod
    def read(cls, entry: LedgerEntry) -> MailFailed:
        p = entry.payload
        about = {k: str(p[k]) for k in ("registration", "session", "subscriber") if p.get(k)}
        return cls(entry.key.removeprefix("mail-failed:"), str(p.get("kind") or ""), str(p.get("reason") or ""),
                   about, tuple(str(a) for a in p.get("to") or ()))

    @classmethod
    def every(cls, ledger: LedgerPart) -> list[tuple[LedgerEntry, MailFailed]]:
        """Every failure recorded, noted already (`done`) or not yet (`due`)."""
        return [(entry, cls.read(entry)) for entry in ledger.list(kind=cls.KIND)]


_DIRTY = "registrations.dirty-sessions"


def decide_again(checkpoints: CheckpointsPart, session_ids: Iterable[str]) -> None:
    """Have the next registration run decide these sessions again (and rewrite their Sync notes)."""
    dirty = set(sessions_to_decide(checkpoints)) | set(session_ids)
    checkpoints.set(_DIRTY, json.dumps(sorted(dirty)))


def sessions_to_decide(checkpoints: CheckpointsPart) -> list[str]:
    return list(json.loads(checkpoints.get(_DIRTY) or "[]"))


def set_sessions_to_decide(checkpoints: CheckpointsPart, session_ids: Iterable[str]) -> None:
    checkpoints.set(_DIRTY, json.dumps(sorted(session_ids)))


@dataclass(frozen=True)
class BookingsAsked:
    """Someone asked on the bookings page for a link to their bookings: at most one email per address a day."""

    KIND: ClassVar[str] = "bookings-asked"
    address: str
    day: str  # YYYY-MM-DD, UK time
    language: str = "en"  # the page's language when they asked: the email's (coprod/i18n.py)

    @property
    def key(self) -> str:
        return f"bookings-asked:{self.address}:{self.day}"

    def payload(self) -> dict[str, Any]:
        return {"address": self.address, "day": self.day, "language": self.language}

    @classmethod
    def read(cls, entry: LedgerEntry) -> BookingsAsked:
        return cls(str(entry.payload.get("address") or ""), str(entry.payload.get("day") or ""),
                   str(entry.payload.get("language") or "en"))


@dataclass(frozen=True)
class ContactDue:
    """Someone booked by an officer (ContactPreference Phone or Post) must be told something: no email goes to them;
    the team's daily digest lists it, and the facilitators' brief lists them. With GOV.UK Notify set up for how they
    chose to hear from us, a text or a letter tells them instead (coprod/notify), and the digest lists only those
    it could not (`not_sent`: why, in words for the team)."""

    KIND: ClassVar[str] = "contact-due"
    registration: str
    message: str  # confirmed, promoted, waitlisted, cancelled, changed, pre_reading, feedback
    session: str
    version: int = 0
    not_sent: str = ""  # why Notify did not tell them (refused the number or address, say): the team's list does

    @property
    def key(self) -> str:
        return f"contact:{self.message}:registration-{self.registration}:session-{self.session}:v{self.version}"

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"registration": self.registration, "message": self.message,
                                   "session": self.session, "version": self.version}
        if self.not_sent:
            payload["not_sent"] = self.not_sent[:200]
        return payload

    @classmethod
    def read(cls, entry: LedgerEntry) -> ContactDue:
        p = entry.payload
        return cls(str(p.get("registration") or ""), str(p.get("message") or ""), str(p.get("session") or ""),
                   int(p.get("version") or 0), str(p.get("not_sent") or ""))


@dataclass(frozen=True)
class BookedOnline:
    """A booking made on the public pages, for an address nobody has proved is the booker's: its emails carry
    nothing the booker typed but a first name, and say "didn't book this? cancel it". Recorded just before the
    item is made (so a run or a crash in between cannot leave it unmarked), by session and address digest."""

    KIND: ClassVar[str] = "booked-online"
    session: str
    address: str  # the keyed digest of the address

    @property
    def key(self) -> str:
        return f"booked-online:{self.session}:{self.address}"

    def payload(self) -> dict[str, Any]:
        return {"session": self.session, "address": self.address}

    @classmethod
    def read(cls, entry: LedgerEntry) -> BookedOnline:
        return cls(str(entry.payload.get("session") or ""), str(entry.payload.get("address") or ""))



class BookedOnlineIndex:
    """Whether a booking was made on the public pages (`BookedOnline`): the records read on first use, one query
    for a run however many bookings it asks about."""

    def __init__(self, ledger: LedgerPart, digest: Callable[[str], str]) -> None:
        self._ledger, self._digest = ledger, digest
        self._made: set[tuple[str, str]] | None = None

    def has(self, session: str, address: str) -> bool:
        """Whether `address` (normalised) was booked on `session` on the public pages."""
        if self._made is None:
            found = (BookedOnline.read(e) for e in self._ledger.list(kind=BookedOnline.KIND))
            self._made = {(b.session, b.address) for b in found}
        return (session, self._digest(address)) in self._made
