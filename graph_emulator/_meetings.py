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
"""

from __future__ import annotations

import base64
import copy
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from graph_emulator._errors import GraphFault, bad_request

__all__ = ["Meeting", "Meetings", "format_ticks", "organizer_of", "parse_datetime"]

TICKS_PER_SECOND = 10_000_000  # .NET ticks: Graph keeps date-times to 100 ns
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATETIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?$",
                          re.IGNORECASE)
_ID_RE = re.compile(r"^1\*(?P<organizer>[0-9a-fA-F-]{36})\*0\*\*19:meeting_[A-Za-z0-9]+@thread\.v2$")

PRESENTERS = ("everyone", "organization", "roleIsPresenter", "organizer")
LOBBY_SCOPES = ("organizer", "organization", "organizationAndFederated", "everyone", "invited",
                "organizationExcludingGuests")
ROLES = ("attendee", "presenter", "producer", "coorganizer")
CHAT_MODES = ("enabled", "disabled", "limited")
LIVE_SHARE = ("enabled", "disabled")
LOBBY_ADMITTERS = ("organizerAndCoOrganizersAndPresenters", "organizerAndCoOrganizers")
# Members declared after `unknownFutureValue`: hidden from callers who do not opt in.
_LATE_LOBBY_SCOPES = frozenset({"invited", "organizationExcludingGuests"})
_LATE_ROLES = frozenset({"producer", "coorganizer"})

_BOOLEANS = ("allowAttendeeToEnableCamera", "allowAttendeeToEnableMic", "allowBreakoutRooms",
             "allowCopyingAndSharingMeetingContent", "allowPowerPointSharing", "allowRecording",
             "allowTeamworkReactions", "allowTranscription", "allowWhiteboard", "isEntryExitAnnounced",
             "recordAutomatically")
_ENUMS: dict[str, tuple[str, ...]] = {"allowedPresenters": PRESENTERS, "allowMeetingChat": CHAT_MODES,
                                      "allowLiveShare": LIVE_SHARE, "allowedLobbyAdmitters": LOBBY_ADMITTERS}
UPDATABLE = frozenset({*_BOOLEANS, *_ENUMS, "anonymizeIdentityForRoles", "endDateTime", "lobbyBypassSettings",
                       "participants", "startDateTime", "subject", "watermarkProtection", "broadcastSettings"})
READ_ONLY = frozenset({"id", "creationDateTime", "joinWebUrl", "joinMeetingIdSettings", "externalId", "chatInfo",
                       "videoTeleconferenceId", "audioConferencing", "joinInformation", "isBroadcast",
                       "allowParticipantsToChangeName", "shareMeetingChatHistoryDefault", "meetingTemplateId",
                       "attendeeReport", "recordings", "transcripts", "attendanceReports"})


def parse_datetime(value: Any, name: str) -> int:
    """An `Edm.DateTimeOffset` from a request body, as 100 ns ticks since 1970 (UTC); no offset reads as UTC."""
    match = _DATETIME_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise _invalid_literal(value, name)
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=UTC)
    except ValueError:
        raise _invalid_literal(value, name) from None
    if zone and zone.upper() != "Z":
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    whole = (moment - _EPOCH) // timedelta(seconds=1)
    return whole * TICKS_PER_SECOND + int((fraction or "").ljust(7, "0")[:7])


def format_ticks(ticks: int) -> str:
    """Graph's form: UTC, `Z`, up to 7 fractional digits with trailing zeros dropped."""
    seconds, rest = divmod(ticks, TICKS_PER_SECOND)
    text = (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{rest:07d}".rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


def _invalid_literal(value: Any, name: str) -> GraphFault:
    literal = "null" if value is None else value
    return bad_request(f"Cannot convert the literal '{literal}' to the expected type 'Edm.DateTimeOffset'. "
                       f"(property '{name}')", code="BadRequest")


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
        record for each attendee: `email` (None for someone who joined anonymously), `name`, `seconds`."""
        meeting = self.meetings[meeting_id]
        start, end = meeting.json.get("startDateTime"), meeting.json.get("endDateTime")
        records = [{"id": str(uuid.uuid4()), "emailAddress": a.get("email"), "totalAttendanceInSeconds":
                    int(a.get("seconds") or 0), "role": a.get("role") or "Attendee",
                    "identity": {"id": str(uuid.uuid4()) if a.get("email") else None,
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
        subject = _optional_str(body, "subject")
        now = self.clock()
        start, end = _create_times(body, now)
        attendees = _attendees(_participants_object(body), tenant_id)
        if "chatInfo" in body and body["chatInfo"] is not None and not isinstance(body["chatInfo"], dict):
            raise bad_request("chatInfo must be an object.", code="BadRequest")
        existing = self.by_external_id(organizer_id, external_id)
        if existing is not None:
            return existing, False
        meeting = self._new(now, organizer_id.lower(), organizer_upn, tenant_id, external_id, subject, start, end,
                            attendees)
        self.meetings[meeting.id] = meeting
        return meeting, True

    def update(self, user_id: str, meeting_id: str, body: dict[str, Any]) -> Meeting:
        """PATCH: the properties Graph lets a client change, checked before any is applied."""
        meeting = self.get(user_id, meeting_id)
        changes = _checked_update(meeting, body)
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


# --- request checks ---------------------------------------------------------------------
def _optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{key} must be a string.", code="BadRequest")
    return value


def _create_times(body: dict[str, Any], now: float) -> tuple[int, int]:
    raw_start, raw_end = body.get("startDateTime"), body.get("endDateTime")
    if raw_start is None and raw_end is not None:
        raise bad_request("endDateTime cannot be provided without startDateTime.", code="BadRequest")
    start = parse_datetime(raw_start, "startDateTime") if raw_start is not None else int(now * TICKS_PER_SECOND)
    end = parse_datetime(raw_end, "endDateTime") if raw_end is not None else start + 3600 * TICKS_PER_SECOND
    if end < start:
        raise bad_request("endDateTime cannot be earlier than startDateTime.", code="BadRequest")
    return start, end


def _participants_object(body: dict[str, Any]) -> dict[str, Any]:
    participants = body.get("participants")
    if participants is None:
        return {}
    if not isinstance(participants, dict):
        raise bad_request("participants must be an object.", code="BadRequest")
    return participants


def _attendees(participants: dict[str, Any], tenant_id: str) -> list[dict[str, Any]]:
    raw = participants.get("attendees")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise bad_request("participants.attendees must be an array.", code="BadRequest")
    return [_participant(entry, tenant_id) for entry in raw]


def _participant(entry: Any, tenant_id: str) -> dict[str, Any]:
    """A meetingParticipantInfo as Graph echoes it: the user's identity gains its tenant and provider."""
    if not isinstance(entry, dict):
        raise bad_request("Each attendee must be a meetingParticipantInfo object.", code="BadRequest")
    upn = _optional_str(entry, "upn")
    role = entry.get("role")
    if role is not None and role not in ROLES:
        raise bad_request(f"Invalid value '{role}' for property 'role'.", code="BadRequest")
    identity = entry.get("identity")
    user = identity.get("user") if isinstance(identity, dict) else None
    if user is not None and (not isinstance(user, dict) or not isinstance(user.get("id"), str)):
        raise bad_request("identity.user must be an identity with an id.", code="BadRequest")
    shown = None if user is None else {
        "id": user["id"], "displayName": user.get("displayName"), "tenantId": user.get("tenantId") or tenant_id,
        "identityProvider": "AAD"}
    return {"upn": upn, "role": role, "identity": {"user": shown}}


def _checked_update(meeting: Meeting, body: dict[str, Any]) -> dict[str, Any]:
    """The changes a PATCH body asks for, all checked; raises before anything is applied."""
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key.startswith("@odata."):
            continue  # annotations such as @odata.type describe the body, they change nothing
        if key in READ_ONLY:
            raise bad_request(f"Property '{key}' is read-only and cannot be updated.", code="BadRequest")
        if key not in UPDATABLE:
            raise bad_request(f"The property '{key}' does not exist on type 'microsoft.graph.onlineMeeting'. Make "
                              "sure to only use property names that are defined by the type or mark the type as "
                              "open type.", code="BadRequest")
        if key in _BOOLEANS:
            if not isinstance(value, bool):
                raise bad_request(f"Invalid value for property '{key}': a Boolean is expected.", code="BadRequest")
        elif key in _ENUMS:
            if value not in _ENUMS[key]:
                raise bad_request(f"Invalid value '{value}' for property '{key}'.", code="BadRequest")
        elif key == "subject":
            _optional_str(body, key)
        elif key == "lobbyBypassSettings":
            value = _lobby(value)
        elif key == "participants":
            value = _patched_attendees(meeting, value)
        elif key == "anonymizeIdentityForRoles":
            value = _anonymized_roles(meeting, value)
        changes[key] = value
    if ("startDateTime" in body) != ("endDateTime" in body):
        raise bad_request("Both startDateTime and endDateTime are required to change the meeting time.",
                          code="BadRequest")
    if "startDateTime" in body:
        start = parse_datetime(body["startDateTime"], "startDateTime")
        end = parse_datetime(body["endDateTime"], "endDateTime")
        if end < start:
            raise bad_request("endDateTime cannot be earlier than startDateTime.", code="BadRequest")
        changes["startDateTime"], changes["endDateTime"] = format_ticks(start), format_ticks(end)
    return changes


def _lobby(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request("lobbyBypassSettings must be an object.", code="BadRequest")
    lobby: dict[str, Any] = {}
    for key, item in value.items():
        if key == "scope":
            if item not in LOBBY_SCOPES:
                raise bad_request(f"Invalid value '{item}' for property 'scope'.", code="BadRequest")
        elif key == "isDialInBypassEnabled":
            if not isinstance(item, bool):
                raise bad_request("Invalid value for property 'isDialInBypassEnabled': a Boolean is expected.",
                                  code="BadRequest")
        elif not key.startswith("@odata."):
            raise bad_request(f"The property '{key}' does not exist on type 'microsoft.graph.lobbyBypassSettings'.",
                              code="BadRequest")
        else:
            continue
        lobby[key] = item
    return lobby


def _patched_attendees(meeting: Meeting, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, dict):
        raise bad_request("participants must be an object.", code="BadRequest")
    current = meeting.json["participants"]
    organizer = value.get("organizer")
    if organizer is not None:
        user = (organizer.get("identity") or {}).get("user") if isinstance(organizer, dict) else None
        user_id = user.get("id") if isinstance(user, dict) else None
        if not isinstance(user_id, str) or user_id.lower() != meeting.organizer_id:
            raise bad_request("The organizer of an online meeting cannot be changed.", code="BadRequest")
    if "attendees" not in value:
        return list(current["attendees"])
    tenant_id = current["organizer"]["identity"]["user"]["tenantId"]
    return _attendees(value, tenant_id)


def _anonymized_roles(meeting: Meeting, value: Any) -> list[str]:
    if not isinstance(value, list) or any(role != "attendee" for role in value):
        raise bad_request("anonymizeIdentityForRoles takes only 'attendee'.", code="BadRequest")
    if "attendee" in meeting.json["anonymizeIdentityForRoles"] and "attendee" not in value:
        raise bad_request("The 'attendee' value of anonymizeIdentityForRoles cannot be removed.", code="BadRequest")
    return list(dict.fromkeys(value))
