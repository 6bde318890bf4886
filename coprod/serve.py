"""What `python -m coprod serve` adds around the public pages on this machine, so that it behaves as the function
app does in Azure: an index page at `/` and `GET /api/health` (in Azure the Functions host serves those routes);
Graph's change notifications at `POST /api/notifications` with their consumer in this process; and a run of the
sync on the function app's timer schedule (`COPROD_SYNC_SCHEDULE`, every 5 minutes unless set), so a booking or
a cancellation made on the pages is acted on with nothing more to run."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from coprod.operating.health import health
from coprod.pages.app import BASE, SECURITY_HEADERS
from coprod.templates import render_page

__all__ = ["SyncTimer", "live_app", "local_app", "subscribe_when_up", "sync_interval"]

DEFAULT_MINUTES = 5.0


def local_app(pages: ASGIApp, programme: str, site_name: str,
              notifications: Callable[[Request], Awaitable[Response]] | None = None) -> ASGIApp:
    """`pages` (the public pages' app) with `/` and `/api/health` beside it, and `POST /api/notifications` when
    given (Graph's change notifications, as the function app takes them)."""

    async def index(request: Request) -> Response:
        html = render_page("index", base=BASE, programme=programme, site_name=site_name, error_summary=None)
        return HTMLResponse(html, headers=SECURITY_HEADERS)

    async def health_route(request: Request) -> Response:
        status, body = health()
        return JSONResponse(body, status_code=status)

    routes = [Route("/", index, methods=["GET", "HEAD"]), Route("/api/health", health_route, methods=["GET", "HEAD"])]
    if notifications is not None:
        routes.append(Route("/api/notifications", notifications, methods=["POST"]))
    return Starlette(routes=[*routes, Mount("/", app=pages)])


def live_app(settings: Any) -> tuple[Any, Any]:
    """The pages with /, /api/health and /api/notifications, and the started consumer of the notifications."""
    from coprod.pages.app import create_web_app
    from coprod.realtime.webhooks import AzureQueue, LocalQueue, consume
    from coprod.runtime import web_context

    context = web_context(settings)
    queue: Any
    if settings.state.startswith("sqlite:"):
        queue = LocalQueue(lambda: consume(lambda: notified_run_once(settings), lambda: queue.latest, time.time))
    else:  # the state is on Azure Storage: its queue (Azurite's locally), as the function app's consumer reads
        queue = AzureQueue.for_state(settings.state, lambda latest: consume(lambda: notified_run_once(settings),
                                                                            lambda: latest, time.time),
                                     settings.client_id if settings.use_managed_identity else None)
    queue.start()
    app = local_app(create_web_app(lambda: context), settings.programme_name, settings.site_name,
                    notifications_route(context, queue))
    return app, queue


def notifications_route(context: Any, queue: Any) -> Any:
    """POST /api/notifications, as the function app answers it; a good one wakes the consumer."""
    from starlette.responses import Response

    from coprod.realtime.webhooks import NOSNIFF, RESUBSCRIBE, read_body, receive

    async def notifications(request: Request) -> Response:
        began = time.perf_counter()
        body = await read_body(request.headers.get("content-length"), request.stream())  # None: over the limit
        if body is None:
            return Response(status_code=413, media_type="text/plain", headers=NOSNIFF)
        got = receive(dict(request.query_params), body, context.store, context.signer, time.time())
        if got.resubscribe:
            context.store.checkpoints.set(RESUBSCRIBE, "1")
        if got.run:
            queue.put(got.after or time.time())
        # the endpoint's own time, beside the round trip a client sees (W3C Server Timing; this local server only)
        took = f"app;dur={(time.perf_counter() - began) * 1000:.2f}"
        return Response(got.body, status_code=got.status, media_type=got.content_type,
                        headers=got.headers | {"Server-Timing": took})

    return notifications


def notified_run_once(settings: Any) -> bool:
    """One run after notifications (renewing the subscriptions first after a lifecycle event)."""
    from coprod.realtime.webhooks import notified_run
    from coprod.runtime import Services

    with Services.open(settings) as services:
        return notified_run(services, lambda line: print(f"  {line}", flush=True))


def subscribe_when_up(server: Any, settings: Any) -> None:
    """Once the server answers, subscribe to the lists (Graph checks our endpoint first): one line either way."""
    from coprod.realtime.webhooks import renew
    from coprod.running import describe
    from coprod.runtime import Services

    while not server.started:
        time.sleep(0.05)
    try:
        with Services.open(settings) as services:
            lines = renew(services)
        print("Listening for list changes: " + " ".join(lines), flush=True)
    except Exception as error:  # the pages still work; the timer's runs still come
        print(f"coprod: not subscribed to list changes ({describe(error)}); changes wait for `sync`", flush=True)


def sync_interval(schedule: str) -> float:
    """Seconds between the timer's runs, from its NCRONTAB schedule: `0 */N * * * *` is every N minutes, `0 M * * * *`
    once an hour, a TimeSpan `hh:mm:ss` as it says; any other schedule, every 5 minutes (`serve` says which)."""
    fields = schedule.split()
    span = re.fullmatch(r"(\d{1,2}):(\d{2}):(\d{2})", schedule.strip())
    if span:
        hours, minutes, seconds = (int(part) for part in span.groups())
        return float(max(60, hours * 3600 + minutes * 60 + seconds))
    if len(fields) == 6 and fields[2:] == ["*"] * 4:
        every = re.fullmatch(r"\*/(\d{1,2})", fields[1])
        if every and 0 < int(every.group(1)) <= 60:
            return int(every.group(1)) * 60.0
        if fields[1].isdigit():
            return 3600.0
    return DEFAULT_MINUTES * 60


class SyncTimer:
    """The function app's timer, in this process: a run every `seconds` (the first at once), each held by the run's
    lease as in Azure (a notified run or `sync` at the same time waits its turn). A run that fails says why in one
    line and the next comes as usual."""

    def __init__(self, settings: Any, seconds: float, say: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.seconds = seconds
        self.say = say or (lambda line: print(line, flush=True))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="coprod-sync-timer", daemon=True)
        self.runs = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _loop(self) -> None:
        from coprod.run import run_held
        from coprod.running import describe
        from coprod.runtime import Services

        while not self._stop.is_set():
            started = time.monotonic()
            try:
                with Services.open(self.settings) as services:
                    result = run_held(services)
                self.say("  Timer run: " + (result.busy or "; ".join(result.lines)))
            except Exception as error:  # the next run comes as usual
                print(f"coprod: the timer's run stopped: {describe(error)}", file=sys.stderr, flush=True)
            self.runs += 1
            self._stop.wait(max(1.0, self.seconds - (time.monotonic() - started)))
