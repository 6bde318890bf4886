"""What the state store holds (records) and what it can do (one small protocol per concern).

A store is made of parts, one per concern: `store.checkpoints`, `store.mirror`, `store.ledger`, `store.outbox`,
`store.counters` and `store.leases` (`CheckpointsPart` ... `LeasesPart`), each an object of its own in each
implementation, sharing the implementation's connection. Every implementation passes the same contract tests
(`tests/support/store_contract.py`), one class per part.
Each part of the service asks for the parts it uses: `store.ledger.add(...)`, `store.outbox.claim(...)`, and a
function that needs only one part takes that part (`handoffs.record(store.ledger, ...)`).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["CheckpointsPart", "CountersPart", "Lease", "LeasesPart", "LedgerEntry", "LedgerPart", "MirrorItem",
           "MirrorPart", "OutboxEntry", "OutboxPart", "StateStore"]


@dataclass(frozen=True)
class MirrorItem:
    list_name: str
    item_id: str
    etag: str | None
    created: str  # ISO 8601, as Graph gave it
    fields: dict[str, Any]
    group: str | None = None  # the item's session id, for registrations


@dataclass(frozen=True)
class LedgerEntry:
    key: str
    kind: str
    status: str  # due, done, failed, ...
    payload: dict[str, Any]
    created: float
    updated: float


@dataclass(frozen=True)
class OutboxEntry:
    key: str
    kind: str
    status: str  # queued, sending, sent, failed
    payload: dict[str, Any]  # the message (see coprod.mail.outbox)
    recipients: int
    attempts: int
    created: float
    updated: float
    not_before: float
    sent_at: float | None
    error: str | None


@dataclass(frozen=True)
class Lease:
    """Who holds a lease, since when, and until when (unless renewed)."""

    name: str
    holder: str
    since: float
    expires: float


# --- the parts ---------------------------------------------------------------------------------------------------
class CheckpointsPart(Protocol):
    """Named values that say how far something has got (a list's delta link, the mailbox's pause)."""

    def get(self, name: str) -> str | None: ...
    def set(self, name: str, value: str) -> None: ...


class MirrorPart(Protocol):
    """The last state we saw (or wrote) of each list item, grouped (a registration under its session)."""

    def get(self, list_name: str, item_id: str) -> MirrorItem | None: ...
    def many(self, list_name: str, item_ids: Iterable[str]) -> dict[str, MirrorItem]:
        """Several items at once, by id (the ones not mirrored are left out)."""
    def etags(self, list_name: str, item_ids: Iterable[str]) -> dict[str, str | None]:
        """The eTags of several items, by id, without their columns (the ones not mirrored are left out)."""
    def groups(self, list_name: str) -> set[str]:
        """Every group the list's items are filed under (a registration's session), without reading the items."""
    def items(self, list_name: str, group: str | None = None) -> list[MirrorItem]: ...
    def put(self, items: Iterable[MirrorItem]) -> None: ...
    def delete(self, list_name: str, item_ids: Iterable[str]) -> None: ...
    def ids(self, list_name: str) -> set[str]:
        """The ids of every item mirrored for the list, without their columns."""


# (In the next two, `list` and `set` are methods: in the class body below them, `list[...]` would name the method,
# so a method whose annotations need the built-in comes first.)
class LedgerPart(Protocol):
    """Idempotency keys with a status and a payload: what was done, or is to be done, once."""

    def add(self, key: str, kind: str, payload: dict[str, Any], status: str = "due") -> bool: ...
    def add_many(self, entries: Iterable[tuple[str, str, dict[str, Any], str]]) -> set[str]:
        """`add` of many (key, kind, payload, status) at once; returns the keys added now."""
    def get(self, key: str) -> LedgerEntry | None: ...
    def set(self, key: str, status: str, payload: dict[str, Any] | None = None) -> None: ...
    def put(self, key: str, kind: str, status: str, payload: dict[str, Any]) -> None: ...
    def list(self, kind: str | None = None, status: str | None = None) -> list[LedgerEntry]: ...
    def swap(self, key: str, expect: LedgerEntry, status: str, payload: dict[str, Any]) -> bool: ...
    def delete(self, key: str) -> None: ...
    def scrub(self, key: str, status: str, payload: dict[str, Any]) -> None:
        """Replace an entry's payload whole (erasure, retention): nothing of the old one is left anywhere."""


class OutboxPart(Protocol):
    """Every email, keyed: queued -> sending (a conditional claim) -> sent, failed or cancelled."""

    def add(self, key: str, kind: str, payload: dict[str, Any], recipients: int) -> bool: ...
    def get(self, key: str) -> OutboxEntry | None: ...
    def send_times(self, since: float) -> list[float]: ...
    def list(self, status: str, *, ready_by: float | None = None, updated_before: float | None = None,
             limit: int = 1000) -> list[OutboxEntry]: ...
    def claim(self, key: str) -> OutboxEntry | None: ...
    def set(self, key: str, status: str, *, error: str | None = None, not_before: float | None = None,
            sent_at: float | None = None, attempts: int | None = None, expect: str | None = None) -> bool: ...
    def sent_since(self, since: float) -> tuple[int, int]: ...
    def counts(self) -> dict[str, int]: ...
    def tally(self, key_prefix: str) -> dict[str, int]: ...
    def cancel(self, key_prefix: str, key_suffix: str) -> int: ...
    def scrub(self, key: str, *, cancel: bool) -> bool:
        """Drop a message's payload (the rendered email: its recipient, words and attachments), keeping its key,
        kind, status and counts, so it still goes only once. With `cancel`, one not yet sent (queued, or sending
        from a run that stopped) is cancelled too. False if there is no such message."""


class CountersPart(Protocol):
    """Fixed-window counts that expire (the public forms' limits), shared by every instance."""

    def add(self, name: str, expires: float, by: int = 1) -> int:
        """Add `by` to the counter `name` (one that was absent or has expired starts again, lasting until
        `expires`); returns its value now. A negative `by` gives back what was counted, never below 0."""


class LeasesPart(Protocol):
    """Leases with an expiry: one runner at a time. A holder that dies loses its lease when it expires."""

    def acquire(self, name: str, holder: str, seconds: float) -> bool: ...
    def release(self, name: str, holder: str) -> None: ...
    def get(self, name: str) -> Lease | None: ...


class StateStore(Protocol):
    """Everything an implementation provides: its parts, and what spans them."""

    @property
    def checkpoints(self) -> CheckpointsPart: ...
    @property
    def mirror(self) -> MirrorPart: ...
    @property
    def ledger(self) -> LedgerPart: ...
    @property
    def outbox(self) -> OutboxPart: ...
    @property
    def counters(self) -> CountersPart: ...
    @property
    def leases(self) -> LeasesPart: ...

    def batch(self) -> AbstractContextManager[None]:
        """`with store.batch():` several writes as one transaction where the store has them (SQLite); elsewhere
        each write stands alone, as without it. Store work only inside: never a Graph call."""

    def forget_freed(self) -> None:
        """After an erasure: leave no older copy of what was deleted where the store keeps one (SQLite's
        write-ahead log); a store that keeps none does nothing."""

    def close(self) -> None: ...
