"""Change notifications (webhooks) for SharePoint lists, as Graph's /subscriptions gives them.

Graph facts followed (subscription-post-subscriptions, resources/subscription, change-notifications-delivery):
- a list's resource is `sites/{site-id}/lists/{list-id}`, and its only changeType is `updated`;
- a list subscription lasts at most 42,300 minutes (under 30 days); a longer `expirationDateTime` is refused with
  400, and PATCH renews it within the same limit;
- on create (and only then), Graph POSTs `?validationToken=...` to the notificationUrl and wants it echoed as
  text/plain with 200 within 10 seconds, or refuses the subscription with 400;
- a notification carries no data: `{"value": [{"subscriptionId", "clientState", "changeType", "resource",
  "subscriptionExpirationDateTime", "tenantId"}]}`; the receiver answers 2xx within 3 seconds;
- lifecycle notifications (`{"subscriptionId", "subscriptionExpirationDateTime", "tenantId", "clientState",
  "lifecycleEvent"}`) go to the lifecycleNotificationUrl only (a subscription made without one gets none), which
  also needs the validation echo when given (change-notifications-lifecycle-events);
- of the lifecycle events, only `reauthorizationRequired` is documented for every resource, lists among them;
  `subscriptionRemoved` and `missed` are documented for Outlook and Teams resources only. So the emulator sends
  `reauthorizationRequired` on its own and the others only when the control API asks
  (`POST /_emulator/subscriptions/{id}/lifecycle`, for tests);
- after `reauthorizationRequired`, "eventually change notification delivery pauses, until you take the required
  action": `POST /subscriptions/{id}/reauthorize` (subscription-reauthorize: 204 No Content, the expiry unchanged)
  or a PATCH with a new expirationDateTime (which reauthorizes too). Changes made meanwhile are never notified.

When the emulator challenges on its own (deterministic, on its clock, `POST /_emulator/clock`): Graph challenges
"when a subscription is about to expire", and the docs' illustration of the interval sends the first challenge
once a quarter of the time left is 180 minutes or less, then every 15 minutes near the end. So a subscription with
12 hours or less to live is challenged, and one reauthorized in that time (its expiry unchanged) is challenged
again 15 minutes later; a renewal moves the next challenge to 12 hours before the new expiry. The emulator looks
each time it would deliver a change, anywhere in the tenant (it keeps no timer of its own).

Deviations, on purpose: plain http is accepted on loopback (Graph wants https), so a local server can receive;
notifications are sent one per change a moment after it (Graph may batch and delay them by minutes); delivery
pauses the moment the challenge is sent (Graph's "eventually": the harshest case); a subscription without a
lifecycleNotificationUrl pauses just the same, unchallenged (the docs do not say; nothing then tells the app).
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

from graph_emulator.core.errors import GraphFault

__all__ = ["LIST_MAX_MINUTES", "REAUTHORIZE_AGAIN", "REAUTHORIZE_BEFORE", "Subscription", "Subscriptions"]

LIST_MAX_MINUTES = 42_300
REAUTHORIZE_BEFORE = 12 * 3600.0  # challenged on its own when it has this long to live (4 x 180 minutes)
REAUTHORIZE_AGAIN = 15 * 60.0  # reauthorized within that time, its expiry unchanged: challenged again after this
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
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
    paused: bool = False  # challenged (reauthorizationRequired): no change is delivered until reauthorized or renewed
    challenge_at: float = 0.0  # when the emulator challenges it on its own (set from its expiry)

    def as_json(self, tenant_id: str) -> dict[str, Any]:
        return {"id": self.id, "resource": self.resource, "changeType": self.change_type,
                "notificationUrl": self.notification_url, "clientState": self.client_state,
                "expirationDateTime": _iso(self.expiration), "lifecycleNotificationUrl": self.lifecycle_url,
                "applicationId": None, "creatorId": None, "includeResourceData": False,
                "latestSupportedTlsVersion": "v1_2", "notificationUrlAppId": None, "tenantId": tenant_id}


@dataclass
class Delivery:
    url: str
    kind: str  # change, lifecycle, validation; withheld: a change not delivered while the subscription is paused
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
                            list_id, challenge_at=expiration - REAUTHORIZE_BEFORE)
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
        """PATCH with a new expirationDateTime: renewed, and reauthorized too (delivery resumes)."""
        found = self.get(subscription_id)
        expiration = self._expiration(body.get("expirationDateTime"))
        with self._lock:
            found.expiration = expiration
            found.paused = False
            found.challenge_at = expiration - REAUTHORIZE_BEFORE
        return found

    def reauthorize(self, subscription_id: str) -> None:
        """`POST /subscriptions/{id}/reauthorize`: delivery resumes; the expiry is unchanged, so one with under
        REAUTHORIZE_BEFORE to live is challenged again REAUTHORIZE_AGAIN later."""
        found = self.get(subscription_id)
        with self._lock:
            found.paused = False
            found.challenge_at = max(found.challenge_at, self.clock() + REAUTHORIZE_AGAIN)

    def delete(self, subscription_id: str) -> None:
        self.get(subscription_id)
        with self._lock:
            self.items.pop(subscription_id, None)

    # --- delivery -------------------------------------------------------------------------------
    def changed(self, site_id: str, list_id: str) -> None:
        """A list's item was added, changed or removed: each live subscription on it is notified, but for one
        paused (challenged and not yet reauthorized). Every subscription due a challenge is challenged first."""
        self._challenge_due()
        for sub in self.live():
            if sub.site_id == site_id and sub.list_id == list_id:
                if sub.paused:
                    with self._lock:
                        self.deliveries.append(Delivery(sub.notification_url, "withheld", None))
                    continue
                self._send(sub.notification_url, "change", {"value": [{
                    "subscriptionId": sub.id, "clientState": sub.client_state, "changeType": "updated",
                    "resource": sub.resource, "subscriptionExpirationDateTime": _iso(sub.expiration),
                    "tenantId": self.tenant_id}]})

    def lifecycle(self, subscription_id: str, event: str) -> None:
        """A lifecycle event on demand (the control API's, for tests: any of the three, though Graph documents
        only `reauthorizationRequired` for lists): `reauthorizationRequired` pauses delivery until the
        subscription is reauthorized or renewed; after `subscriptionRemoved` it is gone; `missed` only says so."""
        if event not in LIFECYCLE_EVENTS:
            raise ValueError("event must be reauthorizationRequired, subscriptionRemoved or missed")
        sub = self.get(subscription_id)
        if sub.lifecycle_url is None:
            raise ValueError("the subscription has no lifecycleNotificationUrl: Graph sends it no lifecycle "
                             "notifications")
        with self._lock:
            if event == "reauthorizationRequired":
                sub.paused = True
            elif event == "subscriptionRemoved":
                self.items.pop(sub.id, None)
        self._send(sub.lifecycle_url, "lifecycle", self._lifecycle_body(sub, event))

    def _challenge_due(self) -> None:
        """Graph's own challenges: each live subscription due one (see the module's notes) is paused and, when it
        has a lifecycleNotificationUrl, sent `reauthorizationRequired`, once until it is reauthorized or renewed."""
        due = []
        with self._lock:
            now = self.clock()
            for sub in self.items.values():
                if sub.expiration > now and not sub.paused and now >= sub.challenge_at:
                    sub.paused = True
                    due.append(sub)
        for sub in due:
            if sub.lifecycle_url is not None:
                self._send(sub.lifecycle_url, "lifecycle", self._lifecycle_body(sub, "reauthorizationRequired"))

    def _lifecycle_body(self, sub: Subscription, event: str) -> dict[str, Any]:
        """The shape of change-notifications-lifecycle-events ("Structure of a lifecycle notification")."""
        return {"value": [{"subscriptionId": sub.id, "subscriptionExpirationDateTime": _iso(sub.expiration),
                           "tenantId": self.tenant_id, "clientState": sub.client_state, "lifecycleEvent": event}]}

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
