"""What the app needs from the tenant, step by step, and what to tell the team when Microsoft 365 says no.

Every Graph call the service makes belongs to a step below. Each step names the least privileged application
permission that Microsoft's v1.0 reference lists for it (the page is
`https://learn.microsoft.com/graph/api/<page>?view=graph-rest-1.0`), and what stops while it is missing. A 403
on a step becomes one plain sentence (`explain`) for the item's note, the run's summary and `status`; tenant
policies that answer 403 of their own (Teams application access policy, guest invite settings) are told apart
by Graph's message.

    step          permission (least privileged)     reference page(s)
    lists-read    Sites.ReadWrite.All (*)            listitem-delta, listitem-list, listitem-get
    lists-write   Sites.ReadWrite.All                listitem-update, listitem-create, listitem-delete
    provision     Sites.Manage.All                   list-create, list-post-columns, columndefinition-update
    users         User.Read.All                      user-list
    invite        User.Invite.All                    invitation-post
    group         GroupMember.ReadWrite.All          group-post-members, group-delete-members,
                                                     user-getmembergroups
    delete-guests User.DeleteRestore.All (optional)  user-delete
    send          Mail.Send                          user-sendmail
    sent-items    Mail.ReadBasic.All                 mailfolder-list-messages
    meetings      OnlineMeetings.ReadWrite.All       onlinemeeting-createorget, onlinemeeting-update,
                  + a Teams application access       onlinemeeting-delete
                  policy for the organiser
    attendance    OnlineMeetingArtifact.Read.All     meetingattendancereport-list, attendancerecord-list
                  + the same policy

(*) Reading alone takes Sites.Read.All, but the service writes statuses back, so it asks for one permission.
With `Sites.Selected` instead of the Sites.* permissions, the site's grant must be `write` for the sync and
`manage` for provisioning (granted with POST then PATCH on /sites/{id}/permissions).
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

    @property
    def reference(self) -> str:
        return REFERENCE.format(page=self.pages[0])


_SELECTED = "or, with Sites.Selected, a {role} grant on the site"
STEPS: dict[str, Step] = {
    "lists-read": Step("read the SharePoint lists", "Sites.ReadWrite.All", ("listitem-delta", "listitem-get"),
                       "no registrations, guest requests or mailing-list changes are picked up (nothing is lost: "
                       "they are read once the permission is back)", _SELECTED.format(role="write")),
    "lists-write": Step("write to the SharePoint lists", "Sites.ReadWrite.All", ("listitem-update", "listitem-create"),
                        "statuses and notes are not written back to the lists", _SELECTED.format(role="write")),
    "provision": Step("create the lists and their columns", "Sites.Manage.All",
                      ("list-post-columns", "list-create", "columndefinition-update"),
                      "the lists cannot be created or updated; everything else works on the lists that exist",
                      _SELECTED.format(role="manage") + "; only provisioning needs it"),
    "users": Step("look people up in the directory", "User.Read.All", ("user-list",),
                  "guest access requests wait"),
    "invite": Step("invite guests", "User.Invite.All", ("invitation-post",),
                   "guest access requests wait, and say so on their row"),
    "group": Step("add guests to the guest group", "GroupMember.ReadWrite.All",
                  ("group-post-members", "group-delete-members", "user-getmembergroups"),
                  "invited guests are not added to the group, so they cannot yet open the team's files, and "
                  "guests to be removed stay in it"),
    "delete-guests": Step("delete guest accounts it invited", "User.DeleteRestore.All", ("user-delete",),
                          "guests it removes leave the guest group but keep their account, for an admin to "
                          "delete in the Entra admin centre",
                          "optional: without it the service only takes guests out of the group"),
    "send": Step("send email as the team's mailbox", "Mail.Send", ("user-sendmail",),
                 "every email stays queued; none is lost or sent twice, and they go once it is fixed",
                 "and, if the tenant limits which mailboxes apps may use, an Exchange application access policy "
                 "that includes the team's mailbox"),
    "sent-items": Step("check the mailbox's Sent Items", "Mail.ReadBasic.All", ("mailfolder-list-messages",),
                       "an email whose sending was interrupted cannot be checked: after a day it is given up as "
                       "'may have gone' and not sent again, so nobody gets it twice"),
    "meetings": Step("create Teams meetings for the organiser", "OnlineMeetings.ReadWrite.All",
                     ("onlinemeeting-createorget", "onlinemeeting-update", "onlinemeeting-delete"),
                     "sessions get no Teams meeting, and confirmations (which carry the join link) wait",
                     "and a Teams application access policy for the organiser"),
    "attendance": Step("read the Teams meetings' attendance reports", "OnlineMeetingArtifact.Read.All",
                       ("meetingattendancereport-list", "attendancerecord-list"),
                       "nobody's attendance is recorded (Attended stays empty); nothing else waits",
                       "and the Teams application access policy for the organiser that the meetings use"),
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
    """What to grant for `step`, and what waits until then: `the app's identity needs ...`."""
    need = STEPS[step]
    also = f" ({need.also})" if need.also else ""
    return (f"the app's identity needs the {need.permission} application permission, with admin consent{also}; "
            f"see {need.reference}. Until then, {need.stops}.")
