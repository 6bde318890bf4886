"""The ASGI app (Starlette): the token authority, Graph (`/v1.0`) and the control API on one origin.

Thin on purpose: every Graph request goes to `GraphService.serve` (in
`http.py`), the same entry point the in-process transport uses.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import uuid
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute

from graph_emulator.core.backend import Backend
from graph_emulator.core.errors import GraphFault
from graph_emulator.core.faults import FaultRule
from graph_emulator.core.http import Call, GraphService, encode_body, error_body
from graph_emulator.directory.routes import directory_routes
from graph_emulator.identity.routes import authority_answer
from graph_emulator.mail.routes import mail_routes
from graph_emulator.meetings.routes import meeting_routes
from graph_emulator.sharepoint.routes import sharepoint_routes
from graph_emulator.subscriptions.routes import subscription_routes

__all__ = ["create_app", "graph_service"]


def graph_service(backend: Backend) -> GraphService:
    """Every Graph resource the emulator serves, over one backend."""
    return GraphService(backend, [*sharepoint_routes(backend), *directory_routes(backend), *mail_routes(backend),
                                  *meeting_routes(backend), *subscription_routes(backend)])


def create_app(backend: Backend | None = None, *, ca_bundle: str | None = None) -> Starlette:
    """The emulator as an ASGI app. `app.state.backend` holds its state."""
    backend = backend or Backend()
    service = graph_service(backend)

    def base_of(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}"

    async def graph(request: Request) -> Response:
        call = Call(request.method, "/" + request.path_params["path"],
                    dict(parse_qsl(request.url.query, keep_blank_values=True)),
                    {k.lower(): v for k, v in request.headers.items()}, await request.body(), base_of(request))
        reply, latency = service.serve(call)
        if latency:
            await asyncio.sleep(latency)
        content, headers = encode_body(reply)
        return Response(content, status_code=reply.status, headers=headers)

    async def openid(request: Request) -> Response:
        status, body = authority_answer(backend, "GET", request.path_params["tenant"], "openid-configuration", {},
                                        base_of(request))
        return JSONResponse(body, status_code=status)

    async def token(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        status, body = authority_answer(backend, "POST", request.path_params["tenant"], "token", form,
                                        base_of(request))
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store, no-cache"})

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

    async def control_limits(request: Request) -> Response:
        """Service limits: `{"invitations": {...}, "mail": {...}}`, each passed to its backend's `set_limit` (mail:
        Exchange's sending limits, applied after the 202, and Graph's request limits, answered 429:
        `mail/delivery.py`)."""
        payload = await request.json()
        targets: dict[str, Any] = {"invitations": backend.directory, "mail": backend.mail}
        try:
            with backend.lock:
                for name, settings in payload.items():
                    targets[name].set_limit(**settings)
        except (KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"error": f"bad limits: {exc}"}, status_code=400)
        return JSONResponse({name: target.limit_json() for name, target in targets.items()})

    async def control_done(request: Request) -> Response:
        """What the service did, for tools outside the process: the sender's mail, invitations, meetings."""
        with backend.lock:
            sent = [{"to": list(m.to), "cc": list(m.cc), "bcc": list(m.bcc), "subject": m.subject,
                     "internetMessageId": m.internet_message_id} for m in backend.mail.sent(backend.sender)]
            invitations = [{"address": i.address, "userId": i.user_id} for i in backend.directory.invitations]
            meetings = [{"id": m.id, "externalId": m.external_id}
                        for m in backend.meetings.for_organizer(backend.organizer.id, include_deleted=True)]
        return JSONResponse({"sent": sent, "invitations": invitations, "meetings": meetings})

    async def control_mail(request: Request) -> Response:
        """Mail as Exchange delivers it. `POST bounce {"address", "status": "5.1.1"}`: every message to the address
        bounces from now on (an NDR in the sender's Inbox); `DELETE bounce?address=...` stops it. `POST inbox
        {"mime": base64 or "raw": text, "mailbox": optional}`: a message arrives in the mailbox's Inbox (the sender's
        by default) as if from outside. `GET deliveries`: what became of each message the sender sent."""
        action, method = request.path_params["action"], request.method
        try:
            payload = await request.json() if method == "POST" else {}
            with backend.lock:
                if (action, method) == ("bounce", "POST"):
                    backend.mail.transport.bounce(str(payload["address"]), str(payload.get("status") or "5.1.1"))
                elif (action, method) == ("bounce", "DELETE"):
                    backend.mail.transport.bouncing.pop(request.query_params.get("address", "").strip().lower(), None)
                elif (action, method) == ("inbox", "POST"):
                    raw = base64.b64decode(payload["mime"]) if "mime" in payload else str(payload["raw"]).encode()
                    wanted = str(payload.get("mailbox") or backend.sender.id).lower()
                    user = next((u for u in backend.directory.users.values() if wanted in (
                        u.id, u.user_principal_name.lower(), (u.mail or "").lower())), None)
                    message = backend.mail.receive(user or wanted, raw)
                    return JSONResponse({"id": message.id, "internetMessageId": message.internet_message_id})
                elif (action, method) == ("deliveries", "GET"):
                    return JSONResponse({"deliveries": [dataclasses.asdict(d) | {"late": d.late}
                                                        for d in backend.mail.deliveries(backend.sender)],
                                         "waiting": backend.mail.waiting(backend.sender)})
                else:
                    return JSONResponse({"error": f"no {method} {action}"}, status_code=404)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            return JSONResponse({"error": f"bad request: {exc}"}, status_code=400)
        except GraphFault as fault:
            return JSONResponse({"error": fault.message}, status_code=fault.status)
        return JSONResponse({"bouncing": backend.mail.transport.bouncing})

    async def control_tokens(request: Request) -> Response:
        return JSONResponse({"expired": backend.identity.expire_all()})

    async def control_roles(request: Request) -> Response:
        """The app's application permissions (admin consent): `{"roles": [...]}`; tokens issued after carry them."""
        if request.method == "PUT":
            payload = await request.json()
            roles = payload.get("roles") if isinstance(payload, dict) else None
            if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
                return JSONResponse({"error": 'send {"roles": ["Mail.Send", ...]}'}, status_code=400)
            backend.identity.set_roles(roles)
        return JSONResponse({"roles": sorted(backend.identity.roles)})

    async def control_clock(request: Request) -> Response:
        """`{"advance_s": N}` moves the tenant's clock on (subscriptions expire, tokens age); GET reads it."""
        if request.method == "POST":
            payload = await request.json()
            advance = payload.get("advance_s") if isinstance(payload, dict) else None
            if isinstance(advance, bool) or not isinstance(advance, (int, float)) or advance < 0:
                return JSONResponse({"error": "send {\"advance_s\": seconds, 0 or more}"}, status_code=400)
            backend.offset += float(advance)
        return JSONResponse({"now": backend.clock(), "offset_s": backend.offset})

    async def control_lifecycle(request: Request) -> Response:
        """`{"event": "reauthorizationRequired" | "subscriptionRemoved" | "missed"}` for one subscription, sent to
        its lifecycleNotificationUrl: any of the three, for tests, though Graph documents only the first for lists
        (the emulator sends only that one on its own). `reauthorizationRequired` pauses its change notifications
        until it is reauthorized or renewed. 404 for a subscription that isn't there (or has expired)."""
        payload = await request.json()
        try:
            backend.subscriptions.lifecycle(request.path_params["subscription"],
                                            str(payload.get("event") if isinstance(payload, dict) else ""))
        except GraphFault as fault:
            return JSONResponse({"error": fault.message}, status_code=fault.status)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"sent": True})

    async def control_attendance(request: Request) -> Response:
        """`{"attendees": [{"email": "..." or null, "name": "...", "seconds": N, "role": "Attendee",
        "user_id": "..."}]}` (`role` and `user_id` optional): the meeting took place, and Teams made its attendance
        report (null: someone who joined without signing in; `user_id`: the record's `identity.id`)."""
        payload = await request.json()
        attendees = payload.get("attendees") if isinstance(payload, dict) else None
        if not isinstance(attendees, list) or not all(isinstance(a, dict) for a in attendees):
            return JSONResponse({"error": "send {\"attendees\": [{\"email\", \"name\", \"seconds\"}]}"},
                                status_code=400)
        meeting = request.path_params["meeting"]
        with backend.lock:
            if meeting not in backend.meetings.meetings:
                return JSONResponse({"error": f"no meeting {meeting}"}, status_code=404)
            report = backend.meetings.record_attendance(meeting, attendees)
        return JSONResponse({"report": report["id"]})

    async def control_tenant(request: Request) -> Response:
        """The tenant's policies: `{"teams_policy": bool, "invitations": ..., "directory_delay_s": N}`, any subset."""
        if request.method == "PUT":
            payload = await request.json()
            try:
                if not isinstance(payload, dict):
                    raise ValueError("send a JSON object of tenant settings")
                with backend.lock:
                    backend.tenant.update(payload)
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(backend.tenant.as_json())

    async def control_resync(request: Request) -> Response:
        return JSONResponse({"lists": backend.sharepoint.expire_delta_links(backend.site.id)})

    async def control_items(request: Request) -> Response:
        """Seed items straight into a list, as people typing would (no Graph request is logged); edit or delete one."""
        payload = await request.json() if request.method != "DELETE" else {}
        site = backend.site.id
        name = request.path_params["list"]
        check = bool(payload.get("check", True))
        # "silent": the change is made and no delta link ever reports it (nor a notification): a lost change, for
        # the tests of the whole-list check (on DELETE, `?silent=true`)
        silent = bool(payload.get("silent", False)) or request.query_params.get("silent") == "true"
        try:
            with backend.lock:
                if request.method == "DELETE":
                    backend.sharepoint.delete_item(site, name, request.path_params["item"], silent=silent)
                    return JSONResponse({"id": request.path_params["item"]})
                if "item" in request.path_params:
                    item = backend.sharepoint.update_fields(site, name, request.path_params["item"],
                                                            payload["fields"], check=check, silent=silent)
                    return JSONResponse({"id": str(item.id)})
                created = payload.get("created") or []
                ids = []
                for n, fields in enumerate(payload.get("items", [])):
                    item = backend.sharepoint.create_item(site, name, fields, check=check, silent=silent,
                                                          created=created[n] if n < len(created) else None)
                    ids.append(str(item.id))
        except GraphFault as fault:
            return JSONResponse(error_body(fault.code, fault.message, str(uuid.uuid4()), None),
                                status_code=fault.status)
        return JSONResponse({"ids": ids})

    app = Starlette(routes=[
        StarletteRoute("/_emulator/env", control_env, methods=["GET"]),
        StarletteRoute("/_emulator/reset", control_reset, methods=["POST"]),
        StarletteRoute("/_emulator/faults", control_faults, methods=["GET", "POST", "DELETE"]),
        StarletteRoute("/_emulator/log", control_log, methods=["GET", "DELETE"]),
        StarletteRoute("/_emulator/limits", control_limits, methods=["POST"]),
        StarletteRoute("/_emulator/done", control_done, methods=["GET"]),
        StarletteRoute("/_emulator/mail/{action}", control_mail, methods=["GET", "POST", "DELETE"]),
        StarletteRoute("/_emulator/expire-tokens", control_tokens, methods=["POST"]),
        StarletteRoute("/_emulator/app-roles", control_roles, methods=["GET", "PUT"]),
        StarletteRoute("/_emulator/tenant", control_tenant, methods=["GET", "PUT"]),
        StarletteRoute("/_emulator/clock", control_clock, methods=["GET", "POST"]),
        StarletteRoute("/_emulator/subscriptions/{subscription}/lifecycle", control_lifecycle, methods=["POST"]),
        StarletteRoute("/_emulator/meetings/{meeting}/attendance", control_attendance, methods=["POST"]),
        StarletteRoute("/_emulator/delta-resync", control_resync, methods=["POST"]),
        StarletteRoute("/_emulator/lists/{list}/items", control_items, methods=["POST"]),
        StarletteRoute("/_emulator/lists/{list}/items/{item}", control_items, methods=["PATCH", "DELETE"]),
        StarletteRoute("/v1.0/{path:path}", graph, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
        StarletteRoute("/{tenant}/v2.0/.well-known/openid-configuration", openid, methods=["GET"]),
        StarletteRoute("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
    ])
    app.state.backend = backend
    app.state.service = service
    return app
