"""Each side effect once: the hand-offs' record/put/pending/settle/claim, and the SQLite store under them.

What this file pins, beyond the store contract (tests/store_contract.py): a hand-off recorded twice is recorded
once, with its kind, status and payload as given; `pending` gives only the kind's due entries, oldest first;
`settle` keeps what happened beside the payload; of two runners claiming one side effect only one gets it.
And the SQLite file itself: it is made where asked, waits only for the one lock worth waiting for, keeps
people's names as written (so an erasure's scan of the file finds them), empties its log when asked, reads
many mirrored items in parts, lists messages whose time has come, and keeps leases and counters to the second.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coprod import handoffs
from coprod.handoffs import Invitation, ListCommand, MessageDue, mail_keys
from coprod.store import MirrorItem, SqliteStore
from tests.store_contract import Clock
from tests.store_scan import raw_text


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[SqliteStore]:
    db = SqliteStore(tmp_path / "state.sqlite3", clock=clock)
    yield db
    db.close()


def invitation(address: str = "ann@example.org", **given: Any) -> Invitation:
    return Invitation(address, given.pop("row", "7"), **given)


# --- hand-offs ---------------------------------------------------------------------------------------------------
def test_a_hand_off_is_recorded_due_once_and_the_first_stays(store: SqliteStore, clock: Clock) -> None:
    assert handoffs.record(store, invitation(row="7")) is True
    clock.now += 10
    assert handoffs.record(store, invitation(row="8")) is False
    entry = handoffs.get(store, invitation())
    assert entry is not None and (entry.key, entry.kind, entry.status, entry.payload, entry.updated) == (
        "invite:ann@example.org", "invitation", "due", {"row": "7"}, clock.now - 10)
    assert handoffs.record(store, invitation("bob@example.org"), "done") is True
    assert handoffs.get(store, invitation("bob@example.org")).status == "done"  # type: ignore[union-attr]
    assert handoffs.get(store, invitation("cy@example.org")) is None


def test_many_hand_offs_are_recorded_at_once_each_once(store: SqliteStore) -> None:
    handoffs.record(store, MessageDue("confirmed", "1", "3"))
    many = [MessageDue("confirmed", str(n), "3") for n in range(1, 4)]
    assert handoffs.record_many(store, many) == {many[1].key, many[2].key}
    entry = store.ledger_get(many[2].key)
    assert entry is not None and (entry.kind, entry.status, entry.payload) == (
        "message", "due", {"kind": "confirmed", "registration": "3", "session": "3"})
    assert handoffs.record_many(store, [MessageDue("waitlisted", "4", "3")], "done") == {
        MessageDue("waitlisted", "4", "3").key}
    assert store.ledger_get(MessageDue("waitlisted", "4", "3").key).status == "done"  # type: ignore[union-attr]


def test_a_hand_off_put_is_done_unless_told_and_overwrites(store: SqliteStore) -> None:
    handoffs.put(store, invitation(row="7"))
    handoffs.put(store, invitation(row="8", how="invited"))
    entry = store.ledger_get("invite:ann@example.org")
    assert entry is not None and (entry.kind, entry.status, entry.payload) == (
        "invitation", "done", {"row": "8", "how": "invited"})
    handoffs.put(store, invitation(row="9"), "failed")
    assert store.ledger_get("invite:ann@example.org").status == "failed"  # type: ignore[union-attr]


def test_pending_gives_the_kinds_due_hand_offs_oldest_first_read_back(store: SqliteStore, clock: Clock) -> None:
    for address, status in (("b@x.org", "due"), ("a@x.org", "due"), ("c@x.org", "done")):
        clock.now += 1
        handoffs.record(store, invitation(address, row=address[0]), status)
    handoffs.record(store, MessageDue("confirmed", "1", "3"))  # another kind
    found = handoffs.pending(store, Invitation)
    assert [(entry.key, entry.status) for entry, _ in found] == [("invite:b@x.org", "due"), ("invite:a@x.org", "due")]
    assert [read for _, read in found] == [invitation("b@x.org", row="b"), invitation("a@x.org", row="a")]


def test_settling_keeps_what_happened_beside_the_payload(store: SqliteStore) -> None:
    handoffs.record(store, invitation(row="7"))
    handoffs.record(store, invitation("bob@example.org", row="8"))
    entry, other = (e for e, _ in handoffs.pending(store, Invitation))
    handoffs.settle(store, entry, user="u-1")
    settled = store.ledger_get(entry.key)
    assert settled is not None and (settled.status, settled.payload) == ("done", {"row": "7", "user": "u-1"})
    store.ledger_set(other.key, "due", {"row": "8", "user": "u-2"})  # written meanwhile, after it was read
    handoffs.settle(store, other, "failed")  # nothing to add: the payload stays as the ledger has it now
    failed = store.ledger_get(other.key)
    assert failed is not None and (failed.status, failed.payload) == ("failed", {"row": "8", "user": "u-2"})


def test_of_two_runners_claiming_one_side_effect_one_gets_it(store: SqliteStore, clock: Clock) -> None:
    first = invitation(row="7")
    assert handoffs.claim(store, first, None) is True  # never recorded: taken, as `sending`
    assert handoffs.claim(store, first, None) is False  # the other runner, who also saw nothing
    entry = store.ledger_get(first.key)
    assert entry is not None and (entry.kind, entry.status, entry.payload) == ("invitation", "sending", {"row": "7"})
    clock.now += 600  # that attempt went stale: two runners find it as it is
    assert handoffs.claim(store, invitation(row="8"), entry, "retrying") is True
    assert handoffs.claim(store, invitation(row="9"), entry) is False  # it changed since the second runner read it
    taken = store.ledger_get(first.key)
    assert taken is not None and (taken.status, taken.payload, taken.updated) == ("retrying", {"row": "8"}, clock.now)
    assert handoffs.claim(store, invitation("bob@example.org"), None, "due") is True
    assert store.ledger_get("invite:bob@example.org").status == "due"  # type: ignore[union-attr]


def test_unsubscribing_withdraws_only_that_subscribers_queued_updates(store: SqliteStore) -> None:
    for update, row in (("3", "7"), ("4", "7"), ("3", "17"), ("3", "8")):
        store.outbox_add(mail_keys.update(update, row), "update", {}, 1)
    store.outbox_add("mail:other-7", "confirmed", {}, 1)
    handoffs.unsubscribe(store, "7:0123456789abcdef0123")
    assert store.ledger_get("unsubscribe:7:0123456789abcdef0123").status == "due"  # type: ignore[union-attr]
    assert {key: store.outbox_get(key).status for key in (  # type: ignore[union-attr]
        mail_keys.update("3", "7"), mail_keys.update("4", "7"), mail_keys.update("3", "17"), mail_keys.update("3", "8"),
        "mail:other-7")} == {"mail:update-3-7": "cancelled", "mail:update-4-7": "cancelled",
                             "mail:update-3-17": "queued", "mail:update-3-8": "queued", "mail:other-7": "queued"}
    assert ListCommand.pending_by_subject(store)["unsubscribe"].keys() == {"7:0123456789abcdef0123"}
