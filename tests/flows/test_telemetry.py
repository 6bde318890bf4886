"""Telemetry: with APPLICATIONINSIGHTS_CONNECTION_STRING, a span per run and per Graph request, and counters; never a
URL, an address or a query. Without it, nothing of OpenTelemetry is loaded.

One test runs the real Azure Monitor exporter in a child process against a local stand-in for Application
Insights' ingestion endpoint and reads what arrives; the others export to memory."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from coprod.operating import telemetry
from coprod.run import run_held
from graph_emulator import EmulatorServer
from tests.support.programme import Programme, soon

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADDRESSES = ("ann.example@example.org", "ben.example@example.org", "cat.example@example.org")


@pytest.fixture
def memory() -> Iterator[tuple[Any, Any]]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer = TracerProvider()
    tracer.add_span_processor(SimpleSpanProcessor(spans))
    assert telemetry.configure({}, providers=(tracer, MeterProvider(metric_readers=[reader])))
    yield spans, reader
    telemetry.reset()


def book_three(programme: Programme) -> None:
    session = programme.session("Being included", soon(), capacity=2)
    for n, address in enumerate(ADDRESSES):
        programme.register(session, f"Person {n}", Email=address)


def counters(reader: Any) -> dict[tuple[str, tuple[tuple[str, Any], ...]], int]:
    found = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    found[(metric.name, tuple(sorted(point.attributes.items())))] = point.value
    return found


def test_a_run_is_a_span_with_a_child_per_graph_request_and_counters(
        programme: Programme, emulator: EmulatorServer, memory: tuple[Any, Any]) -> None:
    spans, reader = memory
    book_three(programme)
    emulator.add_fault(status=429, path=r"/sendMail", count=1, retry_after=0)
    before = programme.services.graph.stats["requests"]
    result = run_held(programme.services, drain_seconds=600)
    assert not result.busy
    finished = spans.get_finished_spans()
    [run] = [s for s in finished if s.name == "coprod.run"]
    assert run.attributes["coprod.lease_held"] is True and run.attributes["coprod.outcome"] == "done"
    graph = [s for s in finished if s.name.startswith("Graph: ")]
    assert len(graph) == programme.services.graph.stats["requests"] - before  # every request, once
    assert all(s.parent is not None and s.parent.span_id == run.context.span_id for s in graph)
    assert {s.name for s in graph} >= {"Graph: read list changes", "Graph: send an email",
                                       "Graph: create a Teams meeting"}
    assert all(len(str(s.attributes["graph.request_id"])) == 36 for s in graph)  # Graph's request-id, every one
    throttled = [s for s in graph if s.attributes["graph.status"] == 429]
    assert len(throttled) == 1 and throttled[0].status.status_code.name == "ERROR"
    assert counters(reader) == {
        ("coprod.registrations", (("status", "Confirmed"),)): 2,
        ("coprod.registrations", (("status", "Waitlisted"),)): 1,
        ("coprod.emails", (("outcome", "sent"),)): 3,
        ("coprod.graph.throttled", ()): 1}


def test_nothing_recorded_names_a_person_or_a_url(programme: Programme, memory: tuple[Any, Any]) -> None:
    spans, _ = memory
    book_three(programme)
    run_held(programme.services, drain_seconds=600)
    recorded = json.dumps([{"name": s.name, "attributes": dict(s.attributes or {})}
                           for s in spans.get_finished_spans()], default=str)
    for forbidden in (*ADDRESSES, "Person 0", "https://", "$filter", "?", "/sites/", "@"):
        assert forbidden not in recorded, forbidden


def test_a_failing_observer_never_breaks_a_request(programme: Programme) -> None:
    from graph_client import observe

    def broken(record: Any) -> None:
        raise RuntimeError("telemetry down")

    stop = observe(broken)
    try:
        book_three(programme)
        lines = run_held(programme.services, drain_seconds=600).lines
    finally:
        stop()
    assert lines[0].startswith("Registrations: 3 registrations and 1 session read")


def test_without_the_setting_nothing_of_opentelemetry_is_imported() -> None:
    """`import function_app` on a cold start loads no telemetry unless it is configured."""
    env = {k: v for k, v in os.environ.items() if k != telemetry.SETTING}
    code = ("import sys, function_app; "
            "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'azure.monitor'))))")
    command = [sys.executable, "-c", code]
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,  # noqa: S603 - ours
                         check=True).stdout
    assert out.strip() == "[]"


class _Ingestion(BaseHTTPRequestHandler):
    """Application Insights' ingestion endpoint, as far as the exporter needs: it takes each batch."""

    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        items = json.loads(body)
        type(self).received.extend(items if isinstance(items, list) else [items])
        answer = json.dumps({"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_real_exporter_sends_runs_and_graph_calls_and_no_personal_data(emulator: EmulatorServer,
                                                                          env: dict[str, str]) -> None:
    """`python -m coprod sync --once` with the setting: the Azure Monitor exporter's own envelopes, as they arrive."""
    from coprod.cli import main as _  # noqa: F401 - the CLI imports cleanly before the child runs it

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ingestion)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Ingestion.received = []
    try:
        child_env = {**os.environ, **env, telemetry.SETTING: "InstrumentationKey=00000000-0000-0000-0000-000000000001;"
                     f"IngestionEndpoint=http://127.0.0.1:{server.server_address[1]}/",
                     "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true"}
        for command in (["provision"], ["sync", "--once"]):
            argv = [sys.executable, "-m", "coprod", *command]
            subprocess.run(argv, cwd=ROOT, env=child_env, check=True, capture_output=True,  # noqa: S603 - ours
                           timeout=120)
    finally:
        server.shutdown()
    dependencies = [item["data"]["baseData"] for item in _Ingestion.received
                    if item["data"]["baseType"] == "RemoteDependencyData"]
    names = {d["name"] for d in dependencies}
    assert {"coprod.provision", "coprod.run", "Graph: read list changes", "Graph: create the Sessions list"} <= names
    from config import LISTS

    columns = sum(len(schema.columns) for schema in LISTS)
    assert sum(d["name"].startswith("Graph: add column ") for d in dependencies) == columns  # none sampled away
    run = next(d for d in dependencies if d["name"] == "coprod.run")
    assert run["properties"] == {"coprod.lease_held": "True", "coprod.outcome": "done"}
    reads = [d for d in dependencies if d["name"] == "Graph: read list changes"]
    assert all(len(d["properties"]["graph.request_id"]) == 36 for d in reads)
    shipped = json.dumps(_Ingestion.received)
    for forbidden in ("https://127.0.0.1", "$filter", "/sites/", env["M365_CLIENT_SECRET"]):
        assert forbidden not in shipped, forbidden


@pytest.mark.parametrize(("authentication", "client_id"), [
    ("ClientId=0a1b2c3d-0000-0000-0000-000000000000;Authorization=AAD", "0a1b2c3d-0000-0000-0000-000000000000"),
    ("Authorization=AAD", ""),  # the system-assigned identity
    ("", None), ("Authorization=Key", None)])
def test_the_identity_publishes_when_the_deployment_says_so(authentication: str, client_id: str | None) -> None:
    assert telemetry._entra_client_id(authentication) == client_id
