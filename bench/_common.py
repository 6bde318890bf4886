"""Benchmark helpers: the emulator in its own process, so its CPU time is not counted as the client's; a real
tenant's latency for each kind of round trip (`--latency`), and the round trips on the critical path ("trips")."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
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


LATENCY_HELP = ("milliseconds for each kind of Graph round trip, as a real tenant takes them: batch=300,delta=300,"
                "page=300 (kinds: batch, delta, page, send, write; none: the emulator's own speed)")


def latencies(text: str) -> dict[str, int]:
    """`batch=300,delta=300`: milliseconds for each kind of round trip."""
    pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
    return {kind.strip(): int(ms) for kind, ms in pairs}


def latency_line(latency: dict[str, int]) -> str:
    return ", ".join(f"{kind} {ms} ms" for kind, ms in latency.items()) or "none (the emulator's own speed)"


def slow_down(call: Callable[[str, str, Any], Any], latency: dict[str, int]) -> None:
    """Give each kind of round trip its latency, through the emulator's control API (`call`: `Emulator.call`)."""
    if latency:
        call("POST", "/_emulator/faults", [{"kind": kind, "latency_ms": ms} for kind, ms in latency.items()])


def critical_path(calls: list[Any]) -> int:
    """The most requests one after another: the longest chain of requests, each sent after the one before it
    was answered (the greatest set of requests no two of which were in flight together: earliest answer first).
    `calls`: graph_client's CallRecords."""
    chain, free_at = 0, float("-inf")
    for call in sorted(calls, key=lambda c: c.started + c.seconds):
        if call.started >= free_at:
            chain, free_at = chain + 1, call.started + call.seconds
    return chain


class Trips:
    """The Graph calls made while it watches (graph_client's observer), and their critical path."""

    def __init__(self) -> None:
        from graph_client import observe

        self.calls: list[Any] = []
        observe(self.calls.append)

    def clear(self) -> None:
        self.calls.clear()

    def count(self) -> int:
        return critical_path(self.calls)
