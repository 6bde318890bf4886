"""Serve the emulator over HTTPS on loopback, in a background thread or in the foreground."""

from __future__ import annotations

import json
import ssl
import tempfile
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from graph_emulator.core.app import create_app
from graph_emulator.core.backend import Backend
from graph_emulator.core.faults import FaultRule
from graph_emulator.core.serving import BackgroundServer
from graph_emulator.core.tls import TlsFiles, make_tls_files

__all__ = ["EmulatorServer"]


class EmulatorServer:
    """The emulator on `https://host:port`, started in a thread; a context manager.

    `backend` is the live state (seed data, read what the service did);
    `env()` the M365_* settings pointing at it; `add_fault()` injects faults.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, backend: Backend | None = None,
                 state_dir: Path | None = None) -> None:
        self.host = host
        self._temp = tempfile.TemporaryDirectory(prefix="graph-emulator-") if state_dir is None else None
        directory = Path(self._temp.name) if self._temp else Path(state_dir)  # type: ignore[arg-type]
        self.tls: TlsFiles = make_tls_files(directory, (host, "localhost") if host != "localhost" else (host,))
        self.backend = backend or Backend()
        self.app = create_app(self.backend, ca_bundle=str(self.tls.ca_bundle))
        self._server = BackgroundServer(self.app, host, port, certfile=str(self.tls.certificate),
                                        keyfile=str(self.tls.key), name="graph-emulator", timeout_keep_alive=30)
        self.port: int = self._server.port

    @property
    def url(self) -> str:
        return self._server.url

    def env(self) -> dict[str, str]:
        return self.backend.env(self.url, str(self.tls.ca_bundle))

    def add_fault(self, **rule: Any) -> FaultRule:
        fault = FaultRule(**rule)
        self.backend.faults.add(fault)
        return fault

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def start(self) -> EmulatorServer:
        self._server.start()
        context = ssl.create_default_context(cafile=str(self.tls.ca_bundle))
        with urllib.request.urlopen(f"{self.url}/_emulator/env", context=context,  # noqa: S310 - our own https URL
                                    timeout=10) as answer:
            json.load(answer)
        return self

    def stop(self) -> None:
        self._server.stop()
        if self._temp is not None:
            self._temp.cleanup()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
