"""One run of the service: every reconciler once, then the outbox, at the mailbox's rate.

Registrations first (places, and the hand-offs), then guest access, then a
Teams meeting for every Open session, then the messages (a confirmation
waits for its session's meeting, since it carries the join link).

All lists' changes are read first, in one `$batch` (a quiet run is one Graph
request for the lists); each reconciler then saves its own lists' delta links
once it has processed them, so one failing does not lose another's work.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from coprod.guests import GuestAccess
from coprod.listsync import read_changes
from coprod.mailinglist import MailingList
from coprod.meetings import MeetingSync
from coprod.messages import ParticipantMessages
from coprod.registrations import RegistrationSync
from coprod.runtime import Services

__all__ = ["DRAIN_SECONDS", "LISTS", "run_once"]

LISTS = ("Sessions", "Registrations", "GuestRequests", "Subscribers", "Updates")
DRAIN_SECONDS = 240.0  # a timer run (every 5 minutes) sends for at most 4; the outbox keeps the rest


def run_once(services: Services, progress: Callable[[str], None] = lambda message: None, *,
             drain_seconds: float | None = DRAIN_SECONDS) -> list[str]:
    """Run every reconciler once and drain the outbox; returns one summary line each (no personal data)."""
    changes = read_changes(services.lists, services.store, LISTS)
    registrations = RegistrationSync(services.lists, services.store, progress=progress,
                                     now=lambda: datetime.fromtimestamp(services.clock(), UTC)).run(changes)
    guests = GuestAccess(services.lists, services.directory, services.store, services.outbox, services.signer,
                         services.guest_config(), clock=services.clock, sleep=services.sleep,
                         progress=progress).run(changes)
    meetings = MeetingSync(services.lists, services.meetings, services.store, lobby=services.settings.meeting_lobby,
                           progress=progress).run()
    messages = ParticipantMessages(services.store, services.outbox, services.signer, services.message_config(),
                                   clock=services.clock).run()
    mailing_list = MailingList(services.lists, services.store, services.outbox, services.signer,
                               services.list_config(), clock=services.clock, progress=progress)
    subscribers = mailing_list.run(changes)
    deadline = None if drain_seconds is None else services.clock() + drain_seconds
    sent = services.outbox.drain(deadline=deadline, progress=progress)
    subscribers.writes += mailing_list.settle()
    return [registrations.line(), guests.line(), meetings.line(), messages.line(), subscribers.line(), sent.line()]
