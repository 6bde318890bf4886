"""Change notifications: Graph's /subscriptions, for the lists (create, list, renew, reauthorize, delete)."""

from __future__ import annotations

import contextlib
from datetime import datetime

from graph_client._client import GraphClient
from graph_client._errors import NotFoundError
from graph_client._models import GraphModel, Page

__all__ = ["Subscription", "Subscriptions"]


class Subscription(GraphModel):
    id: str
    resource: str
    change_type: str | None = None
    notification_url: str | None = None
    expiration_date_time: datetime | None = None


class Subscriptions:
    def __init__(self, client: GraphClient) -> None:
        self.client = client

    def create(self, resource: str, notification_url: str, client_state: str, expiration: datetime,
               lifecycle_url: str | None = None) -> Subscription:
        """Graph first checks the notification URL answers its validation request, then makes it."""
        body = {"changeType": "updated", "resource": resource, "notificationUrl": notification_url,
                "clientState": client_state, "expirationDateTime": _iso(expiration)}
        if lifecycle_url:
            body["lifecycleNotificationUrl"] = lifecycle_url
        operation = "subscribe to list changes"
        return self.client.parse(operation, self.client.send(operation, "POST", "/subscriptions", json=body),
                                 Subscription)

    def all(self) -> list[Subscription]:
        found: list[Subscription] = []
        for page in self.client.pages("list subscriptions", "/subscriptions", Page[Subscription]):
            found.extend(page.value)
        return found

    def renew(self, subscription_id: str, expiration: datetime) -> Subscription | None:
        """A new expiry; None when the subscription is gone (expired or removed)."""
        operation = "renew a subscription"
        try:
            response = self.client.send(operation, "PATCH", f"/subscriptions/{subscription_id}",
                                        json={"expirationDateTime": _iso(expiration)}, idempotent=True)
        except NotFoundError:
            return None
        return self.client.parse(operation, response, Subscription)

    def reauthorize(self, subscription_id: str) -> bool:
        """Answer a `reauthorizationRequired` challenge without changing the expiry (Graph answers 204 No Content:
        subscription-reauthorize); False when the subscription is gone. Sent again as it is on a failure that may
        be retried: reauthorizing twice is reauthorizing once."""
        operation = "reauthorize a subscription"
        try:
            self.client.send(operation, "POST", f"/subscriptions/{subscription_id}/reauthorize", idempotent=True)
        except NotFoundError:
            return False
        return True

    def delete(self, subscription_id: str) -> None:
        with contextlib.suppress(NotFoundError):
            self.client.send("delete a subscription", "DELETE", f"/subscriptions/{subscription_id}")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
