"""Serve an ASGI app with uvicorn in a background thread: the emulator, and any test's own server.

The socket is bound when the server is made, so its port is known (and ours) before it starts. It is made
with `proto=IPPROTO_TCP` and TCP_NODELAY: asyncio sets TCP_NODELAY only on sockets that say so, and without it
every answer (headers, then body) waits about 40 ms for the client's delayed ACK.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

__all__ = ["BackgroundServer"]


class BackgroundServer:
    """`app` on `http(s)://host:port` (port 0: a free one), in a daemon thread; a context manager.

    `certfile` and `keyfile` make it HTTPS; other keyword arguments go to `uvicorn.Config`.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, *, certfile: str | None = None,
                 keyfile: str | None = None, name: str = "asgi-server", **options: Any) -> None:
        self.host = host
        self.name = name
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM,
                                     socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        self.scheme = "https" if certfile else "http"
        settings: dict[str, Any] = {"log_level": "warning", "access_log": False, "lifespan": "off",
                                    "timeout_graceful_shutdown": 1} | options
        config = uvicorn.Config(app, ssl_certfile=certfile, ssl_keyfile=keyfile, **settings)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve in this thread until stopped (Ctrl+C)."""
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def _serve(self) -> None:
        try:
            self.serve_forever()
        except BaseException as error:  # reported by start(), which is waiting for the server
            self._failure = error

    def start(self, timeout: float = 10) -> BackgroundServer:
        self._thread = threading.Thread(target=self._serve, name=f"{self.name}-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server on {self.url} did not start") from self._failure
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._server.force_exit = True  # don't wait for clients' idle keep-alive connections (msal keeps one)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
