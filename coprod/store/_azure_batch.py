"""Entity group transactions for the Table Storage store: grouped within Table Storage's limits, a few at once.

A transaction is at most BATCH operations on one partition and under BATCH_BYTES. Transactions on distinct keys
are sent TOGETHER at a time, so one is built or read while another is being served: on Azurite (one Node process)
and on Table Storage alike, a transaction is mostly waiting.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from coprod.store._entities import BATCH, BATCH_BYTES

if TYPE_CHECKING:
    from azure.data.tables import TableClient

__all__ = ["TOGETHER", "together", "transact"]

TOGETHER = 4  # transactions under way at once
T = TypeVar("T")
R = TypeVar("R")


def together(work: Callable[[T], R], items: list[T]) -> list[R]:
    """`work` on each item, up to TOGETHER at once when there is more than one (results in order)."""
    if len(items) < 2:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=TOGETHER) as pool:
        return list(pool.map(work, items))


def transact(client: TableClient, operations: Iterable[tuple[Any, ...]]) -> None:
    """Operations on one partition, each key once, in transactions within Table Storage's limits. Each is the
    SDK's `(action, entity[, options])`; an "upsert" replaces the entity whole."""
    from azure.data.tables import UpdateMode

    batches: list[list[Any]] = [[]]
    size = 0
    for operation in operations:
        weight = len(json.dumps(operation[1], ensure_ascii=False, default=str)) * 2
        if batches[-1] and (len(batches[-1]) >= BATCH or size + weight > BATCH_BYTES):
            batches.append([])
            size = 0
        batches[-1].append((*operation, {"mode": UpdateMode.REPLACE}) if operation[0] == "upsert" else operation)
        size += weight
    together(client.submit_transaction, [b for b in batches if b])
