"""Hand-offs of guest access: confirmed addresses, invitations, and rows being added."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from coprod.store import Ledger


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
