"""Hand-offs of guest access: confirmed addresses, invitations, and rows being added."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from coprod.handoffs._base import claim
from coprod.store import LedgerEntry, LedgerPart


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
    def entry(cls, ledger: LedgerPart, address: str) -> LedgerEntry | None:
        """The address's invitation as the ledger has it (None: never started)."""
        return ledger.get(cls.key_for(address))

    @classmethod
    def read(cls, entry: LedgerEntry) -> Invitation:
        p = entry.payload
        return cls(entry.key.removeprefix("invite:"), str(p.get("row") or ""),
                   str(p["user"]) if p.get("user") else None, str(p["how"]) if p.get("how") else None,
                   str(p["error"]) if p.get("error") else None)


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

    def made(self, ledger: LedgerPart, row: str) -> bool:
        """Whether the service itself made `row` for this address (from a registration), as opposed to an admin
        adding it to the list: the guard names the row it made."""
        entry = ledger.get(self.key)
        return entry is not None and str(entry.payload.get("row") or "") == row

    def take(self, ledger: LedgerPart, now: float, recheck_after: float,
             exists: Callable[[str], bool] = lambda row: True) -> bool:
        """Whether this runner alone may add the row now: not while another run is adding it (`sending` for
        less than `recheck_after`), not once another run has added it and the row is still there (`exists`: the
        mirror's word; a row an admin deleted since may be added again), and of several runners at once, only
        one."""
        entry = ledger.get(self.key)
        if entry is not None and entry.status == "sending" and now - entry.updated < recheck_after:
            return False
        if entry is not None and entry.status == "done" and exists(str(entry.payload.get("row") or "")):
            return False  # made meanwhile by a runner that checked the list just before this one
        return claim(ledger, self, entry)
