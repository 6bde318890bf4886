"""The HTTP layer: parse a request, call the backend, write Graph's answer.

One router serves plain requests and `$batch` entries alike, so faults,
logging and error shapes are the same for both. The ASGI app (Starlette)
serves the authority (`/{tenant}/...`), Graph (`/v1.0/...`) and the control
API (`/_emulator/...`) on one origin.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from graph_emulator._backend import Backend
from graph_emulator._errors import GraphFault, bad_request, not_found
from graph_emulator._faults import FaultRule, LogEntry
from graph_emulator._identity import OAuthError

__all__ = ["GraphRouter", "create_app"]

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


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-able, bytes, or None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Reply]


def _split_select(raw: str | None) -> list[str] | None:
    return [part.strip() for part in raw.split(",") if part.strip()] if raw else None


def _expand_fields(raw: str | None) -> tuple[bool, list[str] | None]:
    """`$expand=fields` or `$expand=fields($select=A,B)` -> (expand?, selected field names)."""
    if not raw:
        return False, None
    match = re.fullmatch(r"\s*fields(?:\s*\(\s*\$select\s*=\s*([^)]*)\))?\s*", raw)
    if not match:
        raise bad_request(f"Parsing OData Select and Expand failed: Could not find a property named "
                          f"'{raw.split('(')[0]}' on type 'microsoft.graph.listItem'.", code="BadRequest")
    return True, _split_select(match.group(1))


class GraphRouter:
    """Routes Graph requests to handlers; used by HTTP and by `$batch`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.routes: list[tuple[str, re.Pattern[str], str, Handler]] = []
        sp = "/sites/{site}"
        lst = sp + "/lists/{list}"
        item = lst + "/items/{item}"
        self.add("GET", sp, self.get_site)
        self.add("GET", sp + "/lists", self.get_lists)
        self.add("POST", sp + "/lists", self.post_list)
        self.add("GET", lst, self.get_list)
        self.add("GET", lst + "/columns", self.get_columns)
        self.add("POST", lst + "/columns", self.post_column)
        self.add("GET", lst + "/items/delta", self.get_delta)
        self.add("GET", lst + "/items", self.get_items)
        self.add("POST", lst + "/items", self.post_item)
        self.add("GET", item, self.get_item)
        self.add("GET", item + "/fields", self.get_item_fields)
        self.add("PATCH", item + "/fields", self.patch_fields)
        self.add("PATCH", item, self.patch_item)
        self.add("DELETE", item, self.delete_item)
        self.add("GET", "/users", self.get_users)
        self.add("GET", "/users/{user}", self.get_user)
        self.add("GET", "/groups/{group}/members", self.get_members)
        self.add("POST", "/groups/{group}/members/$ref", self.post_member)

    def add(self, method: str, template: str, handler: Handler) -> None:
        pattern = re.escape(template).replace(r"\{", "{").replace(r"\}", "}")
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self.routes.append((method, re.compile(f"^{pattern}/?$"), template, handler))

    def match(self, method: str, path: str) -> tuple[str, Handler | None, dict[str, str]]:
        allowed = False
        for verb, pattern, template, handler in self.routes:
            found = pattern.match(path)
            if found:
                if verb == method:
                    return f"{method} {template}", handler, found.groupdict()
                allowed = True
        return f"{method} {'(method not allowed)' if allowed else '(no route)'}", None, {}

    # --- the one entry point ---------------------------------------------
    def dispatch(self, call: Call, *, in_batch: bool = False, check_auth: bool = True) -> tuple[Reply, float]:
        """Serve one request; returns the reply and the latency (seconds) it should take."""
        operation, handler, params = self.match(call.method, call.path)
        request_id = str(uuid.uuid4())
        latency_ms = 0
        try:
            if check_auth:
                problem = self.backend.identity.check_bearer(call.headers.get("authorization"))
                if problem:
                    raise GraphFault(401, "InvalidAuthenticationToken", problem,
                                     {"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'})
            latency_ms, fault = self.backend.faults.draw(call.method, call.path)
            if fault is not None:
                raise GraphFault(fault.status, fault.code, fault.message, fault.headers)
            if handler is None:
                if "not allowed" in operation:
                    raise GraphFault(405, "Request_BadRequest", "The HTTP method is not allowed for the resource.")
                raise GraphFault(400, "BadRequest", f"Resource not found for the segment '{call.path.split('/')[-1]}'.")
            call.params = params
            with self.backend.lock:
                reply = handler(call)
        except GraphFault as fault_:
            reply = Reply(fault_.status, error_body(fault_.code, fault_.message, request_id,
                                                    call.headers.get("client-request-id")), dict(fault_.headers))
        reply.headers.setdefault("request-id", request_id)
        reply.headers.setdefault("client-request-id", call.headers.get("client-request-id") or request_id)
        retry_after = reply.headers.get("Retry-After")
        self.backend.log.add(LogEntry(time.monotonic(), call.method, call.path + _qs(call.query), operation,
                                      reply.status, float(retry_after) if retry_after else None, in_batch))
        return reply, latency_ms / 1000

    # --- sites and lists ------------------------------------------------------
    def get_site(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        return Reply(200, sp.site_json(sp.site(call.params["site"])))

    def get_lists(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        site = sp.site(call.params["site"])
        return Reply(200, {"value": [sp.list_json(site, lst) for lst in site.lists.values()]})

    def post_list(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        site = sp.site(call.params["site"])
        lst = sp.create_list(site.id, call.json())
        return Reply(201, sp.list_json(site, lst))

    def get_list(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        site = sp.site(call.params["site"])
        lst = sp.get_list(site.id, call.params["list"])
        body = sp.list_json(site, lst)
        if "columns" in (call.query.get("$expand") or ""):
            body["columns"] = list(lst.columns.values())
        return Reply(200, body)

    def get_columns(self, call: Call) -> Reply:
        lst = self.backend.sharepoint.get_list(call.params["site"], call.params["list"])
        return Reply(200, {"value": list(lst.columns.values())})

    def post_column(self, call: Call) -> Reply:
        return Reply(201, self.backend.sharepoint.add_column(call.params["site"], call.params["list"], call.json()))

    # --- items ------------------------------------------------------------
    def get_items(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        site = sp.site(call.params["site"])
        lst = sp.get_list(site.id, call.params["list"])
        expand, field_select = _expand_fields(call.query.get("$expand"))
        select = _split_select(call.query.get("$select"))
        top = call.top()
        after = call.query.get("$skiptoken")
        after_id = int(after[len("Paged=TRUE&p_ID="):]) if after and after.startswith("Paged=TRUE&p_ID=") else 0
        ids = sorted(i for i in lst.items if i > after_id)
        page = ids[:top]
        body: dict[str, Any] = {
            "@odata.context": f"{call.base}/v1.0/$metadata#sites('{site.id}')/lists('{lst.id}')/items",
            "value": [sp.item_json(site, lst, lst.items[i], expand_fields=expand, field_select=field_select,
                                   select=select) for i in page]}
        if len(ids) > top:
            query = {k: v for k, v in call.query.items() if k != "$skiptoken"}
            body["@odata.nextLink"] = call.link(call.path, **query, **{"$skiptoken": f"Paged=TRUE&p_ID={page[-1]}"})
        return Reply(200, body)

    def post_item(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        site = sp.site(call.params["site"])
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
            raise bad_request("The request body must have a fields object.")
        item = sp.create_item(site.id, call.params["list"], body["fields"])
        lst = sp.get_list(site.id, call.params["list"])
        return Reply(201, sp.item_json(site, lst, item, expand_fields=True))

    def get_item(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        site = sp.site(call.params["site"])
        lst, item = sp.get_item(site.id, call.params["list"], call.params["item"])
        expand, field_select = _expand_fields(call.query.get("$expand"))
        return Reply(200, sp.item_json(site, lst, item, expand_fields=expand, field_select=field_select,
                                       select=_split_select(call.query.get("$select"))))

    def get_item_fields(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        lst, item = sp.get_item(call.params["site"], call.params["list"], call.params["item"])
        return Reply(200, sp.fields_json(lst, item, _split_select(call.query.get("$select"))))

    def patch_fields(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        fields = call.json()
        item = sp.update_fields(call.params["site"], call.params["list"], call.params["item"], fields,
                                call.headers.get("if-match"))
        lst = sp.get_list(call.params["site"], call.params["list"])
        return Reply(200, sp.fields_json(lst, item))

    def patch_item(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        site = sp.site(call.params["site"])
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
            raise bad_request("Only fields can be changed on a list item.")
        item = sp.update_fields(site.id, call.params["list"], call.params["item"], body["fields"],
                                call.headers.get("if-match"))
        lst = sp.get_list(site.id, call.params["list"])
        return Reply(200, sp.item_json(site, lst, item, expand_fields=True))

    def delete_item(self, call: Call) -> Reply:
        self.backend.sharepoint.delete_item(call.params["site"], call.params["list"], call.params["item"])
        return Reply(204)

    def get_delta(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        site = sp.site(call.params["site"])
        expand, field_select = _expand_fields(call.query.get("$expand"))
        select = _split_select(call.query.get("$select"))
        try:
            lst, changes, next_state, delta_state = sp.delta_page(site.id, call.params["list"],
                                                                  call.query.get("token"), call.top())
        except GraphFault as fault:
            if fault.status == 410:
                lst = sp.get_list(site.id, call.params["list"])
                fault.headers["Location"] = call.link(call.path, **{k: v for k, v in call.query.items()
                                                                    if k != "token"})
            raise
        value: list[dict[str, Any]] = []
        for change in changes:
            if isinstance(change, int):
                value.append({"id": str(change), "deleted": {"state": "deleted"}})
            else:
                value.append(sp.item_json(site, lst, change, expand_fields=expand, field_select=field_select,
                                          select=select))
        body: dict[str, Any] = {
            "@odata.context": f"{call.base}/v1.0/$metadata#Collection(microsoft.graph.listItem)", "value": value}
        query = {k: v for k, v in call.query.items() if k != "token"}
        if next_state is not None:
            body["@odata.nextLink"] = call.link(call.path, **query, token=sp.encode_token(next_state))
        else:
            assert delta_state is not None
            body["@odata.deltaLink"] = call.link(call.path, **query, token=sp.encode_token(delta_state))
        return Reply(200, body)

    # --- directory ------------------------------------------------------------
    def get_users(self, call: Call) -> Reply:
        users = list(self.backend.users.values())
        return Reply(200, {"@odata.context": f"{call.base}/v1.0/$metadata#users",
                           "value": [u.as_json() for u in users]})

    def get_user(self, call: Call) -> Reply:
        key = call.params["user"].lower()
        for user in self.backend.users.values():
            if key in (user.id, user.user_principal_name.lower()):
                return Reply(200, user.as_json())
        raise not_found(f"Resource '{call.params['user']}' does not exist or one of its queried reference-property "
                        "objects are not present.", code="Request_ResourceNotFound")

    def _group(self, call: Call) -> Any:
        group = self.backend.groups.get(call.params["group"])
        if group is None:
            raise not_found(f"Resource '{call.params['group']}' does not exist or one of its queried "
                            "reference-property objects are not present.", code="Request_ResourceNotFound")
        return group

    def get_members(self, call: Call) -> Reply:
        group = self._group(call)
        members = [self.backend.users[m].as_json() | {"@odata.type": "#microsoft.graph.user"}
                   for m in group.members if m in self.backend.users]
        return Reply(200, {"value": members})

    def post_member(self, call: Call) -> Reply:
        group = self._group(call)
        ref = call.json().get("@odata.id", "") if isinstance(call.json(), dict) else ""
        user_id = ref.rstrip("/").rsplit("/", 1)[-1]
        if user_id not in self.backend.users:
            raise not_found(f"Resource '{user_id}' does not exist or one of its queried reference-property "
                            "objects are not present.", code="Request_ResourceNotFound")
        if user_id in group.members:
            raise GraphFault(400, "Request_BadRequest",
                             "One or more added object references already exist for the following modified "
                             "properties: 'members'.")
        group.members.append(user_id)
        return Reply(204)


def _qs(query: dict[str, str]) -> str:
    return ("?" + "&".join(f"{k}={v}" for k, v in query.items())) if query else ""


def error_body(code: str, message: str, request_id: str, client_request_id: str | None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "innerError": {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id, "client-request-id": client_request_id or request_id}}}


def _render(reply: Reply) -> Response:
    headers = dict(reply.headers)
    headers["Date"] = format_datetime(datetime.now(UTC), usegmt=True)
    if reply.body is None:
        return Response(status_code=reply.status, headers=headers)
    if isinstance(reply.body, bytes):
        return Response(reply.body, status_code=reply.status, headers=headers)
    payload = json.dumps(reply.body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(payload, status_code=reply.status, headers=headers, media_type=JSON_TYPE)


def create_app(backend: Backend | None = None, *, ca_bundle: str | None = None) -> Starlette:
    """The emulator as an ASGI app. `app.state.backend` holds its state."""
    backend = backend or Backend()
    router = GraphRouter(backend)
    shuffle = random.Random(7)

    def base_of(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}"

    async def graph(request: Request) -> Response:
        path = "/" + request.path_params["path"]
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in request.headers.items()}
        call = Call(request.method, path, query, headers, await request.body(), base_of(request))
        if path == "/$batch" and request.method == "POST":
            reply, latency = batch(call)
        else:
            reply, latency = router.dispatch(call)
        if latency:
            await asyncio.sleep(latency)
        return _render(reply)

    def batch(call: Call) -> tuple[Reply, float]:
        problem = backend.identity.check_bearer(call.headers.get("authorization"))
        request_id = str(uuid.uuid4())
        if problem:
            return Reply(401, error_body("InvalidAuthenticationToken", problem, request_id, None)), 0.0
        latency_ms, fault = backend.faults.draw("POST", "/$batch")
        if fault is not None:
            backend.log.add(LogEntry(time.monotonic(), "POST", "/$batch", "POST /$batch", fault.status,
                                     float(fault.headers["Retry-After"]) if "Retry-After" in fault.headers else None))
            return Reply(fault.status, error_body(fault.code, fault.message, request_id, None), dict(fault.headers)), \
                latency_ms / 1000
        try:
            payload = call.json()
            requests = payload.get("requests") if isinstance(payload, dict) else None
            if not isinstance(requests, list) or not requests:
                raise bad_request("Invalid batch payload format.", code="BadRequest")
            if len(requests) > MAX_BATCH:
                raise bad_request(f"Number of batch requests exceeds the maximum of {MAX_BATCH}.",
                                  code="BadRequest")
            ids = [r.get("id") if isinstance(r, dict) else None for r in requests]
            if any(not isinstance(i, str) or not i for i in ids) or len(set(ids)) != len(ids):
                raise bad_request("Every batch request needs a unique id.", code="BadRequest")
        except GraphFault as fault_:
            backend.log.add(LogEntry(time.monotonic(), "POST", "/$batch", "POST /$batch", fault_.status))
            return Reply(fault_.status, error_body(fault_.code, fault_.message, request_id, None)), 0.0
        backend.log.add(LogEntry(time.monotonic(), "POST", "/$batch", "POST /$batch", 200))
        statuses: dict[str, int] = {}
        responses = []
        total_latency = latency_ms / 1000
        for entry in requests:
            depends = entry.get("dependsOn") or []
            if any(statuses.get(d, 424) >= 400 for d in depends):
                statuses[entry["id"]] = 424
                responses.append({"id": entry["id"], "status": 424, "headers": {},
                                  "body": error_body("FailedDependency", "A request it depends on failed.",
                                                     request_id, None)})
                continue
            url = str(entry.get("url", ""))
            split = urlsplit(url if url.startswith("/") else "/" + url)
            sub_headers = {k.lower(): str(v) for k, v in (entry.get("headers") or {}).items()}
            body = entry.get("body")
            raw = json.dumps(body).encode() if body is not None and not isinstance(body, str) else \
                (body or "").encode()
            sub = Call(str(entry.get("method", "GET")).upper(), split.path,
                       dict(parse_qsl(split.query, keep_blank_values=True)), sub_headers, raw, call.base)
            reply, latency = router.dispatch(sub, in_batch=True, check_auth=False)
            total_latency = max(total_latency, latency)
            statuses[entry["id"]] = reply.status
            answer: dict[str, Any] = {"id": entry["id"], "status": reply.status,
                                      "headers": {k: v for k, v in reply.headers.items()
                                                  if k in ("Retry-After", "Location", "ETag")}}
            if reply.body is not None:
                answer["headers"]["Content-Type"] = "application/json; charset=utf-8"
                answer["body"] = reply.body
            responses.append(answer)
        shuffle.shuffle(responses)  # Graph does not promise the order: clients must match by id
        return Reply(200, {"responses": responses}), total_latency

    # --- the authority -------------------------------------------------------
    async def openid(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if not backend.identity.knows_tenant(tenant):
            return JSONResponse({"error": "invalid_tenant", "error_description":
                                 f"AADSTS90002: Tenant '{tenant}' not found."}, status_code=400)
        return JSONResponse(backend.identity.openid_configuration(base_of(request), tenant))

    async def token(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        tenant = request.path_params["tenant"]
        try:
            body = backend.identity.issue(tenant, form, f"{base_of(request)}/{tenant}/oauth2/v2.0/token")
        except OAuthError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        return JSONResponse(body, headers={"Cache-Control": "no-store, no-cache"})

    # --- the control API --------------------------------------------------------
    async def control_env(request: Request) -> Response:
        return JSONResponse(backend.env(base_of(request), ca_bundle))

    async def control_reset(request: Request) -> Response:
        backend.reset()
        return JSONResponse(backend.env(base_of(request), ca_bundle))

    async def control_faults(request: Request) -> Response:
        if request.method == "DELETE":
            backend.faults.clear()
        elif request.method == "POST":
            payload = await request.json()
            rules = payload if isinstance(payload, list) else payload.get("rules", [payload])
            try:
                for rule in rules:
                    backend.faults.add(FaultRule(**rule))
            except TypeError as exc:
                return JSONResponse({"error": f"bad fault rule: {exc}"}, status_code=400)
        return JSONResponse({"rules": backend.faults.as_json()})

    async def control_log(request: Request) -> Response:
        if request.method == "DELETE":
            backend.log.clear()
        return JSONResponse(backend.log.summary())

    async def control_tokens(request: Request) -> Response:
        return JSONResponse({"expired": backend.identity.expire_all()})

    async def control_resync(request: Request) -> Response:
        site = backend.sharepoint.site(backend.site.id)
        for lst in site.lists.values():
            lst.generation += 1
        return JSONResponse({"lists": len(site.lists)})

    app = Starlette(routes=[
        Route("/_emulator/env", control_env, methods=["GET"]),
        Route("/_emulator/reset", control_reset, methods=["POST"]),
        Route("/_emulator/faults", control_faults, methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/log", control_log, methods=["GET", "DELETE"]),
        Route("/_emulator/expire-tokens", control_tokens, methods=["POST"]),
        Route("/_emulator/delta-resync", control_resync, methods=["POST"]),
        Route("/v1.0/{path:path}", graph, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
        Route("/{tenant}/v2.0/.well-known/openid-configuration", openid, methods=["GET"]),
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
    ])
    app.state.backend = backend
    app.state.router = router
    return app
