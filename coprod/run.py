"""One run of the service: every reconciler once, then the outbox, at the mailbox's rate.

First the non-delivery reports in the sending mailbox (coprod/mail/bounces.py:
a bounced address is noted, and no more emails go to it, this very run); then
registrations (places, and the hand-offs), then guest access, then a
Teams meeting for every Open session, then the messages (a confirmation
waits for its session's meeting, since it carries the join link), the
mailing list, and once a day retention (coprod/privacy/retention.py).

All lists' changes are read first, in one `$batch` (a quiet run is one Graph
request for the lists); each reconciler then saves its own lists' delta links
once it has processed them, so one failing does not lose another's work.

`run_held` is what the CLI and the timer call: `run_once` under the lease
(coprod/lease.py), so overlapping runs do not both work, and a record of
the run for `status`.

Each reconciler handles its own items one at a time (a bad item is noted on
that item); and should one stop on an error nobody foresaw, the rest of the
run still goes on: its summary line says it stopped and why (the error's
type and where, never its message, which may quote personal data), and it
picks up again next run from its saved delta link.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from coprod.guests.access import GuestAccess
from coprod.guests.rules import GuestReport
from coprod.lease import RunLease, record_run, run_outcome
from coprod.lists import resync
from coprod.lists.mirror import WRITE_REFUSED
from coprod.mail.bounces import Bounces
from coprod.mail.outbox import DrainReport
from coprod.mailing.common import ListReport
from coprod.mailing.subscribers import MailingList
from coprod.meetings.sync import MeetingSync
from coprod.operating import telemetry
from coprod.permissions import explain
from coprod.privacy import retention
from coprod.registrations.messages import ParticipantMessages
from coprod.registrations.sync import RegistrationSync, SyncReport
from coprod.runtime import Services
from coprod.words import count
from graph_client import GraphError, Mail, NotFoundError

__all__ = ["DRAIN_SECONDS", "LISTS", "RunResult", "describe", "run_held", "run_once"]

log = logging.getLogger("coprod.run")
LISTS = ("Sessions", "Registrations", "GuestRequests", "Subscribers", "Updates")
DRAIN_SECONDS = 240.0  # a timer run (every 5 minutes) sends for at most 4; the outbox keeps the rest
TAKEN_OVER = "another run took over the lease (this one stalled past it)"
READERS = {"Registrations", "Guest access", "Mailing list"}  # the steps that act on the lists' changes


def describe(error: BaseException) -> str:
    """An error in words safe for a log: Graph's errors as they are (addresses masked), anything else by its type
    and the line that raised it (an exception's message may quote the value that broke it)."""
    if isinstance(error, GraphError):
        return str(error)
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(error).__name__}{where}"


@dataclass(frozen=True)
class RunResult:
    """A run's summary lines, or (`busy`) the one line saying another run holds the lease."""

    lines: tuple[str, ...] = ()
    busy: str | None = None


def run_held(services: Services, progress: Callable[[str], None] = lambda message: None, *,
             drain_seconds: float | None = DRAIN_SECONDS, whole: bool = False) -> RunResult:
    """`run_once` under the lease: one runner at a time. A run that finds it held does nothing. Without an access
    token nothing can be done: TokenError is raised before the lease is taken, naming the cause once."""
    started = services.clock()
    with telemetry.run_span() as span:
        services.graph.ensure_token()
        with RunLease(services.store, seconds=services.settings.lease_seconds, clock=services.clock) as lease:
            if span is not None:
                span.set_attribute("coprod.lease_held", lease.held)
            if not lease.held:
                return RunResult(busy=lease.says_busy())
            lines = run_once(services, progress, drain_seconds=drain_seconds, lease=lease, whole=whole)
            record_run(services.store, started, services.clock(), lease.holder, lines)
            if span is not None:
                span.set_attribute("coprod.outcome", run_outcome(lines))
            return RunResult(tuple(lines))


def run_once(services: Services, progress: Callable[[str], None] = lambda message: None, *,
             drain_seconds: float | None = DRAIN_SECONDS, lease: RunLease | None = None, whole: bool = False
             ) -> list[str]:
    """Run every reconciler once and drain the outbox; returns one summary line each (no personal data).

    With a `lease`, a step starts only while the lease is still ours: the mailing list and its settling too.
    `whole`: every list is read whole and held against the mirror (`coprod.lists.resync`), as it is anyway once
    every COPROD_RESYNC_HOURS, and for a list Graph said it missed telling us about."""
    lines: list[str] = []
    stopped: list[str] = []

    def lost() -> bool:
        return lease is not None and lease.lost

    def step(name: str, work: Callable[[], Any]) -> None:
        """`work` returns its report: its line goes in the summary, its numbers to telemetry."""
        if lost():
            lines.append(f"{name}: not run: {TAKEN_OVER}.")
            return
        try:
            report = work()
            lines.append(report.line())
            _count(report)
        except Exception as error:  # one reconciler's bug must not stop the others, nor the emails
            lines.append(_stopped(name, error))
            stopped.append(name)

    began = services.clock()
    every = whole or resync.due(services.store, services.clock, services.settings.resync_hours)
    wholly = set(LISTS) if every else resync.asked(services.store, LISTS)
    try:
        changes = resync.read_changes(services.lists, services.store, LISTS, wholly)
    except Exception as error:  # the lists cannot be read: what needs them waits; meetings and emails go on
        lines.append(_unreadable(error))
        changes = None
    checked = [name for name in LISTS if name in wholly and changes is not None and not changes[name].full]
    if changes is not None and checked:  # (a list read whole by its feed, the first time, had nothing to check)
        lines.append(_drift_line(changes, checked))
    now = lambda: datetime.fromtimestamp(services.clock(), UTC)  # noqa: E731 - the one clock, as a datetime
    settings = services.settings
    bounces = Bounces(services.store, Mail(services.graph, settings.sender) if settings.mail_transport == "graph"
                      and "@" in settings.sender else None, services.signer, settings.sender, clock=services.clock,
                      recheck_after=settings.recheck_seconds)
    services.outbox.wanted = bounces.wanted
    if not lost():
        try:
            said = bounces.run().line()  # (a line only when there were reports, or they could not be read)
            lines += [said] if said else []
        except Exception as error:
            lines.append(_stopped("Bounces", error))
    if changes is not None:
        step("Registrations", lambda: RegistrationSync(services.lists, services.store, progress=progress, now=now,
                                                       signer=services.signer).run(changes))
        step("Guest access", lambda: GuestAccess(
            services.lists, services.directory, services.store, services.outbox, services.signer,
            services.guest_config(), clock=services.clock, sleep=services.sleep, progress=progress
        ).run(changes))
    step("Teams meetings", lambda: MeetingSync(services.lists, services.meetings, services.store, now=now,
                                               lobby=services.settings.meeting_lobby, progress=progress).run())
    step("Participant messages", lambda: ParticipantMessages(
        services.store, services.outbox, services.signer, services.message_config(), clock=services.clock).run())
    mailing_list = MailingList(services.lists, services.store, services.outbox, services.signer,
                               services.list_config(), clock=services.clock, progress=progress)
    services.outbox.checks["update"] = mailing_list.still_subscribed
    subscribers: ListReport | None = None
    if changes is not None and lost():
        lines.append(f"Mailing list: not run: {TAKEN_OVER}.")
    elif changes is not None:
        try:
            subscribers = mailing_list.run(changes)
        except Exception as error:
            lines.append(_stopped("Mailing list", error))
            stopped.append("Mailing list")
    if changes is not None and retention.due(services.store, services.clock):
        step("Retention", lambda: retention.Retention(services.lists, services.store, services.settings.retention_days,
                                                      clock=services.clock, progress=progress).run())
    deadline = None if drain_seconds is None else services.clock() + drain_seconds
    step("Emails", lambda: services.outbox.drain(deadline=deadline, progress=progress))
    if subscribers is not None:
        settles = not lost()
        if settles:
            try:  # the updates' progress (Status, SentCount), now that the outbox has sent what it could
                subscribers.writes += mailing_list.settle()
            except Exception as error:
                log.error("Mailing list: the updates' progress was not written: %s", describe(error))
        lines.insert(len(lines) - 1, subscribers.line())
        if not settles:  # the next run writes it, from the outbox
            lines.append(f"Mailing list: the updates' progress not written: {TAKEN_OVER}.")
    refused = services.store.checkpoints.get(WRITE_REFUSED)
    if refused:
        lines.append(f"Lists: not written. {refused}")
    if changes is not None and wholly and not READERS & set(stopped) and not lost():  # drift acted on, mirrored
        resync.done(services.store, wholly, began, every=every, found=sum(changes[n].drift for n in checked))
    return lines


def _count(report: Any) -> None:
    """A step's numbers to telemetry (nothing when it is off): emails sent and failed, invitations, registrations
    decided by their new status."""
    if isinstance(report, DrainReport):
        telemetry.count("emails", report.sent, outcome="sent")
        telemetry.count("emails", report.failed, outcome="failed")
    elif isinstance(report, GuestReport):
        telemetry.count("invitations", report.invited)
    elif isinstance(report, SyncReport):
        for status, n in report.decided.items():
            telemetry.count("registrations", n, status=status)


def _drift_line(changes: dict[str, Any], checked: list[str]) -> str:
    """What reading lists whole found: drift is the sign that the change feed lost something."""
    found = {name: changes[name].drift for name in checked if changes[name].drift}
    telemetry.drift(found)
    read = "every list" if len(checked) == len(LISTS) else ", ".join(checked)
    if not found:
        return f"Whole-list check: read {read} whole; nothing the change feed had missed."
    each = ", ".join(f"{name} {n}" for name, n in found.items())
    return (f"Whole-list check: read {read} whole; {count(sum(found.values()), 'difference')} the change feed had "
            f"missed ({each}), acted on now.")


def _unreadable(error: Exception) -> str:
    """The run's line when the lists' changes cannot be read: a missing permission in plain words, else the error."""
    refused = explain("lists-read", error)
    if isinstance(error, NotFoundError):  # the site or a list is not there: most often, not provisioned yet
        log.error("Reading the lists: %s", describe(error))
        return ("Lists: not found on the site. If they have not been created yet, run `python -m coprod provision` "
                "once; otherwise check M365_SITE_ID. Until then registrations, guest requests and the mailing list "
                "wait.")
    if refused:
        log.error("Reading the lists: %s", describe(error))
        return f"Lists: not read. {refused}"
    log.error("Reading the lists stopped: %s", describe(error))
    return (f"Lists: not read ({describe(error)}); registrations, guest requests and the mailing list wait for "
            "the next run.")


def _stopped(name: str, error: Exception) -> str:
    log.error("%s stopped: %s", name, describe(error))
    return f"{name}: stopped by an unexpected error ({describe(error)}); it carries on next run."
