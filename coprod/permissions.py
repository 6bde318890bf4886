"""What the app needs from the tenant, step by step, how `check` shows it, and what to tell the team when
Microsoft 365 says no.

Every Graph call the service makes belongs to a step below. Each step names the least privileged application
permission that Microsoft's v1.0 reference lists for it (the page is
`https://learn.microsoft.com/graph/api/<page>?view=graph-rest-1.0`), what stops while it is missing, and how
`python -m coprod check` shows it is granted without changing anything. A 403 on a step becomes one plain
sentence (`explain`) for the item's note, the run's summary and `status`; tenant policies that answer 403 of their
own (Teams application access policy, guest invite settings) are told apart by Graph's message. What to grant
(`needs`) is the fix `check` prints, and says what docs/permissions.md says (tests/deploy/test_check.py compares them).

    step          permission (least privileged)     shown by `check`     reference page(s)
    lists-read    Sites.ReadWrite.All (*)            a read               listitem-delta, listitem-get
    lists-write   Sites.ReadWrite.All                a refused write      listitem-update, listitem-create
    provision     Sites.Manage.All                   the token            list-post-columns, list-create, ...
    users         User.Read.All                      a read               user-list
    sent-items    Mail.ReadBasic.All (Exchange)      a read               mailfolder-list-messages
    send          Mail.Send (Exchange)               the token            user-sendmail
    bounces       Mail.Read (Exchange; optional)     a read               message-get
    meetings      OnlineMeetings.ReadWrite.All       a read, the token    onlinemeeting-createorget, ...
                  + a Teams application access policy for the organiser
    attendance    OnlineMeetingArtifact.Read.All     the token            meetingattendancereport-list, ...
                  + the same policy
    group         GroupMember.ReadWrite.All          a read, the token    group-post-members, ...
    delete-guests User.DeleteRestore.All (optional)  the token            user-delete
    invite        User.Invite.All                    the token            invitation-post

(*) Reading alone takes Sites.Read.All, but the service writes statuses back, so it asks for one permission.
With `Sites.Selected` instead of the Sites.* permissions, the site's grant must be `write` for the sync and
`manage` for provisioning (granted with POST then PATCH on /sites/{id}/permissions). (Exchange): best granted on
the sending mailbox alone, with Exchange RBAC for Applications, which no token shows.

How `check` shows each (`Step.shown`): `read`, a read that needs the permission; `write-refused`, an update of no
fields on a condition no item meets (Graph answers 412 to an app that may write, 403 to one that may not);
`token`, the permissions the access token carries, for what can't be shown without doing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from graph_client import ForbiddenError

__all__ = ["STEPS", "Step", "explain", "is_refusal", "needs", "refusal", "remedy"]

REFERENCE = "https://learn.microsoft.com/graph/api/{page}?view=graph-rest-1.0"


@dataclass(frozen=True)
class Step:
    doing: str  # what the app was doing, after "let the app ..."
    permission: str  # the application permission to consent to
    pages: tuple[str, ...]  # its reference pages, the first one quoted
    stops: str  # what waits until it is fixed, after "Until then, ..."
    also: str = ""  # the other way to grant it, or what else it takes
    shown: str = "token"  # how `check` shows it without changing anything: read, write-refused or token
    untried: str = ""  # for `token`: why it is not shown by doing it ("sending an email would change something")
    wider: tuple[str, ...] = ()  # the other application permissions that allow it too (a token may carry one)
    exchange: str = ""  # the Exchange RBAC for Applications role that grants it on the sending mailbox alone
    optional: bool = False  # the service works without it (and says what it leaves undone)

    @property
    def reference(self) -> str:
        return REFERENCE.format(page=self.pages[0])


_SELECTED = "or, with Sites.Selected, a {role} grant on the site"
_SITES_WIDER = ("Sites.Manage.All", "Sites.FullControl.All")
STEPS: dict[str, Step] = {  # in the order `check` shows them
    "lists-read": Step("read the SharePoint lists", "Sites.ReadWrite.All", ("listitem-delta", "listitem-get"),
                       "no registrations, guest requests or mailing-list changes are picked up (nothing is lost: "
                       "they are read once the permission is back)", _SELECTED.format(role="write"), "read",
                       wider=_SITES_WIDER),
    "lists-write": Step("write to the SharePoint lists", "Sites.ReadWrite.All", ("listitem-update", "listitem-create"),
                        "statuses and notes are not written back to the lists", _SELECTED.format(role="write"),
                        "write-refused", wider=_SITES_WIDER),
    "provision": Step("create the lists and their columns", "Sites.Manage.All",
                      ("list-post-columns", "list-create", "columndefinition-update"),
                      "the lists cannot be created or updated; everything else works on the lists that exist",
                      _SELECTED.format(role="manage") + ", taken back afterwards: only provisioning needs it",
                      untried="creating a list would change something", wider=("Sites.FullControl.All",)),
    "users": Step("look people up in the directory", "User.Read.All", ("user-list",),
                  "guest access requests wait", shown="read",
                  wider=("User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")),
    "sent-items": Step("check the mailbox's Sent Items", "Mail.ReadBasic.All", ("mailfolder-list-messages",),
                       "an email whose sending was interrupted cannot be checked: after a day it is given up as "
                       "'may have gone' and not sent again, so nobody gets it twice", shown="read",
                       wider=("Mail.Read", "Mail.ReadWrite"), exchange="Application Mail.ReadBasic"),
    "send": Step("send email as the team's mailbox", "Mail.Send", ("user-sendmail",),
                 "every email stays queued; none is lost or sent twice, and they go once it is fixed",
                 untried="sending an email would change something", exchange="Application Mail.Send"),
    "bounces": Step("read the non-delivery reports in the mailbox's Inbox", "Mail.Read", ("message-get",),
                    "a bounced address is not noticed: booking emails and updates keep going to it; nothing else "
                    "waits", "optional: a report's delivery status is in its content", "read",
                    wider=("Mail.ReadWrite",), exchange="Application Mail.Read", optional=True),
    "meetings": Step("create Teams meetings for the organiser", "OnlineMeetings.ReadWrite.All",
                     ("onlinemeeting-createorget", "onlinemeeting-update", "onlinemeeting-delete"),
                     "sessions get no Teams meeting, and confirmations (which carry the join link) wait",
                     "and a Teams application access policy for the organiser", "read",
                     "making a meeting would change something"),
    "attendance": Step("read the Teams meetings' attendance reports", "OnlineMeetingArtifact.Read.All",
                       ("meetingattendancereport-list", "attendancerecord-list"),
                       "nobody's attendance is recorded (Attended stays empty); nothing else waits",
                       "and the Teams application access policy for the organiser that the meetings use",
                       untried="reading an attendance report takes a meeting that has been held"),
    "group": Step("add guests to the guest group", "GroupMember.ReadWrite.All",
                  ("group-post-members", "group-delete-members", "user-getmembergroups"),
                  "invited guests are not added to the group, so they cannot yet open the team's files, and "
                  "guests to be removed stay in it", shown="read",
                  untried="adding a member would change something",
                  wider=("Group.ReadWrite.All", "Directory.ReadWrite.All")),
    "delete-guests": Step("delete guest accounts it invited", "User.DeleteRestore.All", ("user-delete",),
                          "guests it removes leave the guest group but keep their account, for an admin to "
                          "delete in the Entra admin centre",
                          "optional: without it the service only takes guests out of the group",
                          untried="deleting an account would change something", wider=("User.ReadWrite.All",),
                          optional=True),
    "invite": Step("invite guests", "User.Invite.All", ("invitation-post",),
                   "guest access requests wait, and say so on their row",
                   untried="inviting someone would change something",
                   wider=("User.ReadWrite.All", "Directory.ReadWrite.All")),
}

_TEAMS_POLICY = ("No Teams application access policy lets the app create meetings for the organiser: a Teams "
                 "admin runs New-CsApplicationAccessPolicy and Grant-CsApplicationAccessPolicy for the organiser "
                 "(it takes up to 30 minutes to work; see learn.microsoft.com/graph/cloud-communication-online-"
                 "meeting-application-access-policy). Until then, sessions get no Teams meeting and confirmations "
                 "(which carry the join link) wait; nothing is lost.")
_INVITES_OFF = ("The tenant's guest invite settings let nobody invite guests (Entra admin centre, External "
                "Identities, External collaboration settings). Until an admin allows invitations, guest access "
                "requests wait; nothing is lost.")


def is_refusal(error: BaseException) -> bool:
    """Whether Graph refused for want of a permission or a tenant policy (403), not for the item itself."""
    return isinstance(error, ForbiddenError)


def explain(step: str, error: BaseException) -> str | None:
    """One plain sentence for the team when `error` is a 403 on `step`; None for any other error."""
    return refusal(step, error) if isinstance(error, ForbiddenError) else None


def refusal(step: str, error: ForbiddenError) -> str:
    """One plain sentence for the team about a 403 on `step`: the permission or tenant setting, and what waits."""
    policy = _policy(step, error)
    if policy is not None:
        return policy
    code = f" {error.code}" if error.code else ""
    return f"Microsoft 365 would not let the app {STEPS[step].doing} (403{code}): {needs(step)}"


def remedy(step: str, error: ForbiddenError) -> str:
    """What fixes a 403 on `step`: the tenant policy's sentence, or what to grant (`needs`)."""
    return _policy(step, error) or needs(step)


def _policy(step: str, error: ForbiddenError) -> str | None:
    """The sentence for a tenant policy that Graph's message names, or None for a missing permission."""
    said = (error.message or "").casefold()
    if step in ("meetings", "attendance") and "application access policy" in said:
        return _TEAMS_POLICY
    if step == "invite" and "guest invitations not allowed" in said:
        return _INVITES_OFF
    return None


def needs(step: str) -> str:
    """What to grant for `step`, and what waits until then: `the app's identity needs ...` (the fix `check`
    prints, as docs/permissions.md says it: a mail permission on the sending mailbox alone first)."""
    need = STEPS[step]
    how = "with admin consent"
    if need.exchange:
        how = (f"on the sending mailbox alone: with Exchange RBAC for Applications, the role '{need.exchange}' "
               "scoped to that mailbox (New-ManagementRoleAssignment; docs/permissions.md, section 3), or, where "
               "the tenant does not use it, granted in Entra with admin consent (not both: they add up)")
    also = f" ({need.also})" if need.also else ""
    return (f"the app's identity needs the {need.permission} application permission, {how}{also}; "
            f"see {need.reference}. Until then, {need.stops}.")
