"""GET /api/health: is the app configured? Names each missing setting, never shows a value."""

from __future__ import annotations

import json

import azure.functions as func

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions leaves its __init__ untyped


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    from coprod.operating.health import health as check

    status, body = check()
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")
