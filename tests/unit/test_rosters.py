"""Deciding a session from its roster decides it exactly as deciding it in full (`coprod.registrations.rosters`).

A session's registrations are made at random (people booking twice, bookings that need attention, places from none
to a few), decided in full, and then changed at random, run after run: new bookings, cancellations, corrected and
mistyped addresses, deletions, consent withdrawn, an officer's cancellation. Each time the changed registrations,
and those `Roster.plan` names, are decided with `aside`, and compared with `allocate` over the whole session:
the same decisions for those, nothing to write for the rest, the same note for the team; and the roster carried
forward is the roster made afresh.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coprod.lists.notes import Notes
from coprod.lists.places import Decision
from coprod.lists.records import Registration, Session, parse_registration
from coprod.registrations.rosters import MOST, ROSTERS, Roster, Rosters, entry_of, fingerprint, incremental
from coprod.registrations.rules import allocate
from coprod.store import MirrorItem, SqliteStore

NOW = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
PEOPLE = ["ann@example.org", "bo@example.org", "cy@example.org", "di@example.org", "ed@example.org",
          "fa@example.org", "not-an-address", "Ann@Example.org"]


def digest(identity: str) -> str:
    return f"#{identity}"


def session(capacity: int) -> Session:
    return Session("7", "Being included", "Open", NOW + timedelta(days=3), NOW + timedelta(days=3, hours=1),
                   capacity)


class Lists:
    """One session's registrations as the list holds them (columns by id), and what changed since the last run."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.fields: dict[str, dict[str, Any]] = {}
        self.created: dict[str, str] = {}
        self.next_id = 1
        self.changed: set[str] = set()

    def book(self) -> None:
        item_id = str(self.next_id)
        self.next_id += 1
        self.fields[item_id] = {"Title": self.rng.choice(["Ann", "Bo", ""]) or "Someone",
                                "Email": self.rng.choice(PEOPLE), "SessionLookupId": "7",
                                "Consent": self.rng.random() > 0.1}
        self.created[item_id] = f"2029-12-{10 + self.next_id % 15:02d}T09:00:00Z"  # (ties broken by id)
        self.changed.add(item_id)

    def change(self) -> None:
        ids = sorted(self.fields, key=int)
        what = self.rng.choice(["book", "book", "cancel", "address", "delete", "consent", "officer", "note"])
        if what == "book" or not ids:
            self.book()
            return
        item_id = self.rng.choice(ids)
        self.changed.add(item_id)
        if what == "cancel":
            self.fields[item_id]["Cancel"] = True
        elif what == "address":
            self.fields[item_id]["Email"] = self.rng.choice(PEOPLE)
        elif what == "delete":
            del self.fields[item_id]
        elif what == "consent":
            self.fields[item_id]["Consent"] = not self.fields[item_id].get("Consent")
        elif what == "officer":
            self.fields[item_id]["Status"] = "Cancelled"
        else:
            self.fields[item_id]["AccessNeeds"] = "Large print, please."

    def regs(self, ids: Any = None) -> list[Registration]:
        ids = self.fields if ids is None else ids
        return [parse_registration(i, self.created[i], self.fields[i]) for i in ids if i in self.fields]

    def write(self, decisions: dict[str, Decision]) -> None:
        """What the sync writes back: each decision's status and note."""
        for item_id, decision in decisions.items():
            if not decision.kept:
                self.fields[item_id] |= {"Status": decision.status, "StatusNote": decision.note}


def roster_of(place: Session, regs: list[Registration], decisions: dict[str, Decision]) -> Roster:
    return Roster(fingerprint(place, "plain"), {}).updated(
        (), ((r.id, entry_of(r, decisions[r.id], digest)) for r in regs))


@settings(max_examples=400, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), capacity=st.sampled_from([0, 1, 2, 3, 5]),
       start=st.integers(0, 12), runs=st.integers(1, 5))
def test_a_session_decided_from_its_roster_is_decided_as_in_full(seed: int, capacity: int, start: int,
                                                                 runs: int) -> None:
    rng = random.Random(seed)
    place, lists = session(capacity), Lists(rng)
    for _ in range(start):
        lists.book()
    everyone = lists.regs()
    decisions, _ = allocate(place, everyone, NOW)
    lists.write(decisions)
    roster = roster_of(place, everyone, decisions)
    for _ in range(runs):
        lists.changed = set()
        for _ in range(rng.randint(1, 4)):
            lists.change()
        now = lists.regs(sorted(lists.changed))
        affected, aside = roster.plan(place, lists.changed, now, digest)
        assert not affected & lists.changed
        decided = now + lists.regs(sorted(affected))
        mine, my_note = allocate(place, decided, NOW, aside=aside)

        everyone = lists.regs()
        full, full_note = allocate(place, everyone, NOW)
        assert mine == {r.id: full[r.id] for r in decided}
        assert my_note == full_note
        for reg in everyone:
            if reg.id not in mine:  # left as the last run left it: nothing to write
                assert (reg.listed_status, reg.note) == (full[reg.id].status, full[reg.id].note), reg.id
        lists.write(full)
        roster = roster.updated(lists.changed, ((r.id, entry_of(r, mine[r.id], digest)) for r in decided))
        assert roster == roster_of(place, everyone, full)


def test_the_plan_decides_the_changed_the_same_person_and_as_many_waiting_as_there_can_be_places() -> None:
    lists = Lists(random.Random(1))
    for n, email in enumerate(["ann@example.org", "bo@example.org", "cy@example.org", "di@example.org",
                               "ann@example.org", "ed@example.org"], 1):
        lists.fields[str(n)] = {"Title": "X", "Email": email, "SessionLookupId": "7", "Consent": True}
        lists.created[str(n)] = f"2029-12-0{n}T09:00:00Z"
    place = session(2)
    everyone = lists.regs()
    decisions, _ = allocate(place, everyone, NOW)
    assert [decisions[str(n)].status for n in range(1, 7)] == ["Confirmed", "Confirmed", "Waitlisted",
                                                               "Waitlisted", "NeedsAttention", "Waitlisted"]
    assert decisions["5"].note == Notes.DUPLICATE
    lists.write(decisions)
    roster = roster_of(place, everyone, decisions)
    assert set(roster.entries) == {"1", "2", "3", "4", "5", "6"}
    lists.fields["2"]["Cancel"] = True  # bo cancels: one place is free
    affected, aside = roster.plan(place, {"2"}, lists.regs(["2"]), digest)
    assert (affected, aside) == ({"3"}, 1)  # cy, first waiting; ann holds the other place
    lists.fields["1"]["Cancel"] = True  # and ann: her second booking may now count
    affected, aside = roster.plan(place, {"1", "2"}, lists.regs(["1", "2"]), digest)
    assert (affected, aside) == ({"3", "4", "5"}, 0)


def test_only_an_open_group_session_with_places_and_times_not_over_is_decided_from_a_roster() -> None:
    place = session(3)
    assert incremental(place, now_over=False)
    assert not incremental(place, now_over=True)
    assert not incremental(None, now_over=False)
    for changed in ({"status": "Draft"}, {"status": "Cancelled"}, {"capacity": None}, {"slot_minutes": 15},
                    {"start": None}, {"end": None}, {"end": place.start}):
        assert not incremental(Session(**{**place.__dict__, **changed}), now_over=False), changed


def test_a_roster_names_only_who_holds_or_waits_or_waits_behind_their_own_booking() -> None:
    [reg] = Lists(random.Random(2)).regs() or [parse_registration("9", "2029-12-01T09:00:00Z", {
        "Title": "Ann", "Email": "ann@example.org", "SessionLookupId": "7", "Consent": True})]
    assert entry_of(reg, Decision("Confirmed", Notes.CONFIRMED, True), digest) == (
        "C", "2029-12-01T09:00:00Z", 9, "#ann@example.org")
    assert entry_of(reg, Decision("Waitlisted", Notes.WAITLISTED, True), digest)[0] == "W"  # type: ignore[index]
    assert entry_of(reg, Decision("NeedsAttention", Notes.DUPLICATE, False), digest)[0] == "D"  # type: ignore[index]
    assert entry_of(reg, Decision("NeedsAttention", Notes.NO_CONSENT, False), digest) is None
    assert entry_of(reg, Decision("Cancelled", Notes.CANCELLED_BY_YOU, True), digest) is None
    assert entry_of(reg, Decision("Confirmed", Notes.CONFIRMED, True, kept=True), digest) is None


def test_the_first_waiting_are_those_registered_first_then_by_id() -> None:
    place = session(2)
    roster = Roster(fingerprint(place, "plain"), {
        "1": ("C", "2029-12-01T09:00:00Z", 1, "#a"),
        "9": ("W", "2029-12-02T09:00:00Z", 9, "#z"),  # registered before 3 and 4, a later id
        "4": ("W", "2029-12-03T09:00:00Z", 4, "#b"),
        "3": ("W", "2029-12-03T09:00:00Z", 3, "#c"),  # the same minute as 4: the lower id first
        "2": ("D", "2029-12-01T10:00:00Z", 2, "#a")})
    assert roster.plan(place, set(), [], digest) == ({"9"}, 1)
    assert roster.plan(place, {"1"}, [], digest) == ({"9", "3", "2"}, 0)  # 2 is 1's person, booked again
    full = dataclasses.replace(roster, entries={**roster.entries, "5": ("C", "2029-12-01", 5, "#e")})
    assert full.plan(place, set(), [], digest) == (set(), 2)  # no place free: no one waiting is decided


def test_a_roster_agrees_with_the_mirror_only_on_its_session_and_statuses() -> None:
    roster = Roster("f", {"1": ("C", "", 1, "#a"), "2": ("W", "", 2, "#b"), "3": ("D", "", 3, "#c")})

    def item(item_id: str, status: str, group: str = "7") -> MirrorItem:
        return MirrorItem("Registrations", item_id, None, "", {"Status": status}, group)

    assert roster.agrees([item("1", "Confirmed"), item("2", "Waitlisted"), item("3", "NeedsAttention")], "7")
    assert roster.agrees([], "7")
    assert not roster.agrees([item("1", "Waitlisted")], "7")
    assert not roster.agrees([item("1", "Confirmed", group="8")], "7")  # moved to another session
    assert not roster.agrees([item("4", "Confirmed")], "7")  # not in the roster


def test_updating_replaces_what_was_decided_and_drops_what_changed() -> None:
    roster = Roster("f", {"1": ("C", "", 1, "#a"), "2": ("W", "", 2, "#b"), "3": ("D", "", 3, "#c")})
    updated = roster.updated({"2", "8"}, [("3", None), ("9", ("W", "", 9, "#d")), ("1", ("C", "", 1, "#a"))])
    assert updated == Roster("f", {"1": ("C", "", 1, "#a"), "9": ("W", "", 9, "#d")})
    assert roster.entries["2"] == ("W", "", 2, "#b")  # (a new roster: this one is as it was)


def test_an_id_that_is_not_a_number_orders_as_0() -> None:
    reg = parse_registration("x-7", "2029-12-01T09:00:00Z", {"Title": "Ann", "Email": "ann@example.org",
                                                            "SessionLookupId": "7", "Consent": True})
    assert entry_of(reg, Decision("Confirmed", Notes.CONFIRMED, True), digest) == (
        "C", "2029-12-01T09:00:00Z", 0, "#ann@example.org")


def test_a_session_read_differently_or_another_way_of_telling_people_apart_is_another_fingerprint() -> None:
    place = session(3)
    seen = {fingerprint(place, "plain"), fingerprint(place, "keyed")}
    for changed in ({"status": "Draft"}, {"capacity": 4}, {"start": NOW}, {"end": NOW + timedelta(days=9)},
                    {"slot_minutes": 15}, {"title": "Renamed", "description": "Now with a BSL interpreter."}):
        seen.add(fingerprint(dataclasses.replace(place, **changed), "plain"))
    assert len(seen) == 7  # (a new title or description changes no place: the same fingerprint)
    assert fingerprint(place, "plain") == f"2|plain|Open|3|{place.start}|{place.end}|0"


class TestStored:
    @pytest.fixture
    def store(self, tmp_path: Path) -> Any:
        db = SqliteStore(tmp_path / "state.sqlite3")
        yield db
        db.close()

    def test_a_roster_is_kept_stored_and_read_again_under_its_session_and_fingerprint(self, store: Any) -> None:
        rosters, place = Rosters(store, None), session(3)
        roster = Roster(fingerprint(place, "plain"), {"1": ("C", "2029-12-01", 1, "#a"), "x": ("W", "", 0, "#b")})
        rosters.keep("7", roster)
        assert rosters.get("7", place) is None  # (stored by save, not before)
        rosters.save()
        assert store.mirror.get(ROSTERS, "7") == MirrorItem(ROSTERS, "7", None, "", {
            "fingerprint": roster.fingerprint, "ids": "1,x", "codes": "CW", "created": "2029-12-01,",
            "people": "#a,#b"}, "7")
        assert rosters.get("7", place) == roster
        rosters.read(["7", "8"])  # (read at once: `get` then reads nothing more)
        store.mirror.delete(ROSTERS, ["7"])
        assert rosters.get("7", place) == roster and rosters.get("8", place) is None
        rosters.reset()
        assert rosters.get("7", place) is None
        rosters.keep("7", roster)
        rosters.save()
        assert rosters.get("7", dataclasses.replace(place, capacity=4)) is None  # read differently since
        assert Rosters(store, lambda identity: "k").get("7", place) is None  # people told apart another way
        rosters.save()  # (nothing more kept: nothing written)
        rosters.keep("7", None)
        rosters.save()
        assert store.mirror.get(ROSTERS, "7") is None and rosters.get("7", place) is None

    def test_a_roster_written_otherwise_is_not_used(self, store: Any) -> None:
        place, rosters = session(3), Rosters(store, None)
        good = {"ids": "1,2", "codes": "CW", "created": "a,b", "people": "#a,#b"}
        for wrong in ({"codes": "CX"}, {"codes": "C"}, {"people": "#a"}, {"ids": 12}, {"created": None},
                      {"created": "a"}, {"ids": "1,2,3"}):
            store.mirror.put([MirrorItem(ROSTERS, "7", None, "", {"fingerprint": fingerprint(place, "plain")}
                                         | good | wrong)])
            assert rosters.get("7", place) is None, wrong
        store.mirror.put([MirrorItem(ROSTERS, "7", None, "", {"fingerprint": fingerprint(place, "plain"),
                                                              "entries": {"1": ["C", "", 1, "#a"]}})])
        assert rosters.get("7", place) is None  # (as the first version wrote it)
        store.mirror.put([MirrorItem(ROSTERS, "7", None, "", {"fingerprint": fingerprint(place, "plain")} | good)])
        assert rosters.get("7", place) == Roster(fingerprint(place, "plain"), {"1": ("C", "a", 1, "#a"),
                                                                              "2": ("W", "b", 2, "#b")})

    def test_an_empty_roster_and_one_naming_a_comma_are_kept_as_they_can_be(self, store: Any) -> None:
        rosters, place = Rosters(store, None), session(3)
        rosters.keep("7", rosters.empty(place))
        rosters.keep("8", Roster(fingerprint(place, "plain"), {"1,2": ("C", "", 1, "#a")}))
        rosters.keep("9", Roster(fingerprint(place, "plain"), {"1": ("C", "2029,12", 1, "#a")}))
        rosters.save()
        assert rosters.get("7", place) == rosters.empty(place) and store.mirror.ids(ROSTERS) == {"7"}

    def test_a_session_too_big_for_a_roster_keeps_none(self, store: Any) -> None:
        rosters, place = Rosters(store, None), session(0)
        entry = ("C", "2029-12-01", 1, "#a")
        rosters.keep("7", Roster(fingerprint(place, "plain"), {str(n): entry for n in range(MOST)}))
        rosters.keep("8", Roster(fingerprint(place, "plain"), {str(n): entry for n in range(MOST + 1)}))
        rosters.save()
        assert store.mirror.ids(ROSTERS) == {"7"}

    def test_without_a_signing_key_a_person_is_their_plain_digest(self, store: Any) -> None:
        """Pinned: a change to how people are told apart must come with a new VERSION (see rosters.py)."""
        assert Rosters(store, None).digest("ann@example.org") == "438c4c7afe600cdf1e45"
        assert Rosters(store, lambda identity: f"k{identity}").digest("ann@example.org") == "kann@example.org"
