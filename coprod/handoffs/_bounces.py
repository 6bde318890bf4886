"""Records of bounces: which email a Message-ID was, which non-delivery reports were read, and what an address did.

Their keys hold no address: a report by a digest of its own Message-ID, an address by its keyed digest (as every
link does), a sent email by the hash its Message-ID is made of (`graph_client.message_id_for`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

from coprod.store import LedgerEntry, LedgerPart

__all__ = ["AddressBounces", "BounceReport", "SentId"]


@dataclass(frozen=True)
class SentId:
    """Which email (its outbox key) a Message-ID we sent belongs to: written when it goes, read when it bounces."""

    KIND: ClassVar[str] = "sent-id"
    message_hash: str  # the part of the Message-ID before the @
    message_key: str = ""

    @property
    def key(self) -> str:
        return f"sent-id:{self.message_hash}"

    def payload(self) -> dict[str, Any]:
        return {"key": self.message_key}

    @classmethod
    def key_of(cls, ledger: LedgerPart, message_hash: str) -> str | None:
        entry = ledger.get(cls(message_hash).key)
        if entry is None:
            return None
        return str(entry.payload.get("key") or "") or None


@dataclass(frozen=True)
class BounceReport:
    """A non-delivery report read (or being read: `sending`), once: what it was found to be, without addresses."""

    KIND: ClassVar[str] = "bounce-report"
    report_id: str  # the report's own Message-ID (or Graph id)
    outcome: str = ""

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.report_id.encode()).hexdigest()[:32]

    @property
    def key(self) -> str:
        return f"bounce-report:{self.digest}"

    def payload(self) -> dict[str, Any]:
        return {"outcome": self.outcome} if self.outcome else {}


@dataclass(frozen=True)
class AddressBounces:
    """What an address (its keyed digest) has bounced: hard bounces in all, those counted towards a subscriber's
    Bouncing since it was last set, and the reports already counted (so none counts twice)."""

    KIND: ClassVar[str] = "bounced"
    KEEP: ClassVar[int] = 20  # reports remembered per address: more than a rerun or a crash can bring back
    address: str  # the address's keyed digest
    hard: int = 0
    toward: int = 0
    reports: tuple[str, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        return f"bounced:{self.address}"

    def payload(self) -> dict[str, Any]:
        return {"hard": self.hard, "toward": self.toward, "reports": list(self.reports[-self.KEEP:])}

    @classmethod
    def read(cls, entry: LedgerEntry) -> AddressBounces:
        p = entry.payload
        return cls(entry.key.removeprefix("bounced:"), int(p.get("hard") or 0), int(p.get("toward") or 0),
                   tuple(str(r) for r in p.get("reports") or ()))

    @classmethod
    def of(cls, ledger: LedgerPart, address: str) -> tuple[LedgerEntry | None, AddressBounces]:
        """The address's record as stored now (None if it never bounced), and what it says."""
        entry = ledger.get(cls(address).key)
        return entry, cls.read(entry) if entry is not None else cls(address)

    @classmethod
    def stopped(cls, ledger: LedgerPart) -> set[str]:
        """Every address (digest) with a hard bounce: no more booking emails go to it."""
        return {record.address for record in map(cls.read, ledger.list(kind=cls.KIND)) if record.hard}
