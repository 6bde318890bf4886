"""The function app as the Functions host sees it: what it registers, and how the handlers answer."""

from __future__ import annotations

import importlib
import json

import azure.functions as func
import pytest

from config import SESSIONS


def test_the_app_registers_its_functions() -> None:
    """The host indexes the app once per process; a fresh copy of the module lets this run twice in one
    process (mutation testing runs the tests again in the process that collected them)."""
    import function_app

    function_app = importlib.reload(function_app)
    functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
    assert {"health", "sync_timer", "pages", "status", "check", "provision", "rehearse", "notifications",
            "on_notification", "renew_subscriptions"} <= set(functions)
    auth = {name: f.get_bindings_dict()["bindings"][0].get("authLevel") for name, f in functions.items()}
    assert (auth["health"], auth["pages"], auth["status"], auth["check"], auth["provision"], auth["rehearse"]) == (
        func.AuthLevel.ANONYMOUS, func.AuthLevel.ANONYMOUS, func.AuthLevel.FUNCTION, func.AuthLevel.FUNCTION,
        func.AuthLevel.ADMIN, func.AuthLevel.ADMIN)  # they change the lists: the admin (master) key only


def test_status_answers_json_with_no_personal_data(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                                   emulator) -> None:  # type: ignore[no-untyped-def]
    """GET /api/status: the lease, the last run, what waits; counts and times only."""
    from coprod.store import open_store
    from functions.status import status

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    store = open_store(env["COPROD_STATE"])
    store.ledger.add("guest:ann@example.org", "guest-request", {"email": "ann@example.org"})
    store.outbox.add("mail:x", "confirmed", {"to": ["ann@example.org"]}, 1)
    store.leases.acquire("sync", "host-1:99:abc", 120)
    store.close()
    answer = status.build().get_user_function()(func.HttpRequest("GET", "/api/status", body=b""))
    body = json.loads(answer.get_body())
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert (body["lease"]["holder"], body["last_run"], body["waiting"], body["emails"]) == (
        "host-1:99:abc", None, {"guest-request": 1}, {"queued": 1})
    assert "ann" not in answer.get_body().decode()


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
                                             "problem": "is required but not set",
                                             "problems": [{"variable": "M365_SITE_ID",
                                                           "problem": "is required but not set"}]}
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
    from tests.unit.test_settings import BASE

    with pytest.raises(SettingsError) as caught:
        load_settings(BASE | {"COPROD_SYNC_SCHEDULE": "every 5 minutes"})
    assert caught.value.variable == "COPROD_SYNC_SCHEDULE"


def test_provision_then_check_in_azure_as_the_apps_own_identity(monkeypatch: pytest.MonkeyPatch,
                                                                env: dict[str, str]) -> None:
    """POST /api/provision, then GET /api/check: plain text, a line each; 200 once all is well."""
    from functions.admin import check, provision

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    checked = check.build().get_user_function()(func.HttpRequest("GET", "/api/check", body=b""))
    assert checked.status_code == 503 and "✗ Sessions list: not on the site" in checked.get_body().decode()
    made = provision.build().get_user_function()(func.HttpRequest("POST", "/api/provision", body=b""))
    assert made.status_code == 200 and made.mimetype == "text/plain"
    assert made.get_body().decode().startswith(f"Created the Sessions list with {len(SESSIONS.columns)} columns.\n")
    checked = check.build().get_user_function()(func.HttpRequest("GET", "/api/check", body=b""))
    lines = checked.get_body().decode().splitlines()
    assert checked.status_code == 200 and lines[-1].startswith("All ") and not any(x.startswith("✗") for x in lines)
    monkeypatch.delenv("M365_SITE_ID")
    refused = check.build().get_user_function()(func.HttpRequest("GET", "/api/check", body=b""))
    assert (refused.status_code, refused.get_body()) == (503, "✗ M365_SITE_ID: is required but not set\n".encode())


def test_host_json_configures_only_what_exists() -> None:
    """host.json v2's documented sections only; no retry policy (the Functions runtime applies those to a few
    triggers; our timer run takes its own care: a lease, and conditional steps); a timeout the plan allows."""
    from pathlib import Path

    host = json.loads((Path(__file__).resolve().parents[2] / "host.json").read_text(encoding="utf-8"))
    documented = {"version", "aggregator", "concurrency", "extensions", "extensionBundle", "functions",
                  "functionTimeout", "healthMonitor", "logging", "managedDependency", "retry", "singleton",
                  "telemetryMode", "watchDirectories", "watchFiles"}
    assert host["version"] == "2.0" and set(host) <= documented
    assert "retry" not in host
    assert set(host["extensions"]) == {"http"} and host["extensions"]["http"] == {"routePrefix": "api"}
    hours, minutes, seconds = (int(part) for part in host["functionTimeout"].split(":"))
    assert 0 < hours * 3600 + minutes * 60 + seconds <= 30 * 60  # Flex Consumption's default limit


def test_the_notifications_queue_has_a_connection_of_its_own() -> None:
    """The queue's output and trigger bindings use COPROD_QUEUE (in Azure COPROD_QUEUE__queueServiceUri,
    __credential and __clientId, set by infra/), not the host's AzureWebJobsStorage: Microsoft recommends a
    connection of its own for what the app keeps, apart from the host's (issue 26)."""
    from functions.notifications import QUEUE, notifications, on_notification

    queues = [binding for function in (notifications, on_notification)
              for binding in function.build().get_bindings_dict()["bindings"] if binding["type"].startswith("queue")]
    assert [(b["type"], b["queueName"], b["connection"]) for b in queues] == [
        ("queue", QUEUE, "COPROD_QUEUE"), ("queueTrigger", QUEUE, "COPROD_QUEUE")]


class OutputBinding:
    """azure.functions.Out, as the host gives an output binding."""

    def __init__(self) -> None:
        self.value: str | None = None

    def set(self, value: str) -> None:
        self.value = value

    def get(self) -> str | None:
        return self.value


def test_graphs_notifications_in_azure_answer_at_once_and_queue_one_run(monkeypatch: pytest.MonkeyPatch,
                                                                        env: dict[str, str]) -> None:
    """POST /api/notifications (anonymous): the handshake echoed as text; a forged notification queues nothing;
    a good one queues one message for the consumer. No Graph call in the request."""
    from config import load_settings
    from coprod.realtime.webhooks import KNOWN, client_state
    from coprod.runtime import signer_for, store_for
    from functions.notifications import _receiving, notifications

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _receiving.cache_clear()
    settings = load_settings()
    store = store_for(settings)
    store.checkpoints.set(KNOWN, json.dumps({"Sessions": {"id": "sub-1", "expires": 2e9}}))
    store.close()
    handler = notifications.build().get_user_function()
    assert {b["type"] for b in notifications.build().get_bindings_dict()["bindings"]} >= {"httpTrigger", "queue"}
    wake = OutputBinding()
    echoed = handler(func.HttpRequest("POST", "/api/notifications", body=b"", params={"validationToken": "abc"}),
                     wake)
    assert (echoed.status_code, echoed.get_body(), echoed.mimetype, wake.value) == (200, b"abc", "text/plain", None)
    good = {"value": [{"subscriptionId": "sub-1", "clientState": client_state(signer_for(settings))}]}
    forged = {"value": [{"subscriptionId": "sub-1", "clientState": "guess"}]}
    assert handler(func.HttpRequest("POST", "/api/notifications", body=json.dumps(forged).encode()),
                   wake).status_code == 202 and wake.value is None
    assert handler(func.HttpRequest("POST", "/api/notifications", body=json.dumps(good).encode()),
                   wake).status_code == 202
    assert wake.value is not None and "at" in json.loads(wake.value)
