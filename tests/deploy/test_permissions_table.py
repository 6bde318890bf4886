"""The emulator's permissions held against Microsoft's own table.

Microsoft publishes the permissions each Graph path takes, least privileged marked, in
`permissions/new/permissions.json` of the microsoftgraph/microsoft-graph-devx-content repository (Graph Explorer
and Dev Proxy read it). Each emulator route must take exactly the application permissions that file lists for
its path, except where a difference is named below with its reason. A route Microsoft's file changes, or a row of
`graph_emulator/core/permissions.py` someone edits, fails here until the two agree again or the difference is named;
an exception nothing needs any more fails too.

Microsoft's file is not copied into this repository (it is theirs, and it changes weekly). Download it from
https://github.com/microsoftgraph/microsoft-graph-devx-content/blob/main/permissions/new/permissions.json and point
COPROD_GRAPH_PERMISSIONS at it, or put it at ../shared/graph-permissions.json beside this checkout; without it
these tests are skipped, saying so (docs/testing.md). Last held against commit 6cbd6bb (2026-08-07): no
differences beyond those named here.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path

import pytest

from graph_emulator import Backend
from graph_emulator.core.app import graph_service
from graph_emulator.core.permissions import Need, need_for

SOURCE = Path(os.environ.get("COPROD_GRAPH_PERMISSIONS") or
              Path(__file__).resolve().parents[3] / "shared" / "graph-permissions.json")
needs_table = pytest.mark.skipif(not SOURCE.is_file(), reason=f"Microsoft's permissions.json is not at {SOURCE}: "
                                "set COPROD_GRAPH_PERMISSIONS to a downloaded copy (see this module's docstring)")

# Permissions Microsoft lists for these paths that reach other kinds of object than the service's (or settings of
# a group it never reads). No app of the service holds one, so whether the emulator takes them changes nothing.
NOT_MODELLED = {
    "AgentIdUser.": "agent identities (users that belong to an AI agent), which the service never reads",
    "DeviceManagement": "Intune: users as seen by device management",
    "User.ReadWrite.CrossCloud": "users synchronised from another Microsoft cloud",
    "Application.": "the file merges getMemberGroups of every directory object: this one is for apps",
    "Device.": "the same merge: getMemberGroups of a device",
    "Group-": "a group's nesting, data location and cross-tenant settings, which the service never reads",
    "Group.ManageProtection.All": "a group's protection settings, which the service never reads",
    "OnlineMeetingArtifact.Read.Chat": "resource-specific consent, granted in a chat to an app installed there; "
                                       "the service's meetings belong to no chat it is installed in",
}

# A permission the emulator takes where Microsoft's file lists one it includes (for some paths the file lists the
# wider one too, for others not), with why it includes it.
INCLUDES = {
    "Sites.Manage.All": ({"Sites.ReadWrite.All", "Sites.Read.All"},
                         "SharePoint's roles nest (read, write, manage, full control: Microsoft's overview of "
                         "selected permissions), and the file lists Sites.Manage.All for reading one item and "
                         "its columns"),
    "Sites.FullControl.All": ({"Sites.Manage.All", "Sites.ReadWrite.All", "Sites.Read.All"},
                              "its description: 'full control of all site collections'"),
    "Mail.ReadWrite": ({"Mail.Read", "Mail.ReadBasic.All"},
                       "its description: 'create, read, update, and delete mail in all mailboxes'; the file lists "
                       "it for listing messages, not for one"),
    "GroupMember.ReadWrite.All": ({"GroupMember.Read.All", "GroupMember.ReadBasic.All"},
                                  "its description: 'list groups, read basic properties, read and update the "
                                  "membership'; the service asks for it alone (docs/permissions.md marks its read "
                                  "half [docs, unverified])"),
}

# Routes Microsoft's file does not list, and what the emulator follows instead.
NOT_IN_FILE = {
    "GET /sites/{id}/lists/{id}/items/{id}/fields": "listitem-get's page (the file lists only PATCH here)",
    "POST /groups/{id}/members": "group-post-members's page: GroupMember.ReadWrite.All, Group.ReadWrite.All, "
                                 "Directory.ReadWrite.All (the file has no POST for it)",
    "/subscriptions": "every route under it (a key that starts with `/` names a path and all below it): "
                      "subscription-post-subscriptions's page gives the resource's permission (a list's: "
                      "Sites.ReadWrite.All); the file lists no /subscriptions path",
    "GET /users/{id}/messages/{id}/$value": "message-get's page: MIME content takes Mail.Read (Mail.ReadBasic.All "
                                            "leaves out the body and attachments, by its description)",
    "GET /users/{id}/messages/{id}/attachments/{id}": "attachment-get's page: Mail.Read",
    "GET /users/{id}/messages/{id}/attachments/{id}/$value": "the same",
    "GET /users/{id}/mailfolders/{id}/messages/{id}/$value": "as for /users/{id}/messages/{id}/$value",
    "GET /users/{id}/mailfolders/{id}/messages/{id}/attachments/{id}": "the same",
    "GET /users/{id}/mailfolders/{id}/messages/{id}/attachments/{id}/$value": "the same",
}

# (route, permission) Microsoft lists that the emulator does not take, and why.
REFUSED = {
    ("POST /users/{id}/getmembergroups", "User.Read.All"):
        "user-getmembergroups's page asks for a pair, a user permission and a group one; the emulator checks the "
        "group half",
}

# Ways a route is reached beyond the token's roles (`_check_permission` in graph_emulator/core/http.py).
BEYOND_THE_TOKEN = {
    "Sites.Selected": "with a grant on the site, as Microsoft's overview of selected permissions says; the file lists "
                      "Sites.Selected only for document set versions",
    "Exchange RBAC": "Exchange RBAC for Applications grants a mail route's own Mail.* permissions on the sending "
                     "mailbox alone, outside the token: no other permission name",
}


def microsoft_spelling(operation: str) -> str:
    """`GET /users/{user}/mailFolders/{folder}/messages` as the file spells it (`GET /users/{id}/mailfolders/...`)."""
    method, template = operation.split(" ", 1)
    template = template.replace("{folder_call}", "mailFolders/{folder}")  # mailFolders('SentItems'), another spelling
    path = re.sub(r"\{\w+\}", "{id}", template.removesuffix("/$ref")).lower()
    return f"{method} {path}"


def routes() -> dict[str, Need]:
    """Every Graph route the emulator serves, Microsoft's spelling -> what it takes."""
    found: dict[str, Need] = {}
    for method, _, template, _ in graph_service(Backend())._routes:
        need = need_for(f"{method} {template}")
        assert need is not None, f"{method} {template} names no permission"
        found[microsoft_spelling(f"{method} {template}")] = need
    return found


@cache
def table() -> dict[str, dict[str, set[str]]]:
    """Microsoft's file as `"METHOD /path"` (its spelling: lower case, each id `{id}`, no trailing `/$ref`) ->
    {"least": the application permissions it marks least privileged, "others": the rest}. A pathSet's
    `paths` map a path to "least=<schemes>" (or ""): least privileged for the schemes named."""
    found: dict[str, dict[str, set[str]]] = {}
    for name, permission in json.loads(SOURCE.read_text(encoding="utf-8"))["permissions"].items():
        for path_set in permission.get("pathSets", []):
            if "Application" not in path_set.get("schemeKeys", []):
                continue
            for path, marks in path_set.get("paths", {}).items():
                least = "Application" in str(marks).removeprefix("least=").split(",")
                spelt = re.sub(r"\{[^}]*\}", "{id}", path.removesuffix("/$ref")).lower()
                for method in path_set.get("methods", []):
                    entry = found.setdefault(f"{method.upper()} {spelt}", {"least": set(), "others": set()})
                    entry["least" if least else "others"].add(name)
    return found


def microsoft() -> dict[str, set[str]]:
    """Microsoft's application permissions for each path and method."""
    return {route: lists["least"] | lists["others"] for route, lists in table().items()}


def not_modelled(permission: str) -> str | None:
    return next((prefix for prefix in NOT_MODELLED if permission.startswith(prefix)), None)


def unlisted(route: str) -> str | None:
    """The key in NOT_IN_FILE that names `route`: the route itself, or a path it lies under."""
    path = route.split(" ", 1)[1]
    return route if route in NOT_IN_FILE else next((key for key in NOT_IN_FILE if key.startswith("/") and (
        path == key or path.startswith(key + "/"))), None)


def accepted(need: Need) -> set[str]:
    return set(need.roles) | ({"Sites.Selected"} if need.site else set())


def differences() -> tuple[list[str], set[object]]:
    """What differs between the emulator and the file beyond the named exceptions, and which exceptions were used."""
    listed, problems = microsoft(), []
    used: set[object] = set()
    for route, need in sorted(routes().items()):
        if route not in listed:
            reason = unlisted(route)
            if reason is None:
                problems.append(f"{route}: not in Microsoft's file, and no reason is named in NOT_IN_FILE")
            used.add(reason)
            continue
        theirs = listed[route]
        if need.service == "mail" and all(role.startswith("Mail.") for role in need.roles):
            used.add("Exchange RBAC")
        for permission in sorted(theirs - accepted(need)):
            why = (route, permission) if (route, permission) in REFUSED else not_modelled(permission)
            if why is None:
                problems.append(f"{route}: Microsoft lists {permission}; the emulator refuses it")
            else:
                used.add(why)
        for permission in sorted(accepted(need) - theirs):
            included = permission in INCLUDES and bool(INCLUDES[permission][0] & theirs)
            if included or (permission == "Sites.Selected" and " /sites/" in route):
                used.add(permission)
            else:
                problems.append(f"{route}: the emulator takes {permission}; Microsoft does not list it")
    return problems, used


@needs_table
def test_every_emulator_route_takes_the_application_permissions_microsoft_lists() -> None:
    problems, _ = differences()
    assert problems == []


@needs_table
def test_every_named_exception_is_still_needed() -> None:
    _, used = differences()
    named = {*NOT_IN_FILE, *REFUSED, *NOT_MODELLED, *INCLUDES, *BEYOND_THE_TOKEN}
    assert named - used == set()


@needs_table
@pytest.mark.parametrize(("route", "least"), [
    ("DELETE /users/{id}", "User.DeleteRestore.All"),  # not User.ReadWrite.All, which writes every profile
    ("GET /groups/{id}/members", "GroupMember.ReadBasic.All"),
    ("POST /users/{id}/sendmail", "Mail.Send"),
    ("POST /invitations", "User.Invite.All"),
])
def test_the_least_privileged_permission_microsoft_marks_is_the_emulators_first(route: str, least: str) -> None:
    assert least in table()[route]["least"]
    assert routes()[route].roles[0] == least


def test_a_sites_selected_grant_reaches_sharepoint_routes_only() -> None:
    assert [route for route, need in routes().items() if need.site and " /sites/" not in route] == []
