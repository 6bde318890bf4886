"""Telemetry to Azure Monitor (Application Insights) through OpenTelemetry, only when it is configured.

With `APPLICATIONINSIGHTS_CONNECTION_STRING` set, `configure()` loads azure-monitor-opentelemetry and then:
- a span per run (`coprod.run`: whether it held the lease, its outcome), per `provision` and `check`, and per
  Graph request (its operation in
  words, method, status, duration and Graph's request id; never a URL, a query string or a body);
- counters: `coprod.emails` (outcome sent, failed), `coprod.invitations`, `coprod.registrations` (status),
  `coprod.graph.throttled` (429s met), `coprod.drift` (list, by list: differences a whole read found that the
  change feed never reported);
- none of the library instrumentations (httpx, requests, urllib, urllib3, the Azure SDK, web frameworks): each
  would record URLs, and ours carry addresses in `$filter`s and tokens in links. Logs reach Application Insights
  through the Functions host, so the distro's log exporter is off too.

Without the setting nothing is imported beyond this module (`import function_app` stays light), and every call
here is a no-op. With `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` (`ClientId=...;Authorization=AAD`, as the
deployment in infra/ sets it) telemetry is published as the managed identity, and the resource's local
authentication can stay off.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["SETTING", "configure", "configured", "count", "flush", "run_span"]

SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
AUTHENTICATION = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"  # `ClientId=<identity>;Authorization=AAD` (infra/)
_INSTRUMENTATIONS = ("azure_sdk", "django", "fastapi", "flask", "httpx", "httpx2", "psycopg2", "requests", "urllib",
                     "urllib3")
_lock = threading.Lock()
_state: dict[str, Any] = {}


def configured() -> bool:
    return bool(_state)


def configure(environ: dict[str, str] | None = None, *, providers: tuple[Any, Any] | None = None) -> bool:
    """Set telemetry up once per process when the setting is there; True when it is on.

    `providers` (a TracerProvider and a MeterProvider) replace Azure Monitor's: the tests export to memory."""
    env = os.environ if environ is None else environ
    with _lock:
        if _state:
            return True
        if providers is None:
            connection = env.get(SETTING, "").strip()
            if not connection:
                return False
            from azure.monitor.opentelemetry import configure_azure_monitor

            # Every span is kept (a run every few minutes is little), unless the admin chose a sampler with
            # OTEL_TRACES_SAMPLER; the distro's default keeps 5 traces a second, which drops parts of a run.
            options: dict[str, Any] = {} if env.get("OTEL_TRACES_SAMPLER") else {"sampling_ratio": 1.0}
            identity = _entra_client_id(env.get(AUTHENTICATION, ""))
            if identity is not None:  # Application Insights with local authentication off: publish as the identity
                from azure.identity import ManagedIdentityCredential

                options["credential"] = ManagedIdentityCredential(client_id=identity or None)
            configure_azure_monitor(connection_string=connection, disable_logging=True, **options,
                                    instrumentation_options={name: {"enabled": False} for name in _INSTRUMENTATIONS})
            from opentelemetry import metrics, trace

            tracer, meter = trace.get_tracer("coprod"), metrics.get_meter("coprod")
            _state["providers"] = (trace.get_tracer_provider(), metrics.get_meter_provider())
        else:
            tracer, meter = providers[0].get_tracer("coprod"), providers[1].get_meter("coprod")
        _state.update(tracer=tracer, emails=meter.create_counter("coprod.emails", description="emails by outcome"),
                      invitations=meter.create_counter("coprod.invitations", description="guest invitations sent"),
                      registrations=meter.create_counter("coprod.registrations",
                                                         description="registrations decided, by new status"),
                      throttled=meter.create_counter("coprod.graph.throttled", description="429 answers met"),
                      drift=meter.create_counter("coprod.drift", description="differences a whole read of a list "
                                                 "found that the change feed never reported"))
        from graph_client import observe

        _state["stop"] = observe(_graph_span)
        return True


def flush(timeout_seconds: float = 10) -> None:
    """Send what is waiting before the process ends (the CLI's last step; the Functions host keeps running)."""
    if not _state or "providers" not in _state:
        return
    for provider in _state["providers"]:
        provider.force_flush(int(timeout_seconds * 1000))


def _entra_client_id(authentication: str) -> str | None:
    """The managed identity's client id in `ClientId=...;Authorization=AAD` ("" for the system-assigned one), or
    None when telemetry is sent with the connection string's key."""
    parts = dict(part.split("=", 1) for part in authentication.split(";") if "=" in part)
    if parts.get("Authorization", "").strip().upper() != "AAD":
        return None
    return parts.get("ClientId", "").strip()


def reset() -> None:
    """Stop recording (tests)."""
    with _lock:
        stop = _state.get("stop")
        if stop is not None:
            stop()
        _state.clear()


@contextlib.contextmanager
def run_span(name: str = "coprod.run") -> Iterator[Any]:
    """The span of one run or command (None when telemetry is off): the Graph requests inside are its children."""
    if not _state:
        yield None
        return
    with _state["tracer"].start_as_current_span(name) as span:
        yield span


def count(counter: str, n: int, **attributes: str) -> None:
    """Add `n` to one of the counters above, by its short name (`emails`, `invitations`, `registrations`): no-op
    when telemetry is off. Which report counts what is each job's to say (coprod/run/jobs.py)."""
    if _state and n:
        _state[counter].add(n, attributes)


def drift(found: dict[str, int]) -> None:
    """Count what whole reads of the lists found that their change feeds never reported (no-op when off)."""
    for name, n in found.items():
        count("drift", n, list=name)


def _graph_span(call: Any) -> None:
    """A finished Graph request as a span, timed as it was (`call` is a graph_client.CallRecord)."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    start = int(call.started * 1e9)
    # Graph's own attribute names, not the http.* conventions: with those, Azure Monitor names the dependency by
    # its URL, which we never give it
    span = _state["tracer"].start_span(f"Graph: {call.operation}", kind=SpanKind.CLIENT, start_time=start,
                                       attributes={"graph.method": call.method, "graph.operation": call.operation,
                                                   "graph.status": call.status or 0,
                                                   "graph.request_id": call.request_id or ""})
    if call.status is None or call.status >= 400:
        span.set_status(Status(StatusCode.ERROR, f"HTTP {call.status}" if call.status else "no answer"))
    if call.status == 429:
        _state["throttled"].add(1)
    span.end(end_time=start + int(call.seconds * 1e9))
