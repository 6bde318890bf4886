"""Runs that overlap, as Azure Functions' do (the timer, a manual run, several instances): nothing twice.

Two ways: six `python -m coprod sync --once` processes started together (the lease lets one work and the rest say
so and stop); and six runs in threads with no lease at all, as if each believed it held it (every side effect's
own conditional step keeps each email, invitation and row single). Both on SQLite and on Azure Table Storage
(Azurite), with 100 ms of latency on every Graph request so that the runs really overlap.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config import load_settings
from coprod.lists.provision import provision
from coprod.run import run_once
from coprod.runtime import Services
from graph_client import GraphClient, SharePointLists
from graph_emulator import EmulatorServer

ROOT = Path(__file__).resolve().parents[2]
GUESTS = [f"guest{n}@partner.example.org" for n in range(12)]


def when(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(params=["sqlite", "azurite"])
def shared_env(request: pytest.FixtureRequest, env: dict[str, str]) -> dict[str, str]:
    """Settings every runner shares: one store (a file, or one set of tables), one tenant."""
    if request.param == "azurite":
        return env | {"COPROD_STATE": request.getfixturevalue("azurite"),
                      "COPROD_STATE_PREFIX": f"t{uuid.uuid4().hex[:12]}"}
    return env


def seed(emulator: EmulatorServer, env: dict[str, str]) -> None:
    """Five sessions, 60 registrations (some asking for the mailing list), a dozen approved guests, 20 subscribers
    who agreed before, and an update ready to go."""
    settings = load_settings(env)
    with GraphClient.from_settings(settings) as graph:
        provision(SharePointLists(graph, settings.site_id))
    sp, site = emulator.backend.sharepoint, emulator.backend.site.id
    sessions = [str(sp.create_item(site, "Sessions", {"Title": f"Session {n}", "Status": "Open", "Capacity": 10,
                                                      "StartTime": when(7 + n), "EndTime": when(7.05 + n)}).id)
                for n in range(5)]
    for n in range(60):
        sp.create_item(site, "Registrations", {"Title": f"Person {n}", "Email": f"person{n}@example.org",
                                               "Consent": True, "SessionLookupId": sessions[n % 5],
                                               "JoinMailingList": n % 4 == 0})
    for address in GUESTS:
        sp.create_item(site, "GuestRequests", {"Title": "Guest", "Email": address, "Decision": "Approved"})
    for n in range(20):
        sp.create_item(site, "Subscribers", {"Title": f"Sub {n}", "Email": f"sub{n}@example.net",
                                             "Status": "Subscribed", "ConfirmedAt": "2026-01-01T10:00:00Z"})
    sp.create_item(site, "Updates", {"Title": "News", "Body": "Hello", "Ready": True})
    emulator.add_fault(status=0, latency_ms=100)  # every request: the runs overlap for real


def nothing_was_done_twice(emulator: EmulatorServer) -> None:
    backend = emulator.backend
    sent = backend.mail.sent(backend.sender)
    doubled = [mid for mid, n in Counter(m.internet_message_id for m in sent).items() if n > 1]
    assert doubled == []
    confirmations = Counter(a for m in sent if m.subject.startswith(("Your place is booked", "You're on the waiting"))
                            for a in m.to)
    assert len(confirmations) == 60 and set(confirmations.values()) == {1}  # each person heard once
    invited = Counter(i.address for i in backend.directory.invitations)
    assert invited == Counter(GUESTS)  # each guest invited once
    users = [u for u in backend.directory.users.values() if u.mail in GUESTS]
    assert sorted(u.mail for u in users) == sorted(GUESTS)  # one directory user each
    site = backend.site.id
    guest_rows = Counter(str(i.fields.get("Email"))
                         for i in backend.sharepoint.get_list(site, "GuestRequests").items.values())
    assert set(guest_rows.values()) == {1}
    subscriber_rows = Counter(str(i.fields.get("Email"))
                              for i in backend.sharepoint.get_list(site, "Subscribers").items.values())
    assert len(subscriber_rows) == 35 and set(subscriber_rows.values()) == {1}  # 20 imported + 15 joined
    updates = Counter(a for m in sent if m.subject == "News" for a in m.to)
    assert len(updates) == 20 and set(updates.values()) == {1}


@pytest.mark.slow
def test_six_runs_in_threads_with_no_lease_do_nothing_twice(emulator: EmulatorServer,
                                                             shared_env: dict[str, str]) -> None:
    """As if every runner believed it held the lease: each side effect's own conditional step must hold."""
    seed(emulator, shared_env)
    settings = load_settings(shared_env | {"COPROD_SEND_PER_MINUTE": "10000"})
    failures: list[BaseException] = []

    def runner() -> None:
        try:
            with Services.open(settings) as services:
                run_once(services, drain_seconds=120)
        except BaseException as error:  # reported by the test below
            failures.append(error)

    threads = [threading.Thread(target=runner) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    emulator.backend.faults.clear()
    for _ in range(2):  # what any runner left for the next run (a confirmation waiting for its meeting, say)
        with Services.open(settings) as services:
            run_once(services, drain_seconds=120)
    nothing_was_done_twice(emulator)


@pytest.mark.slow
def test_six_sync_commands_started_together_one_works_and_the_rest_say_so(
        emulator: EmulatorServer, shared_env: dict[str, str]) -> None:
    seed(emulator, shared_env)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("M365_", "COPROD_"))} | shared_env | {
        "COPROD_SEND_PER_MINUTE": "10000"}
    processes = [subprocess.Popen([sys.executable, "-m", "coprod", "sync", "--once"], cwd=ROOT, env=environment,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    outputs = [process.communicate(timeout=240) for process in processes]
    assert [process.returncode for process in processes] == [0] * 6, [err[-500:] for _, err in outputs]
    busy = [out for out, _ in outputs if out.startswith("Another run is working")]
    worked = [out for out, _ in outputs if out.startswith("Registrations:")]
    assert (len(worked), len(busy)) == (1, 5), outputs
    assert all(out.count("\n") == 1 and "this one did nothing" in out for out in busy)
    emulator.backend.faults.clear()
    for _ in range(2):
        settings = load_settings(shared_env | {"COPROD_SEND_PER_MINUTE": "10000"})
        with Services.open(settings) as services:
            run_once(services, drain_seconds=120)
    nothing_was_done_twice(emulator)


def test_status_shows_the_lease_and_the_last_run(env: dict[str, str], emulator: EmulatorServer,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from coprod.cli import main
    from coprod.store import open_store

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["provision"]) == 0
    assert main(["status"]) == 0
    assert "No run has finished yet." in capsys.readouterr().out
    assert main(["sync", "--once"]) == 0
    store = open_store(env["COPROD_STATE"])
    assert store.leases.acquire("sync", "other-host:4242:abc", 120)
    store.close()
    capsys.readouterr()
    assert main(["sync", "--once"]) == 0
    assert capsys.readouterr().out.startswith("Another run is working (held by other-host:4242:abc since ")
    assert main(["status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("A run is working: other-host:4242:abc, for ")
    assert lines[1].startswith("Last run: ") and lines[1].endswith(": done.")
    assert not any("@" in line for line in lines)
