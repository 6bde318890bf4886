"""Both stores keep the store's contract (tests/support/store_contract.py), part by part: SQLite, and Azure Table
Storage on Azurite."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from config import SettingsError
from coprod.store import SqliteStore, StateStore, open_store
from coprod.store.azure import AzureTableStore
from tests.support.fakes import FakeClock
from tests.support.store_contract import (
    CheckpointsContract,
    CountersContract,
    LeasesContract,
    LedgerContract,
    MidWrite,
    MirrorContract,
    OutboxContract,
)

pytestmark = pytest.mark.clock(fixed=True)  # the `clock` fixture is fixed: each store here reads it


def azure_store(connection: str, clock: FakeClock, prefix: str) -> AzureTableStore:
    from azure.data.tables import TableServiceClient

    store = AzureTableStore(TableServiceClient.from_connection_string(connection), clock=clock, prefix=prefix)
    store.connection = connection  # type: ignore[attr-defined]  # for a second handle on the same tables
    return store


@pytest.fixture(params=["sqlite", "azurite"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[StateStore]:
    if request.param == "sqlite":
        db: StateStore = SqliteStore(tmp_path / "state.sqlite3", clock=clock)
    else:  # a fresh set of tables for each test, in the one Azurite of the session
        db = azure_store(request.getfixturevalue("azurite"), clock, f"t{uuid.uuid4().hex[:12]}")
    yield db
    db.close()


@pytest.fixture
def second_store(store: StateStore, clock: FakeClock) -> Iterator[StateStore]:
    """Another process's (or instance's) handle on the same state."""
    if isinstance(store, SqliteStore):
        db: StateStore = SqliteStore(store.path, clock=clock)
    else:
        assert isinstance(store, AzureTableStore)
        db = azure_store(store.connection, clock, store.prefix)  # type: ignore[attr-defined]
    yield db
    db.close()


class _RacyTable:
    """A Table Storage mirror's table that lets `other` run right after the writer read the index and before
    it reads any chunk (a read arriving meanwhile, on another thread, waits until `other` is done): once, or at
    each of the writer's first `times` tries."""

    def __init__(self, table: Any, other: Callable[[], None], times: int = 1) -> None:
        self._table, self._other, self._times = table, other, times
        self._lock = threading.Lock()
        self._index_read = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def _reading(self, row_key: str) -> None:
        with self._lock:
            if row_key.startswith("i|"):
                self._index_read = True
            elif row_key.startswith("g|") and self._index_read and self._other is not None:
                other, self._index_read, self._times = self._other, False, self._times - 1
                if not self._times:
                    self._other = None
                other()

    def get_entity(self, partition_key: str, row_key: str, **kwargs: Any) -> Any:
        self._reading(row_key)
        return self._table.get_entity(partition_key, row_key, **kwargs)

    def query_entities(self, query: str, **kwargs: Any) -> Any:
        self._reading(str((kwargs.get("parameters") or {}).get("low", "")))
        return self._table.query_entities(query, **kwargs)


@pytest.fixture
def mid_write() -> MidWrite:
    """`with mid_write(store, other):` the store's next mirror write lets `other` run at its racy moment: on
    Table Storage after it read the index, before it reads the chunks it changes; on SQLite (one transaction,
    no moment inside it) just before it."""

    @contextmanager
    def during(store: StateStore, other: Callable[[], None]) -> Iterator[None]:
        if isinstance(store, SqliteStore):
            other()
            yield
            return
        assert isinstance(store, AzureTableStore)
        mirror = store.mirror
        table = mirror.table
        racy = mirror.table = _RacyTable(table, other)  # type: ignore[assignment]
        try:
            yield
        finally:
            mirror.table = table
        assert racy._other is None  # the other writer did run, at that moment

    return during


class TestCheckpoints(CheckpointsContract):
    pass


class TestMirror(MirrorContract):
    pass


class TestLedger(LedgerContract):
    pass


class TestOutbox(OutboxContract):
    pass


class TestCounters(CountersContract):
    pass


class TestLeases(LeasesContract):
    pass


def test_the_store_is_chosen_by_its_url(tmp_path: Path, azurite: str) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a' / 'state.sqlite3'}")
    assert isinstance(store, SqliteStore) and Path(store.path).parent.is_dir()
    store.close()
    tables = open_store(azurite)
    assert isinstance(tables, AzureTableStore)
    tables.close()
    with pytest.raises(SettingsError, match="COPROD_STATE"):
        open_store("postgres://somewhere")
    with pytest.raises(SettingsError, match="COPROD_STATE: Azure Storage did not accept") as caught:
        open_store("AccountName=council;AccountKey=not base64!;TableEndpoint=nope")
    assert "not base64" not in str(caught.value)  # the string may hold a key: never shown


@pytest.fixture
def tables(azurite: str, clock: FakeClock) -> Iterator[AzureTableStore]:
    """A Table Storage store of its own (tables under a fresh prefix) on the shared Azurite."""
    db = azure_store(azurite, clock, f"t{uuid.uuid4().hex[:12]}")
    yield db
    db.close()


class TestTableStorageLimits:
    """What Table Storage cannot hold as it is (64 KiB a property, 1 MiB an entity) and how it is kept."""

    def test_a_record_longer_than_a_property_is_split_and_read_back_whole(self, tables: AzureTableStore) -> None:
        body = "Zoë “quoted” " * 20_000  # 260,000 characters over several properties
        assert tables.outbox.add("mail:update-1-2", "update", {"html": body}, 1) is True
        assert tables.outbox.get("mail:update-1-2").payload == {"html": body}  # type: ignore[union-attr]

    def test_a_mirror_item_too_big_for_an_entity_keeps_its_longest_values_cut(self, tables: AzureTableStore) -> None:
        from coprod.store import MirrorItem

        huge = MirrorItem("Registrations", "9", None, "", {"Title": "x" * 2_000_000, "Email": "a@x.org"}, "3")
        tables.mirror.put([huge])
        kept = tables.mirror.get("Registrations", "9")
        assert kept is not None and kept.fields == {"Title": "x" * 10_000, "Email": "a@x.org"}

    def test_text_far_from_ascii_stays_within_every_limit(self, tables: AzureTableStore,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
        """Accents and emoji take more room in UTF-16 (how Table Storage counts a property) and on the wire
        (escaped JSON, as the SDK sends it too) than their length in characters says."""
        from azure.core.pipeline.transport import RequestsTransport

        from coprod.store import MirrorItem

        bodies: list[int] = []
        real = RequestsTransport.send
        monkeypatch.setattr(RequestsTransport, "send", lambda transport, request, **kw: bodies.append(
            len(request.body or b"")) or real(transport, request, **kw))
        emoji = "\U0001F600" * 20_000  # 40,000 UTF-16 units: more than a property's 64 KiB if stored as it is
        items = [MirrorItem("Registrations", str(n), f'"e{n}"', "", {"Title": "ż" * 20_000}, "1") for n in range(150)]
        tables.mirror.put([*items, MirrorItem("Registrations", "900", None, "", {"AccessNeeds": emoji}, "1")])
        assert max(bodies) <= 4 * 1024 * 1024  # every transaction within its 4 MiB
        assert tables.mirror.get("Registrations", "900").fields == {"AccessNeeds": emoji}  # type: ignore[union-attr]
        assert len(tables.mirror.items("Registrations", group="1")) == 151
        stored = [v for e in tables._tables["mirror"].list_entities() for v in e.values() if isinstance(v, str)]
        assert max(len(v.encode("utf-16-le")) for v in stored) <= 64 * 1024

    def test_any_other_record_too_big_is_refused_with_a_clear_error(self, tables: AzureTableStore) -> None:
        with pytest.raises(ValueError, match="too large for Table Storage"):
            tables.ledger.add("k", "test", {"x": "y" * 1_000_000})
        assert tables.ledger.get("k") is None

    def test_more_than_a_transaction_holds_goes_in_several(self, tables: AzureTableStore) -> None:
        from coprod.store import MirrorItem

        items = [MirrorItem("Registrations", str(n), f'"e{n}"', "", {"Title": "t" * 20_000}, "1") for n in range(250)]
        tables.mirror.put(items)
        assert len(tables.mirror.items("Registrations", group="1")) == 250
        tables.mirror.delete("Registrations", [str(n) for n in range(10, 250)])
        assert tables.mirror.ids("Registrations") == {str(n) for n in range(10)}


class TestTransactions:
    """Our transactions are built and read without the SDK's per-operation machinery: same entities, same errors."""

    @pytest.fixture
    def table(self, azurite: str) -> Iterator[Any]:
        from azure.data.tables import TableServiceClient

        service = TableServiceClient.from_connection_string(azurite)
        client = service.create_table(f"t{uuid.uuid4().hex[:12]}")
        yield client
        service.close()

    def test_entities_read_back_as_written_in_one_request_each(self, table: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
        from azure.core import MatchConditions
        from azure.core.pipeline.transport import RequestsTransport
        from azure.data.tables import UpdateMode

        from coprod.store.azure._batch import send

        sent: list[str] = []
        real = RequestsTransport.send
        monkeypatch.setattr(RequestsTransport, "send", lambda transport, request, **kw: sent.append(
            request.method) or real(transport, request, **kw))
        odd = {"PartitionKey": "list 'o'", "RowKey": "a%2Fb'c", "text": "Zoë “Ann” <a@b>\u2028\r\n--batch",
               "whole": 1.0, "half": 0.5, "count": 7, "big": 2**40, "yes": True}
        send(table, [("create", odd), ("upsert", {"PartitionKey": "list 'o'", "RowKey": "x", "n": 1},
                                        {"mode": UpdateMode.REPLACE}),
                     ("create", {"PartitionKey": "list 'o'", "RowKey": "y"})])
        assert sent == ["POST"]
        back = table.get_entity("list 'o'", "a%2Fb'c")
        assert {k: v for k, v in back.items() if k != "big"} == {k: v for k, v in odd.items() if k != "big"}
        assert isinstance(back["whole"], float) and back["big"].value == 2**40  # (the SDK reads an Int64 so)
        current = table.get_entity("list 'o'", "x")
        sent.clear()
        send(table, [("update", {"PartitionKey": "list 'o'", "RowKey": "x", "n": 2},
                      {"mode": UpdateMode.REPLACE, "etag": current.metadata["etag"],
                       "match_condition": MatchConditions.IfNotModified}),
                     ("delete", {"PartitionKey": "list 'o'", "RowKey": "y"})])
        assert sent == ["POST"] and table.get_entity("list 'o'", "x")["n"] == 2
        assert [e["RowKey"] for e in table.list_entities()] == ["a%2Fb'c", "x"]

    def test_a_refused_transaction_changes_nothing_and_says_why(self, table: Any) -> None:
        from azure.data.tables import TableTransactionError

        from coprod.store.azure._batch import send

        send(table, [("create", {"PartitionKey": "p", "RowKey": "taken"})])
        with pytest.raises(TableTransactionError) as refused:
            send(table, [("create", {"PartitionKey": "p", "RowKey": "new"}),
                         ("create", {"PartitionKey": "p", "RowKey": "taken"})])
        assert "EntityAlreadyExists" in str(refused.value)
        assert [e["RowKey"] for e in table.list_entities()] == ["taken"]  # all or nothing


class TestPackedMirror:
    """On Table Storage a session's registrations share a few entities: reading one session is one range read."""

    def test_a_thousand_registrations_are_a_few_entities_and_a_session_one_read(
            self, tables: AzureTableStore, monkeypatch: pytest.MonkeyPatch) -> None:
        from azure.core.pipeline.transport import RequestsTransport

        from coprod.store import MirrorItem

        tables.mirror.put([MirrorItem("Registrations", str(n), f'"e{n}"', "", {"Title": f"P {n}"}, str(n % 5))
                           for n in range(1, 1001)])
        entities = list(tables._tables["mirror"].list_entities())
        assert len(entities) <= 15  # 10 chunks of 100 (5 sessions of 200) and 2 index entities, not 1,000
        sent: list[str] = []
        real = RequestsTransport.send
        monkeypatch.setattr(RequestsTransport, "send", lambda transport, request, **kw: sent.append(
            request.method) or real(transport, request, **kw))
        assert len(tables.mirror.items("Registrations", group="3")) == 200
        assert len(tables.mirror.etags("Registrations", [str(n) for n in range(1, 1001)])) == 1000
        assert sent == ["GET"] * 3  # one range read for the session; the index: one read per 1,000 ids (2)

    def test_a_write_that_changes_nothing_is_never_refused_however_busy_the_entity(
            self, tables: AzureTableStore, clock: FakeClock) -> None:
        """Issue 24, finding 8: six runs at once (no lease) put the same rows they all read; another writer
        changes the session's entity between this writer's reading and writing, try after try. Items put back
        as the mirror holds them change nothing, so nothing is written and nothing refused (each try used to be
        refused, and the fifth stopped the run with TableTransactionError)."""
        from coprod.store import MirrorItem

        def row(n: int, title: str = "") -> MirrorItem:
            return MirrorItem("Subscribers", str(n), f'"e{n}"', "", {"Title": title or f"Sub {n}"}, None)

        tables.mirror.put([row(n) for n in range(1, 6)])
        other = azure_store(tables.connection, clock, tables.prefix)  # type: ignore[attr-defined]
        edits: list[str] = []

        def edit() -> None:
            edits.append(f"Edit {len(edits)}")
            other.mirror.put([row(5, edits[-1])])

        mirror = tables.mirror
        table = mirror.table
        mirror.table = _RacyTable(table, edit, times=10)  # type: ignore[assignment]
        try:
            tables.mirror.put([row(n) for n in range(1, 4)])
        finally:
            mirror.table = table
            other.close()
        assert edits  # the other writer did go in between
        assert sorted(tables.mirror.items("Subscribers"), key=lambda i: i.item_id) == [
            *(row(n) for n in range(1, 5)), row(5, edits[-1])]

    def test_the_first_start_after_the_change_drops_the_old_mirror_and_reads_the_lists_again(
            self, azurite: str, clock: FakeClock) -> None:
        from azure.data.tables import TableServiceClient

        prefix = f"t{uuid.uuid4().hex[:12]}"
        service = TableServiceClient.from_connection_string(azurite)
        old = service.create_table(f"{prefix}mirror")  # one entity an item, as before
        old.create_entity({"PartitionKey": "Registrations", "RowKey": "7", "fields0": '{"Email":"a@x.org"}'})
        checkpoints = service.create_table(f"{prefix}checkpoints")
        for name in ("delta.Registrations", "delta.Sessions", "retention.day"):
            checkpoints.create_entity({"PartitionKey": "checkpoint", "RowKey": name, "value": "v"})
        store = azure_store(azurite, clock, prefix)
        assert store.checkpoints.get("delta.Registrations") is None  # the next run reads the lists whole
        assert store.checkpoints.get("retention.day") == "v"
        assert f"{prefix}mirror" not in {t.name for t in service.list_tables()}  # with the data it held
        store.checkpoints.set("delta.Registrations", "link")
        assert azure_store(azurite, clock, prefix).checkpoints.get("delta.Registrations") == "link"  # once only
        store.close()


def test_a_row_another_runner_just_added_is_not_added_again(tmp_path: Path) -> None:
    """Found by six runs in threads on Azurite: runner B checked the list, runner A then added the row and marked
    its guard done, and B took the done guard over and added a second row. A done guard whose row is still there
    is final; one whose row an admin deleted since may be taken again."""
    from coprod import handoffs
    from coprod.handoffs import RowGuard

    store = SqliteStore(tmp_path / "state.sqlite3")
    try:
        guard = RowGuard("subscriber-row", "ann@example.org")
        assert guard.take(store.ledger, 1000.0, 300)  # A takes it...
        handoffs.put(store.ledger, RowGuard("subscriber-row", "ann@example.org", row="7"))  # ...and adds row 7
        assert not guard.take(store.ledger, 1001.0, 300, exists=lambda row: row == "7")  # B: row 7 is there
        assert guard.take(store.ledger, 5000.0, 300, exists=lambda row: False)  # row 7 deleted since: add again
    finally:
        store.close()


def test_a_store_opened_while_another_process_turns_the_new_file_to_wal_waits_its_turn(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 24, finding 8 (six `sync --once` started together on a new SQLite file): while one process turns
    the file to WAL, another's `PRAGMA journal_mode=WAL` is answered "database is locked" at once; SQLite does
    not wait on that lock, whatever the timeout, as waiting could deadlock (measured: 3 of 120 such opens
    failed). The store tries again until it is its turn, rather than the run stopping at its first line."""
    import sqlite3

    from coprod.store.sqlite import database as module

    real = sqlite3.connect
    refused: list[str] = []

    class TurningToWal:  # the other process holds the file for its first two tries
        def __init__(self, db: sqlite3.Connection) -> None:
            self._db = db

        def __getattr__(self, name: str) -> Any:
            return getattr(self._db, name)

        def execute(self, sql: str, *args: Any) -> Any:
            if sql.startswith("PRAGMA journal_mode") and len(refused) < 2:
                refused.append(sql)
                raise sqlite3.OperationalError("database is locked")
            return self._db.execute(sql, *args)

    monkeypatch.setattr(module.sqlite3, "connect", lambda *args, **kwargs: TurningToWal(real(*args, **kwargs)))
    store = SqliteStore(tmp_path / "state.sqlite3")
    monkeypatch.undo()
    try:
        assert len(refused) == 2
        store.checkpoints.set("delta.Sessions", "link")
        assert store.checkpoints.get("delta.Sessions") == "link"
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
