"""GET /api/health: is the app configured? Names a missing setting, never shows a value."""

from __future__ import annotations

import json

import azure.functions as func

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions leaves its __init__ untyped


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    from config import SettingsError, load_settings

    try:
        load_settings()
    except SettingsError as exc:
        body = {"status": "misconfigured", "variable": exc.variable, "problem": exc.problem}
        return func.HttpResponse(json.dumps(body), status_code=503, mimetype="application/json")
    return func.HttpResponse(json.dumps({"status": "ok"}), status_code=200, mimetype="application/json")
