"""Teams online meetings through Graph, organised by one user, made idempotent by an external id."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pydantic import Field

from graph_client._client import GraphClient
from graph_client._errors import NotFoundError
from graph_client._models import GraphModel, Page

__all__ = ["Attendee", "OnlineMeeting", "OnlineMeetings", "graph_time"]


class AttendanceReport(GraphModel):
    id: str
    total_participant_count: int = 0


class AttendeeIdentity(GraphModel):
    id: str | None = None
    display_name: str | None = None


class Attendee(GraphModel):
    """One attendanceRecord: `email_address` is None for someone who joined without signing in, and has been
    reported empty for others (microsoft-graph-docs issue 13629); `identity.id` is the user's directory id (the
    attendancerecord-list reference's example)."""

    email_address: str | None = None
    total_attendance_in_seconds: int = 0
    role: str | None = None
    identity: AttendeeIdentity | None = None

    @property
    def user_id(self) -> str | None:
        return self.identity.id if self.identity is not None and self.identity.id else None


class OnlineMeeting(GraphModel):
    id: str
    join_web_url: str
    subject: str | None = None
    external_id: str | None = None
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None
    allowed_presenters: str | None = None
    lobby_bypass_settings: dict[str, Any] = Field(default_factory=dict)


def graph_time(moment: datetime) -> str:
    """A date-time as Graph takes it: UTC, `Z` (a naive time is taken to be UTC already)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class OnlineMeetings:
    """Meetings of one organiser (`organizer_id`: the user's object id, as the onlineMeetings API wants)."""

    def __init__(self, client: GraphClient, organizer_id: str) -> None:
        self.client = client
        self.base = f"/users/{organizer_id}/onlineMeetings"

    @staticmethod
    def presenters(upns: Sequence[str], user_ids: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """meetingParticipantInfo for each presenter: by directory id as well as address where the id is known,
        as every example in the createOrGet and onlineMeeting references gives them; by address alone otherwise."""
        ids = user_ids or {}
        return [{"upn": upn, "role": "presenter"} | ({"identity": {"user": {"id": ids[upn]}}} if ids.get(upn) else {})
                for upn in upns]

    def create_or_get(self, external_id: str, subject: str, start: datetime, end: datetime,
                      presenters: Sequence[str], user_ids: Mapping[str, str] | None = None) -> OnlineMeeting:
        """The meeting for `external_id`, made if it does not exist. Sends no invitations to anyone.

        Safe to repeat (Graph finds the meeting by its external id), so a lost answer is simply asked again.
        """
        body = {"externalId": external_id, "subject": subject, "startDateTime": graph_time(start),
                "endDateTime": graph_time(end), "participants": {"attendees": self.presenters(presenters, user_ids)}}
        operation = "create a Teams meeting"
        response = self.client.send(operation, "POST", f"{self.base}/createOrGet", json=body, idempotent=True)
        return self.client.parse(operation, response, OnlineMeeting)

    def find_by_join_url(self, join_url: str) -> OnlineMeeting | None:
        """The organiser's meeting with this join link (`$filter=JoinWebUrl eq '...'`), or None. It reads only, so
        `coprod check` uses it to show the Teams application access policy covers the organiser."""
        query = {"$filter": f"JoinWebUrl eq '{quote(join_url, safe='')}'"}
        page = self.client.get("look up a Teams meeting", self.base, Page[OnlineMeeting], params=query)
        return page.value[0] if page.value else None

    def update(self, meeting_id: str, changes: dict[str, Any]) -> OnlineMeeting:
        """PATCH the meeting; NotFoundError when it is gone."""
        operation = "update a Teams meeting"
        response = self.client.send(operation, "PATCH", f"{self.base}/{meeting_id}", json=changes)
        return self.client.parse(operation, response, OnlineMeeting)

    def delete(self, meeting_id: str) -> None:
        with contextlib.suppress(NotFoundError):  # gone already: what we wanted
            self.client.send("delete a Teams meeting", "DELETE", f"{self.base}/{meeting_id}")

    def attendance(self, meeting_id: str) -> list[Attendee] | None:
        """Everyone recorded in the meeting's attendance reports (one a time it was held), or None when Teams has
        made no report (yet: it comes after the meeting ends; never, if nobody joined). Reads only."""
        reports = [r for page in self.client.pages("read a meeting's attendance reports",
                                                   f"{self.base}/{meeting_id}/attendanceReports",
                                                   Page[AttendanceReport]) for r in page.value]
        if not reports:
            return None
        return [a for report in reports for page in self.client.pages(
            "read a meeting's attendance records",
            f"{self.base}/{meeting_id}/attendanceReports/{report.id}/attendanceRecords", Page[Attendee])
            for a in page.value]
