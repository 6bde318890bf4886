"""Attendance: after a session, who came, from its Teams meeting's attendance reports.

Once a session has ended (and `SETTLE` has passed, for Teams to make its report), the run reads the meeting's
attendance reports and records (`GET .../onlineMeetings/{id}/attendanceReports` and each report's
`attendanceRecords`) and writes `Attended` on each registration that held a place:
- Yes: an attendee is theirs: the attendee's address is theirs, or the attendee's user id (`identity.id`) is
  the directory id of the guest account the service invited for their address;
- No: no attendee is theirs, and every attendee is accounted for (someone booked, the organiser, a presenter);
- Unknown: no attendee is theirs but someone in the report could be them: an attendee with no address (joined
  without signing in: `emailAddress` is null; it has also been reported empty for people who did sign in,
  microsoft-graph-docs issue 13629) or with one that matches nobody booked (signed in under another address);
  or booked by phone or post (no address to match); or Teams made no report within `GIVE_UP` of the end
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

from coprod.handoffs import Invitation, MeetingRecord, records
from coprod.lists.fields import normalise_email
from coprod.lists.mirror import ListMirror
from coprod.lists.records import Registration, group_of, parse_registration, parse_session
from coprod.permissions import explain
from coprod.store import StateStore
from graph_client import Attendee, FieldUpdate, GraphError, OnlineMeetings, SharePointLists

__all__ = ["Attendance", "AttendanceCounts"]

SETTLE = timedelta(minutes=15)  # after the end, before the report is looked for
GIVE_UP = timedelta(hours=24)  # no report by then: Unknown for everyone
STAFF_ROLES = frozenset({"organizer", "presenter"})  # attendanceRecord roles that are the programme's own people


class AttendanceCounts:
    def __init__(self) -> None:
        self.sessions = self.attended = self.no_shows = self.unknown = self.anonymous = self.writes = 0
        self.blocked: str | None = None


class Attendance:
    def __init__(self, lists: SharePointLists, meetings: OnlineMeetings, store: StateStore, *,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.lists = lists
        self.meetings = meetings
        self.store = store
        self.now = now
        self.registrations = ListMirror(store, "Registrations", group_of)
        self._guests: dict[str, str] | None = None  # address -> the user id of the guest invited for it

    def run(self, counts: AttendanceCounts) -> None:
        now, updates, done = self.now(), [], []
        known: dict[str, Any] = {}
        recorded = {e.key for e in self.store.ledger.list(kind="attendance")}  # one query a run, not one a session
        for item in self.store.mirror.items("Sessions"):
            session = parse_session(item.item_id, item.fields)
            key = records.attendance(item.item_id)
            if session.end is None or now < session.end + SETTLE or key in recorded:
                continue
            record = MeetingRecord.of(self.store.ledger, item.item_id)
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
            regs = [(i, parse_registration(i.item_id, i.created, i.fields))
                    for i in self.store.mirror.items("Registrations", group=item.item_id)]
            booked = [(mirrored, reg) for mirrored, reg in regs if reg.listed_status == "Confirmed"]
            came, unmatched, anonymous = self._match(attendees or [], [reg for _, reg in booked], record)
            tally = {"Yes": 0, "No": 0, "Unknown": 0}
            for mirrored, reg in booked:
                address = reg.email
                attended = ("Unknown" if attendees is None or address is None
                            or reg.contact != "Email" else "Yes" if reg.id in came
                            else "Unknown" if unmatched else "No")
                tally[attended] += 1
                if reg.attended != attended:
                    updates.append(FieldUpdate(reg.id, {"Attended": attended}, mirrored.etag))
                    known[reg.id] = mirrored
            counts.sessions += 1
            counts.attended += tally["Yes"]
            counts.no_shows += tally["No"]
            counts.unknown += tally["Unknown"]
            counts.anonymous += anonymous
            done.append((key, {"attended": tally["Yes"], "no_shows": tally["No"], "unknown": tally["Unknown"],
                               "anonymous": anonymous, "unmatched": unmatched, "report": attendees is not None}))
        written = self.registrations.write(self.lists, updates, known=known)
        counts.writes += written.written
        if not written.conflicted and not written.failed:
            for key, payload in done:  # recorded once written: a write that failed is tried again next run
                self.store.ledger.put(key, "attendance", "done", payload)

    def _match(self, attendees: list[Attendee], booked: list[Registration], record: MeetingRecord
               ) -> tuple[set[str], int, int]:
        """(the booked registrations an attendee is, how many attendees are nobody booked nor the programme's own,
        how many of those joined without an address)."""
        by_address: dict[str, set[str]] = {}
        by_user: dict[str, set[str]] = {}
        for reg in booked:
            address = reg.email
            if address is None:
                continue
            by_address.setdefault(address, set()).add(reg.id)
            user = self.guests().get(address)
            if user:
                by_user.setdefault(user.casefold(), set()).add(reg.id)
        staff = set(record.presenters) | {u.casefold() for u in record.user_ids.values() if u}
        came: set[str] = set()
        unmatched = anonymous = 0
        for attendee in attendees:
            address = normalise_email(attendee.email_address)
            user = (attendee.user_id or "").casefold()
            regs = by_address.get(address or "", set()) | by_user.get(user, set())
            if regs:
                came |= regs
            elif (attendee.role or "").casefold() not in STAFF_ROLES and not ({address, user} & staff):
                unmatched += 1
                anonymous += address is None
        return came, unmatched, anonymous

    def guests(self) -> dict[str, str]:
        """Each address the service invited a guest for (or found an account for), with that user's id: read from
        the ledger once a run, and only when a report is there to match."""
        if self._guests is None:
            invited = (Invitation.read(e) for e in self.store.ledger.list(kind=Invitation.KIND))
            self._guests = {i.address: i.user for i in invited if i.user}
        return self._guests
