"""The directory: users (members and guests), groups and their members, and invitations: state and rules only.

Entra's rules as Graph v1.0 shows them: `$filter` on users (the part this
service uses, parsed by a real tokenizer, strings compared case-insensitively),
guests created by invitation with the `name_domain#EXT#@initial domain` UPN,
an address that already belongs to someone answered with that user rather
than a second one, and the invitation manager's per-tenant throttle (150
requests per 5 seconds). Every invitation is recorded in `Directory.invitations`
so tests and the demo can read what Microsoft would have sent.
"""

from __future__ import annotations

import math
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from graph_emulator.core.dates import iso
from graph_emulator.core.errors import GraphFault, bad_request, not_found
from graph_emulator.directory.user_filter import compile_user_filter

__all__ = ["DEFAULT_USER_PROPERTIES", "USER_PROPERTIES", "Directory", "Group", "Invitation", "User",
           "resource_not_found"]

# What GET /users and /users/{id} answer without $select (Graph's list-users and get-user pages).
DEFAULT_USER_PROPERTIES = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                           "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id")
INITIAL_DOMAIN = "councilcoprod.onmicrosoft.com"


def resource_not_found(key: str) -> GraphFault:
    """Entra's 404 for a user, group or member reference it does not have."""
    return not_found(f"Resource '{key}' does not exist or one of its queried reference-property objects are not "
                     "present.", code="Request_ResourceNotFound")


@dataclass
class User:
    id: str
    display_name: str
    user_principal_name: str
    mail: str | None
    user_type: str = "Member"
    other_mails: list[str] = field(default_factory=list)
    external_user_state: str | None = None
    created: float = 0.0
    creation_type: str | None = None
    external_user_state_changed: float | None = None
    given_name: str | None = None
    surname: str | None = None
    account_enabled: bool = True

    def all_json(self) -> dict[str, Any]:
        """Every property the emulator keeps, in Graph's names (what `$select` may ask for)."""
        changed = self.external_user_state_changed
        return {"id": self.id, "displayName": self.display_name, "givenName": self.given_name,
                "surname": self.surname, "jobTitle": None, "mail": self.mail, "mobilePhone": None,
                "officeLocation": None, "preferredLanguage": None, "businessPhones": [],
                "userPrincipalName": self.user_principal_name, "userType": self.user_type,
                "otherMails": list(self.other_mails), "externalUserState": self.external_user_state,
                "externalUserStateChangeDateTime": iso(changed) if changed is not None else None,
                "creationType": self.creation_type, "createdDateTime": iso(self.created),
                "accountEnabled": self.account_enabled}

    def as_json(self, select: Iterable[str] | None = None) -> dict[str, Any]:
        """Graph's default property set, or exactly the `select`ed (canonical) names."""
        full = self.all_json()
        return {name: full[name] for name in (DEFAULT_USER_PROPERTIES if select is None else select)}

    def filter_row(self) -> dict[str, Any]:
        """The values `$filter` sees, under their canonical names."""
        return {"id": self.id, "displayName": self.display_name, "mail": self.mail,
                "userPrincipalName": self.user_principal_name, "userType": self.user_type,
                "externalUserState": self.external_user_state, "creationType": self.creation_type,
                "otherMails": list(self.other_mails)}


USER_PROPERTIES = tuple(User("", "", "", None).all_json())  # every name $select may ask for


@dataclass
class Group:
    id: str
    display_name: str
    members: list[str] = field(default_factory=list)  # user ids, in the order added
    created: float = 0.0
    description: str | None = None

    def all_json(self) -> dict[str, Any]:
        nickname = "".join(ch for ch in self.display_name if ch.isascii() and ch.isalnum()) or "group"
        return {"id": self.id, "displayName": self.display_name, "description": self.description,
                "createdDateTime": iso(self.created), "groupTypes": [], "mail": None, "mailEnabled": False,
                "mailNickname": nickname, "securityEnabled": True, "visibility": None}


@dataclass
class Invitation:
    """One POST /invitations that was accepted: what was asked for and what Entra did with it."""

    id: str
    address: str  # invitedUserEmailAddress, as given
    user_id: str  # the guest created, or the user the address already belonged to
    display_name: str | None  # invitedUserDisplayName, as given
    redirect_url: str
    message_body: str | None  # invitedUserMessageInfo.customizedMessageBody
    message_language: str | None
    cc_recipients: list[tuple[str | None, str | None]]  # (name, address)
    send_invitation_message: bool  # what the caller asked for
    message_sent: bool  # whether Microsoft would have emailed the invitation
    user_type: str
    status: str  # PendingAcceptance, or Completed when the user needed no invitation
    redeem_url: str
    created: float
    created_user: bool  # False when an existing user was answered (re-invitation, member)
    reset_redemption: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "inviteRedeemUrl": self.redeem_url, "invitedUserDisplayName": self.display_name,
                "invitedUserType": self.user_type, "invitedUserEmailAddress": self.address,
                "sendInvitationMessage": self.send_invitation_message, "resetRedemption": self.reset_redemption,
                "inviteRedirectUrl": self.redirect_url, "status": self.status,
                "invitedUserMessageInfo": {
                    "messageLanguage": self.message_language, "customizedMessageBody": self.message_body,
                    "ccRecipients": [{"emailAddress": {"name": name, "address": address}}
                                     for name, address in self.cc_recipients]},
                "invitedUser": {"id": self.user_id}}


# The create-invitation page lists these as not permitted in the address; '.' and '-' not at either end.
_NOT_IN_ADDRESS = frozenset('~!#$%^&*()+=[]{}\\/|;:"<>?,')


def _valid_address(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or "@" in local or any(ch.isspace() for ch in address):
        return False
    if any(ch in _NOT_IN_ADDRESS for ch in local) or local[0] in ".-" or local[-1] in ".-":
        return False
    labels = domain.split(".")
    return len(labels) > 1 and all(
        label and label[0] != "-" and label[-1] != "-" and all(ch.isalnum() or ch == "-" for ch in label)
        for label in labels)


class Directory:
    """Users, groups and invitations of one tenant. Callers hold the backend's lock around changes."""

    def __init__(self, clock: Callable[[], float], tenant_domain: str, initial_domain: str = INITIAL_DOMAIN) -> None:
        self.clock = clock
        self.tenant_domain = tenant_domain
        self.initial_domain = initial_domain
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.invitations: list[Invitation] = []
        self._invitation_times: deque[float] = deque()
        self.set_limit()

    # --- the invitation manager's throttle ---------------------------------------
    def set_limit(self, *, per_window: int = 150, window_seconds: float = 5.0, enabled: bool = True) -> None:
        """The invitation API's throttle: at most `per_window` POST /invitations per `window_seconds` per tenant."""
        if per_window < 1 or window_seconds <= 0:
            raise ValueError("per_window must be at least 1 and window_seconds above 0")
        self.invite_limit = {"per_window": per_window, "window_seconds": window_seconds, "enabled": enabled}

    def limit_json(self) -> dict[str, Any]:
        return dict(self.invite_limit)

    def admit_invitation_request(self) -> None:
        """Count one request on /invitations, or refuse it with 429 and the whole seconds until a slot frees.

        A sliding window on `clock`: refused requests do not count, so a client
        that waits `Retry-After` is let in.
        """
        if not self.invite_limit["enabled"]:
            return
        window = float(self.invite_limit["window_seconds"])
        with self.lock:
            now = self.clock()
            while self._invitation_times and self._invitation_times[0] <= now - window:
                self._invitation_times.popleft()
            if len(self._invitation_times) >= int(self.invite_limit["per_window"]):
                wait = max(1, math.ceil(self._invitation_times[0] + window - now))
                raise GraphFault(429, "TooManyRequests", "Please retry again later.", {"Retry-After": str(wait)})
            self._invitation_times.append(now)

    # --- users and groups -------------------------------------------------------
    def add_user(self, display_name: str, upn: str, *, mail: str | None = None, user_type: str = "Member",
                 other_mails: list[str] | None = None, external_user_state: str | None = None,
                 creation_type: str | None = None) -> User:
        """Seed a user; `mail` defaults to the UPN, as for a mailbox user."""
        now = self.clock()
        user = User(str(uuid.uuid4()), display_name, upn, mail if mail is not None else upn, user_type,
                    list(other_mails or []), external_user_state, now, creation_type,
                    now if external_user_state is not None else None)
        with self.lock:
            self.users[user.id] = user
        return user

    def add_group(self, display_name: str, description: str | None = None) -> Group:
        group = Group(str(uuid.uuid4()), display_name, created=self.clock(), description=description)
        with self.lock:
            self.groups[group.id] = group
        return group

    def find_user(self, key: str) -> User | None:
        """The user with this id or userPrincipalName (either in any case)."""
        wanted = key.casefold()
        for user in self.users.values():
            if wanted in (user.id.casefold(), user.user_principal_name.casefold()):
                return user
        return None

    def user(self, key: str) -> User:
        found = self.find_user(key)
        if found is None:
            raise resource_not_found(key)
        return found

    def find_users(self, filter_text: str | None = None) -> list[User]:
        """Users in creation order, narrowed by an OData `$filter` (the subset `compile_user_filter` takes)."""
        if filter_text is None:
            return list(self.users.values())
        matches = compile_user_filter(filter_text)
        return [user for user in self.users.values() if matches(user.filter_row())]

    def users_with_address(self, address: str) -> list[User]:
        """Everyone the address already belongs to: as mail, one of otherMails, UPN, or guest UPN."""
        wanted = address.casefold()
        guest_upn = self.guest_upn(address).casefold()
        return [user for user in self.users.values()
                if (user.mail or "").casefold() == wanted
                or any(wanted == other.casefold() for other in user.other_mails)
                or user.user_principal_name.casefold() in (wanted, guest_upn)]

    def guest_upn(self, address: str) -> str:
        """Entra's UPN for an external user: the address with '@' as '_', then `#EXT#@` the initial domain."""
        return f"{address.replace('@', '_')}#EXT#@{self.initial_domain}"

    def group(self, group_id: str) -> Group:
        try:
            uuid.UUID(group_id)
        except ValueError:
            raise GraphFault(400, "Request_BadRequest", f"Invalid object identifier '{group_id}'.") from None
        for group in self.groups.values():
            if group.id.casefold() == group_id.casefold():
                return group
        raise resource_not_found(group_id)

    def members(self, group_id: str) -> list[User]:
        group = self.group(group_id)
        return [self.users[m] for m in group.members if m in self.users]

    def add_member(self, group_id: str, user_id: str, *, lag_s: float = 0.0) -> None:
        """Add a user to a group; one created less than `lag_s` ago is not there yet (replicas catching up)."""
        group = self.group(group_id)
        user = self.users.get(user_id) or next((u for u in self.users.values()
                                                if u.id.casefold() == user_id.casefold()), None)
        if user is None or user.created > self.clock() - lag_s:
            raise resource_not_found(user_id)
        with self.lock:
            if user.id in group.members:
                raise GraphFault(400, "Request_BadRequest", "One or more added object references already exist for "
                                                            "the following modified properties: 'members'.")
            group.members.append(user.id)

    def remove_member(self, group_id: str, user_id: str) -> None:
        group = self.group(group_id)
        with self.lock:
            for member in group.members:
                if member.casefold() == user_id.casefold():
                    group.members.remove(member)
                    return
        raise resource_not_found(user_id)

    def member_groups(self, user_id: str) -> list[str]:
        """The ids of every group the user is in (getMemberGroups; the emulator's groups don't nest)."""
        user = self.user(user_id)
        return [group.id for group in self.groups.values() if user.id in group.members]

    def delete_user(self, user_id: str) -> None:
        """DELETE /users/{id}: the user and their memberships go (Entra keeps a deleted user restorable for 30
        days under deletedItems, which the emulator does not serve)."""
        with self.lock:
            user = self.user(user_id)
            del self.users[next(k for k, v in self.users.items() if v is user)]
            for group in self.groups.values():
                if user.id in group.members:
                    group.members.remove(user.id)

    # --- invitations ---------------------------------------------------------------
    def invite(self, address: str, redirect_url: str, *, display_name: str | None = None,
               send_message: bool = False, message_body: str | None = None, message_language: str | None = None,
               cc_recipients: Iterable[tuple[str | None, str | None]] = (), user_type: str = "Guest",
               reset_redemption: bool = False, invited_user_id: str | None = None, tenant_id: str = "") -> Invitation:
        """What POST /invitations does (throttling aside: see `admit_invitation_request`).

        A new address gets a guest pending acceptance. An address that already
        belongs to a guest still pending is invited again (same user, the email
        sent again); one that belongs to a member or a guest who has redeemed
        gets that user back, `Completed`, and no email. `resetRedemption` with
        `invited_user_id` re-invites that user under the new address.
        """
        if not _valid_address(address):
            raise bad_request(f"The invitedUserEmailAddress '{address}' is not a valid email address.",
                              code="BadRequest")
        target = urlsplit(redirect_url)
        if not target.scheme or not target.netloc:
            raise bad_request("The inviteRedirectUrl must be an absolute URL.", code="BadRequest")
        kinds = {"guest": "Guest", "member": "Member"}
        if user_type.casefold() not in kinds:
            raise bad_request(f"The invitedUserType '{user_type}' is not valid: use Guest or Member.",
                              code="BadRequest")
        with self.lock:
            now = self.clock()
            user, created = self._invited_user(address, display_name, kinds[user_type.casefold()],
                                               reset_redemption, invited_user_id, now)
            status = "PendingAcceptance" if user.external_user_state == "PendingAcceptance" else "Completed"
            ticket = secrets.token_urlsafe(24)
            redeem = (f"https://invitations.microsoft.com/redeem/?tenant={tenant_id}&user={user.id}"
                      f"&ticket={quote(ticket, safe='')}&ver=2.0")
            invitation = Invitation(
                str(uuid.uuid4()), address, user.id, display_name, redirect_url, message_body, message_language,
                list(cc_recipients), send_message, send_message and status == "PendingAcceptance",
                kinds[user_type.casefold()], status,
                f"https://login.microsoftonline.com/redeem?rd={quote(redeem, safe='')}", now, created,
                reset_redemption)
            self.invitations.append(invitation)
            return invitation

    def accept_invitation(self, user_id: str) -> User:
        """Play the guest redeeming their invitation in a browser (Graph has no API for it)."""
        with self.lock:
            user = self.user(user_id)
            user.external_user_state, user.external_user_state_changed = "Accepted", self.clock()
            return user

    def _invited_user(self, address: str, display_name: str | None, user_type: str, reset_redemption: bool,
                      invited_user_id: str | None, now: float) -> tuple[User, bool]:
        if reset_redemption:
            if not invited_user_id:
                raise bad_request("resetRedemption needs invitedUser with the id of the user to re-invite.",
                                  code="BadRequest")
            user = self.user(invited_user_id)
            user.mail = address
            user.external_user_state, user.external_user_state_changed = "PendingAcceptance", now
            return user, False
        existing = self.users_with_address(address)
        if existing:
            return existing[0], False
        domain = address.rpartition("@")[2].casefold()
        if domain in (self.tenant_domain.casefold(), self.initial_domain.casefold()):
            raise bad_request(f"The domain of '{address}' is a verified domain of this directory: invite external "
                              "users only.", code="BadRequest")
        user = User(str(uuid.uuid4()), display_name or address, self.guest_upn(address), address, user_type,
                    [address], "PendingAcceptance", now, "Invitation", now)
        self.users[user.id] = user
        return user, True
