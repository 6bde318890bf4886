"""`$batch` envelopes in flight together (COPROD_GRAPH_CONCURRENCY, issue 33): never more than the lanes, every
answer matched to its request, a throttled answer holding every lane, and nothing sent twice.

The lanes themselves are tested alone (order, width, hold, an error waiting for what is in flight); then the real
client against the emulator over HTTPS, where every `$batch` takes the time a real tenant's does (the emulator's
latency for the operation kind), through a transport that notes when each request went and came back.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from config import Settings
from graph_client import FieldUpdate, GraphClient, SharePointLists
from graph_client._batch import Lanes
from graph_emulator import EmulatorServer
from graph_emulator.core.faults import FaultRule

# --- the lanes alone -------------------------------------------------------------------------------------------


def test_answers_come_back_in_the_items_order_whatever_order_they_finish_in() -> None:
    lanes = Lanes(4)
    try:
        assert lanes.map(lambda n: (time.sleep(0.01 * (5 - n)), n)[1], [0, 1, 2, 3, 4]) == [0, 1, 2, 3, 4]
    finally:
        lanes.close()


@pytest.mark.parametrize("width", [1, 3])
def test_never_more_calls_at_once_than_lanes(width: int) -> None:
    lanes, lock, now, most = Lanes(width), threading.Lock(), [0], [0]

    def call(_: int) -> None:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.02)
        with lock:
            now[0] -= 1

    try:
        lanes.map(call, list(range(12)))
    finally:
        lanes.close()
    assert most[0] <= width
    assert most[0] >= (2 if width > 1 else 1)  # and they do run together


def test_a_hold_keeps_every_lane_from_starting_until_it_has_passed() -> None:
    clock = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        clock[0] += seconds

    lanes = Lanes(2, sleep=sleep, clock=lambda: clock[0])
    lanes.hold(5)
    lanes.hold(2)  # a shorter one asked later does not shorten it
    lanes.map(lambda n: n, [1])  # one item runs on the caller's thread, but waits its turn too
    assert slept == [5.0]
    assert lanes.remaining(9) == 0  # the caller's wait between rounds: already over
    lanes.hold(4)
    assert lanes.remaining(3) == 3 and lanes.remaining(3) == 0  # the lesser of the two; then released
    one = Lanes(1, sleep=sleep, clock=lambda: clock[0])
    one.hold(5)
    assert one.remaining(7) == 7  # one lane: the caller waits the whole of it, as before there were lanes


def test_an_error_waits_for_the_calls_in_flight_and_sends_nothing_more() -> None:
    lanes, started, finished = Lanes(2), [], []
    gate = threading.Event()

    def call(n: int) -> int:
        started.append(n)
        if n == 0:
            gate.wait(1)
            raise RuntimeError("refused")
        gate.set()
        time.sleep(0.05)
        finished.append(n)
        return n

    try:
        with pytest.raises(RuntimeError, match="refused"):
            lanes.map(call, list(range(20)))
        assert 1 in finished  # the call in flight beside it finished before the error was raised
        assert len(started) < 20  # and the rest were never started
        assert set(started) - set(finished) == {0}
    finally:
        lanes.close()


# --- the client, over HTTPS, against the emulator -----------------------------------------------------------


@dataclass
class Sent:
    path: str
    start: float
    end: float
    status: int


class Noting(httpx.BaseTransport):
    """The real transport, noting when each request went and when its answer came."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.sent, self._lock = inner, list[Sent](), threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        start = time.monotonic()
        response = self.inner.handle_request(request)
        response.read()
        with self._lock:
            self.sent.append(Sent(request.url.path, start, time.monotonic(), response.status_code))
        return response

    def envelopes(self) -> list[Sent]:
        return sorted((s for s in self.sent if s.path.endswith("/$batch")), key=lambda s: s.start)


@pytest.fixture
def noting(settings: Settings) -> Noting:
    verify = ssl.create_default_context(cafile=str(settings.ca_bundle)) if settings.ca_bundle else True
    return Noting(httpx.HTTPTransport(verify=verify))


def client(settings: Settings, noting: Noting, lanes: int) -> GraphClient:
    return GraphClient.from_settings(settings, transport=noting, concurrency=lanes)


def most_at_once(sent: list[Sent]) -> int:
    """The most requests between going and coming back at one moment (an answer before a start at the same time)."""
    events = sorted([(s.start, 1) for s in sent] + [(s.end, -1) for s in sent], key=lambda e: (e[0], e[1]))
    now = most = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


@pytest.fixture
def items(settings: Settings) -> Iterator[tuple[str, list[str]]]:
    with GraphClient.from_settings(settings) as graph:
        lists = SharePointLists(graph, settings.site_id)
        list_id = lists.create_list("Registrations", [{"name": "Email", "text": {}}]).id
        yield list_id, [lists.create_item(list_id, {"Title": f"P{n}"}).id for n in range(160)]


def test_eight_envelopes_go_four_at_a_time_and_every_item_is_written_once(
        emulator: EmulatorServer, settings: Settings, noting: Noting, items: tuple[str, list[str]]) -> None:
    list_id, ids = items
    emulator.backend.faults.add(FaultRule(kind="batch", latency_ms=400))  # a real tenant's round trip
    with client(settings, noting, 4) as graph:
        answers = SharePointLists(graph, settings.site_id).update_fields(
            list_id, [FieldUpdate(i, {"Email": f"p{i}@example.org"}) for i in ids])
        assert graph.stats["requests"] == 8  # exact, though four threads counted them
    assert sorted(answers) == sorted(ids) and all(answer.ok for answer in answers.values())
    envelopes = noting.envelopes()
    assert len(envelopes) == 8
    assert 2 <= most_at_once(envelopes) <= 4
    written = [e for e in emulator.backend.log.snapshot() if e.method == "PATCH" and e.path.endswith("/fields")]
    assert len(written) == 160 and len({e.path for e in written}) == 160  # each item once


def test_one_lane_sends_them_one_after_another(emulator: EmulatorServer, settings: Settings, noting: Noting,
                                               items: tuple[str, list[str]]) -> None:
    list_id, ids = items
    emulator.backend.faults.add(FaultRule(kind="batch", latency_ms=50))
    with client(settings, noting, 1) as graph:
        SharePointLists(graph, settings.site_id).update_fields(list_id, [FieldUpdate(i, {"Email": "x@example.org"})
                                                                         for i in ids])
    assert most_at_once(noting.envelopes()) == 1


def test_a_throttled_envelope_holds_every_lane_until_its_retry_after(
        emulator: EmulatorServer, settings: Settings, noting: Noting, items: tuple[str, list[str]]) -> None:
    """SharePoint throttles the app, not one connection: after a 429, no lane sends again before its Retry-After;
    the refused envelope's entries go again after it, and every item is written exactly once."""
    list_id, ids = items
    emulator.backend.faults.add(FaultRule(kind="batch", latency_ms=300))
    emulator.backend.faults.add(FaultRule(kind="batch", status=429, retry_after=2, count=1))
    with client(settings, noting, 4) as graph:
        answers = SharePointLists(graph, settings.site_id).update_fields(
            list_id, [FieldUpdate(i, {"Email": "y@example.org"}) for i in ids])
        assert graph.stats["throttled"] == 1 + 20  # the envelope, then its 20 entries as they went again
    assert all(answer.ok for answer in answers.values())
    envelopes = noting.envelopes()
    [refused] = [s for s in envelopes if s.status == 429]
    after = [s for s in envelopes if s.start > refused.end]
    assert after and all(s.start >= refused.end + 1.9 for s in after)  # (the time's own resolution aside)
    assert len(envelopes) == 9  # eight, and the refused one once more
    written = [e for e in emulator.backend.log.snapshot() if e.method == "PATCH" and e.path.endswith("/fields")]
    assert len(written) == 160 and len({e.path for e in written}) == 160


def test_a_kind_the_emulator_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        FaultRule(kind="teleport", latency_ms=1)
