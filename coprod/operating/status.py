"""What is waiting, and what the service did today, from the configured state store (so it works against Azure):
no personal data.

`python -m coprod status` prints it in words (it needs only the store's settings: no Microsoft 365 secret);
`GET /api/status` (function key) answers it as JSON. Besides what waits and the last run, it counts the bookings
that need an officer's attention now (as the last run mirrored the Registrations list) and what the service did
since midnight, UK time: bookings decided (confirmed, offered a place, waitlisted, cancelled), emails sent and
given up on, guests invited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from coprod.handoffs import BLOCKED, AddressBounces, GuestRequestDue, Invitation, MessageDue, SubscriberDue
from coprod.lists.mailing import parse_subscriber, parse_update
from coprod.lists.mirror import WRITE_REFUSED
from coprod.lists.records import parse_registration
from coprod.lists.requests import parse_guest_request
from coprod.lists.resync import last_check
from coprod.running.lease import LEASE, last_run
from coprod.store import MirrorItem, StateStore
from coprod.templates import UK
from coprod.words import count

__all__ = ["blocked", "status", "status_lines", "today"]

WAITING = {MessageDue.KIND: ("message to send", "messages to send"),
           GuestRequestDue.KIND: ("guest access request", "guest access requests"),
           SubscriberDue.KIND: ("mailing-list subscriber to add", "mailing-list subscribers to add")}


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Each list's Status, as its record reads it
STATUS_OF: dict[str, Callable[[MirrorItem], str]] = {
    "GuestRequests": lambda item: parse_guest_request(item.item_id, item.created, item.fields).status,
    "Subscribers": lambda item: parse_subscriber(item.item_id, item.fields).status,
    "Updates": lambda item: parse_update(item.item_id, item.fields).status,
}

DECIDED = {"confirmed": "confirmed", "promoted": "offered a place from the waiting list", "waitlisted": "waitlisted",
           "cancelled": "cancelled"}


def today(store: StateStore, now: float) -> dict[str, Any]:
    """What the service did since midnight, UK time: counts only."""
    midnight = datetime.fromtimestamp(now, UK).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    decided = dict.fromkeys(DECIDED, 0)
    for entry in store.ledger.list(kind=MessageDue.KIND):
        message = MessageDue.read(entry).message
        if entry.created >= midnight and message in decided:
            decided[message] += 1
    invited = sum(1 for e in store.ledger.list(kind=Invitation.KIND, status="done")
                  if e.updated >= midnight and e.payload.get("how") == "invited")
    failed = sum(1 for e in store.outbox.list("failed", limit=1_000_000) if e.updated >= midnight)
    return {"since": _iso(midnight), "bookings": decided, "emails_sent": store.outbox.sent_since(midnight)[0],
            "emails_failed": failed, "guests_invited": invited}


def status(store: StateStore, now: float | None = None) -> dict[str, Any]:
    """Counts and times only: who holds the lease (a process name), the last run, what waits, what was done today."""
    now = time.time() if now is None else now
    lease = store.leases.get(LEASE)
    run = last_run(store)
    waiting: dict[str, int] = {}
    for entry in store.ledger.list(status="due"):
        waiting[entry.kind] = waiting.get(entry.kind, 0) + 1

    def rows(list_name: str, state: str) -> int:
        return sum(1 for r in store.mirror.items(list_name) if STATUS_OF[list_name](r) == state)

    return {
        "lease": None if lease is None else {"holder": lease.holder, "since": _iso(lease.since),
                                             "expires": _iso(lease.expires), "held_for_s": round(now - lease.since)},
        "last_run": None if run is None else {"started": _iso(run.started), "finished": _iso(run.finished),
                                              "took_s": round(run.finished - run.started, 1), "outcome": run.outcome,
                                              "lines": list(run.lines)},
        "waiting": dict(sorted(waiting.items())),
        "needs_attention": sum(1 for r in store.mirror.items("Registrations")
                               if parse_registration(r.item_id, r.created, r.fields).listed_status == "NeedsAttention"),
        "guest_requests_awaiting": rows("GuestRequests", "AwaitingDecision"),
        "subscribers_pending": rows("Subscribers", "Pending"),
        "updates_sending": rows("Updates", "Sending"),
        "addresses_bounced": len(AddressBounces.stopped(store.ledger)),
        "subscribers_bouncing": rows("Subscribers", "Bouncing"),
        "emails": store.outbox.counts(),
        "blocked": blocked(store),
        "whole_check": None if (check := last_check(store)) is None else {"at": _iso(check["at"]),
                                                                          "found": check["found"]},
        "today": today(store, now),
    }


def blocked(store: StateStore) -> dict[str, str]:
    """What Microsoft 365 refuses the app right now (a permission or policy), in plain words, by what it stops.

    The emails' and the lists' writes are kept until they work again; the last run's summary says the rest
    (meetings, guest invitations, reading the lists)."""
    found = {"emails": store.checkpoints.get(BLOCKED), "list writes": store.checkpoints.get(WRITE_REFUSED)}
    run = last_run(store)
    for line in run.lines if run is not None else ():
        name, _, rest = line.partition(": ")
        if "Microsoft 365 would not let the app" in rest or "application access policy" in rest or \
                "guest invite settings" in rest:
            found.setdefault(name.lower(), rest)
    return {k: v for k, v in found.items() if v}


def status_lines(report: dict[str, Any]) -> list[str]:
    """The status in plain words, a line each."""
    lines: list[str] = [f"Blocked ({what}): {words}" for what, words in report.get("blocked", {}).items()]
    lease = report["lease"]
    if lease is not None:
        lines.append(f"A run is working: {lease['holder']}, for {lease['held_for_s']} s so far.")
    run = report["last_run"]
    if run is None:
        lines.append("No run has finished yet.")
    else:
        lines.append(f"Last run: {run['started']} to {run['finished']} ({run['took_s']} s): {run['outcome']}.")
    for kind, n in report["waiting"].items():
        singular, plural = WAITING.get(kind, (f"{kind} hand-off", f"{kind} hand-offs"))
        lines.append(f"{count(n, singular, plural)} waiting")
    for key, words in (("guest_requests_awaiting", ("guest access request", "not yet granted (see the "
                                                                           "GuestRequests list)")),
                       ("subscribers_pending", ("subscriber", "yet to confirm their address")),
                       ("updates_sending", ("update", "being sent to the mailing list"))):
        if report[key]:
            lines.append(f"{count(report[key], words[0])} {words[1]}")
    emails = report["emails"]
    for state, words_ in (("queued", "queued to send"), ("sending", "being checked after an interruption"),
                          ("failed", "could not be sent")):
        if emails.get(state):
            lines.append(f"{count(emails[state], 'email')} {words_}")
    if len(lines) == 1 + (lease is not None) + len(report.get("blocked", {})):
        lines.append("Nothing is waiting.")
    bounced, bouncing = report.get("addresses_bounced", 0), report.get("subscribers_bouncing", 0)
    if bounced:  # (not waiting: what the service has stopped doing, and why)
        lines.append(f"{count(bounced, 'address', 'addresses')} bounced: no booking emails go to "
                     f"{'it' if bounced == 1 else 'them'} until the booking's address is changed")
    if bouncing:
        lines.append(f"{count(bouncing, 'subscriber')} Bouncing: their updates came back undelivered 3 times, so "
                     "no more go (see the Subscribers list)")
    attention = report.get("needs_attention", 0)
    if attention:
        lines.append(f"{count(attention, 'booking')} {'needs' if attention == 1 else 'need'} attention: in the "
                     "Registrations list, filter Status by NeedsAttention; each one's Status note says what to fix")
    lines += _today_lines(report.get("today"))
    check = report.get("whole_check")
    if check and check["found"]:  # drift: the change feed lost something (acted on; worth knowing)
        lines.append(f"The lists were last read whole at {check['at']}: the runs had missed "
                     f"{count(check['found'], 'change')}, now acted on.")
    return lines


def _today_lines(done: dict[str, Any] | None) -> list[str]:
    """What the service did today, in words: one line, or none when it did nothing."""
    if not done:
        return []
    parts = [count(n, "booking") + " " + DECIDED[kind] for kind, n in done["bookings"].items() if n]
    parts += [count(done["emails_sent"], "email") + " sent"] if done["emails_sent"] else []
    parts += [count(done["emails_failed"], "email") + " could not be sent"] if done["emails_failed"] else []
    parts += [count(done["guests_invited"], "guest") + " invited"] if done["guests_invited"] else []
    return [f"Today (UK time): {', '.join(parts)}."] if parts else ["Today (UK time): nothing done yet."]
