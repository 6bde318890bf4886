"""Registration sync at scale: 10,000 registrations over 50 sessions, then 20 changed items.

    python bench/registrations.py [--size 50000] [--skip-naive] [--state azurite]
    python bench/registrations.py --latency batch=300,delta=300,page=300 --concurrency 4 --first-only

(`bench/waitlist.py` is the waiting list's worst case.)

Prints, for the delta-driven reconciler and for a naive approach on the same
emulator (re-read every item each run, one PATCH per changed item): Graph
requests, wall time and client CPU of the first sync, a sync with nothing
changed, and a sync after 20 items change. Goal (issue 3): the incremental
sync in at most 6 Graph requests. The emulator runs in its own process, so
the CPU figures are the client's alone. Request counts are exact; times vary
with the machine.

`--latency` gives each kind of Graph round trip the time a real tenant takes (the emulator's fault rules by
operation kind: `batch`, `delta`, `page`, `send`, `write`), and `--concurrency` the `$batch` envelopes in flight at
once (COPROD_GRAPH_CONCURRENCY). "store" is the state store's round trips (SQLite statements, or Table Storage
requests), also given by part (the mirror, the ledger of hand-offs, ...); on Table Storage with the seconds waited
for each part and the entities it wrote (an operation of an entity group transaction is one). "trips" is the round
trips on the critical path: the longest chain of requests each sent after the one before was answered (requests in
flight together count once), so with latency L the run waits at least trips x L.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import random
import re
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import LATENCY_HELP, Emulator, Trips, emulator_process, latencies, slow_down
from config import load_settings
from coprod.lists.provision import provision
from coprod.lists.records import parse_registration, parse_session
from coprod.registrations.rules import allocate
from coprod.registrations.sync import RegistrationSync
from coprod.runtime import Services
from coprod.store import SqliteStore

SESSIONS = 50
REGISTRATIONS = 10_000
CAPACITIES = (0, 150, 180, 200, 220)  # 0: no limit; 200 people each on average, so some sessions wait


@dataclass
class Figure:
    requests: int
    writes: int
    wall: float
    cpu: float
    peak: float  # the process's peak resident memory so far, MB
    store: int  # the state store's round trips: SQLite statements, or Table Storage HTTP requests
    trips: int = 0  # Graph round trips on the critical path (`critical_path`)

    def row(self, label: str) -> str:
        return (f"  {label:<34} {self.requests:>8} {self.trips:>6} {self.writes:>7} {self.wall:>8.2f} s "
                f"{self.cpu:>7.2f} s {self.peak:>6.0f} MB {self.store:>8}")


TRIPS = Trips()


STORE: Counter[str] = Counter()  # the state store's round trips, by part (the table a statement or request is for)
WAITED: Counter[str] = Counter()  # Table Storage: seconds waited for each part's requests (summed: some overlap)
WRITTEN: Counter[str] = Counter()  # Table Storage: entities each part wrote (each operation of a transaction is one)
PARTS = ("mirror", "ledger", "outbox", "checkpoints", "counters", "leases")
TABLE = re.compile(r"\b(?:coprod)?(listmirror|mirror|ledger|outbox|checkpoints|counters|leases)\b")


def part_of(text: str) -> str:
    """Which part of the store a SQL statement, or a Table Storage request (its URL, or a transaction's first
    lines), is for."""
    found = TABLE.search(text)
    return "other" if found is None else "mirror" if found.group(1) == "listmirror" else found.group(1)


def count_store_trips(services: Services) -> None:
    """Count what the state store does, by part: each SQLite statement, or each HTTP request to Table Storage (an
    entity group transaction is one, named by the table in its first operation)."""
    if isinstance(services.store, SqliteStore):
        connection = services.store.database.connection
        connection.set_trace_callback(lambda sql: STORE.update((part_of(sql),)))
        return
    from azure.core.pipeline.transport import RequestsTransport

    if not hasattr(RequestsTransport, "_bench_send"):
        RequestsTransport._bench_send = RequestsTransport.send

        def send(self: Any, request: Any, **kwargs: Any) -> Any:
            text, written = request.url, int(request.method != "GET")
            if "$batch" in text:
                body = request.body or b""
                body = body if isinstance(body, bytes) else str(body).encode()
                text, written = body[:3000].decode(errors="replace"), body.count(b"Content-ID:")
            part, began = part_of(text), time.perf_counter()
            STORE.update((part,))
            WRITTEN[part] += written
            try:
                return RequestsTransport._bench_send(self, request, **kwargs)
            finally:
                WAITED[part] += time.perf_counter() - began

        RequestsTransport.send = send


def by_part(before: tuple[Counter[str], ...]) -> str:
    """The store's round trips since `before` (`STORE`, `WAITED` and `WRITTEN` then), by part; on Table Storage
    with the seconds waited for them and the entities written."""
    now, waited, written = STORE - before[0], WAITED - before[1], WRITTEN - before[2]
    return ", ".join(f"{part} {now[part]:,}" + (f" ({waited[part]:.1f} s, {written[part]:,} entities written)"
                                                 if waited[part] else "")
                     for part in (*PARTS, "other") if now[part])


def measure(services: Services, run: Callable[[], int]) -> Figure:
    """One run's figures. The heap is collected first, so a run is not charged for collecting what the one
    before it (or the seeding) left."""
    before, store = services.graph.stats["requests"], sum(STORE.values())
    TRIPS.clear()
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    writes = run()
    return Figure(services.graph.stats["requests"] - before, writes, time.perf_counter() - wall,
                  time.process_time() - cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  sum(STORE.values()) - store, TRIPS.count())


def seed(emulator: Emulator, now: datetime, rng: random.Random, size: int = REGISTRATIONS
         ) -> tuple[list[str], list[str]]:
    sessions = []
    for n in range(SESSIONS):
        start = (now + timedelta(days=3 + n // 2)).replace(hour=10 + (n % 2) * 4, minute=0, second=0, microsecond=0)
        sessions.append({"Title": f"Session {n + 1}", "Theme": "Carers" if n % 3 == 0 else "Having choice",
                         "StartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "EndTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "Capacity": CAPACITIES[n % len(CAPACITIES)], "Status": "Open"})
    session_ids = emulator.seed("Sessions", sessions)
    people, created = [], []
    first = (now - timedelta(days=20)).timestamp()
    for n in range(size):
        email = f"person{n}@example.org"
        if n % 97 == 0:
            email = "person{n}(at)example.org"  # a typing mistake now and then
        people.append({"Title": f"Person {n}", "Email": email, "SessionLookupId": rng.choice(session_ids),
                       "Consent": n % 131 != 0, "Role": "Carer", "JoinMailingList": n % 4 == 0,
                       "WantsSiteAccess": n % 10 == 0})
        created.append(first + n * 60)
    return session_ids, emulator.seed("Registrations", people, created)


def twenty_changes(emulator: Emulator, services: Services, session_ids: list[str], rng: random.Random,
                   now: datetime, tag: str) -> None:
    """What a busy day looks like: 8 cancel, 6 register, 4 edit their details, 1 is deleted, 1 session edited."""
    confirmed = sorted((i.id for i in services.lists.iter_items("Registrations", label="Registrations")
                        if i.fields.get("Status") == "Confirmed"), key=int)  # not measured: picks the people
    chosen = rng.sample(confirmed, 13)
    for item_id in chosen[:8]:
        emulator.edit("Registrations", item_id, {"Cancel": True})
    for item_id in chosen[8:12]:
        emulator.edit("Registrations", item_id, {"AccessNeeds": "Please send the papers a week before."})
    emulator.delete("Registrations", chosen[12])
    emulator.seed("Registrations", [{"Title": f"Late {tag} {n}", "Email": f"late.{tag}.{n}@example.org",
                                     "SessionLookupId": rng.choice(session_ids), "Consent": True}
                                    for n in range(6)], [now.timestamp()] * 6)
    emulator.edit("Sessions", rng.choice(session_ids), {"Description": "Now with a BSL interpreter."})


def naive_sync(services: Services) -> int:
    """Re-read both lists in full, decide every session, PATCH each changed item on its own."""
    lists, now = services.lists, datetime.now(UTC)
    sessions = {i.id: parse_session(i.id, i.fields) for i in lists.iter_items("Sessions", label="Sessions")}
    by_session: dict[str | None, list[Any]] = {}
    for item in lists.iter_items("Registrations", label="Registrations"):
        created = item.created_date_time.isoformat() if item.created_date_time else ""
        reg = parse_registration(item.id, created, item.fields)
        by_session.setdefault(reg.session_id, []).append((reg, item.fields))
    writes = 0
    for session_id, entries in by_session.items():
        decisions, _ = allocate(sessions.get(session_id or ""), [r for r, _ in entries], now)
        for reg, fields in entries:
            decision = decisions[reg.id]
            changes = {k: v for k, v in (("Status", decision.status), ("StatusNote", decision.note))
                       if fields.get(k) != v}
            if changes:
                services.graph.send("update a registration", "PATCH",
                                    f"/sites/{services.settings.site_id}/lists/Registrations/items/{reg.id}/fields",
                                    json=changes)
                writes += 1
    return writes


def fresh(emulator: Emulator, state: Path | str, latency: dict[str, int] | None = None,
          concurrency: int = 4) -> Services:
    """A fresh tenant and store: `state` a SQLite file, or a Table Storage connection string; each kind of round
    trip in `latency` taking that many milliseconds (set once the lists are made)."""
    env = emulator.reset()
    settings = load_settings(env | {"COPROD_SIGNING_KEY": "bench-signing-key-0123456789abcdef",
                                    "COPROD_GRAPH_CONCURRENCY": str(concurrency),
                                    "COPROD_STATE": state if isinstance(state, str) else f"sqlite:///{state}"})
    services = Services.open(settings)
    provision(services.lists)
    count_store_trips(services)
    slow_down(emulator.call, latency or {})
    return services


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-naive-first", action="store_true",
                        help="skip the naive first sync (10,000 single PATCHes: the slowest part)")
    parser.add_argument("--skip-naive", action="store_true", help="measure the delta reconciler alone")
    parser.add_argument("--size", type=int, default=REGISTRATIONS, help="registrations (default 10,000)")
    parser.add_argument("--state", choices=("sqlite", "azurite"), default="sqlite",
                        help="where the state is kept (azurite: Table Storage, on Azurite from npm)")
    parser.add_argument("--latency", type=latencies, default={}, help=LATENCY_HELP)
    parser.add_argument("--concurrency", type=int, default=4, help="$batch envelopes in flight at once (default 4)")
    parser.add_argument("--first-only", action="store_true", help="the first sync alone (for paired timings)")
    args = parser.parse_args()
    now = datetime.now(UTC)
    print(f"Registration sync: {args.size:,} registrations over {SESSIONS} sessions (places "
          f"{', '.join(map(str, CAPACITIES))} in turn; 0 = no limit), then 20 changed items. Latency: "
          f"{', '.join(f'{k} {v} ms' for k, v in args.latency.items()) or 'none'}; "
          f"{args.concurrency} $batch at once.\n")
    print(f"  {'':<34} {'requests':>8} {'trips':>6} {'writes':>7} {'wall':>10} {'CPU':>9} {'peak':>9} {'store':>8}")
    with emulator_process() as emulator, tempfile.TemporaryDirectory() as temp, contextlib.ExitStack() as stack:
        if args.state == "azurite":
            from tests.support.azurite import azurite_tables

            services = fresh(emulator, stack.enter_context(azurite_tables()), args.latency, args.concurrency)
        else:
            services = fresh(emulator, Path(temp) / "ours.sqlite3", args.latency, args.concurrency)
        session_ids, _ = seed(emulator, now, random.Random(1), args.size)
        sync = RegistrationSync(services.lists, services.store)
        parts = STORE.copy(), WAITED.copy(), WRITTEN.copy()
        first = measure(services, lambda: sync.run().writes)
        print(first.row("delta reconciler: first sync"))
        print(f"  {'':<34} (store, by part: {by_part(parts)})")
        if args.first_only:
            services.close()
            return
        quiet = measure(services, lambda: sync.run().writes)
        print(quiet.row("  then nothing changed"))
        twenty_changes(emulator, services, session_ids, random.Random(2), now, "a")
        report_holder: list[Any] = []

        def incremental_run() -> int:
            report_holder.append(sync.run())
            return int(report_holder[-1].writes)

        parts = STORE.copy(), WAITED.copy(), WRITTEN.copy()
        incremental = measure(services, incremental_run)
        print(incremental.row("  then 20 items changed") + "   [goal: <= 6 requests]")
        print(f"  {'':<34} (store, by part: {by_part(parts)})")
        services.close()
        report = report_holder[-1]
        print(f"\n  The incremental run's writes: {report.decided} (status changes), {report.writes} items in all.")
        if args.skip_naive:
            return

        naive = fresh(emulator, Path(temp) / "naive.sqlite3")
        session_ids, _ = seed(emulator, now, random.Random(1))
        if args.skip_naive_first:
            RegistrationSync(naive.lists, naive.store).run()  # get the lists to the same starting point
            print("  naive: first sync                  (skipped)")
        else:
            print(measure(naive, lambda: naive_sync(naive)).row("naive: first sync"))
        print(measure(naive, lambda: naive_sync(naive)).row("  then nothing changed"))
        twenty_changes(emulator, naive, session_ids, random.Random(2), now, "b")
        print(measure(naive, lambda: naive_sync(naive)).row("  then 20 items changed"))
        naive.close()


if __name__ == "__main__":
    main()
