"""The function app as the Functions host sees it: what it registers, and how the handlers answer."""

from __future__ import annotations

import json

import azure.functions as func
import pytest


def test_the_app_registers_its_functions() -> None:
    import function_app

    names = {f.get_function_name() for f in function_app.app.get_functions()}
    assert {"health", "sync_timer"} <= names


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


def test_the_sync_timer_runs_the_registration_sync(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                                   emulator) -> None:  # type: ignore[no-untyped-def]
    """A (late) timer tick syncs the lists: a new registration ends up Confirmed."""
    from azure.functions.timer import TimerRequest

    from config import load_settings
    from coprod.lists.provision import provision
    from functions.sync import sync_timer
    from graph_client import GraphClient, SharePointLists

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    with GraphClient.from_settings(settings) as graph:
        provision(SharePointLists(graph, settings.site_id))
    sp, site = emulator.backend.sharepoint, settings.site_id
    session = sp.create_item(site, "Sessions", {"Title": "Carers' drop-in", "Status": "Open", "Capacity": 5,
                                                "StartTime": "2030-01-01T10:00:00Z", "EndTime": "2030-01-01T11:00:00Z"})
    reg = sp.create_item(site, "Registrations", {"Title": "Ann Example", "Email": "ann@example.org",
                                                 "Consent": True, "SessionLookupId": str(session.id)})
    sync_timer.build().get_user_function()(TimerRequest(past_due=True))
    assert sp.get_item(site, "Registrations", str(reg.id))[1].fields["Status"] == "Confirmed"


@pytest.mark.parametrize(("setting", "schedule"), [(None, "0 */5 * * * *"), ("0 0 7 * * *", "0 0 7 * * *")])
def test_the_sync_timer_schedule_defaults_to_every_5_minutes(monkeypatch: pytest.MonkeyPatch, setting: str | None,
                                                              schedule: str) -> None:
    """Without COPROD_SYNC_SCHEDULE the host still indexes the timer (a %...% expression would not resolve)."""
    import importlib

    import functions.sync

    if setting is None:
        monkeypatch.delenv("COPROD_SYNC_SCHEDULE", raising=False)
    else:
        monkeypatch.setenv("COPROD_SYNC_SCHEDULE", setting)
    try:
        reloaded = importlib.reload(functions.sync)
        assert reloaded.sync_timer.build().get_trigger().schedule == schedule
    finally:
        monkeypatch.undo()
        importlib.reload(functions.sync)


def test_a_malformed_schedule_is_named() -> None:
    from config import SettingsError, load_settings
    from tests.test_settings import BASE

    with pytest.raises(SettingsError) as caught:
        load_settings(BASE | {"COPROD_SYNC_SCHEDULE": "every 5 minutes"})
    assert caught.value.variable == "COPROD_SYNC_SCHEDULE"
