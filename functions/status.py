"""GET /api/status (a function key): what is waiting and how the last run went, as JSON. No personal data."""

from __future__ import annotations

import json

import azure.functions as func

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions leaves its __init__ untyped


@bp.route(route="status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status(req: func.HttpRequest) -> func.HttpResponse:
    from config import SettingsError, load_settings
    from coprod.operating.status import status as report
    from coprod.runtime import store_for

    try:
        store = store_for(load_settings())
    except SettingsError as exc:
        body = {"status": "misconfigured", "variable": exc.variable, "problem": exc.problem,
                "problems": [{"variable": v, "problem": p} for v, p in exc.problems]}
        return func.HttpResponse(json.dumps(body), status_code=503, mimetype="application/json")
    try:
        return func.HttpResponse(json.dumps(report(store)), status_code=200, mimetype="application/json")
    finally:
        store.close()
