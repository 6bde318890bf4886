"""The state store: checkpoints (delta links), a mirror of list items, and the ledger.

- Checkpoints: a delta link per list, saved only after its changes are processed.
- Mirror: the last state we saw (or wrote) of each list item, with its eTag, so a
  run needs only the changes to decide what every session's places are.
- Ledger: idempotency keys with a status. A side effect (a message, a guest
  invitation) is recorded `due` before it happens and `done` after; a key is
  never recorded twice, so a rerun or a crash never repeats it.
- Outbox: every email, keyed like the ledger, queued -> sending -> sent (or
  failed, or cancelled); the send times it keeps are what the rate limiter
  counts. `queued -> sending` is a conditional claim: a message cancelled
  meanwhile (or taken by another runner) is not claimed.
- Counters: fixed-window counts that expire (the public forms' limits).

The concerns are small protocols (`coprod.store._base`); `StateStore` is all of
them. `SqliteStore` is the embedded default; an Azure Table Storage
implementation fills the same protocols in production.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from coprod.store._base import (
    Checkpoints,
    Counters,
    Ledger,
    LedgerEntry,
    Mirror,
    MirrorItem,
    OutboxEntry,
    OutboxStore,
    StateStore,
)
from coprod.store.sqlite import SqliteStore

__all__ = ["Checkpoints", "Counters", "Ledger", "LedgerEntry", "Mirror", "MirrorItem", "OutboxEntry", "OutboxStore",
           "SqliteStore", "StateStore", "open_store"]


def open_store(url: str, *, clock: Callable[[], float] = time.time) -> StateStore:
    """A store from `COPROD_STATE`: `sqlite:///path` (relative) or `sqlite:////abs/path`."""
    if url.startswith("sqlite:///"):
        return SqliteStore(url[len("sqlite:///"):] or ":memory:", clock=clock)
    if "AccountName=" in url or "UseDevelopmentStorage=true" in url:
        raise NotImplementedError("COPROD_STATE: the Azure Table Storage store is not built yet; use sqlite:///path")
    raise ValueError("COPROD_STATE: expected sqlite:///path or an Azure Storage connection string")
