"""The public pages (`/api/pages/...`): handed to the Starlette app in `coprod.web` through Microsoft's ASGI adapter."""

from __future__ import annotations

from functools import cache
from typing import Any

import azure.functions as func

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions leaves its __init__ untyped


@cache
def _middleware() -> Any:
    from config import load_settings
    from coprod.web import WebContext, create_web_app

    def context() -> WebContext:
        from coprod.links import Signer
        from coprod.state import open_store

        settings = load_settings()
        return WebContext(Signer(settings.signing_key.get_secret_value()), open_store(settings.state),
                          settings.programme_name, f"the {settings.programme_name} SharePoint site")

    return func.AsgiMiddleware(create_web_app(context))  # type: ignore[no-untyped-call]


@bp.route(route="pages/{*path}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def pages(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    response: func.HttpResponse = await _middleware().handle_async(req, context)
    return response
