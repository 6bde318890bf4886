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

from graph_emulator.core.account import Account
from graph_emulator.core.backend import Backend
from graph_emulator.core.errors import GraphFault
from graph_emulator.core.http import Call, Reply, Route
from graph_emulator.meetings.models import Meeting

__all__ = ["TEAMS_POLICY_MISSING", "MeetingRoutes", "meeting_routes"]

# What Graph answers an app that no Teams application access policy lets act for the user (microsoft-graph-docs
# PR 21541; msgraph-sdk-dotnet issue 2350). Granting a policy takes up to 30 minutes to show.
TEAMS_POLICY_MISSING = "No application access policy found for this app."
_FILTER_RE = re.compile(r"^\s*(?P<prop>[A-Za-z]+(?:/[A-Za-z]+)?)\s+eq\s+'(?P<literal>(?:[^']|'')*)'\s*$")
_FILTER_EXPECTED = "Filter expression expected - /onlineMeetings?$filter={ParameterName} eq '{id}'."


def _wants_unknown_enum_members(call: Call) -> bool:
    return "include-unknown-enum-members" in call.headers.get("prefer", "").lower()


class MeetingRoutes:
    """One handler per online-meeting route, each over `backend.meetings`, for the organiser the path names (a user
    of the directory); the helpers that resolve the organiser and shape a meeting start with `_`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def _organizer(self, call: Call) -> Account:
        key = call.params["user"].lower()
        user = next((u for u in self.backend.directory.users.values() if u.id.lower() == key), None)
        if user is None:
            raise GraphFault(404, "NotFound", f"User '{call.params['user']}' was not found.")
        if not self.backend.tenant.teams_policy:  # no application access policy covers the organiser
            raise GraphFault(403, "General", TEAMS_POLICY_MISSING)
        return user

    def _entity(self, call: Call, user: Account, meeting: Meeting) -> dict[str, Any]:
        return {"@odata.context": call.context(f"users('{user.id}')/onlineMeetings/$entity"),
                **meeting.as_json(include_unknown_enum_members=_wants_unknown_enum_members(call))}

    def create_or_get(self, call: Call) -> Reply:
        user = self._organizer(call)
        meeting, created = self.backend.meetings.create_or_get(
            organizer_id=user.id, organizer_upn=user.user_principal_name, tenant_id=self.backend.identity.tenant_id,
            body=call.json_object())
        return Reply(201 if created else 200, self._entity(call, user, meeting))

    def get_meeting(self, call: Call) -> Reply:
        user = self._organizer(call)
        meeting = self.backend.meetings.get(user.id, call.params["meeting"], as_attendee=True)
        return Reply(200, self._entity(call, user, meeting))

    def patch_meeting(self, call: Call) -> Reply:
        user = self._organizer(call)
        meeting = self.backend.meetings.update(user.id, call.params["meeting"], call.json_object())
        return Reply(200, self._entity(call, user, meeting))

    def delete_meeting(self, call: Call) -> Reply:
        user = self._organizer(call)
        self.backend.meetings.delete(user.id, call.params["meeting"])
        return Reply(204)

    def find_meetings(self, call: Call) -> Reply:
        """Only the two lookups Graph documents for a user's meetings; there is no listing of them all."""
        user = self._organizer(call)
        match = _FILTER_RE.match(call.query.get("$filter") or "")
        prop = match.group("prop").lower() if match else None
        if match is None or prop not in ("joinweburl", "joinmeetingidsettings/joinmeetingid"):
            raise GraphFault(400, "InvalidArgument", _FILTER_EXPECTED)
        literal = match.group("literal").replace("''", "'")
        if prop == "joinweburl":
            # The docs ask for the URL encoded inside the literal; a plain one is found as well.
            found = self.backend.meetings.by_join_web_url(user.id, literal) or \
                self.backend.meetings.by_join_web_url(user.id, unquote(literal))
        else:
            found = self.backend.meetings.by_join_meeting_id(user.id, literal)
        unknown = _wants_unknown_enum_members(call)
        return Reply(200, {"@odata.context": call.context(f"users('{user.id}')/onlineMeetings"),
                           "value": [found.as_json(include_unknown_enum_members=unknown)] if found else []})

    def reports(self, call: Call) -> Reply:
        """attendanceReports: a meeting's reports, without their records (asked for one report at a time)."""
        user = self._organizer(call)
        meeting = self.backend.meetings.get(user.id, call.params["meeting"], as_attendee=True)
        return Reply(200, {"@odata.context": call.context(f"users('{user.id}')/onlineMeetings('{meeting.id}')/"
                                                          "attendanceReports"),
                           "value": [{k: v for k, v in r.items() if k != "attendanceRecords"}
                                     for r in meeting.reports]})

    def records(self, call: Call) -> Reply:
        user = self._organizer(call)
        meeting = self.backend.meetings.get(user.id, call.params["meeting"], as_attendee=True)
        report = next((r for r in meeting.reports if r["id"] == call.params["report"]), None)
        if report is None:
            raise GraphFault(404, "NotFound", "The attendance report was not found.")
        return Reply(200, {"@odata.context": call.context("attendanceRecords"), "value": report["attendanceRecords"]})

    def routes(self) -> list[Route]:
        base = "/users/{user}/onlineMeetings"
        return [
            Route("POST", base + "/createOrGet", self.create_or_get),
            Route("GET", base, self.find_meetings),
            Route("GET", base + "/{meeting}", self.get_meeting),
            Route("PATCH", base + "/{meeting}", self.patch_meeting),
            Route("DELETE", base + "/{meeting}", self.delete_meeting),
            Route("GET", base + "/{meeting}/attendanceReports", self.reports),
            Route("GET", base + "/{meeting}/attendanceReports/{report}/attendanceRecords", self.records),
        ]


def meeting_routes(backend: Backend) -> list[Route]:
    """Online meetings, served from `backend.meetings`."""
    return MeetingRoutes(backend).routes()
