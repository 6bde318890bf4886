"""The function app as the Functions host sees it: what it registers, and how the handlers answer."""

from __future__ import annotations

import json

import azure.functions as func
import pytest


def test_the_app_registers_its_functions() -> None:
    import function_app

    names = {f.get_function_name() for f in function_app.app.get_functions()}
    assert "health" in names


def test_health_names_a_missing_setting_without_showing_values(monkeypatch: pytest.MonkeyPatch,
                                                               env: dict[str, str]) -> None:
    from functions.health import health

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("M365_SITE_ID")
    handler = health.build().get_user_function()
    answer = handler(func.HttpRequest("GET", "/api/health", body=b""))
    assert answer.status_code == 503
    assert json.loads(answer.get_body()) == {"status": "misconfigured", "variable": "M365_SITE_ID",
                                             "problem": "is required but not set"}
    monkeypatch.setenv("M365_SITE_ID", env["M365_SITE_ID"])
    assert handler(func.HttpRequest("GET", "/api/health", body=b"")).status_code == 200
