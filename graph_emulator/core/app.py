"""The ASGI app (Starlette): the token authority, Graph (`/v1.0`) and the control API on one origin.

Thin on purpose: every Graph request goes to `GraphService.serve` (in
`http.py`), the same entry point the in-process transport uses; each token
request to `identity/routes.py`; the control API is `control.py`.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute

from graph_emulator.core.backend import Backend
from graph_emulator.core.control import ControlApi, base_of
from graph_emulator.core.http import Call, GraphService, encode_body
from graph_emulator.directory.routes import directory_routes
from graph_emulator.identity.routes import authority_answer
from graph_emulator.mail.routes import mail_routes
from graph_emulator.meetings.routes import meeting_routes
from graph_emulator.sharepoint.routes import sharepoint_routes
from graph_emulator.subscriptions.routes import subscription_routes

__all__ = ["create_app", "graph_service"]


def graph_service(backend: Backend) -> GraphService:
    """Every Graph resource the emulator serves, over one backend."""
    return GraphService(backend, [*sharepoint_routes(backend), *directory_routes(backend), *mail_routes(backend),
                                  *meeting_routes(backend), *subscription_routes(backend)])


class _Front:
    """Graph (`/v1.0`, every request through `GraphService.serve`) and the token authority, over one backend."""

    def __init__(self, backend: Backend, service: GraphService) -> None:
        self.backend = backend
        self.service = service

    async def graph(self, request: Request) -> Response:
        call = Call(request.method, "/" + request.path_params["path"],
                    dict(parse_qsl(request.url.query, keep_blank_values=True)),
                    {k.lower(): v for k, v in request.headers.items()}, await request.body(), base_of(request))
        reply, latency = self.service.serve(call)
        if latency:
            await asyncio.sleep(latency)
        content, headers = encode_body(reply)
        return Response(content, status_code=reply.status, headers=headers)

    async def openid(self, request: Request) -> Response:
        status, body = authority_answer(self.backend, "GET", request.path_params["tenant"], "openid-configuration",
                                        {}, base_of(request))
        return JSONResponse(body, status_code=status)

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        status, body = authority_answer(self.backend, "POST", request.path_params["tenant"], "token", form,
                                        base_of(request))
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store, no-cache"})


def create_app(backend: Backend | None = None, *, ca_bundle: str | None = None) -> Starlette:
    """The emulator as an ASGI app. `app.state.backend` holds its state."""
    backend = backend or Backend()
    service = graph_service(backend)
    front = _Front(backend, service)
    app = Starlette(routes=[
        *ControlApi(backend, ca_bundle).routes(),
        StarletteRoute("/v1.0/{path:path}", front.graph, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
        StarletteRoute("/{tenant}/v2.0/.well-known/openid-configuration", front.openid, methods=["GET"]),
        StarletteRoute("/{tenant}/oauth2/v2.0/token", front.token, methods=["POST"]),
    ])
    app.state.backend = backend
    app.state.service = service
    return app
