"""The emulator's Teams online meetings behave as Graph v1.0's do, app-only on behalf of an organiser.

Plain httpx, each test twice (HTTPS and in-process), as in test_emulator_contract.
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from graph_emulator import EmulatorServer
from graph_emulator.directory.models import User
from graph_emulator.meetings.models import JOINERS
from tests.conftest import grant_roles
from tests.contract.test_emulator_contract import sdk_parse

GRAPH_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?Z$")


def meetings_path(user: User | str) -> str:
    return f"/v1.0/users/{user if isinstance(user, str) else user.id}/onlineMeetings"


def create_or_get(http: httpx.Client, user: User | str, **body: Any) -> httpx.Response:
    return http.post(f"{meetings_path(user)}/createOrGet", json=body)


def graph_time(text: str) -> datetime:
    """A Graph date-time, to the microsecond (enough to compare durations)."""
    assert GRAPH_TIME.match(text), text
    whole, _, fraction = text.removesuffix("Z").partition(".")
    return datetime.fromisoformat(whole).replace(tzinfo=UTC) + timedelta(microseconds=int(fraction[:6].ljust(6, "0")))


def error_of(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


@pytest.fixture
def organizer(emulator: EmulatorServer) -> User:
    return emulator.backend.organizer


@pytest.fixture
def someone_else(emulator: EmulatorServer) -> User:
    return emulator.backend.directory.add_user("Ada Officer", "ada.officer@council.example.org")


# --- createOrGet ---------------------------------------------------------------------
def test_create_or_get_creates_then_returns_the_same_meeting_unchanged(http: httpx.Client, organizer: User,
                                                                      emulator: EmulatorServer) -> None:
    """201 then 200; a later call's subject and times are ignored (the meeting is only got)."""
    first = create_or_get(http, organizer, externalId="session-1", subject="Having choice",
                          startDateTime="2030-05-01T10:00:00Z", endDateTime="2030-05-01T11:30:00Z")
    again = create_or_get(http, organizer, externalId="session-1", subject="Renamed",
                          startDateTime="2031-01-01T10:00:00Z", endDateTime="2031-01-01T11:00:00Z")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert (first.json()["subject"], first.json()["startDateTime"], first.json()["endDateTime"]) == \
        ("Having choice", "2030-05-01T10:00:00Z", "2030-05-01T11:30:00Z")
    kept = emulator.backend.meetings.by_external_id(organizer.id, "session-1")
    assert kept is not None
    assert (kept.id, kept.organizer_id, kept.external_id, kept.updates, kept.deleted) == \
        (first.json()["id"], organizer.id, "session-1", 0, False)
    assert len(emulator.backend.meetings.for_organizer(organizer.id)) == 1


def test_different_external_ids_give_different_meetings(http: httpx.Client, organizer: User,
                                                        emulator: EmulatorServer) -> None:
    one = create_or_get(http, organizer, externalId="session-1").json()
    two = create_or_get(http, organizer, externalId="session-2").json()
    for key in ("id", "joinWebUrl"):
        assert one[key] != two[key]
    assert one["joinMeetingIdSettings"]["joinMeetingId"] != two["joinMeetingIdSettings"]["joinMeetingId"]
    assert one["chatInfo"]["threadId"] != two["chatInfo"]["threadId"]
    assert [m.external_id for m in emulator.backend.meetings.for_organizer(organizer.id)] == ["session-1", "session-2"]


def test_the_same_external_id_under_two_organisers_is_two_meetings(http: httpx.Client, organizer: User,
                                                                   someone_else: User) -> None:
    """Graph: tenant, user and externalId together name a meeting."""
    mine = create_or_get(http, organizer, externalId="session-1")
    theirs = create_or_get(http, someone_else, externalId="session-1")
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]


def test_a_new_meeting_has_graphs_shape_ids_and_defaults(http: httpx.Client, organizer: User,
                                                         emulator: EmulatorServer) -> None:
    answer = create_or_get(http, organizer, externalId="session-7", subject="Carers' drop-in",
                           participants={"attendees": [{"upn": "ada.officer@council.example.org",
                                                        "identity": {"user": {"id": "1f35f2e6-9cab-44ad-8d5a-"
                                                                                    "b74c14720000"}}}]})
    body = answer.json()
    tenant = emulator.backend.identity.tenant_id
    thread = body["chatInfo"]["threadId"]
    assert re.fullmatch(r"19:meeting_[A-Za-z0-9]{48}@thread\.v2", thread)
    assert uuid.UUID(base64.b64decode(thread[len("19:meeting_"):-len("@thread.v2")]).decode())
    assert base64.b64decode(body["id"]).decode() == f"1*{organizer.id}*0**{thread}"
    assert body["joinWebUrl"] == (
        f"https://teams.microsoft.com/l/meetup-join/{thread.replace(':', '%3a').replace('@', '%40')}/0?context="
        f"%7b%22Tid%22%3a%22{tenant}%22%2c%22Oid%22%3a%22{organizer.id}%22%7d")
    assert body["@odata.context"].endswith(f"/v1.0/$metadata#users('{organizer.id}')/onlineMeetings/$entity")
    assert GRAPH_TIME.match(body["creationDateTime"])
    assert body["participants"] == {
        "organizer": {"upn": organizer.user_principal_name, "role": "presenter", "identity": {"user": {
            "id": organizer.id, "displayName": None, "tenantId": tenant, "identityProvider": "AAD"}}},
        "attendees": [{"upn": "ada.officer@council.example.org", "role": None, "identity": {"user": {
            "id": "1f35f2e6-9cab-44ad-8d5a-b74c14720000", "displayName": None, "tenantId": tenant,
            "identityProvider": "AAD"}}}],
        "producers": [], "contributors": []}
    assert {k: body[k] for k in ("subject", "externalId", "lobbyBypassSettings", "allowedPresenters",
                                 "isEntryExitAnnounced", "allowMeetingChat", "allowTeamworkReactions",
                                 "chatInfo")} == {
        "subject": "Carers' drop-in", "externalId": "session-7",
        "lobbyBypassSettings": {"scope": "organization", "isDialInBypassEnabled": False},
        "allowedPresenters": "everyone", "isEntryExitAnnounced": True, "allowMeetingChat": "enabled",
        "allowTeamworkReactions": True, "chatInfo": {"threadId": thread, "messageId": "0",
                                                     "replyChainMessageId": None}}
    settings = body["joinMeetingIdSettings"]
    assert (settings["isPasscodeRequired"], settings["passcode"]) == (False, None)
    assert settings["joinMeetingId"].isdigit()
    assert body["audioConferencing"]["dialinUrl"].startswith("https://dialin.teams.microsoft.com/")
    assert "videoTeleconferenceId" in body


def test_times_are_kept_in_utc_to_100ns_and_default_to_an_hour(http: httpx.Client, organizer: User) -> None:
    """Offsets become Z, 7 digits kept, trailing zeros dropped; a start alone, or none, lasts an hour."""
    given = create_or_get(http, organizer, externalId="a", startDateTime="2020-09-09T14:33:30.8546353-07:00",
                          endDateTime="2020-09-09T15:03:30.8566350-07:00").json()
    assert (given["startDateTime"], given["endDateTime"]) == ("2020-09-09T21:33:30.8546353Z",
                                                               "2020-09-09T22:03:30.856635Z")
    start_only = create_or_get(http, organizer, externalId="b", startDateTime="2030-05-01T10:00:00+01:00").json()
    assert (start_only["startDateTime"], start_only["endDateTime"]) == ("2030-05-01T09:00:00Z",
                                                                         "2030-05-01T10:00:00Z")
    neither = create_or_get(http, organizer, externalId="c").json()
    start, end = graph_time(neither["startDateTime"]), graph_time(neither["endDateTime"])
    assert end - start == timedelta(hours=1)
    assert abs(start - datetime.now(UTC)) < timedelta(minutes=1)


@pytest.mark.parametrize(("body", "why"), [
    ({"subject": "no external id"}, "externalId is required"),
    ({"externalId": ""}, "externalId is required"),
    ({"externalId": "x", "endDateTime": "2030-05-01T10:00:00Z"}, "an end needs a start"),
    ({"externalId": "x", "startDateTime": "2030-05-01T10:00:00Z", "endDateTime": "2030-05-01T09:59:59Z"},
     "the end is before the start"),
    ({"externalId": "x", "startDateTime": "next Tuesday"}, "not a date-time"),
])
def test_create_or_get_refuses_a_missing_external_id_and_wrong_times(http: httpx.Client, organizer: User,
                                                                     emulator: EmulatorServer,
                                                                     body: dict[str, Any], why: str) -> None:
    answer = http.post(f"{meetings_path(organizer)}/createOrGet", json=body)
    assert error_of(answer) == (400, "BadRequest"), why
    assert set(answer.json()["error"]) == {"code", "message", "innerError"}
    assert emulator.backend.meetings.for_organizer(organizer.id, include_deleted=True) == []


def test_an_end_equal_to_the_start_is_accepted(http: httpx.Client, organizer: User) -> None:
    """Graph refuses an end *earlier* than the start, not an empty meeting."""
    answer = create_or_get(http, organizer, externalId="x", startDateTime="2030-05-01T10:00:00Z",
                           endDateTime="2030-05-01T10:00:00Z")
    assert answer.status_code == 201


def test_create_or_get_ignores_settings_it_does_not_take(http: httpx.Client, organizer: User) -> None:
    """Lobby and presenters are not createOrGet parameters: accepted, ignored, set later with PATCH."""
    answer = create_or_get(http, organizer, externalId="x", lobbyBypassSettings={"scope": "organizer"},
                           allowedPresenters="organizer", chatInfo={"threadId": "19:abc@thread.tacv2"})
    body = answer.json()
    assert answer.status_code == 201
    assert (body["lobbyBypassSettings"], body["allowedPresenters"]) == (
        {"scope": "organization", "isDialInBypassEnabled": False}, "everyone")
    assert body["chatInfo"]["threadId"].startswith("19:meeting_")


# --- reading ------------------------------------------------------------------------
def test_get_by_id_and_by_join_web_url_or_join_meeting_id(http: httpx.Client, organizer: User) -> None:
    created = create_or_get(http, organizer, externalId="session-1", subject="Being included").json()
    create_or_get(http, organizer, externalId="session-2")
    by_id = http.get(f"{meetings_path(organizer)}/{created['id']}")
    assert (by_id.status_code, by_id.json()) == (200, created)
    collection_context = created["@odata.context"].removesuffix("/$entity")
    meeting = {k: v for k, v in created.items() if k != "@odata.context"}
    url = created["joinWebUrl"]
    for literal in (url, quote(url, safe="")):  # as it is, and URL-encoded as the docs ask
        found = http.get(meetings_path(organizer), params={"$filter": f"JoinWebUrl eq '{literal}'"})
        assert (found.status_code, found.json()) == (200, {"@odata.context": collection_context, "value": [meeting]})
    join_id = created["joinMeetingIdSettings"]["joinMeetingId"]
    found = http.get(meetings_path(organizer),
                     params={"$filter": f"joinMeetingIdSettings/joinMeetingId eq '{join_id}'"})
    assert found.json()["value"] == [meeting]
    nothing = http.get(meetings_path(organizer), params={"$filter": "JoinWebUrl eq 'https://example.org/x'"})
    assert (nothing.status_code, nothing.json()["value"]) == (200, [])


def test_listing_without_a_supported_filter_is_refused(http: httpx.Client, organizer: User) -> None:
    """Graph has no listing of a user's meetings: only the documented lookups."""
    create_or_get(http, organizer, externalId="session-1")
    for params in ({}, {"$filter": "startDateTime ge 2024-01-01T00:00:00Z"}, {"$filter": "subject eq 'x'"}):
        answer = http.get(meetings_path(organizer), params=params)
        assert error_of(answer) == (400, "InvalidArgument")
        assert answer.json()["error"]["message"] == \
            "Filter expression expected - /onlineMeetings?$filter={ParameterName} eq '{id}'."


def test_filter_literals_double_their_single_quotes(http: httpx.Client, organizer: User) -> None:
    doubled = http.get(meetings_path(organizer), params={"$filter": "JoinWebUrl eq 'it''s'"})
    bare = http.get(meetings_path(organizer), params={"$filter": "JoinWebUrl eq 'it's'"})
    assert (doubled.status_code, doubled.json()["value"]) == (200, [])
    assert error_of(bare) == (400, "InvalidArgument")


# --- updating ---------------------------------------------------------------------
def test_patch_changes_times_subject_lobby_and_presenters(http: httpx.Client, organizer: User,
                                                          emulator: EmulatorServer) -> None:
    created = create_or_get(http, organizer, externalId="session-1", subject="Having choice",
                            startDateTime="2030-05-01T10:00:00Z", endDateTime="2030-05-01T11:00:00Z").json()
    change = {"startDateTime": "2030-05-02T14:00:00+01:00", "endDateTime": "2030-05-02T15:30:00+01:00",
              "subject": "Having choice (moved)", "lobbyBypassSettings": {"scope": "organization"},
              "allowedPresenters": "organizer", "isEntryExitAnnounced": False, "allowMeetingChat": "limited"}
    answer = http.patch(f"{meetings_path(organizer)}/{created['id']}", json=change)
    expected = created | {"startDateTime": "2030-05-02T13:00:00Z", "endDateTime": "2030-05-02T14:30:00Z",
                          "subject": "Having choice (moved)", "allowedPresenters": "organizer",
                          "isEntryExitAnnounced": False, "allowMeetingChat": "limited"}
    assert (answer.status_code, answer.json()) == (200, expected)
    assert http.get(f"{meetings_path(organizer)}/{created['id']}").json() == expected
    kept = emulator.backend.meetings.by_external_id(organizer.id, "session-1")
    assert kept is not None and kept.updates == 1 and kept.updated >= kept.created
    assert create_or_get(http, organizer, externalId="session-1").json() == expected


def test_patch_merges_lobby_settings(http: httpx.Client, organizer: User) -> None:
    """As Graph's own example: only isDialInBypassEnabled sent, the scope stays."""
    created = create_or_get(http, organizer, externalId="x").json()
    answer = http.patch(f"{meetings_path(organizer)}/{created['id']}",
                        json={"lobbyBypassSettings": {"isDialInBypassEnabled": True}})
    assert answer.json()["lobbyBypassSettings"] == {"scope": "organization", "isDialInBypassEnabled": True}
    answer = http.patch(f"{meetings_path(organizer)}/{created['id']}",
                        json={"lobbyBypassSettings": {"scope": "organizer"}})
    assert answer.json()["lobbyBypassSettings"] == {"scope": "organizer", "isDialInBypassEnabled": True}


def test_patch_replaces_the_attendee_list_whole(http: httpx.Client, organizer: User, someone_else: User) -> None:
    created = create_or_get(http, organizer, externalId="x", participants={"attendees": [
        {"upn": "first@example.org", "identity": {"user": {"id": str(uuid.uuid4())}}}]}).json()
    answer = http.patch(f"{meetings_path(organizer)}/{created['id']}", json={"participants": {
        "organizer": created["participants"]["organizer"],
        "attendees": [{"upn": someone_else.user_principal_name, "role": "presenter",
                       "identity": {"user": {"id": someone_else.id}}}]}})
    assert answer.status_code == 200
    assert [(a["upn"], a["role"]) for a in answer.json()["participants"]["attendees"]] == \
        [(someone_else.user_principal_name, "presenter")]
    assert answer.json()["participants"]["organizer"] == created["participants"]["organizer"]


@pytest.mark.parametrize(("change", "why"), [
    ({"startDateTime": "2030-05-02T10:00:00Z"}, "times change in pairs"),
    ({"endDateTime": "2030-05-02T10:00:00Z"}, "times change in pairs"),
    ({"startDateTime": "2030-05-02T10:00:00Z", "endDateTime": "2030-05-02T09:00:00Z"}, "end before start"),
    ({"joinMeetingIdSettings": {"isPasscodeRequired": True}}, "joinMeetingIdSettings cannot change"),
    ({"externalId": "other"}, "read-only"),
    ({"joinWebUrl": "https://example.org"}, "read-only"),
    ({"colour": "blue"}, "not a property of onlineMeeting"),
    ({"allowedPresenters": "anyone"}, "not an onlineMeetingPresenters value"),
    ({"lobbyBypassSettings": {"scope": "friends"}}, "not a lobbyBypassScope value"),
    ({"isEntryExitAnnounced": "yes"}, "not a Boolean"),
    ({"participants": {"organizer": {"identity": {"user": {"id": str(uuid.uuid4())}}}}}, "organiser is fixed"),
    ({"subject": "fine", "allowMeetingChat": "sometimes"}, "nothing applies when one change is wrong"),
])
def test_patch_refuses_what_graph_refuses_and_changes_nothing(http: httpx.Client, organizer: User,
                                                              emulator: EmulatorServer, change: dict[str, Any],
                                                              why: str) -> None:
    created = create_or_get(http, organizer, externalId="x").json()
    answer = http.patch(f"{meetings_path(organizer)}/{created['id']}", json=change)
    assert error_of(answer) == (400, "BadRequest"), why
    assert http.get(f"{meetings_path(organizer)}/{created['id']}").json() == created
    kept = emulator.backend.meetings.by_external_id(organizer.id, "x")
    assert kept is not None and kept.updates == 0


def test_newer_enum_members_read_as_unknown_future_value_unless_asked_for(http: httpx.Client,
                                                                          organizer: User) -> None:
    """Graph's evolvable enums: `invited` comes after `unknownFutureValue`, so it needs the Prefer header."""
    created = create_or_get(http, organizer, externalId="x").json()
    path = f"{meetings_path(organizer)}/{created['id']}"
    plain = http.patch(path, json={"lobbyBypassSettings": {"scope": "invited"}})
    assert plain.json()["lobbyBypassSettings"]["scope"] == "unknownFutureValue"
    opted_in = http.get(path, headers={"Prefer": "include-unknown-enum-members"})
    assert opted_in.json()["lobbyBypassSettings"]["scope"] == "invited"


# --- deleting ---------------------------------------------------------------------
def test_delete_then_the_meeting_is_gone(http: httpx.Client, organizer: User, emulator: EmulatorServer) -> None:
    created = create_or_get(http, organizer, externalId="session-1").json()
    path = f"{meetings_path(organizer)}/{created['id']}"
    deleted = http.delete(path)
    assert (deleted.status_code, deleted.content) == (204, b"")
    for answer in (http.get(path), http.patch(path, json={"subject": "x"}), http.delete(path)):
        assert error_of(answer) == (404, "NotFound")
    found = http.get(meetings_path(organizer), params={"$filter": f"JoinWebUrl eq '{created['joinWebUrl']}'"})
    assert found.json()["value"] == []
    kept = emulator.backend.meetings.by_external_id(organizer.id, "session-1", include_deleted=True)
    assert kept is not None and kept.deleted and kept.deleted_at is not None
    assert emulator.backend.meetings.for_organizer(organizer.id) == []


@pytest.mark.parametrize(("scope", "dial_in", "let_in"), [
    ("organizer", False, {"organizer"}),
    ("organization", False, {"organizer", "member", "guest"}),
    ("organizationAndFederated", False, {"organizer", "member", "guest", "federated"}),
    ("organizationExcludingGuests", False, {"organizer", "member"}),
    ("everyone", False, {"organizer", "member", "guest", "federated", "anonymous", "dial-in"}),
    ("organizer", True, {"organizer", "dial-in"}),
])
def test_who_a_join_link_lets_in_follows_the_lobby_scope(http: httpx.Client, organizer: User, emulator: EmulatorServer,
                                                         scope: str, dial_in: bool, let_in: set[str]) -> None:
    """lobbyBypassScope as the lobbyBypassSettings reference describes each value; everyone else waits."""
    created = create_or_get(http, organizer, externalId="session-1").json()
    http.patch(f"{meetings_path(organizer)}/{created['id']}",
               json={"lobbyBypassSettings": {"scope": scope, "isDialInBypassEnabled": dial_in}})
    meetings = emulator.backend.meetings
    assert {who for who in JOINERS if meetings.join(created["joinWebUrl"], who) == "admitted"} == let_in
    assert meetings.join("https://teams.microsoft.com/l/meetup-join/nothing", "member") == "no meeting"


def test_invited_lets_in_the_attendees_named_by_id(http: httpx.Client, organizer: User, someone_else: User,
                                                   emulator: EmulatorServer) -> None:
    created = create_or_get(http, organizer, externalId="session-1", participants={"attendees": [
        {"upn": someone_else.user_principal_name, "identity": {"user": {"id": someone_else.id}}}]}).json()
    http.patch(f"{meetings_path(organizer)}/{created['id']}", json={"lobbyBypassSettings": {"scope": "invited"}})
    join = emulator.backend.meetings.join
    assert join(created["joinWebUrl"], "member", user_id=someone_else.id.upper()) == "admitted"
    assert join(created["joinWebUrl"], "member", user_id=str(uuid.uuid4())) == "lobby"
    with pytest.raises(ValueError, match="who joins"):
        join(created["joinWebUrl"], "someone")


def test_a_deleted_meetings_link_still_lets_people_in_as_it_stood(http: httpx.Client, organizer: User,
                                                                  emulator: EmulatorServer) -> None:
    """DELETE answers 204 and every read 404s, but the join link keeps working (microsoft-graph-docs issues 7802
    and 17590): only what the meeting was set to before the delete decides who gets in."""
    open_one = create_or_get(http, organizer, externalId="session-1").json()
    locked = create_or_get(http, organizer, externalId="session-2").json()
    http.patch(f"{meetings_path(organizer)}/{locked['id']}", json={"lobbyBypassSettings": {"scope": "organizer"}})
    for meeting in (open_one, locked):
        assert http.delete(f"{meetings_path(organizer)}/{meeting['id']}").status_code == 204
    join = emulator.backend.meetings.join
    assert join(open_one["joinWebUrl"], "member") == "admitted"  # deleting it shut nobody out
    assert join(locked["joinWebUrl"], "member") == "lobby"
    assert join(locked["joinWebUrl"], "organizer") == "admitted"


def test_create_or_get_after_delete_makes_a_new_meeting(http: httpx.Client, organizer: User) -> None:
    first = create_or_get(http, organizer, externalId="session-1").json()
    http.delete(f"{meetings_path(organizer)}/{first['id']}")
    again = create_or_get(http, organizer, externalId="session-1")
    assert again.status_code == 201 and again.json()["id"] != first["id"]


# --- whose meeting, which user --------------------------------------------------------------
def test_a_meeting_under_another_users_path_is_404(http: httpx.Client, organizer: User,
                                                   someone_else: User) -> None:
    created = create_or_get(http, organizer, externalId="session-1").json()
    path = f"{meetings_path(someone_else)}/{created['id']}"
    for answer in (http.get(path), http.patch(path, json={"subject": "x"}), http.delete(path)):
        assert error_of(answer) == (404, "NotFound")
        assert answer.json()["error"]["message"] == f"Organizer Id mismatch User Id: {someone_else.id}."
    assert http.get(f"{meetings_path(organizer)}/{created['id']}").json() == created


def test_an_invited_attendee_may_read_but_not_change_the_meeting(http: httpx.Client, organizer: User,
                                                                 someone_else: User) -> None:
    """Graph's docs: GET by id takes the organiser's or an invited attendee's user id."""
    created = create_or_get(http, organizer, externalId="x", participants={"attendees": [
        {"upn": someone_else.user_principal_name, "identity": {"user": {"id": someone_else.id}}}]}).json()
    path = f"{meetings_path(someone_else)}/{created['id']}"
    assert http.get(path).status_code == 200
    assert error_of(http.patch(path, json={"subject": "x"})) == (404, "NotFound")
    assert error_of(http.delete(path)) == (404, "NotFound")


@pytest.mark.parametrize("who", ["unknown-id", "upn"])
def test_an_unknown_organiser_is_404(http: httpx.Client, organizer: User, who: str) -> None:
    """Online meetings take the user's object id; a userPrincipalName finds nobody, like an unknown id."""
    user = str(uuid.uuid4()) if who == "unknown-id" else organizer.user_principal_name
    for answer in (create_or_get(http, user, externalId="x"),
                   http.get(meetings_path(user), params={"$filter": "JoinWebUrl eq 'x'"}),
                   http.get(f"{meetings_path(user)}/abc")):
        assert error_of(answer) == (404, "NotFound")


def test_unknown_and_corrupted_meeting_ids_are_404(http: httpx.Client, organizer: User) -> None:
    thread = "19:meeting_" + base64.b64encode(str(uuid.uuid4()).encode()).decode() + "@thread.v2"
    never_made = base64.b64encode(f"1*{organizer.id}*0**{thread}".encode()).decode()
    missing = http.get(f"{meetings_path(organizer)}/{never_made}")
    corrupted = http.get(f"{meetings_path(organizer)}/not-a-meeting-id")
    assert error_of(missing) == error_of(corrupted) == (404, "NotFound")
    assert corrupted.json()["error"]["message"] == "Meeting Id is corrupted."


# --- the SDK's own models ------------------------------------------------------------------
def test_answers_parse_with_the_sdk_models(http: httpx.Client, organizer: User) -> None:
    from msgraph.generated.models.lobby_bypass_scope import LobbyBypassScope
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph.generated.models.online_meeting import OnlineMeeting
    from msgraph.generated.models.online_meeting_collection_response import OnlineMeetingCollectionResponse
    from msgraph.generated.models.online_meeting_presenters import OnlineMeetingPresenters

    answer = create_or_get(http, organizer, externalId="session-1", subject="Having choice",
                           startDateTime="2030-05-01T10:00:00.1234567Z", endDateTime="2030-05-01T11:00:00Z")
    meeting = sdk_parse(OnlineMeeting, answer.content)
    body = answer.json()
    assert (meeting.id, meeting.external_id, meeting.subject, meeting.join_web_url) == \
        (body["id"], "session-1", "Having choice", body["joinWebUrl"])
    assert meeting.start_date_time == datetime(2030, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)  # the SDK truncates to µs
    assert meeting.end_date_time == datetime(2030, 5, 1, 11, tzinfo=UTC)
    assert meeting.lobby_bypass_settings.scope == LobbyBypassScope.Organization
    assert meeting.allowed_presenters == OnlineMeetingPresenters.Everyone
    assert meeting.participants.organizer.identity.user.id == organizer.id
    assert meeting.join_meeting_id_settings.join_meeting_id == body["joinMeetingIdSettings"]["joinMeetingId"]
    assert meeting.chat_info.thread_id == body["chatInfo"]["threadId"]
    found = http.get(meetings_path(organizer), params={"$filter": f"JoinWebUrl eq '{body['joinWebUrl']}'"})
    assert [m.id for m in sdk_parse(OnlineMeetingCollectionResponse, found.content).value] == [body["id"]]
    error = sdk_parse(ODataError, http.get(f"{meetings_path(organizer)}/not-a-meeting-id").content)
    assert error.error.code == "NotFound"


# --- attendance reports ----------------------------------------------------------------
def test_attendance_reports_come_after_the_control_call_with_a_record_each(http: httpx.Client,
                                                                          organizer: User) -> None:
    """meetingattendancereport-list then attendancerecord-list; someone who joined without signing in has no
    address. Before the meeting has taken place there is no report."""
    meeting = create_or_get(http, organizer, externalId="session-9", subject="Carers' forum",
                            startDateTime="2030-05-01T10:00:00Z", endDateTime="2030-05-01T11:00:00Z").json()
    reports_path = f"{meetings_path(organizer)}/{meeting['id']}/attendanceReports"
    assert http.get(reports_path).json()["value"] == []
    made = http.post(f"/_emulator/meetings/{meeting['id']}/attendance", json={"attendees": [
        {"email": "ann@example.org", "name": "Ann", "seconds": 3000}, {"email": None, "name": "Guest"}]})
    assert made.status_code == 200
    [report] = http.get(reports_path).json()["value"]
    assert report["totalParticipantCount"] == 2 and "attendanceRecords" not in report
    assert graph_time(report["meetingStartDateTime"]) == datetime(2030, 5, 1, 10, tzinfo=UTC)
    records = http.get(f"{reports_path}/{report['id']}/attendanceRecords").json()["value"]
    assert [(r["emailAddress"], r["totalAttendanceInSeconds"], r["role"]) for r in records] == [
        ("ann@example.org", 3000, "Attendee"), (None, 0, "Attendee")]
    assert records[0]["identity"]["id"] and records[1]["identity"]["id"] is None  # a made-up id; none at all
    again = http.post(f"/_emulator/meetings/{meeting['id']}/attendance", json={"attendees": [
        {"email": "", "name": "Ann", "seconds": 60, "user_id": "0f6a1b2c-0000-4000-8000-000000000001"}]}).json()
    [record] = http.get(f"{reports_path}/{again['report']}/attendanceRecords").json()["value"]
    assert (record["emailAddress"], record["identity"]["id"]) == ("", "0f6a1b2c-0000-4000-8000-000000000001")
    assert http.post("/_emulator/meetings/nope/attendance", json={"attendees": []}).status_code == 404
    assert http.post(f"/_emulator/meetings/{meeting['id']}/attendance", json={"attendees": "x"}).status_code == 400


def test_attendance_needs_its_own_permission(http: httpx.Client, organizer: User, emulator: EmulatorServer) -> None:
    """OnlineMeetingArtifact.Read.All: making meetings (OnlineMeetings.ReadWrite.All) is not enough to read them."""
    meeting = create_or_get(http, organizer, externalId="session-10", subject="Carers' forum",
                            startDateTime="2030-05-01T10:00:00Z", endDateTime="2030-05-01T11:00:00Z").json()
    grant_roles(http, emulator.env(), ["OnlineMeetings.ReadWrite.All"])
    assert http.get(f"{meetings_path(organizer)}/{meeting['id']}/attendanceReports").status_code == 403
