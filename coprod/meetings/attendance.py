"""Attendance: after a session, who came, from its Teams meeting's attendance reports.

Once a session has ended (and `SETTLE` has passed, for Teams to make its report), the run reads the meeting's
attendance reports and records (`GET .../onlineMeetings/{id}/attendanceReports` and each report's
`attendanceRecords`) and writes `Attended` on each registration that held a place:
- Yes: their address is among the attendees';
- No: it is not (they booked and did not come);
- Unknown: booked by phone or post (no address to match), or Teams made no report within `GIVE_UP` of the end
  (nobody joined, or the reports could not be read).
People who joined without signing in have no address: they are counted, not named. A session's attendance is
recorded once (`records.attendance`, counts only): a rerun reads nothing and never changes an `Attended` value,
so the team can correct one by hand. It needs OnlineMeetingArtifact.Read.All and the same Teams application
access policy as the meetings; without them, attendance waits and the run's line says why.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from coprod.handoffs import MeetingRecord, records
from coprod.lists.fields import normalise_email
from coprod.lists.mirror import ListMirror
from coprod.permissions import explain
from coprod.registrations.rules import contact_preference, parse_session
from coprod.registrations.sync import group_of
from coprod.store import StateStore
from graph_client import FieldUpdate, GraphError, OnlineMeetings, SharePointLists

__all__ = ["Attendance", "AttendanceCounts"]

SETTLE = timedelta(minutes=15)  # after the end, before the report is looked for
GIVE_UP = timedelta(hours=24)  # no report by then: Unknown for everyone


class AttendanceCounts:
    def __init__(self) -> None:
        self.sessions = self.attended = self.no_shows = self.anonymous = self.writes = 0
        self.blocked: str | None = None


class Attendance:
    def __init__(self, lists: SharePointLists, meetings: OnlineMeetings, store: StateStore, *,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.lists = lists
        self.meetings = meetings
        self.store = store
        self.now = now
        self.registrations = ListMirror(store, "Registrations", group_of)

    def run(self, counts: AttendanceCounts) -> None:
        now, updates, done = self.now(), [], []
        known: dict[str, Any] = {}
        recorded = {e.key for e in self.store.ledger_list(kind="attendance")}  # one query a run, not one a session
        for item in self.store.mirror_items("Sessions"):
            session = parse_session(item.item_id, item.fields)
            key = records.attendance(item.item_id)
            if session.end is None or now < session.end + SETTLE or key in recorded:
                continue
            record = MeetingRecord.of(self.store, item.item_id)
            if record is None or record.deleted:
                continue
            try:
                attendees = self.meetings.attendance(record.meeting_id)
            except GraphError as error:
                counts.blocked = explain("attendance", error)
                if counts.blocked:
                    return  # a permission or policy: nothing can be read until it is fixed
                continue
            if attendees is None and now < session.end + GIVE_UP:
                continue  # Teams has not made the report yet
            came = {a for a in (normalise_email(x.email_address) for x in attendees or ()) if a}
            anonymous = sum(1 for x in attendees or () if not normalise_email(x.email_address))
            tally = {"Yes": 0, "No": 0, "Unknown": 0}
            for reg in self.store.mirror_items("Registrations", group=item.item_id):
                if reg.fields.get("Status") != "Confirmed":
                    continue
                address = normalise_email(reg.fields.get("Email"))
                attended = ("Unknown" if attendees is None or address is None
                            or contact_preference(reg.fields) != "Email" else "Yes" if address in came else "No")
                tally[attended] += 1
                if reg.fields.get("Attended") != attended:
                    updates.append(FieldUpdate(reg.item_id, {"Attended": attended}, reg.etag))
                    known[reg.item_id] = reg
            counts.sessions += 1
            counts.attended, counts.no_shows, counts.anonymous = (counts.attended + tally["Yes"],
                                                                  counts.no_shows + tally["No"],
                                                                  counts.anonymous + anonymous)
            done.append((key, {"attended": tally["Yes"], "no_shows": tally["No"], "unknown": tally["Unknown"],
                               "anonymous": anonymous, "report": attendees is not None}))
        written = self.registrations.write(self.lists, updates, known=known)
        counts.writes += written.written
        if not written.conflicted and not written.failed:
            for key, payload in done:  # recorded once written: a write that failed is tried again next run
                self.store.ledger_put(key, "attendance", "done", payload)
