"""The ledger of hand-offs on Table Storage (Azurite), operation by operation: requests and time.

    python bench/ledger.py

What the services do with the ledger, on a fresh set of tables: record 1,000 hand-offs at once (a first sync),
list the due ones from an instance that has seen nothing, settle each (the messages run), then 100 each of a get
from a new instance (a function invocation), a get, an add, a settle by key and a put from one instance.
Requests are those to the ledger's table, exact (opening a store is left out); times vary with the machine.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coprod.store.azure import AzureTableStore

SENT: list[str] = []  # the URL of every request to the ledger's table, while counting


@contextmanager
def counting(table: str) -> Iterator[None]:
    """Count the requests to `table` (a transaction is one, named by its first operation's table)."""
    from azure.core.pipeline.transport import RequestsTransport

    real = RequestsTransport.send

    def send(self: Any, request: Any, **kwargs: Any) -> Any:
        body = request.body if isinstance(request.body, bytes) else b""
        if table in request.url or table.encode() in body[:3000]:
            SENT.append(request.url)
        return real(self, request, **kwargs)

    RequestsTransport.send = send  # type: ignore[method-assign]
    try:
        yield
    finally:
        RequestsTransport.send = real  # type: ignore[method-assign]


def main() -> None:
    from azure.data.tables import TableServiceClient

    from tests.support.azurite import azurite_tables

    with azurite_tables() as connection:
        prefix = f"b{uuid.uuid4().hex[:10]}"

        def store() -> AzureTableStore:
            return AzureTableStore(TableServiceClient.from_connection_string(connection), prefix=prefix)

        def step(name: str, work: Callable[[], Any]) -> Any:
            SENT.clear()
            began = time.perf_counter()
            with counting(f"{prefix}ledger"):
                result = work()
            print(f"  {name:<52} {len(SENT):>6} {time.perf_counter() - began:>8.2f} s")
            return result

        def key(n: int) -> str:
            return f"message:confirmed:registration-{n}:session-{n // 100}"

        print(f"  {'':<52} {'requests':>6} {'time':>10}")
        one = store()
        step("add 1,000 at once", lambda: one.ledger.add_many(
            [(key(n), "message", {"registration": str(n)}, "due") for n in range(1000)]))
        lister = store()
        due = step("list the due ones (an instance that has seen nothing)",
                   lambda: lister.ledger.list(kind="message", status="due"))
        step("settle each one listed, 1,000", lambda: [lister.ledger.set(e.key, "done", e.payload) for e in due])
        fresh = [store() for _ in range(100)]
        step("get, 100, each from a new instance", lambda: [s.ledger.get(key(n * 10)) for n, s in enumerate(fresh)])
        for s in fresh:
            s.close()
        other = store()
        step("get, 100 from one instance", lambda: [other.ledger.get(key(n)) for n in range(0, 1000, 10)])
        step("add one, 100", lambda: [other.ledger.add(f"guest:p{n}@example.org", "guest-request", {"n": n})
                                      for n in range(100)])
        step("settle by key, 100", lambda: [other.ledger.set(f"guest:p{n}@example.org", "done") for n in range(100)])
        step("put, 100", lambda: [other.ledger.put(f"meeting:{n}", "meeting", "done", {"id": n}) for n in range(100)])
        for s in (one, lister, other):
            s.close()


if __name__ == "__main__":
    main()
