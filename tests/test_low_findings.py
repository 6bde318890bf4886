"""Issue 24's LOW findings, each tried as the attacker tried it, through the real code paths: the function app's
handlers with the azure-functions library's own request objects, `serve`'s Starlette app over httpx's ASGI
transport, the settings as the app loads them, and a run under a real lease on the emulator."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import azure.functions as func
import httpx
import pytest

from config import load_settings
from coprod.cli import live_app
from coprod.links import Signer
from coprod.webhooks import KNOWN, client_state

MiB = 1024 * 1024
DEEP = b'{"value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"  # 200 kB, far too deep for json.loads


class _Out:
    """azure.functions.Out, as the host gives an output binding."""

    def __init__(self) -> None:
        self.value: str | None = None

    def set(self, value: str) -> None:
        self.value = value

    def get(self) -> str | None:
        return self.value


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The function app's settings in the process environment, and its notification endpoint's store knowing two
    subscriptions (as `subscribe` leaves them)."""
    from coprod.runtime import store_for
    from functions.notifications import _receiving

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _receiving.cache_clear()
    store = store_for(load_settings())
    store.set_checkpoint(KNOWN, json.dumps({"Sessions": {"id": "sub-1", "expires": 2e9},
                                            "Registrations": {"id": "sub-2", "expires": 2e9}}))
    store.close()
    yield env
    _receiving.cache_clear()


def _notify(body: bytes, params: dict[str, str] | None = None) -> tuple[func.HttpResponse, _Out]:
    """POST /api/notifications to the function app's handler, as the Functions host calls it."""
    from functions.notifications import notifications

    wake = _Out()
    answer = notifications.build().get_user_function()(
        func.HttpRequest("POST", "/api/notifications", body=body, params=params or {}), wake)
    return answer, wake


def _good(subscription: str = "sub-1", **more: Any) -> bytes:
    signer = Signer(load_settings().signing_key.get_secret_value())
    return json.dumps({"value": [{"subscriptionId": subscription, "changeType": "updated",
                                  "clientState": client_state(signer), "resource": "sites/s/lists/l",
                                  "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z", "tenantId": "t",
                                  **more}]}).encode()


@pytest.fixture
def serve(env: dict[str, str]) -> Iterator[Any]:
    """`python -m coprod serve`'s app (pages, /api/health, /api/notifications with its consumer)."""
    app, queue = live_app(load_settings(env))
    try:
        yield app
    finally:
        queue.stop()


def _post(app: Any, content: Any, headers: dict[str, str] | None = None, params: dict[str, str] | None = None
          ) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:7071") as client:
            return await client.post("/api/notifications", content=content, headers=headers, params=params)

    return asyncio.run(go())


# --- 1. body size and depth -------------------------------------------------------------------------------------------

def test_serve_refuses_a_big_notification_body_without_reading_it_all(serve: Any) -> None:
    """Issue 24, LOW: a 200 MiB notification body took `serve` to 668 MiB. The endpoint stops reading past its
    limit (1 MiB) and answers 413; with a Content-Length over the limit it reads nothing at all."""
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(64):  # 16 MiB, sent as it is read
            pulled += 1
            yield b" " * (256 * 1024)

    answer = _post(serve, chunks())
    assert answer.status_code == 413
    assert pulled <= 1 * MiB // (256 * 1024) + 2  # stopped just past the limit, not at 16 MiB
    pulled = 0
    declared = _post(serve, chunks(), headers={"Content-Length": str(200 * MiB)})
    assert (declared.status_code, pulled) == (413, 0)


def test_the_function_app_refuses_a_big_notification_body(app_env: dict[str, str]) -> None:
    """Issue 24, LOW: the function app's endpoint refuses a body over 1 MiB with 413 and queues nothing."""
    answer, wake = _notify(_good()[:-2] + b" " * MiB + b"]}")
    assert (answer.status_code, wake.value) == (413, None)


def test_deeply_nested_json_is_a_400_not_a_500(serve: Any, app_env: dict[str, str]) -> None:
    """Issue 24, LOW: nested JSON made json.loads raise RecursionError: a 500. Now a 400, in `serve` and in the
    function app."""
    assert _post(serve, DEEP).status_code == 400
    answer, wake = _notify(DEEP)
    assert (answer.status_code, wake.value) == (400, None)


# --- 2. one warning per forged request --------------------------------------------------------------------------------

def test_one_forged_body_writes_one_warning(app_env: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    """Issue 24, LOW: one forged body of 100 notifications wrote 100 warning lines. Now one line a request,
    counting what was ignored and quoting nothing from the body."""
    forged = {"value": [{"subscriptionId": f"sub-{n}", "clientState": "guess-zz9", "changeType": "updated"}
                        for n in range(100)]}
    with caplog.at_level(logging.INFO, logger="coprod.webhooks"):
        answer, wake = _notify(json.dumps(forged).encode())
    assert (answer.status_code, wake.value) == (202, None)
    warnings = [r for r in caplog.records if r.name == "coprod.webhooks" and r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "100" in warnings[0].getMessage() and "guess-zz9" not in warnings[0].getMessage()
