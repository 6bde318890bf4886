"""Shared fixtures: one emulator over loopback HTTPS for the session, a fresh tenant per test; the test's clock and
state store; a programme on that tenant (tests/support/programme.py), alone or behind a local server."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator

import httpx
import pytest

from config import Settings, load_settings
from coprod.store import SqliteStore
from graph_client import GraphClient, SharePointLists
from graph_emulator import EmulatorServer
from graph_emulator.testing import IN_PROCESS_BASE, InProcessTransport
from tests.support.fakes import FakeClock
from tests.support.programme import Programme

SIGNING_KEY = "test-signing-key-0123456789abcdef"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# Settings for a test that reaches no tenant (the pages on a store of their own): every required one, made up.
OFFLINE = {"M365_TENANT_ID": "contoso.example", "M365_CLIENT_ID": "11111111-2222-3333-4444-555555555555",
           "M365_CLIENT_SECRET": "not-used", "M365_SITE_ID": "site", "M365_ORGANIZER_ID": "organiser",
           "M365_SENDER": "team@example.org", "M365_GUEST_GROUP_ID": "group", "COPROD_SIGNING_KEY": SIGNING_KEY}


def offline_settings(**update: object) -> Settings:
    """Settings for a test that reaches no tenant; `update` sets any of them by its field name
    (`programme_name="Having your say"`)."""
    return load_settings(OFFLINE).model_copy(update=update)


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
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[SqliteStore]:  # type: ignore[no-untyped-def]
    """An empty state store in a file of its own: on real time, or on the test's `clock` where that is fixed."""
    fixed = clock_mark(request).get("fixed")
    db = SqliteStore(tmp_path / "state.sqlite3", clock=request.getfixturevalue("clock") if fixed else time.time)
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


def clock_mark(request: pytest.FixtureRequest) -> dict[str, bool]:
    mark = request.node.get_closest_marker("clock")
    return dict(mark.kwargs) if mark else {}


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> FakeClock:
    """The service's clock: real time plus an offset the test moves (the emulator keeps real time). A module or
    class marked `@pytest.mark.clock(fixed=True)` gets a fixed clock instead (`FakeClock()`: exact seconds, for
    rules tested alone), which the `store` fixture then reads too; `@pytest.mark.clock(waits=True)`, one whose
    `sleep` waits for real."""
    mark = clock_mark(request)
    return FakeClock() if mark.get("fixed") else FakeClock.real(waits=bool(mark.get("waits")))


@pytest.fixture
def programme_settings() -> dict[str, str]:
    """What the `programme` fixture's settings add to the emulator's: a module or class overrides this fixture to
    set its own (none here, so a programme is what the settings' defaults make)."""
    return {}


@pytest.fixture
def programme(emulator: EmulatorServer, env: dict[str, str], clock: FakeClock,
              programme_settings: dict[str, str]) -> Iterator[Programme]:
    """A programme (tests/support/programme.py) on a fresh tenant: its lists provisioned, the service open on
    `programme_settings` and the test's clock."""
    with Programme.open(emulator, env, clock, **programme_settings) as made:
        yield made


@pytest.fixture
def live(emulator: EmulatorServer, env: dict[str, str], clock: FakeClock) -> Iterator[Programme]:
    """A programme behind a local server on loopback (the pages, and /api/notifications with its consumer), as
    `python -m coprod serve` runs it: Graph's notifications reach it and are acted on with no sync command."""
    with Programme.live(emulator, env, clock) as made:
        yield made
