"""Subscription routes: POST, GET (one, all), PATCH (renew), POST .../reauthorize and DELETE /subscriptions."""

from __future__ import annotations

from graph_emulator.core.backend import Backend
from graph_emulator.core.http import Call, Reply, Route

__all__ = ["subscription_routes"]


def subscription_routes(backend: Backend) -> list[Route]:
    def one(call: Call, status: int = 200) -> Reply:
        found = backend.subscriptions.get(call.params["subscription"])
        return Reply(status, {"@odata.context": call.context("subscriptions/$entity"),
                              **found.as_json(backend.identity.tenant_id)})

    def create(call: Call) -> Reply:
        made = backend.subscriptions.create(call.json_object())
        return Reply(201, {"@odata.context": call.context("subscriptions/$entity"),
                           **made.as_json(backend.identity.tenant_id)})

    def listing(call: Call) -> Reply:
        return Reply(200, {"@odata.context": call.context("subscriptions"),
                           "value": [s.as_json(backend.identity.tenant_id) for s in backend.subscriptions.live()]})

    def renew(call: Call) -> Reply:
        backend.subscriptions.renew(call.params["subscription"], call.json_object())
        return one(call)

    def reauthorize(call: Call) -> Reply:
        """subscription-reauthorize: no request body; 204 No Content."""
        backend.subscriptions.reauthorize(call.params["subscription"])
        return Reply(204)

    def delete(call: Call) -> Reply:
        backend.subscriptions.delete(call.params["subscription"])
        return Reply(204)

    return [Route("POST", "/subscriptions", create), Route("GET", "/subscriptions", listing),
            Route("GET", "/subscriptions/{subscription}", one), Route("PATCH", "/subscriptions/{subscription}", renew),
            Route("POST", "/subscriptions/{subscription}/reauthorize", reauthorize),
            Route("DELETE", "/subscriptions/{subscription}", delete)]
