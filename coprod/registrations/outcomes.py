""""You said, we did": after a session, what came of it, to everyone who had a place.

When a facilitator fills in the session's `Outcomes` and ticks `ShareOutcomes`, once the session is over, each
person who held a place and gets email receives one message: thanks for coming (Attended Yes), sorry we missed
you (No), or thanks for booking (not known); the outcomes in plain text and HTML; and the next open sessions on
the same theme, with a link to book each. Once per person and session (its outbox key), and the session is
marked shared (`records.outcomes`) once all are queued: editing the outcomes later sends nothing more.
Mailing-list subscribers hear of it only through an update the team writes in the Updates list.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from coprod.handoffs import mail_keys, records
from coprod.lists.fields import as_bool, as_lines, as_text, normalise_email
from coprod.lists.records import contact_preference, parse_session
from coprod.registrations.notices import Counts, Source

__all__ = ["Outcomes"]

NEXT = 3  # sessions suggested


class Outcomes:
    """Run by the participant messages (`Source`)."""

    def __init__(self, messages: Source, queue: Any) -> None:
        self.messages = messages
        self.queue = queue  # the messages' `_queue`: renders and queues one email

    def run(self, report: Counts) -> None:
        store, now = self.messages.store, datetime.fromtimestamp(self.messages.clock(), UTC)
        sessions = store.mirror.items("Sessions")
        shared = {e.key for e in store.ledger.list(kind="outcomes-shared")}  # one query a run, not one a session
        for item in sessions:
            session, outcomes = parse_session(item.item_id, item.fields), as_lines(item.fields.get("Outcomes"))
            if (not outcomes or not as_bool(item.fields.get("ShareOutcomes")) or session.end is None
                    or session.end > now or records.outcomes(item.item_id) in shared):
                continue
            theme = as_text(item.fields.get("Theme"), 100)
            coming = sorted((parse_session(s.item_id, s.fields) for s in sessions
                             if theme and as_text(s.fields.get("Theme"), 100) == theme),
                            key=lambda s: s.start or now)
            next_sessions = [{"title": s.title, "start": s.start, "link": self._link(s.id)} for s in coming
                             if s.status == "Open" and s.start is not None and s.start > now][:NEXT]
            view, _, _ = self.messages.session_view(item.item_id)
            sent = 0
            for reg in store.mirror.items("Registrations", group=item.item_id):
                address = normalise_email(reg.fields.get("Email"))
                if reg.fields.get("Status") != "Confirmed" or address is None or \
                        contact_preference(reg.fields) != "Email":
                    continue
                self.queue(mail_keys.outcomes(reg.item_id, item.item_id), "outcomes", address,
                           self.messages.name_for(reg), view, report,
                           about={"registration": reg.item_id, "session": item.item_id},
                           came=reg.fields.get("Attended") or "", outcomes=outcomes, next_sessions=next_sessions)
                sent += 1
            store.ledger.put(records.outcomes(item.item_id), "outcomes-shared", "done",
                             {"at": now.timestamp(), "people": sent})

    def _link(self, session_id: str) -> str:
        return f"{self.messages.config.public_url.rstrip('/')}/api/pages/sessions/{session_id}"
