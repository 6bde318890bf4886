"""What `python -m coprod serve` adds around the public pages on this machine: an index page at `/` and
`GET /api/health`, as the function app answers it (in Azure the Functions host serves those routes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from coprod.operating.health import health
from coprod.pages.app import BASE, SECURITY_HEADERS
from coprod.templates import render_page

__all__ = ["local_app"]


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
