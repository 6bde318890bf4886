"""Runs that decide sessions from their rosters, over the emulator: after each, deciding every session in full
would change nothing in the list; a change costs the change (the unchanged registrations are not parsed); and a
run killed between storing the rosters and storing the mirror leaves the next run right.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from coprod.lists import mirror as mirror_module
from coprod.lists.mirror import mirror_item
from coprod.lists.records import parse_registration, parse_session
from coprod.registrations import sync as sync_module
from coprod.registrations.rosters import ROSTERS, Roster, Rosters, entry_of
from coprod.registrations.rules import allocate
from tests.support.programme import Programme, soon


def decided_in_full(programme: Programme) -> tuple[dict[str, tuple[Any, Any]], dict[str, Roster]]:
    """Every session decided in full, from the list as it is: what that would write ({id: (status, note)}), and
    the rosters it would make."""
    lists = programme.services.lists
    sessions = {i.id: parse_session(i.id, i.fields) for i in lists.iter_items("Sessions", label="Sessions")}
    by_session: dict[str, list[Any]] = {}
    for item in lists.iter_items("Registrations", label="Registrations"):
        reg = parse_registration(item.id, mirror_item("Registrations", item).created, item.fields)
        by_session.setdefault(reg.session_id or "", []).append(reg)
    now = datetime.now(UTC)
    wrong, rosters = {}, {}
    plain = Rosters(programme.store, None)
    for session_id, regs in by_session.items():
        decisions, _ = allocate(sessions.get(session_id), regs, now)
        for reg in regs:
            decision = decisions[reg.id]
            if not decision.kept and (reg.listed_status, reg.note) != (decision.status, decision.note):
                wrong[reg.id] = (decision.status, decision.note)
        if session_id in sessions:
            rosters[session_id] = plain.empty(sessions[session_id]).updated(
                (), ((r.id, entry_of(r, decisions[r.id], plain.digest)) for r in regs))
    return wrong, rosters


def left_to_change(programme: Programme) -> dict[str, tuple[Any, Any]]:
    """What deciding every session in full would write; and the rosters stored are those it would make."""
    wrong, rosters = decided_in_full(programme)
    plain = Rosters(programme.store, None)
    stored = {s: plain.get(s, parse_session(s, programme.fields(s, "Sessions"))) for s in rosters}
    assert stored == rosters
    return wrong


class Changes:
    """People changing their bookings at random: booking (some twice), cancelling, moving, correcting addresses."""

    def __init__(self, programme: Programme, sessions: list[str], seed: int) -> None:
        self.programme, self.sessions, self.rng = programme, sessions, random.Random(seed)
        self.people = 0
        self.regs: list[str] = []

    def book(self) -> None:
        self.people += 1
        address = f"p{self.rng.randint(0, 14)}@example.org"
        self.regs.append(self.programme.register(self.rng.choice(self.sessions), f"Person {self.people}", address))

    def some(self, n: int) -> None:
        for _ in range(n):
            what = self.rng.choice(["book", "book", "cancel", "address", "move", "delete", "consent", "needs",
                                    "session"])
            if what == "book" or not self.regs:
                self.book()
                continue
            if what == "session":  # an officer edits a session: its words, or its places
                self.programme.edit("Sessions", self.rng.choice(self.sessions), **self.rng.choice([
                    {"Description": "Now with a BSL interpreter."}, {"Capacity": self.rng.randint(0, 5)}]))
                continue
            item_id = self.rng.choice(self.regs)
            if what == "delete":
                self.regs.remove(item_id)
                self.programme.delete("Registrations", item_id)
            else:
                self.programme.edit("Registrations", item_id, **{
                    "cancel": {"Cancel": True}, "address": {"Email": f"p{self.rng.randint(0, 14)}@example.org"},
                    "move": {"SessionLookupId": self.rng.choice(self.sessions)}, "consent": {"Consent": False},
                    "needs": {"AccessNeeds": "A hearing loop, please."}}[what])


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the registrations the sync parses."""
    seen: list[str] = []

    def counting(item_id: str, created: str, fields: dict[str, Any]) -> Any:
        seen.append(item_id)
        return parse_registration(item_id, created, fields)

    monkeypatch.setattr(sync_module, "parse_registration", counting)
    return seen


@pytest.fixture
def env(request: pytest.FixtureRequest, env: dict[str, str]) -> dict[str, str]:
    """The state on SQLite, or (`azurite`) on Table Storage, where the rosters are packed in the mirror."""
    if getattr(request, "param", "sqlite") == "azurite":
        return env | {"COPROD_STATE": request.getfixturevalue("azurite"),
                      "COPROD_STATE_PREFIX": f"t{uuid.uuid4().hex[:12]}"}
    return env


@pytest.mark.parametrize("env", ["sqlite", "azurite"], indirect=True)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_runs_decided_from_rosters_leave_nothing_a_full_decision_would_change(
        programme: Programme, parses: list[str], seed: int) -> None:
    sessions = [programme.session(f"Session {n}", soon(), capacity=c) for n, c in enumerate([2, 3, 0, 4])]
    changes = Changes(programme, sessions, seed)
    for _ in range(40):
        changes.book()
    programme.sync()
    assert left_to_change(programme) == {}
    assert programme.store.mirror.ids(ROSTERS) == set(sessions)
    for _ in range(8):
        changes.some(3)
        parses.clear()
        programme.sync()
        assert left_to_change(programme) == {}
        assert len(parses) < len(changes.regs)  # (a change costs the change: not every booking parsed again)


def test_a_change_parses_the_change_and_no_more(programme: Programme, parses: list[str]) -> None:
    session = programme.session("Having choice", soon(), capacity=3)
    people = [programme.register(session, f"Person {n}") for n in range(30)]
    programme.sync()
    assert len(parses) == 30
    parses.clear()
    programme.edit("Registrations", people[0], Cancel=True)  # a place is free: the first waiting gets it
    programme.sync()
    assert sorted(parses) == sorted([people[0], people[3]])
    assert programme.statuses(people[0], people[3], people[4]) == ["Cancelled", "Confirmed", "Waitlisted"]


@pytest.mark.parametrize(("where", "call"), [("rosters", 1), ("flush", 1), ("flush", 2), ("link", 1)])
def test_a_run_killed_as_it_stores_what_it_did_leaves_the_next_run_right(
        programme: Programme, monkeypatch: pytest.MonkeyPatch, where: str, call: int) -> None:
    """Killed as it stores its rosters, its sessions' or registrations' mirror, or its delta link: whatever was
    stored, the next run reads the same changes again (with its own writes among them) and leaves every session as
    a full decision would."""
    sessions = [programme.session(f"Session {n}", soon(), capacity=c) for n, c in enumerate([2, 3])]
    changes = Changes(programme, sessions, 7)
    for _ in range(20):
        changes.book()
    programme.sync()
    owner, name = {"rosters": (Rosters, "save"), "flush": (mirror_module.ListMirror, "flush"),
                   "link": (sync_module, "save_link")}[where]
    real = getattr(owner, name)
    calls: list[int] = []

    def dies(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == call:
            raise SystemExit("killed")
        return real(*args, **kwargs)

    for _ in range(4):
        changes.some(4)
        calls.clear()
        monkeypatch.setattr(owner, name, dies)
        with pytest.raises(SystemExit):
            programme.sync()
        monkeypatch.setattr(owner, name, real)
        programme.sync()
        assert left_to_change(programme) == {}
