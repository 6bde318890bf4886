"""Hand-offs of the meeting sync: each session's meeting, and sessions that changed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar

from coprod.store import LedgerEntry, LedgerPart


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
class PreReadingDue:
    """A session's pre-reading was added or changed (its `version`, seen at `at`), early enough to email it to
    the people already booked (those told after `at` had it in their confirmation)."""

    KIND: ClassVar[str] = "pre-reading"
    session: str
    version: int
    at: float

    @property
    def key(self) -> str:
        return f"pre-reading:{self.session}:v{self.version}"

    def payload(self) -> dict[str, Any]:
        return {"session": self.session, "version": self.version, "at": self.at}

    @classmethod
    def read(cls, entry: LedgerEntry) -> PreReadingDue:
        p = entry.payload
        return cls(str(p.get("session") or ""), int(p.get("version") or 0), float(p.get("at") or 0))


@dataclass(frozen=True)
class MeetingRecord:
    """What the ledger remembers of a session's Teams meeting (`done`), or why it could not be made (`failed`).

    `made`: how many meetings have been made for the session; the nth has its own externalId (`external_id`), so
    one is never asked for again once its meeting is deleted (what createOrGet answers then is undocumented).
    `locked`: the meeting has been shut (lobby for the organiser only, subject marked cancelled) before its delete.
    `user_ids`: each presenter's directory id as looked up once ("" for an address the directory does not know).
    """

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
    locked: bool = False
    made: int = 1
    user_ids: Mapping[str, str] = field(default_factory=dict, hash=False)

    @staticmethod
    def key_for(session_id: str) -> str:
        return f"meeting:{session_id}"

    @property
    def key(self) -> str:
        return self.key_for(self.session_id)

    @staticmethod
    def external_id_for(session_id: str, made: int) -> str:
        """The externalId of the `made`th meeting of a session: `session-<id>`, then `session-<id>-2`, ..."""
        return f"session-{session_id}" if made <= 1 else f"session-{session_id}-{made}"

    @property
    def external_id(self) -> str:
        return self.external_id_for(self.session_id, self.made)

    def payload(self) -> dict[str, Any]:
        return {"id": self.meeting_id, "join_url": self.join_url, "title": self.title,
                "start": self.start.isoformat(), "end": self.end.isoformat(), "version": self.version,
                "presenters": list(self.presenters), "lobby": self.lobby, "deleted": self.deleted,
                "locked": self.locked, "made": self.made, "user_ids": dict(self.user_ids)}

    @classmethod
    def from_entry(cls, entry: LedgerEntry | None) -> MeetingRecord | None:
        if entry is None or "id" not in entry.payload:
            return None
        p = entry.payload
        ids = p["user_ids"] if isinstance(p.get("user_ids"), dict) else {}
        return cls(entry.key.removeprefix("meeting:"), p["id"], p["join_url"], p["title"],
                   datetime.fromisoformat(p["start"]), datetime.fromisoformat(p["end"]), int(p["version"]),
                   tuple(p.get("presenters", ())), str(p.get("lobby", "")), bool(p.get("deleted")),
                   bool(p.get("locked")), int(p.get("made") or 1), {str(k): str(v) for k, v in ids.items()})

    @classmethod
    def of(cls, ledger: LedgerPart, session_id: str) -> MeetingRecord | None:
        """The session's meeting as last made (also while a later change of it is failing)."""
        return cls.from_entry(ledger.get(cls.key_for(session_id)))

    @classmethod
    def problem(cls, ledger: LedgerPart, session_id: str) -> str | None:
        """Why the session's meeting could not be made or changed, if the last try failed."""
        entry = ledger.get(cls.key_for(session_id))
        return str(entry.payload.get("problem", "")) if entry is not None and entry.status == "failed" else None

    @classmethod
    def all_made(cls, ledger: LedgerPart) -> list[MeetingRecord]:
        return [r for r in map(cls.from_entry, ledger.list(kind=cls.KIND, status="done")) if r is not None]

    def save(self, ledger: LedgerPart) -> MeetingRecord:
        ledger.put(self.key, self.KIND, "done", self.payload())
        return self

    @classmethod
    def failed(cls, ledger: LedgerPart, session_id: str, record: MeetingRecord | None, problem: str) -> None:
        """Keep what was made before (links already sent still point at it) and say what went wrong."""
        ledger.put(cls.key_for(session_id), cls.KIND, "failed",
                          (record.payload() if record else {}) | {"problem": problem})

    def deleted_now(self) -> MeetingRecord:
        return replace(self, deleted=True)

    def locked_now(self) -> MeetingRecord:
        return replace(self, locked=True)
