"""The state store's contract, one class per part (`store.checkpoints`, `store.mirror`, `store.ledger`,
`store.outbox`, `store.counters`, `store.leases`): what every implementation must do.

A test module binds these to an implementation by defining a `store` fixture (an empty store whose clock is
the `clock` fixture, fixed: `pytest.mark.clock(fixed=True)`), a `second_store` fixture (another handle on
the same state, as a second process or instance would have) and a `mid_write` fixture (`MidWrite`), then
subclassing the classes below.
`tests/contract/test_store.py` does it for SQLite and Table Storage.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from coprod.store import MirrorItem, SqliteStore, StateStore
from tests.support.fakes import FakeClock
from tests.support.store_scan import raw_text

# `with mid_write(store, other):` the store's next mirror write lets `other` run at its racy moment (a fixture
# of the module binding the contract: see tests/contract/test_store.py)
MidWrite = Callable[[StateStore, Callable[[], None]], AbstractContextManager[None]]


def item(item_id: str, group: str | None = None, **fields: Any) -> MirrorItem:
    return MirrorItem("Registrations", item_id, f'"etag-{item_id}"', "2030-01-01T10:00:00+00:00",
                      fields or {"Title": f"Person {item_id}"}, group)


class CheckpointsContract:
    def test_a_checkpoint_is_absent_until_set_then_holds_the_last_value(self, store: StateStore) -> None:
        assert store.checkpoints.get("delta.Sessions") is None
        store.checkpoints.set("delta.Sessions", "https://graph/delta?token=1")
        store.checkpoints.set("delta.Sessions", "https://graph/delta?token=2")
        assert store.checkpoints.get("delta.Sessions") == "https://graph/delta?token=2"
        assert store.checkpoints.get("delta.Registrations") is None


class MirrorContract:
    def test_items_read_back_whole_with_any_text(self, store: StateStore) -> None:
        odd = item("7", "3", Title="Zoë “Ann” <a@b>\u2028", Topics=["Carers"], Capacity=0, Consent=True, Note=None)
        store.mirror.put([odd, item("8", "3"), item("9", "4")])
        assert store.mirror.get("Registrations", "7") == odd
        assert store.mirror.get("Registrations", "10") is None
        assert store.mirror.get("Sessions", "7") is None  # each list is its own

    def test_items_are_read_by_group_and_a_later_put_replaces(self, store: StateStore) -> None:
        store.mirror.put([item("7", "3"), item("8", "3"), item("9", "4")])
        store.mirror.put([item("8", "4", Title="Moved")])
        assert sorted(i.item_id for i in store.mirror.items("Registrations", group="3")) == ["7"]
        assert sorted(i.item_id for i in store.mirror.items("Registrations", group="4")) == ["8", "9"]
        assert sorted(i.item_id for i in store.mirror.items("Registrations")) == ["7", "8", "9"]

    def test_a_big_group_moves_shrinks_and_grows_keeping_every_item_once(self, store: StateStore) -> None:
        """Hundreds in one session (more than one packed entity holds), some moving to another, some gone."""
        store.mirror.put([item(str(n), "A") for n in range(1, 251)] + [item("x-7", "A")])
        store.mirror.put([item(str(n), "B", Title=f"Moved {n}") for n in range(1, 31)])
        store.mirror.delete("Registrations", [str(n) for n in range(100, 200)])
        store.mirror.put([item(str(n), "A", Title=f"Late {n}") for n in range(1001, 1151)])
        in_a = sorted(i.item_id for i in store.mirror.items("Registrations", group="A"))
        expected = {str(n) for n in range(31, 100)} | {str(n) for n in range(200, 251)} | {"x-7"}
        assert in_a == sorted(expected | {str(n) for n in range(1001, 1151)})
        assert sorted(i.item_id for i in store.mirror.items("Registrations", group="B")) == sorted(
            str(n) for n in range(1, 31))
        assert store.mirror.get("Registrations", "5") == item("5", "B", Title="Moved 5")
        assert store.mirror.get("Registrations", "150") is None and store.mirror.groups("Registrations") == {"A", "B"}
        assert len(store.mirror.items("Registrations")) == len(in_a) + 30  # each item once
        assert store.mirror.etags("Registrations", ["x-7", "1001", "150"]) == {"x-7": '"etag-x-7"',
                                                                              "1001": '"etag-1001"'}
        assert store.mirror.ids("Registrations") == set(in_a) | {str(n) for n in range(1, 31)}
        store.mirror.delete("Registrations", set(in_a) | {str(n) for n in range(2, 31)})
        store.mirror.put([item("1", "B")])
        assert store.mirror.items("Registrations") == [item("1", "B")] and store.mirror.groups("Registrations") == {"B"}

    def test_two_writers_into_one_session_at_once_both_land(self, store: StateStore,
                                                             second_store: StateStore) -> None:
        """Two runs at the same moment (no lease) adding to the same session: neither loses the other's items."""
        store.mirror.put([item(str(n), "A") for n in range(1, 51)])
        start = threading.Barrier(2)

        def add(db: StateStore, first: int) -> None:
            start.wait()
            db.mirror.put([item(str(n), "A", Title=f"Added {n}") for n in range(first, first + 40)])

        writers = [threading.Thread(target=add, args=(db, first)) for db, first in ((store, 100), (second_store, 200))]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        found = {i.item_id: i for i in second_store.mirror.items("Registrations", group="A")}
        assert sorted(found, key=int) == [str(n) for n in [*range(1, 51), *range(100, 140), *range(200, 240)]]
        assert found["120"] == item("120", "A", Title="Added 120")

    def test_a_write_from_a_reading_another_writer_changed_meanwhile_leaves_each_item_once(
            self, store: StateStore, second_store: StateStore, mid_write: MidWrite) -> None:
        """Issue 24, finding 8: one writer puts items back as it read them (same eTags) while another, at the
        racy moment of that write (Table Storage: after it read where the items are, before it read the entities
        it changes), moves one to another session and gives another a new version. The later write wins whole:
        each item once, in one session, its eTag the one its columns came with (the index and the entities
        used to disagree: the moved item in both sessions, the other's eTag from one write, its columns from the
        other)."""
        store.mirror.put([item(str(n), "A") for n in range(1, 6)])

        def other_writer() -> None:
            second_store.mirror.put([item("3", "B", Title="Moved"),
                                     MirrorItem("Registrations", "4", '"etag-4-new"', "", {"Title": "New"}, "A")])

        with mid_write(store, other_writer):
            store.mirror.put([item("3", "A"), item("4", "A")])
        for db in (store, second_store):
            found = db.mirror.items("Registrations")
            assert sorted(i.item_id for i in found) == ["1", "2", "3", "4", "5"]
            assert {i.item_id for i in db.mirror.items("Registrations", group="A")} == {"1", "2", "3", "4", "5"}
            assert db.mirror.items("Registrations", group="B") == []
            assert db.mirror.get("Registrations", "3") == item("3", "A")
            assert db.mirror.get("Registrations", "4") == item("4", "A")
            assert db.mirror.etags("Registrations", ["3", "4"]) == {"3": '"etag-3"', "4": '"etag-4"'}

    def test_delete_and_ids(self, store: StateStore) -> None:
        store.mirror.put([item("7"), item("8"), item("9"), MirrorItem("Sessions", "7", None, "", {}, None)])
        store.mirror.delete("Registrations", ["7", "404"])
        assert store.mirror.ids("Registrations") == {"8", "9"} and store.mirror.ids("Sessions") == {"7"}
        store.mirror.delete("Registrations", ["8"])
        store.mirror.put([item("10")])
        assert sorted(i.item_id for i in store.mirror.items("Registrations")) == ["10", "9"]
        assert store.mirror.ids("Updates") == set()


    def test_many_items_are_read_at_once_by_id(self, store: StateStore) -> None:
        store.mirror.put([item(str(n), "7") for n in range(1, 1201)])
        found = store.mirror.many("Registrations", [str(n) for n in range(0, 1300, 3)] + ["1"])
        assert set(found) == {str(n) for n in range(3, 1201, 3)} | {"1"}  # 0 and past 1200 were never mirrored
        assert found["3"] == item("3", "7") and store.mirror.many("Registrations", []) == {}
        etags = store.mirror.etags("Registrations", [str(n) for n in range(0, 1300, 3)])
        assert etags == {str(n): f'"etag-{n}"' for n in range(3, 1201, 3)}
        assert store.mirror.etags("Registrations", ["3", "6", "9999"]) == {"3": '"etag-3"', "6": '"etag-6"'}
        store.mirror.put([item("2000", "8"), item("2001"), MirrorItem("Sessions", "7", None, "", {}, None)])
        assert store.mirror.groups("Registrations") == {"7", "8"} and store.mirror.groups("Sessions") == set()

    def test_the_etags_of_more_items_than_a_statement_takes_are_read_at_once(self, store: StateStore) -> None:
        """The echo of a first sync asks for thousands (SQLite reads the list's eTags in one scan then): the
        answer is the same, only the ids asked for, of that list."""
        store.mirror.put([item(str(n), "7") for n in range(1, 6003)] + [MirrorItem("Sessions", "2", '"s"', "", {})])
        asked = [str(n) for n in range(2, 7000, 2)] + ["x"]
        assert store.mirror.etags("Registrations", asked) == {str(n): f'"etag-{n}"' for n in range(2, 6003, 2)}
        assert len(store.mirror.etags("Registrations", {str(n) for n in range(1, 5002)})) == 5001
        assert store.mirror.etags("Sessions", [str(n) for n in range(1, 5002)]) == {"2": '"s"'}


class LedgerContract:
    def test_a_key_is_added_once_and_the_first_stays(self, store: StateStore, clock: FakeClock) -> None:
        assert store.ledger.add("message:confirmed:registration-1", "message", {"n": 1}) is True
        clock.now += 10
        assert store.ledger.add("message:confirmed:registration-1", "message", {"n": 2}, "done") is False
        entry = store.ledger.get("message:confirmed:registration-1")
        assert entry is not None and (entry.kind, entry.status, entry.payload, entry.created, entry.updated) == (
            "message", "due", {"n": 1}, clock.now - 10, clock.now - 10)
        assert store.ledger.get("message:confirmed:registration-2") is None

    def test_set_changes_the_status_and_keeps_or_replaces_the_payload(self, store: StateStore,
                                                                      clock: FakeClock) -> None:
        store.ledger.add("k", "message", {"n": 1})
        clock.now += 5
        store.ledger.set("k", "done")
        entry = store.ledger.get("k")
        assert entry is not None and (entry.status, entry.payload, entry.updated) == ("done", {"n": 1}, clock.now)
        store.ledger.set("k", "failed", {"why": "Zoë"})
        assert store.ledger.get("k").payload == {"why": "Zoë"}  # type: ignore[union-attr]
        store.ledger.set("absent", "done")
        assert store.ledger.get("absent") is None

    def test_any_key_reads_back_as_it_was_written(self, store: StateStore) -> None:
        """Keys hold addresses, which may contain characters a key-value store refuses (`/ # ? \\ %`)."""
        keys = ["subscriber:a/b#c?d\\e%41@example.org", "guest:o'brien@example.org", "told:registration-1\x07",
                "mail:update-7-1", "mail:update-7-1%"]
        for key in keys:
            assert store.ledger.add(key, "test", {"key": key}) is True
        assert sorted(e.key for e in store.ledger.list(kind="test")) == sorted(keys)
        assert all(store.ledger.get(k).payload == {"key": k} for k in keys)  # type: ignore[union-attr]

    def test_put_writes_whether_or_not_it_was_there(self, store: StateStore) -> None:
        store.ledger.put("meeting:3", "meeting", "failed", {"problem": "403"})
        store.ledger.put("meeting:3", "meeting", "done", {"id": "m1"})
        entry = store.ledger.get("meeting:3")
        assert entry is not None and (entry.status, entry.payload) == ("done", {"id": "m1"})

    def test_a_swap_takes_over_an_entry_only_if_it_is_unchanged_since_it_was_read(self, store: StateStore,
                                                                                  second_store: StateStore,
                                                                                  clock: FakeClock) -> None:
        """Two runners that both find a stale `sending` entry: one takes it over, the other learns it lost."""
        store.ledger.add("invite:ann@example.org", "invitation", {"row": "1"}, "sending")
        clock.now += 600
        seen_by_first = store.ledger.get("invite:ann@example.org")
        seen_by_second = second_store.ledger.get("invite:ann@example.org")
        assert seen_by_first is not None and seen_by_second is not None
        assert store.ledger.swap("invite:ann@example.org", seen_by_first, "sending", {"row": "1", "try": 2}) is True
        assert second_store.ledger.swap("invite:ann@example.org", seen_by_second, "sending", {"try": 3}) is False
        entry = store.ledger.get("invite:ann@example.org")
        assert entry is not None and (entry.status, entry.payload, entry.updated) == (
            "sending", {"row": "1", "try": 2}, clock.now)
        assert store.ledger.swap("absent", seen_by_first, "done", {}) is False

    def test_lists_by_kind_and_status_oldest_first(self, store: StateStore, clock: FakeClock) -> None:
        for n, (kind, status) in enumerate([("message", "due"), ("guest-request", "due"), ("message", "done"),
                                            ("message", "due")]):
            clock.now += 1
            store.ledger.add(f"k{n}", kind, {}, status)
        assert [e.key for e in store.ledger.list(kind="message", status="due")] == ["k0", "k3"]
        assert [e.key for e in store.ledger.list(kind="message")] == ["k0", "k2", "k3"]
        assert [e.key for e in store.ledger.list(status="due")] == ["k0", "k1", "k3"]
        assert len(store.ledger.list()) == 4

    def test_many_keys_are_added_at_once_each_once(self, store: StateStore, second_store: StateStore) -> None:
        store.ledger.add("k5", "message", {"first": True})
        added = store.ledger.add_many([(f"k{n}", "message", {"n": n}, "due") for n in range(250)])
        assert added == {f"k{n}" for n in range(250)} - {"k5"}  # past a transaction's 100, and one there before
        assert store.ledger.get("k5").payload == {"first": True}  # type: ignore[union-attr]
        assert store.ledger.get("k249").payload == {"n": 249}  # type: ignore[union-attr]
        assert second_store.ledger.add_many([("k1", "message", {}, "due"), ("k300", "message", {}, "done")]) == {"k300"}
        assert len(store.ledger.list()) == 251 and store.ledger.add_many([]) == set()
        given = [e.key for e in store.ledger.list(status="due") if e.key != "k5"]
        assert given == [f"k{n}" for n in range(250) if n != 5]  # as given, though sent in transactions at once

    def test_a_batch_is_one_transaction_all_or_nothing(self, store: StateStore) -> None:
        with store.batch():
            store.ledger.add("a", "message", {})
            store.ledger.add("b", "message", {})
        assert [e.key for e in store.ledger.list()] == ["a", "b"]
        try:
            with store.batch():
                store.ledger.add("c", "message", {})
                raise RuntimeError("stopped halfway")
        except RuntimeError:
            pass
        kept = [e.key for e in store.ledger.list()]
        # SQLite rolls the whole batch back; on Table Storage each write stood alone, as it does without a batch
        assert kept == (["a", "b"] if isinstance(store, SqliteStore) else ["a", "b", "c"])

    def test_an_erased_entry_is_gone_or_keeps_nothing_of_its_old_payload(self, store: StateStore) -> None:
        long = {"name": "Zoë Erased", "notes": "x" * 70_000 + "tail-of-zoë"}  # longer than one property holds
        store.ledger.add("guest:zoe@example.org", "guest-request", long)
        store.ledger.add("message:confirmed:registration-7", "message", long)
        store.ledger.delete("guest:zoe@example.org")
        store.ledger.delete("guest:zoe@example.org")  # gone already: nothing to do
        store.ledger.scrub("message:confirmed:registration-7", "erased", {"erased": True})
        assert store.ledger.get("guest:zoe@example.org") is None
        entry = store.ledger.get("message:confirmed:registration-7")
        assert entry is not None and (entry.status, entry.payload, entry.kind) == ("erased", {"erased": True},
                                                                                   "message")
        assert "Zoë" not in raw_text(store) and "zoe@example.org" not in raw_text(store)


class OutboxContract:
    def test_a_message_is_queued_once(self, store: StateStore, clock: FakeClock) -> None:
        assert store.outbox.add("mail:1", "confirmed", {"to": ["a@x.org"], "subject": "Zoë"}, 1) is True
        assert store.outbox.add("mail:1", "reminder", {"to": ["b@x.org"]}, 1) is False
        entry = store.outbox.get("mail:1")
        assert entry is not None and (entry.kind, entry.status, entry.payload["subject"], entry.recipients,
                                      entry.attempts, entry.created, entry.sent_at, entry.error) == (
            "confirmed", "queued", "Zoë", 1, 0, clock.now, None, None)
        assert store.outbox.get("mail:2") is None

    def test_a_claim_takes_a_queued_message_once(self, store: StateStore, clock: FakeClock) -> None:
        store.outbox.add("mail:1", "test", {}, 1)
        clock.now += 3
        claimed = store.outbox.claim("mail:1")
        assert claimed is not None and (claimed.status, claimed.attempts, claimed.updated) == ("sending", 1, clock.now)
        assert store.outbox.claim("mail:1") is None
        assert store.outbox.claim("mail:404") is None

    def test_two_claims_at_once_give_the_message_to_one(self, store: StateStore, second_store: StateStore) -> None:
        for n in range(20):
            store.outbox.add(f"mail:{n}", "test", {}, 1)
        won: list[list[str]] = [[], []]

        def claim(which: int, handle: StateStore) -> None:
            for n in range(20):
                if handle.outbox.claim(f"mail:{n}") is not None:
                    won[which].append(f"mail:{n}")

        threads = [threading.Thread(target=claim, args=(i, h)) for i, h in enumerate((store, second_store))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(won[0] + won[1]) == sorted(f"mail:{n}" for n in range(20))
        assert not set(won[0]) & set(won[1])

    def test_set_is_conditional_on_the_status_it_expects(self, store: StateStore, clock: FakeClock) -> None:
        store.outbox.add("mail:1", "test", {}, 1)
        store.outbox.claim("mail:1")
        assert store.outbox.set("mail:1", "queued", expect="queued") is False
        assert store.outbox.set("mail:1", "sent", sent_at=clock.now, expect="sending") is True
        assert store.outbox.set("mail:1", "failed", error="late", expect="sending") is False
        entry = store.outbox.get("mail:1")
        assert entry is not None and (entry.status, entry.sent_at, entry.error) == ("sent", clock.now, None)
        assert store.outbox.set("mail:1", "failed", error="x" * 10, attempts=7) is True  # unconditional
        entry = store.outbox.get("mail:1")
        assert entry is not None and (entry.status, entry.error, entry.attempts) == ("failed", "x" * 10, 7)

    def test_lists_by_status_oldest_first_with_filters_and_a_limit(self, store: StateStore, clock: FakeClock) -> None:
        for n in range(5):
            clock.now += 1
            store.outbox.add(f"mail:{n}", "test", {}, 1)
        store.outbox.claim("mail:1")
        store.outbox.claim("mail:3")
        assert [e.key for e in store.outbox.list("queued")] == ["mail:0", "mail:2", "mail:4"]
        assert [e.key for e in store.outbox.list("queued", limit=2)] == ["mail:0", "mail:2"]
        clock.now += 100
        store.outbox.set("mail:3", "sending")  # touched just now
        assert [e.key for e in store.outbox.list("sending", updated_before=clock.now - 50)] == ["mail:1"]

    def test_what_was_sent_in_a_window_is_counted_for_the_limits(self, store: StateStore, clock: FakeClock) -> None:
        for n, recipients in enumerate((1, 3, 2)):
            store.outbox.add(f"mail:{n}", "test", {}, recipients)
        store.outbox.claim("mail:0")
        store.outbox.set("mail:0", "sent", sent_at=clock.now - 100)
        store.outbox.claim("mail:1")
        store.outbox.set("mail:1", "sent", sent_at=clock.now - 10)
        store.outbox.claim("mail:2")  # its answer was lost: it counts, from when it was claimed
        assert store.outbox.sent_since(clock.now - 50) == (1, 3)
        assert store.outbox.sent_since(clock.now - 500) == (2, 4)
        assert store.outbox.send_times(clock.now - 50) == [clock.now - 10, clock.now]

    def test_tally_cancel_and_counts(self, store: StateStore) -> None:
        for key in ("mail:update-7-1", "mail:update-7-2", "mail:update-8-1", "mail:update-7-12", "mail:other"):
            store.outbox.add(key, "update", {}, 1)
        store.outbox.claim("mail:update-7-2")
        assert store.outbox.cancel("mail:update-", "-1") == 2  # subscriber 1's queued updates, not 12's
        assert store.outbox.get("mail:update-7-12").status == "queued"  # type: ignore[union-attr]
        assert store.outbox.cancel("mail:update-", "-2") == 0  # not queued any more: being sent
        assert store.outbox.tally("mail:update-7-") == {"cancelled": 1, "sending": 1, "queued": 1}
        assert store.outbox.counts() == {"cancelled": 2, "sending": 1, "queued": 2}

    def test_a_scrubbed_message_keeps_its_key_and_counts_and_nothing_else(self, store: StateStore) -> None:
        body = {"to": ["zoe@example.org"], "html": "Dear Zoë " * 10_000}
        for key in ("mail:a", "mail:b", "mail:c"):
            store.outbox.add(key, "confirmed", body, 1)
        store.outbox.claim("mail:b")
        store.outbox.claim("mail:c")
        store.outbox.set("mail:c", "sent", sent_at=5.0)
        assert store.outbox.scrub("mail:a", cancel=True) and store.outbox.scrub("mail:b", cancel=True)
        assert store.outbox.scrub("mail:c", cancel=True) and not store.outbox.scrub("mail:none", cancel=True)
        got = {key: store.outbox.get(key) for key in ("mail:a", "mail:b", "mail:c")}
        assert {k: (e.status, e.payload, e.recipients) for k, e in got.items() if e} == {
            "mail:a": ("cancelled", {}, 1), "mail:b": ("cancelled", {}, 1), "mail:c": ("sent", {}, 1)}
        assert store.outbox.add("mail:a", "confirmed", body, 1) is False  # still goes only once
        assert "Zoë" not in raw_text(store) and "zoe@example.org" not in raw_text(store)


class CountersContract:
    def test_a_counter_counts_until_it_expires_then_starts_again(self, store: StateStore, clock: FakeClock) -> None:
        assert [store.counters.add("subscribe:all:1", clock.now + 60) for _ in range(3)] == [1, 2, 3]
        assert store.counters.add("subscribe:client:x:1", clock.now + 60) == 1
        clock.now += 60
        assert store.counters.add("subscribe:all:1", clock.now + 60) == 1

    def test_counts_from_two_instances_add_up(self, store: StateStore, second_store: StateStore,
                                              clock: FakeClock) -> None:
        for _ in range(5):
            store.counters.add("subscribe:all:1", clock.now + 60)
            second_store.counters.add("subscribe:all:1", clock.now + 60)
        assert store.counters.add("subscribe:all:1", clock.now + 60) == 11

    def test_a_count_given_back_is_no_longer_spent_and_never_goes_below_nothing(self, store: StateStore,
                                                                              clock: FakeClock) -> None:
        """A form gives back what it counted when making the item fails (issue 24, finding 5)."""
        assert [store.counters.add("book:slot:7:10am", clock.now + 600) for _ in range(2)] == [1, 2]
        assert store.counters.add("book:slot:7:10am", clock.now + 600, by=-1) == 1
        assert store.counters.add("book:slot:7:10am", clock.now + 600, by=-1) == 0
        assert store.counters.add("book:slot:7:10am", clock.now + 600, by=-1) == 0  # never below nothing
        assert store.counters.add("book:slot:7:10am", clock.now + 600) == 1  # the time can be claimed again
        assert store.counters.add("never-counted", clock.now + 600, by=-1) == 0


class LeasesContract:
    def test_one_holder_at_a_time_until_it_lets_go_or_its_lease_runs_out(self, store: StateStore,
                                                                         clock: FakeClock) -> None:
        assert store.leases.get("sync") is None
        assert store.leases.acquire("sync", "runner-a", 120) is True
        assert store.leases.acquire("sync", "runner-b", 120) is False
        lease = store.leases.get("sync")
        assert lease is not None and (lease.holder, lease.since, lease.expires) == ("runner-a", clock.now,
                                                                                    clock.now + 120)
        clock.now += 60
        assert store.leases.acquire("sync", "runner-a", 120) is True  # renewed: held since the start
        renewed = store.leases.get("sync")
        assert renewed is not None and (renewed.since, renewed.expires) == (clock.now - 60, clock.now + 120)
        store.leases.release("sync", "runner-b")  # not theirs: nothing happens
        assert store.leases.get("sync") is not None
        store.leases.release("sync", "runner-a")
        assert store.leases.acquire("sync", "runner-b", 120) is True

    def test_a_lease_whose_holder_died_is_taken_once_it_runs_out(self, store: StateStore, clock: FakeClock) -> None:
        store.leases.acquire("sync", "died", 120)
        clock.now += 119
        assert store.leases.acquire("sync", "next", 120) is False
        clock.now += 1
        assert store.leases.get("sync") is None
        assert store.leases.acquire("sync", "next", 120) is True
        lease = store.leases.get("sync")
        assert lease is not None and (lease.holder, lease.since) == ("next", clock.now)

    def test_two_runners_reaching_for_a_free_lease_at_once_one_gets_it(self, store: StateStore,
                                                                       second_store: StateStore) -> None:
        won: list[str] = []

        def reach(name: str, handle: StateStore) -> None:
            if handle.leases.acquire("sync", name, 120):
                won.append(name)

        threads = [threading.Thread(target=reach, args=(f"runner-{n}", handle))
                   for n, handle in enumerate([store, second_store] * 4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1


# Each name callers have used so far, and the part's method it is
