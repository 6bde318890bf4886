"""The Teams meeting's assumptions, on a meeting for the throwaway session, through the service's own calls.

- onlinemeeting-createorget: "If the external ID already exists, this API will return the onlineMeeting object
  with that external ID", so a repeated run (or two at once) never makes a second meeting; it invites nobody
  (the participants are the organiser alone) and needs OnlineMeetings.ReadWrite.All with a Teams application
  access policy for the organiser;
- onlinemeeting-update: a PATCH of subject and times answers with the meeting as it now is; a PATCH of
  `lobbyBypassSettings` to `organizer` shuts the meeting (everyone else waits in the lobby), as the meetings sync
  shuts a cancelled session's meeting before deleting it (`coprod.meetings.sync.SHUT`);
- meetingattendancereport-list: 200 with the meeting's reports, one a time it was held ("Each time an online
  meeting ... ends, an attendance report is generated"), so none for a meeting nobody has joined. A 404 for such
  a meeting counts as allowed too (the call got past permissions and the policy); only a refusal (403: no
  OnlineMeetingArtifact.Read.All, or no policy) fails the line.

A meeting is recorded (by its externalId) before it is asked for, and by its id once made, so that whatever
happens it is removed: here at the end, or by the next rehearsal.
"""

from __future__ import annotations

from datetime import timedelta

from coprod.meetings.sync import SHUT
from coprod.rehearse._report import MAINTAINERS, Scene, Unheld
from graph_client import GraphResponseError, NotFoundError, OnlineMeeting, graph_time

__all__ = ["attendance", "find_again", "lock", "make", "update"]


def _meeting(scene: Scene) -> OnlineMeeting:
    meeting = scene.facts.get("meeting")
    if not isinstance(meeting, OnlineMeeting):
        raise Unheld("not tried: the meeting was not made", "see the line about it above")
    return meeting


def make(scene: Scene) -> str:
    scene.made.meeting(scene.external_id)
    try:
        meeting = scene.services.meetings.create_or_get(scene.external_id, scene.title, scene.start, scene.end, [])
    except GraphResponseError as error:
        if error.status < 500 and error.status not in (408, 429):  # refused: certainly not made
            scene.made.forget_meeting(scene.external_id)
        raise  # (a lost answer after every retry: it may have been made, and stays recorded for removal)
    scene.made.meeting(scene.external_id, meeting.id)
    scene.facts["meeting"] = meeting
    return "held: made for the organiser (M365_ORGANIZER_ID) by createOrGet, inviting nobody"


def find_again(scene: Scene) -> str:
    first = _meeting(scene)
    again = scene.services.meetings.create_or_get(scene.external_id, scene.title, scene.start, scene.end, [])
    if again.id == first.id:
        return "held: asked again with the same externalId, Graph answered with the same meeting, not a second"
    scene.made.meeting(f"{scene.external_id} (second)", again.id)
    raise Unheld("asked again with the same externalId, Graph made a second meeting", "the service relies on it "
                 f"so that a repeated or interrupted run never makes a session two meetings; {MAINTAINERS}")


def update(scene: Scene) -> str:
    meeting = _meeting(scene)
    subject, end = f"{scene.title} (moved)", scene.end + timedelta(minutes=30)
    answer = scene.services.meetings.update(meeting.id, {"subject": subject, "startDateTime": graph_time(scene.start),
                                                          "endDateTime": graph_time(end)})
    if answer.subject == subject and answer.end_date_time is not None and answer.end_date_time == end:
        return "held: a new subject and end time, and the answer shows them"
    raise Unheld(f"the answer shows subject {answer.subject!r} ending {answer.end_date_time}, not what was written",
                 f"the service takes a session's new title or time to its meeting this way; {MAINTAINERS}")


def lock(scene: Scene) -> str:
    meeting = _meeting(scene)
    answer = scene.services.meetings.update(meeting.id, {"lobbyBypassSettings": SHUT})
    scope = answer.lobby_bypass_settings.get("scope")
    if scope == "organizer":
        return ("held: the lobby now lets in the organiser only, as a cancelled session's meeting is shut before "
                "it is deleted")
    raise Unheld(f"the answer's lobby lets in {scope!r}, not the organiser only",
                 f"a cancelled session's meeting would stay open to anyone with its link; {MAINTAINERS}")


def attendance(scene: Scene) -> str:
    meeting = _meeting(scene)
    try:
        records = scene.services.meetings.attendance(meeting.id)
    except NotFoundError as error:
        return f"held: the call is allowed (404 {error.code or ''}: no report, the meeting has not taken place)"
    if records is None:
        return "held: the call is allowed (200, no report yet: nobody has joined the meeting)"
    return f"held: the call is allowed (200, {len(records)} attendance records)"
