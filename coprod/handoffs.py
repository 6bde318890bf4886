"""Hand-offs: every kind of record that one part of the service leaves in the ledger for another, typed.

The ledger is how the parts talk without calling each other: the registration
sync decides a message is due and a later step queues it; a page records
that someone pressed "unsubscribe" and the next run applies it. Each kind is
a small frozen type here, with its key (what makes it happen once), its
payload (what is stored) and how it is read back. Nothing outside this module
spells a ledger key, an email's outbox key, or a link's purpose.

    kind              key                                       written by          read by
    message           message:<kind>:registration-<id>:...      registrations       messages
    guest-request     guest:<address>                           registrations       guests
    subscriber        subscriber:<address> (or :web:...:<day>)  registrations, page mailing list
    cancel-request    cancel-request:<registration>             cancel page         registrations
    session-change    session-changed:<session>:v<version>      meetings            messages
    meeting           meeting:<session>                         meetings            messages, registrations, pages
    guest-confirmed   guest-confirmed:<row>:<digest>            guest page          guests
    told              told:registration-<id>                    messages            messages
    invitation        invite:<address>                          guests              guests
    guest-row,        guest-row:<address>,                      guests,             (guards against a second
    subscriber-row    subscriber-row:<address>                  mailing list         row after a crash)
    campaign          campaign:<update>                         mailing list        mailing list
    unsubscribe, subscribe-confirmed, rejoin-confirmed, topics
                      <command>:<row>:<digest>                  mailing-list pages  mailing list
    mail-failed       mail-failed:<outbox key>                  outbox, messages    registrations
    rejoin-asked      rejoin-asked:<row>                        mailing list        mailing list

Statuses: `due` (to do), `done`, and for side effects in flight `sending`,
`failed`, `throttled`. A key is written once (`record`) or overwritten on
purpose (`put`); the ledger itself is in `coprod.store`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol, TypeVar

from coprod.store import Checkpoints, Ledger, LedgerEntry, OutboxStore

__all__ = [
    "CANCEL", "GUEST_CONFIRM", "PAGES", "PREFERENCES", "REJOIN", "SUBSCRIBE_CONFIRM", "UNSUBSCRIBE",
    "Campaign", "CancelRequest", "GuestConfirmed", "GuestRequestDue", "Handoff", "Invitation", "LinkKind",
    "ListCommand", "MailFailed", "MeetingRecord", "MessageDue", "RejoinAsked", "RowGuard", "SessionChanged",
    "SubscriberDue", "Told", "decide_again", "get", "mail_keys", "pending", "put", "record", "sessions_to_decide",
    "settle", "unsubscribe",
]

PAGES = "/api/pages"  # where the public pages are, under COPROD_PUBLIC_URL: links in emails point here


# --- links -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinkKind:
    """A signed link's purpose (a token for one purpose is refused for another), its life and its page."""

    purpose: str
    lifetime: timedelta
    page: str

    def url(self, public_url: str, token: str, page: str | None = None) -> str:
        return f"{public_url}{PAGES}/{page or self.page}?t={token}"


GUEST_CONFIRM = LinkKind("guest-confirm", timedelta(days=14), "guest/confirm")
# a cancel link lives until a day after its session ends (the messages work out how long that is)
CANCEL = LinkKind("cancel-place", timedelta(days=1), "cancel")
SUBSCRIBE_CONFIRM = LinkKind("subscribe-confirm", timedelta(days=7), "subscribe/confirm")
REJOIN = LinkKind("subscribe-rejoin", timedelta(days=7), "subscribe/rejoin")
PREFERENCES = LinkKind("preferences", timedelta(days=400), "preferences")  # in every update: over a year
UNSUBSCRIBE = LinkKind("unsubscribe", timedelta(days=400), "unsubscribe")
ONE_CLICK_PAGE = "unsubscribe/one-click"  # RFC 8058's POST target; an UNSUBSCRIBE token


# --- the hand-offs ------------------------------------------------------------------------------------------
class Handoff(Protocol):
    @property
    def KIND(self) -> str: ...  # a class constant in most kinds, a property in a few

    @property
    def key(self) -> str: ...
    def payload(self) -> dict[str, Any]: ...


H = TypeVar("H", bound="Readable")


class Readable(Handoff, Protocol):
    KIND: ClassVar[str]  # read from the class itself, by `pending`

    @classmethod
    def read(cls: type[H], entry: LedgerEntry) -> H: ...


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
class SessionChanged:
    """A session's title or time changed (its meeting moved): people who had the old details hear of the new."""

    KIND: ClassVar[str] = "session-change"
    session: str
    version: int
    previous: dict[str, str] = field(default_factory=dict)  # title, start, end (ISO 8601) before the change

    @property
    def key(self) -> str:
        return f"session-changed:{self.session}:v{self.version}"

    def payload(self) -> dict[str, Any]:
        return {"session": self.session, "version": self.version, "previous": dict(self.previous)}

    @classmethod
    def read(cls, entry: LedgerEntry) -> SessionChanged:
        p = entry.payload
        previous = p["previous"] if isinstance(p.get("previous"), dict) else {}
        return cls(str(p.get("session") or ""), int(p.get("version") or 0),
                   {str(k): str(v) for k, v in previous.items()})


@dataclass(frozen=True)
class MeetingRecord:
    """What the ledger remembers of a session's Teams meeting (`done`), or why it could not be made (`failed`)."""

    KIND: ClassVar[str] = "meeting"
    session_id: str
    meeting_id: str
    join_url: str
    title: str
    start: datetime
    end: datetime
    version: int
    presenters: tuple[str, ...]
    lobby: str
    deleted: bool = False

    @staticmethod
    def key_for(session_id: str) -> str:
        return f"meeting:{session_id}"

    @property
    def key(self) -> str:
        return self.key_for(self.session_id)

    def payload(self) -> dict[str, Any]:
        return {"id": self.meeting_id, "join_url": self.join_url, "title": self.title,
                "start": self.start.isoformat(), "end": self.end.isoformat(), "version": self.version,
                "presenters": list(self.presenters), "lobby": self.lobby, "deleted": self.deleted}

    @classmethod
    def from_entry(cls, entry: LedgerEntry | None) -> MeetingRecord | None:
        if entry is None or "id" not in entry.payload:
            return None
        p = entry.payload
        return cls(entry.key.removeprefix("meeting:"), p["id"], p["join_url"], p["title"],
                   datetime.fromisoformat(p["start"]), datetime.fromisoformat(p["end"]), int(p["version"]),
                   tuple(p.get("presenters", ())), str(p.get("lobby", "")), bool(p.get("deleted")))

    @classmethod
    def of(cls, ledger: Ledger, session_id: str) -> MeetingRecord | None:
        """The session's meeting as last made (also while a later change of it is failing)."""
        return cls.from_entry(ledger.ledger_get(cls.key_for(session_id)))

    @classmethod
    def problem(cls, ledger: Ledger, session_id: str) -> str | None:
        """Why the session's meeting could not be made or changed, if the last try failed."""
        entry = ledger.ledger_get(cls.key_for(session_id))
        return str(entry.payload.get("problem", "")) if entry is not None and entry.status == "failed" else None

    @classmethod
    def all_made(cls, ledger: Ledger) -> list[MeetingRecord]:
        return [r for r in map(cls.from_entry, ledger.ledger_list(kind=cls.KIND, status="done")) if r is not None]

    def save(self, ledger: Ledger) -> MeetingRecord:
        ledger.ledger_put(self.key, self.KIND, "done", self.payload())
        return self

    @classmethod
    def failed(cls, ledger: Ledger, session_id: str, record: MeetingRecord | None, problem: str) -> None:
        """Keep what was made before (links already sent still point at it) and say what went wrong."""
        ledger.ledger_put(cls.key_for(session_id), cls.KIND, "failed",
                          (record.payload() if record else {}) | {"problem": problem})

    def deleted_now(self) -> MeetingRecord:
        return replace(self, deleted=True)


@dataclass(frozen=True)
class GuestConfirmed:
    """A person pressed "confirm my address" for a guest request (`subject`: row and address digest)."""

    KIND: ClassVar[str] = "guest-confirmed"
    subject: str

    @property
    def key(self) -> str:
        return f"guest-confirmed:{self.subject}"

    def payload(self) -> dict[str, Any]:
        return {}


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
    def of(cls, ledger: Ledger, registration: str) -> Told | None:
        entry = ledger.ledger_get(cls.key_for(registration))
        if entry is None:
            return None
        p = entry.payload
        return cls(registration, int(p["version"]), float(p["at"]), bool(p.get("calendar")))


@dataclass(frozen=True)
class Invitation:
    """A guest invitation to one address, at most once ever: `sending` before the request, `done` after."""

    KIND: ClassVar[str] = "invitation"
    address: str
    row: str
    user: str | None = None
    how: str | None = None  # "invited", or "member" (they had an account already)
    error: str | None = None

    @staticmethod
    def key_for(address: str) -> str:
        return f"invite:{address}"

    @property
    def key(self) -> str:
        return self.key_for(self.address)

    def payload(self) -> dict[str, Any]:
        return {k: v for k, v in (("user", self.user), ("how", self.how), ("row", self.row),
                                  ("error", self.error)) if v is not None}

    @classmethod
    def of(cls, ledger: Ledger, address: str) -> tuple[str, Invitation] | None:
        """(status, invitation) of the address's invitation, if one was ever started."""
        entry = ledger.ledger_get(cls.key_for(address))
        if entry is None:
            return None
        p = entry.payload
        return entry.status, cls(address, str(p.get("row") or ""), str(p["user"]) if p.get("user") else None,
                                 str(p["how"]) if p.get("how") else None, str(p["error"]) if p.get("error") else None)

    @classmethod
    def updated(cls, ledger: Ledger, address: str) -> float:
        entry = ledger.ledger_get(cls.key_for(address))
        return entry.updated if entry is not None else 0.0


@dataclass(frozen=True)
class RowGuard:
    """A list row being added for an address (`guest-row`, `subscriber-row`): `sending` until Graph answers,
    so a run that stopped in between waits for the delta to show the row instead of adding a second."""

    kind: str
    address: str
    registration: str | None = None
    row: str | None = None

    @property
    def KIND(self) -> str:
        return self.kind

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.address}"

    def payload(self) -> dict[str, Any]:
        return {k: v for k, v in (("registration", self.registration), ("row", self.row)) if v is not None}

    def being_added(self, ledger: Ledger, now: float, recheck_after: float) -> bool:
        entry = ledger.ledger_get(self.key)
        return entry is not None and entry.status == "sending" and now - entry.updated < recheck_after


@dataclass(frozen=True)
class Campaign:
    """An update's campaign has been fanned out to its subscribers (the outbox sends it)."""

    KIND: ClassVar[str] = "campaign"
    update: str
    started: float

    @staticmethod
    def key_for(update: str) -> str:
        return f"campaign:{update}"

    @property
    def key(self) -> str:
        return self.key_for(self.update)

    def payload(self) -> dict[str, Any]:
        return {"started": self.started}

    @classmethod
    def started_for(cls, ledger: Ledger, update: str) -> bool:
        entry = ledger.ledger_get(cls.key_for(update))
        return entry is not None and entry.status == "done"


COMMANDS = ("unsubscribe", "subscribe-confirmed", "rejoin-confirmed", "topics")


@dataclass(frozen=True)
class ListCommand:
    """What a subscriber did on a page (`command`, one of COMMANDS), for the next run to apply once. `subject`
    is their row and address digest, as their link carried it."""

    command: str
    subject: str
    topics: tuple[str, ...] | None = None

    @property
    def KIND(self) -> str:
        return self.command

    @property
    def key(self) -> str:
        return f"{self.command}:{self.subject}"

    def payload(self) -> dict[str, Any]:
        return {} if self.topics is None else {"topics": list(self.topics)}

    @classmethod
    def pending_by_subject(cls, ledger: Ledger) -> dict[str, dict[str, LedgerEntry]]:
        """Every command not applied yet: {command: {subject: entry}}."""
        return {command: {e.key.split(":", 1)[1]: e for e in ledger.ledger_list(kind=command, status="due")}
                for command in COMMANDS}

    @classmethod
    def pending_topics(cls, ledger: Ledger, subject: str) -> list[str] | None:
        """Topics someone chose on the page that the list does not show yet."""
        entry = ledger.ledger_get(f"topics:{subject}")
        return list(entry.payload.get("topics", [])) if entry is not None and entry.status == "due" else None


@dataclass(frozen=True)
class MailFailed:
    """A message that could not be sent (or prepared): noted on the registration or session it was about."""

    KIND: ClassVar[str] = "mail-failed"
    message_key: str
    kind: str
    reason: str
    about: dict[str, str] = field(default_factory=dict)  # registration, session, subscriber
    to: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"mail-failed:{self.message_key}"

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
    def every(cls, ledger: Ledger) -> list[tuple[LedgerEntry, MailFailed]]:
        """Every failure recorded, noted already (`done`) or not yet (`due`)."""
        return [(entry, cls.read(entry)) for entry in ledger.ledger_list(kind=cls.KIND)]


@dataclass(frozen=True)
class RejoinAsked:
    """When someone who had unsubscribed was last asked whether they want updates again."""

    KIND: ClassVar[str] = "rejoin-asked"
    row: str
    at: float

    @property
    def key(self) -> str:
        return f"rejoin-asked:{self.row}"

    def payload(self) -> dict[str, Any]:
        return {"at": self.at}

    @classmethod
    def last(cls, ledger: Ledger, row: str) -> float | None:
        entry = ledger.ledger_get(f"rejoin-asked:{row}")
        return float(entry.payload.get("at", 0)) if entry is not None else None


# --- writing and reading ---------------------------------------------------------------------------------------
def record(ledger: Ledger, handoff: Handoff, status: str = "due") -> bool:
    """Record a hand-off once; False (and nothing changes) if its key was recorded before."""
    return ledger.ledger_add(handoff.key, handoff.KIND, handoff.payload(), status)


def put(ledger: Ledger, handoff: Handoff, status: str = "done") -> None:
    """Record a hand-off with this status, whether or not it was recorded before."""
    ledger.ledger_put(handoff.key, handoff.KIND, status, handoff.payload())


def get(ledger: Ledger, handoff: Handoff) -> LedgerEntry | None:
    return ledger.ledger_get(handoff.key)


def pending(ledger: Ledger, kind: type[H]) -> list[tuple[LedgerEntry, H]]:
    """Every hand-off of this kind still `due`, oldest first, with its entry (to settle it)."""
    return [(entry, kind.read(entry)) for entry in ledger.ledger_list(kind=kind.KIND, status="due")]


def settle(ledger: Ledger, entry: LedgerEntry, status: str = "done", **outcome: Any) -> None:
    """Mark a hand-off dealt with; `outcome` (words, ids: no personal data) is kept beside its payload."""
    ledger.ledger_set(entry.key, status, entry.payload | outcome if outcome else None)


def unsubscribe(store: StoreForPages, subject: str) -> None:
    """Record an unsubscribe (from the page or a one-click POST) and withdraw their queued updates now."""
    put(store, ListCommand("unsubscribe", subject), "due")
    store.outbox_cancel(mail_keys.UPDATE, f"-{subject.partition(':')[0]}")


class StoreForPages(Ledger, OutboxStore, Protocol):
    """What `unsubscribe` needs: the ledger, and the outbox to withdraw from."""


# --- sessions to decide again ----------------------------------------------------------------------------------
_DIRTY = "registrations.dirty-sessions"


def decide_again(checkpoints: Checkpoints, session_ids: Iterable[str]) -> None:
    """Have the next registration run decide these sessions again (and rewrite their Sync notes)."""
    dirty = set(sessions_to_decide(checkpoints)) | set(session_ids)
    checkpoints.set_checkpoint(_DIRTY, json.dumps(sorted(dirty)))


def sessions_to_decide(checkpoints: Checkpoints) -> list[str]:
    return list(json.loads(checkpoints.get_checkpoint(_DIRTY) or "[]"))


def set_sessions_to_decide(checkpoints: Checkpoints, session_ids: Iterable[str]) -> None:
    checkpoints.set_checkpoint(_DIRTY, json.dumps(sorted(session_ids)))


# --- emails' outbox keys ------------------------------------------------------------------------------------------
class mail_keys:
    """The outbox key of each email: what makes it go once. Never shown to anyone (Message-IDs hash it)."""

    UPDATE = "mail:update-"  # every update's key starts so; one subscriber's end in -<row>

    @staticmethod
    def for_handoff(key: str) -> str:
        return f"mail:{key}"

    @staticmethod
    def changed(registration: str, session: str, version: int) -> str:
        return f"mail:changed:registration-{registration}:session-{session}:v{version}"

    @staticmethod
    def reminder(registration: str, session: str, version: int) -> str:
        return f"mail:reminder:registration-{registration}:session-{session}:v{version}"

    @staticmethod
    def brief(session: str, version: int) -> str:
        return f"mail:brief:session-{session}:v{version}"

    @staticmethod
    def guest_confirm(row: str, digest: str) -> str:
        return f"mail:guest-confirm:{row}:{digest}"

    @staticmethod
    def guest_digest(day: str) -> str:
        return f"mail:guest-digest:{day}"

    @staticmethod
    def list_question(kind: str, subject: str, day: str) -> str:
        """A confirmation or rejoin question to a subscriber: one a day at most."""
        return f"mail:{kind}:{subject}:{day}"

    @staticmethod
    def campaign(update: str) -> str:
        return f"mail:update-{update}-"

    @staticmethod
    def update(update: str, subscriber: str) -> str:
        return f"mail:update-{update}-{subscriber}"
