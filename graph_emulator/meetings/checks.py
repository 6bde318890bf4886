"""Teams online meetings: the checks a request body meets before anything changes, and Graph's date-times.

Split from `models.py` (state and rules) so each stays short; the facts these follow are listed there.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from graph_emulator.core.errors import GraphFault, bad_request

__all__ = ["LOBBY_SCOPES", "ROLES", "TICKS_PER_SECOND", "attendees", "checked_update", "create_times",
           "format_ticks", "optional_str", "parse_datetime", "participants_object"]

TICKS_PER_SECOND = 10_000_000  # .NET ticks: Graph keeps date-times to 100 ns
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATETIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?$",
                          re.IGNORECASE)
PRESENTERS = ("everyone", "organization", "roleIsPresenter", "organizer")
LOBBY_SCOPES = ("organizer", "organization", "organizationAndFederated", "everyone", "invited",
                "organizationExcludingGuests")
ROLES = ("attendee", "presenter", "producer", "coorganizer")
CHAT_MODES = ("enabled", "disabled", "limited")
LIVE_SHARE = ("enabled", "disabled")
LOBBY_ADMITTERS = ("organizerAndCoOrganizersAndPresenters", "organizerAndCoOrganizers")
BOOLEANS = ("allowAttendeeToEnableCamera", "allowAttendeeToEnableMic", "allowBreakoutRooms",
             "allowCopyingAndSharingMeetingContent", "allowPowerPointSharing", "allowRecording",
             "allowTeamworkReactions", "allowTranscription", "allowWhiteboard", "isEntryExitAnnounced",
             "recordAutomatically")
ENUMS: dict[str, tuple[str, ...]] = {"allowedPresenters": PRESENTERS, "allowMeetingChat": CHAT_MODES,
                                      "allowLiveShare": LIVE_SHARE, "allowedLobbyAdmitters": LOBBY_ADMITTERS}
UPDATABLE = frozenset({*BOOLEANS, *ENUMS, "anonymizeIdentityForRoles", "endDateTime", "lobbyBypassSettings",
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


def optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{key} must be a string.", code="BadRequest")
    return value


def create_times(body: dict[str, Any], now: float) -> tuple[int, int]:
    raw_start, raw_end = body.get("startDateTime"), body.get("endDateTime")
    if raw_start is None and raw_end is not None:
        raise bad_request("endDateTime cannot be provided without startDateTime.", code="BadRequest")
    start = parse_datetime(raw_start, "startDateTime") if raw_start is not None else int(now * TICKS_PER_SECOND)
    end = parse_datetime(raw_end, "endDateTime") if raw_end is not None else start + 3600 * TICKS_PER_SECOND
    if end < start:
        raise bad_request("endDateTime cannot be earlier than startDateTime.", code="BadRequest")
    return start, end


def participants_object(body: dict[str, Any]) -> dict[str, Any]:
    participants = body.get("participants")
    if participants is None:
        return {}
    if not isinstance(participants, dict):
        raise bad_request("participants must be an object.", code="BadRequest")
    return participants


def attendees(participants: dict[str, Any], tenant_id: str) -> list[dict[str, Any]]:
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
    upn = optional_str(entry, "upn")
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


def checked_update(state: dict[str, Any], organizer_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The changes a PATCH body asks for of a meeting (`state`: the stored onlineMeeting; `organizer_id`: its
    organiser's), all checked; raises before anything is applied."""
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key.startswith("@odata."):
            continue  # annotations such as @odata.type describe the body, they change nothing
        changes[key] = _checked_property(state, organizer_id, body, key, value)
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


def _checked_property(state: dict[str, Any], organizer_id: str, body: dict[str, Any], key: str, value: Any) -> Any:
    """One property of a PATCH body, checked: the value to store."""
    if key in READ_ONLY:
        raise bad_request(f"Property '{key}' is read-only and cannot be updated.", code="BadRequest")
    if key not in UPDATABLE:
        raise bad_request(f"The property '{key}' does not exist on type 'microsoft.graph.onlineMeeting'. Make "
                          "sure to only use property names that are defined by the type or mark the type as "
                          "open type.", code="BadRequest")
    if key in BOOLEANS:
        if not isinstance(value, bool):
            raise bad_request(f"Invalid value for property '{key}': a Boolean is expected.", code="BadRequest")
    elif key in ENUMS:
        if value not in ENUMS[key]:
            raise bad_request(f"Invalid value '{value}' for property '{key}'.", code="BadRequest")
    elif key == "subject":
        optional_str(body, key)
    elif key == "lobbyBypassSettings":
        return _lobby(value)
    elif key == "participants":
        return _patched_attendees(state, organizer_id, value)
    elif key == "anonymizeIdentityForRoles":
        return _anonymized_roles(state, value)
    return value


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


def _patched_attendees(state: dict[str, Any], organizer_id: str, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, dict):
        raise bad_request("participants must be an object.", code="BadRequest")
    current = state["participants"]
    organizer = value.get("organizer")
    if organizer is not None:
        user = (organizer.get("identity") or {}).get("user") if isinstance(organizer, dict) else None
        user_id = user.get("id") if isinstance(user, dict) else None
        if not isinstance(user_id, str) or user_id.lower() != organizer_id:
            raise bad_request("The organizer of an online meeting cannot be changed.", code="BadRequest")
    if "attendees" not in value:
        return list(current["attendees"])
    tenant_id = current["organizer"]["identity"]["user"]["tenantId"]
    return attendees(value, tenant_id)


def _anonymized_roles(state: dict[str, Any], value: Any) -> list[str]:
    if not isinstance(value, list) or any(role != "attendee" for role in value):
        raise bad_request("anonymizeIdentityForRoles takes only 'attendee'.", code="BadRequest")
    if "attendee" in state["anonymizeIdentityForRoles"] and "attendee" not in value:
        raise bad_request("The 'attendee' value of anonymizeIdentityForRoles cannot be removed.", code="BadRequest")
    return list(dict.fromkeys(value))
