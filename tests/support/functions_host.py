"""The public pages served as the Functions host serves them: each request a `func.HttpRequest` through Microsoft's
own ASGI adapter (`func.AsgiMiddleware`, as functions/pages.py uses it), which gives the app no connection
address, only the headers App Service's front end set."""

from __future__ import annotations

import asyncio
from typing import Any

import azure.functions as func
import httpx

__all__ = ["FunctionsHostTransport", "front_end"]


class FunctionsHostTransport(httpx.BaseTransport):
    """An httpx transport that hands each request to `func.AsgiMiddleware(app)`."""

    def __init__(self, app: Any) -> None:
        self.middleware = func.AsgiMiddleware(app)  # type: ignore[no-untyped-call]  # azure-functions is untyped

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        incoming = func.HttpRequest(method=request.method, url=str(request.url), headers=dict(request.headers),
                                    params=dict(request.url.params), body=request.read())
        answer: func.HttpResponse = asyncio.run(self.middleware.handle_async(incoming))
        return httpx.Response(answer.status_code, headers=dict(answer.headers), content=answer.get_body(),
                              request=request)


def front_end(address: str, port: int = 50123) -> dict[str, str]:
    """The headers App Service's front end adds for a client at `address`: `Client-IP` (set, and overwritten if
    the client sent one) and `X-Forwarded-For` as `address:port`."""
    return {"Client-IP": f"{address}:{port}", "X-Forwarded-For": f"{address}:{port}"}
