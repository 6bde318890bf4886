"""Identity without secrets: with M365_USE_MANAGED_IDENTITY=true, Graph tokens come from the Azure host's managed
identity, through a local fake of the App Service identity endpoint (IDENTITY_ENDPOINT, IDENTITY_HEADER).

The fake answers as the host does (learn.microsoft.com, "Managed identities for App Service and Azure Functions",
REST protocol, api-version 2019-08-01): a GET with `resource` and `client_id`, the `X-IDENTITY-HEADER` header,
and a JSON answer with `access_token`, `expires_on`, `resource` and `token_type`. The token it gives is one the
emulator's authority issued, so Graph (the emulator) accepts it.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import graph_client._auth
from coprod.cli import main
from graph_emulator import EmulatorServer
from graph_emulator.testing import BackgroundServer

HEADER = "identity-header-from-the-host"


class IdentityEndpoint:
    """The host's identity endpoint for one user-assigned identity; records what it was asked."""

    def __init__(self, emulator_env: dict[str, str]) -> None:
        self.env = emulator_env
        self.asked: list[dict[str, Any]] = []

    async def token(self, request: Request) -> JSONResponse:
        self.asked.append({"params": dict(request.query_params), "header": request.headers.get("x-identity-header")})
        # errors as the host gives them: {"statusCode", "message"} (msal reads those two)
        if request.headers.get("x-identity-header") != HEADER:
            return JSONResponse({"statusCode": 401, "message": "Unauthorized request"}, 401)
        if request.query_params.get("client_id") != self.env["M365_CLIENT_ID"]:
            return JSONResponse({"statusCode": 400, "message": "No User Assigned or Delegated Managed Identity found "
                                                               "for specified ClientId/ResourceId/PrincipalId."}, 400)
        with httpx.Client(verify=ssl.create_default_context(cafile=self.env["M365_CA_BUNDLE"]),
                          trust_env=False) as http:  # the host's own token, from the (emulated) authority
            issued = http.post(f"{self.env['M365_AUTHORITY_HOST']}/{self.env['M365_TENANT_ID']}/oauth2/v2.0/token",
                               data={"grant_type": "client_credentials", "client_id": self.env["M365_CLIENT_ID"],
                                     "client_secret": self.env["M365_CLIENT_SECRET"],
                                     "scope": f"{request.query_params['resource']}/.default"}).json()
        return JSONResponse({"access_token": issued["access_token"], "expires_on": str(int(time.time()) + 3600),
                             "resource": request.query_params["resource"], "token_type": "Bearer",
                             "client_id": request.query_params["client_id"]})


@pytest.fixture
def identity(emulator: EmulatorServer, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[IdentityEndpoint]:
    endpoint = IdentityEndpoint(emulator.env())
    with BackgroundServer(Starlette(routes=[Route("/msi/token", endpoint.token)]), name="identity") as server:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("M365_CLIENT_SECRET")
        monkeypatch.setenv("M365_USE_MANAGED_IDENTITY", "true")
        monkeypatch.setenv("IDENTITY_ENDPOINT", f"{server.url}/msi/token")
        monkeypatch.setenv("IDENTITY_HEADER", HEADER)
        graph_client._auth._apps.clear()  # msal's clients (and their caches) are per process
        yield endpoint
        graph_client._auth._apps.clear()


def test_the_service_runs_on_the_managed_identity_with_no_secret(identity: IdentityEndpoint,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["provision"]) == 0
    assert main(["sync", "--once"]) == 0
    assert capsys.readouterr().out.startswith("Created the Sessions list")
    [first, *rest] = identity.asked  # one token, cached by msal for the rest of the process
    assert first["header"] == HEADER and rest == []
    assert (first["params"]["client_id"], first["params"]["resource"], first["params"]["api-version"]) == (
        identity.env["M365_CLIENT_ID"], identity.env["M365_GRAPH_ENDPOINT"], "2019-08-01")


def test_an_identity_the_host_does_not_have_is_one_line_naming_the_problem(
        identity: IdentityEndpoint, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("M365_CLIENT_ID", "00000000-0000-0000-0000-00000000dead")
    assert main(["provision"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("coprod: cannot run: get a managed identity token: the token authority refused: ")
    assert "No User Assigned or Delegated Managed Identity found" in err and err.count("\n") == 1


def test_without_a_secret_a_certificate_or_the_managed_identity_the_setting_is_named(
        env: dict[str, str]) -> None:
    from config import SettingsError, load_settings

    with pytest.raises(SettingsError) as caught:
        load_settings({k: v for k, v in env.items() if k != "M365_CLIENT_SECRET"})
    assert caught.value.variable == "M365_CLIENT_SECRET"
    assert "M365_USE_MANAGED_IDENTITY=true" in caught.value.problem
