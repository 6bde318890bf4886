"""The emulator's HTTP core, free of any web framework: a request in, Graph's answer out.

`GraphService.serve(call)` is the one entry point for every Graph request,
plain or `$batch`: it checks the bearer token, draws injected faults, routes
to a resource handler, shapes errors like Graph and logs the request. The
Starlette app (`app.py`) and the in-process transport (`testing.py`) both
call it, so the emulator behaves the same over HTTPS and in-process.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from graph_emulator.core.backend import Backend
from graph_emulator.core.errors import GraphFault, bad_request
from graph_emulator.core.faults import LogEntry
from graph_emulator.core.permissions import denied_error, need_for, site_role_covers

__all__ = ["JSON_TYPE", "MAX_BATCH", "Call", "GraphService", "Handler", "Reply", "Route", "error_body", "parse_select"]

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
DEFAULT_PAGE = 200
MAX_PAGE = 5000
MAX_BATCH = 20


@dataclass
class Call:
    """One Graph request as the handlers see it."""

    method: str
    path: str  # without /v1.0 and without the query
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    base: str  # scheme://host:port
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        if not self.body:
            raise bad_request("A request body is required.", code="BadRequest")
        try:
            return json.loads(self.body)
        except ValueError:
            raise bad_request("Unable to read JSON request payload. Please ensure Content-Type header is set "
                              "and payload is of valid JSON format.", code="BadRequest") from None

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.", code="BadRequest")
        return body

    def top(self, default: int = DEFAULT_PAGE, maximum: int = MAX_PAGE) -> int:
        raw = self.query.get("$top")
        if raw is None:
            return default
        if not raw.isdigit() or int(raw) < 1:
            raise bad_request(f"Invalid value '{raw}' for $top.", code="BadRequest")
        return min(int(raw), maximum)

    def link(self, path: str, **query: str) -> str:
        parts = "&".join(f"{k}={quote(str(v), safe='(),$=')}" for k, v in query.items() if v is not None)
        return f"{self.base}/v1.0{path}" + (f"?{parts}" if parts else "")

    def context(self, fragment: str) -> str:
        """An `@odata.context` URL, as Graph puts at the top of its answers."""
        return f"{self.base}/v1.0/$metadata#{fragment}"


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-able, bytes, or None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # e.g. /sites/{site}/lists/{list}
    handler: Handler


def parse_select(raw: str | None, properties: Iterable[str] | None = None,
                 unknown: Callable[[str], Exception] | None = None) -> list[str] | None:
    """A `$select` as the list of names it asks for (None: no `$select`). With `properties`, each name in its
    canonical case (Graph takes them in any case, once each), and `unknown(name)` raised for one the type lacks."""
    if not raw:
        return None
    canonical = {name.casefold(): name for name in properties or ()}
    chosen: list[str] = []
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        name = canonical.get(part.casefold(), part if properties is None else None)
        if name is None:
            raise (unknown(part) if unknown else ValueError(part))
        if name not in chosen:
            chosen.append(name)
    return chosen


def error_body(code: str, message: str, request_id: str, client_request_id: str | None) -> dict[str, Any]:
    """Graph's error shape."""
    return {"error": {"code": code, "message": message, "innerError": {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id, "client-request-id": client_request_id or request_id}}}


def _qs(query: dict[str, str]) -> str:
    return ("?" + "&".join(f"{k}={v}" for k, v in query.items())) if query else ""


class GraphService:
    """Every Graph request goes through `serve`; resources add their routes with `add_routes`."""

    def __init__(self, backend: Backend, routes: Iterable[Route] = ()) -> None:
        self.backend = backend
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = []
        self._shuffle = random.Random(7)  # noqa: S311 - the order of $batch answers, not cryptography
        self.add_routes(routes)

    def add_routes(self, routes: Iterable[Route]) -> None:
        for route in routes:
            pattern = re.escape(route.template).replace(r"\{", "{").replace(r"\}", "}")
            pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
            self._routes.append((route.method, re.compile(f"^{pattern}/?$"), route.template, route.handler))

    def match(self, method: str, path: str) -> tuple[str, Handler | None, dict[str, str]]:
        allowed = False
        for verb, pattern, template, handler in self._routes:
            found = pattern.match(path)
            if found:
                if verb == method:
                    return f"{method} {template}", handler, found.groupdict()
                allowed = True
        return f"{method} {'(method not allowed)' if allowed else '(no route)'}", None, {}

    # --- the entry point -------------------------------------------------------
    def serve(self, call: Call) -> tuple[Reply, float]:
        """Answer one request: the reply, and the latency (seconds) it should take."""
        if call.path == "/$batch" and call.method == "POST":
            return self._batch(call)
        return self.dispatch(call)

    def dispatch(self, call: Call, *, batch_authorization: str | None = None) -> tuple[Reply, float]:
        """Answer one request; inside a `$batch`, `batch_authorization` is the batch's bearer (checked once)."""
        in_batch = batch_authorization is not None
        operation, handler, params = self.match(call.method, call.path)
        request_id = str(uuid.uuid4())
        latency_ms = 0
        try:
            if not in_batch:  # a $batch is authenticated once, as a whole; each request in it is authorised
                self._check_auth(call)
            self._check_permission(operation, params, batch_authorization or call.headers.get("authorization"))
            latency_ms, fault = self.backend.faults.draw(call.method, call.path)
            if fault is not None and not fault.after:
                raise GraphFault(fault.status, fault.code, fault.message, fault.headers)
            if handler is None:
                if "not allowed" in operation:
                    raise GraphFault(405, "Request_BadRequest", "The HTTP method is not allowed for the resource.")
                raise GraphFault(400, "BadRequest", f"Resource not found for the segment '{call.path.split('/')[-1]}'.")
            call.params = params
            with self.backend.lock:
                reply = handler(call)
            if fault is not None:  # done, and then the answer lost
                raise GraphFault(fault.status, fault.code, fault.message, fault.headers)
        except GraphFault as fault_:
            reply = Reply(fault_.status, error_body(fault_.code, fault_.message, request_id,
                                                    call.headers.get("client-request-id")), dict(fault_.headers))
        reply.headers.setdefault("request-id", request_id)
        reply.headers.setdefault("client-request-id", call.headers.get("client-request-id") or request_id)
        self._log(call, operation, reply, in_batch)
        return reply, latency_ms / 1000

    def _check_auth(self, call: Call) -> None:
        problem = self.backend.identity.check_bearer(call.headers.get("authorization"))
        if problem:
            raise GraphFault(401, "InvalidAuthenticationToken", problem,
                             {"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'})

    def _check_permission(self, operation: str, params: dict[str, str], authorization: str | None) -> None:
        """403 unless the token's roles hold one of the permissions the operation's reference page lists."""
        need = need_for(operation)
        if need is None:
            return
        roles = self.backend.identity.roles_of(authorization)
        if roles.intersection(need.roles):
            return
        if need.service == "mail" and self._exchange_scoped(need.roles, params.get("user", "")):
            return
        if need.site and "Sites.Selected" in roles and "site" in params:
            with self.backend.lock:
                granted = self.backend.sharepoint.app_role(params["site"], self.backend.identity.client_id)
            if site_role_covers(granted, need.site):
                return
        code, message = denied_error(need)
        raise GraphFault(403, code, message)

    def _exchange_scoped(self, needed: tuple[str, ...], user: str) -> bool:
        """Whether Exchange RBAC for Applications grants one of `needed` on this mailbox (the sender's only)."""
        sender = self.backend.sender
        granted = self.backend.tenant.exchange_app_roles
        return bool(set(granted) & set(needed)) and user.lower() in (sender.id.lower(),
                                                                      sender.user_principal_name.lower())

    def _log(self, call: Call, operation: str, reply: Reply, in_batch: bool) -> None:
        retry_after = reply.headers.get("Retry-After")
        self.backend.log.add(LogEntry(time.monotonic(), call.method, call.path + _qs(call.query), operation,
                                      reply.status, float(retry_after) if retry_after else None, in_batch))

    # --- $batch --------------------------------------------------------------------
    def _batch(self, call: Call) -> tuple[Reply, float]:
        request_id = str(uuid.uuid4())
        latency_ms = 0
        try:
            self._check_auth(call)
            latency_ms, fault = self.backend.faults.draw("POST", "/$batch")
            if fault is not None:
                raise GraphFault(fault.status, fault.code, fault.message, fault.headers)
            requests = _batch_requests(call)
        except GraphFault as fault_:
            reply = Reply(fault_.status, error_body(fault_.code, fault_.message, request_id, None),
                          dict(fault_.headers))
            self._log(call, "POST /$batch", reply, False)
            return reply, latency_ms / 1000
        self._log(call, "POST /$batch", Reply(200), False)
        statuses: dict[str, int] = {}
        responses = []
        total_latency = latency_ms / 1000
        for entry in requests:
            answer, latency = self._batch_answer(call, entry, statuses, request_id)
            total_latency = max(total_latency, latency)
            responses.append(answer)
        self._shuffle.shuffle(responses)  # Graph does not promise the order: clients must match by id
        return Reply(200, {"responses": responses}, {  # Graph gives every answer its request-id, $batch too
            "request-id": request_id,
            "client-request-id": call.headers.get("client-request-id") or request_id}), total_latency

    def _batch_answer(self, call: Call, entry: dict[str, Any], statuses: dict[str, int],
                      request_id: str) -> tuple[dict[str, Any], float]:
        """One request of a `$batch`, answered (424 when one it depends on failed), and its latency; its status
        goes into `statuses`."""
        depends = entry.get("dependsOn") or []
        if any(statuses.get(d, 424) >= 400 for d in depends):
            statuses[entry["id"]] = 424
            return {"id": entry["id"], "status": 424, "headers": {},
                    "body": error_body("FailedDependency", "A request it depends on failed.", request_id, None)}, 0.0
        url = str(entry.get("url", ""))
        split = urlsplit(url if url.startswith("/") else "/" + url)
        sub_headers = {k.lower(): str(v) for k, v in (entry.get("headers") or {}).items()}
        body = entry.get("body")
        raw = json.dumps(body).encode() if body is not None and not isinstance(body, str) else \
            (body or "").encode()
        sub = Call(str(entry.get("method", "GET")).upper(), split.path,
                   dict(parse_qsl(split.query, keep_blank_values=True)), sub_headers, raw, call.base)
        reply, latency = self.dispatch(sub, batch_authorization=call.headers.get("authorization") or "")
        statuses[entry["id"]] = reply.status
        answer: dict[str, Any] = {"id": entry["id"], "status": reply.status,
                                  "headers": {k: v for k, v in reply.headers.items()
                                              if k in ("Retry-After", "Location", "ETag")}}
        if reply.body is not None:
            answer["headers"]["Content-Type"] = "application/json; charset=utf-8"
            answer["body"] = reply.body
        return answer, latency


def _batch_requests(call: Call) -> list[dict[str, Any]]:
    """The requests of a `$batch` body, or Graph's 400: at least one, at most MAX_BATCH, each with a unique id."""
    payload = call.json()
    requests = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(requests, list) or not requests:
        raise bad_request("Invalid batch payload format.", code="BadRequest")
    if len(requests) > MAX_BATCH:
        raise bad_request(f"Number of batch requests exceeds the maximum of {MAX_BATCH}.", code="BadRequest")
    ids = [r.get("id") if isinstance(r, dict) else None for r in requests]
    if any(not isinstance(i, str) or not i for i in ids) or len(set(ids)) != len(ids):
        raise bad_request("Every batch request needs a unique id.", code="BadRequest")
    return requests


def encode_body(reply: Reply) -> tuple[bytes, dict[str, str]]:
    """The bytes and headers of a reply, as the wire carries them."""
    headers = dict(reply.headers)
    from email.utils import format_datetime

    headers["Date"] = format_datetime(datetime.now(UTC), usegmt=True)
    if reply.body is None:
        return b"", headers
    if isinstance(reply.body, bytes):
        return reply.body, headers
    headers.setdefault("Content-Type", JSON_TYPE)
    return json.dumps(reply.body, ensure_ascii=False, separators=(",", ":")).encode(), headers
