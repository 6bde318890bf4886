"""The store's methods by the names callers have used so far, each handed to its part.

`store.ledger_add(...)` is `store.ledger.add(...)`, `store.get_checkpoint(...)` is `store.checkpoints.get(...)`,
and so on: the part's method, with the part's name as a prefix (`counter_add` and `lease_acquire` in the
singular, `get_checkpoint` and `set_checkpoint` as they always were). Both stores are made of parts and take
these from here, so they cannot drift apart. Once every caller asks for the parts, this goes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from coprod.store._base import (
    CheckpointsPart,
    CountersPart,
    Lease,
    LeasesPart,
    LedgerEntry,
    LedgerPart,
    MirrorItem,
    MirrorPart,
    OutboxEntry,
    OutboxPart,
)

__all__ = ["FlatStore"]


class FlatStore:
    """The parts' methods under their old names (`tests/store_contract.py` checks each is handed on whole)."""

    checkpoints: CheckpointsPart
    mirror: MirrorPart
    ledger: LedgerPart
    outbox: OutboxPart
    counters: CountersPart
    leases: LeasesPart

    # --- checkpoints -------------------------------------------------------------------------------------------
    def get_checkpoint(self, name: str) -> str | None:
        return self.checkpoints.get(name)

    def set_checkpoint(self, name: str, value: str) -> None:
        self.checkpoints.set(name, value)

    # --- mirror ------------------------------------------------------------------------------------------------
    def mirror_get(self, list_name: str, item_id: str) -> MirrorItem | None:
        return self.mirror.get(list_name, item_id)

    def mirror_many(self, list_name: str, item_ids: Iterable[str]) -> dict[str, MirrorItem]:
        return self.mirror.many(list_name, item_ids)

    def mirror_etags(self, list_name: str, item_ids: Iterable[str]) -> dict[str, str | None]:
        return self.mirror.etags(list_name, item_ids)

    def mirror_groups(self, list_name: str) -> set[str]:
        return self.mirror.groups(list_name)

    def mirror_items(self, list_name: str, group: str | None = None) -> list[MirrorItem]:
        return self.mirror.items(list_name, group)

    def mirror_put(self, items: Iterable[MirrorItem]) -> None:
        self.mirror.put(items)

    def mirror_delete(self, list_name: str, item_ids: Iterable[str]) -> None:
        self.mirror.delete(list_name, item_ids)

    def mirror_ids(self, list_name: str) -> set[str]:
        return self.mirror.ids(list_name)

    # --- ledger ------------------------------------------------------------------------------------------------
    def ledger_add(self, key: str, kind: str, payload: dict[str, Any], status: str = "due") -> bool:
        return self.ledger.add(key, kind, payload, status)

    def ledger_add_many(self, entries: Iterable[tuple[str, str, dict[str, Any], str]]) -> set[str]:
        return self.ledger.add_many(entries)

    def ledger_get(self, key: str) -> LedgerEntry | None:
        return self.ledger.get(key)

    def ledger_set(self, key: str, status: str, payload: dict[str, Any] | None = None) -> None:
        self.ledger.set(key, status, payload)

    def ledger_put(self, key: str, kind: str, status: str, payload: dict[str, Any]) -> None:
        self.ledger.put(key, kind, status, payload)

    def ledger_list(self, kind: str | None = None, status: str | None = None) -> list[LedgerEntry]:
        return self.ledger.list(kind, status)

    def ledger_swap(self, key: str, expect: LedgerEntry, status: str, payload: dict[str, Any]) -> bool:
        return self.ledger.swap(key, expect, status, payload)

    def ledger_delete(self, key: str) -> None:
        self.ledger.delete(key)

    def ledger_scrub(self, key: str, status: str, payload: dict[str, Any]) -> None:
        self.ledger.scrub(key, status, payload)

    # --- outbox ------------------------------------------------------------------------------------------------
    def outbox_add(self, key: str, kind: str, payload: dict[str, Any], recipients: int) -> bool:
        return self.outbox.add(key, kind, payload, recipients)

    def outbox_get(self, key: str) -> OutboxEntry | None:
        return self.outbox.get(key)

    def outbox_list(self, status: str, *, ready_by: float | None = None, updated_before: float | None = None,
                    limit: int = 1000) -> list[OutboxEntry]:
        return self.outbox.list(status, ready_by=ready_by, updated_before=updated_before, limit=limit)

    def outbox_claim(self, key: str) -> OutboxEntry | None:
        return self.outbox.claim(key)

    def outbox_set(self, key: str, status: str, *, error: str | None = None, not_before: float | None = None,
                   sent_at: float | None = None, attempts: int | None = None, expect: str | None = None) -> bool:
        return self.outbox.set(key, status, error=error, not_before=not_before, sent_at=sent_at, attempts=attempts,
                               expect=expect)

    def outbox_sent_since(self, since: float) -> tuple[int, int]:
        return self.outbox.sent_since(since)

    def outbox_send_times(self, since: float) -> list[float]:
        return self.outbox.send_times(since)

    def outbox_counts(self) -> dict[str, int]:
        return self.outbox.counts()

    def outbox_tally(self, key_prefix: str) -> dict[str, int]:
        return self.outbox.tally(key_prefix)

    def outbox_cancel(self, key_prefix: str, key_suffix: str) -> int:
        return self.outbox.cancel(key_prefix, key_suffix)

    def outbox_scrub(self, key: str, *, cancel: bool) -> bool:
        return self.outbox.scrub(key, cancel=cancel)

    # --- counters and leases -----------------------------------------------------------------------------------
    def counter_add(self, name: str, expires: float, by: int = 1) -> int:
        return self.counters.add(name, expires, by)

    def lease_acquire(self, name: str, holder: str, seconds: float) -> bool:
        return self.leases.acquire(name, holder, seconds)

    def lease_release(self, name: str, holder: str) -> None:
        self.leases.release(name, holder)

    def lease_get(self, name: str) -> Lease | None:
        return self.leases.get(name)
