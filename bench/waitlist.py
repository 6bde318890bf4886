"""The waiting list's worst case: one session of 10 places with 2,000 people waiting.

    python bench/waitlist.py [--waiting 2000] [--latency batch=300,delta=300,page=300] [--concurrency 4]

Prints Graph requests, the round trips on the critical path ("trips": with latency L a run waits at least trips x
L) and list writes (exact), SQLite statements (exact), wall and CPU time, and the process's peak memory, for:
- the first sync (10 confirmed, 2,000 waitlisted);
- one person leaving the queue (goal: at most 2 requests);
- one confirmed person leaving, so the first in the queue gets the place;
- 20 people leaving one by one, a run after each (goal: at most 6 requests and 3 writes a change);
- queueing the 2,000 waiting-list notices (goal: at most 2 s).
The emulator runs in its own process, so the CPU figures are the client's alone. `--latency` gives each kind of
round trip a real tenant's time (bench/registrations.py says which figures and why); without it, the emulator's own.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import LATENCY_HELP, Emulator, Trips, emulator_process, latencies, latency_line, slow_down
from config import load_settings
from coprod.lists.provision import provision
from coprod.registrations.messages import ParticipantMessages
from coprod.registrations.sync import RegistrationSync
from coprod.runtime import Services
from coprod.store import SqliteStore

PLACES = 10


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Meter:
    """Graph requests and SQLite statements, counted exactly."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.statements = 0
        self.trips = Trips()
        store = services.store
        assert isinstance(store, SqliteStore)
        store.database.connection.set_trace_callback(self._statement)

    def _statement(self, _sql: str) -> None:
        self.statements += 1

    def measure(self, label: str, work: Callable[[], int], goal: str = "") -> None:
        requests, statements = self.services.graph.stats["requests"], self.statements
        self.trips.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        writes = work()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"  {label:<44} {self.services.graph.stats['requests'] - requests:>8} {self.trips.count():>6} "
              f"{writes:>7} "
              f"{self.statements - statements:>10} {wall:>8.2f} s {cpu:>7.2f} s {peak_mb():>7.0f} MB"
              + (f"   [{goal}]" if goal else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=2000)
    parser.add_argument("--latency", type=latencies, default={}, help=LATENCY_HELP)
    parser.add_argument("--concurrency", type=int, default=4, help="$batch envelopes in flight at once (default 4)")
    args = parser.parse_args()
    now = datetime.now(UTC)
    print(f"One session of {PLACES} places, {PLACES + args.waiting:,} registrations ({args.waiting:,} waiting). "
          f"Latency: {latency_line(args.latency)}; {args.concurrency} $batch at once.\n")
    print(f"  {'':<44} {'requests':>8} {'trips':>6} {'writes':>7} {'statements':>10} {'wall':>10} {'CPU':>9} "
          f"{'peak':>10}")
    with emulator_process() as emulator, tempfile.TemporaryDirectory() as temp:
        settings = load_settings(emulator.reset() | {"COPROD_SIGNING_KEY": "bench-signing-key-0123456789abcdef",
                                                     "COPROD_GRAPH_CONCURRENCY": str(args.concurrency),
                                                     "COPROD_STATE": f"sqlite:///{Path(temp) / 'state.sqlite3'}"})
        with Services.open(settings) as services:
            provision(services.lists)
            slow_down(emulator.call, args.latency)
            meter = Meter(services)
            people = seed(emulator, now, args.waiting)
            sync = RegistrationSync(services.lists, services.store)
            meter.measure("first sync", lambda: sync.run().writes)
            messages = ParticipantMessages(services.store, services.outbox, services.signer,
                                           services.settings, clock=time.time)
            meter.measure(f"queue the {args.waiting:,} waiting-list notices",
                          lambda: sum(messages.run().queued.values()), "goal: <= 2 s")
            assert isinstance(services.store, SqliteStore)
            queued, stored = services.store.database.connection.execute(
                "SELECT count(*), sum(length(payload)) FROM outbox").fetchone()
            print(f"  {'  the outbox then holds':<44} {queued:>8,} {'':>6} emails in {stored / 1e6:.1f} MB "
                  f"({stored / max(queued, 1) / 1000:.1f} KB each, compressed)")
            emulator.edit("Registrations", people[PLACES + args.waiting // 2], {"Cancel": True})
            meter.measure("one person leaves the queue", lambda: sync.run().writes, "goal: <= 2 requests")
            emulator.edit("Registrations", people[0], {"Cancel": True})
            meter.measure("one confirmed person leaves (1 promoted)", lambda: sync.run().writes)
            totals = {"requests": services.graph.stats["requests"], "writes": 0}
            started = time.perf_counter()
            meter.trips.clear()
            for n in range(20):
                emulator.edit("Registrations", people[PLACES + 1 + n * 7], {"Cancel": True})
                totals["writes"] += sync.run().writes
            requests = services.graph.stats["requests"] - totals["requests"]
            print(f"  {'20 leave the queue, a run after each':<44} {requests:>8} {meter.trips.count():>6} "
                  f"{totals['writes']:>7} "
                  f"{'':>10} {time.perf_counter() - started:>8.2f} s {'':>9} {peak_mb():>7.0f} MB"
                  f"   [goal: <= 6 requests and <= 3 writes a change: {requests / 20:.1f} and "
                  f"{totals['writes'] / 20:.1f}]")


def seed(emulator: Emulator, now: datetime, waiting: int) -> list[str]:
    start = (now + timedelta(days=5)).replace(hour=10, minute=0, second=0, microsecond=0)
    [session] = emulator.seed("Sessions", [{
        "Title": "Carers' forum", "Theme": "Carers", "Status": "Open", "Capacity": PLACES,
        "StartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "EndTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}])
    first = (now - timedelta(days=20)).timestamp()
    people = [{"Title": f"Person {n}", "Email": f"person{n}@example.org", "SessionLookupId": session,
               "Consent": True, "Role": "Carer"} for n in range(PLACES + waiting)]
    return emulator.seed("Registrations", people, [first + n * 60 for n in range(len(people))])


if __name__ == "__main__":
    main()
