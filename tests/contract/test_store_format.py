"""What a store keeps on disk does not change with how the code is laid out: a store written before the store
was made of parts (at commit 2fda0b5) reads the same, and the same writes make the same rows and entities.

`write_everything` makes every kind of write the store has, with a fixed clock. What it left, as the code of
2fda0b5 wrote it, is kept in tests/support/store_format_v1.json: SQLite's rows (its `iterdump`, schema included) and
Table Storage's entities; and what that code read back from them (`read_everything`: the same from both). A
change to how the store is written down (a table, a key, a column, an entity's properties) fails here: it needs
a migration, not just new code.

The ledger on Table Storage was packed later (coprod/store/azure/ledger.py): the same writes now make the packs and
index in tests/support/store_format_v2.json (with the checkpoint saying so), and V1's entities of the old form
still read the same, moved into packs when the store opens.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from coprod.store import MirrorItem, SqliteStore, StateStore
from tests.support.fakes import FakeClock

STATUSES = ("queued", "sending", "sent", "failed", "cancelled")
SUPPORT = Path(__file__).resolve().parents[1] / "support"
V1 = json.loads((SUPPORT / "store_format_v1.json").read_text(encoding="utf-8"))
V2 = json.loads((SUPPORT / "store_format_v2.json").read_text(encoding="utf-8"))  # what changed since: the ledger


def write_everything(store: StateStore, clock: FakeClock) -> None:
    """Every kind of write, through the methods callers used at 2fda0b5 (still there, handed to the parts)."""
    store.checkpoints.set("delta.Sessions", "https://graph/delta?token=1")
    store.checkpoints.set("retention.day", "2027-01-01")
    clock.now += 1
    store.checkpoints.set("delta.Sessions", "https://graph/delta?token=2")
    store.mirror.put([
        MirrorItem("Registrations", "7", '"e7"', "2030-01-01T10:00:00Z",
                   {"Title": "Zoë “Ann” <a@b>", "Topics": ["Carers"], "Capacity": 0, "Consent": True, "Note": None},
                   "3"),
        MirrorItem("Registrations", "8", None, "2030-01-02T10:00:00Z", {"Title": "Bob"}, "4"),
        MirrorItem("Registrations", "9", '"e9"', "2030-01-03T10:00:00Z", {"Title": "Cy"}, "3"),
        MirrorItem("Sessions", "3", '"e3"', "2029-12-01T09:00:00Z", {"Title": "Carers' café"}, None)])
    clock.now += 1
    store.mirror.put([MirrorItem("Registrations", "9", '"e9b"', "2030-01-03T10:00:00Z", {"Title": "Cy"}, "4")])
    store.mirror.delete("Registrations", ["8", "404"])
    clock.now += 1
    store.ledger.add("message:confirmed:registration-7", "message", {"registration": "7"})
    store.ledger.add("message:confirmed:registration-7", "message", {"registration": "other"}, "done")
    store.ledger.add_many([("guest:a/b#c?d@example.org", "guest-request", {"name": "Zoë"}, "due"),
                           ("told:registration-9", "told", {}, "done")])
    clock.now += 1
    store.ledger.set("message:confirmed:registration-7", "done")
    store.ledger.set("told:registration-9", "failed", {"why": "403"})
    store.ledger.put("meeting:3", "meeting", "failed", {"problem": "403"})
    clock.now += 1
    store.ledger.put("meeting:3", "meeting", "done", {"id": "m1"})
    store.ledger.add("invite:ann@example.org", "invitation", {"row": "1"}, "sending")
    seen = store.ledger.get("invite:ann@example.org")
    assert seen is not None
    clock.now += 1
    store.ledger.swap("invite:ann@example.org", seen, "done", {"row": "1", "user": "u-1"})
    store.ledger.add("guest:gone@example.org", "guest-request", {"name": "Gone"})
    store.ledger.delete("guest:gone@example.org")
    store.ledger.scrub("guest:a/b#c?d@example.org", "erased", {"erased": True})
    clock.now += 1
    for n, key in enumerate(("mail:update-7-1", "mail:update-7-2", "mail:update-8-1", "mail:confirmed-7",
                             "mail:reminder-9")):
        store.outbox.add(key, "update" if "update" in key else "confirmed", {"to": [f"p{n}@example.org"],
                                                                             "subject": "Zoë"}, n + 1)
    store.outbox.add("mail:confirmed-7", "confirmed", {"to": ["other@example.org"]}, 9)
    clock.now += 1
    store.outbox.claim("mail:confirmed-7")
    store.outbox.claim("mail:update-7-2")
    store.outbox.claim("mail:reminder-9")
    clock.now += 1
    store.outbox.set("mail:confirmed-7", "sent", sent_at=clock.now, expect="sending")
    store.outbox.set("mail:update-7-2", "queued", not_before=clock.now + 60, expect="sending")
    store.outbox.set("mail:reminder-9", "failed", error="550 no such mailbox", attempts=3)
    store.outbox.cancel("mail:update-", "-1")
    store.outbox.scrub("mail:update-8-1", cancel=True)
    clock.now += 1
    assert [store.counters.add("subscribe:all:1", clock.now + 60) for _ in range(2)] == [1, 2]
    store.counters.add("book:slot:7", clock.now + 600, by=3)
    store.counters.add("book:slot:7", clock.now + 600, by=-1)
    clock.now += 100
    store.counters.add("subscribe:all:2", clock.now + 60)  # the first window's counter has expired: cleared away
    store.leases.acquire("sync", "runner-a", 120)
    clock.now += 30
    store.leases.acquire("sync", "runner-a", 120)  # renewed
    store.leases.acquire("webhooks", "runner-b", 60)
    store.leases.release("webhooks", "runner-b")


def read_everything(store: StateStore, clock: FakeClock) -> Any:
    """Every record the store gives back, through its parts, as JSON reads it. (Last, the counters are read by
    adding nothing.)"""
    registrations = ["7", "8", "9", "404"]
    return plain({
        "checkpoints": {n: store.checkpoints.get(n) for n in ("delta.Sessions", "retention.day", "absent")},
        "mirror": {name: sorted(store.mirror.items(name), key=lambda i: i.item_id)
                   for name in ("Registrations", "Sessions")},
        "group 3": store.mirror.items("Registrations", "3"),
        "groups": sorted(store.mirror.groups("Registrations")),
        "ids": sorted(store.mirror.ids("Registrations")),
        "many": store.mirror.many("Registrations", registrations),
        "etags": store.mirror.etags("Registrations", registrations),
        "one": store.mirror.get("Sessions", "3"),
        "ledger": store.ledger.list(),
        "ledger by kind": [e.key for e in store.ledger.list(kind="message", status="done")],
        "ledger one": store.ledger.get("guest:a/b#c?d@example.org"),
        "outbox": {status: store.outbox.list(status) for status in STATUSES},
        "outbox ready": [e.key for e in store.outbox.list("queued", ready_by=clock.now)],
        "outbox one": store.outbox.get("mail:confirmed-7"),
        "counts": store.outbox.counts(),
        "tally": store.outbox.tally("mail:update-7-"),
        "sent since": store.outbox.sent_since(0.0),
        "send times": store.outbox.send_times(0.0),
        "leases": [store.leases.get("sync"), store.leases.get("webhooks")],
        "counters": [store.counters.add(name, clock.now + 60, by=0)
                     for name in ("subscribe:all:1", "subscribe:all:2", "book:slot:7")],
    })


def plain(value: Any) -> Any:
    """`value` as it reads back from JSON: a record as a mapping with its type's name, a set sorted."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {"record": type(value).__name__} | dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, set):
        value = sorted(value)
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def sqlite_rows(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return list(db.iterdump())


# --- SQLite ------------------------------------------------------------------------------------------------------
def test_the_same_writes_make_the_same_rows_in_sqlite(tmp_path: Path) -> None:
    clock = FakeClock()
    store = SqliteStore(tmp_path / "state.sqlite3", clock=clock)
    write_everything(store, clock)
    store.close()
    assert sqlite_rows(tmp_path / "state.sqlite3") == V1["sqlite rows"]


def test_a_sqlite_file_written_before_reads_the_same(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "old.sqlite3") as db:
        db.executescript("\n".join(V1["sqlite rows"]))
    clock = FakeClock()
    clock.now += 138
    store = SqliteStore(tmp_path / "old.sqlite3", clock=clock)
    try:
        assert read_everything(store, clock) == V1["read"]
    finally:
        store.close()


# --- Table Storage -----------------------------------------------------------------------------------------------
def azure_entities(connection: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Every entity of the store's tables, with all its properties, by table (without the prefix)."""
    from azure.data.tables import TableServiceClient

    with TableServiceClient.from_connection_string(connection) as service:
        names = sorted(t.name for t in service.list_tables() if t.name.startswith(prefix))
        found = {}
        for name in names:
            entities = [json.loads(json.dumps(dict(e), default=lambda v: v.value))  # (an Int64 as its number)
                        for e in service.get_table_client(name).list_entities()]
            found[name.removeprefix(prefix)] = sorted(entities, key=lambda e: (e["PartitionKey"], e["RowKey"]))
    return found


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def test_the_same_writes_make_the_same_entities_in_table_storage(azurite: str, prefix: str) -> None:
    from azure.data.tables import TableServiceClient

    from coprod.store.azure import AzureTableStore

    clock = FakeClock()
    store = AzureTableStore(TableServiceClient.from_connection_string(azurite), clock=clock, prefix=prefix)
    write_everything(store, clock)
    store.close()
    assert azure_entities(azurite, prefix) == V1["azure entities"] | V2["azure entities"]


def test_table_storage_entities_written_before_read_the_same(azurite: str, prefix: str) -> None:
    from azure.data.tables import TableServiceClient

    from coprod.store.azure import AzureTableStore

    with TableServiceClient.from_connection_string(azurite) as service:
        for name, entities in V1["azure entities"].items():
            table = service.create_table(f"{prefix}{name}")
            for entity in entities:
                table.create_entity(entity)
    clock = FakeClock()
    clock.now += 138
    store = AzureTableStore(TableServiceClient.from_connection_string(azurite), clock=clock, prefix=prefix)
    try:
        assert read_everything(store, clock) == V1["read"]
    finally:
        store.close()
    left = azure_entities(azurite, prefix)  # the old form's entities moved into packs, none left behind
    assert {e["RowKey"][:3] for e in left["ledger"]} == {"%p|", "%k|"}
    assert next(e for e in left["checkpoints"] if e["RowKey"] == "ledger.format")["value"] == "packed 1800000138"
