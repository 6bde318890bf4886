"""What every hand-off is: a kind, a key, a payload; and how a ledger entry of one is read back."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, TypeVar

from coprod.store import LedgerEntry


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
