"""The emulator speaks Graph: shapes that msgraph-sdk's own models parse, Graph's error bodies, paging, $batch.

These use plain httpx (no project client), the way any tool outside the
project would drive the emulator, and each runs twice: over HTTPS against
the server, and in-process through `graph_emulator.testing`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph_emulator import EmulatorServer
from tests.conftest import GRAPH_SCOPE


@pytest.fixture
def sessions(http: httpx.Client, emulator: EmulatorServer) -> str:
    site = emulator.backend.site.id
    answer = http.post(f"/v1.0/sites/{site}/lists", json={
        "displayName": "Sessions", "list": {"template": "genericList"},
        "columns": [{"name": "Capacity", "number": {}},
                    {"name": "Audience", "choice": {"choices": ["Carers", "Professionals"], "displayAs": "checkBoxes"}},
                    {"name": "Status", "choice": {"choices": ["Draft", "Open", "Cancelled"]}}]})
    assert answer.status_code == 201
    return f"/v1.0/sites/{site}/lists/{answer.json()['id']}"


def sdk_parse(model: Any, body: bytes) -> Any:
    from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory

    return JsonParseNodeFactory().get_root_parse_node("application/json", body).get_object_value(model)


def test_list_items_parse_with_the_sdk_models(http: httpx.Client, sessions: str) -> None:
    from msgraph.generated.models.list_item_collection_response import ListItemCollectionResponse

    http.post(f"{sessions}/items", json={"fields": {"Title": "Having choice", "Capacity": 12,
                                                     "Audience": ["Carers"], "Status": "Open"}})
    body = http.get(f"{sessions}/items", params={"$expand": "fields"}).content
    parsed = sdk_parse(ListItemCollectionResponse, body)
    item = parsed.value[0]
    assert item.id == "1" and item.e_tag and item.created_date_time is not None
    assert item.fields.additional_data["Title"] == "Having choice"
    assert item.fields.additional_data["Audience"] == ["Carers"]


def test_errors_have_graphs_shape_and_parse_with_the_sdk(http: httpx.Client, sessions: str) -> None:
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    answer = http.get(f"{sessions}/items/999")
    assert answer.status_code == 404
    assert set(answer.json()["error"]) == {"code", "message", "innerError"}
    error = sdk_parse(ODataError, answer.content)
    assert error.error.code == "itemNotFound"
    assert error.error.inner_error.request_id == answer.headers["request-id"]


def test_no_token_gets_401_invalid_authentication_token(http: httpx.Client, emulator: EmulatorServer) -> None:
    answer = http.get(f"/v1.0/sites/{emulator.backend.site.id}", headers={"Authorization": ""})
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "InvalidAuthenticationToken")


def test_a_wrong_secret_gets_invalid_client(http: httpx.Client, emulator: EmulatorServer) -> None:
    env = emulator.env()
    answer = http.post(f"/{env['M365_TENANT_ID']}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": env["M365_CLIENT_ID"], "client_secret": "wrong",
        "scope": GRAPH_SCOPE})
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client" and answer.json()["error_codes"] == [7000215]


def test_top_pages_with_next_links_and_select_narrows_fields(http: httpx.Client, sessions: str) -> None:
    for n in range(5):
        http.post(f"{sessions}/items", json={"fields": {"Title": f"S{n}", "Capacity": n}})
    seen, url = [], f"{sessions}/items?$top=2&$expand=fields($select=Title)"
    while url:
        page = http.get(url).json()
        seen += [(item["id"], sorted(k for k in item["fields"] if not k.startswith("@"))) for item in page["value"]]
        url = page.get("@odata.nextLink")
    assert seen == [(str(n), ["Title"]) for n in range(1, 6)]


def test_wrong_values_are_refused_like_sharepoint(http: httpx.Client, sessions: str) -> None:
    assert http.post(f"{sessions}/items", json={"fields": {"Capacity": "many"}}).status_code == 400
    assert http.post(f"{sessions}/items", json={"fields": {"Status": "Maybe"}}).status_code == 400
    answer = http.post(f"{sessions}/items", json={"fields": {"Nope": "x"}})
    assert answer.json()["error"]["message"] == "Field 'Nope' is not recognized"


def test_batch_answers_every_entry_by_id_and_refuses_more_than_20(http: httpx.Client, sessions: str) -> None:
    path = sessions.removeprefix("/v1.0")
    requests = [{"id": str(n), "method": "POST", "url": f"{path}/items",
                 "headers": {"Content-Type": "application/json"}, "body": {"fields": {"Title": f"S{n}"}}}
                for n in range(20)]
    answer = http.post("/v1.0/$batch", json={"requests": requests})
    assert sorted(int(r["id"]) for r in answer.json()["responses"]) == list(range(20))
    assert {r["status"] for r in answer.json()["responses"]} == {201}
    too_many = http.post("/v1.0/$batch", json={"requests": [*requests, dict(requests[0], id="20")]})
    assert too_many.status_code == 400


def test_injected_throttling_carries_retry_after(http: httpx.Client, sessions: str, emulator: EmulatorServer) -> None:
    answer = http.post("/_emulator/faults", json={"status": 429, "rate": 1.0, "retry_after": 2, "count": 1})
    assert answer.status_code == 200
    throttled = http.get(f"{sessions}/items")
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "2")
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert http.get(f"{sessions}/items").status_code == 200
    log = http.get("/_emulator/log").json()
    assert log["by_status"]["429"] == 1


def test_a_latency_rule_slows_requests_and_throttles_none(http: httpx.Client, sessions: str) -> None:
    """Finding: a rule that gave only a latency also answered 429 (the status defaulted to throttling)."""
    rule = http.post("/_emulator/faults", json={"latency_ms": 150, "count": 1}).json()["rules"][0]
    assert rule["status"] == 0
    started = time.monotonic()
    assert http.get(f"{sessions}/items").status_code == 200
    assert time.monotonic() - started >= 0.15
    assert http.post("/_emulator/faults", json={"count": 1}).json()["rules"][1]["status"] == 429


def test_the_emulator_prints_settings_a_shell_can_load(tmp_path: Path) -> None:
    """`python -m graph_emulator` prints `export` lines (the secret too), and --env-file writes them; a shell
    that loads them has every setting the service needs."""
    import os
    import signal
    import subprocess
    import sys

    from config import load_settings

    env_file = tmp_path / "emulator.env"
    process = subprocess.Popen([sys.executable, "-m", "graph_emulator", "--port", "0",  # noqa: S603 - ours
                                "--env-file", str(env_file)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        printed = [process.stdout.readline() for _ in range(14)]
        command = ["bash", "-c", f"set -a; . {env_file}; set +a; env"]
        loaded = subprocess.run(command, capture_output=True, text=True, check=True,  # noqa: S603 - ours
                                env={"PATH": os.environ["PATH"]}).stdout
        exports = [line for line in printed if line.startswith("export ")]
        assert exports == [line + "\n" for line in env_file.read_text().splitlines()]
        values = dict(line.split("=", 1) for line in loaded.splitlines() if line.startswith(("M365_", "COPROD_")))
        settings = load_settings(values)  # while it runs: its CA file goes when it stops
        assert settings.client_secret is not None and settings.client_secret.get_secret_value().startswith("emu~")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)


def test_env_names_the_settings_that_point_at_the_emulator(http: httpx.Client, emulator: EmulatorServer) -> None:
    """Everything the service needs to point at the emulator; the CA only where there is TLS."""
    env = http.get("/_emulator/env").json()
    assert {"M365_TENANT_ID", "M365_CLIENT_ID", "M365_CLIENT_SECRET", "M365_AUTHORITY_HOST", "M365_GRAPH_ENDPOINT",
            "M365_SITE_ID", "M365_ORGANIZER_ID", "M365_SENDER", "M365_GUEST_GROUP_ID"} <= set(env)
    assert ("M365_CA_BUNDLE" in env) == (http.base_url.host != "graph.emulator.invalid")
    assert env["M365_GRAPH_ENDPOINT"] == str(http.base_url).rstrip("/")


def test_delta_marks_deleted_items(http: httpx.Client, sessions: str) -> None:
    http.post(f"{sessions}/items", json={"fields": {"Title": "keep"}})
    http.post(f"{sessions}/items", json={"fields": {"Title": "drop"}})
    first = http.get(f"{sessions}/items/delta").json()
    assert [i["id"] for i in first["value"]] == ["1", "2"] and "@odata.deltaLink" in first
    http.delete(f"{sessions}/items/2")
    second = http.get(first["@odata.deltaLink"]).json()
    assert second["value"] == [{"id": "2", "deleted": {"state": "deleted"}}]


def test_reset_forgets_everything(http: httpx.Client, sessions: str) -> None:
    before = http.get("/_emulator/env").json()
    after = http.post("/_emulator/reset").json()
    assert after["M365_SITE_ID"] != before["M365_SITE_ID"]
    assert json.loads(http.get("/_emulator/log").content)["requests"] == 0
