"""Shared fixtures: one emulator over loopback HTTPS for the session, a fresh tenant per test."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from config import Settings, load_settings
from coprod.store import SqliteStore
from graph_client import GraphClient, SharePointLists
from graph_emulator import EmulatorServer
from graph_emulator.testing import IN_PROCESS_BASE, InProcessTransport

SIGNING_KEY = "test-signing-key-0123456789abcdef"


class OffsetClock:
    """Real time plus an offset a test moves (the emulator keeps real time). `sleep` moves it instead of waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        self.offset += max(0.0, seconds)

    def to_uk_midday(self) -> None:
        """On to the next noon, UK time, so a test of "once a day" can't straddle midnight."""
        uk = ZoneInfo("Europe/London")
        now = datetime.fromtimestamp(self(), uk)
        noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
        if noon <= now:
            noon = (now + timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
        self.offset += noon.timestamp() - self()
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """Azurite's Table service for the session: its connection string (tests use tables of their own)."""
    from tests.support.azurite import azurite_tables

    with azurite_tables() as connection:
        yield connection


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> EmulatorServer:
    """The running emulator, reset to a fresh tenant (no lists, no faults, empty log)."""
    emulator_server.backend.reset()
    return emulator_server


@pytest.fixture
def env(emulator: EmulatorServer, tmp_path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return emulator.env() | {"COPROD_SIGNING_KEY": SIGNING_KEY,
                             "COPROD_STATE": f"sqlite:///{tmp_path / 'state.sqlite3'}"}


@pytest.fixture
def store(tmp_path) -> Iterator[SqliteStore]:  # type: ignore[no-untyped-def]
    """An empty state store in a file of its own."""
    db = SqliteStore(tmp_path / "state.sqlite3")
    yield db
    db.close()


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return load_settings(env)


@pytest.fixture
def graph(settings: Settings) -> Iterator[GraphClient]:
    with GraphClient.from_settings(settings) as client:
        yield client


@pytest.fixture
def lists(graph: GraphClient, settings: Settings) -> SharePointLists:
    return SharePointLists(graph, settings.site_id)


def new_token(client: httpx.Client, env: dict[str, str]) -> None:
    """Give `client` a fresh token from the emulated authority: it carries the app's roles as they are now."""
    token = client.post(f"/{env['M365_TENANT_ID']}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": env["M365_CLIENT_ID"],
        "client_secret": env["M365_CLIENT_SECRET"], "scope": GRAPH_SCOPE}).json()
    client.headers["Authorization"] = f"Bearer {token['access_token']}"


def grant_roles(client: httpx.Client, env: dict[str, str], roles: list[str]) -> None:
    """Consent to exactly `roles` for the app (the control API), and give `client` a token that carries them."""
    assert client.put("/_emulator/app-roles", json={"roles": roles}).status_code == 200
    new_token(client, env)


@pytest.fixture(params=["https", "in-process"])
def http(request: pytest.FixtureRequest, emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """Plain httpx with a token from the emulated authority, over HTTPS or in-process: contract tests run twice.

    Paths are the emulator's own (`/v1.0/...`, `/_emulator/...`), as any tool outside the project would use.
    """
    env = emulator.env()
    if request.param == "https":
        client = httpx.Client(verify=ssl.create_default_context(cafile=env["M365_CA_BUNDLE"]), base_url=emulator.url,
                              trust_env=False)
    else:
        client = httpx.Client(transport=InProcessTransport(emulator.backend), base_url=IN_PROCESS_BASE)
    with client:
        new_token(client, env)
        yield client


@pytest.fixture
def clock() -> OffsetClock:
    return OffsetClock()
