"""The state store on Azure Table Storage: what survives an instance being recycled, shared by every instance.

Chosen by COPROD_STATE: a connection string (`UseDevelopmentStorage=true`, or one with `TableEndpoint=` or
`AccountName=`, as Azurite and Azure give), or an account URL `https://<account>.table.core.windows.net`,
used with the Function App's managed identity.

A store of parts, one per concern, each its own object on its own table (a client on the store's connection):
checkpoints.py, mirror.py, ledger.py, outbox.py, counters.py, leases.py, sharing _table.py's reads and writes.

Entity design (tables `<prefix><concern>`, prefix `coprod`; keys escaped, `*` JSON split: _entities.py):

    table        PartitionKey        RowKey              properties
    checkpoints  "checkpoint"        name                value
    mirror       list name           item id             etag, created, grp (the session), fields*
    ledger       "ledger"            "%p|<kind>|<n>"     knd, n, chars, s<status>, items*   (packs: ledger.py)
                 "ledger"            "%k|<nn>"           idx*                               (their index)
    outbox       "outbox"            key                 kind, status, payload*, recipients, attempts, created,
                                                         updated, not_before, sent_at, error
    counters     "counter"           name                value, expires
    leases       "lease"             name                holder, since, expires

- Writes where two writers could race are conditional on the entity's ETag (If-Match): claiming a queued email,
  settling it only while `sending`, taking over a stale ledger entry (`ledger_swap`), counters, leases. Adding a
  key once is an insert, refused when it exists. A lost race is simply read again.
- Many writes to one partition go in entity group transactions of at most 100 operations (and under 4 MiB), a few
  under way at once (_batch.py). Queries follow continuation tokens (the SDK's pager does); filters are
  parameterised, never built by hand.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from coprod.store.azure._batch import transact
from coprod.store.azure._entities import after
from coprod.store.azure.checkpoints import TableCheckpoints
from coprod.store.azure.counters import TableCounters
from coprod.store.azure.leases import TableLeases
from coprod.store.azure.ledger import TableLedger
from coprod.store.azure.ledger_moves import move_in
from coprod.store.azure.mirror import PackedMirror
from coprod.store.azure.outbox import TableOutbox

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient

__all__ = ["AzureTableStore"]
MIRROR_FORMAT = "mirror.format"  # a checkpoint: "packed" once the mirror is in its packed form
LEDGER_FORMAT = "ledger.format"  # a checkpoint: "packed <when>" once no ledger entry of the old form is left
MOVE_IN_WINDOW = 15 * 60  # seconds after that when entries of the old form are still looked for at each start


class AzureTableStore:
    """The state store on Table Storage (see the module's docstring for the entity design)."""

    mirror: PackedMirror

    def __init__(self, service: TableServiceClient, *, clock: Callable[[], float] = time.time,
                 prefix: str = "coprod") -> None:
        from azure.core.exceptions import ResourceExistsError

        self.clock = clock
        self.prefix = prefix
        self._service = service
        self._tables: dict[str, TableClient] = {}
        for concern, name in (("checkpoints", "checkpoints"), ("mirror", "listmirror"), ("ledger", "ledger"),
                              ("outbox", "outbox"), ("counters", "counters"), ("leases", "leases")):
            client = service.get_table_client(f"{prefix}{name}")
            with contextlib.suppress(ResourceExistsError):
                client.create_table()
            self._tables[concern] = client
        self.checkpoints = TableCheckpoints(self._tables["checkpoints"], clock)
        self.mirror = PackedMirror(self._tables["mirror"])
        self.ledger = TableLedger(self._tables["ledger"], clock)
        self.outbox = TableOutbox(self._tables["outbox"], clock)
        self.counters = TableCounters(self._tables["counters"], clock)
        self.leases = TableLeases(self._tables["leases"], clock)
        if self.checkpoints.get(MIRROR_FORMAT) != "packed":
            self._unpacked_mirror_gone()
        self._ledger_packed(self.checkpoints.get(LEDGER_FORMAT))

    def _unpacked_mirror_gone(self) -> None:
        """Once, on the first start after the mirror was packed: the old mirror table (one entity an item) is
        deleted, with the personal data it holds, and the lists are read whole again on the next run."""
        table = self._tables["checkpoints"]
        rows = table.query_entities("PartitionKey eq 'checkpoint' and RowKey ge @low and RowKey lt @high",
                                    parameters={"low": "delta.", "high": after("delta.")}, select=["RowKey"])
        transact(table, [("delete", {"PartitionKey": "checkpoint", "RowKey": row["RowKey"]}) for row in rows])
        self._service.delete_table(f"{self.prefix}mirror")  # (nothing to do when there is none)
        self.checkpoints.set(MIRROR_FORMAT, "packed")

    def _ledger_packed(self, done: str | None) -> None:
        """Entries of the ledger's old form moved into packs (ledger_moves.py: safe when instances start
        together), on the first start after the ledger was packed; and on each start for a while after, when an
        invocation of the version before may still be finishing (host.json's functionTimeout) and writing them."""
        since = done.partition(" ")[2] if done and done.startswith("packed") else None
        if since is None:
            move_in(self.ledger)
            self.checkpoints.set(LEDGER_FORMAT, f"packed {self.clock():.0f}")
        elif since and since.replace(".", "", 1).isdigit() and self.clock() < float(since) + MOVE_IN_WINDOW:
            move_in(self.ledger)

    def batch(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()  # each write is its own request: conditional where it must be

    def forget_freed(self) -> None:
        """Nothing to do: Table Storage keeps no copy of a deleted or replaced entity that this client can reach."""

    def close(self) -> None:
        for client in self._tables.values():
            client.close()
        self._service.close()
