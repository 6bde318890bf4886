"""Retention: personal data kept no longer than COPROD_RETENTION_DAYS (default 365), once a day by the timer.

The first run of each day (UK time) also:
- clears the personal columns (`config.REGISTRATIONS.personal`) of registrations for sessions that ended longer
  ago than the retention period (or, for a registration whose session is gone, that was made longer ago), with
  a StatusNote saying so. Status, Role, the session and the times stay: attendance figures and reports still
  count them, with nobody named. Writes are conditional on each item's eTag, so an edit made meanwhile wins
  and the item is cleared the next day;
- clears the name and address a contribution was left with (Contributions: Name, Email), once it was written
  longer ago: what it says stays, for "what we've heard" and the report (a contributor can ask for it to be
  erased at any time); and the comment of each answer to "How was it?" about a session that ended longer ago
  (its rating and "felt listened to" stay, counted without anyone named);
- empties the payload of every email settled (sent, failed or cancelled) longer ago: the key, kind, status and
  counts stay, so nothing is sent twice;
- removes the ledger's records of who asked for what (guest requests, mailing-list requests) settled longer
  ago, and the bookings page's "send me my link" records after two days (they only limit one day's emails).

Its line in the run's summary says how many of each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from config import REGISTRATIONS
from coprod.handoffs import Feedback
from coprod.lists.contributions import LIST as CONTRIBUTIONS_LIST
from coprod.lists.fields import as_datetime
from coprod.lists.mirror import ListMirror
from coprod.lists.notes import Notes
from coprod.lists.records import NO_SESSION, group_of, parse_registration, parse_session
from coprod.store import StateStore
from coprod.templates import UK
from coprod.words import count
from graph_client import FieldUpdate, SharePointLists

__all__ = ["CHECKED", "Retention", "RetentionReport", "due"]

CHECKED = "retention.day"  # a checkpoint: the UK date retention last ran
SETTLED = ("sent", "failed", "cancelled")
REQUESTS = ("guest-request", "subscriber")  # ledger kinds whose payload names who asked
DAILY = ("bookings-asked",)  # ledger kinds that only limit one day's emails
DAY = 86_400.0
CONTRIBUTOR = ("Name", "Email")  # a contribution's personal columns (its words stay: see above)


@dataclass
class RetentionReport:
    days: int
    registrations: int = 0
    contributions: int = 0
    comments: int = 0
    emails: int = 0
    records: int = 0
    conflicts: int = 0

    def line(self) -> str:
        parts = [f"{count(self.registrations, 'registration')} cleared"]
        if self.contributions:
            parts.append(f"names and addresses of {count(self.contributions, 'contribution')} cleared")
        if self.comments:
            parts.append(f"{count(self.comments, 'feedback comment')} removed")
        parts += [f"{count(self.emails, 'old email')} emptied", f"{count(self.records, 'record')} removed"]
        later = f"; {count(self.conflicts, 'row')} edited meanwhile, tried again tomorrow" if self.conflicts else ""
        return f"Retention ({self.days} days): {', '.join(parts)}{later}."


def today(clock: Callable[[], float]) -> str:
    return datetime.fromtimestamp(clock(), UK).date().isoformat()


def due(store: StateStore, clock: Callable[[], float]) -> bool:
    """Whether today's retention has yet to run."""
    return store.checkpoints.get(CHECKED) != today(clock)


class Retention:
    def __init__(self, lists: SharePointLists, store: StateStore, days: int, *,
                 clock: Callable[[], float], progress: Callable[[str], None] = lambda message: None) -> None:
        self.lists = lists
        self.store = store
        self.days = days
        self.clock = clock
        self.progress = progress

    def run(self) -> RetentionReport:
        report = RetentionReport(self.days)
        now = self.clock()
        cutoff = now - self.days * DAY
        ended = self._registrations(datetime.fromtimestamp(cutoff, UTC), report)
        self._contributions(datetime.fromtimestamp(cutoff, UTC), report)
        for entry in self.store.ledger.list(kind=Feedback.KIND):
            answer = Feedback.read(entry)
            if answer.comment and ended.get(answer.session, answer.at < cutoff):
                self.store.ledger.scrub(entry.key, entry.status, replace(answer, comment="").payload())
                report.comments += 1
        for status in SETTLED:
            for email in self.store.outbox.list(status, updated_before=cutoff, limit=1_000_000):
                if email.payload and self.store.outbox.scrub(email.key, cancel=False):
                    report.emails += 1
        for entry in self.store.ledger.list():
            old = entry.updated < (now - 2 * DAY if entry.kind in DAILY else cutoff)
            if entry.kind in REQUESTS + DAILY and entry.status != "due" and old:
                self.store.ledger.delete(entry.key)
                report.records += 1
        self.store.checkpoints.set(CHECKED, today(self.clock))
        return report

    def _registrations(self, cutoff: datetime, report: RetentionReport) -> dict[str, bool]:
        """Clears the old registrations' personal columns; returns whether each session ended before `cutoff`."""
        ended: dict[str, bool] = {}
        for item in self.store.mirror.items("Sessions"):
            end = parse_session(item.item_id, item.fields).end
            ended[item.item_id] = end is not None and end < cutoff
        note = Notes.RETAINED.format(day=datetime.fromtimestamp(self.clock(), UK).strftime("%-d %B %Y"),
                                     days=self.days)
        updates = []
        for item in self.store.mirror.items("Registrations"):
            session = item.group or NO_SESSION
            made = as_datetime(item.created)
            old = ended.get(session, made is not None and made < cutoff)
            reg = parse_registration(item.item_id, item.created, item.fields) if old else None  # (the old ones only)
            if reg is not None and reg.listed_status != "Erased" and reg.personal:
                updates.append(FieldUpdate(item.item_id, {c: "" for c in REGISTRATIONS.personal}
                                           | {"StatusNote": note}, item.etag))
        if updates:
            self.progress(f"Retention: clearing {count(len(updates), 'registration')}")
        outcome = ListMirror(self.store, "Registrations", group_of).write(self.lists, updates, self.progress)
        report.registrations += outcome.written
        report.conflicts += outcome.conflicts + len(outcome.failed)
        return ended

    def _contributions(self, cutoff: datetime, report: RetentionReport) -> None:
        updates = []
        for item in self.store.mirror.items(CONTRIBUTIONS_LIST):
            made = as_datetime(item.created)
            cleared = {c: "" for c in CONTRIBUTOR if item.fields.get(c) not in (None, "")}
            if made is not None and made < cutoff and cleared:
                updates.append(FieldUpdate(item.item_id, cleared, item.etag))
        if not updates:
            return
        self.progress(f"Retention: clearing the names and addresses of {count(len(updates), 'contribution')}")
        outcome = ListMirror(self.store, CONTRIBUTIONS_LIST).write(self.lists, updates, self.progress)
        report.contributions += outcome.written
        report.conflicts += outcome.conflicts + len(outcome.failed)
