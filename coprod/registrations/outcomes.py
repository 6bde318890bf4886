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
from coprod.lists.records import parse_session
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
        parsed = [parse_session(item.item_id, item.fields) for item in sessions]  # each once a run
        for item, session in zip(sessions, parsed, strict=True):
            outcomes = session.outcomes
            if (not outcomes or not session.share_outcomes or session.end is None
                    or session.end > now or records.outcomes(item.item_id) in shared):
                continue
            theme = session.theme
            coming = sorted((s for s in parsed if theme and s.theme == theme), key=lambda s: s.start or now)
            next_sessions = [{"title": s.title, "start": s.start, "link": self._link(s.id)} for s in coming
                             if s.status == "Open" and s.start is not None and s.start > now][:NEXT]
            view, _, _ = self.messages.session_view(item.item_id)
            sent = 0
            for mirrored in store.mirror.items("Registrations", group=item.item_id):
                reg = self.messages.record(mirrored)
                address = reg.email
                if reg.listed_status != "Confirmed" or address is None or reg.contact != "Email":
                    continue
                self.queue(mail_keys.outcomes(reg.id, item.item_id), "outcomes", address,
                           self.messages.name_for(mirrored, reg), view, report,
                           about={"registration": reg.id, "session": item.item_id},
                           came=reg.attended or "", outcomes=outcomes, next_sessions=next_sessions)
                sent += 1
            store.ledger.put(records.outcomes(item.item_id), "outcomes-shared", "done",
                             {"at": now.timestamp(), "people": sent})

    def _link(self, session_id: str) -> str:
        return f"{self.messages.settings.public_url.rstrip('/')}/api/pages/sessions/{session_id}"
