"""Benchmark helpers: the emulator in its own process, so its CPU time is not counted as the client's."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Emulator:
    def __init__(self, url: str, ca: str) -> None:
        self.url = url
        self.context = ssl.create_default_context(cafile=ca)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,  # noqa: S310 - https only
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=self.context, timeout=120) as answer:  # noqa: S310
            return json.load(answer)

    def env(self) -> dict[str, str]:
        return dict(self.call("GET", "/_emulator/env"))

    def seed(self, list_name: str, items: list[dict[str, Any]], created: list[float] | None = None) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(items), 2000):
            chunk = {"items": items[start:start + 2000]}
            if created:
                chunk["created"] = created[start:start + 2000]  # type: ignore[assignment]
            ids += self.call("POST", f"/_emulator/lists/{list_name}/items", chunk)["ids"]
        return ids

    def edit(self, list_name: str, item_id: str, fields: dict[str, Any]) -> None:
        self.call("PATCH", f"/_emulator/lists/{list_name}/items/{item_id}", {"fields": fields})

    def delete(self, list_name: str, item_id: str) -> None:
        self.call("DELETE", f"/_emulator/lists/{list_name}/items/{item_id}")

    def reset(self) -> dict[str, str]:
        """A fresh tenant; returns the settings that point at it."""
        return dict(self.call("POST", "/_emulator/reset"))

    def log(self) -> dict[str, Any]:
        return dict(self.call("GET", "/_emulator/log"))


@contextmanager
def emulator_process() -> Iterator[Emulator]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = Path(tempfile.mkdtemp(prefix="bench-emulator-"))
    process = subprocess.Popen([sys.executable, "-m", "graph_emulator", "--host", "127.0.0.1", "--port", str(port),
                                "--state-dir", str(state)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ca = state / "ca.pem"
        for _ in range(300):
            if ca.exists():
                try:
                    emulator = Emulator(f"https://127.0.0.1:{port}", str(ca))
                    emulator.env()
                    break
                except OSError:
                    pass
            time.sleep(0.05)
        else:
            raise RuntimeError("the emulator did not start")
        yield emulator
    finally:
        process.terminate()
        process.wait(timeout=10)
