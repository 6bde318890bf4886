"""What every hand-off is: a kind, a key, a payload; and how a ledger entry of one is read back."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, TypeVar

from coprod.store import LedgerEntry, LedgerPart


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


def claim(ledger: LedgerPart, handoff: Handoff, seen: LedgerEntry | None, status: str = "sending") -> bool:
    """Take a side effect for this runner alone, before doing it: record it `status` if it was never recorded
    (`seen` None), or take over the entry as `seen` found it (a stale attempt) if nobody changed it since. Of
    several runners that try at once, exactly one gets True."""
    if seen is None:
        return ledger.add(handoff.key, handoff.KIND, handoff.payload(), status)
    return ledger.swap(handoff.key, seen, status, handoff.payload())
