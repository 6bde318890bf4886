"""Hand-offs of the mailing list: campaigns started, what subscribers did on the pages, rejoin questions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from coprod.store import LedgerEntry, LedgerPart


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
    def started_for(cls, ledger: LedgerPart, update: str) -> bool:
        entry = ledger.get(cls.key_for(update))
        return entry is not None and entry.status == "done"


# What subscribers did on the pages, and (`bouncing`) what their address did: 3 hard bounces (coprod/mail/bounces.py)
COMMANDS = ("unsubscribe", "subscribe-confirmed", "rejoin-confirmed", "topics", "bouncing")


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
    def pending_by_subject(cls, ledger: LedgerPart) -> dict[str, dict[str, LedgerEntry]]:
        """Every command not applied yet: {command: {subject: entry}}."""
        return {command: {e.key.split(":", 1)[1]: e for e in ledger.list(kind=command, status="due")}
                for command in COMMANDS}

    @classmethod
    def pending_topics(cls, ledger: LedgerPart, subject: str) -> list[str] | None:
        """Topics someone chose on the page that the list does not show yet."""
        entry = ledger.get(f"topics:{subject}")
        return list(entry.payload.get("topics", [])) if entry is not None and entry.status == "due" else None


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
    def last(cls, ledger: LedgerPart, row: str) -> float | None:
        entry = ledger.get(f"rejoin-asked:{row}")
        return float(entry.payload.get("at", 0)) if entry is not None else None
