"""The packed ledger on Table Storage (coprod/store/azure/ledger.py), on Azurite: what the store's contract
(tests/support/store_contract.py) cannot see. Each key in exactly one pack, with the index saying which, and
each pack's counts true, after writers at once, stale views, entries that grow, and the old form moved in."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from coprod.store.azure import AzureTableStore
from coprod.store.azure._entities import escape_key, pack, unpack
from coprod.store.azure._ledger_packs import HARD_CHARS, INDEX, PACKS, status_count
from tests.support.fakes import FakeClock

pytestmark = pytest.mark.clock(fixed=True)


def open_store(connection: str, clock: FakeClock, prefix: str) -> AzureTableStore:
    from azure.data.tables import TableServiceClient

    return AzureTableStore(TableServiceClient.from_connection_string(connection), clock=clock, prefix=prefix)


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def stores(azurite: str, clock: FakeClock, prefix: str) -> Iterator[Callable[[], AzureTableStore]]:
    """Handles on one set of tables, as instances have them: each its own object, its own view."""
    made: list[AzureTableStore] = []

    def another() -> AzureTableStore:
        made.append(open_store(azurite, clock, prefix))
        return made[-1]

    yield another
    for store in made:
        store.close()


def consistent(store: AzureTableStore) -> dict[str, dict[str, Any]]:
    """Every entry by key, checked: in one pack only, that pack's kind; the index naming that pack and nothing
    else; each pack's counts true and no pack empty. (Read from the entities, not through the ledger.)"""
    entities = list(store.ledger.table.query_entities("PartitionKey eq 'ledger'"))
    packs = [e for e in entities if str(e["RowKey"]).startswith(PACKS)]
    buckets = [e for e in entities if str(e["RowKey"]).startswith(INDEX)]
    assert len(packs) + len(buckets) == len(entities), "an entity of the old form is left"
    entries: dict[str, dict[str, Any]] = {}
    home: dict[str, str] = {}
    for p in packs:
        items = unpack(p, "items")
        assert items and p["n"] == len(items), p["RowKey"]
        assert str(p["RowKey"]).startswith(PACKS + escape_key(p["knd"]).replace("|", "%7C") + "|")
        counts = Counter(status_count(row[0]) for row in items.values())
        assert {k: v for k, v in p.items() if k.startswith("s") and k[1:].isalnum() and k != "s"} == counts
        for key, (status, created, updated, payload) in items.items():
            assert key not in entries, f"{key} in two packs"
            entries[key] = {"kind": p["knd"], "status": status, "created": created, "updated": updated,
                            "payload": payload}
            home[key] = p["RowKey"]
    index = {key: where for b in buckets for key, where in unpack(b, "idx").items()}
    assert index == home
    return entries


def test_writers_at_once_add_each_key_once_and_keep_the_index_true(stores: Callable[[], AzureTableStore]) -> None:
    """Four instances add overlapping keys of one kind at once (their last pack and index buckets shared): each
    key is added by exactly one of them, and kept once."""
    handles = [stores() for _ in range(4)]
    won: list[set[str]] = [set() for _ in handles]

    def add(n: int) -> None:
        keys = [f"message:confirmed:registration-{k}" for k in range(n * 60, n * 60 + 150)]  # overlapping
        for start in range(0, len(keys), 25):
            won[n] |= handles[n].ledger.add_many([(k, "message", {"by": n}, "due") for k in keys[start:start + 25]])
        for k in keys[::7]:
            won[n] |= {k} if handles[n].ledger.add(k, "message", {"by": n}) else set()

    with ThreadPoolExecutor(len(handles)) as pool:
        list(pool.map(add, range(len(handles))))  # (an error in one is raised here)
    every = {f"message:confirmed:registration-{k}" for k in range(3 * 60 + 150)}
    assert set().union(*won) == every and sum(map(len, won)) == len(every)  # each by one
    entries = consistent(handles[0])
    assert set(entries) == every
    assert all(k in won[entries[k]["payload"]["by"]] for k in every)  # kept as its adder wrote it


def test_settling_from_a_stale_view_loses_nothing(stores: Callable[[], AzureTableStore], clock: FakeClock) -> None:
    """Two instances each list the due entries, then settle alternate ones: every settle is kept, though each
    writes a pack the other has just changed (its write is refused, then done again from a fresh reading)."""
    first, second = stores(), stores()
    first.ledger.add_many([(f"k{n}", "message", {"n": n}, "due") for n in range(40)])
    seen = [first.ledger.list(kind="message", status="due"), second.ledger.list(kind="message", status="due")]
    clock.now += 1
    for n in range(40):
        handle = (first, second)[n % 2]
        handle.ledger.set(seen[n % 2][n].key, "done", seen[n % 2][n].payload | {"by": n % 2})
    entries = consistent(first)
    assert {k: (e["status"], e["payload"]["by"]) for k, e in entries.items()} == {
        f"k{n}": ("done", n % 2) for n in range(40)}
    assert first.ledger.list(kind="message", status="due") == []
    assert second.ledger.swap("k3", seen[1][3], "sending", {}) is False  # what it saw has changed since


def test_what_was_seen_is_not_trusted_where_nothing_is_written(stores: Callable[[], AzureTableStore]) -> None:
    """An instance that last saw a key, since deleted elsewhere, adds it again (its view is out of date: an
    `add` that wrote nothing would have had no condition to find that out); a swap from an old reading fails."""
    first, second = stores(), stores()
    first.ledger.add_many([(f"k{n}", "message", {"n": n}, "due") for n in range(5)])
    seen = first.ledger.list(kind="message")  # first now holds the pack
    second.ledger.delete("k1")
    second.ledger.set("k2", "done")
    assert first.ledger.add("k1", "message", {"again": True}) is True
    assert first.ledger.add("k3", "message", {}) is False
    assert first.ledger.swap("k2", seen[2], "sending", {}) is False  # it was settled since
    assert first.ledger.swap("k4", seen[4], "sending", {"took": True}) is True
    entries = consistent(second)
    assert (entries["k1"]["payload"], entries["k2"]["status"], entries["k4"]["payload"]) == (
        {"again": True}, "done", {"took": True})


def test_a_list_by_status_reads_only_the_packs_holding_one(stores: Callable[[], AzureTableStore]) -> None:
    store = stores()
    store.ledger.add_many([(f"k{n:04d}", "message", {"n": n}, "due") for n in range(450)])  # five packs
    for n in range(420):
        store.ledger.set(f"k{n:04d}", "done")
    assert len(store.ledger.packs.query(PACKS, None)) == 5
    assert len(store.ledger.packs.query(PACKS, "due")) == 1  # the last pack only: what Table Storage sent
    assert [e.key for e in store.ledger.list(kind="message", status="due")] == [f"k{n:04d}" for n in range(420, 450)]
    assert len(store.ledger.list(status="done")) == 420
    consistent(store)


def test_settling_what_was_just_listed_is_one_request_each(stores: Callable[[], AzureTableStore]) -> None:
    """The messages run lists the due entries and settles each: one request a settle, as with an entity each."""
    store = stores()
    store.ledger.add_many([(f"k{n}", "message", {"n": n}, "due") for n in range(150)])
    due = store.ledger.list(kind="message", status="due")
    sent = count_requests(store, lambda: [store.ledger.set(e.key, "done") for e in due])
    assert sent == len(due) == 150
    assert Counter(e["status"] for e in consistent(store).values()) == {"done": 150}


def test_a_cold_instance_adds_in_two_round_trips_and_fills_packs_with_room(
        stores: Callable[[], AzureTableStore]) -> None:
    """An instance that has seen nothing yet (a function invocation) adds a key in three requests, two round
    trips: its index bucket, and a pack with room, read together; then the transaction. Room left by deleted
    entries is used, not only the last pack's."""
    first = stores()
    first.ledger.add_many([(f"k{n:03d}", "message", {"n": n}, "due") for n in range(250)])  # packs of 100, 100, 50
    for n in range(30):
        first.ledger.delete(f"k{n:03d}")  # room in the first pack
    cold = stores()
    assert count_requests(cold, lambda: cold.ledger.add("new", "message", {})) == 3
    fresh = stores()
    assert count_requests(fresh, lambda: fresh.ledger.get("new")) == 2  # its bucket, then its pack
    fresh.ledger.add_many([(f"more{n}", "message", {}, "due") for n in range(79)])
    assert len(consistent(fresh)) == 300
    # the first pack's room used first (one pack with room is looked for a transaction)
    assert [len(p.items) for p in fresh.ledger.packs.query(PACKS, None)] == [100, 100, 50, 50]


def count_requests(store: AzureTableStore, work: Callable[[], Any]) -> int:
    """The HTTP requests `work` makes to Table Storage."""
    pipeline = store.ledger.table._client._client._pipeline  # (the SDK's own: every request goes through it)
    sent = []
    original = pipeline.run

    def run(request: Any, **kwargs: Any) -> Any:
        sent.append(request)
        return original(request, **kwargs)

    pipeline.run = run
    try:
        work()
    finally:
        pipeline.run = original
    return len(sent)


def test_an_entry_grown_past_its_pack_moves_to_one_of_its_own(stores: Callable[[], AzureTableStore]) -> None:
    store = stores()
    store.ledger.add_many([(f"k{n}", "feedback", {"comment": "x" * 1_000}, "due") for n in range(50)])
    big = {"comment": "Zoë " * (HARD_CHARS // 4)}
    store.ledger.set("k7", "done", big)
    entries = consistent(store)
    assert entries["k7"]["payload"] == big and len(entries) == 50
    assert store.ledger.get("k7").payload == big  # type: ignore[union-attr]
    store.ledger.set("k8", "done")  # its old pack is still written to, and found
    assert store.ledger.get("k8").status == "done"  # type: ignore[union-attr]
    store.ledger.delete("k7")
    assert "k7" not in consistent(store)


def test_entries_past_a_transactions_4_mib_go_in_several(stores: Callable[[], AzureTableStore],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Accents and emoji take up to 6 bytes a UTF-16 unit on the wire (escaped JSON): add_many's transactions are
    sized by what is sent, and one too large is split, never sent."""
    from azure.core.pipeline.transport import RequestsTransport

    store = stores()
    bodies: list[int] = []
    real = RequestsTransport.send
    monkeypatch.setattr(RequestsTransport, "send", lambda transport, request, **kw: bodies.append(
        len(request.body or b"")) or real(transport, request, **kw))
    notes = {n: ("ż" if n % 2 else "\U0001F600") * 15_000 for n in range(120)}
    added = store.ledger.add_many([(f"feedback:session-1:registration-{n}", "feedback", {"comment": notes[n]}, "done")
                                   for n in range(120)])
    assert len(added) == 120 and max(bodies) <= 4 * 1024 * 1024
    entries = consistent(store)
    assert all(entries[f"feedback:session-1:registration-{n}"]["payload"] == {"comment": notes[n]} for n in range(120))


def test_deleting_the_last_entry_of_a_pack_deletes_the_pack(stores: Callable[[], AzureTableStore]) -> None:
    store = stores()
    store.ledger.add("guest:zoe@example.org", "guest-request", {"name": "Zoë"})
    store.ledger.delete("guest:zoe@example.org")
    assert list(store.ledger.table.query_entities("PartitionKey eq 'ledger'")) == []
    assert store.ledger.add("guest:zoe@example.org", "guest-request", {"name": "Zoë"}) is True  # again
    assert store.ledger.get("guest:zoe@example.org").payload == {"name": "Zoë"}  # type: ignore[union-attr]


def old_form(connection: str, prefix: str, count: int) -> None:
    """`count` ledger entries as the store wrote them before the ledger was packed: an entity a key."""
    from azure.data.tables import TableServiceClient

    with TableServiceClient.from_connection_string(connection) as service:
        table = service.create_table_if_not_exists(f"{prefix}ledger")
        for n in range(count):
            key = f"guest:p{n}/#?@example.org" if n % 3 else f"message:confirmed:registration-{n}"
            table.create_entity({"PartitionKey": "ledger", "RowKey": escape_key(key),
                                 "kind": "guest-request" if n % 3 else "message", "status": "due" if n % 2 else "done",
                                 "created": 1000.0 + n, "updated": 2000.0 + n} | pack("payload", {"n": n}))


def test_instances_starting_together_move_the_old_form_in_once(azurite: str, clock: FakeClock, prefix: str) -> None:
    old_form(azurite, prefix, 200)
    with ThreadPoolExecutor(3) as pool:  # three instances start at once
        opened = list(pool.map(lambda _: open_store(azurite, clock, prefix), range(3)))
    try:
        entries = consistent(opened[0])
        assert len(entries) == 200
        assert {e["payload"]["n"]: (e["created"], e["updated"]) for e in entries.values()} == {
            n: (1000.0 + n, 2000.0 + n) for n in range(200)}
        assert [e.payload["n"] for e in opened[1].ledger.list(kind="message", status="done")] == list(range(0, 200, 6))
        assert opened[2].ledger.get("guest:p1/#?@example.org").status == "due"  # type: ignore[union-attr]
    finally:
        for store in opened:
            store.close()


def test_an_entry_erased_after_it_moved_never_comes_back(azurite: str, clock: FakeClock, prefix: str) -> None:
    """A slow instance reads an old entity; meanwhile another instance starts, moves it in, and it is erased.
    The slow one's move (conditional on the old entity, in one transaction with its deletion) is refused, so the
    erasure stands."""
    from azure.data.tables import TableServiceClient

    from coprod.store.azure import ledger_moves
    from coprod.store.azure.ledger import TableLedger

    old_form(azurite, prefix, 3)
    key = "message:confirmed:registration-0"
    service = TableServiceClient.from_connection_string(azurite)
    slow = TableLedger(service.get_table_client(f"{prefix}ledger"), clock)
    table, others = slow.table, []

    class Slow:  # the slow instance's table: the other instance runs right after it read the old entity
        def __getattr__(self, name: str) -> Any:
            return getattr(table, name)

        def get_entity(self, partition_key: str, row_key: str, **kwargs: Any) -> Any:
            found = table.get_entity(partition_key, row_key, **kwargs)
            if row_key == escape_key(key) and not others:
                others.append(fast := open_store(azurite, clock, prefix))  # moves everything in
                fast.ledger.delete(key)  # and the entry is erased
            return found

    slow.table = slow.packs.table = Slow()  # type: ignore[assignment]
    try:
        assert ledger_moves._move(slow, [escape_key(key)]) == 0
        assert others and others[0].ledger.get(key) is None
        assert set(consistent(others[0])) == {"guest:p1/#?@example.org", "guest:p2/#?@example.org"}
    finally:
        for store in others:
            store.close()
        service.close()


def test_an_entry_the_version_before_writes_after_the_move_is_moved_in_at_a_start_soon_after(
        azurite: str, clock: FakeClock, prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """For a while after the move (an invocation of the version before may still be finishing), each start
    moves in entries of the old form; after that, a start does not look (no request to the ledger)."""
    from azure.core.pipeline.transport import RequestsTransport

    from coprod.store.azure import MOVE_IN_WINDOW

    to_ledger: list[str] = []
    send = RequestsTransport.send
    monkeypatch.setattr(RequestsTransport, "send", lambda self, request, **kwargs: (
        to_ledger.append(request.url) if f"{prefix}ledger" in request.url else None, send(self, request, **kwargs))[1])
    old_form(azurite, prefix, 1)
    moved = open_store(azurite, clock, prefix)  # the move
    moved.ledger.set("message:confirmed:registration-0", "done", {"settled": True})
    moved.close()
    old_form(azurite, prefix, 2)  # the version before writes one more (and its first again: the packed one wins)
    clock.now += MOVE_IN_WINDOW - 60
    to_ledger.clear()
    store = open_store(azurite, clock, prefix)
    try:
        assert to_ledger  # looked
        assert set(consistent(store)) == {"message:confirmed:registration-0", "guest:p1/#?@example.org"}
        assert store.ledger.get("message:confirmed:registration-0").payload == {"settled": True}  # type: ignore[union-attr]
    finally:
        store.close()
    clock.now += 120
    old_form(azurite, prefix, 3)
    to_ledger.clear()
    late = open_store(azurite, clock, prefix)
    try:
        assert to_ledger == []  # not looked for: a start costs nothing more
        assert late.ledger.get("guest:p2/#?@example.org") is None  # (so left in the old form)
    finally:
        late.close()
