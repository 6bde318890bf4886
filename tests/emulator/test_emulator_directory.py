"""The emulated directory speaks Graph: users with $filter/$select/paging, invitations, group membership.

Each test runs twice through the `http` fixture (over HTTPS and in-process),
with plain httpx as any tool outside the project would; users are seeded
straight into `emulator.backend.directory`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

from graph_emulator import EmulatorServer
from graph_emulator.directory.models import User
from tests.contract.test_emulator_contract import sdk_parse

GUEST_DOMAIN = "councilcoprod.onmicrosoft.com"
DEFAULT_USER_KEYS = {"@odata.context", "businessPhones", "displayName", "givenName", "jobTitle", "mail",
                     "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}
ORGANISER, TEAM = "Programme Organiser", "Co-production Team"  # seeded by every reset


@pytest.fixture
def people(emulator: EmulatorServer) -> dict[str, User]:
    directory = emulator.backend.directory
    return {
        "ann": directory.add_user("Ann Smith", "ann@council.example.org"),
        "siobhan": directory.add_user("Siobhan O'Brien", f"o'brien_example.org#EXT#@{GUEST_DOMAIN}",
                                      mail="o'brien@example.org", user_type="Guest",
                                      other_mails=["o'brien@example.org"], external_user_state="Accepted"),
        "bob": directory.add_user("Bob Jones", f"bob_example.net#EXT#@{GUEST_DOMAIN}", mail="Bob@Example.net",
                                  user_type="Guest", other_mails=["bob.alt@example.net"],
                                  external_user_state="PendingAcceptance"),
    }


def base(http: httpx.Client) -> str:
    return str(http.base_url).rstrip("/")


def names(http: httpx.Client, odata_filter: str) -> list[str]:
    answer = http.get("/v1.0/users", params={"$filter": odata_filter, "$select": "displayName"})
    assert answer.status_code == 200, answer.text
    return [user["displayName"] for user in answer.json()["value"]]


def error_of(answer: httpx.Response) -> tuple[int, str, str]:
    error = answer.json()["error"]
    assert set(error) == {"code", "message", "innerError"}
    return answer.status_code, error["code"], error["message"]


def invite(http: httpx.Client, address: str, **extra: Any) -> httpx.Response:
    return http.post("/v1.0/invitations", json={"invitedUserEmailAddress": address,
                                                "inviteRedirectUrl": "https://council.example.org/welcome", **extra})


# --- $filter ------------------------------------------------------------------------------
@pytest.mark.parametrize(("odata_filter", "expected"), [
    ("mail eq 'BOB@example.NET'", ["Bob Jones"]),
    ("userPrincipalName eq 'ANN@council.example.org'", ["Ann Smith"]),
    ("displayName eq 'ann smith'", ["Ann Smith"]),
    ("userType eq 'guest'", ["Siobhan O'Brien", "Bob Jones"]),
    ("externalUserState eq 'PendingAcceptance'", ["Bob Jones"]),
    ("startswith(userPrincipalName,'bob_')", ["Bob Jones"]),
    ("startsWith(mail, 'O''B')", ["Siobhan O'Brien"]),
    ("startswith(displayName,'co-')", [TEAM]),
    ("otherMails/any(x:x eq 'BOB.alt@example.net')", ["Bob Jones"]),
    ("otherMails/any(address: address eq 'o''brien@example.org')", ["Siobhan O'Brien"]),
    ("otherMails/any(m:startswith(m,'bob.'))", ["Bob Jones"]),
    ("mail in ('ann@council.example.org', 'nobody@example.org')", ["Ann Smith"]),
    ("mail eq 'ann@council.example.org' or mail eq 'bob@example.net'", ["Ann Smith", "Bob Jones"]),
    ("MAIL EQ 'ann@council.example.org' OR displayName eq 'Bob Jones'", ["Ann Smith", "Bob Jones"]),
    ("userType eq 'Guest' and (startswith(displayName,'B') or startswith(displayName,'S'))",
     ["Siobhan O'Brien", "Bob Jones"]),
    ("userType eq 'Guest' and startswith(displayName,'B')", ["Bob Jones"]),
    ("mail eq 'nobody@example.org'", []),
])
def test_filter_forms_match_case_insensitively(http: httpx.Client, people: dict[str, User], odata_filter: str,
                                               expected: list[str]) -> None:
    assert names(http, odata_filter) == expected


def test_and_binds_tighter_than_or(http: httpx.Client, people: dict[str, User]) -> None:
    """Guests, or (Ann and a member): grouping `or` first would leave Ann alone."""
    assert names(http, "userType eq 'Guest' or mail eq 'ann@council.example.org' and userType eq 'Member'") == [
        "Ann Smith", "Siobhan O'Brien", "Bob Jones"]


def test_filter_by_id(http: httpx.Client, people: dict[str, User]) -> None:
    assert names(http, f"id eq '{people['bob'].id.upper()}'") == ["Bob Jones"]


def test_the_guest_lookup_the_service_sends_finds_a_guest_by_address_or_upn(
        http: httpx.Client, people: dict[str, User]) -> None:
    """mail, otherMails and the guest UPN in one query, as graph_client's Directory.find_by_address builds it."""
    quoted, upn = "'o''brien@example.org'", "'o''brien_example.org#EXT#'"
    answer = http.get("/v1.0/users", params={
        "$filter": f"mail eq {quoted} or otherMails/any(m:m eq {quoted}) or startswith(userPrincipalName,{upn})",
        "$select": "id,userType,externalUserState"})
    assert answer.json()["value"] == [{"id": people["siobhan"].id, "userType": "Guest",
                                       "externalUserState": "Accepted"}]


def test_a_doubled_quote_finds_the_address_with_an_apostrophe(http: httpx.Client, people: dict[str, User]) -> None:
    assert names(http, "mail eq 'o''brien@example.org'") == ["Siobhan O'Brien"]


def test_escaped_injection_text_matches_only_that_literal_address(http: httpx.Client, people: dict[str, User],
                                                                  emulator: EmulatorServer) -> None:
    escaped = "mail eq 'x'' or 1 eq 1@example.org'"
    assert names(http, escaped) == []
    emulator.backend.directory.add_user("Odd Address", "odd@council.example.org", mail="x' or 1 eq 1@example.org")
    assert names(http, escaped) == ["Odd Address"]


def test_unescaped_injection_text_is_a_400_never_a_match_all(http: httpx.Client, people: dict[str, User]) -> None:
    answer = http.get("/v1.0/users", params={"$filter": "mail eq 'x' or 1 eq 1@example.org'"})
    assert error_of(answer) == (400, "BadRequest", "Invalid filter clause: Syntax error: character '@' is not valid "
                                                   "at position 21 in 'mail eq 'x' or 1 eq 1@example.org''.")
    assert "value" not in answer.json()


@pytest.mark.parametrize(("odata_filter", "code", "message_start"), [
    ("mail eq 'abc", "BadRequest", "Invalid filter clause: There is an unterminated string literal"),
    ("mail eq", "BadRequest", "Invalid filter clause: Expression expected"),
    ("mail eq 'a' and", "BadRequest", "Invalid filter clause: Expression expected"),
    ("(mail eq 'a'", "BadRequest", "Invalid filter clause: Expression expected"),
    ("mail eq 'a')", "BadRequest", "Invalid filter clause: Syntax error at position 11"),
    ("mail = 'a'", "BadRequest", "Invalid filter clause: Syntax error: character '='"),
    ("userType eq 'Guest' && mail eq 'a'", "BadRequest", "Invalid filter clause: Syntax error: character '&'"),
    ("startwith(mail,'a')", "BadRequest", "Invalid filter clause: An unknown function with name 'startwith'"),
    ("mail eq 1", "BadRequest", "Invalid filter clause: A binary operator with incompatible types"),
    ("", "BadRequest", "Invalid filter clause: Expression expected"),
    ("jobTitle eq 'x'", "Request_UnsupportedQuery",
     "Unsupported or invalid query filter clause specified for property 'jobTitle' of resource 'User'."),
    ("startswith(userType,'G')", "Request_UnsupportedQuery",
     "Unsupported or invalid query filter clause specified for property 'userType' of resource 'User'."),
    ("otherMails eq 'a@example.org'", "Request_UnsupportedQuery",
     "Unsupported or invalid query filter clause specified for property 'otherMails' of resource 'User'."),
    ("otherMails/any(x:y eq 'a')", "Request_UnsupportedQuery", "Unsupported or invalid query filter clause"),
    ("otherMails/all(x:x eq 'a')", "Request_UnsupportedQuery", "Unsupported or invalid query filter clause"),
    ("mail eq null", "Request_UnsupportedQuery", "Unsupported or invalid query filter clause"),
    ("mail ne 'a'", "Request_UnsupportedQuery", "Operator 'ne' is not supported because the required parameters"),
    ("not(mail eq 'a')", "Request_UnsupportedQuery", "Operator 'not' is not supported"),
    ("endswith(mail,'.org')", "Request_UnsupportedQuery", "Operator 'endswith' is not supported"),
])
def test_filters_outside_the_grammar_are_refused_with_graphs_400(
        http: httpx.Client, people: dict[str, User], odata_filter: str, code: str, message_start: str) -> None:
    status, got_code, message = error_of(http.get("/v1.0/users", params={"$filter": odata_filter}))
    assert (status, got_code) == (400, code)
    assert message.startswith(message_start), message


def test_the_backend_answers_the_same_filter_without_http(emulator: EmulatorServer, people: dict[str, User]) -> None:
    found = emulator.backend.directory.find_users("otherMails/any(a:a eq 'bob.alt@example.net')")
    assert found == [people["bob"]]


# --- $select, paging, single users ------------------------------------------------------------
def test_select_and_top_page_with_next_links_and_context(http: httpx.Client, people: dict[str, User]) -> None:
    url: str | None = "/v1.0/users?$select=id,DisplayName&$top=2"
    pages = []
    while url:
        page = http.get(url).json()
        assert page["@odata.context"] == f"{base(http)}/v1.0/$metadata#users(id,displayName)"
        pages.append(page["value"])
        url = page.get("@odata.nextLink")
        assert url is None or "$skiptoken=" in url
    assert pages == [
        [{"id": emulator_id(http, ORGANISER), "displayName": ORGANISER},
         {"id": emulator_id(http, TEAM), "displayName": TEAM}],
        [{"id": people["ann"].id, "displayName": "Ann Smith"},
         {"id": people["siobhan"].id, "displayName": "Siobhan O'Brien"}],
        [{"id": people["bob"].id, "displayName": "Bob Jones"}]]


def emulator_id(http: httpx.Client, display_name: str) -> str:
    escaped = display_name.replace("'", "''")
    answer = http.get("/v1.0/users", params={"$filter": f"displayName eq '{escaped}'", "$select": "id"})
    [user] = answer.json()["value"]
    return str(user["id"])


def test_paging_keeps_the_filter(http: httpx.Client, people: dict[str, User]) -> None:
    first = http.get("/v1.0/users", params={"$filter": "userType eq 'Guest'", "$top": "1",
                                            "$select": "displayName"}).json()
    second = http.get(first["@odata.nextLink"]).json()
    assert (first["value"], second["value"]) == ([{"displayName": "Siobhan O'Brien"}], [{"displayName": "Bob Jones"}])
    assert "@odata.nextLink" not in second


def test_page_size_and_page_token_are_checked(http: httpx.Client) -> None:
    assert error_of(http.get("/v1.0/users", params={"$top": "1000"})) == (
        400, "Request_UnsupportedQuery", "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.")
    assert error_of(http.get("/v1.0/users", params={"$skiptoken": "not-a-token"}))[:2] == (
        400, "Directory_ExpiredPageToken")


def test_unknown_select_property_is_refused(http: httpx.Client) -> None:
    assert error_of(http.get("/v1.0/users", params={"$select": "id,shoeSize"})) == (
        400, "BadRequest",
        "Parsing OData Select and Expand failed: Could not find a property named 'shoeSize' on type "
        "'microsoft.graph.user'.")


def test_a_user_by_id_has_graphs_default_properties(http: httpx.Client, people: dict[str, User]) -> None:
    answer = http.get(f"/v1.0/users/{people['ann'].id}").json()
    assert set(answer) == DEFAULT_USER_KEYS
    assert answer["@odata.context"] == f"{base(http)}/v1.0/$metadata#users/$entity"
    assert (answer["userPrincipalName"], answer["mail"], answer["businessPhones"]) == (
        "ann@council.example.org", "ann@council.example.org", [])


def test_a_guest_by_upn_with_select(http: httpx.Client, people: dict[str, User]) -> None:
    upn = quote(people["siobhan"].user_principal_name, safe="@'")
    answer = http.get(f"/v1.0/users/{upn}", params={"$select": "id,userType,otherMails"})
    assert answer.json() == {"@odata.context": f"{base(http)}/v1.0/$metadata#users(id,userType,otherMails)/$entity",
                             "id": people["siobhan"].id, "userType": "Guest", "otherMails": ["o'brien@example.org"]}


def test_an_unknown_user_is_a_404_in_graphs_words(http: httpx.Client) -> None:
    assert error_of(http.get("/v1.0/users/nobody@council.example.org")) == (
        404, "Request_ResourceNotFound", "Resource 'nobody@council.example.org' does not exist or one of its queried "
                                         "reference-property objects are not present.")


# --- invitations ----------------------------------------------------------------------------
def test_an_invitation_creates_a_pending_guest_with_the_ext_upn(http: httpx.Client,
                                                                 emulator: EmulatorServer) -> None:
    cc = [{"emailAddress": {"address": "team@council.example.org"}}]
    answer = invite(http, "Mo.Ali@example.org", invitedUserDisplayName="Mo Ali", sendInvitationMessage=True,
                    invitedUserMessageInfo={"customizedMessageBody": "Welcome to co-production.",
                                            "messageLanguage": "en-GB", "ccRecipients": cc})
    assert answer.status_code == 201
    body = answer.json()
    user_id = body["invitedUser"]["id"]
    assert body["inviteRedeemUrl"].startswith("https://login.microsoftonline.com/redeem?rd=")
    assert {k: v for k, v in body.items() if k not in ("id", "inviteRedeemUrl")} == {
        "@odata.context": f"{base(http)}/v1.0/$metadata#invitations/$entity",
        "invitedUserDisplayName": "Mo Ali", "invitedUserType": "Guest", "invitedUserEmailAddress": "Mo.Ali@example.org",
        "sendInvitationMessage": True, "resetRedemption": False,
        "inviteRedirectUrl": "https://council.example.org/welcome", "status": "PendingAcceptance",
        "invitedUserMessageInfo": {"messageLanguage": "en-GB", "customizedMessageBody": "Welcome to co-production.",
                                   "ccRecipients": [{"emailAddress": {"name": None,
                                                                      "address": "team@council.example.org"}}]},
        "invitedUser": {"id": user_id}}
    guest = http.get(f"/v1.0/users/{user_id}", params={
        "$select": "displayName,userPrincipalName,mail,otherMails,userType,externalUserState,creationType"}).json()
    del guest["@odata.context"]
    assert guest == {"displayName": "Mo Ali", "userPrincipalName": f"Mo.Ali_example.org#EXT#@{GUEST_DOMAIN}",
                     "mail": "Mo.Ali@example.org", "otherMails": ["Mo.Ali@example.org"], "userType": "Guest",
                     "externalUserState": "PendingAcceptance", "creationType": "Invitation"}
    [sent] = emulator.backend.directory.invitations
    assert (sent.id, sent.address, sent.user_id, sent.display_name, sent.redirect_url, sent.message_body,
            sent.message_sent, sent.created_user, sent.cc_recipients) == (
        body["id"], "Mo.Ali@example.org", user_id, "Mo Ali", "https://council.example.org/welcome",
        "Welcome to co-production.", True, True, [(None, "team@council.example.org")])


def test_a_guest_without_a_name_is_named_by_the_address_and_no_message_is_the_default(
        http: httpx.Client, emulator: EmulatorServer) -> None:
    body = invite(http, "sam@example.org").json()
    assert (body["invitedUserDisplayName"], body["sendInvitationMessage"]) == (None, False)
    assert emulator.backend.directory.users[body["invitedUser"]["id"]].display_name == "sam@example.org"
    assert emulator.backend.directory.invitations[-1].message_sent is False


def test_reinviting_a_pending_guest_answers_the_same_user_without_a_duplicate(
        http: httpx.Client, emulator: EmulatorServer) -> None:
    first = invite(http, "jo@example.org", sendInvitationMessage=True).json()
    second = invite(http, "JO@example.org", sendInvitationMessage=True).json()
    assert second["invitedUser"] == first["invitedUser"] and second["id"] != first["id"]
    assert second["status"] == "PendingAcceptance"
    assert names(http, "mail eq 'jo@example.org'") == ["jo@example.org"]
    assert [(i.user_id, i.created_user, i.message_sent) for i in emulator.backend.directory.invitations] == [
        (first["invitedUser"]["id"], True, True), (first["invitedUser"]["id"], False, True)]


def test_once_the_guest_has_accepted_a_new_invitation_is_completed_and_sends_nothing(
        http: httpx.Client, emulator: EmulatorServer) -> None:
    user_id = invite(http, "lee@example.org", sendInvitationMessage=True).json()["invitedUser"]["id"]
    emulator.backend.directory.accept_invitation(user_id)
    again = invite(http, "lee@example.org", sendInvitationMessage=True).json()
    assert (again["invitedUser"]["id"], again["status"]) == (user_id, "Completed")
    assert [i.message_sent for i in emulator.backend.directory.invitations] == [True, False]
    state = http.get(f"/v1.0/users/{user_id}", params={"$select": "externalUserState"}).json()["externalUserState"]
    assert state == "Accepted"


def test_inviting_an_existing_guest_found_by_other_mails_reuses_them(http: httpx.Client,
                                                                     people: dict[str, User]) -> None:
    body = invite(http, "bob.alt@example.net").json()
    assert (body["invitedUser"]["id"], body["status"]) == (people["bob"].id, "PendingAcceptance")


def test_inviting_a_member_or_redeemed_guest_answers_them_completed_and_sends_nothing(
        http: httpx.Client, people: dict[str, User], emulator: EmulatorServer) -> None:
    before = len(emulator.backend.directory.users)
    member = invite(http, "ann@council.example.org", sendInvitationMessage=True).json()
    redeemed = invite(http, "o'brien@example.org", sendInvitationMessage=True).json()
    assert [(b["invitedUser"]["id"], b["status"]) for b in (member, redeemed)] == [
        (people["ann"].id, "Completed"), (people["siobhan"].id, "Completed")]
    assert len(emulator.backend.directory.users) == before
    assert [i.message_sent for i in emulator.backend.directory.invitations] == [False, False]


def test_an_unknown_address_in_our_own_domain_is_refused(http: httpx.Client, emulator: EmulatorServer) -> None:
    status, code, _ = error_of(invite(http, "newstarter@council.example.org"))
    assert (status, code) == (400, "BadRequest")
    assert emulator.backend.directory.invitations == []


@pytest.mark.parametrize("body", [
    {"inviteRedirectUrl": "https://council.example.org/"},
    {"invitedUserEmailAddress": "jo@example.org"},
    {"invitedUserEmailAddress": "not an address", "inviteRedirectUrl": "https://council.example.org/"},
    {"invitedUserEmailAddress": "jo+tag@example.org", "inviteRedirectUrl": "https://council.example.org/"},
    {"invitedUserEmailAddress": ".jo@example.org", "inviteRedirectUrl": "https://council.example.org/"},
    {"invitedUserEmailAddress": "jo@example", "inviteRedirectUrl": "https://council.example.org/"},
    {"invitedUserEmailAddress": "jo@example.org", "inviteRedirectUrl": "/relative"},
    {"invitedUserEmailAddress": "jo@example.org", "inviteRedirectUrl": "https://x.org/", "invitedUserType": "Boss"},
    {"invitedUserEmailAddress": "jo@example.org", "inviteRedirectUrl": "https://x.org/", "sendInvitationMessage": "y"},
])
def test_invalid_invitations_are_400_and_create_nobody(http: httpx.Client, emulator: EmulatorServer,
                                                        body: dict[str, Any]) -> None:
    users = len(emulator.backend.directory.users)
    status, code, _ = error_of(http.post("/v1.0/invitations", json=body))
    assert (status, code) == (400, "BadRequest")
    assert (len(emulator.backend.directory.users), emulator.backend.directory.invitations) == (users, [])


def test_an_apostrophe_address_can_be_invited_and_then_found(http: httpx.Client) -> None:
    user_id = invite(http, "d'arcy@example.org").json()["invitedUser"]["id"]
    found = http.get("/v1.0/users", params={
        "$filter": "startswith(userPrincipalName,'d''arcy_example.org#EXT#')", "$select": "id"}).json()["value"]
    assert found == [{"id": user_id}]


def test_invitations_over_the_limit_get_429_with_retry_after_until_the_window_slides(
        http: httpx.Client, emulator: EmulatorServer) -> None:
    now = [1_000.0]
    emulator.backend.directory.clock = lambda: now[0]
    limits = http.post("/_emulator/limits", json={"invitations": {"per_window": 3, "window_seconds": 5}})
    assert limits.json()["invitations"] == {"per_window": 3, "window_seconds": 5, "enabled": True}
    for n in range(3):
        assert invite(http, f"guest{n}@example.org").status_code == 201
        now[0] += 1.0
    now[0] = 1_002.5  # the first slot (t=1000) frees at 1005: 2.5 s away, answered as 3 whole seconds
    throttled = invite(http, "guest3@example.org")
    assert error_of(throttled) == (429, "TooManyRequests", "Please retry again later.")
    assert throttled.headers["Retry-After"] == "3"
    assert [i.address for i in emulator.backend.directory.invitations] == [f"guest{n}@example.org" for n in range(3)]
    assert names(http, "mail eq 'guest3@example.org'") == []
    now[0] = 1_005.0
    assert invite(http, "guest3@example.org").status_code == 201
    assert invite(http, "guest4@example.org").status_code == 429  # 1001 and 1002 are still in the window


def test_throttling_counts_even_malformed_invitation_requests(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.backend.directory.clock = lambda: 50.0
    emulator.backend.directory.set_limit(per_window=1, window_seconds=5)
    assert http.post("/v1.0/invitations", json={}).status_code == 400
    answer = invite(http, "jo@example.org")
    assert (answer.status_code, answer.headers["Retry-After"]) == (429, "5")


# --- groups ---------------------------------------------------------------------------------
def member_ref(http: httpx.Client, user_id: str) -> dict[str, str]:
    return {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user_id}"}


def test_adding_a_member_twice_answers_graphs_already_exists(http: httpx.Client, emulator: EmulatorServer,
                                                            people: dict[str, User]) -> None:
    group = emulator.backend.guest_group.id
    first = http.post(f"/v1.0/groups/{group}/members/$ref", json=member_ref(http, people["bob"].id))
    assert (first.status_code, first.content) == (204, b"")
    again = http.post(f"/v1.0/groups/{group}/members/$ref", json=member_ref(http, people["bob"].id))
    assert error_of(again) == (400, "Request_BadRequest", "One or more added object references already exist for the "
                                                          "following modified properties: 'members'.")
    assert emulator.backend.guest_group.members == [people["bob"].id]


def test_members_are_listed_as_users_with_select_and_paging(http: httpx.Client, emulator: EmulatorServer,
                                                             people: dict[str, User]) -> None:
    group = emulator.backend.guest_group.id
    for key in ("siobhan", "bob", "ann"):
        ref = {"@odata.id": f"https://graph.emulator.invalid/v1.0/users/{people[key].id}"}  # users/ on any host
        assert http.post(f"/v1.0/groups/{group}/members/$ref", json=ref).status_code == 204
    first = http.get(f"/v1.0/groups/{group}/members", params={"$select": "id,mail", "$top": "2"}).json()
    second = http.get(first["@odata.nextLink"]).json()
    assert first["@odata.context"] == f"{base(http)}/v1.0/$metadata#directoryObjects"
    assert first["value"] + second["value"] == [
        {"@odata.type": "#microsoft.graph.user", "id": people["siobhan"].id, "mail": "o'brien@example.org"},
        {"@odata.type": "#microsoft.graph.user", "id": people["bob"].id, "mail": "Bob@Example.net"},
        {"@odata.type": "#microsoft.graph.user", "id": people["ann"].id, "mail": "ann@council.example.org"}]
    assert "@odata.nextLink" not in second


def test_unknown_member_or_group_is_a_404_and_a_malformed_group_id_a_400(
        http: httpx.Client, emulator: EmulatorServer, people: dict[str, User]) -> None:
    group, ghost = emulator.backend.guest_group.id, "9d0c2a47-1c1b-4a55-9a55-2f3c5f0b9e11"
    not_there = " does not exist or one of its queried reference-property objects are not present."
    assert error_of(http.post(f"/v1.0/groups/{group}/members/$ref", json=member_ref(http, ghost))) == (
        404, "Request_ResourceNotFound", f"Resource '{ghost}'{not_there}")
    assert error_of(http.post(f"/v1.0/groups/{ghost}/members/$ref", json=member_ref(http, people["ann"].id))) == (
        404, "Request_ResourceNotFound", f"Resource '{ghost}'{not_there}")
    assert error_of(http.get("/v1.0/groups/guests/members")) == (
        400, "Request_BadRequest", "Invalid object identifier 'guests'.")
    assert error_of(http.post(f"/v1.0/groups/{group}/members/$ref", content=b""))[:2] == (400, "Request_BadRequest")
    assert emulator.backend.guest_group.members == []


def test_removing_a_member_answers_204_then_404(http: httpx.Client, emulator: EmulatorServer,
                                               people: dict[str, User]) -> None:
    group, ann = emulator.backend.guest_group.id, people["ann"].id
    http.post(f"/v1.0/groups/{group}/members/$ref", json=member_ref(http, ann))
    assert http.delete(f"/v1.0/groups/{group}/members/{ann}/$ref").status_code == 204
    assert http.get(f"/v1.0/groups/{group}/members").json()["value"] == []
    assert error_of(http.delete(f"/v1.0/groups/{group}/members/{ann}/$ref"))[:2] == (404, "Request_ResourceNotFound")


def test_a_group_by_id(http: httpx.Client, emulator: EmulatorServer) -> None:
    group = emulator.backend.guest_group
    answer = http.get(f"/v1.0/groups/{group.id}", params={"$select": "id,displayName,securityEnabled"}).json()
    assert answer == {"@odata.context": f"{base(http)}/v1.0/$metadata#groups(id,displayName,securityEnabled)/$entity",
                      "id": group.id, "displayName": "Co-production guests", "securityEnabled": True}


# --- msgraph-sdk's own models read the answers --------------------------------------------------------
def test_users_and_invitations_parse_with_the_sdk_models(http: httpx.Client, people: dict[str, User]) -> None:
    from msgraph.generated.models.invitation import Invitation
    from msgraph.generated.models.user_collection_response import UserCollectionResponse

    page = http.get("/v1.0/users", params={"$filter": "userType eq 'Guest'", "$top": "1",
                                           "$select": "id,userPrincipalName,otherMails,externalUserState"})
    users = sdk_parse(UserCollectionResponse, page.content)
    [guest] = users.value
    assert (guest.id, guest.user_principal_name, guest.other_mails, guest.external_user_state) == (
        people["siobhan"].id, people["siobhan"].user_principal_name, ["o'brien@example.org"], "Accepted")
    assert users.odata_next_link == page.json()["@odata.nextLink"]

    answer = invite(http, "kim@example.org", sendInvitationMessage=True,
                    invitedUserMessageInfo={"customizedMessageBody": "Hello", "messageLanguage": "en-GB"})
    invitation = sdk_parse(Invitation, answer.content)
    assert (invitation.invited_user.id, invitation.status, invitation.invited_user_type,
            invitation.invited_user_email_address, invitation.send_invitation_message,
            invitation.invited_user_message_info.customized_message_body) == (
        answer.json()["invitedUser"]["id"], "PendingAcceptance", "Guest", "kim@example.org", True, "Hello")
    assert set(invitation.additional_data) == {"@odata.context"}  # every other property is one the model knows
