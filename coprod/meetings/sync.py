"""Teams meetings: one for every Open session, kept in step with its title and time, removed when it is cancelled.

`POST /users/{organizer}/onlineMeetings/createOrGet` with `externalId`
`session-<item id>` makes the meeting or finds the one made before, so a
repeat (or a run that died before writing back, or two runs at once) never
makes a second. It invites nobody: participants get their own email and
calendar file, so no one ever sees another's address. Then a PATCH sets the
lobby (people from outside the organisation wait, by default) and who
presents (the organiser and the session's facilitators, each by directory id
as well as address where the directory knows them: looked up once with
`GET /users/{address}` and kept in the record).

Cancelling shuts the meeting before deleting it: a deleted meeting's join
link has been reported to keep working (microsoft-graph-docs issues 7802 and
17590), so first a PATCH sends everyone but the organiser to the lobby and
marks the subject "Cancelled: ...", and the record says so; then the DELETE.
A run that stops between the two deletes it next time without shutting it
again. A session opened again after that gets a new meeting under a new
externalId (`session-<id>-2`, `-3`, ..., counted in the record): what
createOrGet answers for a deleted meeting's externalId is undocumented.

Each session's meeting is recorded in the ledger (`meeting:<session id>`)
with the title and times it was made for and a version. A new title or time
updates the meeting and raises the version; the participant messages take
that as "the session changed" (an updated calendar file, a higher
SEQUENCE). A cancelled or deleted session's meeting is deleted. A session
that goes back to Draft keeps its meeting: links already sent still work.

A 403 (no OnlineMeetings.ReadWrite.All, or no Teams application access
policy for the organiser) is the same for every session: the first one met
stops the rest of the run's meeting calls, each waiting session's Sync note
says what is missing (written in this run, composed as the registration sync
composes it, so its next run finds nothing to change), and confirmations keep
waiting for their meeting.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from coprod import handoffs
from coprod.handoffs import MeetingRecord, SessionChanged, decide_again
from coprod.lists.mirror import ListMirror
from coprod.lists.records import Session, parse_session
from coprod.lists.session_notes import briefs_failed, session_note_now
from coprod.meetings.attendance import Attendance, AttendanceCounts
from coprod.permissions import explain
from coprod.store import MirrorItem, StateStore
from coprod.words import count, summary
from graph_client import (
    Directory,
    FieldUpdate,
    GraphError,
    GraphResponseError,
    NotFoundError,
    OnlineMeeting,
    OnlineMeetings,
    SharePointLists,
    graph_time,
)

__all__ = ["MeetingReport", "MeetingSync"]

log = logging.getLogger("coprod.meetings.sync")
LOBBY_SCOPES = {"organization": "organization", "organizer": "organizer", "everyone": "everyone"}
SHUT = {"scope": "organizer", "isDialInBypassEnabled": False}  # a cancelled session's meeting: nobody let in


@dataclass
class MeetingReport:
    created: int = 0
    updated: int = 0  # new title or time: participants are told
    settings_updated: int = 0  # lobby or presenters only
    deleted: int = 0
    failed: int = 0
    writes: int = 0
    changed_sessions: list[str] = field(default_factory=list)
    blocked: str | None = None  # a missing permission or Teams policy, in plain words: no meeting can be made
    attendance: AttendanceCounts = field(default_factory=AttendanceCounts)

    def line(self) -> str:
        blocked = " ".join(b for b in (self.blocked, self.attendance.blocked) if b)
        return self._counts() + (f" {blocked}" if blocked else "")

    def _counts(self) -> str:
        return summary("Teams meetings", (
            (self.created, f"{count(self.created, 'meeting')} made"),
            (self.updated, f"{count(self.updated, 'meeting')} moved or renamed with its session"),
            (self.settings_updated, f"{count(self.settings_updated, 'meeting')} given new lobby or presenters"),
            (self.deleted, f"{count(self.deleted, 'meeting')} removed with a cancelled session"),
            (self.failed, f"{count(self.failed, 'session')} could not get a meeting (see its Sync note)"),
            (self.attendance.sessions, f"attendance of {count(self.attendance.sessions, 'session')}: "
                                       f"{self.attendance.attended} came, {self.attendance.no_shows} booked and did "
                                       f"not come, {self.attendance.unknown} not known, "
                                       f"{self.attendance.anonymous} joined without signing in")),
            otherwise="all in place", updated=self.writes + self.attendance.writes)


class MeetingSync:
    def __init__(self, lists: SharePointLists, meetings: OnlineMeetings, store: StateStore, *, lobby: str,
                 progress: Callable[[str], None] | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC), directory: Directory | None = None) -> None:
        self.now = now
        self.lists = lists
        self.meetings = meetings
        self.directory = directory or Directory(meetings.client)
        self._user_ids: dict[str, str] = {}  # directory ids found before and this run (one facilitator, many sessions)
        self._directory_failed = False  # refused or failing: the rest of the run sends addresses alone
        self._failed_briefs: set[str] | None = None  # read once a run, when a note is first written
        self.store = store
        self.lobby = LOBBY_SCOPES[lobby]
        self.progress = progress or (lambda message: None)
        self.sessions = ListMirror(store, "Sessions")

    def run(self) -> MeetingReport:
        report = MeetingReport()
        updates = []
        seen = set()
        renote: set[str] = set()  # sessions whose Sync note must say (or stop saying) the meeting failed
        self._failed_briefs = None
        made = MeetingRecord.all_made(self.store.ledger)  # (one read: the directory ids found before, new sessions too)
        self._user_ids = {upn: user for record in made for upn, user in record.user_ids.items()}
        for item in self.sessions.items():
            seen.add(item.item_id)
            session = parse_session(item.item_id, item.fields)
            changes = self._session(item, session, report, renote)
            if item.item_id in renote:  # its Sync note now, in this run (composed as the registration sync does)
                if self._failed_briefs is None:
                    self._failed_briefs = briefs_failed(self.store.ledger)
                note = session_note_now(self.store, item.item_id, self.now(), self._failed_briefs) or ""
                if (session.sync_note or "") != note:
                    changes["SyncNote"] = note
            if changes:
                updates.append(FieldUpdate(item.item_id, changes, item.etag))
        for record in made:
            if not record.deleted and record.session_id not in seen:
                try:  # the session was deleted from the list
                    self._remove(record, report)
                except (GraphError, _Blocked) as error:  # tried again next run
                    log.warning("Teams meeting for deleted session %s: %s", record.session_id, error)
        report.writes = self.sessions.write(self.lists, updates, self.progress).written
        if renote:  # (and decided again by the next registration run: the same note, so nothing written, unless
            decide_again(self.store.checkpoints, renote)  # this run's write of it conflicted)
        Attendance(self.lists, self.meetings, self.store, now=self.now).run(report.attendance)
        return report

    def _session(self, item: MirrorItem, session: Session, report: MeetingReport, renote: set[str]
                 ) -> dict[str, str]:
        """The session's meeting made, changed or removed as its status asks; returns the columns to write back.
        A session whose meeting failed, or works again after failing, goes in `renote`."""
        failed_before = MeetingRecord.problem(self.store.ledger, item.item_id) is not None
        record = MeetingRecord.of(self.store.ledger, item.item_id)
        try:
            if session.status == "Open" and session.start and session.end and session.end >= session.start:
                record = self._ensure(item.item_id, session.title, session.start, session.end,
                                      list(session.facilitators), record, report)
            elif session.status == "Cancelled" and record is not None and not record.deleted:
                record = self._remove(record, report)
            else:
                return {}  # Draft, or times to fix first (the registration sync's note says which)
        except Exception as error:  # noted on this session (its Sync note); the other sessions go on
            report.failed += 1
            report.blocked = report.blocked or explain("meetings", error)
            # (as last recorded: a meeting shut before its delete failed stays recorded as shut)
            ledger = self.store.ledger
            MeetingRecord.failed(ledger, item.item_id, MeetingRecord.of(ledger, item.item_id), _say(error))
            renote.add(item.item_id)
            log.warning("Teams meeting for session %s: %s", item.item_id,
                        error if isinstance(error, GraphError) else type(error).__name__)
            return {}
        if failed_before:
            renote.add(item.item_id)  # it works now: the note about it goes
        wanted = {"JoinUrl": "" if record.deleted else record.join_url,
                  "MeetingId": "" if record.deleted else record.meeting_id}
        listed = {"JoinUrl": session.join_url, "MeetingId": session.meeting_id}
        return {k: v for k, v in wanted.items() if listed[k] != v}

    def _save(self, record: MeetingRecord) -> MeetingRecord:
        return record.save(self.store.ledger)

    def _ensure(self, session_id: str, title: str, start: datetime, end: datetime, presenters: list[str],
                record: MeetingRecord | None, report: MeetingReport) -> MeetingRecord:
        if record is not None and record.locked and not record.deleted:
            record = self._remove(record, report)  # shut for a cancellation whose delete failed: finished first
        if record is None or record.deleted:
            _go_on(report)
            made = record.made + 1 if record else 1  # a deleted meeting's externalId is never asked for again
            ids = self._ids(presenters, record.user_ids if record else {})
            meeting = self.meetings.create_or_get(MeetingRecord.external_id_for(session_id, made), title, start, end,
                                                  presenters, ids)
            meeting = self._settings(meeting.id, presenters, ids)
            report.created += 1
            version = record.version + 1 if record else 1
            return self._save(self._record(session_id, meeting, title, start, end, version, presenters, made, ids))
        if (record.title, record.start, record.end) != (title, start, end):
            _go_on(report)
            meeting = self.meetings.update(record.meeting_id, {"subject": title, "startDateTime": graph_time(start),
                                                               "endDateTime": graph_time(end)})
            report.updated += 1
            report.changed_sessions.append(session_id)
            saved = self._save(self._record(session_id, meeting, title, start, end, record.version + 1, presenters,
                                            record.made, record.user_ids))
            handoffs.record(self.store.ledger, SessionChanged(session_id, saved.version, {
                "title": record.title, "start": record.start.isoformat(), "end": record.end.isoformat()}))
            return saved
        if (list(record.presenters), record.lobby) != (presenters, self.lobby):
            _go_on(report)
            ids = self._ids(presenters, record.user_ids)
            meeting = self._settings(record.meeting_id, presenters, ids)
            report.settings_updated += 1
            return self._save(self._record(session_id, meeting, title, start, end, record.version, presenters,
                                           record.made, ids))
        return record

    def _settings(self, meeting_id: str, presenters: list[str], ids: Mapping[str, str]) -> OnlineMeeting:
        """Lobby and presenters: createOrGet does not take them, so they are set after."""
        return self.meetings.update(meeting_id, {
            "lobbyBypassSettings": {"scope": self.lobby, "isDialInBypassEnabled": False},
            "allowedPresenters": "roleIsPresenter",
            "participants": {"attendees": OnlineMeetings.presenters(presenters, ids)}})

    def _ids(self, presenters: list[str], known: Mapping[str, str]) -> dict[str, str]:
        """Each presenter's directory id: from the record, else this run's look-ups, else `GET /users/{address}`
        (asked once: an address the directory does not know is kept as "", and goes by address alone). Refused
        (no User.Read.All) or failing, addresses alone, and asked again the next time the presenters are sent."""
        ids: dict[str, str] = {}
        for upn in presenters:
            if upn not in known and upn not in self._user_ids and not self._directory_failed:
                try:
                    self._user_ids[upn] = self.directory.get_user(upn, what="a facilitator").id
                except NotFoundError:
                    self._user_ids[upn] = ""
                except GraphError as error:
                    self._directory_failed = True
                    log.warning("Looking up facilitators in the directory: %s", error)
            found = known.get(upn, self._user_ids.get(upn))
            if found is not None:
                ids[upn] = found
        return ids

    def _record(self, session_id: str, meeting: OnlineMeeting, title: str, start: datetime, end: datetime,
                version: int, presenters: list[str], made: int, ids: Mapping[str, str]) -> MeetingRecord:
        return MeetingRecord(session_id, meeting.id, meeting.join_web_url, title, start, end, version,
                             tuple(presenters), self.lobby, made=made, user_ids=dict(ids))

    def _remove(self, record: MeetingRecord, report: MeetingReport) -> MeetingRecord:
        """Shut the meeting (recorded), then delete it: each step once, and each safe to repeat."""
        _go_on(report)
        if not record.locked:
            # gone already (deleted by hand, or by a run that stopped before recording it): nothing to shut
            with contextlib.suppress(NotFoundError):
                self.meetings.update(record.meeting_id, {"subject": f"Cancelled: {record.title}",
                                                         "lobbyBypassSettings": dict(SHUT)})
            record = self._save(record.locked_now())
        self.meetings.delete(record.meeting_id)
        report.deleted += 1
        return self._save(record.deleted_now())


class _Blocked(Exception):
    """The app may not make meetings at all (a 403 met on another session this run)."""


def _go_on(report: MeetingReport) -> None:
    """Refused for one session, refused for all: no request is spent on the others this run."""
    if report.blocked:
        raise _Blocked(report.blocked)


def _say(error: Exception) -> str:
    """The session's Sync note: what went wrong making its meeting, in words the team can act on."""
    if isinstance(error, _Blocked):
        return str(error)
    refused = explain("meetings", error)
    if refused:
        return refused
    if isinstance(error, GraphResponseError):
        return f"We couldn't make the Teams meeting (Microsoft answered {error.status} {error.code or ''})."
    if isinstance(error, GraphError):
        return "We couldn't reach Microsoft to make the Teams meeting; we'll try again shortly."
    return "Something went wrong on our side making the Teams meeting; we'll try again shortly."
