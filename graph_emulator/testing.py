"""Test helpers: the emulator in-process, with no socket, no TLS and no thread.

    from graph_emulator import Backend
    from graph_emulator.testing import IN_PROCESS_BASE, InProcessToken, InProcessTransport

    backend = Backend()
    client = httpx.Client(transport=InProcessTransport(backend), base_url=IN_PROCESS_BASE)

`InProcessTransport` is an `httpx.BaseTransport` that hands each request to
the emulator's own ASGI app (Graph, the token authority and the control
API) and waits for its answer, so a test suite runs in-process and against
the HTTPS server alike, as moto's does. It runs the app on a private event
loop per request: use it from synchronous code. `InProcessToken` gives
bearer tokens straight from the backend's authority, for clients that take a
token source instead of msal.
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import httpx

from graph_emulator.core.app import create_app
from graph_emulator.core.backend import Backend
from graph_emulator.core.serving import BackgroundServer  # any ASGI app (a test's own fake) on loopback, in a thread

__all__ = ["IN_PROCESS_BASE", "AsgiTransport", "BackgroundServer", "InProcessToken", "InProcessTransport"]

IN_PROCESS_BASE = "https://graph.emulator.invalid"


class AsgiTransport(httpx.BaseTransport):
    """Serve httpx requests from any ASGI app, in the calling thread (a sync client; no server, no socket)."""

    def __init__(self, app: Any, client: tuple[str, int] | None = ("127.0.0.1", 50000)) -> None:
        self.app = app
        self.client = client  # the connection's address; None as Microsoft's Functions adapter gives it

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        scope: dict[str, Any] = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request.method,
            "scheme": request.url.scheme, "path": request.url.path, "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query, "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "server": (request.url.host, request.url.port or 443), "client": self.client}
        started: dict[str, Any] = {}
        chunks: list[bytes] = []
        sent = False

        async def receive() -> MutableMapping[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        asyncio.run(self.app(scope, receive, send))
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in started.get("headers", [])]
        return httpx.Response(started["status"], headers=headers, content=b"".join(chunks), request=request)


class InProcessTransport(AsgiTransport):
    """Serve httpx requests from the emulator's ASGI app over `backend`."""

    def __init__(self, backend: Backend) -> None:
        super().__init__(create_app(backend))
        self.backend = backend


class InProcessToken:
    """An access-token source backed by the emulated authority (client credentials with the app's secret)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._token: str | None = None

    def get_token(self, *, force_refresh: bool = False) -> str:
        if force_refresh or self._token is None:
            identity = self.backend.identity
            answer = identity.issue(identity.tenant_id, {
                "grant_type": "client_credentials", "client_id": identity.client_id,
                "client_secret": identity.client_secret, "scope": "https://graph.microsoft.com/.default"}, "")
            self._token = str(answer["access_token"])
        return self._token
