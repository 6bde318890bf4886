"""Shared fixtures: one emulator over loopback HTTPS for the session, a fresh tenant per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config import Settings, load_settings
from graph_client import GraphClient, SharePointLists
from graph_emulator import EmulatorServer

SIGNING_KEY = "test-signing-key-0123456789abcdef"


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
def settings(env: dict[str, str]) -> Settings:
    return load_settings(env)


@pytest.fixture
def graph(settings: Settings) -> Iterator[GraphClient]:
    with GraphClient.from_settings(settings) as client:
        yield client


@pytest.fixture
def lists(graph: GraphClient, settings: Settings) -> SharePointLists:
    return SharePointLists(graph, settings.site_id)
