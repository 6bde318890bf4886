"""Pre-reading: what a session's facilitators want people to read first (the Sessions column PreReading).

It is in every confirmation, place-offered email and reminder. When it is added or changed more than
COPROD_PREREADING_HOURS (default 48) before the start, each person already holding a place gets one short
email with it, once per version: a version is recorded (`records.pre_reading`, with a digest of the text)
the first run that sees it, and a hand-off (`PreReadingDue`) queues the emails, each keyed by person and
version, so a rerun or a crash sends nothing twice. People told anything after the version was seen had it
in that email already, and are not sent it again. Later than that before the start, the reminder carries it.
People booked by phone or post are on the team's daily list (`TeamNotices.contact_digest`) instead.
"""

from __future__ import annotations

import hashlib
from typing import Any

from coprod import handoffs
from coprod.handoffs import ContactDue, PreReadingDue, Told, mail_keys, pending, records
from coprod.lists.records import ASSISTED, parse_session
from coprod.registrations.notices import Counts, Source

__all__ = ["PreReading"]


class PreReading:
    """Run by the participant messages (`Source`), before they queue anything else in a run."""

    def __init__(self, messages: Source, queue: Any, hours: float) -> None:
        self.messages = messages
        self.queue = queue  # the messages' `_queue`: renders and queues one email
        self.hours = hours

    def run(self, report: Counts) -> None:
        store, now = self.messages.store, self.messages.clock()
        versions = {e.key: e for e in store.ledger.list(kind="pre-reading-seen")}  # one query a run, not one a session
        for item in store.mirror.items("Sessions"):
            session = parse_session(item.item_id, item.fields)
            key = records.pre_reading(item.item_id)
            seen = versions.get(key)
            digest = hashlib.sha256(session.pre_reading.encode()).hexdigest() if session.pre_reading else ""
            if digest == (seen.payload.get("digest", "") if seen else ""):
                continue
            version = int(seen.payload.get("version", 0) if seen else 0) + 1
            early = session.start is not None and session.start.timestamp() - now > self.hours * 3600
            if digest and early and session.status == "Open":
                handoffs.record(store.ledger, PreReadingDue(item.item_id, version, now))  # before the version: no gap
            store.ledger.put(key, "pre-reading-seen", "done", {"digest": digest, "version": version, "at": now})
        for entry, due in pending(store.ledger, PreReadingDue):
            self._send(due, report)
            handoffs.settle(store.ledger, entry)

    def _send(self, due: PreReadingDue, report: Counts) -> None:
        view, _, status = self.messages.session_view(due.session)
        if status != "Open" or not view.get("pre_reading"):
            return
        for item in self.messages.store.mirror.items("Registrations", group=due.session):
            reg = self.messages.record(item)
            if reg.listed_status == "Confirmed" and reg.contact in ASSISTED:
                # booked by phone or post: the team's daily list says to pass it on
                handoffs.record(self.messages.store.ledger,
                                ContactDue(item.item_id, "pre_reading", due.session, due.version))
                continue
            address = reg.email
            told = Told.of(self.messages.store.ledger, item.item_id)
            if (reg.listed_status != "Confirmed" or address is None or told is None or told.at >= due.at
                    or reg.contact != "Email"):
                continue
            self.queue(mail_keys.pre_reading(item.item_id, due.session, due.version), "pre_reading", address,
                       self.messages.name_for(item, reg), view, report,
                       about={"registration": item.item_id, "session": due.session})
