"""Azurite, the Azure Storage emulator (from npm), for tests: started on a free port, stopped afterwards.

The tests that need it skip, saying what to install, when `node_modules/.bin/azurite-table` is missing, and fail
instead when COPROD_REQUIRE_AZURITE=1 (as `.ci/run` sets: it installs Azurite with `npm ci`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["ACCOUNT", "KEY", "azurite_tables", "azurite_tables_and_queues", "connection_string"]

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / "node_modules" / ".bin" / "azurite-table"
ACCOUNT = "devstoreaccount1"  # Azurite's well-known development account and key (public, not a secret)
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def connection_string(port: int) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"TableEndpoint=http://127.0.0.1:{port}/{ACCOUNT};")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def azurite_tables_and_queues() -> Iterator[str]:
    """Azurite's Table and Queue services, in memory, on free ports; yields one connection string for both."""
    with azurite_tables() as tables, _azurite(ROOT / "node_modules" / ".bin" / "azurite-queue", "--queueHost",
                                              "--queuePort") as queue_port:
        yield f"{tables}QueueEndpoint=http://127.0.0.1:{queue_port}/{ACCOUNT};"


@contextmanager
def _azurite(binary: Path, host_flag: str, port_flag: str) -> Iterator[int]:
    if not binary.exists():
        if os.environ.get("COPROD_REQUIRE_AZURITE") == "1":
            pytest.fail(f"Azurite is required but {binary} is missing: run `npm ci`")
        pytest.skip("Azurite is not installed: run `npm ci`")
    port = _free_port()
    process = subprocess.Popen([str(binary), host_flag, "127.0.0.1", port_flag, str(port),  # noqa: S603
                                "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{binary.name} did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def azurite_tables() -> Iterator[str]:
    """Azurite's Table service, in memory, on a free port; yields its connection string."""
    with _azurite(BINARY, "--tableHost", "--tablePort") as port:
        yield connection_string(port)
