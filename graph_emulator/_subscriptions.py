"""Change notifications (webhooks) for SharePoint lists, as Graph's /subscriptions gives them.

Graph facts followed (subscription-post-subscriptions, resources/subscription, change-notifications-delivery):
- a list's resource is `sites/{site-id}/lists/{list-id}`, and its only changeType is `updated`;
- a list subscription lasts at most 42,300 minutes (under 30 days); a longer `expirationDateTime` is refused with
  400, and PATCH renews it within the same limit;
- on create (and only then), Graph POSTs `?validationToken=...` to the notificationUrl and wants it echoed as
  text/plain with 200 within 10 seconds, or refuses the subscription with 400;
- a notification carries no data: `{"value": [{"subscriptionId", "clientState", "changeType", "resource",
  "subscriptionExpirationDateTime", "tenantId"}]}`; the receiver answers 2xx within 3 seconds;
- lifecycle notifications (`reauthorizationRequired`, `subscriptionRemoved`, `missed`) go to the
  lifecycleNotificationUrl, which also needs the validation echo when given.

Deviations, on purpose: plain http is accepted on loopback (Graph wants https), so a local server can receive;
notifications are sent one per change a moment after it (Graph may batch and delay them by minutes); a
lifecycle event happens only when the control API asks for one.
"""

from __future__ import annotations

import queue
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from graph_emulator._errors import GraphFault

__all__ = ["LIST_MAX_MINUTES", "Subscription", "Subscriptions"]

LIST_MAX_MINUTES = 42_300
VALIDATION_SECONDS = 10
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class Subscription:
    id: str
    resource: str
    change_type: str
    notification_url: str
    client_state: str | None
    expiration: float
    lifecycle_url: str | None
    site_id: str
    list_id: str

    def as_json(self, tenant_id: str) -> dict[str, Any]:
        return {"id": self.id, "resource": self.resource, "changeType": self.change_type,
                "notificationUrl": self.notification_url, "clientState": self.client_state,
                "expirationDateTime": _iso(self.expiration), "lifecycleNotificationUrl": self.lifecycle_url,
                "applicationId": None, "creatorId": None, "includeResourceData": False,
                "latestSupportedTlsVersion": "v1_2", "notificationUrlAppId": None, "tenantId": tenant_id}


@dataclass
class Delivery:
    url: str
    kind: str  # change, lifecycle, validation
    status: int | None


@dataclass
class Subscriptions:
    clock: Callable[[], float]
    tenant_id: str
    lists_of: Callable[[str], set[str]]  # site id -> the ids of its lists
    items: dict[str, Subscription] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _outbox: queue.Queue[tuple[str, str, dict[str, Any]] | None] = field(default_factory=queue.Queue)
    _worker: threading.Thread | None = None

    # --- the API ------------------------------------------------------------------------------
    def create(self, body: dict[str, Any]) -> Subscription:
        resource = str(body.get("resource") or "").strip("/")
        parts = resource.split("/")
        if len(parts) != 4 or parts[0] != "sites" or parts[2] != "lists":
            raise GraphFault(400, "InvalidRequest", f"Resource '{resource}' is not supported for change notifications.")
        site_id, list_id = parts[1], parts[3]
        if list_id not in self.lists_of(site_id):
            raise GraphFault(404, "itemNotFound", "The specified list was not found")
        change = str(body.get("changeType") or "")
        if change != "updated":
            raise GraphFault(400, "InvalidRequest", f"ChangeType '{change}' is not supported for the resource; "
                             "lists support only 'updated'.")
        url = self._url(body.get("notificationUrl"), "notificationUrl")
        lifecycle = self._url(body.get("lifecycleNotificationUrl"), "lifecycleNotificationUrl") \
            if body.get("lifecycleNotificationUrl") else None
        expiration = self._expiration(body.get("expirationDateTime"))
        for target in (url, lifecycle):
            if target and not self._validated(target):
                raise GraphFault(400, "ValidationError", "Subscription validation request failed. Notification "
                                 "endpoint must respond with 200 OK to validation request.")
        client_state = body.get("clientState")
        made = Subscription(str(uuid.uuid4()), resource, change, url,
                            str(client_state)[:128] if client_state else None, expiration, lifecycle, site_id,
                            list_id)
        with self._lock:
            self.items[made.id] = made
        return made

    def get(self, subscription_id: str) -> Subscription:
        with self._lock:
            found = self.items.get(subscription_id)
            if found is None or found.expiration <= self.clock():
                raise GraphFault(404, "ResourceNotFound", f"The object was not found: {subscription_id}")
            return found

    def live(self) -> list[Subscription]:
        with self._lock:
            return [s for s in self.items.values() if s.expiration > self.clock()]

    def renew(self, subscription_id: str, body: dict[str, Any]) -> Subscription:
        found = self.get(subscription_id)
        found.expiration = self._expiration(body.get("expirationDateTime"))
        return found

    def delete(self, subscription_id: str) -> None:
        self.get(subscription_id)
        with self._lock:
            self.items.pop(subscription_id, None)

    # --- delivery -------------------------------------------------------------------------------
    def changed(self, site_id: str, list_id: str) -> None:
        """A list's item was added, changed or removed: each live subscription on it is notified."""
        for sub in self.live():
            if sub.site_id == site_id and sub.list_id == list_id:
                self._send(sub.notification_url, "change", {"value": [{
                    "subscriptionId": sub.id, "clientState": sub.client_state, "changeType": "updated",
                    "resource": sub.resource, "subscriptionExpirationDateTime": _iso(sub.expiration),
                    "tenantId": self.tenant_id}]})

    def lifecycle(self, subscription_id: str, event: str) -> None:
        """A lifecycle event on demand: `reauthorizationRequired`, `subscriptionRemoved` (it is then gone) or
        `missed`."""
        if event not in ("reauthorizationRequired", "subscriptionRemoved", "missed"):
            raise ValueError("event must be reauthorizationRequired, subscriptionRemoved or missed")
        sub = self.get(subscription_id)
        self._send(sub.lifecycle_url or sub.notification_url, "lifecycle", {"value": [{
            "subscriptionId": sub.id, "clientState": sub.client_state, "lifecycleEvent": event,
            "resource": sub.resource, "subscriptionExpirationDateTime": _iso(sub.expiration),
            "tenantId": self.tenant_id}]})
        if event == "subscriptionRemoved":
            with self._lock:
                self.items.pop(sub.id, None)

    def _send(self, url: str, kind: str, body: dict[str, Any]) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._deliver, name="emulator-notifications", daemon=True)
                self._worker.start()
        self._outbox.put((url, kind, body))

    def _deliver(self) -> None:
        with httpx.Client(timeout=3.0, verify=False, trust_env=False) as http:  # noqa: S501 - loopback receivers
            while (job := self._outbox.get()) is not None:
                url, kind, body = job
                try:
                    status: int | None = http.post(url, json=body).status_code
                except httpx.HTTPError:
                    status = None
                with self._lock:
                    self.deliveries.append(Delivery(url, kind, status))

    def _validated(self, url: str) -> bool:
        """Graph's handshake: the token echoed as text/plain with 200, within 10 seconds."""
        token = f"Validation: Testing client application reachability for subscription Request-Id: " \
                f"{uuid.uuid4()} {secrets.token_hex(4)}"
        try:
            with httpx.Client(timeout=VALIDATION_SECONDS, verify=False, trust_env=False) as http:  # noqa: S501
                answer = http.post(url, params={"validationToken": token}, headers={"Content-Type": "text/plain"})
        except httpx.HTTPError:
            ok = False
        else:
            ok = answer.status_code == 200 and answer.text == token and \
                answer.headers.get("content-type", "").startswith("text/plain")
        with self._lock:
            self.deliveries.append(Delivery(url, "validation", 200 if ok else None))
        return ok

    # --- checks -------------------------------------------------------------------------------
    @staticmethod
    def _url(value: Any, name: str) -> str:
        url = str(value or "")
        parts = urlsplit(url)
        if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
            return url
        raise GraphFault(400, "InvalidRequest", f"The {name} must be an https URL.")

    def _expiration(self, value: Any) -> float:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise GraphFault(400, "InvalidRequest", "expirationDateTime is not a valid date and time.") from None
        at = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
        if not self.clock() < at <= self.clock() + LIST_MAX_MINUTES * 60:
            raise GraphFault(400, "InvalidRequest", f"Subscription expiration can only be 0-{LIST_MAX_MINUTES} "
                             "minutes in the future.")
        return at


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
