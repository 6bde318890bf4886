"""What the whole-list check costs (coprod/lists/resync.py), with N registrations (default 1,000) on the emulator.

    python bench/resync.py [N] [--latency batch=300,delta=300,page=300]

Prints the Graph requests, the round trips on the critical path ("trips": with latency L a run waits at least
trips x L; `--latency` gives each kind a real tenant's time, see bench/registrations.py) and the time of: a quiet
run; a run with the whole-list check that finds nothing; and one that finds 10 edits no change feed reported (the
emulator's silent edits). Emails are left queued (none is sent), so only the lists are measured.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import LATENCY_HELP, Trips, latencies, latency_line
from config import load_settings
from coprod.lists.provision import provision
from coprod.run import run_held
from coprod.runtime import Services
from graph_emulator import EmulatorServer
from tests.conftest import SIGNING_KEY

SILENT_EDITS = 10


TRIPS = Trips()


def measured(emulator: EmulatorServer, services: Services, label: str, *, whole: bool, count: int) -> None:
    emulator.backend.log.clear()
    TRIPS.clear()
    began = time.perf_counter()
    lines = run_held(services, drain_seconds=0, whole=whole).lines
    took = time.perf_counter() - began
    said = [line for line in lines if line.startswith("Whole-list check:")]
    print(f"{count:,} registrations, {label}: {emulator.backend.log.summary()['requests']} requests, "
          f"{TRIPS.count()} trips, {took:.2f} s"
          + (f"; {said[0]}" if said else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, nargs="?", default=1000, help="registrations (default 1,000)")
    parser.add_argument("--latency", type=latencies, default={}, help=LATENCY_HELP)
    args = parser.parse_args()
    count = args.count
    print(f"Latency: {latency_line(args.latency)}.")
    with tempfile.TemporaryDirectory() as folder, EmulatorServer() as emulator:
        env = emulator.env() | {"COPROD_SIGNING_KEY": SIGNING_KEY, "COPROD_STATE": f"sqlite:///{folder}/s.sqlite3",
                                "COPROD_PUBLIC_URL": "https://coprod.example.org"}
        with Services.open(load_settings(env)) as services:
            provision(services.lists)
            sp, site = emulator.backend.sharepoint, emulator.backend.site.id
            session = sp.create_item(site, "Sessions", {
                "Title": "Bench", "Status": "Open", "Capacity": 0, "StartTime": "2030-01-01T10:00:00Z",
                "EndTime": "2030-01-01T11:00:00Z"}).id
            for n in range(count):
                sp.create_item(site, "Registrations", {"Title": f"Person {n}", "Email": f"person{n}@example.org",
                                                       "Consent": True, "SessionLookupId": str(session)})
            for _ in range(3):  # the first sync, its writes coming back, and quiet
                run_held(services, drain_seconds=0)
            for kind, ms in args.latency.items():
                emulator.add_fault(kind=kind, latency_ms=ms)
            measured(emulator, services, "quiet run", whole=False, count=count)
            measured(emulator, services, "whole-list check, nothing missed", whole=True, count=count)
            for n in range(SILENT_EDITS):
                sp.update_fields(site, "Registrations", str(n + 1), {"Title": f"Quietly renamed {n}"}, silent=True)
            measured(emulator, services, f"whole-list check, {SILENT_EDITS} silent edits", whole=True, count=count)


if __name__ == "__main__":
    main()
