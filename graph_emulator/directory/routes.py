"""Directory routes: users (with `$filter`, `$select`, paging), groups and their members, invitations."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from graph_emulator.core.backend import Backend
from graph_emulator.core.errors import GraphFault, bad_request
from graph_emulator.core.http import Call, Reply, Route, parse_select
from graph_emulator.directory.models import USER_PROPERTIES, Group

__all__ = ["INVITATIONS_OFF", "DirectoryRoutes", "directory_routes"]

T = TypeVar("T")
DEFAULT_PAGE = 100  # directory collections page at 100 unless $top says otherwise
MAX_PAGE = 999
_REF_SEGMENTS = {"directoryobjects", "users"}
# Entra's answer when the tenant lets nobody invite guests (azure-docs issue 78054; the API page is silent).
INVITATIONS_OFF = "Guest invitations not allowed for your company. Contact your company administrator for more details."


def _page_size(call: Call) -> int:
    raw = call.query.get("$top")
    if raw is None:
        return DEFAULT_PAGE
    if not raw.lstrip("-").isdigit():
        raise bad_request(f"Invalid value '{raw}' for $top.", code="BadRequest")
    if not 1 <= int(raw) <= MAX_PAGE:
        raise GraphFault(400, "Request_UnsupportedQuery",
                         f"Invalid page size specified: '{raw}'. Must be between 1 and {MAX_PAGE} inclusive.")
    return int(raw)


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"emu1:{offset}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> int:
    try:
        prefix, _, offset = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().partition(":")
        if prefix == "emu1" and offset.isdigit():
            return int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise GraphFault(400, "Directory_ExpiredPageToken",
                     "The specified page token value has expired and can no longer be included in your request.")


def _page(call: Call, items: Sequence[T]) -> tuple[Sequence[T], str | None]:
    """One page of `items` and the nextLink to the rest (None on the last page)."""
    size = _page_size(call)
    token = call.query.get("$skiptoken")
    start = _decode_token(token) if token else 0
    page = items[start:start + size]
    if start + size >= len(items):
        return page, None
    query = {k: v for k, v in call.query.items() if k != "$skiptoken"}
    return page, call.link(call.path, **query, **{"$skiptoken": _encode_token(start + size)})


def _select(call: Call, properties: Sequence[str], type_name: str) -> list[str] | None:
    """The `$select`ed properties in their canonical names (Graph takes them in any case), or None."""
    return parse_select(call.query.get("$select"), properties, lambda part: bad_request(
        f"Parsing OData Select and Expand failed: Could not find a property named '{part}' "
        f"on type 'microsoft.graph.{type_name}'.", code="BadRequest"))


def _context(call: Call, entity_set: str, select: list[str] | None, *, single: bool = False) -> str:
    shape = f"{entity_set}({','.join(select)})" if select else entity_set
    return call.context(shape + ("/$entity" if single else ""))


def _json_field(body: dict[str, Any], name: str, kind: type, *, required: bool = False) -> Any:
    """One property of a request body, type-checked the way Graph's OData reader refuses a wrong one."""
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"The property '{name}' is required.", code="BadRequest")
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        edm = {str: "Edm.String", bool: "Edm.Boolean", dict: "an object", list: "a collection"}[kind]
        raise bad_request(f"Cannot convert the literal '{value}' to the expected type '{edm}'.", code="BadRequest")
    return value


def _cc_recipients(info: dict[str, Any]) -> list[tuple[str | None, str | None]]:
    recipients = _json_field(info, "ccRecipients", list) or []
    found: list[tuple[str | None, str | None]] = []
    for entry in recipients:
        email = entry.get("emailAddress") if isinstance(entry, dict) else None
        if not isinstance(email, dict):
            raise bad_request("Each ccRecipients entry needs an emailAddress object.", code="BadRequest")
        found.append((_json_field(email, "name", str), _json_field(email, "address", str)))
    return found


class DirectoryRoutes:
    """One handler per directory route, each over `backend.directory` (looked up per call: reset swaps it)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # --- users -------------------------------------------------------------------
    def get_users(self, call: Call) -> Reply:
        directory = self.backend.directory
        select = _select(call, USER_PROPERTIES, "user")
        users = directory.find_users(call.query.get("$filter"))
        page, next_link = _page(call, users)
        body: dict[str, Any] = {"@odata.context": _context(call, "users", select),
                                "value": [user.as_json(select) for user in page]}
        if next_link:
            body["@odata.nextLink"] = next_link
        return Reply(200, body)

    def get_user(self, call: Call) -> Reply:
        select = _select(call, USER_PROPERTIES, "user")
        user = self.backend.directory.user(call.params["user"])
        return Reply(200, {"@odata.context": _context(call, "users", select, single=True)} | user.as_json(select))

    def delete_user(self, call: Call) -> Reply:
        self.backend.directory.delete_user(call.params["user"])
        return Reply(204)

    def get_member_groups(self, call: Call) -> Reply:
        body = call.json_object()
        _json_field(body, "securityEnabledOnly", bool, required=True)
        return Reply(200, {"@odata.context": call.context("Collection(Edm.String)"),
                           "value": self.backend.directory.member_groups(call.params["user"])})

    # --- groups and members ---------------------------------------------------------
    def get_group(self, call: Call) -> Reply:
        group = self.backend.directory.group(call.params["group"])
        full = group.all_json()
        select = _select(call, list(full), "group")
        shown = {name: full[name] for name in select} if select else full
        return Reply(200, {"@odata.context": _context(call, "groups", select, single=True)} | shown)

    def get_members(self, call: Call) -> Reply:
        members = self.backend.directory.members(call.params["group"])
        select = _select(call, USER_PROPERTIES, "user")
        page, next_link = _page(call, members)
        body: dict[str, Any] = {"@odata.context": call.context("directoryObjects"),
                                "value": [{"@odata.type": "#microsoft.graph.user"} | user.as_json(select)
                                          for user in page]}
        if next_link:
            body["@odata.nextLink"] = next_link
        return Reply(200, body)

    def post_member(self, call: Call) -> Reply:
        group: Group = self.backend.directory.group(call.params["group"])
        if not call.body.strip():
            raise GraphFault(400, "Request_BadRequest", "An unexpected 'EndOfInput' node was found when reading "
                                                        "from the JSON reader. A 'StartObject' node was expected.")
        reference = _json_field(call.json_object(), "@odata.id", str, required=True)
        segments = [s for s in urlsplit(reference).path.split("/") if s]
        if len(segments) < 2 or segments[-2].casefold() not in _REF_SEGMENTS:
            raise GraphFault(400, "Request_BadRequest", f"Invalid object reference '{reference}': expected "
                                                        ".../directoryObjects/{id} or .../users/{id}.")
        self.backend.directory.add_member(group.id, segments[-1], lag_s=self.backend.tenant.directory_delay_s)
        return Reply(204)

    def delete_member(self, call: Call) -> Reply:
        self.backend.directory.remove_member(call.params["group"], call.params["member"])
        return Reply(204)

    # --- invitations ---------------------------------------------------------------
    def post_invitation(self, call: Call) -> Reply:
        self.backend.directory.admit_invitation_request()  # every request on /invitations counts, even a bad one
        if self.backend.tenant.invitations == "none":  # "No one in the organization can invite guest users"
            raise GraphFault(403, "Forbidden", INVITATIONS_OFF)
        body = call.json_object()
        info = _json_field(body, "invitedUserMessageInfo", dict) or {}
        invited_user = _json_field(body, "invitedUser", dict) or {}
        invitation = self.backend.directory.invite(
            _json_field(body, "invitedUserEmailAddress", str, required=True),
            _json_field(body, "inviteRedirectUrl", str, required=True),
            display_name=_json_field(body, "invitedUserDisplayName", str),
            send_message=bool(_json_field(body, "sendInvitationMessage", bool)),
            message_body=_json_field(info, "customizedMessageBody", str),
            message_language=_json_field(info, "messageLanguage", str),
            cc_recipients=_cc_recipients(info),
            user_type=_json_field(body, "invitedUserType", str) or "Guest",
            reset_redemption=bool(_json_field(body, "resetRedemption", bool)),
            invited_user_id=_json_field(invited_user, "id", str),
            tenant_id=self.backend.identity.tenant_id)
        return Reply(201, {"@odata.context": call.context("invitations/$entity")} | invitation.as_json())

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/users", self.get_users),
            Route("GET", "/users/{user}", self.get_user),
            Route("DELETE", "/users/{user}", self.delete_user),
            Route("POST", "/users/{user}/getMemberGroups", self.get_member_groups),
            Route("GET", "/groups/{group}", self.get_group),
            Route("GET", "/groups/{group}/members", self.get_members),
            Route("POST", "/groups/{group}/members/$ref", self.post_member),
            Route("DELETE", "/groups/{group}/members/{member}/$ref", self.delete_member),
            Route("POST", "/invitations", self.post_invitation),
        ]


def directory_routes(backend: Backend) -> list[Route]:
    """Users, groups and invitations, served from the backend's directory."""
    return DirectoryRoutes(backend).routes()
