"""Each side effect once: the hand-offs' record/put/pending/settle/claim, and the SQLite store under them.

What this file pins, beyond the store contract (tests/support/store_contract.py): a hand-off recorded twice is recorded
once, with its kind, status and payload as given; `pending` gives only the kind's due entries, oldest first;
`settle` keeps what happened beside the payload; of two runners claiming one side effect only one gets it.
And the SQLite file itself: it is made where asked, waits only for the one lock worth waiting for, keeps
people's names as written (so an erasure's scan of the file finds them), empties its log when asked, reads
many mirrored items in parts, lists messages whose time has come, and keeps leases and counters to the second.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from coprod import handoffs
from coprod.handoffs import Invitation, ListCommand, MessageDue, mail_keys
from coprod.store import MirrorItem, SqliteStore
from tests.support.fakes import FakeClock
from tests.support.store_scan import raw_text

pytestmark = pytest.mark.clock(fixed=True)  # the `clock` fixture is fixed, and the `store` fixture reads it


def invitation(address: str = "ann@example.org", **given: Any) -> Invitation:
    return Invitation(address, given.pop("row", "7"), **given)


# --- hand-offs ---------------------------------------------------------------------------------------------------
def test_a_hand_off_is_recorded_due_once_and_the_first_stays(store: SqliteStore, clock: FakeClock) -> None:
    assert handoffs.record(store.ledger, invitation(row="7")) is True
    clock.now += 10
    assert handoffs.record(store.ledger, invitation(row="8")) is False
    entry = handoffs.get(store.ledger, invitation())
    assert entry is not None and (entry.key, entry.kind, entry.status, entry.payload, entry.updated) == (
        "invite:ann@example.org", "invitation", "due", {"row": "7"}, clock.now - 10)
    assert handoffs.record(store.ledger, invitation("bob@example.org"), "done") is True
    assert handoffs.get(store.ledger, invitation("bob@example.org")).status == "done"  # type: ignore[union-attr]
    assert handoffs.get(store.ledger, invitation("cy@example.org")) is None


def test_many_hand_offs_are_recorded_at_once_each_once(store: SqliteStore) -> None:
    handoffs.record(store.ledger, MessageDue("confirmed", "1", "3"))
    many = [MessageDue("confirmed", str(n), "3") for n in range(1, 4)]
    assert handoffs.record_many(store.ledger, many) == {many[1].key, many[2].key}
    entry = store.ledger.get(many[2].key)
    assert entry is not None and (entry.kind, entry.status, entry.payload) == (
        "message", "due", {"kind": "confirmed", "registration": "3", "session": "3"})
    assert handoffs.record_many(store.ledger, [MessageDue("waitlisted", "4", "3")], "done") == {
        MessageDue("waitlisted", "4", "3").key}
    assert store.ledger.get(MessageDue("waitlisted", "4", "3").key).status == "done"  # type: ignore[union-attr]


def test_a_hand_off_put_is_done_unless_told_and_overwrites(store: SqliteStore) -> None:
    handoffs.put(store.ledger, invitation(row="7"))
    handoffs.put(store.ledger, invitation(row="8", how="invited"))
    entry = store.ledger.get("invite:ann@example.org")
    assert entry is not None and (entry.kind, entry.status, entry.payload) == (
        "invitation", "done", {"row": "8", "how": "invited"})
    handoffs.put(store.ledger, invitation(row="9"), "failed")
    assert store.ledger.get("invite:ann@example.org").status == "failed"  # type: ignore[union-attr]


def test_pending_gives_the_kinds_due_hand_offs_oldest_first_read_back(store: SqliteStore, clock: FakeClock) -> None:
    for address, status in (("b@x.org", "due"), ("a@x.org", "due"), ("c@x.org", "done")):
        clock.now += 1
        handoffs.record(store.ledger, invitation(address, row=address[0]), status)
    handoffs.record(store.ledger, MessageDue("confirmed", "1", "3"))  # another kind
    found = handoffs.pending(store.ledger, Invitation)
    assert [(entry.key, entry.status) for entry, _ in found] == [("invite:b@x.org", "due"), ("invite:a@x.org", "due")]
    assert [read for _, read in found] == [invitation("b@x.org", row="b"), invitation("a@x.org", row="a")]


def test_settling_keeps_what_happened_beside_the_payload(store: SqliteStore) -> None:
    handoffs.record(store.ledger, invitation(row="7"))
    handoffs.record(store.ledger, invitation("bob@example.org", row="8"))
    entry, other = (e for e, _ in handoffs.pending(store.ledger, Invitation))
    handoffs.settle(store.ledger, entry, user="u-1")
    settled = store.ledger.get(entry.key)
    assert settled is not None and (settled.status, settled.payload) == ("done", {"row": "7", "user": "u-1"})
    store.ledger.set(other.key, "due", {"row": "8", "user": "u-2"})  # written meanwhile, after it was read
    handoffs.settle(store.ledger, other, "failed")  # nothing to add: the payload stays as the ledger has it now
    failed = store.ledger.get(other.key)
    assert failed is not None and (failed.status, failed.payload) == ("failed", {"row": "8", "user": "u-2"})


def test_of_two_runners_claiming_one_side_effect_one_gets_it(store: SqliteStore, clock: FakeClock) -> None:
    first = invitation(row="7")
    assert handoffs.claim(store.ledger, first, None) is True  # never recorded: taken, as `sending`
    assert handoffs.claim(store.ledger, first, None) is False  # the other runner, who also saw nothing
    entry = store.ledger.get(first.key)
    assert entry is not None and (entry.kind, entry.status, entry.payload) == ("invitation", "sending", {"row": "7"})
    clock.now += 600  # that attempt went stale: two runners find it as it is
    assert handoffs.claim(store.ledger, invitation(row="8"), entry, "retrying") is True
    # it changed since the second runner read it
    assert handoffs.claim(store.ledger, invitation(row="9"), entry) is False
    taken = store.ledger.get(first.key)
    assert taken is not None and (taken.status, taken.payload, taken.updated) == ("retrying", {"row": "8"}, clock.now)
    assert handoffs.claim(store.ledger, invitation("bob@example.org"), None, "due") is True
    assert store.ledger.get("invite:bob@example.org").status == "due"  # type: ignore[union-attr]


def test_unsubscribing_withdraws_only_that_subscribers_queued_updates(store: SqliteStore) -> None:
    for update, row in (("3", "7"), ("4", "7"), ("3", "17"), ("3", "8")):
        store.outbox.add(mail_keys.update(update, row), "update", {}, 1)
    store.outbox.add("mail:other-7", "confirmed", {}, 1)
    handoffs.unsubscribe(store, "7:0123456789abcdef0123")
    assert store.ledger.get("unsubscribe:7:0123456789abcdef0123").status == "due"  # type: ignore[union-attr]
    assert {key: store.outbox.get(key).status for key in (  # type: ignore[union-attr]
        mail_keys.update("3", "7"), mail_keys.update("4", "7"), mail_keys.update("3", "17"), mail_keys.update("3", "8"),
        "mail:other-7")} == {"mail:update-3-7": "cancelled", "mail:update-4-7": "cancelled",
                             "mail:update-3-17": "queued", "mail:update-3-8": "queued", "mail:other-7": "queued"}
    assert ListCommand.pending_by_subject(store.ledger)["unsubscribe"].keys() == {"7:0123456789abcdef0123"}


# --- the SQLite file ---------------------------------------------------------------------------------------------
def test_a_store_is_made_in_a_folder_not_there_yet_or_in_memory(tmp_path: Path, clock: FakeClock) -> None:
    for path in (tmp_path / "new" / "deeper" / "state.sqlite3", ":memory:"):
        db = SqliteStore(path, clock=clock)
        try:
            db.checkpoints.set("delta.Sessions", "link")
            assert db.checkpoints.get("delta.Sessions") == "link"
        finally:
            db.close()
    assert (tmp_path / "new" / "deeper" / "state.sqlite3").is_file()
    with sqlite3.connect(tmp_path / "new" / "deeper" / "state.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_store_opened_in_one_thread_serves_the_others(store: SqliteStore) -> None:
    """The pages' server and the runner's workers share one store: each request on a thread of its own."""
    done: list[bool] = []
    worker = threading.Thread(target=lambda: done.append(store.ledger.add("a", "message", {})))
    worker.start()
    worker.join()
    assert done == [True] and store.ledger.get("a") is not None


class _Refusing:
    """A connection whose `PRAGMA journal_mode` is refused with `message`, as another process's would be."""

    def __init__(self, db: sqlite3.Connection, message: str, clock: Callable[[], float] = lambda: 0.0) -> None:
        self._db, self._message, self._clock = db, message, clock
        self.tried_at: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.startswith("PRAGMA journal_mode"):
            self.tried_at.append(self._clock())
            raise sqlite3.OperationalError(self._message)
        return self._db.execute(sql, *args)


def test_a_store_waits_five_seconds_for_the_file_to_turn_to_wal_and_no_longer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each pause asked is a hundredth of a second; on a busy machine it lasts a quarter (here): the store gives
    up at its first try once more than five seconds have passed since it began."""
    from coprod.store.sqlite import database as module

    real, now, pauses, opened = sqlite3.connect, [100.0], [], []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += 0.25

    def connect(*args: Any, **kwargs: Any) -> _Refusing:
        opened.append(_Refusing(real(*args, **kwargs), "database is locked", lambda: now[0]))
        return opened[-1]

    monkeypatch.setattr(module.sqlite3, "connect", connect)
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(module.time, "sleep", sleep)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        SqliteStore(tmp_path / "state.sqlite3")
    tried_at = opened[0].tried_at
    assert tried_at[0] == 100.0 and tried_at[-1] == 105.25  # 105.0 is not past five seconds yet: once more
    assert len(tried_at) == len(pauses) + 1 and set(pauses) == {0.01}


def test_any_other_error_turning_to_wal_stops_the_store_at_once(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from coprod.store.sqlite import database as module

    real, opened = sqlite3.connect, []

    def connect(*args: Any, **kwargs: Any) -> _Refusing:
        opened.append(_Refusing(real(*args, **kwargs), "disk I/O error"))
        return opened[-1]

    monkeypatch.setattr(module.sqlite3, "connect", connect)
    monkeypatch.setattr(module.time, "sleep", lambda seconds: pytest.fail("waited on an error that will not pass"))
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        SqliteStore(tmp_path / "state.sqlite3")
    assert len(opened[0].tried_at) == 1


def test_batches_inside_batches_are_one_transaction(store: SqliteStore) -> None:
    with pytest.raises(RuntimeError), store.batch():
        store.ledger.add("a", "message", {})
        with store.batch():
            store.ledger.add("b", "message", {})
        store.ledger.add("c", "message", {})  # still inside the outer one
        raise RuntimeError("stopped")
    assert store.ledger.list() == []
    with store.batch():
        with store.batch():
            store.ledger.add("a", "message", {})
        store.ledger.add("b", "message", {})
    store.ledger.add("c", "message", {})  # after the batch: a transaction of its own again
    assert [e.key for e in store.ledger.list()] == ["a", "b", "c"]


def test_after_an_erasure_the_log_is_emptied_into_the_file(store: SqliteStore) -> None:
    store.ledger.add("guest:zoe@example.org", "guest-request", {"name": "Zoë"})
    store.ledger.delete("guest:zoe@example.org")
    log = Path(store.path + "-wal")
    assert log.stat().st_size > 0
    store.forget_freed()
    assert log.stat().st_size == 0 and store.ledger.get("guest:zoe@example.org") is None


def test_names_are_kept_as_written_so_an_erasure_finds_them(store: SqliteStore) -> None:
    """The erasure checks search the file's text for a person's name: it must be there as written, not escaped."""
    store.ledger.add("a", "message", {"name": "Zoë A"})
    store.ledger.add_many([("b", "message", {"name": "Zoë B"}, "due")])
    store.ledger.add("c", "message", {})
    store.ledger.set("c", "done", {"name": "Zoë C"})
    store.ledger.put("d", "message", "done", {"name": "Zoë D"})
    store.ledger.add("e", "message", {})
    store.ledger.swap("e", store.ledger.get("e"), "sending", {"name": "Zoë E"})  # type: ignore[arg-type]
    store.outbox.add("mail:f", "confirmed", {"name": "Zoë F"}, 1)
    store.mirror.put([MirrorItem("Registrations", "7", None, "", {"Title": "Zoë G"})])
    db = store.database.connection
    with store.database.lock:
        text = "\n".join(str(row) for table in ("ledger", "outbox", "mirror")
                         for row in db.execute(f"SELECT * FROM {table}"))  # noqa: S608 - fixed names
    assert all(f"Zoë {c}" in text for c in "ABCDEFG")
    assert "Zoë G" in raw_text(store)


def test_entries_added_together_are_listed_as_given_and_dated_now(store: SqliteStore, clock: FakeClock) -> None:
    store.ledger.add_many([(k, "message", {}, "due") for k in ("k9", "k10", "k1")])
    listed = store.ledger.list()
    assert [e.key for e in listed] == ["k9", "k10", "k1"]
    assert all(clock.now <= e.created == e.updated < clock.now + 0.001 for e in listed)


def test_more_items_than_one_query_holds_are_read_by_id_each_once(store: SqliteStore) -> None:
    store.mirror.put([MirrorItem("Registrations", str(n), f"e{n}", "", {}, "3") for n in range(1200)])
    wanted = [str(n) for n in range(1200)] + ["404", "0"]
    statements: list[str] = []
    store.database.connection.set_trace_callback(statements.append)
    assert store.mirror.many("Registrations", wanted).keys() == {str(n) for n in range(1200)}
    store.database.connection.set_trace_callback(None)
    assert len(statements) == 3  # in parts of 500: a few queries, not one per item
    assert store.mirror.etags("Registrations", wanted) == {str(n): f"e{n}" for n in range(1200)}


def test_a_message_put_off_is_listed_once_its_time_has_come(store: SqliteStore, clock: FakeClock) -> None:
    for key in ("mail:1", "mail:2", "mail:3"):
        store.outbox.add(key, "test", {}, 1)
    assert store.outbox.set("mail:2", "queued", not_before=clock.now + 60) is True
    entry = store.outbox.get("mail:2")
    assert entry is not None and (entry.not_before, entry.attempts, entry.error, entry.sent_at) == (
        clock.now + 60, 0, None, None)
    assert [e.key for e in store.outbox.list("queued", ready_by=clock.now)] == ["mail:1", "mail:3"]
    assert [e.key for e in store.outbox.list("queued", ready_by=clock.now + 60)] == ["mail:1", "mail:2", "mail:3"]
    assert [e.key for e in store.outbox.list("queued", ready_by=clock.now, limit=1)] == ["mail:1"]


def test_a_lease_says_what_it_is_and_a_new_one_starts_when_the_old_ran_out(store: SqliteStore,
                                                                           clock: FakeClock) -> None:
    assert store.leases.acquire("sync", "runner-a", 120)
    lease = store.leases.get("sync")
    assert lease is not None and lease.name == "sync"
    clock.now += 120  # ran out this very second: taking it again starts a new lease
    assert store.leases.acquire("sync", "runner-a", 120)
    lease = store.leases.get("sync")
    assert lease is not None and (lease.holder, lease.since, lease.expires) == ("runner-a", clock.now, clock.now + 120)
    store.leases.release("sync", "runner-a")
    assert store.leases.get("sync") is None


def test_a_counter_lasts_as_long_as_its_first_count_said(store: SqliteStore, clock: FakeClock) -> None:
    assert store.counters.add("subscribe:all:1", clock.now + 60, by=3) == 3
    assert store.counters.add("subscribe:all:1", clock.now + 600) == 4  # a later expiry does not extend it
    clock.now += 60
    assert store.counters.add("subscribe:all:1", clock.now + 600) == 1
    assert store.counters.add("subscribe:other", clock.now + 600, by=-2) == 0


def test_a_listing_of_the_outbox_stops_at_a_thousand_unless_asked_for_more(store: SqliteStore) -> None:
    with store.batch():
        for n in range(1001):
            store.outbox.add(f"mail:{n:04}", "test", {}, 1)
    assert len(store.outbox.list("queued")) == 1000
    assert store.outbox.list("queued", limit=2000)[-1].key == "mail:1000"


def test_a_record_changed_later_keeps_when_it_was_made(store: SqliteStore, clock: FakeClock) -> None:
    """`created` orders what waits (oldest first) and dates a record for retention; a later change must not move
    it. Read one at a time, listed, and for emails too."""
    store.ledger.add("guest:a", "guest-request", {"n": 1})
    store.outbox.add("mail:a", "confirmed", {"to": ["a@example.org"]}, 1)
    made = clock.now
    clock.now += 60
    store.ledger.set("guest:a", "done", {"n": 2})
    store.outbox.set("mail:a", "sent", sent_at=clock.now)
    entry, [listed], mail = store.ledger.get("guest:a"), store.ledger.list(kind="guest-request"), \
        store.outbox.get("mail:a")
    assert entry is not None and mail is not None
    assert (entry.created, entry.updated) == (made, made + 60)
    assert (listed.created, listed.updated) == (made, made + 60)
    assert (mail.created, mail.updated) == (made, made + 60)
