"""One run of the service: every job once (`coprod.run.jobs`, in their order), then the summary.

All lists' changes are read first, in one `$batch` (a quiet run is one Graph
request for the lists); each job then saves its own lists' delta links once it
has processed them, so one failing does not lose another's work.

`run_once` is the harness: a job starts only while the run's lease is still
ours; a job that stops on an error nobody foresaw does not stop the others (its
summary line says it stopped and why: the error's type and where, never its
message, which may quote personal data), and it picks up again next run from
its saved delta link; each job's numbers go to telemetry.

`run_held` is what the CLI and the timer call: `run_once` under the lease
(coprod/running/lease.py), so overlapping runs do not both work, and a record of
the run for `status`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from coprod.lists import resync
from coprod.lists.mirror import WRITE_REFUSED
from coprod.operating import telemetry
from coprod.permissions import explain
from coprod.run.jobs import RunContext, count, jobs
from coprod.running import describe
from coprod.running.lease import RunLease, record_run, run_outcome
from coprod.runtime import Services
from coprod.words import count as counted
from graph_client import DeltaResult, NotFoundError

__all__ = ["DRAIN_SECONDS", "LISTS", "RunResult", "describe", "run_held", "run_once"]

log = logging.getLogger("coprod.run")
LISTS = ("Sessions", "Registrations", "GuestRequests", "Subscribers", "Updates", "Contributions")
DRAIN_SECONDS = 240.0  # a timer run (every 5 minutes) sends for at most 4; the outbox keeps the rest
TAKEN_OVER = "another run took over the lease (this one stalled past it)"


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
    """Run every job once (`coprod.run.jobs`), in order; returns the summary, a line a job (no personal data).

    This is the harness: with a `lease`, a job starts only while the lease is still ours; a job that fails is
    noted in its line and the others still run; each job's numbers go to telemetry. `whole`: every list is read
    whole and held against the mirror (`coprod.lists.resync`), as it is anyway once every COPROD_RESYNC_HOURS,
    and for a list Graph said it missed telling us about."""
    lines: list[str] = []
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
    deadline = None if drain_seconds is None else services.clock() + drain_seconds
    context = RunContext(services, changes, progress, deadline)
    said: dict[str, str] = {}  # a job's line when it did not report: not run, or stopped
    stopped: set[str] = set()  # the jobs reading the lists that stopped: their changes wait for the next run
    order = jobs(context)
    for job in order:
        if not job.wanted(context):
            continue
        if lease is not None and lease.lost:
            said.setdefault(job.name, f"{job.name}: {job.skipped}: {TAKEN_OVER}.")
            continue
        try:
            report = job.run(context)
        except Exception as error:  # one job's bug must not stop the others, nor the emails
            said.setdefault(job.name, _stopped(job.name, error))
            stopped |= {job.name} if job.reads_lists else set()
            continue
        if report is not None:
            context.reports[job.name] = report
            count(job, report)
    for name in dict.fromkeys(job.name for job in order):  # each job's line, once all have run (a later one adds)
        report = context.reports.get(name)
        lines += [text for text in (report.line() if report is not None else None, said.get(name)) if text]
    refused = services.store.checkpoints.get(WRITE_REFUSED)
    if refused:
        lines.append(f"Lists: not written. {refused}")
    lost = lease is not None and lease.lost
    if changes is not None and wholly and not stopped and not lost:  # what the check found is acted on, mirrored
        resync.done(services.store, wholly, began, every=every, found=sum(changes[n].drift for n in checked))
    return lines


def _drift_line(changes: dict[str, DeltaResult], checked: list[str]) -> str:
    """What reading lists whole found: drift is the sign that the change feed lost something."""
    found = {name: changes[name].drift for name in checked if changes[name].drift}
    telemetry.drift(found)
    read = "every list" if len(checked) == len(LISTS) else ", ".join(checked)
    if not found:
        return f"Whole-list check: read {read} whole; nothing had been missed."
    each = ", ".join(f"{name} {n}" for name, n in found.items())
    return (f"Whole-list check: read {read} whole; {counted(sum(found.values()), 'change')} had been "
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
