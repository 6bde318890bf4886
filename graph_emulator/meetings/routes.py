"""Online meeting routes: createOrGet, get (and `$filter` on JoinWebUrl), update, delete, attendance reports.

App-only, on behalf of an organiser: `/users/{userId}/onlineMeetings/...`.
The docs ask for the user's object id there, and a userPrincipalName does
not work for online meetings (msgraph-sdk-dotnet#1215, msgraph-sdk-java#1836),
so only ids resolve; anything else answers as an unknown user does.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from graph_emulator.core.backend import Backend
from graph_emulator.core.errors import GraphFault
from graph_emulator.core.http import Call, Reply, Route
from graph_emulator.directory.models import User
from graph_emulator.meetings.models import Meeting

__all__ = ["TEAMS_POLICY_MISSING", "meeting_routes"]

# What Graph answers an app that no Teams application access policy lets act for the user (microsoft-graph-docs
# PR 21541; msgraph-sdk-dotnet issue 2350). Granting a policy takes up to 30 minutes to show.
TEAMS_POLICY_MISSING = "No application access policy found for this app."
_FILTER_RE = re.compile(r"^\s*(?P<prop>[A-Za-z]+(?:/[A-Za-z]+)?)\s+eq\s+'(?P<literal>(?:[^']|'')*)'\s*$")
_FILTER_EXPECTED = "Filter expression expected - /onlineMeetings?$filter={ParameterName} eq '{id}'."


def _wants_unknown_enum_members(call: Call) -> bool:
    return "include-unknown-enum-members" in call.headers.get("prefer", "").lower()


def meeting_routes(backend: Backend) -> list[Route]:
    """Online meetings, served from `backend.meetings`."""
    def organizer(call: Call) -> User:
        key = call.params["user"].lower()
        user = next((u for u in backend.directory.users.values() if u.id.lower() == key), None)
        if user is None:
            raise GraphFault(404, "NotFound", f"User '{call.params['user']}' was not found.")
        if not backend.tenant.teams_policy:  # no application access policy covers the organiser
            raise GraphFault(403, "General", TEAMS_POLICY_MISSING)
        return user

    def entity(call: Call, user: User, meeting: Meeting) -> dict[str, Any]:
        return {"@odata.context": call.context(f"users('{user.id}')/onlineMeetings/$entity"),
                **meeting.as_json(include_unknown_enum_members=_wants_unknown_enum_members(call))}

    def create_or_get(call: Call) -> Reply:
        user = organizer(call)
        meeting, created = backend.meetings.create_or_get(
            organizer_id=user.id, organizer_upn=user.user_principal_name, tenant_id=backend.identity.tenant_id,
            body=call.json_object())
        return Reply(201 if created else 200, entity(call, user, meeting))

    def get_meeting(call: Call) -> Reply:
        user = organizer(call)
        return Reply(200, entity(call, user, backend.meetings.get(user.id, call.params["meeting"], as_attendee=True)))

    def patch_meeting(call: Call) -> Reply:
        user = organizer(call)
        meeting = backend.meetings.update(user.id, call.params["meeting"], call.json_object())
        return Reply(200, entity(call, user, meeting))

    def delete_meeting(call: Call) -> Reply:
        user = organizer(call)
        backend.meetings.delete(user.id, call.params["meeting"])
        return Reply(204)

    def find_meetings(call: Call) -> Reply:
        """Only the two lookups Graph documents for a user's meetings; there is no listing of them all."""
        user = organizer(call)
        match = _FILTER_RE.match(call.query.get("$filter") or "")
        prop = match.group("prop").lower() if match else None
        if match is None or prop not in ("joinweburl", "joinmeetingidsettings/joinmeetingid"):
            raise GraphFault(400, "InvalidArgument", _FILTER_EXPECTED)
        literal = match.group("literal").replace("''", "'")
        if prop == "joinweburl":
            # The docs ask for the URL encoded inside the literal; a plain one is found as well.
            found = backend.meetings.by_join_web_url(user.id, literal) or \
                backend.meetings.by_join_web_url(user.id, unquote(literal))
        else:
            found = backend.meetings.by_join_meeting_id(user.id, literal)
        unknown = _wants_unknown_enum_members(call)
        return Reply(200, {"@odata.context": call.context(f"users('{user.id}')/onlineMeetings"),
                           "value": [found.as_json(include_unknown_enum_members=unknown)] if found else []})

    def reports(call: Call) -> Reply:
        """attendanceReports: a meeting's reports, without their records (asked for one report at a time)."""
        user = organizer(call)
        meeting = backend.meetings.get(user.id, call.params["meeting"], as_attendee=True)
        return Reply(200, {"@odata.context": call.context(f"users('{user.id}')/onlineMeetings('{meeting.id}')/"
                                                          "attendanceReports"),
                           "value": [{k: v for k, v in r.items() if k != "attendanceRecords"}
                                     for r in meeting.reports]})

    def records(call: Call) -> Reply:
        user = organizer(call)
        meeting = backend.meetings.get(user.id, call.params["meeting"], as_attendee=True)
        report = next((r for r in meeting.reports if r["id"] == call.params["report"]), None)
        if report is None:
            raise GraphFault(404, "NotFound", "The attendance report was not found.")
        return Reply(200, {"@odata.context": call.context("attendanceRecords"), "value": report["attendanceRecords"]})

    base = "/users/{user}/onlineMeetings"
    return [
        Route("POST", base + "/createOrGet", create_or_get),
        Route("GET", base, find_meetings),
        Route("GET", base + "/{meeting}", get_meeting),
        Route("PATCH", base + "/{meeting}", patch_meeting),
        Route("DELETE", base + "/{meeting}", delete_meeting),
        Route("GET", base + "/{meeting}/attendanceReports", reports),
        Route("GET", base + "/{meeting}/attendanceReports/{report}/attendanceRecords", records),
    ]
