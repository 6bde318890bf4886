"""The first minutes in Azure (issue 26): what the app does before App Service and Entra have caught up.

- While the app's identity's role on the Key Vault is still propagating (up to 10 minutes after a deployment), App
  Service passes a Key Vault reference's literal text, `@Microsoft.KeyVault(SecretUri=...)`, as the setting's value
  and caches it for up to a day. Every setting refuses that text with one line naming the variable, Key Vault, and
  what to do; nothing starts, and the text is never shown.
- Graph's validation handshake (`POST /api/notifications?validationToken=...`, for the notification URL and the
  lifecycle URL alike) is answered before the store, the credential or any network is touched: on a cold instance
  those are network calls and a token fetch, and Graph wants the echo within 10 seconds.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from config import SettingsError, load_settings
from config._keyvault import UNRESOLVED
from coprod.cli import main
from tests.deploy.test_function_app import OutputBinding
from tests.unit.test_settings import BASE

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = "@Microsoft.KeyVault(SecretUri=https://kv-coprod-ab12.vault.azure.net/secrets/coprod-signing-key/)"
UNREACHABLE = "https://127.0.0.1:9"  # nothing listens on the discard port: reaching out would fail differently
# Each setting a Key Vault reference fills, or may (a council may keep any connection string or secret in a vault),
# with what else it needs to be read.
SECRETS = {
    "COPROD_SIGNING_KEY": {},
    "M365_CLIENT_SECRET": {},
    "COPROD_ACS_CONNECTION_STRING": {"COPROD_MAIL_TRANSPORT": "acs", "COPROD_ACS_SENDER": "DoNotReply@example.org"},
    "COPROD_NOTIFY_API_KEY": {"COPROD_NOTIFY_SMS_TEMPLATE_ID": "f33517ff-2a88-4f6e-b855-c550268ce08a"},
    "COPROD_STATE": {},
}


@pytest.fixture
def first_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The service's settings alone in the process environment, its store a file not made yet, Graph unreachable."""
    for name in list(os.environ):
        if name.startswith(("M365_", "COPROD_", "APPLICATIONINSIGHTS_")):
            monkeypatch.delenv(name)
    env = BASE | {"COPROD_STATE": f"sqlite:///{tmp_path / 'state.sqlite3'}", "M365_AUTHORITY_HOST": UNREACHABLE,
                  "M365_GRAPH_ENDPOINT": UNREACHABLE}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


# --- an unresolved Key Vault reference ---------------------------------------------------------------------------

@pytest.mark.parametrize("variable", SECRETS)
def test_an_unresolved_key_vault_reference_is_refused_in_one_line(variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(BASE | SECRETS[variable] | {variable: REFERENCE})
    assert caught.value.problems == ((variable, UNRESOLVED),)
    line = str(caught.value)
    assert line == f"{variable}: {UNRESOLVED}" and "\n" not in line
    assert "Key Vault" in line and "not resolved yet" in line and "restart the app" in line and "10 minutes" in line
    shown = line + repr(caught.value.public_problems)
    assert "vault.azure.net" not in shown and "SecretUri" not in shown  # the reference's text is never shown


@pytest.mark.parametrize("reference", ids=["vault-and-name", "lower", "upper-after-spaces", "after-a-tab"], argvalues=[
    "@Microsoft.KeyVault(VaultName=kv-coprod;SecretName=coprod-acs-connection-string)",
    "@microsoft.keyvault(SecretUri=https://kv.vault.azure.net/secrets/s/)",
    "  @MICROSOFT.KEYVAULT(SecretUri=https://kv.vault.azure.net/secrets/s/)",
    "\t@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/s/0123456789abcdef0123456789abcdef)",
])
def test_either_form_of_reference_in_any_case_after_whitespace_is_refused(reference: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(BASE | {"COPROD_SIGNING_KEY": reference})
    assert caught.value.problems == (("COPROD_SIGNING_KEY", UNRESOLVED),)


def test_a_reference_in_a_setting_that_is_not_secret_is_refused_too() -> None:
    """Any app setting may be a Key Vault reference; its text is no valid value of any of them."""
    with pytest.raises(SettingsError) as caught:
        load_settings(BASE | {"M365_CLIENT_ID": REFERENCE, "COPROD_GUEST_BLOCKED_DOMAINS": REFERENCE})
    assert caught.value.problems == (("M365_CLIENT_ID", UNRESOLVED), ("COPROD_GUEST_BLOCKED_DOMAINS", UNRESOLVED))


def test_a_resolved_secret_is_taken(monkeypatch: pytest.MonkeyPatch, first_start: dict[str, str]) -> None:
    """Once resolved, the secret's own value is what the app sees (here from the process environment)."""
    monkeypatch.setenv("COPROD_SIGNING_KEY", "Xq7v-2PzK9mWc4RtY8bNf3LhJ6sDg1Ae")
    assert load_settings().signing_key.get_secret_value() == "Xq7v-2PzK9mWc4RtY8bNf3LhJ6sDg1Ae"


def test_python_m_coprod_with_the_signing_key_unresolved_exits_2_and_starts_nothing(
        first_start: dict[str, str]) -> None:
    """Issue 26 item 4: this literal started a run (exit 0), signing links with a guessable key."""
    env = dict(os.environ) | {"COPROD_SIGNING_KEY": REFERENCE}
    done = subprocess.run([sys.executable, "-m", "coprod", "sync", "--once"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr == f"coprod: cannot start: COPROD_SIGNING_KEY: {UNRESOLVED}\n" and done.stdout == ""
    assert not Path(first_start["COPROD_STATE"].removeprefix("sqlite:///")).exists()  # no store opened


@pytest.mark.parametrize("variable", SECRETS)
def test_each_secret_unresolved_stops_the_command_line_before_anything_starts(
        variable: str, monkeypatch: pytest.MonkeyPatch, first_start: dict[str, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in (SECRETS[variable] | {variable: REFERENCE}).items():
        monkeypatch.setenv(name, value)
    assert main(["sync", "--once"]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"coprod: cannot start: {variable}: {UNRESOLVED}\n" and captured.out == ""
    assert not Path(first_start["COPROD_STATE"].removeprefix("sqlite:///")).exists()


# --- Graph's validation handshake on a cold instance ---------------------------------------------------------------

class NoNetwork:
    """socket's ways out, each recording the attempt and failing at once (a test never waits on a timeout)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.attempts: list[str] = []
        for name in ("connect", "connect_ex"):
            monkeypatch.setattr(socket.socket, name, self._refuse(f"socket.{name}"))
        monkeypatch.setattr(socket, "getaddrinfo", self._refuse("getaddrinfo"))
        monkeypatch.setattr(socket, "create_connection", self._refuse("create_connection"))

    def _refuse(self, what: str) -> Any:
        def refused(*args: Any, **kwargs: Any) -> Any:
            self.attempts.append(what)
            raise OSError(f"{what}: no network in this test")
        return refused


@pytest.fixture
def cold_instance(monkeypatch: pytest.MonkeyPatch, first_start: dict[str, str]) -> Iterator[dict[str, Any]]:
    """The function app's settings as in Azure (the store an account URL reached with the managed identity, here
    unreachable), a fresh process's empty cache, no network, and a record of every opening of the store."""
    import coprod.realtime.webhooks  # imported before the clock starts, as the host's first request has its modules
    import coprod.runtime
    from functions import notifications

    monkeypatch.setenv("COPROD_STATE", "https://stcoprodunreachable.table.core.windows.net")
    monkeypatch.setenv("M365_USE_MANAGED_IDENTITY", "true")
    monkeypatch.setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token")  # as on the Functions host
    opened: list[str] = []
    real_store_for = coprod.runtime.store_for

    def store_for(*args: Any, **kwargs: Any) -> Any:
        opened.append("store")
        return real_store_for(*args, **kwargs)

    monkeypatch.setattr(coprod.runtime, "store_for", store_for)
    notifications._receiving.cache_clear()
    yield {"opened": opened, "network": NoNetwork(monkeypatch), "module": notifications,
           "webhooks": coprod.realtime.webhooks}
    notifications._receiving.cache_clear()


def _post(params: dict[str, str], body: bytes = b"") -> tuple[func.HttpResponse, OutputBinding]:
    from functions.notifications import notifications

    wake = OutputBinding()
    answer = notifications.build().get_user_function()(
        func.HttpRequest("POST", "/api/notifications", body=body, params=params), wake)
    return answer, wake


def test_the_handshake_is_answered_with_the_store_unreachable_before_anything_is_opened(
        cold_instance: dict[str, Any]) -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: 4f7e-<b>&amp;</b>"
    started = time.perf_counter()
    answer, wake = _post({"validationToken": token})
    took = time.perf_counter() - started
    assert (answer.status_code, answer.get_body().decode(), answer.mimetype) == (200, token, "text/plain")
    assert answer.headers.get("X-Content-Type-Options") == "nosniff" and wake.value is None
    assert cold_instance["opened"] == [] and cold_instance["network"].attempts == []
    assert cold_instance["module"]._receiving.cache_info().misses == 0  # neither settings, store nor signer made
    assert took < 1.0, f"the handshake took {took:.2f} s"  # generous: nothing in it waits on anything
    # the same endpoint with a notification does open the store, and fails here: the handshake was not lucky
    with pytest.raises(Exception):  # noqa: B017 - whatever the unreachable store raises
        _post({}, b'{"value": [{"subscriptionId": "sub-1", "clientState": "x"}]}')
    assert cold_instance["opened"] == ["store"]


@pytest.mark.parametrize("token", ["", "a", "x" * 1024, "y" * 5000, "Ünïcode token ✓ with spaces+and%20escapes"],
                         ids=["empty", "one", "at-the-cap", "over-the-cap", "unicode"])
def test_the_handshake_echoes_the_token_exactly_as_receive_does(cold_instance: dict[str, Any], token: str) -> None:
    """Same length cap and the same answer as coprod.realtime.webhooks.receive (which `python -m coprod serve` uses),
    given nothing to open: it answers the handshake with neither store nor signer."""
    expected = cold_instance["webhooks"].receive({"validationToken": token}, b"", None, None, time.time())
    answer, _ = _post({"validationToken": token})
    assert (answer.status_code, answer.get_body().decode(), answer.mimetype) == (
        expected.status, expected.body, expected.content_type)
    assert len(answer.get_body().decode()) == min(len(token), 1024)
    assert cold_instance["opened"] == [] and cold_instance["network"].attempts == []


def test_the_lifecycle_url_is_the_same_function() -> None:
    """Graph validates the lifecycleNotificationUrl the same way; the subscriptions give it the notification URL,
    so no other route needs a handshake answered early."""
    import importlib

    import function_app

    function_app = importlib.reload(function_app)  # an app is indexed once: a fresh one, as test_function_app does
    routes = {binding.get("route"): f.get_function_name() for f in function_app.app.get_functions()
              for binding in f.get_bindings_dict()["bindings"] if binding["type"] == "httpTrigger"}
    assert {route: name for route, name in routes.items() if "notification" in str(route)} == {
        "notifications": "notifications"}  # (tests/unit/test_webhook_rules.py: lifecycle_url is the notification URL)
