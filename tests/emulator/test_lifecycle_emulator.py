"""The emulator's lifecycle notifications, over HTTPS as a client outside the process sees them.

Microsoft's "Reduce missing subscriptions and change notifications" (change-notifications-lifecycle-events): only
`reauthorizationRequired` is documented for lists (all resources), so that is the only one the emulator sends on
its own, near a subscription's expiry (12 hours, from the docs' illustration of the interval); after it "change
notification delivery pauses, until you take the required action": `POST /subscriptions/{id}/reauthorize`
(subscription-reauthorize: 204 No Content, the expiry unchanged; Sites.ReadWrite.All for a list) or a PATCH with a
new expirationDateTime. The control API may send any of the three, for tests."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from graph_emulator import EmulatorServer
from graph_emulator.testing import BackgroundServer
from tests.conftest import grant_roles, new_token

HOUR = 3600.0


class Receiver:
    """A webhook receiver on loopback: echoes Graph's validation token, keeps every notification body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import PlainTextResponse, Response
        from starlette.routing import Route

        async def hook(request: Request) -> Response:
            token = request.query_params.get("validationToken")
            if token is not None:
                return PlainTextResponse(token)
            self.bodies.append(await request.json())
            return Response(status_code=202)

        return Starlette(routes=[Route(f"/{path}", hook, methods=["POST"]) for path in ("changes", "lifecycle")])

    def events(self) -> list[str]:
        return [note.get("lifecycleEvent", "change") for body in self.bodies for note in body["value"]]


@pytest.fixture
def graph(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    env = emulator.env()
    context = ssl.create_default_context(cafile=env["M365_CA_BUNDLE"])
    with httpx.Client(base_url=emulator.url, verify=context, trust_env=False) as client:
        new_token(client, env)
        yield client


@pytest.fixture
def hook(emulator: EmulatorServer) -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()
    with BackgroundServer(receiver.app(), name="receiver") as server:
        yield receiver, server.url


def subscribe(graph: httpx.Client, emulator: EmulatorServer, url: str, *, lifecycle: bool = True,
              days: float = 20, name: str = "Sessions") -> tuple[str, str, datetime]:
    """A list and a subscription to it: (list id, subscription id, its expiry)."""
    site = emulator.backend.site.id
    made = graph.post(f"/v1.0/sites/{site}/lists", json={"displayName": name, "list": {"template": "genericList"}})
    expires = datetime.fromtimestamp(int(emulator.backend.clock() + days * 86400), UTC)
    body = {"changeType": "updated", "resource": f"sites/{site}/lists/{made.json()['id']}",
            "notificationUrl": f"{url}/changes", "clientState": "ours",
            "expirationDateTime": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if lifecycle:
        body["lifecycleNotificationUrl"] = f"{url}/lifecycle"
    answer = graph.post("/v1.0/subscriptions", json=body)
    assert answer.status_code == 201, answer.text
    return made.json()["id"], answer.json()["id"], expires


def change(graph: httpx.Client, emulator: EmulatorServer, list_id: str, receiver: Receiver, total: int) -> None:
    """A person adds an item; wait until the receiver has `total` bodies, then a moment for any stray one."""
    site = emulator.backend.site.id
    assert graph.post(f"/v1.0/sites/{site}/lists/{list_id}/items", json={"fields": {"Title": "x"}}).status_code == 201
    deadline = time.monotonic() + 10
    while len(receiver.bodies) < total and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)


def move(graph: httpx.Client, emulator: EmulatorServer, seconds: float) -> None:
    assert graph.post("/_emulator/clock", json={"advance_s": seconds}).status_code == 200
    new_token(graph, emulator.env())  # the tenant's clock moved on: the token in hand may have expired


def test_near_expiry_the_emulator_challenges_once_and_withholds_changes_until_renewed(
        graph: httpx.Client, emulator: EmulatorServer, hook: tuple[Receiver, str]) -> None:
    receiver, url = hook
    list_id, sub, expires = subscribe(graph, emulator, url)
    move(graph, emulator, expires.timestamp() - 12 * HOUR - 1 - emulator.backend.clock())
    change(graph, emulator, list_id, receiver, 1)
    assert receiver.events() == ["change"]  # 12 hours and a second to live: not yet
    move(graph, emulator, 1)
    change(graph, emulator, list_id, receiver, 2)
    assert receiver.events() == ["change", "reauthorizationRequired"]  # the change itself withheld
    assert receiver.bodies[1] == {"value": [{
        "subscriptionId": sub, "subscriptionExpirationDateTime": expires.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
        "tenantId": emulator.backend.identity.tenant_id, "clientState": "ours",
        "lifecycleEvent": "reauthorizationRequired"}]}
    change(graph, emulator, list_id, receiver, 2)
    assert receiver.events() == ["change", "reauthorizationRequired"]  # paused, and challenged once
    assert [d.kind for d in emulator.backend.subscriptions.deliveries].count("withheld") == 2
    later = (expires + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert graph.patch(f"/v1.0/subscriptions/{sub}", json={"expirationDateTime": later}).status_code == 200
    change(graph, emulator, list_id, receiver, 3)
    assert receiver.events() == ["change", "reauthorizationRequired", "change"]  # renewed: delivered again
    move(graph, emulator, 6 * 86400)  # past even the new expiry: gone, and no lifecycle event says so
    change(graph, emulator, list_id, receiver, 3)
    assert receiver.events() == ["change", "reauthorizationRequired", "change"]


def test_reauthorize_answers_204_resumes_delivery_and_leaves_the_expiry(
        graph: httpx.Client, emulator: EmulatorServer, hook: tuple[Receiver, str]) -> None:
    """Reauthorized within the last 12 hours (its expiry unchanged), it is challenged again 15 minutes later."""
    receiver, url = hook
    list_id, sub, expires = subscribe(graph, emulator, url)
    move(graph, emulator, expires.timestamp() - 12 * HOUR - emulator.backend.clock())
    change(graph, emulator, list_id, receiver, 1)
    assert receiver.events() == ["reauthorizationRequired"]
    answer = graph.post(f"/v1.0/subscriptions/{sub}/reauthorize")
    assert (answer.status_code, answer.content) == (204, b"")
    assert graph.get(f"/v1.0/subscriptions/{sub}").json()["expirationDateTime"].startswith(
        expires.strftime("%Y-%m-%dT%H:%M:%S"))
    move(graph, emulator, 15 * 60 - 1)
    change(graph, emulator, list_id, receiver, 2)
    assert receiver.events() == ["reauthorizationRequired", "change"]
    move(graph, emulator, 1)
    change(graph, emulator, list_id, receiver, 3)
    assert receiver.events() == ["reauthorizationRequired", "change", "reauthorizationRequired"]
    assert graph.post("/v1.0/subscriptions/5ad5e0b3-0000-4000-8000-000000000000/reauthorize").status_code == 404


def test_reauthorize_takes_the_permission_the_subscription_took(graph: httpx.Client, emulator: EmulatorServer,
                                                                  hook: tuple[Receiver, str]) -> None:
    _, url = hook
    _, sub, _ = subscribe(graph, emulator, url)
    grant_roles(graph, emulator.env(), ["Sites.Read.All"])
    assert graph.post(f"/v1.0/subscriptions/{sub}/reauthorize").status_code == 403
    grant_roles(graph, emulator.env(), ["Sites.ReadWrite.All"])
    assert graph.post(f"/v1.0/subscriptions/{sub}/reauthorize").status_code == 204


def test_the_control_api_sends_any_event_to_the_lifecycle_url_only(graph: httpx.Client, emulator: EmulatorServer,
                                                                     hook: tuple[Receiver, str]) -> None:
    receiver, url = hook
    list_id, sub, _ = subscribe(graph, emulator, url)
    assert graph.post(f"/_emulator/subscriptions/{sub}/lifecycle", json={"event": "missed"}).json() == {"sent": True}
    change(graph, emulator, list_id, receiver, 2)
    assert receiver.events() == ["missed", "change"]  # missed pauses nothing
    assert graph.post(f"/_emulator/subscriptions/{sub}/lifecycle",
                      json={"event": "reauthorizationRequired"}).status_code == 200
    change(graph, emulator, list_id, receiver, 3)
    assert receiver.events() == ["missed", "change", "reauthorizationRequired"]  # paused
    assert graph.post(f"/v1.0/subscriptions/{sub}/reauthorize").status_code == 204
    change(graph, emulator, list_id, receiver, 4)
    assert receiver.events()[-1] == "change"
    assert graph.post(f"/_emulator/subscriptions/{sub}/lifecycle",
                      json={"event": "subscriptionRemoved"}).status_code == 200
    assert graph.get(f"/v1.0/subscriptions/{sub}").status_code == 404
    assert graph.post(f"/_emulator/subscriptions/{sub}/lifecycle", json={"event": "missed"}).status_code == 404
    _, bare, _ = subscribe(graph, emulator, url, lifecycle=False, name="Updates")
    refused = graph.post(f"/_emulator/subscriptions/{bare}/lifecycle", json={"event": "missed"})
    assert refused.status_code == 400 and "no lifecycleNotificationUrl" in refused.json()["error"]
    assert graph.post(f"/_emulator/subscriptions/{bare}/lifecycle", json={"event": "other"}).status_code == 400
    assert all(body["value"][0].get("clientState") == "ours" for body in receiver.bodies)
    assert {d.url.rsplit("/", 1)[1] for d in emulator.backend.subscriptions.deliveries if d.kind == "lifecycle"} == {
        "lifecycle"}
