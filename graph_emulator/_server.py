"""Serve the emulator over HTTPS on loopback, in a background thread or in the foreground."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import tempfile
import threading
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from graph_emulator._app import create_app
from graph_emulator._backend import Backend
from graph_emulator._faults import FaultRule
from graph_emulator._tls import TlsFiles, make_tls_files

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
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say so, and without it every
        # answer (headers, then body) waits ~40 ms for the client's delayed ACK.
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM,
                                     socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        self.app = create_app(self.backend, ca_bundle=str(self.tls.ca_bundle))
        config = uvicorn.Config(self.app, ssl_certfile=str(self.tls.certificate), ssl_keyfile=str(self.tls.key),
                                log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30,
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def env(self) -> dict[str, str]:
        return self.backend.env(self.url, str(self.tls.ca_bundle))

    def add_fault(self, **rule: Any) -> FaultRule:
        fault = FaultRule(**rule)
        self.backend.faults.add(fault)
        return fault

    def serve_forever(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(target=self.serve_forever, name="graph-emulator", daemon=True)
        self._thread.start()
        context = ssl.create_default_context(cafile=str(self.tls.ca_bundle))
        for _ in range(500):
            if self._server.started:
                break
            threading.Event().wait(0.01)
        with urllib.request.urlopen(f"{self.url}/_emulator/env", context=context,  # noqa: S310 - our own https URL
                                    timeout=10) as answer:
            json.load(answer)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._server.force_exit = True  # don't wait for idle keep-alive connections (msal keeps one open)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()
        if self._temp is not None:
            self._temp.cleanup()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
