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
- Leases: one runner at a time; a holder that dies loses its lease when it expires.

Each concern is a part of the store, an object of its own with a small protocol
(`coprod.store._base`): `store.checkpoints`, `store.mirror`, `store.ledger`,
`store.outbox`, `store.counters`, `store.leases`. `StateStore` is all of them.
`SqliteStore` (coprod/store/sqlite/)
is the embedded default; `AzureTableStore` (coprod/store/azure/) is made of the
same parts on Table Storage, in production.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from config import SettingsError
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
    StateStore,
)
from coprod.store.sqlite import SqliteStore

__all__ = ["CheckpointsPart", "CountersPart", "Lease", "LeasesPart", "LedgerEntry", "LedgerPart", "MirrorItem",
           "MirrorPart", "OutboxEntry", "OutboxPart", "SqliteStore", "StateStore", "open_store"]


def open_store(url: str, *, clock: Callable[[], float] = time.time, client_id: str | None = None,
               prefix: str = "coprod") -> StateStore:
    """The store COPROD_STATE names: `sqlite:///path` (relative) or `sqlite:////abs/path`; an Azure Storage
    connection string (`UseDevelopmentStorage=true`, or with `TableEndpoint=` or `AccountName=`); or an account
    URL `https://<account>.table.core.windows.net`, reached with the managed identity `client_id` (a
    user-assigned one) or the environment's Azure credential."""
    if url.startswith("sqlite:///"):
        return SqliteStore(url[len("sqlite:///"):] or ":memory:", clock=clock)
    if any(part in url for part in ("UseDevelopmentStorage=true", "TableEndpoint=", "AccountName=")):
        from azure.core.exceptions import ClientAuthenticationError
        from azure.data.tables import TableServiceClient

        from coprod.store.azure import AzureTableStore

        try:
            return AzureTableStore(TableServiceClient.from_connection_string(url), clock=clock, prefix=prefix)
        except (ValueError, ClientAuthenticationError):  # the SDK's reason may quote the key: not shown
            raise SettingsError("COPROD_STATE", "Azure Storage did not accept the connection string (its account "
                                "name or key is wrong); copy it again from the storage account's Access keys") from None
    if url.startswith("https://") and ".table." in url:
        from azure.data.tables import TableServiceClient

        from coprod.store.azure import AzureTableStore

        return AzureTableStore(TableServiceClient(endpoint=url, credential=_azure_credential(client_id)), clock=clock,
                               prefix=prefix)
    raise SettingsError("COPROD_STATE", "expected sqlite:///path, an Azure Storage connection string, or "
                        "https://<account>.table.core.windows.net")


def _azure_credential(client_id: str | None) -> Any:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=client_id) if client_id else DefaultAzureCredential()
