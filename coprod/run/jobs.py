"""The jobs of a run, in the order they run, each in one shape: a name, and `run(context)` giving a report.

A job here is a thin adapter: it builds the part of the service that does the work (coprod/registrations,
coprod/guests, ...) from the run's context, runs it, and counts what it did for telemetry. The harness
(`coprod.run.run_once`) owns the rest: the lease check before each job, a job that fails leaving the others to
run, and the summary line each report renders.

The order matters: the non-delivery reports first (a bounced address gets no more email, this very run); then the
lists' readers (places, then guest access, then contributions); a Teams meeting for every Open session; the
messages (a confirmation waits for its session's meeting, since it carries the join link); the texts and letters
of people booked by phone or post, which the messages hand on (when GOV.UK Notify is set up); retention, once a
day; the mailing list; the outbox, at the mailbox's rate; and last, the mailing list's progress on the updates it sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from coprod.contributions.published import PublishedContributions
from coprod.guests.access import GuestAccess
from coprod.mail.bounces import Bounces
from coprod.mailing.common import ListReport
from coprod.mailing.subscribers import MailingList
from coprod.meetings.sync import MeetingSync
from coprod.notify.client import Notify
from coprod.notify.send import TextsAndLetters
from coprod.operating import telemetry
from coprod.privacy import retention
from coprod.registrations.messages import ParticipantMessages
from coprod.registrations.sync import RegistrationSync
from coprod.runtime import Services
from graph_client import DeltaResult, Mail

__all__ = ["Job", "Metric", "Report", "RunContext", "jobs"]

Metric = tuple[str, int, dict[str, str]]  # (what, how many, its attributes): e.g. ("emails", 3, {"outcome": "sent"})


class Report(Protocol):
    def line(self) -> str | None:
        """The job's line in the run's summary (no personal data); None or "" for nothing to say."""


class Job(Protocol):
    """One part of a run. `reads_lists`: it acts on the lists' changes, so it waits when they cannot be read (and
    the whole-list check is not marked done when it stops). `skipped`: its line when the run lost its lease before
    it started."""

    name: str
    reads_lists: bool
    skipped: str

    def run(self, context: RunContext) -> Report | None:
        """Do the work; None when there was nothing due (no line)."""

    def wanted(self, context: RunContext) -> bool:
        """Whether it has anything to do this run (a job that reads the lists has not when they could not be
        read)."""

    def metrics(self, report: Any) -> Iterator[Metric]:
        """What the report counts, for telemetry."""


@dataclass
class RunContext:
    """What every job of one run shares."""

    services: Services
    changes: dict[str, DeltaResult] | None  # every list's changes, read once; None when they could not be read
    progress: Callable[[str], None]
    deadline: float | None  # when the outbox stops sending, this run (None: until it is empty)
    reports: dict[str, Any] = field(default_factory=dict)  # each job's report by name, for a later job's use

    def now(self) -> datetime:
        """The run's one clock, as a datetime."""
        return datetime.fromtimestamp(self.services.clock(), UTC)


class _Job:
    reads_lists = False
    skipped = "not run"
    name = ""

    def wanted(self, context: RunContext) -> bool:
        return context.changes is not None or not self.reads_lists

    def metrics(self, report: Any) -> Iterator[Metric]:
        return iter(())


class BouncesJob(_Job):
    """Non-delivery reports in the sending mailbox (coprod/mail/bounces.py): an address that bounced gets no more."""

    name = "Bounces"

    def __init__(self, context: RunContext) -> None:
        s = context.services
        settings = s.settings
        mail = Mail(s.graph, settings.sender) if settings.mail_transport == "graph" and "@" in settings.sender else None
        self.bounces = Bounces(s.store, mail, s.signer, settings.sender, clock=s.clock,
                               recheck_after=settings.recheck_seconds)
        s.outbox.wanted = self.bounces.wanted  # (even when this job does not run: what was known still holds)

    def run(self, context: RunContext) -> Report | None:
        return self.bounces.run()


class RegistrationsJob(_Job):
    name, reads_lists = "Registrations", True

    def run(self, context: RunContext) -> Report | None:
        s = context.services
        return RegistrationSync(s.lists, s.store, progress=context.progress, now=context.now,
                                signer=s.signer).run(context.changes)

    def metrics(self, report: Any) -> Iterator[Metric]:
        for status, n in report.decided.items():
            yield "registrations", n, {"status": status}


class GuestAccessJob(_Job):
    name, reads_lists = "Guest access", True

    def run(self, context: RunContext) -> Report | None:
        s = context.services
        return GuestAccess(s.lists, s.directory, s.store, s.outbox, s.signer, s.settings, clock=s.clock,
                           sleep=s.sleep, progress=context.progress).run(context.changes)

    def metrics(self, report: Any) -> Iterator[Metric]:
        yield "invitations", report.invited, {}


class ContributionsJob(_Job):
    """The Contributions list mirrored, for the "what we've heard" page; a published one's writer told once."""

    name, reads_lists = "Contributions", True

    def run(self, context: RunContext) -> Report | None:
        s = context.services
        return PublishedContributions(s.store, s.outbox, s.settings).run(context.changes or {})


class MeetingsJob(_Job):
    name = "Teams meetings"

    def run(self, context: RunContext) -> Report | None:
        s = context.services
        return MeetingSync(s.lists, s.meetings, s.store, now=context.now, lobby=s.settings.meeting_lobby,
                           progress=context.progress).run()


class MessagesJob(_Job):
    name = "Participant messages"

    def run(self, context: RunContext) -> Report | None:
        s = context.services
        return ParticipantMessages(s.store, s.outbox, s.signer, s.settings, clock=s.clock).run()


class NotifyJob(_Job):
    """Texts and letters through GOV.UK Notify (coprod/notify), when COPROD_NOTIFY_API_KEY is set: after the
    messages, which hand on what each person booked by phone or post is to be told."""

    name = "Texts and letters"

    def wanted(self, context: RunContext) -> bool:
        return context.services.settings.notify_api_key is not None

    def run(self, context: RunContext) -> Report | None:
        s = context.services
        with Notify(s.settings) as notify:
            return TextsAndLetters(s.store, notify, s.settings, s.signer, clock=s.clock).run()


class RetentionJob(_Job):
    """Once a day (coprod/privacy/retention.py)."""

    name, reads_lists = "Retention", True

    def run(self, context: RunContext) -> Report | None:
        s = context.services
        if not retention.due(s.store, s.clock):
            return None
        return retention.Retention(s.lists, s.store, s.settings.retention_days, clock=s.clock,
                                   progress=context.progress).run()


class MailingListJob(_Job):
    name, reads_lists = "Mailing list", True

    def __init__(self, context: RunContext) -> None:
        s = context.services
        self.mailing_list = MailingList(s.lists, s.store, s.outbox, s.signer, s.settings, clock=s.clock,
                                        progress=context.progress)
        s.outbox.checks["update"] = self.mailing_list.still_subscribed  # an update goes only to who still wants it

    def run(self, context: RunContext) -> Report | None:
        return self.mailing_list.run(context.changes)


class EmailsJob(_Job):
    """The outbox, at the mailbox's rate, until the run's deadline."""

    name = "Emails"

    def run(self, context: RunContext) -> Report | None:
        return context.services.outbox.drain(deadline=context.deadline, progress=context.progress)

    def metrics(self, report: Any) -> Iterator[Metric]:
        yield "emails", report.sent, {"outcome": "sent"}
        yield "emails", report.failed, {"outcome": "failed"}


class UpdatesProgressJob(_Job):
    """The mailing list's updates' progress (Status, SentCount), now that the outbox has sent what it could: its
    writes count in the mailing list's line. Only after the mailing list ran; without a lease the next run writes
    it, from the outbox."""

    name, skipped = "Mailing list", "the updates' progress not written"

    def __init__(self, mailing: MailingListJob) -> None:
        self.mailing = mailing

    def run(self, context: RunContext) -> Report | None:
        report: ListReport | None = context.reports.get(MailingListJob.name)
        if report is not None:
            report.writes += self.mailing.mailing_list.settle()
        return None

    def wanted(self, context: RunContext) -> bool:
        return MailingListJob.name in context.reports


def jobs(context: RunContext) -> list[Job]:
    """This run's jobs, in order."""
    mailing = MailingListJob(context)
    return [BouncesJob(context), RegistrationsJob(), GuestAccessJob(), ContributionsJob(),
            MeetingsJob(), MessagesJob(), NotifyJob(), RetentionJob(),
            mailing, EmailsJob(), UpdatesProgressJob(mailing)]


def count(job: Job, report: Any) -> None:
    """A job's numbers to telemetry (nothing when it is off)."""
    for what, n, attributes in job.metrics(report):
        telemetry.count(what, n, **attributes)
