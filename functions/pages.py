"""The public pages (`/api/pages/...`): the Starlette app in `coprod.pages.app`, through Microsoft's ASGI adapter."""

from __future__ import annotations

from functools import cache
from typing import Any

import azure.functions as func

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions leaves its __init__ untyped


@cache
def _middleware() -> Any:
    from config import load_settings
    from coprod.pages.app import create_web_app
    from coprod.runtime import web_context

    return func.AsgiMiddleware(  # type: ignore[no-untyped-call]
        create_web_app(lambda: web_context(load_settings())))


@bp.route(route="pages/{*path}", methods=["GET", "HEAD", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def pages(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    response: func.HttpResponse = await _middleware().handle_async(req, context)
    return response
