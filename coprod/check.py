"""`python -m coprod check`: a preflight against the configured tenant that changes nothing.

One line a check, a tick or a cross, and under each cross what to fix: the permission, the tenant setting or
the setting. It reads only. Where a permission can be shown by a read, it is read (the site, the lists, the
directory, Sent Items, the organiser's meetings, the guest group). Writing to the lists is shown by an update
of no fields on a condition no item can meet: Graph answers 412 to an app that may write and 403 to one that
may not, and nothing changes either way. Sending, inviting and adding to the group cannot be shown without
doing them, so for those the check reads the application permissions the access token carries (its `roles`
claim). That reading is a diagnosis only: Microsoft treats Graph tokens as opaque.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from config import LISTS, ListSchema, Settings
from coprod.permissions import needs, remedy
from coprod.store import StateStore
from graph_client import (
    Directory,
    ForbiddenError,
    GraphClient,
    GraphError,
    GraphResponseError,
    Mail,
    NotFoundError,
    OnlineMeetings,
    SharePointLists,
    TokenError,
)

__all__ = ["Finding", "Preflight", "check_tenant", "preflight"]

OK, FAIL, SKIP = "✓", "✗", "–"
# The application permissions that allow what cannot be shown without doing it (the first: least privileged).
GRANTS = {
    "send": ("Mail.Send",),
    "invite": ("User.Invite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"),
    "group": ("GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"),
    "meetings": ("OnlineMeetings.ReadWrite.All",),
    "provision": ("Sites.Manage.All", "Sites.FullControl.All"),
}
NO_MEETING = "https://teams.microsoft.com/l/meetup-join/coprod-check"  # a join link no meeting has


@dataclass(frozen=True)
class Finding:
    mark: str  # OK, FAIL or SKIP (not shown either way; never fails the check)
    what: str
    said: str
    fix: str = ""

    def lines(self) -> list[str]:
        return [f"{self.mark} {self.what}: {self.said}"] + ([f"    Fix: {self.fix}"] if self.fix else [])


@dataclass
class Preflight:
    findings: list[Finding] = field(default_factory=list)

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if f.mark == FAIL]

    def add(self, mark: str, what: str, said: str, fix: str = "") -> bool:
        self.findings.append(Finding(mark, what, said, fix))
        return mark != FAIL

    def lines(self) -> list[str]:
        out = [line for finding in self.findings for line in finding.lines()]
        checked = sum(f.mark != SKIP for f in self.findings)
        if self.failed:
            out.append(f"{len(self.failed)} of {checked} checks failed: fix what each says, then run "
                       "`python -m coprod check` again.")
        else:
            out.append(f"All {checked} checks passed" + (" (the ones marked – could not be shown without changing "
                                                          "something)." if checked < len(self.findings) else "."))
        return out

    def probe(self, what: str, step: str, action: Callable[[], str], *, missing: str = "") -> bool:
        """Run one read; a tick with what it found, or a cross with what to fix."""
        try:
            said = action()
        except GraphError as error:
            return self.failure(what, step, error, missing)
        return self.add(OK, what, said)

    def failure(self, what: str, step: str, error: GraphError, missing: str = "") -> bool:
        """A cross for Graph's `error` on `step`: a 403 names the permission or policy, a 404 the setting."""
        if isinstance(error, ForbiddenError):
            return self.add(FAIL, what, f"refused ({_graph_words(error)})", _capital(remedy(step, error)))
        if isinstance(error, NotFoundError):
            return self.add(FAIL, what, f"not found ({_graph_words(error)})", missing)
        return self.add(FAIL, what, str(error), "try again; if it persists, Microsoft support can trace the "
                                                "request id above")

    def granted(self, what: str, step: str, roles: frozenset[str] | None, doing: str) -> bool:
        """A tick when the token carries a permission for `step` (shown without doing it), else a cross."""
        if roles is None:
            return self.add(SKIP, what, f"not shown: the access token's permissions cannot be read, and {doing} "
                                        "would change something; the first run will show it")
        have = [role for role in GRANTS[step] if role in roles]
        if have:
            return self.add(OK, what, f"the token carries {have[0]} ({doing} is not tried: it would change "
                                      "something)")
        return self.add(FAIL, what, f"the token carries none of {', '.join(GRANTS[step])}", _capital(needs(step)))


def check_tenant(settings: Settings) -> Preflight:
    """The preflight with the configured identity and store (the CLI's `check`, and GET /api/check in Azure,
    where the identity is the function app's managed identity)."""
    from coprod.runtime import store_for

    with GraphClient.from_settings(settings) as graph:
        return preflight(settings, graph, lambda: store_for(settings))


def preflight(settings: Settings, graph: GraphClient, open_store: Callable[[], StateStore]) -> Preflight:
    """Every check, in the order a deployment needs them."""
    report = Preflight()
    _store(report, settings, open_store)
    try:
        graph.ensure_token(fresh=True)  # a cached token would show the permissions of up to an hour ago
        roles = graph.granted_roles()
    except TokenError as error:
        report.add(FAIL, "Access token", str(error), _token_fix(error))
        report.add(SKIP, "Everything else", "not checked: nothing can be read from Microsoft 365 without a token")
        return report
    report.add(OK, "Access token", "issued" + (f"; it carries {len(roles)} application permissions: "
                                                 f"{', '.join(sorted(roles)) or 'none'}" if roles is not None else
                                                 " (its permissions cannot be read from it)"))
    lists = SharePointLists(graph, settings.site_id)
    directory = Directory(graph)
    if report.probe("SharePoint site", "lists-read", lambda: f"found: {lists.site().display_name or 'no title'}",
                    missing="M365_SITE_ID names no site: see docs/permissions.md, 'Finding the ids'"):
        in_place = all([_list(report, lists, schema) for schema in LISTS])
        _provisioning(report, roles, in_place)
    _mail(report, settings, graph, directory, roles)
    _meetings(report, settings, graph, directory, roles)
    _guests(report, settings, directory, roles)
    return report


def _store(report: Preflight, settings: Settings, open_store: Callable[[], StateStore]) -> None:
    kind = "SQLite" if settings.state.startswith("sqlite:") else "Azure Table Storage"
    try:
        store = open_store()
        try:
            store.get_checkpoint("sync.last-run")
        finally:
            store.close()
    except Exception as error:  # any store, any failure: one line, by its type (the message may hold a key)
        report.add(FAIL, "State store", f"{kind} could not be used ({type(error).__name__})",
                   "check COPROD_STATE; in Azure, that the managed identity has the Storage Table Data "
                   "Contributor role on the account")
        return
    report.add(OK, "State store", f"{kind}, reachable")


def _list(report: Preflight, lists: SharePointLists, schema: ListSchema) -> bool:
    """The list, its columns, a read and a write shown without writing; True when it is in place."""
    name = schema.display_name
    what = f"{name} list"
    provision = "run `python -m coprod provision` (it adds what is missing and keeps what is there)"
    try:
        found = lists.find_list(name)
    except GraphError as error:
        report.failure(what, "lists-read", error)
        return False
    if found is None:
        return report.add(FAIL, what, "not on the site", provision)
    have = {column.name for column in found.columns or []}
    absent = [column["name"] for column in schema.columns if column["name"] not in have]
    if absent:
        return report.add(FAIL, what, f"missing {len(absent)} column{'s' * (len(absent) > 1)}: "
                                      f"{', '.join(absent)}", provision)
    item: list[str | None] = []
    if not report.probe(what, "lists-read", lambda: _first(lists, found.id, name, item)):
        return True  # in place, but not readable: the cross says why
    if not item[0]:
        report.add(SKIP, f"{what}, writing", "not shown: the list has no items yet (the first run's write will "
                                             "show it)")
        return True
    item_id = item[0]
    try:
        allowed = lists.may_write(found.id, item_id, label=name)
    except ForbiddenError as error:
        report.failure(f"{what}, writing", "lists-write", error)
        return True
    except GraphError as error:
        report.add(SKIP, f"{what}, writing", f"not shown ({error})")
        return True
    if allowed:
        report.add(OK, f"{what}, writing", "allowed (an update on a condition no item meets was turned down for "
                                           "that condition; nothing changed)")
    else:
        report.add(SKIP, f"{what}, writing", "not shown: Graph's answer said neither yes nor no")
    return True


def _first(lists: SharePointLists, list_id: str, name: str, item: list[str | None]) -> str:
    item.append(lists.first_item_id(list_id, label=name))
    return "found, with every column the service uses; items can be read"


def _provisioning(report: Preflight, roles: frozenset[str] | None, in_place: bool) -> None:
    if roles is not None and not any(role in roles for role in GRANTS["provision"]) and in_place:
        report.add(SKIP, "Provisioning", "the token carries no Sites.Manage.All; the lists are in place, so only a "
                                         "change of their columns would need it (with Sites.Selected, a manage "
                                         "grant on the site, which can be taken back afterwards)")
        return
    report.granted("Provisioning", "provision", roles, "creating a list")


def _mail(report: Preflight, settings: Settings, graph: GraphClient, directory: Directory,
          roles: frozenset[str] | None) -> None:
    missing = "M365_SENDER names no user: use the mailbox's userPrincipalName or object id"
    if not report.probe("Sending mailbox", "users", lambda: _found(directory, settings.sender, "the sending mailbox"),
                        missing=missing):
        return
    readable = report.probe("Sent Items", "sent-items", lambda: _sent_items(Mail(graph, settings.sender)),
                            missing="the sending mailbox has no Sent Items: is M365_SENDER a mailbox?")
    if settings.mail_transport == "acs":
        report.add(SKIP, "Sending", "by Azure Communication Services (COPROD_MAIL_TRANSPORT=acs): not checked here")
    elif roles is not None and readable and not any(role.startswith("Mail.") for role in roles):
        # Sent Items answered, yet the token holds no Mail.* permission: Exchange RBAC for Applications scopes
        # the app to this mailbox, and such grants never show in a token
        report.add(SKIP, "Sending", "not shown: the mailbox is reached through Exchange RBAC for Applications "
                                    "(no Mail.* permission in the token, yet Sent Items can be read); it needs the "
                                    "'Application Mail.Send' role there too, and the first run will show it")
    else:
        report.granted("Sending", "send", roles, "sending an email")


def _sent_items(mail: Mail) -> str:
    mail.find_sent("coprod-check")
    return "readable (an interrupted send is checked there before it is ever sent again)"


def _meetings(report: Preflight, settings: Settings, graph: GraphClient, directory: Directory,
              roles: frozenset[str] | None) -> None:
    missing = ("M365_ORGANIZER_ID names no user: use the organiser's object id (Entra admin centre, Users, the "
               "user, Object ID)")
    if not report.probe("Meeting organiser", "users",
                        lambda: _found(directory, settings.organizer_id, "the organiser"), missing=missing):
        return
    meetings = OnlineMeetings(graph, settings.organizer_id)
    if report.probe("Teams meetings", "meetings", lambda: _policy(meetings), missing=missing):
        report.granted("Teams meetings, making them", "meetings", roles, "making a meeting")


def _policy(meetings: OnlineMeetings) -> str:
    meetings.find_by_join_url(NO_MEETING)
    return "the app may act for the organiser (a Teams application access policy covers them)"


def _guests(report: Preflight, settings: Settings, directory: Directory, roles: frozenset[str] | None) -> None:
    report.probe("Directory", "users", lambda: _lookup(directory))
    if report.probe("Guest group", "group", lambda: _group(directory, settings.guest_group_id),
                    missing="M365_GUEST_GROUP_ID names no group: use the group's object id"):
        report.granted("Guest group, adding guests", "group", roles, "adding a member")
    report.granted("Guest invitations", "invite", roles, "inviting someone")


def _found(directory: Directory, key: str, what: str) -> str:
    user = directory.get_user(key, what=what)
    return "found" + (" (a guest account: it should be a member of the tenant)" if user.user_type == "Guest" else "")


def _lookup(directory: Directory) -> str:
    directory.find_by_address("coprod-check@example.invalid")
    return "people can be looked up by address (so nobody is invited twice)"


def _group(directory: Directory, group_id: str) -> str:
    return f"found: {directory.get_group(group_id).display_name or 'no name'}"


def _graph_words(error: GraphResponseError) -> str:
    """`403 ErrorAccessDenied, request-id ...`: what Microsoft support asks for."""
    return f"{error.status} {error.code or 'no error code'}, request-id {error.request_id or 'none'}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _token_fix(error: TokenError) -> str:
    if error.error == "unreachable":
        return ("check M365_AUTHORITY_HOST (the public cloud's is https://login.microsoftonline.com), the network, "
                "and M365_CA_BUNDLE if a proxy inspects TLS")
    return ("check M365_TENANT_ID and M365_CLIENT_ID, and that the secret or certificate is the app registration's "
            "current one (Entra admin centre, App registrations, Certificates & secrets)"
            + (f"; Entra's code {error.aadsts} is explained at https://login.microsoftonline.com/error?code="
               f"{error.aadsts.removeprefix('AADSTS')}" if error.aadsts else ""))
