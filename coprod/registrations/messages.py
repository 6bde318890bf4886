"""Every message a participant (or a facilitator) gets, each queued exactly once.

From the registration sync's hand-offs: confirmed and promoted (the join link
and a calendar file), waitlisted (with their place in the queue), cancelled
(by them, or the whole session: a cancelling calendar file). From the
meeting sync: a session that changed title or time (an updated calendar file,
same UID, higher SEQUENCE) goes to everyone already told about it. From the
clock: a reminder a set time before (COPROD_REMINDER_HOURS), and the
facilitators' brief (COPROD_BRIEF_HOURS): numbers, the access needs to
prepare for (no addresses), the join link; once a session is over, "How was it?"
(coprod/registrations/feedback.py).

Every message is one email to one person (a brief: to the session's
facilitators), so nobody sees another participant's address. Each has an
outbox key made from the hand-off's key, or from person, session, kind and
session version, so reruns and crashes never send one twice. A person's
latest news is kept in the ledger (`told:registration-<id>`: the session
version and when), so a change is only sent to those who had the old details,
and a reminder not to someone who heard from us moments ago.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from config import Settings
from coprod import handoffs, i18n
from coprod.handoffs import (
    CANCEL,
    BookedOnlineIndex,
    BookingsAsked,
    ContactDue,
    MailFailed,
    MailQueue,
    MeetingRecord,
    MessageDue,
    SessionChanged,
    Told,
    mail_keys,
    pending,
)
from coprod.i18n import N_
from coprod.links import Signer
from coprod.lists.records import ASSISTED, HELD, Registration, parse_registration, parse_session, queue_positions
from coprod.registrations.appointments import appointment_view
from coprod.registrations.feedback import SessionFeedback
from coprod.registrations.notices import TeamNotices, contact_kind
from coprod.registrations.outcomes import Outcomes
from coprod.registrations.prereading import PreReading
from coprod.running import alone
from coprod.store import LedgerEntry, MirrorItem, StateStore
from coprod.templates import heard_link, privacy_link, render_email
from coprod.templates.calendar import SessionEvent, session_ics
from coprod.words import count, count_kind
from graph_client import Attachment, OutgoingMail

__all__ = ["MessageReport", "ParticipantMessages"]

log = logging.getLogger("coprod.registrations.messages")

EXPECTED = {"confirmed": "Confirmed", "promoted": "Confirmed", "waitlisted": "Waitlisted", "cancelled": "Cancelled"}
SUBJECTS = {  # each in the person's language (coprod/i18n.py)
    "confirmed": N_("Your place is booked: %(title)s"),
    "promoted": N_("A place has come up for you: %(title)s"),
    "waitlisted": N_("You're on the waiting list: %(title)s"),
    "changed": N_("A session you're signed up for has changed: %(title)s"),
    "cancelled_by_you": N_("Your place is cancelled: %(title)s"),
    "session_cancelled": N_("Cancelled: %(title)s"),
    "reminder": N_("Coming up: %(title)s"),
    "pre_reading": N_("Something to read before %(title)s"),
    "outcomes": N_("You said, we did: %(title)s"),
    "feedback": N_("How was it? %(title)s"),
    "facilitator_brief": N_("Your facilitator brief: %(title)s"),
}
# the links in a participant's email that open a page: in a Welsh email they open it in Welsh
PAGE_LINKS = ("cancel_link", "link", "heard_url", "privacy_url")


@dataclass
class MessageReport:
    queued: dict[str, int] = field(default_factory=dict)
    waiting_for_meeting: int = 0  # confirmations held until their session's meeting exists
    failed: int = 0  # could not be prepared (noted on the registration or session; the rest went on)

    def add(self, kind: str) -> None:
        self.queued[kind] = self.queued.get(kind, 0) + 1

    def line(self) -> str:
        queued = [count_kind(n, kind) for kind, n in sorted(self.queued.items())]
        parts = [", ".join(queued) + " queued"] if queued else []
        if self.waiting_for_meeting:
            parts.append(f"{count(self.waiting_for_meeting, 'confirmation')} waiting for the session's Teams meeting")
        if self.failed:
            parts.append(f"{count(self.failed, 'message')} could not be prepared (noted on the list)")
        return "Participant messages: " + ("; ".join(parts) if parts else "none due") + "."


class ParticipantMessages:
    def __init__(self, store: StateStore, outbox: MailQueue, signer: Signer, settings: Settings, *,
                 clock: Callable[[], float]) -> None:
        self.store = store
        self.outbox = outbox
        self.signer = signer
        self.settings = settings
        self.clock = clock
        self._queues: dict[str, dict[str, int]] = {}  # session -> its waiting list's positions, read once a run
        self._views: dict[str, tuple[dict[str, Any], MeetingRecord | None, str]] = {}
        self._online = BookedOnlineIndex(store.ledger, signer.digest)
        self._languages: dict[str, str] = {}  # registration -> the language of its emails, read once a run

    # --- what the booker typed --------------------------------------------------------------
    @staticmethod
    def record(item: MirrorItem) -> Registration:
        """A mirrored registration's record: parsed once for each message it is looked at for."""
        return parse_registration(item.item_id, item.created, item.fields)

    def booked_online(self, item: MirrorItem, reg: Registration) -> bool:
        """Whether this booking was made on the public pages, where anyone can type any address (BookedOnline)."""
        return reg.email is not None and self._online.has(item.group or "", reg.email)

    def name_for(self, item: MirrorItem, reg: Registration) -> str | None:
        """The name a person's emails greet them by: as the team entered it, or, for a booking made on the public
        pages (nobody has proved the address is the booker's), no more than a first name (`greeting_name`), so
        nothing else the booker typed reaches an inbox from the council's mailbox."""
        if self.booked_online(item, reg):
            return reg.greeting or None
        return reg.name_shown or None

    def run(self) -> MessageReport:
        """Queue what is due. A message that cannot be prepared fails alone: noted on its item, the rest go on."""
        report = MessageReport()
        PreReading(self, self._queue, self.settings.prereading_hours).run(report)  # first: see its docstring
        for entry, due in pending(self.store.ledger, MessageDue):
            with self._isolated(mail_keys.for_handoff(entry.key), due.message,
                                {"registration": due.registration, "session": due.session}, report):
                try:
                    with self.store.batch():  # its records and its email: one transaction
                        self._handoff(entry, due, report)
                except Exception:
                    handoffs.settle(self.store.ledger, entry, "failed", outcome="could not be prepared")
                    raise
        for entry, change in pending(self.store.ledger, SessionChanged):
            self._changed(entry, change, report)
        notices = TeamNotices(self)
        for entry, asked in pending(self.store.ledger, BookingsAsked):
            notices.bookings_link(asked, report)
            handoffs.settle(self.store.ledger, entry)
        SessionFeedback(self, self._queue, self._isolated).run(report)  # "How was it?", before the team's daily list
        notices.contact_digest(report)
        Outcomes(self, self._queue).run(report)
        now = datetime.fromtimestamp(self.clock(), UTC)
        for item in self.store.mirror.items("Sessions"):
            record = MeetingRecord.of(self.store.ledger, item.item_id)
            if record is None or record.deleted or parse_session(item.item_id, item.fields).status != "Open":
                continue
            if record.start - timedelta(hours=self.settings.reminder_hours) <= now < record.start:
                self._reminders(record, report)
            if record.start - timedelta(hours=self.settings.brief_hours) <= now < record.start:
                with self._isolated(mail_keys.brief(record.session_id, record.version), "facilitator_brief",
                                    {"session": record.session_id}, report):
                    self._brief(item, record, report)
        return report

    def _isolated(self, key: str, kind: str, about: dict[str, str], report: MessageReport
                  ) -> AbstractContextManager[None]:
        """One message's preparation, alone: an error nobody foresaw fails that message only, recorded like a
        message the outbox gave up on (`mail-failed`), so the registration or session gets a note."""
        def failed(error: Exception) -> None:
            report.failed += 1
            handoffs.record(self.store.ledger,
                            MailFailed(key, kind, f"could not be prepared ({type(error).__name__})", about))

        return alone(f"A {kind.replace('_', ' ')} message", failed)

    # --- what we know of a session and a person -----------------------------------------
    def session_view(self, session_id: str) -> tuple[dict[str, Any], MeetingRecord | None, str]:
        """(details for the templates, its meeting, its status: Open, Draft, Cancelled or Deleted), read once a
        run for each session (nothing changes them while the messages are prepared)."""
        if session_id not in self._views:
            self._views[session_id] = self._session_view(session_id)
        view, record, status = self._views[session_id]
        return dict(view), record, status

    def _session_view(self, session_id: str) -> tuple[dict[str, Any], MeetingRecord | None, str]:
        record = MeetingRecord.of(self.store.ledger, session_id)
        item = self.store.mirror.get("Sessions", session_id)
        parsed = parse_session(session_id, item.fields) if item else None
        view = {"title": record.title if record else (parsed.title if parsed else N_("the session")),
                "title_cy": parsed.title_cy if parsed else "",
                "start": record.start if record else (parsed.start if parsed else None),
                "end": record.end if record else (parsed.end if parsed else None),
                "join_url": record.join_url if record and not record.deleted else None, "appointment": None,
                "pre_reading": parsed.pre_reading if parsed else "", "question": parsed.question if parsed else ""}
        return view, record, parsed.status if parsed else "Deleted"

    def _language(self, registration_id: str) -> str:
        """The language a registration's emails are in (its Language column), read without parsing the rest, once
        a run (its email and its calendar file both ask)."""
        if registration_id not in self._languages:
            item = self.store.mirror.get("Registrations", registration_id) if registration_id else None
            self._languages[registration_id] = i18n.language(item.fields.get("Language")) if item else i18n.DEFAULT
        return self._languages[registration_id]

    def _for(self, item: MirrorItem, reg: Registration, view: dict[str, Any]) -> dict[str, Any]:
        """A session's details as one person is told them (coprod/registrations/appointments.py)."""
        session = self.store.mirror.get("Sessions", item.group or "")
        parsed = parse_session(session.item_id, session.fields) if session else None
        return appointment_view(view, parsed, reg, booked_online=self.booked_online(item, reg))

    def _told(self, registration_id: str) -> Told | None:
        return Told.of(self.store.ledger, registration_id)

    def _remember(self, registration_id: str, version: int, *, calendar: bool) -> None:
        """What this person last heard: the session version, when, and whether they ever had a calendar file."""
        before = self._told(registration_id)
        handoffs.put(self.store.ledger, Told(registration_id, version, self.clock(),
                                      calendar or bool(before and before.calendar)))

    def _cancel_link(self, registration_id: str, address: str, end: datetime | None) -> str:
        """Good until a day after the session ends (a day at least)."""
        grace = CANCEL.lifetime.total_seconds()
        lifetime = max(grace, ((end.timestamp() if end else self.clock()) - self.clock()) + grace)
        token = self.signer.make(CANCEL.purpose, f"{registration_id}:{self.signer.digest(address)}", lifetime)
        return CANCEL.url(self.settings.public_url, token)

    def _calendar(self, session_id: str, view: dict[str, Any], version: int, address: str, name: str | None,
                  cancel: bool = False, *, registration: str = "") -> Attachment:
        language = self._language(registration)
        view = i18n.in_language(view, language)
        event = SessionEvent(session_id, view["title"], view["start"], view["end"], view["join_url"], version,
                             view.get("location") or "", language)
        content = session_ics(event, organizer=self.settings.sender, organizer_name=self.settings.programme_name,
                              attendee=address, attendee_name=name, cancel=cancel,
                              now=datetime.fromtimestamp(self.clock(), UTC))
        method = "CANCEL" if cancel else "REQUEST"
        return Attachment("session.ics", f"text/calendar; method={method}", content)

    def _queue(self, key: str, template: str, to: str, name: str | None, view: dict[str, Any],
               report: MessageReport, attachments: tuple[Attachment, ...] = (), *, about: dict[str, str],
               **context: Any) -> None:
        language = self._language(about.get("registration", ""))
        words, view = i18n.translator(language), i18n.in_language(view, language)
        links = {"heard_url": heard_link(self.settings.public_url),
                 "privacy_url": privacy_link(self.settings.public_url)} | context
        links = {name: i18n.link_in(value, language) if name in PAGE_LINKS else value for name, value in links.items()}
        text, html = render_email(template, language, name=name or words.gettext("there"), session=view, **links)
        subject = words.gettext(SUBJECTS[template]) % {"title": view["title"]}
        mail = OutgoingMail(key=key, to=(to,), to_name=name, subject=subject, text=text, html=html,
                            attachments=attachments)
        if self.outbox.enqueue(mail, template, about):
            report.add(template)

    # --- the registration sync's hand-offs ------------------------------------------------
    def _handoff(self, entry: LedgerEntry, due: MessageDue, report: MessageReport) -> None:
        kind, registration_id, session_id = due.message, due.registration, due.session
        item = self.store.mirror.get("Registrations", registration_id)
        reg = self.record(item) if item else None
        status = reg.listed_status if reg else None
        address = reg.email if reg else None
        if reg is not None and status == EXPECTED.get(kind) and reg.contact in ASSISTED:
            # booked by an officer for someone who prefers the phone or post: no email; the team is told
            handoffs.record(self.store.ledger, ContactDue(registration_id, kind, session_id))
            handoffs.settle(self.store.ledger, entry, outcome="to be told by phone or post")
            report.add(contact_kind(self.settings, reg))
            return
        if item is None or reg is None or address is None or status != EXPECTED.get(kind):
            # gone, or its status moved on before we wrote (the newer hand-off says what happened)
            handoffs.settle(self.store.ledger, entry, outcome="not sent: status moved on")
            return
        name, online = self.name_for(item, reg), self.booked_online(item, reg)
        view, record, session_status = self.session_view(session_id)
        view = self._for(item, reg, view)
        if view["start"] is None or view["end"] is None:
            handoffs.settle(self.store.ledger, entry, outcome="not sent: session has no time")
            return
        key = mail_keys.for_handoff(entry.key)
        about = {"registration": registration_id, "session": session_id}
        if kind in ("confirmed", "promoted"):
            if record is None or record.deleted:
                report.waiting_for_meeting += 1
                return  # stays due: the confirmation carries the join link, so it waits for the meeting
            needs = reg.access_needs
            invitation = self._calendar(session_id, view, record.version, address, name, registration=registration_id)
            self._queue(key, kind, address, name, view, report, (invitation,), about=about,
                        access_needs="" if online else needs, access_needs_told=bool(needs), booked_online=online,
                        cancel_link=self._cancel_link(registration_id, address, view["end"]))
            self._remember(registration_id, record.version, calendar=True)
        elif kind == "waitlisted":
            self._queue(key, "waitlisted", address, name, view, report, about=about, position=self.position(item),
                        booked_online=online, cancel_link=self._cancel_link(registration_id, address, view["end"]))
            self._remember(registration_id, record.version if record else 0, calendar=False)
        else:  # cancelled
            told = self._told(registration_id)
            had_calendar = told is not None and told.calendar
            version = max(told.version if told else 0, record.version if record else 0)
            template = "session_cancelled" if session_status in ("Cancelled", "Deleted") else "cancelled_by_you"
            calendar = (self._calendar(session_id, view, version, address, name, cancel=True,
                                       registration=registration_id),) if had_calendar else ()
            self._queue(key, template, address, name, view, report, calendar, about=about, had_calendar=had_calendar)
        handoffs.settle(self.store.ledger, entry, outcome="queued")

    def position(self, item: MirrorItem) -> int:
        """Their place in the session's queue, as this run found it: each session's queue is read once a run, so
        queueing notices for a whole waiting list is linear."""
        session = item.group or ""
        if session not in self._queues:
            self._queues[session] = queue_positions(self.store.mirror.items("Registrations", group=item.group))
        queue = self._queues[session]
        return queue.get(item.item_id, len(queue) or 1)

    # --- a session's title or time changed -----------------------------------------------
    def _changed(self, entry: LedgerEntry, change: SessionChanged, report: MessageReport) -> None:
        session_id, version, previous = change.session, change.version, change.previous
        view, _, _ = self.session_view(session_id)
        before = {"title": previous.get("title"), "start": _when(previous.get("start"))} if previous else None
        for item in self.store.mirror.items("Registrations", group=session_id):
            reg = self.record(item)
            status = reg.listed_status
            if status in HELD and reg.contact in ASSISTED:
                if handoffs.record(self.store.ledger, ContactDue(item.item_id, "changed", session_id, version)):
                    report.add(contact_kind(self.settings, reg))
                continue
            told = self._told(item.item_id)
            address = reg.email
            if status not in ("Confirmed", "Waitlisted") or told is None or told.version >= version or address is None:
                continue  # only people who had the old details hear of the new ones
            key = mail_keys.changed(item.item_id, session_id, version)
            about = {"registration": item.item_id, "session": session_id}
            with self._isolated(key, "changed", about, report):
                name = self.name_for(item, reg)
                confirmed = status == "Confirmed"
                calendar = (self._calendar(session_id, view, version, address, name, registration=item.item_id),) \
                    if confirmed else ()
                self._queue(key, "changed", address, name, view, report, calendar, about=about, previous=before,
                            confirmed=confirmed, cancel_link=self._cancel_link(item.item_id, address, view["end"]))
                self._remember(item.item_id, version, calendar=confirmed)
        handoffs.settle(self.store.ledger, entry)

    # --- by the clock ------------------------------------------------------------------
    def _reminders(self, record: MeetingRecord, report: MessageReport) -> None:
        reminder_time = record.start.timestamp() - self.settings.reminder_hours * 3600
        view, _, _ = self.session_view(record.session_id)
        for item in self.store.mirror.items("Registrations", group=record.session_id):
            key = mail_keys.reminder(item.item_id, record.session_id, record.version)
            told = self._told(item.item_id)
            reg = self.record(item)
            address = reg.email
            if (reg.listed_status != "Confirmed" or told is None or told.at >= reminder_time
                    or address is None or reg.contact in ASSISTED or self.store.outbox.get(key) is not None):
                continue  # not booked, not told yet, told moments ago, or reminded already
            about = {"registration": item.item_id, "session": record.session_id}
            with self._isolated(key, "reminder", about, report):
                name = self.name_for(item, reg)
                self._queue(key, "reminder", address, name, self._for(item, reg, view), report, about=about,
                            cancel_link=self._cancel_link(item.item_id, address, view["end"]))

    @staticmethod
    def _appointments(parsed: Any, confirmed: list[Registration]) -> list[dict[str, Any]]:
        """A drop-in's appointments in time order, for its facilitators: a phone number only for one by phone."""
        found = []
        for reg in confirmed if parsed.drop_in else []:
            if reg.slot is None:
                continue
            found.append({"start": reg.slot, "end": reg.slot + timedelta(minutes=parsed.slot_minutes),
                          "name": reg.name_shown, "method": reg.method,
                          "phone": reg.phone if reg.method == "Phone" else ""})
        return sorted(found, key=lambda a: a["start"])

    def _brief(self, session: MirrorItem, record: MeetingRecord, report: MessageReport) -> None:
        parsed = parse_session(session.item_id, session.fields)
        team = parsed.facilitators
        key = self.outbox.unused_key(mail_keys.brief(record.session_id, record.version)) if team else None
        if key is None:
            return
        registrations = [self.record(r) for r in self.store.mirror.items("Registrations", group=record.session_id)]
        confirmed = [r for r in registrations if r.listed_status == "Confirmed"]
        needs = sorted({r.access_needs for r in confirmed if r.access_needs})
        assisted = [{"name": r.name_shown, "how": r.contact, "phone": r.phone} for r in confirmed if r.assisted]
        view, _, _ = self.session_view(record.session_id)
        appointments = self._appointments(parsed, confirmed)
        text, html = render_email("facilitator_brief", privacy_url=privacy_link(self.settings.public_url),
                                  session=view, capacity=parsed.capacity, confirmed=len(confirmed),
                                  access_needs=needs, assisted=assisted, appointments=appointments,
                                  waiting=sum(1 for r in registrations if r.listed_status == "Waitlisted"))
        if self.outbox.enqueue(OutgoingMail(key=key, to=tuple(team), text=text, html=html,
                                            subject=SUBJECTS["facilitator_brief"] % {"title": view["title"]}),
                               "facilitator_brief", {"session": record.session_id}):
            report.add("facilitator_brief")


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None
