"""Teams online meetings, per organiser: state and rules only.

Graph v1.0 facts this follows (Microsoft's docs unless said otherwise):

- `createOrGet` takes `externalId` (required), `subject`, `startDateTime`,
  `endDateTime`, `participants` and `chatInfo` (msgraph-sdk's request body;
  the docs call chatInfo beta-only, so v1.0 accepts and ignores it). Anything
  else, such as `lobbyBypassSettings`, is accepted and ignored (the client sets
  it with PATCH). Organiser plus externalId name one meeting: `201` when made,
  `200` with the meeting as it now is when found, the new body's subject and
  times ignored. No times: now and an hour; a start alone: an hour long; an
  end without a start, or an end before the start: `400`.
- PATCH changes only the documented properties; times go in pairs; the
  organiser cannot change; attendees are replaced whole; nested
  `lobbyBypassSettings` merge; `joinMeetingIdSettings` and other read-only
  properties are refused.
- Ids are base64 of `1*{organiser id}*0**19:meeting_{base64 guid}@thread.v2`,
  which carries the organiser: a meeting asked for under a user who neither
  organises nor attends it answers `404 Organizer Id mismatch`.
- Date-times are UTC with up to 7 fractional digits, trailing zeros dropped
  (`2020-09-09T21:33:30.8546353Z`, `2021-06-30T08:00:00Z`).
- `lobbyBypassSettings.scope` values `invited` and
  `organizationExcludingGuests`, and roles `producer` and `coorganizer`, come
  after `unknownFutureValue` in their evolvable enums: they read back as
  `unknownFutureValue` unless the caller sends
  `Prefer: include-unknown-enum-members`.
- A DELETE answers 204 and the meeting is gone from every read, but its join
  link keeps working (microsoft-graph-docs issues 7802 and 17590, reported
  from 2020 to 2023 and not fixed): `join` lets people in through a deleted
  meeting's link as the meeting stood when it was deleted. Who skips the lobby
  follows `lobbyBypassSettings` (the lobbyBypassScope values in the
  reference): `organizer`, only the organiser; `organization`, the tenant's
  members and guests; `organizationAndFederated`, those and federated users;
  `organizationExcludingGuests`, members only; `invited`, the attendees named
  by id; `everyone`, all; dial-in callers when `isDialInBypassEnabled`.
- What `createOrGet` answers for an externalId whose meeting was deleted is
  undocumented; here it makes a new meeting (the service never asks it).
- An attendanceRecord carries `emailAddress` and `identity` (`id`,
  `displayName`; the attendancerecord-list example gives the user's object id
  there). `emailAddress` is null for someone who joined without signing in,
  and has been reported empty for signed-in attendees too
  (microsoft-graph-docs issue 13629).
"""

from __future__ import annotations

import base64
import copy
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graph_emulator.core.errors import GraphFault, bad_request
from graph_emulator.meetings.checks import (
    TICKS_PER_SECOND,
    attendees,
    checked_update,
    create_times,
    format_ticks,
    optional_str,
    parse_datetime,
    participants_object,
)

__all__ = ["JOINERS", "Meeting", "Meetings", "format_ticks", "organizer_of", "parse_datetime"]

# Who follows a join link: the organiser, a member of the tenant, a guest in it, a user of a federated tenant,
# someone not signed in, someone calling the dial-in number.
JOINERS = ("organizer", "member", "guest", "federated", "anonymous", "dial-in")
_BYPASS = {"organizer": frozenset(), "organization": frozenset({"member", "guest"}),
           "organizationAndFederated": frozenset({"member", "guest", "federated"}),
           "organizationExcludingGuests": frozenset({"member"}), "invited": frozenset(),
           "everyone": frozenset(JOINERS)}

_ID_RE = re.compile(r"^1\*(?P<organizer>[0-9a-fA-F-]{36})\*0\*\*19:meeting_[A-Za-z0-9]+@thread\.v2$")
# Members declared after `unknownFutureValue`: hidden from callers who do not opt in.
_LATE_LOBBY_SCOPES = frozenset({"invited", "organizationExcludingGuests"})
_LATE_ROLES = frozenset({"producer", "coorganizer"})


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def organizer_of(meeting_id: str) -> str | None:
    """The organiser id a meeting id carries, or None when the id is not one Teams could have made."""
    try:
        decoded = base64.b64decode(meeting_id, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    match = _ID_RE.match(decoded)
    return match.group("organizer").lower() if match else None


@dataclass
class Meeting:
    """One meeting as the emulator keeps it; `json` is the stored onlineMeeting (evolvable enums unmasked)."""

    id: str
    organizer_id: str
    external_id: str | None
    json: dict[str, Any]
    created: float
    updated: float
    updates: int = 0
    deleted: bool = False
    deleted_at: float | None = None
    reports: list[dict[str, Any]] = field(default_factory=list)  # attendance reports, each with its records

    @property
    def join_web_url(self) -> str:
        return str(self.json["joinWebUrl"])

    @property
    def join_meeting_id(self) -> str:
        return str(self.json["joinMeetingIdSettings"]["joinMeetingId"])

    @property
    def subject(self) -> str | None:
        subject = self.json.get("subject")
        return subject if isinstance(subject, str) else None

    def attendee_ids(self) -> set[str]:
        ids = set()
        for attendee in self.json["participants"]["attendees"]:
            user = (attendee.get("identity") or {}).get("user") or {}
            if isinstance(user.get("id"), str):
                ids.add(user["id"].lower())
        return ids

    def as_json(self, *, include_unknown_enum_members: bool = False) -> dict[str, Any]:
        """The onlineMeeting as Graph answers it (without `@odata.context`)."""
        body = copy.deepcopy(self.json)
        if not include_unknown_enum_members:
            lobby = body["lobbyBypassSettings"]
            if lobby.get("scope") in _LATE_LOBBY_SCOPES:
                lobby["scope"] = "unknownFutureValue"
            participants = body["participants"]
            for info in [participants["organizer"], *participants["attendees"]]:
                if info.get("role") in _LATE_ROLES:
                    info["role"] = "unknownFutureValue"
        return body


class Meetings:
    """Online meetings of every organiser in the tenant. Callers hold the backend's lock around changes."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.meetings: dict[str, Meeting] = {}  # by id, deleted ones too (flagged)

    # --- reading, for routes, tests and the demo --------------------------------
    def for_organizer(self, user_id: str, *, include_deleted: bool = False) -> list[Meeting]:
        """The meetings `user_id` organises, oldest first."""
        key = user_id.lower()
        return [m for m in self.meetings.values() if m.organizer_id == key and (include_deleted or not m.deleted)]

    def by_external_id(self, user_id: str, external_id: str, *, include_deleted: bool = False) -> Meeting | None:
        """The live meeting `user_id` made with `external_id` (or, asked, the latest deleted one)."""
        found = [m for m in self.for_organizer(user_id, include_deleted=include_deleted)
                 if m.external_id == external_id]
        live = [m for m in found if not m.deleted]
        return live[0] if live else (found[-1] if found else None)

    def by_join_web_url(self, user_id: str, join_web_url: str) -> Meeting | None:
        return next((m for m in self.for_organizer(user_id) if m.join_web_url == join_web_url), None)

    def join(self, join_web_url: str, who: str, *, user_id: str | None = None) -> str:
        """Someone follows a join link: "admitted" (straight in), "lobby" (waits for someone to let them in), or
        "no meeting" (a link no meeting ever had). A deleted meeting's link still works, as the meeting stood when
        it was deleted (see the module's notes). `user_id`: the joiner's directory id, for the `invited` scope."""
        if who not in JOINERS:
            raise ValueError(f"who joins must be one of {', '.join(JOINERS)}")
        found = [m for m in self.meetings.values() if m.join_web_url == join_web_url]
        if not found:
            return "no meeting"
        meeting = next((m for m in found if not m.deleted), found[-1])
        lobby = meeting.json["lobbyBypassSettings"]
        scope = lobby.get("scope") or "organization"
        admitted = (who == "organizer" or who in _BYPASS.get(scope, frozenset())
                    or (who == "dial-in" and lobby.get("isDialInBypassEnabled") is True)
                    or (scope == "invited" and user_id is not None and user_id.lower() in meeting.attendee_ids()))
        return "admitted" if admitted else "lobby"

    def by_join_meeting_id(self, user_id: str, join_meeting_id: str) -> Meeting | None:
        return next((m for m in self.for_organizer(user_id) if m.join_meeting_id == join_meeting_id), None)

    def get(self, user_id: str, meeting_id: str, *, as_attendee: bool = False) -> Meeting:
        """The live meeting `meeting_id` under `user_id`'s path; attendees may read (`as_attendee`), not change."""
        key = user_id.lower()
        meeting = self.meetings.get(meeting_id)
        organizer = meeting.organizer_id if meeting else organizer_of(meeting_id)
        if organizer is None:
            raise GraphFault(404, "NotFound", "Meeting Id is corrupted.")
        if organizer != key and not (as_attendee and meeting is not None and key in meeting.attendee_ids()):
            raise GraphFault(404, "NotFound", f"Organizer Id mismatch User Id: {user_id}.")
        if meeting is None or meeting.deleted:
            raise GraphFault(404, "NotFound", "The online meeting could not be found.")
        return meeting

    # --- changes ---------------------------------------------------------------------
    def record_attendance(self, meeting_id: str, attendees: list[dict[str, Any]]) -> dict[str, Any]:
        """Play a meeting having happened: an attendance report (as Teams makes one when a meeting ends) with a
        record for each attendee: `email` (None for someone who joined anonymously, or signed in and reported with
        none), `name`, `seconds`, `role`, and `user_id` (their directory id; a made-up one when not given, none
        for someone with no address who was not given one)."""
        meeting = self.meetings[meeting_id]
        start, end = meeting.json.get("startDateTime"), meeting.json.get("endDateTime")
        records = [{"id": str(uuid.uuid4()), "emailAddress": a.get("email"), "totalAttendanceInSeconds":
                    int(a.get("seconds") or 0), "role": a.get("role") or "Attendee",
                    "identity": {"id": a.get("user_id") or (str(uuid.uuid4()) if a.get("email") else None),
                                 "displayName": a.get("name") or "", "tenantId": None},
                    "attendanceIntervals": [{"joinDateTime": start, "leaveDateTime": end,
                                             "durationInSeconds": int(a.get("seconds") or 0)}]}
                   for a in attendees]
        report = {"id": str(uuid.uuid4()), "totalParticipantCount": len(records), "meetingStartDateTime": start,
                  "meetingEndDateTime": end, "attendanceRecords": records}
        meeting.reports.append(report)
        return report

    def create_or_get(self, *, organizer_id: str, organizer_upn: str, tenant_id: str,
                      body: dict[str, Any]) -> tuple[Meeting, bool]:
        """createOrGet: (the meeting, True when it was made now)."""
        external_id = body.get("externalId")
        if not isinstance(external_id, str) or not external_id.strip():
            raise bad_request("externalId is required and must be a non-empty string.", code="BadRequest")
        subject = optional_str(body, "subject")
        now = self.clock()
        start, end = create_times(body, now)
        invited = attendees(participants_object(body), tenant_id)
        if "chatInfo" in body and body["chatInfo"] is not None and not isinstance(body["chatInfo"], dict):
            raise bad_request("chatInfo must be an object.", code="BadRequest")
        existing = self.by_external_id(organizer_id, external_id)
        if existing is not None:
            return existing, False
        meeting = self._new(now, organizer_id.lower(), organizer_upn, tenant_id, external_id, subject, start, end,
                            invited)
        self.meetings[meeting.id] = meeting
        return meeting, True

    def update(self, user_id: str, meeting_id: str, body: dict[str, Any]) -> Meeting:
        """PATCH: the properties Graph lets a client change, checked before any is applied."""
        meeting = self.get(user_id, meeting_id)
        changes = checked_update(meeting.json, meeting.organizer_id, body)
        state = meeting.json
        for key, value in changes.items():
            if key == "lobbyBypassSettings":
                state[key] = {**state[key], **value}
            elif key == "participants":
                state[key] = {**state[key], "attendees": value}
            else:
                state[key] = value
        meeting.updated = self.clock()
        meeting.updates += 1
        return meeting

    def delete(self, user_id: str, meeting_id: str) -> Meeting:
        meeting = self.get(user_id, meeting_id)
        meeting.deleted = True
        meeting.deleted_at = self.clock()
        return meeting

    # --- making one ---------------------------------------------------------------
    def _new(self, now: float, organizer_id: str, organizer_upn: str, tenant_id: str, external_id: str,
             subject: str | None, start: int, end: int, attendees: list[dict[str, Any]]) -> Meeting:
        thread_id = f"19:meeting_{_b64(str(uuid.uuid4()))}@thread.v2"
        meeting_id = _b64(f"1*{organizer_id}*0**{thread_id}")
        context = f"%7b%22Tid%22%3a%22{tenant_id}%22%2c%22Oid%22%3a%22{organizer_id}%22%7d"
        join_url = ("https://teams.microsoft.com/l/meetup-join/"
                    f"{thread_id.replace(':', '%3a').replace('@', '%40')}/0?context={context}")
        conference_id = str(100_000_000 + secrets.randbelow(900_000_000))
        state: dict[str, Any] = {
            "id": meeting_id,
            "creationDateTime": format_ticks(int(now * TICKS_PER_SECOND)),
            "startDateTime": format_ticks(start),
            "endDateTime": format_ticks(end),
            "joinWebUrl": join_url,
            "subject": subject,
            "isBroadcast": False,
            "isEntryExitAnnounced": True,
            "allowedPresenters": "everyone",
            "allowMeetingChat": "enabled",
            "allowTeamworkReactions": True,
            "allowAttendeeToEnableCamera": True,
            "allowAttendeeToEnableMic": True,
            "allowBreakoutRooms": True,
            "allowCopyingAndSharingMeetingContent": True,
            "allowLiveShare": "enabled",
            "allowParticipantsToChangeName": False,
            "allowPowerPointSharing": True,
            "allowRecording": True,
            "allowTranscription": True,
            "allowWhiteboard": True,
            "allowedLobbyAdmitters": None,
            "anonymizeIdentityForRoles": [],
            "recordAutomatically": False,
            "shareMeetingChatHistoryDefault": None,
            "watermarkProtection": None,
            "broadcastSettings": None,
            "videoTeleconferenceId": None,
            "externalId": external_id,
            "participants": {
                "organizer": {"upn": organizer_upn, "role": "presenter", "identity": {"user": {
                    "id": organizer_id, "displayName": None, "tenantId": tenant_id, "identityProvider": "AAD"}}},
                "attendees": attendees,
                "producers": [],
                "contributors": [],
            },
            "lobbyBypassSettings": {"scope": "organization", "isDialInBypassEnabled": False},
            "joinMeetingIdSettings": {"isPasscodeRequired": False, "joinMeetingId": self._join_meeting_id(),
                                      "passcode": None},
            "audioConferencing": {
                "conferenceId": conference_id, "tollNumber": "+44 20 7946 0321", "tollFreeNumber": None,
                "tollNumbers": ["+44 20 7946 0321"], "tollFreeNumbers": [],
                "dialinUrl": f"https://dialin.teams.microsoft.com/{uuid.uuid4()}?id={conference_id}"},
            "chatInfo": {"threadId": thread_id, "messageId": "0", "replyChainMessageId": None},
        }
        return Meeting(meeting_id, organizer_id, external_id, state, now, now)

    def _join_meeting_id(self) -> str:
        taken = {m.join_meeting_id for m in self.meetings.values()}
        while True:
            candidate = str(100_000_000_000 + secrets.randbelow(900_000_000_000))
            if candidate not in taken:
                return candidate


