""""How was it?": once a session is over, everyone who had a place is asked how it went, once.

When an Open session has ended (and Teams has had its say on who came: the session's attendance is recorded, or a
day has passed without it, `ATTENDANCE_WAIT`), each registration that held a place (Confirmed) and was not marked
Attended No is asked:
- by email, if that is how they hear from us: one short email with a signed link (`FEEDBACK`, good for 7 days) to
  the feedback page (coprod/pages/feedback.py), which asks for a rating from 1 to 5, whether they felt listened to,
  and an optional comment;
- booked by phone or post: the team's daily list says to ask them (`ContactDue`, message `feedback`).
Once per person and session (the email's outbox key; the ContactDue's key), and the session is marked asked
(`records.feedback_asked`) once all are queued, so later runs look at none of its bookings again. A session that
ended more than `FEEDBACK_WINDOW` ago is never asked about: a service switched on for the first time, or back after
days away, does not email people about sessions long past.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from coprod import handoffs
from coprod.handoffs import FEEDBACK, ContactDue, mail_keys, records
from coprod.lists.records import ASSISTED, parse_session
from coprod.registrations.notices import Counts, Source, contact_kind

__all__ = ["ATTENDANCE_WAIT", "FEEDBACK_WINDOW", "SessionFeedback"]

FEEDBACK_WINDOW = timedelta(days=2)  # a session that ended longer ago than this is never asked about
ATTENDANCE_WAIT = timedelta(hours=24)  # asked once attendance is recorded, or this long after the end without it

Isolated = Callable[[str, str, dict[str, str], Any], AbstractContextManager[None]]


class SessionFeedback:
    """Run by the participant messages (`Source`), with their `_queue` (renders and queues one email) and their
    `_isolated` (one message that fails unforeseen is noted on its registration; the others go on)."""

    def __init__(self, messages: Source, queue: Any, isolated: Isolated) -> None:
        self.messages = messages
        self.queue = queue
        self.isolated = isolated

    def run(self, report: Counts) -> None:
        store, now = self.messages.store, datetime.fromtimestamp(self.messages.clock(), UTC)
        asked = {e.key for e in store.ledger.list(kind="feedback-asked")}  # one query a run, not one a session
        attended: set[str] | None = None  # the sessions whose attendance is recorded, read once if needed
        for item in store.mirror.items("Sessions"):
            session = parse_session(item.item_id, item.fields)
            end = session.end
            if (session.status != "Open" or end is None or not end <= now <= end + FEEDBACK_WINDOW
                    or records.feedback_asked(item.item_id) in asked):
                continue
            if attended is None:
                attended = {e.key for e in store.ledger.list(kind="attendance")}
            if records.attendance(item.item_id) not in attended and now < end + ATTENDANCE_WAIT:
                continue  # who came is not known yet: nobody who missed it is asked how it was
            people = self._ask(item.item_id, report)
            store.ledger.put(records.feedback_asked(item.item_id), "feedback-asked", "done",
                             {"at": now.timestamp(), "people": people})

    def _ask(self, session_id: str, report: Counts) -> int:
        """Each person who had a place and was not marked absent, asked once; how many."""
        view, _, _ = self.messages.session_view(session_id)
        public_url, signer = self.messages.settings.public_url, self.messages.signer
        people = 0
        for mirrored in self.messages.store.mirror.items("Registrations", group=session_id):
            reg = self.messages.record(mirrored)
            if reg.listed_status != "Confirmed" or reg.attended == "No":
                continue
            if reg.contact in ASSISTED:  # booked by phone or post: the team's daily list says to ask them
                if handoffs.record(self.messages.store.ledger, ContactDue(reg.id, "feedback", session_id)):
                    report.add(contact_kind(self.messages.settings, reg))
                people += 1
                continue
            address = reg.email
            if address is None:
                continue
            key = mail_keys.feedback(reg.id, session_id)
            about = {"registration": reg.id, "session": session_id}
            with self.isolated(key, "feedback", about, report):
                token = signer.make(FEEDBACK.purpose, f"{reg.id}:{session_id}", FEEDBACK.lifetime.total_seconds())
                self.queue(key, "feedback", address, self.messages.name_for(mirrored, reg), view, report,
                           about=about, came=reg.attended or "", link=FEEDBACK.url(public_url, token),
                           days=FEEDBACK.lifetime.days)
            people += 1
        return people

