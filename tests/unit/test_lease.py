"""One runner at a time (coprod/running/lease.py), as the people running it would notice it.

A run takes the lease `sync` for COPROD_LEASE_SECONDS and a thread renews it every third of that while the run
works. These tests use leases of about a second, so that a run can outlast its lease several times over in a
test: the renewal is what keeps a second runner out. Real time, generous margins (a renewal may come two thirds
of a lease late before anything is lost), and no assertion on how fast anything is.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from coprod.running.lease import LAST_RUN, LEASE, RunLease, holder_name, last_run, record_run, run_outcome
from coprod.store import Lease
from coprod.store.sqlite import SqliteStore

SECONDS = 0.9  # the lease; renewed every 0.3 s


class Counting:
    """The store, counting the lease's renewals; `fail` makes the next renewals raise, as a store unreachable
    for a moment does."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.acquired: list[float] = []
        self.fail = 0

    @property
    def leases(self) -> Counting:  # the store's leases part: this, counting
        return self

    def acquire(self, name: str, holder: str, seconds: float) -> bool:
        self.acquired.append(time.monotonic())
        if self.fail and len(self.acquired) > 1:
            self.fail -= 1
            raise ConnectionError("the store did not answer")
        return self.store.leases.acquire(name, holder, seconds)

    def get(self, name: str) -> Lease | None:
        return self.store.leases.get(name)

    def release(self, name: str, holder: str) -> None:
        self.store.leases.release(name, holder)


def rival_tries(store: SqliteStore, until: float) -> int:
    """Another runner starting again and again until `until` (monotonic); each must find the lease held."""
    tries = 0
    while time.monotonic() < until:
        with RunLease(store, seconds=SECONDS, holder="second") as second:
            assert not second.held, "a second runner started while the first was still working"
            assert second.other is not None and second.other.holder == "first"
        tries += 1
        time.sleep(0.05)
    return tries


def test_a_run_longer_than_its_lease_keeps_it_and_nobody_else_starts(store: SqliteStore) -> None:
    with RunLease(store, seconds=SECONDS, holder="first") as first:
        assert first.held
        assert rival_tries(store, time.monotonic() + SECONDS * 4) > 10
        assert not first.lost, "a lease renewed in time was taken for lost: every later step would be skipped"
    with RunLease(store, seconds=SECONDS, holder="second") as second:
        assert second.held, "the first run left its lease behind: the next run would wait for it to run out"


def test_a_run_longer_than_its_lease_does_every_step(env: dict[str, str]) -> None:
    """Every step of a run that outlasts its lease three times starts: none says 'not run'."""
    from config import load_settings
    from coprod.lists.provision import provision
    from coprod.run import run_once
    from coprod.runtime import Services

    with Services.open(load_settings(env)) as services:
        provision(services.lists)
        with RunLease(services.store, seconds=SECONDS) as lease:
            time.sleep(SECONDS * 3)
            lines = run_once(services, drain_seconds=60, lease=lease)
    assert lines and not [line for line in lines if "not run" in line], lines


def test_the_lease_is_renewed_every_third_of_its_length(store: SqliteStore) -> None:
    """Often enough that two missed beats still keep it; not so often that every moment is a storage write (each
    renewal is a transaction, billed in Azure)."""
    counting = Counting(store)
    with RunLease(counting, seconds=SECONDS * 2, holder="first"):  # type: ignore[arg-type]
        time.sleep(SECONDS * 3)
    renewals = len(counting.acquired) - 1
    assert 3 <= renewals <= 4 + 1, renewals  # every 0.6 s for 2.7 s: four (a slow machine: fewer, never more)
    gaps = [b - a for a, b in zip(counting.acquired, counting.acquired[1:], strict=False)]
    assert min(gaps) >= SECONDS * 2 / 3 * 0.9, gaps


def test_a_store_unreachable_for_a_beat_does_not_lose_the_lease(store: SqliteStore,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    counting = Counting(store)
    counting.fail = 1
    with (caplog.at_level(logging.WARNING, logger="coprod.lease"),
          RunLease(counting, seconds=SECONDS * 2, holder="first") as first):  # type: ignore[arg-type]
        assert rival_tries(store, time.monotonic() + SECONDS * 4) > 10
        assert not first.lost
    assert counting.fail == 0 and len(counting.acquired) >= 5, "the renewal stopped at the store's first error"
    assert [r.getMessage() for r in caplog.records] == [
        "Could not renew the run's lease (ConnectionError); trying again"]


def test_a_run_whose_lease_was_taken_finds_out_and_leaves_the_new_holder_alone(tmp_path: Path) -> None:
    """The run stalled past its lease (a paused instance) and another run took it: the renewal notices within a
    beat, and leaving does not release the lease the other run now holds."""
    offset = [0.0]
    store = SqliteStore(tmp_path / "state.sqlite3", clock=lambda: time.time() + offset[0])
    with RunLease(store, seconds=SECONDS * 2, holder="first") as first:
        offset[0] += SECONDS * 3  # first's lease has run out
        assert store.leases.acquire(LEASE, "second", 120)
        deadline = time.monotonic() + 10
        while not first.lost and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first.lost
    held = store.leases.get(LEASE)
    assert held is not None and held.holder == "second"


def test_leaving_stops_the_renewals(store: SqliteStore) -> None:
    counting = Counting(store)
    with RunLease(counting, seconds=SECONDS, holder="first") as first:  # type: ignore[arg-type]
        pass
    made = len(counting.acquired)
    time.sleep(SECONDS)
    assert len(counting.acquired) == made and store.leases.get(LEASE) is None
    assert first._thread is not None and not first._thread.is_alive()


def test_a_run_that_finds_the_lease_held_says_by_whom_since_when_and_for_how_long(store: SqliteStore) -> None:
    now = 1_700_000_000.0
    held = SqliteStore(":memory:", clock=lambda: now)
    assert held.leases.acquire(LEASE, "other-host:4242:abc", 120)
    with RunLease(held, holder="me", clock=lambda: now + 20.4) as lease:
        assert not lease.held and lease._thread is None
        assert lease.says_busy() == ("Another run is working (held by other-host:4242:abc since 22:13:20 UTC, for "
                                     "100 s more unless renewed); this one did nothing.")
    with RunLease(held, holder="me", clock=lambda: now + 500) as lease:
        assert "for 0 s more" in lease.says_busy()
    lease.other = None
    assert lease.says_busy() == "Another run has just finished; this one did nothing."


def test_the_holder_names_the_machine_and_process_and_is_unique() -> None:
    import os
    import socket

    names = {holder_name() for _ in range(50)}
    assert len(names) == 50
    host, pid, tag = next(iter(names)).rsplit(":", 2)
    assert (host, pid, len(tag)) == (socket.gethostname()[:40], str(os.getpid()), 6)


def test_the_last_run_is_recorded_with_its_outcome(store: SqliteStore) -> None:
    assert last_run(store) is None
    lines = ["Registrations: 2 confirmed.", "Teams meetings: stopped: HTTPError at client.py:9"]
    record_run(store, 10.0, 12.5, "host:1:abc", lines)
    got = last_run(store)
    assert got is not None
    assert (got.started, got.finished, got.holder, got.outcome, got.lines) == (
        10.0, 12.5, "host:1:abc", "some steps stopped", tuple(lines))
    assert run_outcome(["Registrations: 2 confirmed."]) == "done"


def test_a_last_run_recorded_without_its_lines_still_reads(store: SqliteStore) -> None:
    """A record written before runs kept their summary lines (or by hand) shows the run, with no lines."""
    store.checkpoints.set(LAST_RUN, '{"started": 1, "finished": 2, "holder": "h", "outcome": "done"}')
    got = last_run(store)
    assert got is not None and (got.outcome, got.lines) == ("done", ())


def test_two_runners_started_together_one_holds(store: SqliteStore) -> None:
    held: list[Any] = []
    barrier = threading.Barrier(4)

    def start(name: str) -> None:
        barrier.wait()
        with RunLease(store, seconds=SECONDS, holder=name) as lease:
            held.append(lease.held)
            barrier.wait()

    threads = [threading.Thread(target=start, args=(f"runner-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(held) == [False, False, False, True]


def test_a_long_machine_name_is_cut_to_forty_letters(monkeypatch: pytest.MonkeyPatch) -> None:
    """Azure's instance names can be long; the holder shown in status and logs keeps the first forty letters."""
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: "w" * 39 + "xyz")
    assert holder_name().split(":")[0] == "w" * 39 + "x"


def test_the_renewal_is_a_daemon_thread_named_for_what_it_does(store: SqliteStore) -> None:
    """A process killed mid-run must be able to exit (a daemon does not keep it alive), and a thread dump an
    operator takes names the thread."""
    with RunLease(store, seconds=SECONDS, holder="first") as first:
        assert first._thread is not None
        assert (first._thread.name, first._thread.daemon, first.other) == ("run-lease", True, None)


def test_leaving_does_not_wait_for_ever_on_a_renewal_the_store_never_answers(
        store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A renewal stuck in the store (a connection that hangs) does not hang the run at its end: leaving waits
    STOP_WAIT for it, then goes on."""
    import coprod.running.lease

    monkeypatch.setattr(coprod.running.lease, "STOP_WAIT", 0.2)
    stuck, answered = threading.Event(), threading.Event()

    class Hanging(Counting):
        def acquire(self, name: str, holder: str, seconds: float) -> bool:
            if self.acquired:
                stuck.set()
                answered.wait(30)
            return super().acquire(name, holder, seconds)

    with RunLease(Hanging(store), seconds=0.3, holder="first") as first:  # type: ignore[arg-type]
        assert stuck.wait(10)
        leaving = time.monotonic()
    left = time.monotonic() - leaving
    answered.set()
    assert first._thread is not None
    first._thread.join(10)
    assert left < 10, "leaving waited for the stuck renewal"  # 0.2 s; without the bound, the 30 s it hangs
