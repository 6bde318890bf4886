"""Real time: the emulator's /subscriptions (Graph's validation handshake and limits), the service's notification
endpoint (forged ones change nothing), and a list change acted on within seconds with no sync command: the
emulator delivers real notifications over loopback to the local server, whose consumer runs the reconcilers."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from config import load_settings
from coprod.links import Signer
from coprod.realtime.webhooks import KNOWN, client_state, receive, renew
from coprod.runtime import Services
from coprod.serve import live_app
from coprod.store import SqliteStore
from graph_emulator import EmulatorServer
from graph_emulator.testing import BackgroundServer
from tests.conftest import SIGNING_KEY
from tests.support.fakes import FakeClock
from tests.support.programme import Later, Programme, soon


def test_a_new_registration_is_confirmed_within_seconds_with_no_sync_command(live: Programme) -> None:
    programme = live
    session = programme.session("Carers' drop-in", soon(3), capacity=5)
    assert all(" until " in line for line in renew(programme.services))  # subscribed: Graph checked our endpoint
    started = time.monotonic()
    programme.register(session, "Ann Example")  # as a person typing into the SharePoint list
    while time.monotonic() - started < 20 and not programme.mail_to("ann.example@example.org"):
        time.sleep(0.1)
    [confirmation] = programme.mail_to("ann.example@example.org")
    assert confirmation.subject == "Your place is booked: Carers' drop-in"
    assert time.monotonic() - started < 20


def test_two_registrations_one_after_the_other_are_both_confirmed(live: Programme) -> None:
    """Issue 24, LOW (the other side of de-duplicating replays): with `serve` on loopback, Ann's registration and
    then Ben's (the same notification body twice, as Graph sends a list's) are both acted on with no sync
    command: Ben's by the run due at the end of the repeat window."""
    from coprod.realtime.webhooks import REPEAT_WINDOW

    programme = live
    session = programme.session("Carers' drop-in", soon(3), capacity=5)
    renew(programme.services)
    for name in ("Ann Example", "Ben Example"):
        programme.register(session, name)
        address = name.lower().replace(" ", ".") + "@example.org"
        deadline = time.monotonic() + REPEAT_WINDOW + 30
        while time.monotonic() < deadline and not programme.mail_to(address):
            time.sleep(0.1)
        assert programme.mail_to(address), name


def test_subscribing_twice_keeps_one_subscription_a_list(live: Programme) -> None:
    programme = live
    first = renew(programme.services)
    second = renew(programme.services)
    assert [line.split(":")[0] for line in second] == ["Sessions", "Registrations", "GuestRequests", "Subscribers",
                                                       "Updates"]
    assert all("subscribed until" in line for line in first + second)
    assert len(programme.backend.subscriptions.live()) == 5


def test_renewal_and_recreation_as_the_clock_moves(live: Programme, emulator: EmulatorServer) -> None:
    programme = live
    renew(programme.services)
    ids = {s.id for s in emulator.backend.subscriptions.live()}

    def move(days: float) -> None:
        emulator.backend.offset += days * 86400
        programme.clock.offset += days * 86400

    move(27.5)  # within 3 days of expiry: the daily timer renews each
    assert all("renewed until" in line for line in renew(programme.services))
    assert {s.id for s in emulator.backend.subscriptions.live()} == ids
    move(31)  # past even the renewed expiry: Graph has dropped them, so they are made again
    assert emulator.backend.subscriptions.live() == []
    assert all("subscribed until" in line for line in renew(programme.services))
    assert len(emulator.backend.subscriptions.live()) == 5


def test_graph_refuses_a_subscription_our_endpoint_does_not_validate(http: httpx.Client, emulator: EmulatorServer,
                                                                     env: dict[str, str]) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def wrong(request: Any) -> PlainTextResponse:
        return PlainTextResponse("not the token")

    site = emulator.backend.site.id
    made = http.post(f"/v1.0/sites/{site}/lists", json={"displayName": "Sessions", "list": {"template": "genericList"}})
    resource = f"sites/{site}/lists/{made.json()['id']}"
    later = (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with BackgroundServer(Starlette(routes=[Route("/hook", wrong, methods=["POST"])])) as server:
        refused = http.post("/v1.0/subscriptions", json={"changeType": "updated", "resource": resource,
                                                         "notificationUrl": f"{server.url}/hook",
                                                         "expirationDateTime": later})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "ValidationError", refused.text
    too_long = (datetime.now(UTC) + timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ")
    answer = http.post("/v1.0/subscriptions", json={"changeType": "updated", "resource": resource,
                                                    "notificationUrl": "https://hooks.example.org/x",
                                                    "expirationDateTime": too_long})
    assert answer.status_code == 400 and "0-42300 minutes" in answer.json()["error"]["message"]
    created = http.post("/v1.0/subscriptions", json={"changeType": "created", "resource": resource,
                                                     "notificationUrl": "https://hooks.example.org/x",
                                                     "expirationDateTime": later})
    assert created.status_code == 400 and "only 'updated'" in created.json()["error"]["message"]


class TestTheEndpoint:
    @pytest.fixture
    def store(self, store: SqliteStore) -> SqliteStore:
        """The state store, knowing the Registrations list's subscription."""
        store.checkpoints.set(KNOWN, json.dumps({"Registrations": {"id": "sub-1", "expires": 2e9}}))
        return store

    def test_the_handshake_echoes_the_token_as_text(self, store: SqliteStore) -> None:
        got = receive({"validationToken": "Validation: Testing abc"}, b"", store, Signer(SIGNING_KEY), 1.0)
        assert (got.status, got.body, got.content_type, got.run) == (200, "Validation: Testing abc", "text/plain",
                                                                      False)

    @pytest.mark.parametrize(("state", "subscription"), [("forged", "sub-1"), (None, "sub-1"),
                                                         ("ours", "sub-unknown")])
    def test_a_forged_or_unknown_notification_changes_nothing(self, store: SqliteStore, state: str | None,
                                                              subscription: str) -> None:
        signer = Signer(SIGNING_KEY)
        body = {"value": [{"subscriptionId": subscription, "changeType": "updated",
                           "clientState": client_state(signer) if state == "ours" else state}]}
        got = receive({}, json.dumps(body).encode(), store, signer, 5.0)
        assert (got.status, got.run) == (202, False)

    def test_a_good_notification_calls_for_one_run(self, store: SqliteStore) -> None:
        signer = Signer(SIGNING_KEY)
        body = {"value": [{"subscriptionId": "sub-1", "changeType": "updated", "clientState": client_state(signer)}]
                * 3}
        got = receive({}, json.dumps(body).encode(), store, signer, 5.0)
        assert (got.status, got.run) == (202, True)

    def test_not_json_is_refused(self, store: SqliteStore) -> None:
        assert receive({}, b"<xml/>", store, Signer(SIGNING_KEY), 1.0).status == 400


def test_a_removed_subscription_is_made_again_and_the_changes_are_read(live: Programme,
                                                                       emulator: EmulatorServer) -> None:
    """A lifecycle event (subscriptionRemoved) reaches the endpoint: the consumer makes the subscription again
    before its run, so later changes still arrive within seconds."""
    programme = live
    session = programme.session("Carers' drop-in", soon(3), capacity=5)
    renew(programme.services)
    registrations = next(s for s in emulator.backend.subscriptions.live()
                         if s.list_id == emulator.backend.sharepoint.get_list(programme.site, "Registrations").id)
    emulator.backend.subscriptions.lifecycle(registrations.id, "subscriptionRemoved")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(emulator.backend.subscriptions.live()) < 5:
        time.sleep(0.1)
    assert len(emulator.backend.subscriptions.live()) == 5  # made again
    programme.register(session, "Ben Example")
    while time.monotonic() < deadline and not programme.mail_to("ben.example@example.org"):
        time.sleep(0.1)
    assert programme.mail_to("ben.example@example.org")


def test_a_burst_of_notifications_is_one_run_and_one_more_if_more_came_meanwhile() -> None:
    from coprod.realtime.webhooks import consume

    now = [100.0]
    latest = [99.0]
    runs: list[float] = []

    def run() -> bool:
        runs.append(now[0])
        now[0] += 10
        if len(runs) == 1:
            latest[0] = now[0] - 5  # a notification came during the first run
        return True

    assert consume(run, lambda: latest[0], lambda: now[0]) == 2  # one more run for what came meanwhile, then done
    assert consume(lambda: False, lambda: 1e12, lambda: now[0]) == 0  # another run holds the lease: it sees them


def test_with_the_state_on_azure_storage_the_notifications_go_through_its_queue(
        emulator: EmulatorServer, env: dict[str, str], clock: FakeClock) -> None:
    """`serve` with COPROD_STATE on Azure Storage (Azurite here) puts each notification on the storage queue the
    function app's consumer reads, and consumes it from there: still confirmed within seconds."""
    from azure.storage.queue import QueueClient

    from tests.support.azurite import azurite_tables_and_queues

    later = Later()
    with azurite_tables_and_queues() as storage, BackgroundServer(later, name="live") as server:
        settings = load_settings(env | {"COPROD_PUBLIC_URL": server.url, "COPROD_STATE": storage,
                                        "COPROD_STATE_PREFIX": "hooks"})
        later.app, queue = live_app(settings)
        try:
            with Services.open(settings, clock=clock, sleep=clock.sleep) as services:
                programme = Programme(emulator, services, clock)
                session = programme.session("Carers' drop-in", soon(3), capacity=5)
                renew(services)
                programme.register(session, "Ann Example")
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not programme.mail_to("ann.example@example.org"):
                    time.sleep(0.2)
                assert programme.mail_to("ann.example@example.org")
                assert QueueClient.from_connection_string(storage, "coprod-notifications").get_queue_properties()
        finally:
            queue.stop()
