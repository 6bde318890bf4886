"""Directory routes: users and group membership."""

from __future__ import annotations

from typing import Any

from graph_emulator._backend import Backend
from graph_emulator._errors import GraphFault, not_found
from graph_emulator._http import Call, Reply, Route

__all__ = ["directory_routes"]


def directory_routes(backend: Backend) -> list[Route]:
    """Users and groups, served from the backend's directory."""
    def get_users(call: Call) -> Reply:
        users = list(backend.directory.users.values())
        return Reply(200, {"@odata.context": f"{call.base}/v1.0/$metadata#users",
                           "value": [u.as_json() for u in users]})

    def get_user(call: Call) -> Reply:
        key = call.params["user"].lower()
        for user in backend.directory.users.values():
            if key in (user.id, user.user_principal_name.lower()):
                return Reply(200, user.as_json())
        raise not_found(f"Resource '{call.params['user']}' does not exist or one of its queried reference-property "
                        "objects are not present.", code="Request_ResourceNotFound")

    def _group(call: Call) -> Any:
        group = backend.directory.groups.get(call.params["group"])
        if group is None:
            raise not_found(f"Resource '{call.params['group']}' does not exist or one of its queried "
                            "reference-property objects are not present.", code="Request_ResourceNotFound")
        return group

    def get_members(call: Call) -> Reply:
        group = _group(call)
        members = [backend.directory.users[m].as_json() | {"@odata.type": "#microsoft.graph.user"}
                   for m in group.members if m in backend.directory.users]
        return Reply(200, {"value": members})

    def post_member(call: Call) -> Reply:
        group = _group(call)
        ref = call.json().get("@odata.id", "") if isinstance(call.json(), dict) else ""
        user_id = ref.rstrip("/").rsplit("/", 1)[-1]
        if user_id not in backend.directory.users:
            raise not_found(f"Resource '{user_id}' does not exist or one of its queried reference-property "
                            "objects are not present.", code="Request_ResourceNotFound")
        if user_id in group.members:
            raise GraphFault(400, "Request_BadRequest",
                             "One or more added object references already exist for the following modified "
                             "properties: 'members'.")
        group.members.append(user_id)
        return Reply(204)


    return [
        Route("GET", "/users", get_users),
        Route("GET", "/users/{user}", get_user),
        Route("GET", "/groups/{group}/members", get_members),
        Route("POST", "/groups/{group}/members/$ref", post_member),
    ]
