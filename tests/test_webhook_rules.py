"""The webhook rules, fast: which notifications are believed, how Graph's handshake and odd bodies are answered, how
the list subscriptions are made, reused, renewed and recorded (so their notifications are believed afterwards), and
how the two queues (in process, and on Azure Storage) hand notifications to the runs.

Notifications are posted to `receive` with a SQLite store; subscriptions are made on the emulator, which checks
and notifies a small endpoint on loopback that answers as `serve` does. The Azure Storage queue is an in-memory
stand-in for the QueueClient (the one Azure SDK class it uses), with the Queue service's limits."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError

from config import Settings, load_settings
from coprod import webhook_queues, webhooks
from coprod.lease import LEASE
from coprod.links import Signer
from coprod.lists.provision import provision
from coprod.runtime import Services
from coprod.store import SqliteStore
from coprod.webhooks import KNOWN, LIFETIME, LISTS, MAX_BODY, RENEW_WITHIN, RESUBSCRIBE, client_state, receive
from graph_client import GraphClient, GraphError, SharePointLists, Subscriptions
from graph_emulator import EmulatorServer
from graph_emulator.testing import BackgroundServer
from tests.conftest import SIGNING_KEY, OffsetClock

SIGNER = Signer(SIGNING_KEY)
NOW = 1_900_000_003.0  # 3 s into a repeat window that ends at 1_900_000_010
WINDOW_END = 1_900_000_010.0
LOG = "coprod.webhooks"


def until(done: Callable[[], object], seconds: float = 10.0) -> None:
    """Wait for something another thread does (no timing is asserted: the deadline only stops a hang)."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)


def messages(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOG and r.levelno >= level]


def note(subscription: str | None = "sub-1", state: str | None = "ours", **more: Any) -> dict[str, Any]:
    made = {"changeType": "updated", "resource": "sites/s/lists/l", **more}
    if subscription is not None:
        made["subscriptionId"] = subscription
    if state is not None:
        made["clientState"] = client_state(SIGNER) if state == "ours" else state
    return made


def body(*notes: Any) -> bytes:
    return json.dumps({"value": list(notes)}).encode()


@pytest.fixture
def hooks(tmp_path: Path) -> Iterator[SqliteStore]:
    """A store (its clock at NOW) that knows two subscriptions, as `subscribe` leaves them, and one broken record."""
    store = SqliteStore(tmp_path / "hooks.sqlite3", clock=lambda: NOW)
    store.set_checkpoint(KNOWN, json.dumps({"Sessions": {"id": "sub-1", "expires": 2e9},
                                            "Registrations": {"id": "sub-2", "expires": 2e9}, "Old": "broken"}))
    yield store
    store.close()


# --- which notifications are believed ---------------------------------------------------------------------------------

def test_the_client_state_is_the_one_subscriptions_made_by_earlier_versions_carry() -> None:
    """Graph keeps a subscription's clientState for its life (a renewal doesn't change it): the digest must not
    change between versions, or every notification would be ignored until the subscriptions were made again."""
    assert client_state(SIGNER) == "34f84ba76c8af1ba7889"
    assert client_state(Signer("another-signing-key-0123456789abc")) != client_state(SIGNER)


def test_the_handshake_echoes_at_most_1024_characters_as_plain_text_never_as_a_page(hooks: SqliteStore) -> None:
    token = "Validation: Testing client application reachability " + "x" * 2000
    got = receive({"validationToken": token}, b"", hooks, SIGNER, NOW)
    assert (got.status, got.body, got.content_type, got.run, got.resubscribe) == (200, token[:1024], "text/plain",
                                                                                   False, False)
    assert got.headers == {"X-Content-Type-Options": "nosniff"}


def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_refused(hooks: SqliteStore,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    good = body(note())
    exactly = good[:-1] + b" " * (MAX_BODY - len(good)) + b"}"
    assert len(exactly) == MAX_BODY and receive({}, exactly, hooks, SIGNER, NOW).run
    with caplog.at_level(logging.WARNING, logger=LOG):
        over = receive({}, exactly + b" ", hooks, SIGNER, NOW)
    assert (over.status, over.run) == (413, False)
    assert messages(caplog) == [f"A notification body over {MAX_BODY} bytes was refused"]


@pytest.mark.parametrize("sent", [b"<xml/>", json.dumps([note()]).encode(), b'{"value": []}', b'{"value": "abc"}',
                                  json.dumps({"value": {"0": note()}}).encode(),
                                  json.dumps({"data": [note()]}).encode(),
                                  b'{"value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"])
def test_a_body_that_is_not_graphs_shape_is_refused(hooks: SqliteStore, caplog: pytest.LogCaptureFixture,
                                                     sent: bytes) -> None:
    with caplog.at_level(logging.WARNING, logger=LOG):
        got = receive({}, sent, hooks, SIGNER, NOW)
    assert (got.status, got.run) == (400, False)
    assert messages(caplog) == ["A notification that isn't Graph's shape was ignored"]


def test_forged_and_malformed_notifications_first_do_not_drop_the_genuine_ones_behind_them(
        hooks: SqliteStore, caplog: pytest.LogCaptureFixture) -> None:
    """A batch led by junk, a forged clientState, a missing one, an unknown subscription and no subscription at
    all: the genuine notifications after them are acted on, and one warning counts what was ignored."""
    batch = [42, "junk", None, [], note("sub-1", "forged"), note("sub-1", None), note("sub-unknown"), note(None),
             note("sub-1"), note("sub-2")]
    with caplog.at_level(logging.WARNING, logger=LOG):
        got = receive({}, body(*batch), hooks, SIGNER, NOW)
    assert (got.status, got.run, got.after) == (202, True, None)
    assert messages(caplog) == ["8 of 10 notifications in one request were ignored (a wrong clientState, an unknown "
                                "subscription, or past the first 100)"]


def test_a_forged_notification_asks_for_no_run_and_uses_up_nothing(hooks: SqliteStore) -> None:
    forged = receive({}, body(note("sub-1", "forged")), hooks, SIGNER, NOW)
    assert (forged.status, forged.body, forged.run, forged.resubscribe) == (202, "", False, False)
    genuine = receive({}, body(note("sub-1")), hooks, SIGNER, NOW)
    assert (genuine.run, genuine.after) == (True, None)  # still the window's first


def test_only_the_first_hundred_notifications_of_a_request_are_read(hooks: SqliteStore,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOG):
        got = receive({}, body(*[note("sub-1", "forged")] * 100, note("sub-1")), hooks, SIGNER, NOW)
    assert (got.status, got.run) == (202, False)
    assert messages(caplog)[0].startswith("101 of 101 notifications")


@pytest.mark.parametrize("raw", [None, "", "not json", "[1, 2]"])
def test_no_notification_is_believed_while_no_subscription_is_recorded(tmp_path: Path, raw: str | None) -> None:
    with closing(SqliteStore(tmp_path / "empty.sqlite3", clock=lambda: NOW)) as store:
        if raw is not None:
            store.set_checkpoint(KNOWN, raw)
        got = receive({}, body(note("sub-1")), store, SIGNER, NOW)
    assert (got.status, got.run) == (202, False)


@pytest.mark.parametrize(("event", "renews"), [("reauthorizationRequired", True), ("subscriptionRemoved", True),
                                               ("missed", False), (None, False)])
def test_in_one_window_the_first_asks_for_a_run_now_the_second_at_its_end_and_lifecycle_events_for_a_renewal(
        hooks: SqliteStore, caplog: pytest.LogCaptureFixture, event: str | None, renews: bool) -> None:
    sent = body(note("sub-2", lifecycleEvent=event) if event else note("sub-2"))
    with caplog.at_level(logging.INFO, logger=LOG):
        got = [receive({}, sent, hooks, SIGNER, at) for at in (NOW, NOW + 6.5, NOW + 6.9)]
    assert [(r.status, r.run, r.after, r.resubscribe) for r in got] == [
        (202, True, None, renews), (202, True, WINDOW_END, renews), (202, False, None, renews)]
    assert messages(caplog, logging.INFO) == ["Notified again within 10 seconds: one more run at the end of that time"]


def test_a_new_window_of_the_clock_asks_for_a_run_at_once_again(hooks: SqliteStore) -> None:
    sent = body(note())
    assert [(r.run, r.after) for r in (receive({}, sent, hooks, SIGNER, at) for at in
                                       (NOW, NOW + 6.99, WINDOW_END, WINDOW_END + 9.5))] == [
        (True, None), (True, WINDOW_END), (True, None), (True, WINDOW_END + 10)]


def test_a_content_length_over_the_limit_is_refused_unread_and_a_body_is_read_to_the_limit() -> None:
    assert [webhooks.too_large(v) for v in (None, "", "abc", "10", str(MAX_BODY), f" {MAX_BODY + 1} ")] == [
        False, False, False, False, False, True]
    pulled: list[bytes] = []

    def read(content_length: str | None, *chunks: bytes) -> bytes | None:
        async def stream() -> AsyncIterator[bytes]:
            for chunk in chunks:
                pulled.append(chunk)
                yield chunk
        return asyncio.run(webhooks.read_body(content_length, stream()))

    assert read(None, b"ab", b"cd", b"e") == b"abcde"
    assert read(str(MAX_BODY), b"x" * (MAX_BODY - 1), b"y") == b"x" * (MAX_BODY - 1) + b"y"
    pulled.clear()
    assert read(str(MAX_BODY + 1), b"small") is None and pulled == []  # not read at all
    assert read(None, b"x" * MAX_BODY, b"y", b"never") is None and pulled[-1] == b"y"


def test_the_notification_url_keeps_the_public_urls_path() -> None:
    assert webhooks.notification_url("https://council.example.org/TOOLBOX/") == \
        "https://council.example.org/TOOLBOX/api/notifications"


# --- runs after notifications ----------------------------------------------------------------------------------------

def test_runs_go_on_while_notifications_keep_coming_up_to_three_in_a_row() -> None:
    """A notification at the very moment a run started may not have been read by it: one more run."""
    calls: list[int] = []

    def run() -> bool:
        calls.append(1)
        return True

    assert webhooks.consume(run, lambda: 100.0, lambda: 100.0) == 3 == len(calls)
    assert webhooks.consume(run, lambda: 99.9, lambda: 100.0) == 1
    assert webhooks.consume(lambda: False, lambda: 1e12, lambda: 100.0) == 0


def test_a_renewal_that_fails_after_a_lifecycle_event_is_logged_and_not_raised(
        caplog: pytest.LogCaptureFixture) -> None:
    def failing() -> list[str]:
        raise GraphError("renew a subscription", "Graph said no")

    with caplog.at_level(logging.WARNING, logger=LOG):
        webhooks.resubscribe_quietly(failing)
    assert messages(caplog) == ["Could not renew the list subscriptions: renew a subscription: Graph said no"]


def new_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before]


def test_the_local_consumer_runs_on_a_notification_and_goes_on_after_a_failed_run(
        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[float] = []

    def consume_once() -> None:
        calls.append(time.time())
        if len(calls) == 1:
            raise RuntimeError("a run failed")

    queue = webhook_queues.LocalQueue(consume_once)
    assert queue.latest < 0  # none yet: every run started after it
    before = set(threading.enumerate())
    with caplog.at_level(logging.ERROR, logger=LOG):
        queue.start()
        [thread] = new_threads(before)
        assert (thread.name, thread.daemon) == ("coprod-notifications", True)
        at = time.time() - 1
        queue.put(at)
        assert queue.latest == at
        until(lambda: calls)
        queue.put(time.time())
        until(lambda: len(calls) >= 2)
        queue.stop()
        thread.join(5)
    assert len(calls) == 2 and not thread.is_alive()
    assert messages(caplog, logging.ERROR) == ["A run after a notification stopped: RuntimeError"]


def test_a_run_for_later_waits_for_its_time_on_a_daemon_timer() -> None:
    calls: list[float] = []
    queue = webhook_queues.LocalQueue(lambda: calls.append(time.time())).start()
    try:
        at = time.time() + 0.3
        before = set(threading.enumerate())
        queue.put(at)
        timers = [t for t in new_threads(before) if isinstance(t, threading.Timer)]
        assert len(timers) == 1 and timers[0].daemon
        until(lambda: calls)
        assert calls and calls[0] >= at and queue.latest == at
    finally:
        queue.stop()


# --- the queue on Azure Storage ---------------------------------------------------------------------------------------

@dataclass
class Message:
    content: str
    visible: float = 0.0


@dataclass
class FakeQueueClient:
    """What AzureQueue uses of azure.storage.queue.QueueClient, in memory, with the Queue service's rules: at most
    32 messages handed out at once (more is refused), each then hidden for the visibility timeout (30 s unless
    asked), and deleting one that isn't there an error."""

    messages: list[Message] = field(default_factory=list)
    sent: list[tuple[str, int | None]] = field(default_factory=list)
    taken: list[int] = field(default_factory=list)
    polls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send_message(self, content: str, visibility_timeout: int | None = None) -> None:
        with self.lock:
            self.sent.append((content, visibility_timeout))
            self.messages.append(Message(content, time.time() + (visibility_timeout or 0)))

    def receive_messages(self, max_messages: int | None = None, visibility_timeout: int | None = None
                         ) -> list[Message]:
        if max_messages is not None and not 1 <= max_messages <= 32:
            raise HttpResponseError("OutOfRangeQueryParameterValue")
        with self.lock:
            self.polls += 1
            now = time.time()
            ready = [m for m in self.messages if m.visible <= now][:max_messages]
            for message in ready:
                message.visible = now + (visibility_timeout or 30)
            if ready:
                self.taken.append(len(ready))
            return ready

    def delete_message(self, message: Message) -> None:
        with self.lock:
            self.messages.remove(message)

    def add(self, *contents: str) -> None:
        with self.lock:
            self.messages.extend(Message(c) for c in contents)


def test_the_storage_queue_consumer_runs_once_for_a_burst_then_deletes_it(caplog: pytest.LogCaptureFixture) -> None:
    client = FakeQueueClient()
    latest: list[float] = []
    queue = webhook_queues.AzureQueue(client, latest.append, poll_seconds=0.01)
    before = set(threading.enumerate())
    queue.start()
    try:
        [thread] = new_threads(before)
        assert (thread.name, thread.daemon) == ("coprod-notifications", True)
        until(lambda: client.polls >= 2)
        assert latest == []  # an empty queue asks for no run
        client.add(json.dumps({"at": 5.0}), json.dumps({"at": 7.5}), "not json", "[]", "{}", '{"at": "soon"}')
        until(lambda: not client.messages)
        assert latest == [7.5] and client.messages == []
        client.add("not json", "{}", "[3]")  # none says when: as long ago as can be
        until(lambda: not client.messages)
        assert latest == [7.5, 0.0]
    finally:
        queue.stop()
        thread.join(5)
    assert not thread.is_alive()


def test_the_storage_queue_takes_a_backlog_32_at_a_time_and_hides_it_while_the_run_works() -> None:
    client = FakeQueueClient()
    client.add(*(json.dumps({"at": float(n)}) for n in range(40)))
    runs: list[float] = []
    queue = webhook_queues.AzureQueue(client, runs.append, poll_seconds=0.01).start()
    try:
        until(lambda: not client.messages)
    finally:
        queue.stop()
    assert client.taken == [32, 8] and runs == [31.0, 39.0]
    failing = FakeQueueClient()
    failing.add(json.dumps({"at": 1.0}))

    def fail(latest: float) -> None:
        raise RuntimeError("a run failed")

    queue = webhook_queues.AzureQueue(failing, fail, poll_seconds=0.01).start()
    try:
        until(lambda: failing.taken)
    finally:
        queue.stop()
    [kept] = failing.messages  # back after the timeout, for another try
    assert kept.visible - time.time() > webhook_queues.QUEUE_HIDDEN - 10


def test_a_failed_run_from_the_storage_queue_is_logged_and_the_consumer_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    client = FakeQueueClient()
    calls: list[float] = []

    def consume_once(latest: float) -> None:
        calls.append(latest)
        if len(calls) == 1:
            raise RuntimeError("a run failed")

    client.add(json.dumps({"at": 1.0}))
    with caplog.at_level(logging.ERROR, logger=LOG):
        queue = webhook_queues.AzureQueue(client, consume_once, poll_seconds=0.01).start()
        try:
            until(lambda: calls)
            client.add(json.dumps({"at": 2.0}))
            until(lambda: len(calls) >= 2)
        finally:
            queue.stop()
    assert calls == [1.0, 2.0]
    assert messages(caplog, logging.ERROR) == ["The notification queue's consumer: RuntimeError"]


def test_a_message_for_later_stays_out_of_sight_until_then() -> None:
    client = FakeQueueClient()
    queue = webhook_queues.AzureQueue(client, lambda latest: None)
    now = time.time()
    queue.put(now - 5)
    queue.put(now + 30.5)
    [(past, shown), (later, hidden)] = client.sent
    assert (json.loads(past), shown) == ({"at": now - 5}, None)
    assert json.loads(later) == {"at": now + 30.5} and hidden in (30, 31)


class MadeClients:
    """Stand-ins for QueueClient and the two credentials, recording how `for_state` made them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, create_error: Exception | None = None) -> None:
        self.made: list[tuple[Any, ...]] = []
        record = self.made

        class Client(FakeQueueClient):
            def create_queue(self) -> None:
                record.append(("create",))
                if create_error is not None:
                    raise create_error

        class QueueClient:
            def __call__(self, url: str, queue: str, credential: Any) -> Client:
                record.append(("url", url, queue, credential))
                return Client()

            def from_connection_string(self, connection: str, queue: str) -> Client:
                record.append(("connection", connection, queue))
                return Client()

        class Credential:
            def __init__(self, **given: Any) -> None:
                self.kind, self.given = type(self).__name__, given

            def __eq__(self, other: object) -> bool:
                return isinstance(other, Credential) and (self.kind, self.given) == (other.kind, other.given)

        class DefaultAzureCredential(Credential):
            pass

        class ManagedIdentityCredential(Credential):
            pass

        self.default, self.managed = DefaultAzureCredential, ManagedIdentityCredential
        monkeypatch.setattr("azure.storage.queue.QueueClient", QueueClient())
        monkeypatch.setattr("azure.identity.DefaultAzureCredential", DefaultAzureCredential)
        monkeypatch.setattr("azure.identity.ManagedIdentityCredential", ManagedIdentityCredential)


def test_the_queue_is_made_beside_the_states_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    made = MadeClients(monkeypatch)
    calls: list[float] = []
    queue = webhook_queues.AzureQueue.for_state("UseDevelopmentStorage=true", calls.append)
    assert made.made == [("connection", "UseDevelopmentStorage=true", "coprod-notifications"), ("create",)]
    queue.put(time.time() - 1)
    queue.start()
    try:
        until(lambda: calls)
    finally:
        queue.stop()
    assert len(calls) == 1
    made.made.clear()
    webhook_queues.AzureQueue.for_state("https://acct.table.core.windows.net/", calls.append)
    webhook_queues.AzureQueue.for_state("https://acct.table.core.windows.net", calls.append, client_id="mi-client-1")
    assert made.made == [("url", "https://acct.queue.core.windows.net", "coprod-notifications", made.default()),
                         ("create",),
                         ("url", "https://acct.queue.core.windows.net", "coprod-notifications",
                          made.managed(client_id="mi-client-1")), ("create",)]


def test_a_queue_that_exists_already_is_used_and_any_other_failure_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    MadeClients(monkeypatch, ResourceExistsError("The specified queue already exists."))
    made = webhook_queues.AzureQueue.for_state("UseDevelopmentStorage=true", lambda latest: None)
    assert isinstance(made, webhook_queues.AzureQueue)
    MadeClients(monkeypatch, HttpResponseError("AuthorizationFailure"))
    with pytest.raises(HttpResponseError):
        webhook_queues.AzureQueue.for_state("UseDevelopmentStorage=true", lambda latest: None)


# --- subscriptions: made, reused, renewed, recorded ------------------------------------------------------------------

@dataclass
class Hooked:
    """The emulator's lists, the service's parts, and our endpoint on loopback with the answers it gave."""

    emulator: EmulatorServer
    settings: Settings
    lists: SharePointLists
    subscriptions: Subscriptions
    store: SqliteStore
    answers: list[webhooks.Received]

    @property
    def url(self) -> str:
        return f"{self.settings.public_url}/api/notifications"

    def ensure(self, now: datetime) -> list[str]:
        return webhooks.ensure_subscriptions(self.subscriptions, self.lists, self.store, SIGNER,
                                             self.settings.public_url + "/", now)

    def live(self) -> dict[str, Any]:
        """Graph's live subscriptions, by list name."""
        found = {name: self.lists.find_list(name) for name in LISTS}
        names = {info.id: name for name, info in found.items() if info is not None}
        return {names[s.list_id]: s for s in self.emulator.backend.subscriptions.live()}

    def believed(self, name: str) -> bool:
        """A change to list `name` in SharePoint: whether the notification Graph sends is acted on."""
        self.answers.clear()
        sub = self.live()[name]
        self.emulator.backend.subscriptions.changed(sub.site_id, sub.list_id)
        until(lambda: self.answers)
        return [(a.status, a.run) for a in self.answers] == [(202, True)]


@pytest.fixture
def hooked(emulator: EmulatorServer, env: dict[str, str], tmp_path: Path) -> Iterator[Hooked]:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    answers: list[webhooks.Received] = []
    path = tmp_path / "state.sqlite3"  # the store the settings name

    async def notifications(request: Request) -> Response:
        sent = await webhooks.read_body(request.headers.get("content-length"), request.stream())
        with closing(SqliteStore(path)) as store:
            got = receive(dict(request.query_params), sent or b"", store, SIGNER, time.time())
        if "validationToken" not in request.query_params:
            answers.append(got)
        return Response(got.body, status_code=got.status, media_type=got.content_type, headers=got.headers)

    app = Starlette(routes=[Route("/api/notifications", notifications, methods=["POST"])])
    with BackgroundServer(app, name="hooks") as server, closing(SqliteStore(path)) as store:
        settings = load_settings(env | {"COPROD_PUBLIC_URL": server.url})
        with GraphClient.from_settings(settings) as graph:
            yield Hooked(emulator, settings, SharePointLists(graph, settings.site_id), Subscriptions(graph), store,
                         answers)


def whole_second_now() -> datetime:
    return datetime.fromtimestamp(math.floor(time.time()) + 0.5, UTC)  # Graph keeps whole seconds


def recorded(hooked: Hooked) -> dict[str, Any]:
    return json.loads(hooked.store.get_checkpoint(KNOWN) or "{}")  # type: ignore[no-any-return]


def test_each_list_gets_one_subscription_graph_checked_and_its_notifications_are_believed(hooked: Hooked) -> None:
    for name in LISTS[1:]:
        hooked.lists.create_list(name)  # Sessions isn't there yet
    now = whole_second_now()
    granted = (now + LIFETIME).replace(microsecond=0)
    lines = hooked.ensure(now)
    assert lines == ["Sessions: the list isn't on the site: run `python -m coprod provision` first."] + [
        f"{name}: subscribed until {granted:%d %B %Y}." for name in LISTS[1:]]
    live = hooked.live()
    assert sorted(live) == sorted(LISTS[1:])
    for sub in live.values():
        assert (sub.notification_url, sub.lifecycle_url, sub.client_state, sub.expiration) == (
            hooked.url, hooked.url, client_state(SIGNER), granted.timestamp())
        assert sub.resource == f"sites/{hooked.settings.site_id}/lists/{sub.list_id}"
    assert recorded(hooked) == {name: {"id": sub.id, "expires": granted.timestamp()} for name, sub in live.items()}
    assert hooked.believed("Registrations")


def test_subscribing_again_reuses_what_graph_has_and_its_notifications_are_still_believed(hooked: Hooked) -> None:
    """The state store was replaced (the record is gone) but Graph still has the subscriptions, one of them
    reported with a leading slash: each is reused and recorded again with its id, so its notifications count."""
    for name in LISTS:
        hooked.lists.create_list(name)
    now = whole_second_now()
    hooked.ensure(now)
    first = {name: sub.id for name, sub in hooked.live().items()}
    granted = datetime.fromtimestamp(hooked.live()["Sessions"].expiration, UTC)
    hooked.live()["Updates"].resource = "/" + hooked.live()["Updates"].resource
    hooked.store.set_checkpoint(KNOWN, "")
    lines = hooked.ensure(now + timedelta(days=1))
    assert lines == [f"{name}: subscribed until {granted:%d %B %Y}." for name in LISTS]
    assert {name: sub.id for name, sub in hooked.live().items()} == first
    assert recorded(hooked) == {name: {"id": first[name], "expires": granted.timestamp()} for name in LISTS}
    assert all(hooked.believed(name) for name in ("Sessions", "Updates"))


def test_three_days_before_expiry_each_subscription_is_renewed_in_place_and_still_believed(hooked: Hooked) -> None:
    for name in LISTS:
        hooked.lists.create_list(name)
    now = datetime.fromtimestamp(math.floor(time.time()), UTC)
    hooked.ensure(now)
    first = {name: sub.id for name, sub in hooked.live().items()}
    later = now + LIFETIME - RENEW_WITHIN  # exactly three days before they expire
    hooked.emulator.backend.offset += (later - now).total_seconds()
    lines = hooked.ensure(later)
    granted = later + LIFETIME
    assert lines == [f"{name}: renewed until {granted:%d %B %Y}." for name in LISTS]
    assert {name: (sub.id, sub.expiration) for name, sub in hooked.live().items()} == {
        name: (first[name], granted.timestamp()) for name in LISTS}
    assert recorded(hooked) == {name: {"id": first[name], "expires": granted.timestamp()} for name in LISTS}
    assert hooked.believed("Registrations")


def test_a_subscription_graph_dropped_is_made_again_and_its_notifications_believed(hooked: Hooked) -> None:
    for name in LISTS:
        hooked.lists.create_list(name)
    now = whole_second_now()
    hooked.ensure(now)
    gone = hooked.live()["Registrations"].id
    hooked.emulator.backend.subscriptions.delete(gone)
    hooked.ensure(now + timedelta(hours=1))
    again = hooked.live()["Registrations"].id
    assert again != gone and len(hooked.live()) == 5 and recorded(hooked)["Registrations"]["id"] == again
    assert hooked.believed("Registrations")


@pytest.fixture
def services(hooked: Hooked, clock: OffsetClock) -> Iterator[Services]:
    with Services.open(hooked.settings, clock=clock, sleep=clock.sleep) as opened:
        provision(opened.lists)
        yield opened


def test_renew_uses_the_services_settings_and_clock(hooked: Hooked, services: Services, clock: OffsetClock) -> None:
    clock.offset = 86400.0
    hooked.emulator.backend.offset += 86400.0
    granted = datetime.fromtimestamp(clock(), UTC) + LIFETIME
    assert [line.split(":")[0] for line in webhooks.renew(services)] == list(LISTS)
    assert webhooks.renew(services) == [f"{name}: subscribed until {granted:%d %B %Y}." for name in LISTS]  # reused
    assert all(s.notification_url == hooked.url for s in hooked.live().values()) and len(hooked.live()) == 5


def test_a_run_after_a_lifecycle_event_first_makes_the_subscriptions_again(hooked: Hooked, services: Services) -> None:
    webhooks.renew(services)
    hooked.emulator.backend.subscriptions.delete(hooked.live()["Registrations"].id)
    services.store.set_checkpoint(RESUBSCRIBE, "1")
    said: list[str] = []
    assert webhooks.notified_run(services, said.append) is True
    assert len(hooked.live()) == 5 and services.store.get_checkpoint(RESUBSCRIBE) == ""
    assert said and all(isinstance(line, str) and line for line in said)
    hooked.emulator.backend.subscriptions.delete(hooked.live()["Sessions"].id)
    assert webhooks.notified_run(services, said.append) is True
    assert "Sessions" not in hooked.live()  # no lifecycle event since: no renewal before the run


def test_a_run_after_a_notification_says_so_when_another_run_holds_the_lease(services: Services) -> None:
    assert services.store.lease_acquire(LEASE, "another-instance", 600)
    said: list[str] = []
    assert webhooks.notified_run(services, said.append) is False
