"""Soak: overlapping runs, killed runs and a failing Graph; afterwards, was anything done twice, or left undone?

    python bench/soak.py                  # SQLite, then Azure Table Storage (Azurite, from npm)
    python bench/soak.py --store sqlite   # one of them

The programme: 1,000 registrations over 10 sessions of 80 places (800 places, 200 waiting), 100 of them joining
the mailing list and 50 asking for site access; 100 guest requests an admin approved; 300 subscribers who agreed
before; two updates for them. Graph fails a fifth of the time and more: 10% of all calls 429 (with Retry-After),
5% 503, and 20% of sends and invitations time out at the gateway *after* going through (504: the answer lost).

Three `python -m coprod sync --once` processes are started together, again and again; ten of them are killed with
SIGKILL at random moments; then runs go on, one at a time, until nothing is left to do. It prints, per store:
emails expected / sent / doubled / missing, invitations expected / made / doubled, meetings doubled, list rows
doubled, runs started / killed / found busy, and the wall time. The goal is 0 doubled and 0 missing.

Short timings keep it to minutes: a lost answer is checked after 3 s (COPROD_RECHECK_SECONDS), a dead runner's
lease runs out after 10 s (COPROD_LEASE_SECONDS), and the mailbox's limits are off.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Emulator, emulator_process

ROOT = Path(__file__).resolve().parent.parent
SESSIONS, PLACES, REGISTRATIONS, JOINING, ASKING = 10, 80, 1000, 100, 50
GUESTS, SUBSCRIBERS, UPDATES = 100, 300, ("Update one", "Update two")
ROUNDS, KILLS = 14, 10
FAULTS = [{"status": 429, "rate": 0.10, "retry_after": 0.2},
          {"status": 503, "rate": 0.05, "retry_after": 0.2},
          {"status": 504, "rate": 0.20, "path": "/sendMail$|/invitations$", "after": True}]


def seed(emulator: Emulator) -> None:
    start = time.time() + 10 * 86_400
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
    sessions = emulator.seed("Sessions", [{"Title": f"Soak session {n}", "Status": "Open", "Capacity": PLACES,
                                           "StartTime": iso(start + n * 86_400),
                                           "EndTime": iso(start + n * 86_400 + 3600)} for n in range(SESSIONS)])
    emulator.seed("Registrations", [
        {"Title": f"Person {n}", "Email": f"person{n}@example.org", "Consent": True,
         "SessionLookupId": sessions[n % SESSIONS], "JoinMailingList": n < JOINING,
         "WantsSiteAccess": JOINING <= n < JOINING + ASKING} for n in range(REGISTRATIONS)],
        created=[time.time() - 86_400 + n for n in range(REGISTRATIONS)])
    emulator.seed("GuestRequests", [{"Title": f"Guest {n}", "Email": f"guest{n}@partner.example.org",
                                     "Decision": "Approved"} for n in range(GUESTS)])
    emulator.seed("Subscribers", [{"Title": f"Subscriber {n}", "Email": f"sub{n}@example.net",
                                   "Status": "Subscribed", "ConfirmedAt": "2026-01-01T10:00:00Z"}
                                  for n in range(SUBSCRIBERS)])
    emulator.seed("Updates", [{"Title": title, "Body": "News for everyone.", "Ready": True} for title in UPDATES])


def expected_emails() -> Counter[tuple[str, str]]:
    """(recipient, what) of every email that should go, once each."""
    expected: Counter[tuple[str, str]] = Counter()
    for n in range(REGISTRATIONS):
        expected[(f"person{n}@example.org", "place")] += 1  # a confirmation or a waiting-list notice
    for n in range(JOINING):
        expected[(f"person{n}@example.org", "subscribe")] += 1
    for n in range(SUBSCRIBERS):
        for title in UPDATES:
            expected[(f"sub{n}@example.net", title)] += 1
    return expected


def what(subject: str) -> str:
    if subject.startswith(("Your place is booked", "You're on the waiting list")):
        return "place"
    if subject.startswith("Please confirm: updates"):
        return "subscribe"
    return subject


def runner(environment: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "coprod", "sync", "--once"], cwd=ROOT, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def quiet(environment: dict[str, str]) -> bool:
    """Nothing queued or being sent, no hand-off waiting: what a run would find to do is nothing."""
    sys.path.insert(0, str(ROOT))
    from coprod.store import open_store

    store = open_store(environment["COPROD_STATE"], prefix=environment.get("COPROD_STATE_PREFIX", "coprod"))
    try:
        counts = store.outbox.counts()
        waiting = [e for e in store.ledger.list(status="due") if e.kind in ("message", "guest-request", "subscriber")]
        return not counts.get("queued") and not counts.get("sending") and not waiting
    finally:
        store.close()


def soak(store_kind: str, emulator: Emulator, state: str) -> dict[str, Any]:
    emulator.reset()
    env = emulator.env()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("M365_", "COPROD_"))} | env | {
        "COPROD_SIGNING_KEY": "soak-signing-key-0123456789abcdefghijkl", "COPROD_STATE": state,
        "COPROD_STATE_PREFIX": f"soak{uuid.uuid4().hex[:8]}", "COPROD_PUBLIC_URL": "https://coprod.example.org",
        "COPROD_SEND_PER_MINUTE": "100000", "COPROD_SEND_PER_DAY": "1000000", "COPROD_RECHECK_SECONDS": "3",
        "COPROD_LEASE_SECONDS": "10", "COPROD_MAX_INVITES_PER_RUN": "1000"}
    subprocess.run([sys.executable, "-m", "coprod", "provision"], cwd=ROOT, env=environment, check=True,
                   capture_output=True)
    seed(emulator)
    emulator.call("POST", "/_emulator/faults", FAULTS)
    rng = random.Random(20261130)
    started_at = time.monotonic()
    started = killed = busy = 0
    rounds = 0
    while rounds < ROUNDS or (killed < KILLS and rounds < 3 * ROUNDS):
        rounds += 1
        processes = [runner(environment) for _ in range(3)]
        started += 3
        if killed < KILLS:  # at a random moment, whichever is still working (the one holding the lease, mostly)
            time.sleep(rng.uniform(0.3, 6.0))
            alive = [p for p in processes if p.poll() is None]
            if alive:
                rng.choice(alive).send_signal(signal.SIGKILL)
                killed += 1
        for process in processes:
            out, _ = process.communicate(timeout=900)
            busy += out.startswith("Another run is working")
        print(f"  … {store_kind}: round {rounds}, {killed} killed so far", file=sys.stderr, flush=True)
    emulator.call("DELETE", "/_emulator/faults")
    for _ in range(30):  # one at a time until quiet (a lost answer is settled after COPROD_RECHECK_SECONDS)
        time.sleep(3.5)
        result = subprocess.run([sys.executable, "-m", "coprod", "sync", "--once"], cwd=ROOT, env=environment,
                                capture_output=True, text=True, timeout=900, check=False)
        started += 1
        busy += result.stdout.startswith("Another run is working")
        if quiet(environment):
            break
    wall = time.monotonic() - started_at
    done = emulator.call("GET", "/_emulator/done")
    sent = Counter((address, what(m["subject"])) for m in done["sent"] for address in m["to"])
    expected = expected_emails()
    message_ids = Counter(m["internetMessageId"] for m in done["sent"])
    invited = Counter(i["address"] for i in done["invitations"])
    meetings = Counter(m["externalId"] for m in done["meetings"])
    return {
        "store": store_kind, "wall_s": round(wall), "rounds": rounds, "runs": started, "killed": killed,
        "busy": busy,
        "emails_expected": sum(expected.values()), "emails_sent": len(done["sent"]),
        "emails_doubled": sum(n - 1 for n in message_ids.values() if n > 1) + sum(
            n - 1 for key, n in sent.items() if n > 1 and key in expected),
        "emails_missing": sum(1 for key in expected if key not in sent),
        "emails_unexpected": sum(1 for key in sent if key not in expected),
        "invitations_expected": GUESTS, "invitations_made": len(invited),
        "invitations_doubled": sum(n - 1 for n in invited.values()),
        "meetings_doubled": sum(n - 1 for n in meetings.values()),
        "rows_doubled": rows_doubled(environment),
    }


def rows_doubled(environment: dict[str, str]) -> int:
    """GuestRequests and Subscribers rows beyond one per address, read through Graph."""
    from config import load_settings
    from graph_client import GraphClient, SharePointLists

    settings = load_settings(environment)
    doubled = 0
    with GraphClient.from_settings(settings) as graph:
        lists = SharePointLists(graph, settings.site_id)
        for name in ("GuestRequests", "Subscribers"):
            info = lists.find_list(name)
            assert info is not None
            rows = Counter(str(item.fields.get("Email")).lower() for item in lists.iter_items(info.id, label=name))
            doubled += sum(n - 1 for n in rows.values() if n > 1)
    return doubled


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "azurite", "both"], default="both")
    args = parser.parse_args()
    results = []
    with emulator_process() as emulator:
        if args.store in ("sqlite", "both"):
            state = Path(f"/tmp/soak-{uuid.uuid4().hex[:8]}.sqlite3")  # noqa: S108 - a scratch file of this run
            results.append(soak("sqlite", emulator, f"sqlite:///{state}"))
        if args.store in ("azurite", "both"):
            from tests.support.azurite import azurite_tables

            with azurite_tables() as connection:
                results.append(soak("azurite", emulator, connection))
    for result in results:
        print(json.dumps(result))
    keys = [k for k in results[0] if k != "store"]
    print(f"\n{'':22}" + "".join(f"{r['store']:>10}" for r in results))
    for key in keys:
        print(f"{key:22}" + "".join(f"{r[key]:>10}" for r in results))
    failed = any(r["emails_doubled"] or r["emails_missing"] or r["invitations_doubled"] or r["meetings_doubled"]
                 or r["rows_doubled"] or r["invitations_made"] != r["invitations_expected"] for r in results)
    print("\ngoal (0 doubled, 0 missing):", "NOT met" if failed else "met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
