"""The directory through Graph: find people by address, invite guests, add them to a group and take them out."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from graph_client._client import GraphClient
from graph_client._errors import BadRequestError, NotFoundError
from graph_client._models import Group, Invitation, Page, User

__all__ = ["Directory", "odata_string"]

USER_FIELDS = "id,displayName,mail,userPrincipalName,userType,externalUserState,otherMails"


def odata_string(value: str) -> str:
    """An OData string literal for `$filter`: quotes doubled, so no address can change the query's meaning."""
    return "'" + value.replace("'", "''") + "'"


class Directory:
    """Users, guest invitations and group membership."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    def find_by_address(self, address: str) -> list[User]:
        """Everyone whose `mail`, `otherMails` or guest UPN (`name_domain#EXT#@...`) is this address.

        One query; Entra compares strings without regard to case.
        """
        quoted = odata_string(address)
        guest_upn = odata_string(address.replace("@", "_") + "#EXT#")
        query = {"$filter": f"mail eq {quoted} or otherMails/any(m:m eq {quoted}) "
                            f"or startswith(userPrincipalName,{guest_upn})",
                 "$select": USER_FIELDS}
        found: list[User] = []
        for page in self.client.pages("look up an address in the directory", "/users", Page[User], params=query):
            found.extend(page.value)
        return found

    def get_user(self, key: str, *, what: str = "a user") -> User:
        """One user by object id or userPrincipalName (User.Read.All). Raises NotFoundError."""
        return self.client.get(f"read {what}", f"/users/{quote(key, safe='@')}", User,
                               params={"$select": USER_FIELDS})

    def get_group(self, group_id: str) -> Group:
        """One group by id (GroupMember.Read.All or higher). Raises NotFoundError."""
        return self.client.get("read the guest group", f"/groups/{quote(group_id, safe='')}", Group,
                               params={"$select": "id,displayName"})

    def invite(self, address: str, display_name: str, redirect_url: str, message: str) -> Invitation:
        """Invite a guest (Microsoft sends the invitation email, with `message` in it). Never retried when unsure."""
        body: dict[str, Any] = {
            "invitedUserEmailAddress": address, "invitedUserDisplayName": display_name,
            "inviteRedirectUrl": redirect_url, "sendInvitationMessage": True, "invitedUserType": "Guest",
            "invitedUserMessageInfo": {"customizedMessageBody": message, "messageLanguage": "en-GB"}}
        operation = "invite a guest"
        return self.client.parse(operation, self.client.send(operation, "POST", "/invitations", json=body),
                                 Invitation)

    def add_to_group(self, group_id: str, user_id: str) -> bool:
        """Add a user to a group; False when they were already in it (Graph's "already exist" answer)."""
        reference = {"@odata.id": f"{self.client.base_url}/directoryObjects/{user_id}"}
        try:
            # Adding a member twice changes nothing, so a retry after a lost answer is safe.
            self.client.send("add a guest to the guest group", "POST", f"/groups/{group_id}/members/$ref",
                             json=reference, idempotent=True)
        except BadRequestError as error:
            if "already exist" in error.message:
                return False
            raise
        return True

    def remove_from_group(self, group_id: str, user_id: str) -> bool:
        """Take a user out of a group; False when they were not in it (or are gone)."""
        try:
            self.client.send("take a guest out of the guest group", "DELETE",
                             f"/groups/{quote(group_id, safe='')}/members/{quote(user_id, safe='')}/$ref",
                             idempotent=True)
        except NotFoundError:
            return False
        return True

    def member_groups(self, user_id: str) -> list[str]:
        """The ids of every group the user belongs to, directly or not (getMemberGroups: a read, safe to retry)."""
        response = self.client.send("list a guest's groups", "POST",
                                    f"/users/{quote(user_id, safe='')}/getMemberGroups",
                                    json={"securityEnabledOnly": False}, idempotent=True)
        value = response.json().get("value")
        return [str(v) for v in value] if isinstance(value, list) else []

    def delete_user(self, user_id: str) -> bool:
        """Delete an account (Entra keeps it restorable for 30 days); False when it was gone already."""
        try:
            self.client.send("delete a guest account", "DELETE", f"/users/{quote(user_id, safe='')}", idempotent=True)
        except NotFoundError:
            return False
        return True
