"""Subscription routes: POST, GET (one, all), PATCH (renew), POST .../reauthorize and DELETE /subscriptions."""

from __future__ import annotations

from graph_emulator.core.backend import Backend
from graph_emulator.core.http import Call, Reply, Route

__all__ = ["SubscriptionRoutes", "subscription_routes"]


class SubscriptionRoutes:
    """One handler per subscription route, each over `backend.subscriptions` (looked up per call: reset swaps it)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def one(self, call: Call, status: int = 200) -> Reply:
        found = self.backend.subscriptions.get(call.params["subscription"])
        return Reply(status, {"@odata.context": call.context("subscriptions/$entity"),
                              **found.as_json(self.backend.identity.tenant_id)})

    def create(self, call: Call) -> Reply:
        made = self.backend.subscriptions.create(call.json_object())
        return Reply(201, {"@odata.context": call.context("subscriptions/$entity"),
                           **made.as_json(self.backend.identity.tenant_id)})

    def listing(self, call: Call) -> Reply:
        tenant_id = self.backend.identity.tenant_id
        return Reply(200, {"@odata.context": call.context("subscriptions"),
                           "value": [s.as_json(tenant_id) for s in self.backend.subscriptions.live()]})

    def renew(self, call: Call) -> Reply:
        self.backend.subscriptions.renew(call.params["subscription"], call.json_object())
        return self.one(call)

    def reauthorize(self, call: Call) -> Reply:
        """subscription-reauthorize: no request body; 204 No Content."""
        self.backend.subscriptions.reauthorize(call.params["subscription"])
        return Reply(204)

    def delete(self, call: Call) -> Reply:
        self.backend.subscriptions.delete(call.params["subscription"])
        return Reply(204)

    def routes(self) -> list[Route]:
        return [Route("POST", "/subscriptions", self.create), Route("GET", "/subscriptions", self.listing),
                Route("GET", "/subscriptions/{subscription}", self.one),
                Route("PATCH", "/subscriptions/{subscription}", self.renew),
                Route("POST", "/subscriptions/{subscription}/reauthorize", self.reauthorize),
                Route("DELETE", "/subscriptions/{subscription}", self.delete)]


def subscription_routes(backend: Backend) -> list[Route]:
    """Change notifications, served from `backend.subscriptions`."""
    return SubscriptionRoutes(backend).routes()
