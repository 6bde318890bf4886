"""The emulator holds the service to what a real tenant enforces: app roles per endpoint, Sites.Selected grants,
tenant policies (Teams application access policy, guest invite settings, directory lag), opaque delta links
with the reference's 410, and eTags written as Graph writes them. Plain HTTP, as any client would see it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from graph_emulator import ALL_ROLES, EmulatorServer
from graph_emulator.core.app import graph_service
from graph_emulator.core.permissions import need_for
from tests.conftest import grant_roles


def make_list(http: httpx.Client, emulator: EmulatorServer, name: str = "Sessions") -> str:
    site = emulator.backend.site.id
    answer = http.post(f"/v1.0/sites/{site}/lists", json={"displayName": name, "list": {"template": "genericList"},
                                                           "columns": [{"name": "Capacity", "number": {}}]})
    assert answer.status_code == 201, answer.text
    return f"/v1.0/sites/{site}/lists/{answer.json()['id']}"


def error_of(answer: httpx.Response) -> tuple[int, str, str]:
    body = answer.json()["error"]
    return answer.status_code, body["code"], body["message"]


def test_every_graph_route_names_the_permissions_its_reference_page_lists() -> None:
    from graph_emulator import Backend

    service = graph_service(Backend())
    missing = [f"{method} {template}" for method, _, template, _ in service._routes
               if need_for(f"{method} {template}") is None]
    assert missing == []


class TestAppRoles:
    def test_a_token_without_the_role_gets_each_services_403(self, http: httpx.Client,
                                                              emulator: EmulatorServer) -> None:
        env = emulator.env()
        sessions = make_list(http, emulator)
        grant_roles(http, env, ["Mail.Send"])
        sender = emulator.backend.sender.id
        assert error_of(http.get(f"{sessions}/items")) == (403, "accessDenied", "Access denied")
        assert error_of(http.get("/v1.0/users")) == (403, "Authorization_RequestDenied",
                                                     "Insufficient privileges to complete the operation.")
        assert error_of(http.get(f"/v1.0/users/{sender}/mailFolders/sentitems/messages"))[:2] == \
            (403, "ErrorAccessDenied")
        assert http.post(f"/v1.0/users/{emulator.backend.organizer.id}/onlineMeetings/createOrGet",
                         json={"externalId": "x"}).status_code == 403

    def test_roles_travel_in_the_token_so_a_change_shows_with_the_next_token(self, http: httpx.Client,
                                                                             emulator: EmulatorServer) -> None:
        env = emulator.env()
        assert http.put("/_emulator/app-roles", json={"roles": ["Mail.Send"]}).json() == {"roles": ["Mail.Send"]}
        assert http.get("/v1.0/users").status_code == 200  # the token in hand was issued with every role
        grant_roles(http, env, ["Mail.Send"])
        assert http.get("/v1.0/users").status_code == 403
        grant_roles(http, env, list(ALL_ROLES))
        assert http.get("/v1.0/users").status_code == 200

    def test_mail_readbasic_lists_sent_items_but_not_a_messages_content(self, http: httpx.Client,
                                                                         emulator: EmulatorServer) -> None:
        grant_roles(http, emulator.env(), [role for role in ALL_ROLES if role != "Mail.Read"])
        mailbox = emulator.backend.sender.id
        http.post(f"/v1.0/users/{mailbox}/sendMail", json={"message": {
            "subject": "Hi", "body": {"contentType": "Text", "content": "x"},
            "toRecipients": [{"emailAddress": {"address": "alex@example.org"}}]}})
        [message] = http.get(f"/v1.0/users/{mailbox}/mailFolders/sentitems/messages",
                             params={"$select": "id,internetMessageId"}).json()["value"]
        assert http.get(f"/v1.0/users/{mailbox}/messages/{message['id']}/$value").status_code == 403

    def test_each_request_in_a_batch_is_authorised_on_its_own(self, http: httpx.Client,
                                                              emulator: EmulatorServer) -> None:
        sessions = make_list(http, emulator)
        grant_roles(http, emulator.env(), ["Sites.Read.All"])
        answer = http.post("/v1.0/$batch", json={"requests": [
            {"id": "read", "method": "GET", "url": f"{sessions.removeprefix('/v1.0')}/items"},
            {"id": "write", "method": "POST", "url": f"{sessions.removeprefix('/v1.0')}/items",
             "body": {"fields": {"Title": "x"}}, "headers": {"Content-Type": "application/json"}}]}).json()
        assert {r["id"]: r["status"] for r in answer["responses"]} == {"read": 200, "write": 403}

    def test_the_control_api_refuses_a_grant_that_is_not_a_list_of_names(self, http: httpx.Client) -> None:
        assert http.put("/_emulator/app-roles", json={"roles": "Mail.Send"}).status_code == 400


class TestSitesSelected:
    def grant(self, http: httpx.Client, emulator: EmulatorServer, role: str) -> None:
        """An admin's grant, as the reference makes it: POST read or write, then PATCH to manage or more."""
        env = emulator.env()
        grant_roles(http, env, ["Sites.FullControl.All"])
        site = emulator.backend.site.id
        app = {"application": {"id": env["M365_CLIENT_ID"], "displayName": "Co-production sync"}}
        refused = http.post(f"/v1.0/sites/{site}/permissions",
                            json={"roles": ["manage"], "grantedToIdentities": [app]})
        assert error_of(refused)[:3] == (400, "invalidRequest", "Invalid value for role")
        made = http.post(f"/v1.0/sites/{site}/permissions", json={"roles": ["write"], "grantedToIdentities": [app]})
        assert made.status_code == 201 and made.json()["grantedToIdentitiesV2"] == [app]
        if role != "write":
            raised = http.patch(f"/v1.0/sites/{site}/permissions/{made.json()['id']}", json={"roles": [role]})
            assert raised.json()["roles"] == [role]
        grant_roles(http, env, ["Sites.Selected"])

    def test_sites_selected_alone_reaches_nothing(self, http: httpx.Client, emulator: EmulatorServer) -> None:
        grant_roles(http, emulator.env(), ["Sites.Selected"])
        assert http.get(f"/v1.0/sites/{emulator.backend.site.id}/lists").status_code == 403

    def test_a_write_grant_reads_and_writes_items_but_cannot_make_lists(self, http: httpx.Client,
                                                                        emulator: EmulatorServer) -> None:
        sessions = make_list(http, emulator)
        self.grant(http, emulator, "write")
        assert http.post(f"{sessions}/items", json={"fields": {"Title": "x"}}).status_code == 201
        assert http.get(f"{sessions}/items/delta").status_code == 200
        assert http.post(f"{sessions}/columns", json={"name": "Room", "text": {}}).status_code == 403
        assert http.post(f"/v1.0/sites/{emulator.backend.site.id}/lists",
                         json={"displayName": "Other"}).status_code == 403

    def test_a_manage_grant_makes_lists_and_columns(self, http: httpx.Client, emulator: EmulatorServer) -> None:
        self.grant(http, emulator, "manage")
        sessions = make_list(http, emulator)
        assert http.post(f"{sessions}/columns", json={"name": "Room", "text": {}}).status_code == 201

    def test_a_grant_on_the_site_does_not_reach_another_site(self, http: httpx.Client,
                                                            emulator: EmulatorServer) -> None:
        other = emulator.backend.sharepoint.add_site("other", "Another site")
        self.grant(http, emulator, "manage")
        assert http.get(f"/v1.0/sites/{other.id}/lists").status_code == 403


class TestTenantPolicies:
    def test_without_a_teams_policy_meetings_answer_the_documented_403(self, http: httpx.Client,
                                                                         emulator: EmulatorServer) -> None:
        assert http.put("/_emulator/tenant", json={"teams_policy": False}).json()["teams_policy"] is False
        organiser = emulator.backend.organizer.id
        answer = http.post(f"/v1.0/users/{organiser}/onlineMeetings/createOrGet", json={
            "externalId": "session-1", "subject": "x", "startDateTime": "2027-01-01T10:00:00Z",
            "endDateTime": "2027-01-01T11:00:00Z"})
        assert error_of(answer) == (403, "General", "No application access policy found for this app.")
        http.put("/_emulator/tenant", json={"teams_policy": True})
        assert http.post(f"/v1.0/users/{organiser}/onlineMeetings/createOrGet", json={
            "externalId": "session-1", "subject": "x", "startDateTime": "2027-01-01T10:00:00Z",
            "endDateTime": "2027-01-01T11:00:00Z"}).status_code == 201

    @pytest.mark.parametrize(("setting", "status"), [("everyone", 201), ("admins", 201), ("none", 403)])
    def test_guest_invite_settings(self, http: httpx.Client, setting: str, status: int) -> None:
        """Admins-only still lets an app with User.Invite.All invite; "none" stops everyone."""
        http.put("/_emulator/tenant", json={"invitations": setting})
        answer = http.post("/v1.0/invitations", json={"invitedUserEmailAddress": "sam@example.org",
                                                      "inviteRedirectUrl": "https://council.example.org"})
        assert answer.status_code == status
        if status == 403:
            assert error_of(answer)[2].startswith("Guest invitations not allowed for your company.")

    def test_a_new_guest_is_unknown_to_the_group_until_the_directory_catches_up(
            self, http: httpx.Client, emulator: EmulatorServer) -> None:
        http.put("/_emulator/tenant", json={"directory_delay_s": 3600})
        invited = http.post("/v1.0/invitations", json={"invitedUserEmailAddress": "sam@example.org",
                                                       "inviteRedirectUrl": "https://council.example.org"}).json()
        user = invited["invitedUser"]["id"]
        group = emulator.backend.guest_group.id
        ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user}"}
        answer = http.post(f"/v1.0/groups/{group}/members/$ref", json=ref)
        assert error_of(answer)[:2] == (404, "Request_ResourceNotFound")
        http.put("/_emulator/tenant", json={"directory_delay_s": 0})
        assert http.post(f"/v1.0/groups/{group}/members/$ref", json=ref).status_code == 204

    @pytest.mark.parametrize("payload", [{"teams_policy": "yes"}, {"invitations": "some"},
                                         {"directory_delay_s": -1}, {"lag": 5}])
    def test_a_bad_setting_is_refused_by_name_and_nothing_changes(self, http: httpx.Client,
                                                                   payload: dict[str, Any]) -> None:
        before = http.get("/_emulator/tenant").json()
        answer = http.put("/_emulator/tenant", json=payload)
        assert answer.status_code == 400 and next(iter(payload)) in answer.json()["error"]
        assert http.get("/_emulator/tenant").json() == before


class TestDeltaAndETags:
    def fill(self, http: httpx.Client, sessions: str, n: int) -> None:
        for i in range(n):
            assert http.post(f"{sessions}/items", json={"fields": {"Title": f"s{i}"}}).status_code == 201

    def test_links_are_opaque_tokens_that_keep_the_first_calls_options(self, http: httpx.Client,
                                                                       emulator: EmulatorServer) -> None:
        sessions = make_list(http, emulator)
        self.fill(http, sessions, 3)
        first = http.get(f"{sessions}/items/delta", params={"$expand": "fields", "$top": "2"}).json()
        link = first["@odata.nextLink"]
        assert link.split("?")[1].startswith("token=") and "$expand" not in link and "&" not in link
        second = http.get(link).json()
        assert [i["fields"]["Title"] for i in second["value"]] == ["s2"]
        assert second["@odata.deltaLink"].split("?")[1].startswith("token=")

    def test_a_token_that_forgets_expand_gives_items_without_fields(self, http: httpx.Client,
                                                                     emulator: EmulatorServer) -> None:
        """Undocumented for list items either way: the service must cope with both."""
        sessions = make_list(http, emulator)
        http.put("/_emulator/tenant", json={"delta_keeps_query": False})
        first = http.get(f"{sessions}/items/delta", params={"$expand": "fields"}).json()
        self.fill(http, sessions, 1)
        [changed] = http.get(first["@odata.deltaLink"]).json()["value"]
        assert "fields" not in changed and changed["id"] == "1"

    def test_an_expired_token_answers_410_with_the_reference_code_and_where_to_start(
            self, http: httpx.Client, emulator: EmulatorServer) -> None:
        sessions = make_list(http, emulator)
        self.fill(http, sessions, 2)
        link = http.get(f"{sessions}/items/delta", params={"$expand": "fields"}).json()["@odata.deltaLink"]
        http.post("/_emulator/delta-resync")
        gone = http.get(link)
        assert error_of(gone)[:2] == (410, "resyncChangesApplyDifferences")
        again = http.get(gone.headers["Location"]).json()
        assert [i["fields"]["Title"] for i in again["value"]] == ["s0", "s1"]  # a whole enumeration, with fields

    def test_etags_are_written_as_graph_writes_them_and_either_form_matches(self, http: httpx.Client,
                                                                            emulator: EmulatorServer) -> None:
        sessions = make_list(http, emulator)
        item = http.post(f"{sessions}/items", json={"fields": {"Title": "x"}}).json()
        guid = emulator.backend.sharepoint.get_list(emulator.backend.site.id, "Sessions").items[1].guid
        assert item["eTag"] == f'"{{{guid.upper()}}},1"'
        assert item["fields"]["@odata.etag"] == f'"{guid},1"'
        patched = http.patch(f"{sessions}/items/1/fields", json={"Title": "y"},
                             headers={"If-Match": item["fields"]["@odata.etag"]})
        assert patched.status_code == 200 and patched.json()["@odata.etag"] == f'"{guid},2"'  # as reads carry it
        emulator.backend.tenant.update({"write_answers_etag": False})  # as the reference's shortened example
        quiet = http.patch(f"{sessions}/items/1/fields", json={"Title": "y"})
        assert quiet.status_code == 200 and "@odata.etag" not in quiet.json() and quiet.json()["Title"] == "y"
        assert http.patch(f"{sessions}/items/1/fields", json={"Title": "z"},
                          headers={"If-Match": f'"{{{guid.upper()}}},3"'}).status_code == 200
        assert error_of(http.patch(f"{sessions}/items/1/fields", json={"Title": "w"},
                                   headers={"If-Match": item["eTag"]}))[:2] == (412, "preconditionFailed")
