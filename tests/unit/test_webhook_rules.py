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
from coprod.links import Signer
from coprod.lists.provision import provision
from coprod.realtime import webhook_queues, webhooks
from coprod.realtime.webhooks import KNOWN, LIFETIME, LISTS, MAX_BODY, RENEW_WITHIN, RESUBSCRIBE, client_state, receive
from coprod.running.lease import LEASE
from coprod.runtime import Services
from coprod.store import SqliteStore
from graph_client import GraphClient, GraphError, SharePointLists, Subscriptions
from graph_emulator import EmulatorServer
from graph_emulator.testing import BackgroundServer
from tests.conftest import SIGNING_KEY
from tests.support.fakes import FakeClock

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
    store.checkpoints.set(KNOWN, json.dumps({"Sessions": {"id": "sub-1", "expires": 2e9},
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
            store.checkpoints.set(KNOWN, raw)
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
    said: list[str] = []
    webhooks.resubscribe_quietly(lambda: ["Sessions: reauthorized.", "Updates: reauthorized."], said.append)
    assert said == ["Sessions: reauthorized.", "Updates: reauthorized."]
    webhooks.resubscribe_quietly(lambda: ["Sessions: reauthorized."])  # no one to tell: nothing said, nothing raised


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
    shift: list[float]  # how far our endpoint's clock is ahead: each notification sent in a repeat window of its own

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
        self.shift[0] += webhooks.REPEAT_WINDOW
        sub = self.live()[name]
        self.emulator.backend.subscriptions.changed(sub.site_id, sub.list_id)
        until(lambda: self.answers)
        return [(a.status, a.run) for a in self.answers] == [(202, True)]

    def event(self, name: str, event: str) -> str:
        """Graph sends list `name`'s subscription a lifecycle event, and our endpoint takes it; the id."""
        self.answers.clear()
        self.shift[0] += webhooks.REPEAT_WINDOW
        sub = self.live()[name]
        self.emulator.backend.subscriptions.lifecycle(sub.id, event)
        until(lambda: self.answers)
        assert [(a.status, a.run, a.resubscribe) for a in self.answers] == [(202, True, True)]
        return str(sub.id)

    def answer(self, now: datetime) -> list[str]:
        return webhooks.answer_lifecycle(self.subscriptions, self.lists, self.store, SIGNER,
                                         self.settings.public_url + "/", now)

    def calls(self, operation: str) -> list[str]:
        """The paths of the Graph requests made for `operation` (e.g. "POST /subscriptions/{}/reauthorize"), but
        for those refused for an expired token (sent again with a new one, when a test moves the clock on)."""
        return [e.path for e in self.emulator.backend.log.snapshot() if e.operation == operation and e.status != 401]


@pytest.fixture
def hooked(emulator: EmulatorServer, env: dict[str, str], tmp_path: Path) -> Iterator[Hooked]:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    answers: list[webhooks.Received] = []
    shift = [0.0]
    path = tmp_path / "state.sqlite3"  # the store the settings name

    async def notifications(request: Request) -> Response:
        sent = await webhooks.read_body(request.headers.get("content-length"), request.stream())
        with closing(SqliteStore(path)) as store:
            got = receive(dict(request.query_params), sent or b"", store, SIGNER, time.time() + shift[0])
        if "validationToken" not in request.query_params:
            answers.append(got)
        return Response(got.body, status_code=got.status, media_type=got.content_type, headers=got.headers)

    app = Starlette(routes=[Route("/api/notifications", notifications, methods=["POST"])])
    with BackgroundServer(app, name="hooks") as server, closing(SqliteStore(path)) as store:
        settings = load_settings(env | {"COPROD_PUBLIC_URL": server.url})
        with GraphClient.from_settings(settings) as graph:
            yield Hooked(emulator, settings, SharePointLists(graph, settings.site_id), Subscriptions(graph), store,
                         answers, shift)


def whole_second_now() -> datetime:
    return datetime.fromtimestamp(math.floor(time.time()) + 0.5, UTC)  # Graph keeps whole seconds


def recorded(hooked: Hooked) -> dict[str, Any]:
    return json.loads(hooked.store.checkpoints.get(KNOWN) or "{}")  # type: ignore[no-any-return]


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
    hooked.store.checkpoints.set(KNOWN, "")
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
def services(hooked: Hooked, clock: FakeClock) -> Iterator[Services]:
    with Services.open(hooked.settings, clock=clock, sleep=clock.sleep) as opened:
        provision(opened.lists)
        yield opened


def test_renew_uses_the_services_settings_and_clock(hooked: Hooked, services: Services, clock: FakeClock) -> None:
    clock.offset = 86400.0
    hooked.emulator.backend.offset += 86400.0
    granted = datetime.fromtimestamp(clock(), UTC) + LIFETIME
    assert [line.split(":")[0] for line in webhooks.renew(services)] == list(LISTS)
    assert webhooks.renew(services) == [f"{name}: subscribed until {granted:%d %B %Y}." for name in LISTS]  # reused
    assert all(s.notification_url == hooked.url for s in hooked.live().values()) and len(hooked.live()) == 5


def test_a_run_after_a_lifecycle_event_first_answers_it_and_the_daily_renewal_answers_what_is_left(
        hooked: Hooked, services: Services) -> None:
    """The run a lifecycle event asks for answers it before reading the lists, saying so; without the event's
    RESUBSCRIBE the run answers nothing; the daily renewal answers what still waits, then renews as ever."""
    webhooks.renew(services)
    gone = hooked.live()["Registrations"].id
    hooked.emulator.backend.subscriptions.delete(gone)
    services.store.checkpoints.set(f"webhooks.lifecycle.subscriptionRemoved.{gone}", "1")
    services.store.checkpoints.set(RESUBSCRIBE, "1")
    said: list[str] = []
    assert webhooks.notified_run(services, said.append) is True
    granted = datetime.fromtimestamp(services.clock(), UTC) + LIFETIME
    assert said[0] == f"Registrations: subscribed until {granted:%d %B %Y}."
    assert len(hooked.live()) == 5 and services.store.checkpoints.get(RESUBSCRIBE) == ""
    assert services.store.checkpoints.get(f"webhooks.lifecycle.subscriptionRemoved.{gone}") == ""
    assert len(said) > 1 and all(isinstance(line, str) and line for line in said)
    gone = hooked.live()["Sessions"].id
    hooked.emulator.backend.subscriptions.delete(gone)
    services.store.checkpoints.set(f"webhooks.lifecycle.subscriptionRemoved.{gone}", "1")
    assert webhooks.notified_run(services, said.append) is True
    assert "Sessions" not in hooked.live()  # no RESUBSCRIBE since: nothing answered before the run
    assert services.store.checkpoints.get(f"webhooks.lifecycle.subscriptionRemoved.{gone}") == "1"
    lines = webhooks.renew(services)
    assert lines[0] == f"Sessions: subscribed until {granted:%d %B %Y}."
    assert [line.split(":")[0] for line in lines[1:]] == list(LISTS) and len(hooked.live()) == 5
    assert services.store.checkpoints.get(f"webhooks.lifecycle.subscriptionRemoved.{gone}") == ""


def test_a_run_after_a_notification_says_so_when_another_run_holds_the_lease(services: Services) -> None:
    assert services.store.leases.acquire(LEASE, "another-instance", 600)
    said: list[str] = []
    assert webhooks.notified_run(services, said.append) is False


# --- lifecycle events (Microsoft's "Reduce missing subscriptions and change notifications") ---------------------------

REAUTHORIZE = "POST /subscriptions/{subscription}/reauthorize"
RENEW = "PATCH /subscriptions/{subscription}"
CREATE = "POST /subscriptions"


def waiting(store: SqliteStore, event: str, subscription: str) -> str | None:
    return store.checkpoints.get(f"webhooks.lifecycle.{event}.{subscription}")


def test_each_lifecycle_event_is_written_down_for_its_run_one_checkpoint_per_event_and_subscription(
        hooks: SqliteStore) -> None:
    """reauthorizationRequired and subscriptionRemoved wait for the run (a Graph call answers them), each in a
    checkpoint of its own, so two instances writing two events never overwrite each other; missed asks for its
    list to be read whole (coprod.lists.resync); an event we don't know, or a change, writes nothing."""
    from coprod.lists import resync

    batch = [note("sub-1", lifecycleEvent="reauthorizationRequired"),
             note("sub-2", lifecycleEvent="subscriptionRemoved"), note("sub-2", lifecycleEvent="missed"),
             note("sub-1", lifecycleEvent="somethingNew"), note("sub-1")]
    got = receive({}, body(*batch), hooks, SIGNER, NOW)
    assert (got.status, got.run, got.resubscribe, got.after) == (202, True, True, None)
    assert {(event, sub): waiting(hooks, event, sub)
            for event in ("reauthorizationRequired", "subscriptionRemoved", "missed", "somethingNew")
            for sub in ("sub-1", "sub-2") if waiting(hooks, event, sub) is not None} == {
        ("reauthorizationRequired", "sub-1"): "1", ("subscriptionRemoved", "sub-2"): "1"}
    assert resync.asked(hooks, LISTS) == {"Registrations"}


@pytest.mark.parametrize(("event", "waits"), [("missed", False), ("subscriptionRemoved", True)])
def test_missed_asks_for_a_whole_read_and_a_run_and_waits_for_no_answer(hooks: SqliteStore, event: str,
                                                                        waits: bool) -> None:
    from coprod.lists import resync

    got = receive({}, body(note("sub-1", lifecycleEvent=event)), hooks, SIGNER, NOW)
    assert (got.status, got.run, got.resubscribe) == (202, True, waits)
    assert resync.asked(hooks, LISTS) == ({"Sessions"} if event == "missed" else set())
    assert waiting(hooks, event, "sub-1") == ("1" if waits else None)


def test_a_forged_or_unknown_lifecycle_event_writes_nothing_down_and_a_genuine_one_after_it_is(
        hooks: SqliteStore) -> None:
    from coprod.lists import resync

    forged = [note("sub-1", "forged", lifecycleEvent="reauthorizationRequired"),
              note("sub-2", None, lifecycleEvent="subscriptionRemoved"),
              note("sub-2", "forged", lifecycleEvent="missed"),
              note("sub-9", lifecycleEvent="reauthorizationRequired"), note("sub-9", lifecycleEvent="missed")]
    got = receive({}, body(*forged), hooks, SIGNER, NOW)
    assert (got.status, got.run, got.resubscribe) == (202, False, False)
    assert [waiting(hooks, event, sub) for event in ("reauthorizationRequired", "subscriptionRemoved")
            for sub in ("sub-1", "sub-2", "sub-9")] == [None] * 6
    assert resync.asked(hooks, [*LISTS, "Old"]) == set()
    got = receive({}, body(*forged, note("sub-1", lifecycleEvent="missed")), hooks, SIGNER, NOW)
    assert (got.status, got.run, got.resubscribe) == (202, True, False)
    assert resync.asked(hooks, [*LISTS, "Old"]) == {"Sessions"}
    assert [waiting(hooks, event, sub) for event in ("reauthorizationRequired", "subscriptionRemoved")
            for sub in ("sub-1", "sub-2", "sub-9")] == [None] * 6


def test_reauthorization_required_far_from_expiry_is_answered_by_reauthorizing_once(hooked: Hooked) -> None:
    """subscription-reauthorize: the expiry unchanged, delivery resumed; taken before it is answered, so a rerun
    answers nothing twice."""
    for name in LISTS:
        hooked.lists.create_list(name)
    now = whole_second_now()
    hooked.ensure(now)
    before = recorded(hooked)
    sub = hooked.event("Registrations", "reauthorizationRequired")
    assert hooked.live()["Registrations"].paused and waiting(hooked.store, "reauthorizationRequired", sub) == "1"
    assert hooked.answer(now) == ["Registrations: reauthorized."]
    assert hooked.calls(REAUTHORIZE) == [f"/subscriptions/{sub}/reauthorize"] and hooked.calls(RENEW) == []
    assert not hooked.live()["Registrations"].paused and recorded(hooked) == before
    assert waiting(hooked.store, "reauthorizationRequired", sub) == ""
    assert hooked.answer(now) == [] and len(hooked.calls(REAUTHORIZE)) == 1
    assert hooked.believed("Registrations")


def test_a_subscription_due_for_renewal_anyway_is_renewed_which_reauthorizes_it_too(hooked: Hooked) -> None:
    """Within RENEW_WITHIN of its expiry a PATCH answers the challenge (it reauthorizes as well), never both: the
    docs warn against a reauthorize and an update of one subscription within 10 minutes. One second further
    from expiry, it is reauthorized."""
    for name in LISTS:
        hooked.lists.create_list(name)
    now = whole_second_now()
    hooked.ensure(now)
    expires = datetime.fromtimestamp(recorded(hooked)["Registrations"]["expires"], UTC)
    at = expires - RENEW_WITHIN
    hooked.emulator.backend.offset += (at - now).total_seconds()
    hooked.event("Registrations", "reauthorizationRequired")
    assert hooked.answer(at - timedelta(seconds=1)) == ["Registrations: reauthorized."]
    sub = hooked.event("Registrations", "reauthorizationRequired")
    granted = (at + LIFETIME).replace(microsecond=0)
    assert hooked.answer(at) == [f"Registrations: reauthorized and renewed until {granted:%d %B %Y}."]
    assert len(hooked.calls(REAUTHORIZE)) == 1 and hooked.calls(RENEW) == [f"/subscriptions/{sub}"]
    assert recorded(hooked)["Registrations"] == {"id": sub, "expires": granted.timestamp()}
    assert not hooked.live()["Registrations"].paused and hooked.believed("Registrations")


def test_a_refused_reauthorization_falls_back_to_a_renewal(hooked: Hooked, caplog: pytest.LogCaptureFixture) -> None:
    for name in LISTS:
        hooked.lists.create_list(name)
    now = whole_second_now()
    hooked.ensure(now)
    sub = hooked.event("Registrations", "reauthorizationRequired")
    hooked.emulator.add_fault(path="/reauthorize$", status=403, code="accessDenied", count=1)
    with caplog.at_level(logging.WARNING, logger=LOG):
        lines = hooked.answer(now)
    granted = (now + LIFETIME).replace(microsecond=0)
    assert lines == [f"Registrations: reauthorized and renewed until {granted:%d %B %Y}."]
    assert hooked.calls(RENEW) == [f"/subscriptions/{sub}"]
    [warned] = messages(caplog)
    assert warned.startswith("Registrations: reauthorizing failed (reauthorize a subscription: HTTP 403 accessDenied")
    assert warned.endswith("); renewing instead")
    assert recorded(hooked)["Registrations"] == {"id": sub, "expires": granted.timestamp()}
    assert not hooked.live()["Registrations"].paused and hooked.believed("Registrations")


def test_a_challenged_subscription_that_is_gone_is_made_again_without_a_renewal(hooked: Hooked) -> None:
    """Far from expiry the reauthorize finds it gone: made again at once, with no PATCH (it would find nothing
    either); near expiry the PATCH finds it gone: made again."""
    for name in LISTS:
        hooked.lists.create_list(name)
    now = whole_second_now()
    hooked.ensure(now)
    granted = (now + LIFETIME).replace(microsecond=0)
    gone_ids = []
    for name, at in (("Registrations", now), ("Sessions", now + LIFETIME - RENEW_WITHIN)):
        gone = hooked.event(name, "reauthorizationRequired")
        gone_ids.append(gone)
        hooked.emulator.backend.subscriptions.delete(gone)
        hooked.emulator.backend.offset = (at - now).total_seconds()
        made = (at + LIFETIME).replace(microsecond=0)
        assert hooked.answer(at) == [f"{name}: subscribed until {made:%d %B %Y}."]
        again = hooked.live()[name].id
        assert again != gone and recorded(hooked)[name] == {"id": again, "expires": made.timestamp()}
        assert hooked.believed(name)
    assert hooked.calls(REAUTHORIZE) == [f"/subscriptions/{gone_ids[0]}/reauthorize"]
    assert hooked.calls(RENEW) == [f"/subscriptions/{gone_ids[1]}"] and len(hooked.live()) == 5
    assert recorded(hooked)["Updates"]["expires"] == granted.timestamp()  # the others untouched


def test_subscription_removed_is_made_again_reusing_one_made_meanwhile_never_the_removed_one(hooked: Hooked) -> None:
    for name in LISTS:
        hooked.lists.create_list(name)
    now = whole_second_now()
    hooked.ensure(now)
    granted = (now + LIFETIME).replace(microsecond=0)
    gone = hooked.event("Registrations", "subscriptionRemoved")
    assert "Registrations" not in hooked.live()
    assert hooked.answer(now) == [f"Registrations: subscribed until {granted:%d %B %Y}."]
    again = hooked.live()["Registrations"].id
    assert again != gone and recorded(hooked)["Registrations"]["id"] == again and len(hooked.live()) == 5
    assert waiting(hooked.store, "subscriptionRemoved", gone) == "" and hooked.believed("Registrations")
    # made meanwhile (the daily timer's, Graph reporting it with a leading slash): reused, not made twice
    gone = hooked.event("Sessions", "subscriptionRemoved")
    sessions = hooked.lists.find_list("Sessions")
    assert sessions is not None
    meanwhile = hooked.subscriptions.create(f"sites/{hooked.settings.site_id}/lists/{sessions.id}", hooked.url,
                                            client_state(SIGNER), now + LIFETIME, lifecycle_url=hooked.url)
    hooked.live()["Sessions"].resource = "/" + hooked.live()["Sessions"].resource
    creates = len(hooked.calls(CREATE))
    assert hooked.answer(now) == [f"Sessions: subscribed until {granted:%d %B %Y}."]
    assert len(hooked.calls(CREATE)) == creates and recorded(hooked)["Sessions"]["id"] == meanwhile.id
    # Graph still listing the one it said it removed: that one is not reused
    still = hooked.live()["Updates"].id
    hooked.store.checkpoints.set(f"webhooks.lifecycle.subscriptionRemoved.{still}", "1")
    assert hooked.answer(now) == [f"Updates: subscribed until {granted:%d %B %Y}."]
    assert recorded(hooked)["Updates"]["id"] not in (still, None) and len(hooked.calls(CREATE)) == creates + 1


def test_an_answer_that_fails_is_put_back_for_the_next(hooked: Hooked, caplog: pytest.LogCaptureFixture) -> None:
    for name in LISTS:
        hooked.lists.create_list(name)
    now = whole_second_now()
    hooked.ensure(now)
    before = recorded(hooked)
    gone = hooked.event("Registrations", "subscriptionRemoved")
    hooked.store.checkpoints.set(f"webhooks.lifecycle.reauthorizationRequired.{gone}", "1")  # came before it
    hooked.emulator.add_fault(path="^/subscriptions$", method="POST", status=400, code="InvalidRequest", count=1)
    with caplog.at_level(logging.WARNING, logger=LOG):
        [line] = hooked.answer(now)
    assert line.startswith("Registrations: reauthorizationRequired and subscriptionRemoved not answered yet: "
                           "subscribe to list changes: HTTP 400")
    [warned] = messages(caplog)
    assert warned.startswith("Registrations: could not answer reauthorizationRequired and subscriptionRemoved: "
                             "subscribe to list changes: HTTP 400")
    assert [waiting(hooked.store, event, gone) for event in ("reauthorizationRequired", "subscriptionRemoved")] == [
        "1", "1"]
    assert recorded(hooked) == before and hooked.calls(REAUTHORIZE) == []  # removed: made again, not reauthorized
    granted = (now + LIFETIME).replace(microsecond=0)
    assert hooked.answer(now) == [f"Registrations: subscribed until {granted:%d %B %Y}."]
    assert waiting(hooked.store, "subscriptionRemoved", gone) == "" and len(hooked.live()) == 5


def test_only_recorded_subscriptions_are_answered_and_one_without_a_known_expiry_is_renewed(hooked: Hooked) -> None:
    """A broken record is passed over (the lists after it still answered); a list no longer on the site says
    so; a record with no number for its expiry is renewed (a PATCH reauthorizes too)."""
    for name in LISTS[:-1]:
        hooked.lists.create_list(name)
    now = whole_second_now()
    hooked.ensure(now)
    held = recorded(hooked)
    guests = held["GuestRequests"]["id"]
    held |= {"Sessions": "broken", "GuestRequests": {"id": guests, "expires": "soon"},
             "Updates": {"id": "sub-gone", "expires": 2e9}}
    hooked.store.checkpoints.set(KNOWN, json.dumps(held))
    for event, sub in (("reauthorizationRequired", "broken"), ("reauthorizationRequired", held["Registrations"]["id"]),
                       ("reauthorizationRequired", guests), ("subscriptionRemoved", "sub-gone")):
        hooked.store.checkpoints.set(f"webhooks.lifecycle.{event}.{sub}", "1")
    granted = (now + LIFETIME).replace(microsecond=0)
    assert hooked.answer(now) == [
        "Registrations: reauthorized.", f"GuestRequests: reauthorized and renewed until {granted:%d %B %Y}.",
        "Updates: the list isn't on the site: run `python -m coprod provision` first."]
    assert recorded(hooked)["GuestRequests"] == {"id": guests, "expires": granted.timestamp()}
    assert waiting(hooked.store, "reauthorizationRequired", "broken") == "1"


def test_a_renewal_graph_answers_without_an_expiry_is_recorded_as_asked(hooks: SqliteStore) -> None:
    """subscription-update answers with the subscription, its expirationDateTime among the rest; were it missing,
    the expiry asked for is what is recorded (as when subscribing)."""
    from graph_client import Subscription

    class Answers:
        def renew(self, subscription_id: str, expiration: datetime) -> Subscription:
            return Subscription(id=subscription_id, resource="sites/s/lists/l")

    now = datetime.fromtimestamp(NOW, UTC)
    hooks.checkpoints.set(KNOWN, json.dumps({"Sessions": {"id": "sub-1", "expires": NOW + 3600}}))
    hooks.checkpoints.set("webhooks.lifecycle.reauthorizationRequired.sub-1", "1")
    lines = webhooks.answer_lifecycle(Answers(), None, hooks, SIGNER, "https://council.example.org", now)  # type: ignore[arg-type]
    assert lines == [f"Sessions: reauthorized and renewed until {now + LIFETIME:%d %B %Y}."]
    assert recorded_in(hooks)["Sessions"] == {"id": "sub-1", "expires": (now + LIFETIME).timestamp()}


def recorded_in(store: SqliteStore) -> dict[str, Any]:
    return json.loads(store.checkpoints.get(KNOWN) or "{}")  # type: ignore[no-any-return]


def test_subscriptions_are_changed_by_one_instance_at_a_time(hooks: SqliteStore) -> None:
    """The SUBSCRIBING lease: an instance that finds it held changes nothing and leaves RESUBSCRIBE for the holder,
    who looks at it after letting go and goes round again (at most MAX_ROUNDS) for what came meanwhile."""
    def work(again: int) -> Callable[[], list[str]]:
        def one() -> list[str]:
            lease = hooks.leases.get(webhooks.SUBSCRIBING)
            assert lease is not None and lease.expires == NOW + 300.0
            assert hooks.checkpoints.get(RESUBSCRIBE) == ""
            calls.append(lease.holder)
            if len(calls) <= again:
                hooks.checkpoints.set(RESUBSCRIBE, "1")  # a lifecycle event came meanwhile
            return [f"round {len(calls)}"]
        return one

    calls: list[str] = []
    hooks.checkpoints.set(RESUBSCRIBE, "1")
    assert webhooks._one_at_a_time(hooks, work(1)) == ["round 1", "round 2"]
    assert len(set(calls)) == 1 and hooks.leases.get(webhooks.SUBSCRIBING) is None
    assert hooks.checkpoints.get(RESUBSCRIBE) == ""
    calls.clear()
    assert webhooks._one_at_a_time(hooks, work(9)) == ["round 1", "round 2", "round 3"]
    assert hooks.checkpoints.get(RESUBSCRIBE) == "1"  # left for the next
    assert hooks.leases.acquire(webhooks.SUBSCRIBING, "another-instance", 60)
    calls.clear()
    assert webhooks._one_at_a_time(hooks, work(0)) == [
        "Subscriptions: another instance is changing them, and answers what came meanwhile."]
    assert calls == [] and hooks.checkpoints.get(RESUBSCRIBE) == "1"
    hooks.leases.release(webhooks.SUBSCRIBING, "another-instance")

    def failing() -> list[str]:
        raise GraphError("renew a subscription", "Graph said no")

    with pytest.raises(GraphError):
        webhooks._one_at_a_time(hooks, failing)
    assert hooks.leases.get(webhooks.SUBSCRIBING) is None
