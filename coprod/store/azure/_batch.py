"""Entity group transactions for the Table Storage store: grouped within Table Storage's limits, a few at once.

A transaction is at most BATCH operations on one partition and under BATCH_BYTES. Transactions on distinct keys
are sent TOGETHER at a time, so one is built or read while another is being served: on Azurite (one Node process)
and on Table Storage alike, a transaction is mostly waiting.

The SDK's own transaction builds every operation as an HTTP request object and reads the answer with the email
package's MIME parser: about 1 ms of CPU an entity, most of a first sync's CPU on Table Storage. `_send` writes
the same multipart body (the Table service's documented batch format, as the SDK sends it) and reads only each
operation's status line, through the SDK's own pipeline (its authentication, retries and transport). A
transaction it does not see succeed whole is sent again through the SDK's `submit_transaction`, which either
succeeds or raises the SDK's TableTransactionError with Table Storage's reason: a refused transaction changes
nothing, so sending it again is safe.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from coprod.store.azure._entities import BATCH, BATCH_BYTES

if TYPE_CHECKING:
    from azure.data.tables import TableClient

__all__ = ["TOGETHER", "send", "together", "transact", "wire_size"]

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
        weight = len(_json(dict(operation[1]))) + 500  # what goes on the wire: the entity and its request's lines
        if batches[-1] and (len(batches[-1]) >= BATCH or size + weight > BATCH_BYTES):
            batches.append([])
            size = 0
        batches[-1].append((*operation, {"mode": UpdateMode.REPLACE}) if operation[0] == "upsert" else operation)
        size += weight
    together(lambda batch: send(client, batch), [b for b in batches if b])


def wire_size(operations: Iterable[tuple[Any, ...]]) -> int:
    """What a transaction of `operations` sends, near enough: each entity's JSON as the service reads it, and its
    request's lines. (Bounded first from the strings' lengths: a character is at most 12 bytes there, an emoji
    written as two `\\u` escapes; a printable ASCII one at most 2, a quote escaped.)"""
    operations = list(operations)
    bound = sum(sum(len(k) + 40 + (len(v) * (2 if v.isascii() and v.isprintable() else 12)
                                   if isinstance(v, str) else 30)
                    for k, v in dict(op[1]).items()) + 500 for op in operations)
    return bound if bound <= BATCH_BYTES else sum(len(_json(dict(op[1]))) + 500 for op in operations)


_STATUS = re.compile(rb"^HTTP/1\.1 (\d{3})[^\n]*\n((?:[^\r\n]+\r?\n)*)", re.MULTILINE)  # a status, its headers
_ETAG = re.compile(rb"^ETag: *([^\r\n]+)", re.MULTILINE | re.IGNORECASE)
_INT32 = range(-(2**31), 2**31)


def _json(entity: dict[str, Any]) -> str:
    """An entity as the Table service reads it: a double and a 64-bit integer say so (`@odata.type`)."""
    body: dict[str, Any] = {}
    for name, value in entity.items():
        if value is None:
            continue
        if isinstance(value, float):
            body |= {name: value, f"{name}@odata.type": "Edm.Double"}
        elif isinstance(value, int) and not isinstance(value, bool) and value not in _INT32:
            body |= {name: str(value), f"{name}@odata.type": "Edm.Int64"}
        else:
            body[name] = value
    return json.dumps(body)  # (ASCII, as the SDK sends it: a raw U+2028 breaks some parsers)


def _key(value: Any) -> str:
    """A key in an entity's address: a quote doubled, then URL-escaped (as the SDK writes it)."""
    return quote(str(value).replace("'", "''"), safe="")


def _operation(table_url: str, version: str, operation: tuple[Any, ...]) -> str:
    action, entity = operation[0], operation[1]
    options = operation[2] if len(operation) > 2 else {}
    key = f"(PartitionKey='{_key(entity['PartitionKey'])}',RowKey='{_key(entity['RowKey'])}')"
    headers = [f"x-ms-version: {version}", "DataServiceVersion: 3.0"]
    body = ""
    if action == "create":
        line, body = f"POST {table_url} HTTP/1.1", _json(dict(entity))
        headers.append("Accept: application/json;odata=minimalmetadata")
    elif action in ("upsert", "update"):
        if str(options.get("mode", "")).lower() not in ("replace", "updatemode.replace"):
            raise ValueError("only whole-entity replaces are sent this way")
        line, body = f"PUT {table_url}{key} HTTP/1.1", _json(dict(entity))
        headers.append("Accept: application/json")
        if action == "update":
            headers.append(f"If-Match: {options['etag'] if options.get('etag') else '*'}")
    elif action == "delete":
        line = f"DELETE {table_url}{key} HTTP/1.1"
        headers += ["Accept: application/json;odata=minimalmetadata",
                    f"If-Match: {options['etag'] if options.get('etag') else '*'}"]
    else:
        raise ValueError(f"no such operation: {action}")
    if body:
        headers = ["Content-Type: application/json", f"Content-Length: {len(body.encode())}", *headers]
    return "\r\n".join([line, *headers, "", body])


def send(client: TableClient, batch: list[Any]) -> list[str | None]:
    """One transaction (see the module's docstring): like `client.submit_transaction(batch)`, with less CPU.
    Returns each operation's new ETag (None for a delete)."""
    from azure.core.rest import HttpRequest

    try:
        base = f"{client.scheme}://{client._primary_hostname}"  # (as the SDK's own transaction builds it)
        pipeline = client._client.send_request  # (its own pipeline: auth, retries)
        changeset, outer = f"changeset_{uuid.uuid4()}", f"batch_{uuid.uuid4()}"
        parts = [f"--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
                 f"Content-ID: {n}\r\n\r\n{_operation(f'{base}/{client.table_name}', client.api_version, op)}\r\n"
                 for n, op in enumerate(batch)]
        body = (f"--{outer}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n" + "".join(parts)
                + f"--{changeset}--\r\n\r\n--{outer}--\r\n").encode()
    except (KeyError, ValueError, TypeError, AttributeError):  # not one this builder knows (or an SDK without
        # the attributes it uses): the SDK's own way
        return _etags(client.submit_transaction(batch))
    request = HttpRequest("POST", f"{base}/$batch", content=body, headers={
        "x-ms-version": client.api_version, "DataServiceVersion": "3.0", "MaxDataServiceVersion": "3.0;NetFx",
        "Content-Type": f"multipart/mixed; boundary={outer}", "Accept": "application/json"})
    response = pipeline(request, stream=True)
    answers: list[tuple[bytes, bytes]] = _STATUS.findall(response.read()) if response.status_code == 202 else []
    if len(answers) != len(batch) or any(not 200 <= int(status) < 300 for status, _ in answers):
        return _etags(client.submit_transaction(batch))  # refused, or not understood: the SDK's way says why
    return [found.group(1).decode() if (found := _ETAG.search(headers)) else None for _, headers in answers]


def _etags(results: Any) -> list[str | None]:
    return [result.get("etag") if hasattr(result, "get") else None for result in results or []]
