"""Lifecycle notifications, end to end over loopback: Graph's `reauthorizationRequired`, `subscriptionRemoved` and
`missed` (Microsoft's "Reduce missing subscriptions and change notifications", change-notifications-lifecycle-
events) reach the service's endpoint from the emulator, and each is answered so that the next change to a list is
still acted on within seconds; forged ones change nothing; overlapping answers make one subscription, not two.

The emulator's side (it pauses a challenged subscription's notifications until it is reauthorized or renewed, and
challenges on its own near expiry) is in tests/emulator/test_lifecycle_emulator.py; the rules, fast, in
tests/unit/test_webhook_rules.py."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from config import Settings, load_settings
from coprod.lists import resync
from coprod.lists.provision import provision
from coprod.realtime import webhooks
from coprod.realtime.webhooks import KNOWN, LISTS, RESUBSCRIBE, client_state, known, receive, renew
from coprod.runtime import Services
from coprod.store import SqliteStore
from graph_emulator import EmulatorServer
from graph_emulator.testing import BackgroundServer
from tests.support.programme import Programme, soon

REAUTHORIZE = "POST /subscriptions/{subscription}/reauthorize"
SLOW_LISTING = {"path": "^/subscriptions$", "method": "GET", "latency_ms": 1500}  # two answers overlap for sure


def until(done: Callable[[], object], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(done())


@pytest.fixture
def control(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """The emulator's control API over HTTPS, as a tool outside the process would call it."""
    context = ssl.create_default_context(cafile=emulator.env()["M365_CA_BUNDLE"])
    with httpx.Client(base_url=emulator.url, verify=context, trust_env=False) as client:
        yield client


def send(control: httpx.Client, subscription: str, event: str) -> None:
    answer = control.post(f"/_emulator/subscriptions/{subscription}/lifecycle", json={"event": event})
    assert answer.json() == {"sent": True}, answer.text


def by_list(emulator: EmulatorServer, site: str) -> dict[str, list[Any]]:
    """Graph's live subscriptions, by list name (a list with two has both)."""
    names = {emulator.backend.sharepoint.get_list(site, name).id: name for name in LISTS}
    found: dict[str, list[Any]] = {}
    for sub in emulator.backend.subscriptions.live():
        found.setdefault(names[sub.list_id], []).append(sub)
    return found


# --- with `serve` (the `live` fixture): the endpoint and its consumer, as `python -m coprod serve` runs them --------

def test_reauthorization_required_is_answered_at_once_and_the_next_change_is_confirmed_within_seconds(
        live: Programme, emulator: EmulatorServer, control: httpx.Client) -> None:
    """Graph pauses a challenged subscription's notifications until it is reauthorized (docs: "eventually change
    notification delivery pauses, until you take the required action"): the run the challenge asks for
    reauthorizes it, not the daily timer, so Ben's registration after it is confirmed within seconds."""
    session = live.session("Carers' drop-in", soon(3), capacity=5)
    renew(live.services)
    before = {name: [s.id for s in subs] for name, subs in by_list(emulator, live.site).items()}
    [registrations] = by_list(emulator, live.site)["Registrations"]
    send(control, registrations.id, "reauthorizationRequired")
    assert until(lambda: [e for e in emulator.backend.log.snapshot()
                          if e.operation == REAUTHORIZE and e.status == 204]), "not reauthorized"
    assert [e.path for e in emulator.backend.log.snapshot() if e.operation == REAUTHORIZE] == [
        f"/subscriptions/{registrations.id}/reauthorize"]
    assert not registrations.paused
    live.register(session, "Ben Example")
    assert until(lambda: live.mail_to("ben.example@example.org"))
    assert {name: [s.id for s in subs] for name, subs in by_list(emulator, live.site).items()} == before


def test_subscription_removed_while_the_daily_renewal_runs_makes_one_subscription_and_changes_still_arrive(
        live: Programme, emulator: EmulatorServer, control: httpx.Client) -> None:
    """Graph removes the Registrations subscription as the daily renewal starts (Graph's listing slow enough
    that both would see it missing): one instance at a time changes the subscriptions, and what Graph lists is
    reused, so the list ends with one subscription, recorded, and Ben's registration is confirmed within
    seconds."""
    session = live.session("Carers' drop-in", soon(3), capacity=5)
    renew(live.services)
    [gone] = by_list(emulator, live.site)["Registrations"]
    emulator.add_fault(**SLOW_LISTING)
    send(control, gone.id, "subscriptionRemoved")
    renew(live.services)  # the daily timer, at the same moment
    assert until(lambda: len(emulator.backend.subscriptions.live()) >= 5)
    time.sleep(2 * SLOW_LISTING["latency_ms"] / 1000)  # any second answer under way has made its subscription
    subs = by_list(emulator, live.site)
    assert sorted(subs) == sorted(LISTS) and all(len(each) == 1 for each in subs.values()), subs
    [again] = subs["Registrations"]
    assert again.id != gone.id and known(live.services.store)["Registrations"]["id"] == again.id
    emulator.backend.faults.clear()
    live.register(session, "Ben Example")
    assert until(lambda: live.mail_to("ben.example@example.org"))


def test_missed_has_the_list_read_whole_so_a_change_never_notified_is_confirmed_within_seconds(
        live: Programme, emulator: EmulatorServer, control: httpx.Client) -> None:
    """Docs: on `missed`, "perform a full data resync of the resource". Ann's registration is made silently (no
    notification, and no delta link ever reports it): only a whole read finds it, and the run the `missed`
    event asks for reads Registrations whole."""
    session = live.session("Carers' drop-in", soon(3), capacity=5)
    live.run()  # the lists read once, before subscribing (so its own writes notify nothing): from here on, only
    renew(live.services)  # what delta or a whole read reports is seen
    made = control.post("/_emulator/lists/Registrations/items", json={"silent": True, "items": [
        {"Title": "Ann Example", "Email": "ann.example@example.org", "Consent": True, "SessionLookupId": session}]})
    assert made.status_code == 200, made.text
    time.sleep(1)
    assert live.mail_to("ann.example@example.org") == []
    [registrations] = by_list(emulator, live.site)["Registrations"]
    send(control, registrations.id, "missed")
    assert until(lambda: live.mail_to("ann.example@example.org"))
    assert until(lambda: not resync.asked(live.services.store, LISTS))  # answered by that run


# --- with an endpoint of our own: what each notification was answered, and the runs it asked for ------------------

@dataclass
class Endpoint:
    """`receive` on loopback, as `serve` and the function app call it (RESUBSCRIBE set when an event waits), with
    the answers given and the runs asked for; its validation answer can be made slow (still within Graph's 10 s)."""

    settings: Settings
    env: dict[str, str]
    store: SqliteStore
    answers: list[webhooks.Received]
    runs: list[float]
    slow: list[float]

    def sent(self, *notes: dict[str, Any]) -> list[tuple[int, bool, bool]]:
        """POST a batch to the endpoint as anyone could; the answer's status, run and resubscribe."""
        self.answers.clear()
        url = webhooks.notification_url(self.settings.public_url)
        status = httpx.post(url, json={"value": list(notes)}, trust_env=False).status_code
        return [(status, a.run, a.resubscribe) for a in self.answers]


@pytest.fixture
def endpoint(emulator: EmulatorServer, env: dict[str, str], tmp_path: Path) -> Iterator[Endpoint]:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    answers: list[webhooks.Received] = []
    runs: list[float] = []
    slow = [0.0]
    path = tmp_path / "state.sqlite3"  # the store the settings name

    async def notifications(request: Request) -> Response:
        import asyncio

        if "validationToken" in request.query_params:
            await asyncio.sleep(slow[0])
        sent = await webhooks.read_body(request.headers.get("content-length"), request.stream())
        with closing(SqliteStore(path)) as store:
            got = receive(dict(request.query_params), sent or b"", store, signer, time.time())
            if got.resubscribe:
                store.checkpoints.set(RESUBSCRIBE, "1")
        if "validationToken" not in request.query_params:
            answers.append(got)
            if got.run:
                runs.append(got.after or time.time())
        return Response(got.body, status_code=got.status, media_type=got.content_type, headers=got.headers)

    from coprod.links import Signer
    from tests.conftest import SIGNING_KEY

    signer = Signer(SIGNING_KEY)
    app = Starlette(routes=[Route("/api/notifications", notifications, methods=["POST"])])
    with BackgroundServer(app, name="lifecycle") as server, closing(SqliteStore(path)) as store:
        ours = env | {"COPROD_PUBLIC_URL": server.url}
        yield Endpoint(load_settings(ours), ours, store, answers, runs, slow)


@pytest.fixture
def services(endpoint: Endpoint) -> Iterator[Services]:
    with Services.open(endpoint.settings) as opened:
        provision(opened.lists)
        renew(opened)
        yield opened


def test_missed_asks_for_its_list_to_be_read_whole_and_for_a_run(endpoint: Endpoint, services: Services,
                                                                   emulator: EmulatorServer,
                                                                   control: httpx.Client) -> None:
    """Docs: "Perform a full data resync of the resource". Graph documents `missed` for Outlook resources only,
    but the emulator's control API sends it for a list: the run it asks for reads that list whole."""
    registrations = known(services.store)["Registrations"]["id"]
    send(control, registrations, "missed")
    assert until(lambda: endpoint.answers)
    assert [(a.status, a.run, a.resubscribe) for a in endpoint.answers] == [(202, True, False)]
    assert resync.asked(services.store, LISTS) == {"Registrations"} and len(endpoint.runs) == 1
    assert not services.store.checkpoints.get(RESUBSCRIBE)  # no answer waits
    # the subscription goes on: a change is notified and believed
    endpoint.answers.clear()
    emulator.backend.sharepoint.create_item(services.settings.site_id, "Registrations", {"Title": "Ann Example"})
    assert until(lambda: endpoint.answers) and endpoint.answers[0].status == 202


def test_a_forged_lifecycle_event_changes_nothing_and_a_genuine_one_beside_it_is_answered(
        endpoint: Endpoint, services: Services, emulator: EmulatorServer) -> None:
    """A wrong clientState, none, or a subscription we never made: no reauthorization, no whole read, no
    subscription made, no run; a genuine `missed` in the same batch still asks for its list to be read whole."""
    held = known(services.store)
    ours = client_state(services.signer)
    forged = [{"subscriptionId": held["Registrations"]["id"], "clientState": "guessed",
               "lifecycleEvent": "reauthorizationRequired"},
              {"subscriptionId": held["Sessions"]["id"], "lifecycleEvent": "subscriptionRemoved"},
              {"subscriptionId": held["Subscribers"]["id"], "clientState": "guessed", "lifecycleEvent": "missed"},
              {"subscriptionId": "5ad5e0b3-0000-4000-8000-000000000000", "clientState": ours,
               "lifecycleEvent": "subscriptionRemoved"}]
    subs = {s.id: (s.expiration, s.paused) for s in emulator.backend.subscriptions.live()}
    emulator.backend.log.clear()
    assert endpoint.sent(*forged) == [(202, False, False)]
    assert not services.store.checkpoints.get(RESUBSCRIBE) and endpoint.runs == []
    genuine = {"subscriptionId": held["Updates"]["id"], "clientState": ours, "lifecycleEvent": "missed"}
    assert endpoint.sent(*forged, genuine) == [(202, True, False)]
    assert resync.asked(services.store, LISTS) == {"Updates"}
    assert [services.store.checkpoints.get(f"webhooks.lifecycle.{event}.{held[name]['id']}")
            for event in ("reauthorizationRequired", "subscriptionRemoved") for name in held] == [None] * 10
    services.store.checkpoints.set(RESUBSCRIBE, "1")  # even were a run to look: nothing waits
    assert webhooks.notified_run(services, lambda line: None)
    assert [e.operation for e in emulator.backend.log.snapshot() if "/subscriptions" in e.operation] == []
    assert {s.id: (s.expiration, s.paused) for s in emulator.backend.subscriptions.live()} == subs


def test_two_instances_answering_one_removal_at_once_make_one_subscription(endpoint: Endpoint, services: Services,
                                                                           emulator: EmulatorServer,
                                                                           control: httpx.Client) -> None:
    """Graph delivers at least once, and two instances may each take the event's run: both answer it at once
    (Graph's listing slow, its validation of our endpoint slow), and the list still ends with one subscription."""
    site = services.settings.site_id
    [gone] = by_list(emulator, site)["Registrations"]
    send(control, gone.id, "subscriptionRemoved")
    assert until(lambda: endpoint.answers) and services.store.checkpoints.get(RESUBSCRIBE) == "1"
    emulator.add_fault(**SLOW_LISTING)
    endpoint.slow[0] = 1.0
    said: list[str] = []
    start = threading.Barrier(2)

    def instance() -> None:
        with Services.open(endpoint.settings) as own:
            start.wait()
            webhooks.notified_run(own, said.append)

    threads = [threading.Thread(target=instance) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    subs = by_list(emulator, site)
    assert sorted(subs) == sorted(LISTS) and all(len(each) == 1 for each in subs.values()), subs
    [again] = subs["Registrations"]
    assert again.id != gone.id and known(services.store)["Registrations"]["id"] == again.id
    assert json.loads(services.store.checkpoints.get(KNOWN) or "{}")["Registrations"]["id"] == again.id
    assert sum(line.startswith("Registrations: subscribed until") for line in said) == 1


def test_the_function_apps_consumer_answers_a_lifecycle_event_even_when_a_later_run_has_read_the_lists(
        endpoint: Endpoint, services: Services, emulator: EmulatorServer, control: httpx.Client,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue trigger skips the run of a message a later run began after (that run read its change), but a
    challenged subscription sends nothing more, so its reauthorization cannot wait for another notification."""
    import azure.functions as func

    from coprod.running.lease import last_run, record_run
    from functions.notifications import on_notification

    for key, value in endpoint.env.items():
        monkeypatch.setenv(key, value)
    [registrations] = by_list(emulator, services.settings.site_id)["Registrations"]
    send(control, registrations.id, "reauthorizationRequired")
    assert until(lambda: endpoint.runs) and services.store.checkpoints.get(RESUBSCRIBE) == "1"
    sent = endpoint.runs[0]
    record_run(services.store, sent + 1, sent + 2, "the 5-minute timer", [])
    on_notification.build().get_user_function()(func.QueueMessage(body=json.dumps({"at": sent}).encode()))
    assert [e.path for e in emulator.backend.log.snapshot() if e.operation == REAUTHORIZE and e.status == 204] == [
        f"/subscriptions/{registrations.id}/reauthorize"]
    assert not registrations.paused and services.store.checkpoints.get(RESUBSCRIBE) == ""
    finished = last_run(services.store)
    assert finished is not None and finished.started == sent + 1  # no run of its own
