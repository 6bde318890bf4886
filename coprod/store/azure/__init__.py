"""The state store on Azure Table Storage: what survives an instance being recycled, shared by every instance.

Chosen by COPROD_STATE: a connection string (`UseDevelopmentStorage=true`, or one with `TableEndpoint=` or
`AccountName=`, as Azurite and Azure give), or an account URL `https://<account>.table.core.windows.net`,
used with the Function App's managed identity.

Entity design (tables `<prefix><concern>`, prefix `coprod`; keys escaped, `*` JSON split: _entities.py):

    table        PartitionKey        RowKey              properties
    checkpoints  "checkpoint"        name                value
    mirror       list name           item id             etag, created, grp (the session), fields*
    ledger       "ledger"            key                 kind, status, payload*, created, updated
    outbox       "outbox"            key                 kind, status, payload*, recipients, attempts, created,
                                                         updated, not_before, sent_at, error
    counters     "counter"           name                value, expires
    leases       "lease"             name                holder, since, expires

- Writes where two writers could race are conditional on the entity's ETag (If-Match): claiming a queued email,
  settling it only while `sending`, taking over a stale ledger entry (`ledger_swap`), counters, leases. Adding a
  key once is an insert, refused when it exists. A lost race is simply read again.
- Many writes to one partition go in entity group transactions of at most 100 operations (and under 4 MiB), a few
  under way at once (_azure_batch.py). Queries follow continuation tokens (the SDK's pager does); filters are
  parameterised, never built by hand.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from coprod.store._azure_batch import send, together, transact
from coprod.store._azure_leases import TableLeases
from coprod.store._azure_mirror import PackedMirror
from coprod.store._base import LedgerEntry, MirrorItem, OutboxEntry
from coprod.store._entities import BATCH, after, escape_key, pack, unescape_key, unpack
from coprod.store._entities import unpacked as unpack_out

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient

__all__ = ["AzureTableStore"]
MIRROR_FORMAT = "mirror.format"  # a checkpoint: "packed" once the mirror is in its packed form

class AzureTableStore(TableLeases):
    """The state store on Table Storage (see the module's docstring for the entity design)."""

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
        self._mirror = PackedMirror(self._tables["mirror"])
        if self.get_checkpoint(MIRROR_FORMAT) != "packed":
            self._unpacked_mirror_gone()

    def _unpacked_mirror_gone(self) -> None:
        """Once, on the first start after the mirror was packed: the old mirror table (one entity an item) is
        deleted, with the personal data it holds, and the lists are read whole again on the next run."""
        rows = self._query("checkpoints", "PartitionKey eq 'checkpoint' and RowKey ge @low and RowKey lt @high",
                           {"low": "delta.", "high": after("delta.")}, select=["RowKey"])
        self._transact("checkpoints", [("delete", {"PartitionKey": "checkpoint", "RowKey": row["RowKey"]})
                                       for row in rows])
        self._service.delete_table(f"{self.prefix}mirror")  # (nothing to do when there is none)
        self.set_checkpoint(MIRROR_FORMAT, "packed")

    def batch(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()  # each write is its own request: conditional where it must be

    def forget_freed(self) -> None:
        """Nothing to do: Table Storage keeps no copy of a deleted or replaced entity that this client can reach."""

    def close(self) -> None:
        for client in self._tables.values():
            client.close()
        self._service.close()

    # --- plumbing -----------------------------------------------------------------------------------------------
    def _get(self, table: str, partition: str, key: str) -> Any | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._tables[table].get_entity(partition, escape_key(key))
        except ResourceNotFoundError:
            return None

    def _insert(self, table: str, entity: dict[str, Any]) -> bool:
        from azure.core.exceptions import ResourceExistsError

        try:
            self._tables[table].create_entity(entity)
        except ResourceExistsError:
            return False
        return True

    def _update_if(self, table: str, entity: dict[str, Any], etag: str, *, replace: bool = False) -> bool:
        """Write `entity` only if it is unchanged since it was read with `etag`; False if someone wrote first."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        try:
            self._tables[table].update_entity(entity, mode=UpdateMode.REPLACE if replace else UpdateMode.MERGE,
                                              etag=etag, match_condition=MatchConditions.IfNotModified)
        except ResourceNotFoundError:
            return False
        except HttpResponseError as error:
            if error.status_code == 412:
                return False
            raise
        return True

    def _query(self, table: str, query: str, parameters: dict[str, Any], select: list[str] | None = None
               ) -> Iterator[Any]:
        return iter(self._tables[table].query_entities(query, parameters=parameters, select=select))

    def _transact(self, table: str, operations: Iterable[tuple[str, dict[str, Any]]]) -> None:
        transact(self._tables[table], operations)

    # --- checkpoints --------------------------------------------------------------------------------------------
    def get_checkpoint(self, name: str) -> str | None:
        entity = self._get("checkpoints", "checkpoint", name)
        return str(entity["value"]) if entity is not None else None

    def set_checkpoint(self, name: str, value: str) -> None:
        from azure.data.tables import UpdateMode

        self._tables["checkpoints"].upsert_entity({"PartitionKey": "checkpoint", "RowKey": escape_key(name),
                                                   "value": value, "updated": self.clock()}, mode=UpdateMode.REPLACE)

    # --- mirror (packed: _azure_mirror.py) ---------------------------------------------------------------------
    def mirror_get(self, list_name: str, item_id: str) -> MirrorItem | None:
        return self._mirror.get(list_name, item_id)

    def mirror_many(self, list_name: str, item_ids: Iterable[str]) -> dict[str, MirrorItem]:
        return self._mirror.many(list_name, item_ids)

    def mirror_etags(self, list_name: str, item_ids: Iterable[str]) -> dict[str, str | None]:
        return self._mirror.etags(list_name, item_ids)

    def mirror_groups(self, list_name: str) -> set[str]:
        return self._mirror.groups(list_name)

    def mirror_items(self, list_name: str, group: str | None = None) -> list[MirrorItem]:
        return self._mirror.items(list_name, group)

    def mirror_put(self, items: Iterable[MirrorItem]) -> None:
        self._mirror.put(items)

    def mirror_delete(self, list_name: str, item_ids: Iterable[str]) -> None:
        self._mirror.delete(list_name, item_ids)

    def mirror_ids(self, list_name: str) -> set[str]:
        return self._mirror.ids(list_name)

    # --- ledger -------------------------------------------------------------------------------------------------
    @staticmethod
    def _entry(entity: Any) -> LedgerEntry:
        return LedgerEntry(unescape_key(str(entity["RowKey"])), str(entity["kind"]), str(entity["status"]),
                           unpack(entity, "payload"), float(entity["created"]), float(entity["updated"]))

    def ledger_add(self, key: str, kind: str, payload: dict[str, Any], status: str = "due") -> bool:
        now = self.clock()
        return self._insert("ledger", {"PartitionKey": "ledger", "RowKey": escape_key(key), "kind": kind,
                                       "status": status, "created": now, "updated": now} | pack("payload", payload))

    def ledger_add_many(self, entries: Iterable[tuple[str, str, dict[str, Any], str]]) -> set[str]:
        """Entity group transactions of 100 creates; one refused (a key exists) is done again insert by insert."""
        from azure.data.tables import TableTransactionError

        now, rows = self.clock(), list(entries)
        chunks = [{key: {"PartitionKey": "ledger", "RowKey": escape_key(key), "kind": kind, "status": status,
                         "created": now + (start + n) * 1e-6, "updated": now} | pack("payload", payload)
                   for n, (key, kind, payload, status) in enumerate(rows[start:start + BATCH])}
                  for start in range(0, len(rows), BATCH)]

        def add(chunk: dict[str, dict[str, Any]]) -> set[str]:
            try:
                send(self._tables["ledger"], [("create", entity) for entity in chunk.values()])
                return set(chunk)
            except TableTransactionError:
                return {key for key, entity in chunk.items() if self._insert("ledger", entity)}

        return set().union(*together(add, chunks))

    def ledger_get(self, key: str) -> LedgerEntry | None:
        entity = self._get("ledger", "ledger", key)
        return self._entry(entity) if entity is not None else None

    def ledger_set(self, key: str, status: str, payload: dict[str, Any] | None = None) -> None:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        change = {"PartitionKey": "ledger", "RowKey": escape_key(key), "status": status, "updated": self.clock()}
        if payload is not None:
            change |= pack("payload", payload)
        with contextlib.suppress(ResourceNotFoundError):  # as in SQLite: setting a key not there changes nothing
            self._tables["ledger"].update_entity(change, mode=UpdateMode.MERGE)

    def ledger_put(self, key: str, kind: str, status: str, payload: dict[str, Any]) -> None:
        if not self.ledger_add(key, kind, payload, status):
            self.ledger_set(key, status, payload)  # keeps its kind and when it was first written

    def ledger_delete(self, key: str) -> None:
        self._tables["ledger"].delete_entity("ledger", escape_key(key))  # (the SDK ignores a 404: gone already)

    def ledger_scrub(self, key: str, status: str, payload: dict[str, Any]) -> None:
        self._replace_payload("ledger", key, payload, lambda entity: {"status": status})

    def _replace_payload(self, table: str, key: str, payload: dict[str, Any],
                         change: Callable[[Any], dict[str, Any]]) -> bool:
        """The entity again with a new payload (no old chunk left, as a MERGE would) and `change(entity)`."""
        while True:
            entity = self._get(table, table, key)
            if entity is None:
                return False
            new = unpack_out(entity, "payload") | pack("payload", payload) | change(entity) | {"updated": self.clock()}
            if self._update_if(table, new, entity.metadata["etag"], replace=True):
                return True

    def ledger_list(self, kind: str | None = None, status: str | None = None) -> list[LedgerEntry]:
        clauses, parameters = ["PartitionKey eq 'ledger'"], dict[str, Any]()
        if kind is not None:
            clauses.append("kind eq @kind")
            parameters["kind"] = kind
        if status is not None:
            clauses.append("status eq @status")
            parameters["status"] = status
        entries = [self._entry(e) for e in self._query("ledger", " and ".join(clauses), parameters)]
        return sorted(entries, key=lambda e: (e.created, e.key))

    def ledger_swap(self, key: str, expect: LedgerEntry, status: str, payload: dict[str, Any]) -> bool:
        entity = self._get("ledger", "ledger", key)
        if entity is None or entity["status"] != expect.status or float(entity["updated"]) != expect.updated:
            return False
        change = {"PartitionKey": "ledger", "RowKey": escape_key(key), "status": status,
                  "updated": self.clock()} | pack("payload", payload)
        return self._update_if("ledger", change, entity.metadata["etag"])

    # --- outbox -------------------------------------------------------------------------------------------------
    @staticmethod
    def _outbox(entity: Any) -> OutboxEntry:
        sent_at = entity.get("sent_at")
        return OutboxEntry(unescape_key(str(entity["RowKey"])), str(entity["kind"]), str(entity["status"]),
                           unpack(entity, "payload"), int(entity["recipients"]), int(entity["attempts"]),
                           float(entity["created"]), float(entity["updated"]), float(entity.get("not_before", 0.0)),
                           float(sent_at) if sent_at is not None else None, entity.get("error") or None)

    def outbox_add(self, key: str, kind: str, payload: dict[str, Any], recipients: int) -> bool:
        now = self.clock()
        return self._insert("outbox", {"PartitionKey": "outbox", "RowKey": escape_key(key), "kind": kind,
                                       "status": "queued", "recipients": recipients, "attempts": 0, "created": now,
                                       "updated": now, "not_before": 0.0} | pack("payload", payload))

    def outbox_get(self, key: str) -> OutboxEntry | None:
        entity = self._get("outbox", "outbox", key)
        return self._outbox(entity) if entity is not None else None

    def outbox_list(self, status: str, *, ready_by: float | None = None, updated_before: float | None = None,
                    limit: int = 1000) -> list[OutboxEntry]:
        query = "PartitionKey eq 'outbox' and status eq @status"
        parameters: dict[str, Any] = {"status": status}
        if ready_by is not None:
            query += " and not_before le @ready"
            parameters["ready"] = ready_by
        if updated_before is not None:
            query += " and updated lt @before"
            parameters["before"] = updated_before
        entries = sorted((self._outbox(e) for e in self._query("outbox", query, parameters)),
                         key=lambda e: (e.created, e.key))
        return entries[:limit]

    def outbox_claim(self, key: str) -> OutboxEntry | None:
        entity = self._get("outbox", "outbox", key)
        if entity is None or entity["status"] != "queued":
            return None
        change = {"PartitionKey": "outbox", "RowKey": escape_key(key), "status": "sending",
                  "attempts": int(entity["attempts"]) + 1, "updated": self.clock()}
        if not self._update_if("outbox", change, entity.metadata["etag"]):
            return None  # another runner claimed it first
        return self.outbox_get(key)

    def outbox_set(self, key: str, status: str, *, error: str | None = None, not_before: float | None = None,
                   sent_at: float | None = None, attempts: int | None = None, expect: str | None = None) -> bool:
        change: dict[str, Any] = {"PartitionKey": "outbox", "RowKey": escape_key(key), "status": status}
        for name, value in (("error", error), ("not_before", not_before), ("sent_at", sent_at),
                            ("attempts", attempts)):
            if value is not None:
                change[name] = value
        while True:  # read, check, write if unchanged meanwhile; a lost race is read again
            entity = self._get("outbox", "outbox", key)
            if entity is None or (expect is not None and entity["status"] != expect):
                return False
            if self._update_if("outbox", change | {"updated": self.clock()}, entity.metadata["etag"]):
                return True

    def outbox_sent_since(self, since: float) -> tuple[int, int]:
        rows = list(self._query("outbox", "PartitionKey eq 'outbox' and sent_at ge @since", {"since": since},
                                select=["recipients"]))
        return len(rows), sum(int(r["recipients"]) for r in rows)

    def outbox_send_times(self, since: float) -> list[float]:
        # (a parameter must be followed by a space: the SDK reads its name up to the next one)
        rows = self._query("outbox", "PartitionKey eq 'outbox' and (sent_at ge @since or (status eq 'sending' and "
                           "updated ge @since ) )", {"since": since}, select=["sent_at", "updated"])
        return sorted(float(r["sent_at"]) if r.get("sent_at") is not None else float(r["updated"]) for r in rows)

    def _with_prefix(self, key_prefix: str, extra: str = "", parameters: dict[str, Any] | None = None,
                     select: list[str] | None = None) -> Iterator[Any]:
        low = escape_key(key_prefix)
        return self._query("outbox", "PartitionKey eq 'outbox' and RowKey ge @low and RowKey lt @high" + extra,
                           {"low": low, "high": after(low)} | (parameters or {}), select=select)

    def outbox_tally(self, key_prefix: str) -> dict[str, int]:
        tally: dict[str, int] = {}
        for row in self._with_prefix(key_prefix, select=["status"]):
            tally[str(row["status"])] = tally.get(str(row["status"]), 0) + 1
        return tally

    def outbox_cancel(self, key_prefix: str, key_suffix: str) -> int:
        cancelled = 0
        for entity in self._with_prefix(key_prefix, " and status eq 'queued'"):
            if not unescape_key(str(entity["RowKey"])).endswith(key_suffix):
                continue
            change = {"PartitionKey": "outbox", "RowKey": entity["RowKey"], "status": "cancelled",
                      "updated": self.clock()}
            cancelled += self._update_if("outbox", change, entity.metadata["etag"])
        return cancelled

    def outbox_scrub(self, key: str, *, cancel: bool) -> bool:
        unsent = ("queued", "sending") if cancel else ()
        return self._replace_payload("outbox", key, {},
                                     lambda e: {"status": "cancelled"} if e["status"] in unsent else {})

    def outbox_counts(self) -> dict[str, int]:
        return dict(Counter(str(row["status"]) for row in self._query("outbox", "PartitionKey eq 'outbox'", {},
                                                                      select=["status"])))

    # --- counters -----------------------------------------------------------------------------------------------
    def counter_add(self, name: str, expires: float, by: int = 1) -> int:
        """As `SqliteStore.counter_add`: `by` added (given back when negative, never below 0), conditional on
        the counter's ETag and done again if another instance counted meanwhile."""
        while True:
            now = self.clock()
            entity = self._get("counters", "counter", name)
            if entity is None:
                if by <= 0:
                    return 0  # nothing counted (or it expired): nothing to give back
                if self._insert("counters", {"PartitionKey": "counter", "RowKey": escape_key(name), "value": by,
                                             "expires": expires}):
                    self._forget_expired_counters(now)
                    return by
                continue
            fresh = float(entity["expires"]) <= now
            value = max(0, (0 if fresh else int(entity["value"])) + by)
            change = {"PartitionKey": "counter", "RowKey": escape_key(name), "value": value,
                      "expires": expires if fresh else float(entity["expires"])}
            if self._update_if("counters", change, entity.metadata["etag"]):
                return value

    def _forget_expired_counters(self, now: float) -> None:
        """A new window's counter: clear away some that have expired (each window has its own name)."""
        expired = self._query("counters", "PartitionKey eq 'counter' and expires le @now", {"now": now},
                              select=["RowKey"])
        self._transact("counters", [("delete", {"PartitionKey": "counter", "RowKey": row["RowKey"]})
                                    for _, row in zip(range(BATCH), expired, strict=False)])
