"""The control API: the emulator's own endpoints under `/_emulator/`, for tests and tools outside the process.

They read and change the tenant directly (seed list items, move the clock, inject faults, set limits and
policies, play a meeting or a bounce) and are never part of Graph: no token, no permission, no request log.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute

from graph_emulator.core.backend import Backend
from graph_emulator.core.errors import GraphFault
from graph_emulator.core.faults import FaultRule
from graph_emulator.core.http import error_body

__all__ = ["ControlApi", "base_of"]


def base_of(request: Request) -> str:
    """The origin a request came to (`scheme://host:port`), as links and settings name it."""
    return f"{request.url.scheme}://{request.url.netloc}"


class ControlApi:
    """One handler per control endpoint, over `backend` (its parts looked up per call: reset swaps them)."""

    def __init__(self, backend: Backend, ca_bundle: str | None) -> None:
        self.backend = backend
        self.ca_bundle = ca_bundle

    async def env(self, request: Request) -> Response:
        return JSONResponse(self.backend.env(base_of(request), self.ca_bundle))

    async def reset(self, request: Request) -> Response:
        self.backend.reset()
        return JSONResponse(self.backend.env(base_of(request), self.ca_bundle))

    async def faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.backend.faults.clear()
        elif request.method == "POST":
            payload = await request.json()
            rules = payload if isinstance(payload, list) else payload.get("rules", [payload])
            try:
                for rule in rules:
                    self.backend.faults.add(FaultRule(**rule))
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": f"bad fault rule: {exc}"}, status_code=400)
        return JSONResponse({"rules": self.backend.faults.as_json()})

    async def log(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.backend.log.clear()
        return JSONResponse(self.backend.log.summary())

    async def limits(self, request: Request) -> Response:
        """Service limits: `{"invitations": {...}, "mail": {...}}`, each passed to its backend's `set_limit` (mail:
        Exchange's sending limits, applied after the 202, and Graph's request limits, answered 429:
        `mail/delivery.py`)."""
        payload = await request.json()
        targets: dict[str, Any] = {"invitations": self.backend.directory, "mail": self.backend.mail}
        try:
            with self.backend.lock:
                for name, settings in payload.items():
                    targets[name].set_limit(**settings)
        except (KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"error": f"bad limits: {exc}"}, status_code=400)
        return JSONResponse({name: target.limit_json() for name, target in targets.items()})

    async def done(self, request: Request) -> Response:
        """What the service did, for tools outside the process: the sender's mail, invitations, meetings."""
        with self.backend.lock:
            sent = [{"to": list(m.to), "cc": list(m.cc), "bcc": list(m.bcc), "subject": m.subject,
                     "internetMessageId": m.internet_message_id} for m in self.backend.mail.sent(self.backend.sender)]
            invitations = [{"address": i.address, "userId": i.user_id} for i in self.backend.directory.invitations]
            meetings = [{"id": m.id, "externalId": m.external_id}
                        for m in self.backend.meetings.for_organizer(self.backend.organizer.id, include_deleted=True)]
        return JSONResponse({"sent": sent, "invitations": invitations, "meetings": meetings})

    async def mail(self, request: Request) -> Response:
        """Mail as Exchange delivers it. `POST bounce {"address", "status": "5.1.1"}`: every message to the address
        bounces from now on (an NDR in the sender's Inbox); `DELETE bounce?address=...` stops it. `POST inbox
        {"mime": base64 or "raw": text, "mailbox": optional}`: a message arrives in the mailbox's Inbox (the sender's
        by default) as if from outside. `GET deliveries`: what became of each message the sender sent."""
        action, method = request.path_params["action"], request.method
        try:
            payload = await request.json() if method == "POST" else {}
            with self.backend.lock:
                return self._mail_action(request, action, method, payload)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            return JSONResponse({"error": f"bad request: {exc}"}, status_code=400)
        except GraphFault as fault:
            return JSONResponse({"error": fault.message}, status_code=fault.status)

    def _mail_action(self, request: Request, action: str, method: str, payload: Any) -> Response:
        mail = self.backend.mail
        if (action, method) == ("bounce", "POST"):
            mail.transport.bounce(str(payload["address"]), str(payload.get("status") or "5.1.1"))
        elif (action, method) == ("bounce", "DELETE"):
            mail.transport.bouncing.pop(request.query_params.get("address", "").strip().lower(), None)
        elif (action, method) == ("inbox", "POST"):
            return self._mail_arrives(payload)
        elif (action, method) == ("deliveries", "GET"):
            sender = self.backend.sender
            deliveries = [dataclasses.asdict(d) | {"late": d.late} for d in mail.deliveries(sender)]
            return JSONResponse({"deliveries": deliveries, "waiting": mail.waiting(sender)})
        else:
            return JSONResponse({"error": f"no {method} {action}"}, status_code=404)
        return JSONResponse({"bouncing": mail.transport.bouncing})

    def _mail_arrives(self, payload: Any) -> Response:
        """A message in a mailbox's Inbox (the sender's unless `mailbox` names another), as if from outside."""
        raw = base64.b64decode(payload["mime"]) if "mime" in payload else str(payload["raw"]).encode()
        wanted = str(payload.get("mailbox") or self.backend.sender.id).lower()
        user = next((u for u in self.backend.directory.users.values() if wanted in (
            u.id, u.user_principal_name.lower(), (u.mail or "").lower())), None)
        message = self.backend.mail.receive(user or wanted, raw)
        return JSONResponse({"id": message.id, "internetMessageId": message.internet_message_id})

    async def tokens(self, request: Request) -> Response:
        return JSONResponse({"expired": self.backend.identity.expire_all()})

    async def roles(self, request: Request) -> Response:
        """The app's application permissions (admin consent): `{"roles": [...]}`; tokens issued after carry them."""
        if request.method == "PUT":
            payload = await request.json()
            roles = payload.get("roles") if isinstance(payload, dict) else None
            if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
                return JSONResponse({"error": 'send {"roles": ["Mail.Send", ...]}'}, status_code=400)
            self.backend.identity.set_roles(roles)
        return JSONResponse({"roles": sorted(self.backend.identity.roles)})

    async def clock(self, request: Request) -> Response:
        """`{"advance_s": N}` moves the tenant's clock on (subscriptions expire, tokens age); GET reads it."""
        if request.method == "POST":
            payload = await request.json()
            advance = payload.get("advance_s") if isinstance(payload, dict) else None
            if isinstance(advance, bool) or not isinstance(advance, (int, float)) or advance < 0:
                return JSONResponse({"error": "send {\"advance_s\": seconds, 0 or more}"}, status_code=400)
            self.backend.offset += float(advance)
        return JSONResponse({"now": self.backend.clock(), "offset_s": self.backend.offset})

    async def lifecycle(self, request: Request) -> Response:
        """`{"event": "reauthorizationRequired" | "subscriptionRemoved" | "missed"}` for one subscription, sent to
        its lifecycleNotificationUrl: any of the three, for tests, though Graph documents only the first for lists
        (the emulator sends only that one on its own). `reauthorizationRequired` pauses its change notifications
        until it is reauthorized or renewed. 404 for a subscription that isn't there (or has expired)."""
        payload = await request.json()
        try:
            self.backend.subscriptions.lifecycle(request.path_params["subscription"],
                                            str(payload.get("event") if isinstance(payload, dict) else ""))
        except GraphFault as fault:
            return JSONResponse({"error": fault.message}, status_code=fault.status)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"sent": True})

    async def attendance(self, request: Request) -> Response:
        """`{"attendees": [{"email": "..." or null, "name": "...", "seconds": N, "role": "Attendee",
        "user_id": "..."}]}` (`role` and `user_id` optional): the meeting took place, and Teams made its attendance
        report (null: someone who joined without signing in; `user_id`: the record's `identity.id`)."""
        payload = await request.json()
        attendees = payload.get("attendees") if isinstance(payload, dict) else None
        if not isinstance(attendees, list) or not all(isinstance(a, dict) for a in attendees):
            return JSONResponse({"error": "send {\"attendees\": [{\"email\", \"name\", \"seconds\"}]}"},
                                status_code=400)
        meeting = request.path_params["meeting"]
        with self.backend.lock:
            if meeting not in self.backend.meetings.meetings:
                return JSONResponse({"error": f"no meeting {meeting}"}, status_code=404)
            report = self.backend.meetings.record_attendance(meeting, attendees)
        return JSONResponse({"report": report["id"]})

    async def tenant(self, request: Request) -> Response:
        """The tenant's policies: `{"teams_policy": bool, "invitations": ..., "directory_delay_s": N}`, any subset."""
        if request.method == "PUT":
            payload = await request.json()
            try:
                if not isinstance(payload, dict):
                    raise ValueError("send a JSON object of tenant settings")
                with self.backend.lock:
                    self.backend.tenant.update(payload)
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.backend.tenant.as_json())

    async def resync(self, request: Request) -> Response:
        return JSONResponse({"lists": self.backend.sharepoint.expire_delta_links(self.backend.site.id)})

    async def items(self, request: Request) -> Response:
        """Seed items straight into a list, as people typing would (no Graph request is logged); edit or delete one."""
        payload = await request.json() if request.method != "DELETE" else {}
        site = self.backend.site.id
        name = request.path_params["list"]
        check = bool(payload.get("check", True))
        # "silent": the change is made and no delta link ever reports it (nor a notification): a lost change, for
        # the tests of the whole-list check (on DELETE, `?silent=true`)
        silent = bool(payload.get("silent", False)) or request.query_params.get("silent") == "true"
        try:
            with self.backend.lock:
                return self._change_items(request, site, name, payload, check, silent)
        except GraphFault as fault:
            return JSONResponse(error_body(fault.code, fault.message, str(uuid.uuid4()), None),
                                status_code=fault.status)

    def _change_items(self, request: Request, site: str, name: str, payload: Any, check: bool,
                      silent: bool) -> Response:
        """Delete the item the path names, or change its fields, or make the items the payload lists."""
        sharepoint = self.backend.sharepoint
        if request.method == "DELETE":
            sharepoint.delete_item(site, name, request.path_params["item"], silent=silent)
            return JSONResponse({"id": request.path_params["item"]})
        if "item" in request.path_params:
            item = sharepoint.update_fields(site, name, request.path_params["item"], payload["fields"], check=check,
                                            silent=silent)
            return JSONResponse({"id": str(item.id)})
        created = payload.get("created") or []
        ids = []
        for n, fields in enumerate(payload.get("items", [])):
            item = sharepoint.create_item(site, name, fields, check=check, silent=silent,
                                          created=created[n] if n < len(created) else None)
            ids.append(str(item.id))
        return JSONResponse({"ids": ids})

    def routes(self) -> list[StarletteRoute]:
        return [
            StarletteRoute("/_emulator/env", self.env, methods=["GET"]),
            StarletteRoute("/_emulator/reset", self.reset, methods=["POST"]),
            StarletteRoute("/_emulator/faults", self.faults, methods=["GET", "POST", "DELETE"]),
            StarletteRoute("/_emulator/log", self.log, methods=["GET", "DELETE"]),
            StarletteRoute("/_emulator/limits", self.limits, methods=["POST"]),
            StarletteRoute("/_emulator/done", self.done, methods=["GET"]),
            StarletteRoute("/_emulator/mail/{action}", self.mail, methods=["GET", "POST", "DELETE"]),
            StarletteRoute("/_emulator/expire-tokens", self.tokens, methods=["POST"]),
            StarletteRoute("/_emulator/app-roles", self.roles, methods=["GET", "PUT"]),
            StarletteRoute("/_emulator/tenant", self.tenant, methods=["GET", "PUT"]),
            StarletteRoute("/_emulator/clock", self.clock, methods=["GET", "POST"]),
            StarletteRoute("/_emulator/subscriptions/{subscription}/lifecycle", self.lifecycle, methods=["POST"]),
            StarletteRoute("/_emulator/meetings/{meeting}/attendance", self.attendance, methods=["POST"]),
            StarletteRoute("/_emulator/delta-resync", self.resync, methods=["POST"]),
            StarletteRoute("/_emulator/lists/{list}/items", self.items, methods=["POST"]),
            StarletteRoute("/_emulator/lists/{list}/items/{item}", self.items, methods=["PATCH", "DELETE"]),
        ]
