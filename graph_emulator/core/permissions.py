"""Application permissions: which of the app's roles each endpoint takes, as Microsoft's v1.0 reference lists them.

Each route names its reference page (`learn.microsoft.com/graph/api/<page>?view=graph-rest-1.0`) and the
application permissions that page lists, least privileged first; a token holding any one of them may call it.
tests/deploy/test_permissions_table.py holds every route against Microsoft's own permissions file (the one Graph
Explorer reads) and names each place the emulator differs from it, and why.
The app's roles are set by the control API (`PUT /_emulator/app-roles`) and carried in each token issued after,
as in Entra: a change shows once the app gets a new token.

SharePoint's `Sites.Selected` grants nothing by itself: an admin grants the app a role on one site with
`POST /sites/{site}/permissions` (read or write: Graph refuses the others there with "Invalid value for role",
microsoft-graph-docs issues 11814 and 18421) and raises it with `PATCH /sites/{site}/permissions/{id}` (manage,
fullcontrol); then the app may do on that site what the role allows. The roles are ordered: each includes those
before it. Creating lists and columns takes manage.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["ALL_ROLES", "SITE_ROLES", "SITE_ROLES_ON_CREATE", "Need", "TenantPolicy", "denied_error", "need_for",
           "site_role_covers"]

SITE_ROLES = ("read", "write", "manage", "fullcontrol")
SITE_ROLES_ON_CREATE = ("read", "write")  # POST takes only these; PATCH raises a grant to manage or fullcontrol
_SITES_READ = ("Sites.Read.All", "Sites.ReadWrite.All", "Sites.Manage.All", "Sites.FullControl.All")
_SITES_WRITE = ("Sites.ReadWrite.All", "Sites.Manage.All", "Sites.FullControl.All")
_SITES_MANAGE = ("Sites.Manage.All", "Sites.FullControl.All")
_GROUP_READ = ("GroupMember.ReadBasic.All", "GroupMember.Read.All", "Group.ReadBasic.All", "Group.Read.All")


@dataclass(frozen=True)
class Need:
    """What an endpoint takes: any one of `roles`, or (`site`) a Sites.Selected grant of that role on the site."""

    page: str  # the v1.0 reference page
    roles: tuple[str, ...]
    site: str | None = None  # "read" | "write" | "manage" | "fullcontrol" for Sites.Selected
    service: str = "directory"  # whose 403 to answer: directory, sharepoint, mail, teams
    shape: str = ""  # where the answer's shape goes beyond the reference page's example, and why


# "METHOD /template" -> what it needs. Templates are the routes' own (see the _routes_* modules).
NEEDS: dict[str, Need] = {
    # SharePoint
    "GET /sites/{site}": Need("site-get", _SITES_READ, "read", "sharepoint"),
    "GET /sites/{site}/lists": Need("list-list", _SITES_READ, "read", "sharepoint"),
    "GET /sites/{site}/lists/{list}": Need("list-get", _SITES_READ, "read", "sharepoint"),
    # list-create's table: Sites.Manage.All, then (sic) Sites.ReadWrite.All; a Sites.Selected write grant is not enough
    "POST /sites/{site}/lists": Need("list-create", (*_SITES_MANAGE, "Sites.ReadWrite.All"), "manage", "sharepoint"),
    "GET /sites/{site}/lists/{list}/columns": Need("list-list-columns", _SITES_READ, "read", "sharepoint"),
    "POST /sites/{site}/lists/{list}/columns": Need("list-post-columns", _SITES_MANAGE, "manage", "sharepoint"),
    "PATCH /sites/{site}/lists/{list}/columns/{column}": Need("columndefinition-update", _SITES_MANAGE, "manage",
                                                              "sharepoint"),
    "GET /sites/{site}/lists/{list}/items/delta": Need("listitem-delta", _SITES_READ, "read", "sharepoint"),
    "GET /sites/{site}/lists/{list}/items": Need("listitem-list", _SITES_READ, "read", "sharepoint"),
    "POST /sites/{site}/lists/{list}/items": Need("listitem-create", _SITES_WRITE, "write", "sharepoint"),
    "GET /sites/{site}/lists/{list}/items/{item}": Need("listitem-get", _SITES_READ, "read", "sharepoint"),
    "GET /sites/{site}/lists/{list}/items/{item}/fields": Need("listitem-get", _SITES_READ, "read", "sharepoint"),
    "PATCH /sites/{site}/lists/{list}/items/{item}/fields": Need(
        "listitem-update", _SITES_WRITE, "write", "sharepoint",
        shape="[docs: example shortened] the answer carries `@odata.etag`, as every read of fields does"),
    "PATCH /sites/{site}/lists/{list}/items/{item}": Need("listitem-update", _SITES_WRITE, "write", "sharepoint"),
    "DELETE /sites/{site}/lists/{list}/items/{item}": Need("listitem-delete", _SITES_WRITE, "write", "sharepoint"),
    "GET /sites/{site}/permissions": Need("site-list-permissions", ("Sites.FullControl.All",), "fullcontrol",
                                          "sharepoint"),
    "PATCH /sites/{site}/permissions/{permission}": Need("site-update-permission", ("Sites.FullControl.All",),
                                                         None, "sharepoint"),
    "POST /sites/{site}/permissions": Need("site-post-permissions", ("Sites.FullControl.All",), None, "sharepoint"),
    "DELETE /sites/{site}/permissions/{permission}": Need("site-delete-permission", ("Sites.FullControl.All",),
                                                          None, "sharepoint"),
    # the directory
    "GET /users": Need("user-list", ("User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All",
                                     "Directory.Read.All", "Directory.ReadWrite.All")),
    "GET /users/{user}": Need("user-get", ("User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All",
                                           "Directory.Read.All", "Directory.ReadWrite.All")),
    # user-delete: User.DeleteRestore.All (deletes and restores accounts, reads and writes no profile), then
    # User.ReadWrite.All; in a delegated call also the User Administrator role (not ours)
    "DELETE /users/{user}": Need("user-delete", ("User.DeleteRestore.All", "User.ReadWrite.All")),
    # user-getmembergroups asks for a pair (User.ReadBasic.All or User.Read.All, and a group permission) or
    # Directory.Read.All; the emulator checks the group half (the app reads users anyway)
    "POST /users/{user}/getMemberGroups": Need("user-getmembergroups", (*_GROUP_READ, "GroupMember.ReadWrite.All",
                                                                       "Group.ReadWrite.All", "Directory.Read.All",
                                                                       "Directory.ReadWrite.All")),
    "GET /groups/{group}": Need("group-get", ("GroupMember.Read.All", "Group.ReadBasic.All", "Group.Read.All",
                                              "Directory.Read.All", "GroupMember.ReadWrite.All", "Group.ReadWrite.All",
                                              "Directory.ReadWrite.All")),
    "GET /groups/{group}/members": Need("group-list-members", (*_GROUP_READ, "GroupMember.ReadWrite.All",
                                                               "Group.ReadWrite.All", "Directory.Read.All")),
    "POST /groups/{group}/members/$ref": Need("group-post-members", ("GroupMember.ReadWrite.All",
                                                                     "Group.ReadWrite.All",
                                                                     "Directory.ReadWrite.All")),
    "DELETE /groups/{group}/members/{member}/$ref": Need("group-delete-members", ("GroupMember.ReadWrite.All",
                                                                                   "Group.ReadWrite.All",
                                                                                   "Directory.ReadWrite.All")),
    "POST /invitations": Need("invitation-post", ("User.Invite.All", "User.ReadWrite.All",
                                                  "Directory.ReadWrite.All")),
    # mail
    "POST /users/{user}/sendMail": Need("user-sendmail", ("Mail.Send",), service="mail"),
    # meetings
    "POST /users/{user}/onlineMeetings/createOrGet": Need("onlinemeeting-createorget",
                                                          ("OnlineMeetings.ReadWrite.All",), service="teams"),
    "GET /users/{user}/onlineMeetings": Need("onlinemeeting-get", ("OnlineMeetings.Read.All",
                                                                   "OnlineMeetings.ReadWrite.All"), service="teams"),
    "GET /users/{user}/onlineMeetings/{meeting}": Need("onlinemeeting-get", ("OnlineMeetings.Read.All",
                                                                             "OnlineMeetings.ReadWrite.All"),
                                                       service="teams"),
    # meeting artifacts: the same Teams application access policy as the meetings, and this permission alone
    "GET /users/{user}/onlineMeetings/{meeting}/attendanceReports": Need(
        "meetingattendancereport-list", ("OnlineMeetingArtifact.Read.All",), service="teams"),
    "GET /users/{user}/onlineMeetings/{meeting}/attendanceReports/{report}/attendanceRecords": Need(
        "attendancerecord-list", ("OnlineMeetingArtifact.Read.All",), service="teams"),
    "PATCH /users/{user}/onlineMeetings/{meeting}": Need("onlinemeeting-update", ("OnlineMeetings.ReadWrite.All",),
                                                         service="teams"),
    "DELETE /users/{user}/onlineMeetings/{meeting}": Need("onlinemeeting-delete", ("OnlineMeetings.ReadWrite.All",),
                                                          service="teams"),
    # change notifications on a list (subscription-post-subscriptions: Sites.ReadWrite.All for a list)
    "POST /subscriptions": Need("subscription-post-subscriptions", _SITES_WRITE),
    "GET /subscriptions": Need("subscription-list", _SITES_WRITE),
    "GET /subscriptions/{subscription}": Need("subscription-get", _SITES_WRITE),
    "PATCH /subscriptions/{subscription}": Need("subscription-update", _SITES_WRITE),
    "POST /subscriptions/{subscription}/reauthorize": Need("subscription-reauthorize", _SITES_WRITE),
    "DELETE /subscriptions/{subscription}": Need("subscription-delete", _SITES_WRITE),
}
_READ_MAIL = Need("mailfolder-list-messages", ("Mail.ReadBasic.All", "Mail.Read", "Mail.ReadWrite"), service="mail")


# A message's MIME and its attachments are content: Mail.ReadBasic.All (no body, no attachments) does not reach them.
_READ_MAIL_CONTENT = Need("message-get", ("Mail.Read", "Mail.ReadWrite"), service="mail")


def need_for(operation: str) -> Need | None:
    """What the route `operation` ("METHOD /template") needs; None for routes every token may call."""
    if operation.startswith("GET /users/{user}/") and "/messages" in operation:
        if operation.endswith("/$value") or "/attachments" in operation:
            return _READ_MAIL_CONTENT
        return _READ_MAIL  # listing a mailbox's or a folder's messages, or one message, without its body
    return NEEDS.get(operation)


def site_role_covers(granted: str | None, needed: str) -> bool:
    """Whether a Sites.Selected grant of `granted` on a site allows what takes `needed` there."""
    return granted in SITE_ROLES and SITE_ROLES.index(granted) >= SITE_ROLES.index(needed)


# Every application permission the service asks for, least privilege (the default grant of a fresh tenant):
# Sites.Manage.All is for provisioning only, User.DeleteRestore.All (optional) for deleting the guest accounts it
# invited; the runs need the rest.
ALL_ROLES = ("Sites.ReadWrite.All", "Sites.Manage.All", "User.Read.All", "User.Invite.All",
             "GroupMember.ReadWrite.All", "User.DeleteRestore.All", "Mail.Send", "Mail.ReadBasic.All", "Mail.Read",
             "OnlineMeetings.ReadWrite.All", "OnlineMeetingArtifact.Read.All")


def denied_error(need: Need) -> tuple[str, str]:
    """(code, message) of the 403 Graph answers for a token without the permission, by the service behind it.

    The API pages document only the status; these bodies are what each service is reported to send
    (microsoft-graph-docs-contrib issues 3183 and 6748, sp-dev-docs 8858, msgraph-sdk-php 1094,
    microsoft-graph-docs 6663). Clients should key on the status, as the service does.
    """
    return {
        "directory": ("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
        "sharepoint": ("accessDenied", "Access denied"),
        "mail": ("ErrorAccessDenied", "Access is denied. Check credentials and try again."),
        "teams": ("Forbidden", ""),
    }[need.service]


INVITATION_SETTINGS = ("everyone", "admins", "none")


@dataclass
class TenantPolicy:
    """The tenant's own settings that Graph obeys beyond the app's permissions (`PUT /_emulator/tenant`).

    `teams_policy`: a Teams application access policy covers the organiser (Grant-CsApplicationAccessPolicy);
    without it every app-only onlineMeetings call on their behalf answers 403 (code General, "No application
    access policy found for this app.", as msgraph-sdk-dotnet issue 2350 shows it).
    `invitations`: Entra's external collaboration setting "guest invite restrictions": everyone (the default
    of a new tenant), admins (only admins and Guest Inviters: app-only calls with User.Invite.All still work,
    microsoft-graph-docs-contrib PR 9556), none (nobody, apps included: 403 "Guest invitations not allowed for
    your company", azure-docs issue 78054).
    `directory_delay_s`: how long a new guest stays unknown to group membership calls (the directory's
    replicas catch up), answering 404 Request_ResourceNotFound meanwhile.
    `delta_keeps_query`: whether a list-item delta token keeps the first call's `$expand`/`$select`/`$top`
    (undocumented for list items; False makes every page after the first come without `fields`).
    `latest_says_latest`: whether the deltaLink a `token=latest` call hands back says `token=latest` itself (reported
    for drives, microsoft-graph-docs issue 2317; not for lists, but nothing says it cannot happen): read later, such
    a link reports nothing that happened before that read.
    `write_answers_etag`: whether a PATCH of an item's fields answers with `@odata.etag` (True: as every read of
    fields does; the reference's example, marked as shortened, shows none, so a client must cope with both).
    `exchange_app_roles`: Graph permissions Exchange Online grants the app on the sending mailbox alone, through
    RBAC for Applications (New-ManagementRoleAssignment -Role "Application Mail.Send" -CustomResourceScope ...).
    They are not in the token's roles; Exchange honours them for that mailbox only.
    """

    teams_policy: bool = True
    invitations: str = "everyone"
    directory_delay_s: float = 0.0
    delta_keeps_query: bool = True
    write_answers_etag: bool = True
    latest_says_latest: bool = False
    exchange_app_roles: list[str] = field(default_factory=list)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply `changes` (a subset of the fields); ValueError naming the first bad one, and nothing changed."""
        known = {f.name for f in fields(self)}
        for name in changes:
            if name not in known:
                raise ValueError(f"unknown tenant setting {name!r}: use {', '.join(sorted(known))}")
        for flag in ("teams_policy", "delta_keeps_query", "write_answers_etag", "latest_says_latest"):
            if flag in changes and not isinstance(changes[flag], bool):
                raise ValueError(f"{flag} must be true or false")
        if "invitations" in changes and changes["invitations"] not in INVITATION_SETTINGS:
            raise ValueError(f"invitations must be one of {', '.join(INVITATION_SETTINGS)}")
        scoped = changes.get("exchange_app_roles", [])
        if not isinstance(scoped, list) or not all(isinstance(role, str) and role.startswith("Mail.")
                                                    for role in scoped):
            raise ValueError("exchange_app_roles must be a list of Mail.* permissions, e.g. [\"Mail.Send\"]")
        delay = changes.get("directory_delay_s", 0)
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0:
            raise ValueError("directory_delay_s must be a number of seconds, 0 or more")
        for name, value in changes.items():
            setattr(self, name, float(value) if name == "directory_delay_s" else value)

    def as_json(self) -> dict[str, Any]:
        return {"teams_policy": self.teams_policy, "invitations": self.invitations,
                "directory_delay_s": self.directory_delay_s, "delta_keeps_query": self.delta_keeps_query,
                "write_answers_etag": self.write_answers_etag, "latest_says_latest": self.latest_says_latest,
                "exchange_app_roles": list(self.exchange_app_roles)}
