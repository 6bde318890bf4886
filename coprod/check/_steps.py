"""How the preflight shows each step of coprod.permissions.STEPS, without changing anything.

Every step has its check in `CHECKS`, run in the table's order. A step shown by a read (`Step.shown` "read") or
by a refused write ("write-refused") makes that call; a step shown by the token ("token") reads the table's
permission, and those that include it, from the token's roles (`Preflight.granted`). A read step that also names
what it can't try (`Step.untried`) then reads the token too, the read having shown the id it needs (the organiser,
the guest group). Each check sees what the ones before it found (`Tenant`): a site that is not there, an id that
names nobody, a Teams policy that refuses; it does not repeat that cross.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from config import LISTS, ListSchema, Settings
from coprod.check._report import FAIL, OK, OPTIONAL, SKIP, Preflight, capital
from coprod.permissions import STEPS, needs
from graph_client import (
    BadRequestError,
    Directory,
    ForbiddenError,
    GraphClient,
    GraphError,
    Mail,
    NotFoundError,
    OnlineMeetings,
    SharePointLists,
)

__all__ = ["CHECKS", "Tenant"]

NO_MEETING = "https://teams.microsoft.com/l/meetup-join/coprod-check"  # a join link no meeting has
NO_MESSAGE = "AAMkAGNvcHJvZC1jaGVjaw"  # a message id no message has
_PROVISION = "run `python -m coprod provision` (it adds what is missing and keeps what is there)"
_IDS = "see docs/permissions.md, 'Finding the ids'"


@dataclass
class Tenant:
    """What the checks read from, and what each has found so far."""

    settings: Settings
    graph: GraphClient
    roles: frozenset[str] | None  # the token's application permissions, None when they can't be read
    report: Preflight
    site: bool = False  # the site answered
    items: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # list -> (list id, an item id or None)
    in_place: bool = True  # every list is there with every column
    sender: bool = True  # False once M365_SENDER is known to name nobody
    organiser: bool = True  # the same for M365_ORGANIZER_ID
    teams: bool = False  # the organiser's meetings could be read (the Teams policy covers them)

    @property
    def lists(self) -> SharePointLists:
        return SharePointLists(self.graph, self.settings.site_id)

    @property
    def directory(self) -> Directory:
        return Directory(self.graph)


def _lists_read(tenant: Tenant) -> None:
    report, lists = tenant.report, tenant.lists
    tenant.site = report.probe("SharePoint site", "lists-read",
                               lambda: f"found: {lists.site().display_name or 'no title'}",
                               missing=f"M365_SITE_ID names no site: {_IDS}")
    if tenant.site:
        tenant.in_place = all([_list(tenant, schema) for schema in LISTS])


def _list(tenant: Tenant, schema: ListSchema) -> bool:
    """The list, its columns and an item read; True when it is in place."""
    report, lists, name = tenant.report, tenant.lists, schema.display_name
    what = f"{name} list"
    try:
        found = lists.find_list(name)
    except GraphError as error:
        report.failure(what, "lists-read", error)
        return False
    if found is None:
        return report.add(FAIL, what, "not on the site", _PROVISION, step="lists-read")
    have = {column.name for column in found.columns or []}
    absent = [column["name"] for column in schema.columns if column["name"] not in have]
    if absent:
        return report.add(FAIL, what, f"missing {len(absent)} column{'s' * (len(absent) > 1)}: "
                                      f"{', '.join(absent)}", _PROVISION, step="lists-read")
    first: list[str | None] = []

    def read() -> str:
        first.append(lists.first_item_id(found.id, label=name))
        return "found, with every column the service uses; items can be read"

    if report.probe(what, "lists-read", read):
        tenant.items[name] = (found.id, first[0])
    return True  # in place, readable or not (a cross says why)


def _lists_write(tenant: Tenant) -> None:
    """A write shown without writing: an update of no fields on an eTag no item has (412 allowed, 403 refused)."""
    report = tenant.report
    for name, (list_id, item_id) in tenant.items.items():
        what = f"{name} list, writing"
        if not item_id:
            report.add(SKIP, what, "not shown: the list has no items yet (the first run's write will show it)",
                       step="lists-write")
            continue
        try:
            allowed = tenant.lists.may_write(list_id, item_id, label=name)
        except ForbiddenError as error:
            report.failure(what, "lists-write", error)
            continue
        except GraphError as error:
            report.add(SKIP, what, f"not shown ({error})", step="lists-write")
            continue
        if allowed:
            report.add(OK, what, "allowed (an update on a condition no item meets was turned down for that "
                                 "condition; nothing changed)", step="lists-write")
        else:
            report.add(SKIP, what, "not shown: Graph's answer said neither yes nor no", step="lists-write")


def _provision(tenant: Tenant) -> None:
    if not tenant.site:
        return  # the site's cross says why
    need, roles = STEPS["provision"], tenant.roles
    if roles is not None and tenant.in_place and not {need.permission, *need.wider} & roles:
        tenant.report.add(OPTIONAL, "Provisioning", f"the token carries no {need.permission}; the lists are in "
                                                    "place, so only an upgrade that adds columns needs it",
                          capital(needs("provision")), step="provision")
        return
    tenant.report.granted("Provisioning", "provision", roles)


def _users(tenant: Tenant) -> None:
    report, directory, settings = tenant.report, tenant.directory, tenant.settings
    tenant.sender = _found(tenant, "Sending mailbox", settings.sender, "the sending mailbox",
                           "M365_SENDER names no user: use the mailbox's userPrincipalName or object id")
    tenant.organiser = _found(tenant, "Meeting organiser", settings.organizer_id, "the organiser",
                              "M365_ORGANIZER_ID names no user: use the organiser's object id (Entra admin centre, "
                              "Users, the user, Object ID)")

    def lookup() -> str:
        directory.find_by_address("coprod-check@example.invalid")
        return "people can be looked up by address (so nobody is invited twice)"

    report.probe("Directory", "users", lookup)


def _found(tenant: Tenant, what: str, key: str, whose: str, missing: str) -> bool:
    """Whether the id may name someone: False only when Graph said it names nobody (a 403 leaves it open)."""
    def get() -> str:
        user = tenant.directory.get_user(key, what=whose)
        return "found" + (" (a guest account: it should be a member of the tenant)" if user.user_type == "Guest"
                          else "")

    try:
        said = get()
    except GraphError as error:
        tenant.report.failure(what, "users", error, missing)
        return not isinstance(error, NotFoundError)
    tenant.report.add(OK, what, said, step="users")
    return True


def _sent_items(tenant: Tenant) -> None:
    if not tenant.sender:
        return

    def read() -> str:
        Mail(tenant.graph, tenant.settings.sender).find_sent("coprod-check")
        return "readable (an interrupted send is checked there before it is ever sent again)"

    tenant.report.probe("Sent Items", "sent-items", read,
                        missing="the sending mailbox has no Sent Items: is M365_SENDER a mailbox?")


def _send(tenant: Tenant) -> None:
    if not tenant.sender:
        return
    report, roles = tenant.report, tenant.roles
    readable = any(f.step == "sent-items" and f.mark == OK for f in report.findings)
    if tenant.settings.mail_transport == "acs":
        report.add(SKIP, "Sending", "by Azure Communication Services (COPROD_MAIL_TRANSPORT=acs): not checked here",
                   step="send")
    elif roles is not None and readable and not any(role.startswith("Mail.") for role in roles):
        # Sent Items answered, yet the token holds no Mail.* permission: Exchange RBAC for Applications scopes
        # the app to this mailbox, and such grants never show in a token
        report.add(SKIP, "Sending", "not shown: the mailbox is reached through Exchange RBAC for Applications "
                                    "(no Mail.* permission in the token, yet Sent Items can be read); it needs the "
                                    "'Application Mail.Send' role there too, and the first run will show it",
                   step="send")
    else:
        report.granted("Sending", "send", roles)


def _bounces(tenant: Tenant) -> None:
    """Reading a message whole (`$value`, as the non-delivery reports are read): one in the mailbox, or, when it
    holds none yet, one that is not there (an app that may read answers 404 or 400, one that may not 403: the
    permission is checked on the mailbox before the message is looked for; `rehearse` shows it on a real one).
    Optional: without it, a `!` with what to grant."""
    if not tenant.sender or tenant.settings.mail_transport == "acs":
        return
    mail = Mail(tenant.graph, tenant.settings.sender)
    what = "Bounces (non-delivery reports)"
    found: str | None = None
    try:
        found = mail.any_message_id()
        mail.mime(found or NO_MESSAGE)
    except ForbiddenError:
        tenant.report.add(OPTIONAL, what, "refused: the app cannot read the mailbox's messages (optional)",
                          capital(needs("bounces")), step="bounces")
        return
    except GraphError as error:  # (a 404 or 400 for the message that is not there: the read was allowed)
        if found is not None or not isinstance(error, (NotFoundError, BadRequestError)) or \
                error.operation != "read a non-delivery report":
            tenant.report.failure(what, "bounces", error)
            return
    tenant.report.add(OK, what, "readable (a bounced address is noticed, and emailed no more)", step="bounces")


def _meetings(tenant: Tenant) -> None:
    if not tenant.organiser:
        return
    meetings = OnlineMeetings(tenant.graph, tenant.settings.organizer_id)

    def policy() -> str:
        meetings.find_by_join_url(NO_MEETING)
        return "the app may act for the organiser (a Teams application access policy covers them)"

    tenant.teams = tenant.report.probe("Teams meetings", "meetings", policy)
    if tenant.teams:
        tenant.report.granted("Teams meetings, making them", "meetings", tenant.roles)


def _attendance(tenant: Tenant) -> None:
    if tenant.teams:  # else the meetings' cross says why (the same policy)
        tenant.report.granted("Teams meetings, attendance", "attendance", tenant.roles)


def _group(tenant: Tenant) -> None:
    group_id = tenant.settings.guest_group_id

    def read() -> str:
        return f"found: {tenant.directory.get_group(group_id).display_name or 'no name'}"

    if tenant.report.probe("Guest group", "group", read,
                           missing="M365_GUEST_GROUP_ID names no group: use the group's object id"):
        tenant.report.granted("Guest group, adding guests", "group", tenant.roles)


def _token(what: str, step: str) -> Callable[[Tenant], None]:
    """The check of a step shown by the token alone, on a line of its own."""
    def check(tenant: Tenant) -> None:
        tenant.report.granted(what, step, tenant.roles)

    return check


CHECKS: dict[str, Callable[[Tenant], None]] = {
    "lists-read": _lists_read,
    "lists-write": _lists_write,
    "provision": _provision,
    "users": _users,
    "sent-items": _sent_items,
    "send": _send,
    "bounces": _bounces,
    "meetings": _meetings,
    "attendance": _attendance,
    "group": _group,
    "delete-guests": _token("Guest accounts, deleting them", "delete-guests"),
    "invite": _token("Guest invitations", "invite"),
}
