"""A local fake of the Azure Communication Services Email REST API, for tests, over HTTPS on loopback.

    with AcsFake() as acs:
        transport = AcsTransport(acs.connection_string, acs.sender, ca_bundle=acs.ca_bundle)
        ...
        acs.state.sent  # what went: sender, recipients, subject, both bodies, attachments, headers

What it follows (REST API 2025-09-01, swagger `specification/communication/data-plane/Email/stable/2025-09-01/
CommunicationServicesEmail.json` in Azure/azure-rest-api-specs; learn.microsoft.com "Email - Send", "Email - Get
Send Result", "Service limits for Azure Communication Services"; the HMAC scheme as azure-communication-email
1.1.0's `HMACCredentialsPolicy` signs):

- `POST /emails:send?api-version=...`: the body is an EmailMessage (`senderAddress`, `content{subject,
  plainText?, html?}`, `recipients{to, cc?, bcc?}` of `{address, displayName?}`, `attachments?` of `{name,
  contentType, contentInBase64}`, `headers?` string to string, `replyTo?`, `userEngagementTrackingDisabled?`);
  at most 50 recipients (service limits). `Operation-Id` (a UUID) names the operation. 202 with
  `Operation-Location`, `Retry-After` and `{id, status}`.
- `GET /emails/operations/{id}?api-version=...`: 200 with `{id, status, error?}`.
- Every request is signed: `Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&
  Signature=...`, the signature an HMAC-SHA256 (key: the base64-decoded access key) of
  `VERB\\npath?query\\nx-ms-date;host;x-ms-content-sha256`, the last a base64 SHA-256 of the body.
- Errors: `{"error": {"code", "message"}}`, the code repeated in `x-ms-error-code`; 429 with Retry-After.

The fake's own choices, not documented by Microsoft: a repeated `Operation-Id` is the same operation (answered
202 again, sent once); an unknown operation id is 404; the error codes (`Denied`, `BadRequest`,
`InvalidRecipientAddress`, `TooManyRequests`, `ServiceUnavailable`, `NotFound`); a message needs a plain-text or
an HTML body; unknown body properties are refused (to catch misspelt fields); the 400 for a bad address quotes
the address, as services do, so tests can see that the client masks it.

State and rules live in `AcsEmailState` (no HTTP); the Starlette app around it is thin.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import secrets
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from graph_emulator.core.tls import TlsFiles, make_tls_files
from graph_emulator.testing import BackgroundServer
from tests.support.recording import Recorded

__all__ = ["AcsEmailState", "AcsError", "AcsFake", "SentAttachment", "SentEmail", "Served"]

API_VERSIONS = frozenset({"2023-03-31", "2024-07-01-preview", "2025-09-01"})  # what SDK 1.1.0 knows
MAX_RECIPIENTS = 50
SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"
_MESSAGE_FIELDS = {"senderAddress", "content", "recipients", "attachments", "headers", "replyTo",
                   "userEngagementTrackingDisabled"}
_CONTENT_FIELDS = {"subject", "plainText", "html"}
_RECIPIENT_LISTS = {"to", "cc", "bcc"}
_ADDRESS_FIELDS = {"address", "displayName"}
_ATTACHMENT_FIELDS = {"name", "contentType", "contentInBase64", "contentId"}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]


class AcsError(Exception):
    """An error answer in ACS's shape."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


@dataclass(frozen=True)
class SentAttachment:
    name: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class SentEmail:
    """One message the fake accepted (and so "sent")."""

    operation_id: str
    sender: str
    to: tuple[tuple[str, str | None], ...]  # (address, displayName)
    subject: str
    plain_text: str | None
    html: str | None
    attachments: tuple[SentAttachment, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """Answer the next `count` matching requests wrongly: 429, 503, or accept and then drop the connection."""

    kind: Literal["throttle", "unavailable", "drop"]
    operation: Literal["send", "status"] = "send"
    count: int = 1
    retry_after: int = 1


@dataclass(frozen=True)
class Served:
    """One request the fake answered (or, `dropped`, accepted and then cut off)."""

    operation: Literal["send", "status"]
    status: int
    at: float  # time.time() when answered
    dropped: bool = False


@dataclass
class _Operation:
    id: str
    status: str
    error: dict[str, str] | None = None


class AcsEmailState(Recorded["SentEmail", "Served"]):
    """The fake service's state and rules: who may call, what a valid message is, what was sent."""

    def __init__(self, access_key: str, sender: str) -> None:
        super().__init__()
        self.access_key = access_key
        self.sender = sender
        self._operations: dict[str, _Operation] = {}
        self._faults: list[Fault] = []
        self.send_requests = 0  # signed, well-formed sends that reached the rules (repeats included)
        self.repeats = 0  # sends whose Operation-Id was already known: answered, not sent again

    # --- what tests arrange (what they read: `Recorded`) -------------------------------
    def add_fault(self, kind: Literal["throttle", "unavailable", "drop"], *,
                  operation: Literal["send", "status"] = "send", count: int = 1, retry_after: int = 1) -> None:
        with self._lock:
            self._faults.append(Fault(kind, operation, count, retry_after))

    def set_status(self, operation_id: str, status: str, error_code: str | None = None) -> None:
        """Move an operation on (a delivery that failed: `Failed`, `EmailDropped`)."""
        with self._lock:
            operation = self._operations[operation_id]
            operation.status = status
            operation.error = {"code": error_code, "message": "Email was dropped."} if error_code else None

    # --- the rules ------------------------------------------------------------------------
    def take_fault(self, operation: Literal["send", "status"]) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.operation == operation and fault.count > 0:
                    fault.count -= 1
                    return fault
        return None

    def check_signature(self, method: str, path_and_query: str, headers: Mapping[str, str], body: bytes) -> None:
        """Raise a 401 unless the request carries a valid HMAC-SHA256 signature over it by our access key."""
        denied = AcsError(401, "Denied", "Denied by the resource provider.")
        scheme, _, parameters = headers.get("authorization", "").partition(" ")
        fields = dict(part.split("=", 1) for part in parameters.split("&") if "=" in part)
        if scheme != "HMAC-SHA256" or fields.get("SignedHeaders") != SIGNED_HEADERS:
            raise denied
        content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if not hmac.compare_digest(headers.get("x-ms-content-sha256", ""), content_hash):
            raise denied
        to_sign = f"{method}\n{path_and_query}\n{headers.get('x-ms-date', '')};{headers.get('host', '')};{content_hash}"
        expected = base64.b64encode(hmac.new(base64.b64decode(self.access_key), to_sign.encode(),
                                             hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(fields.get("Signature", ""), expected):
            raise denied

    def send(self, operation_id: str | None, body: bytes) -> dict[str, str]:
        """Accept a message (once per operation id); the operation's JSON."""
        if operation_id is not None:
            try:
                operation_id = str(uuid.UUID(operation_id))
            except ValueError:
                raise AcsError(400, "BadRequest", "Operation-Id must be a UUID.") from None
        email = _parse_message(operation_id or str(uuid.uuid4()), body)
        if email.sender != self.sender:
            raise AcsError(400, "BadRequest", "The sender address is not a verified sender of this resource.")
        with self._lock:
            self.send_requests += 1
            known = self._operations.get(email.operation_id)
            if known is not None:
                self.repeats += 1
                return {"id": known.id, "status": known.status}
            self._operations[email.operation_id] = _Operation(email.operation_id, "Succeeded")
            self._sent.append(email)
        return {"id": email.operation_id, "status": "Running"}

    def status(self, operation_id: str) -> dict[str, Any]:
        with self._lock:
            operation = self._operations.get(operation_id.lower())
            if operation is None:
                raise AcsError(404, "NotFound", "The operation was not found.")
            answer: dict[str, Any] = {"id": operation.id, "status": operation.status}
            if operation.error:
                answer["error"] = dict(operation.error)
            return answer


def _bad(message: str) -> AcsError:
    return AcsError(400, "BadRequest", message)


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _bad(f"{where} must be a string.")
    return value


def _optional_string(value: Any, where: str) -> str | None:
    return None if value is None else _string(value, where)


def _only(value: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{where} must be an object.")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _bad(f"{where} has unknown properties: {', '.join(unknown)}.")
    return value


def _address(value: Any, where: str) -> tuple[str, str | None]:
    entry = _only(value, _ADDRESS_FIELDS, where)
    address = _string(entry.get("address"), f"{where}.address")
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain or " " in address:
        raise AcsError(400, "InvalidRecipientAddress", f"The email address '{address}' is not valid.")
    return address, _optional_string(entry.get("displayName"), f"{where}.displayName")


def _parse_message(operation_id: str, body: bytes) -> SentEmail:
    """The EmailMessage in `body`, checked against the REST reference's shape."""
    try:
        message = _only(json.loads(body), _MESSAGE_FIELDS, "The message")
    except ValueError:
        raise _bad("The body is not JSON.") from None
    missing = sorted({"senderAddress", "content", "recipients"} - set(message))
    if missing:
        raise _bad(f"The message lacks {', '.join(missing)}.")
    sender = _string(message["senderAddress"], "senderAddress")
    content = _only(message["content"], _CONTENT_FIELDS, "content")
    subject = _string(content.get("subject"), "content.subject")
    plain_text = _optional_string(content.get("plainText"), "content.plainText")
    html = _optional_string(content.get("html"), "content.html")
    if plain_text is None and html is None:
        raise _bad("content needs plainText or html.")
    recipients = _only(message["recipients"], _RECIPIENT_LISTS, "recipients")
    if not isinstance(recipients.get("to"), list):
        raise _bad("recipients.to is required.")
    lists = {name: recipients.get(name) or [] for name in _RECIPIENT_LISTS}
    if any(not isinstance(entries, list) for entries in lists.values()):
        raise _bad("recipients' lists must be arrays.")
    count = sum(len(entries) for entries in lists.values())
    if not 1 <= count <= MAX_RECIPIENTS:
        raise _bad(f"A message needs 1 to {MAX_RECIPIENTS} recipients.")
    to = tuple(_address(entry, f"recipients.to[{i}]") for i, entry in enumerate(lists["to"]))
    for other in ("cc", "bcc"):
        for i, entry in enumerate(lists[other]):
            _address(entry, f"recipients.{other}[{i}]")
    attachments = []
    for i, value in enumerate(message.get("attachments") or []):
        entry = _only(value, _ATTACHMENT_FIELDS, f"attachments[{i}]")
        name, content_type, data = (_string(entry.get(k), f"attachments[{i}].{k}")
                                    for k in ("name", "contentType", "contentInBase64"))
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise _bad(f"attachments[{i}].contentInBase64 is not base64.") from None
        attachments.append(SentAttachment(name, content_type, raw))
    headers = message.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in headers.items()):
        raise _bad("headers must map strings to strings.")
    return SentEmail(operation_id, sender, to, subject, plain_text, html, tuple(attachments), dict(headers))


# --- the thin HTTP layer -------------------------------------------------------------------------------


def _error(error: AcsError) -> Response:
    return JSONResponse(error.body(), error.status, headers={"x-ms-error-code": error.code, **error.headers})


def _fault_answer(fault: Fault) -> Response:
    if fault.kind == "throttle":
        return _error(AcsError(429, "TooManyRequests", "Too many requests. Retry after the given time.",
                               {"Retry-After": str(fault.retry_after)}))
    return _error(AcsError(503, "ServiceUnavailable", "The service is temporarily unavailable."))


def create_app(state: AcsEmailState) -> Starlette:
    async def signed(request: Request) -> bytes:
        body = await request.body()
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"")
        target = raw_path.decode() + (f"?{query.decode()}" if query else "")
        state.check_signature(request.method, target, request.headers, body)
        if request.query_params.get("api-version") not in API_VERSIONS:
            raise _bad("api-version is missing or unknown.")
        return body

    async def send_email(request: Request) -> Response:
        response = await _send_email(request)
        state.record(Served("send", response.status_code, time.time(), bool(request.scope.get("acs_fake.drop"))))
        return response

    async def send_result(request: Request) -> Response:
        response = await _send_result(request)
        state.record(Served("status", response.status_code, time.time()))
        return response

    async def _send_email(request: Request) -> Response:
        try:
            body = await signed(request)
            fault = state.take_fault("send")
            if fault is not None and fault.kind != "drop":
                return _fault_answer(fault)
            operation = state.send(request.headers.get("operation-id"), body)
        except AcsError as error:
            return _error(error)
        if fault is not None:  # accepted and sent, but the answer never reaches the caller
            request.scope["acs_fake.drop"] = True
        base = f"{request.url.scheme}://{request.url.netloc}"
        location = f"{base}/emails/operations/{operation['id']}?api-version={request.query_params['api-version']}"
        return JSONResponse(operation, 202, headers={"Operation-Location": location, "Retry-After": "1"})

    async def _send_result(request: Request) -> Response:
        try:
            await signed(request)
            fault = state.take_fault("status")
            if fault is not None:
                return _fault_answer(fault)
            return JSONResponse(state.status(request.path_params["operation_id"]))
        except AcsError as error:
            return _error(error)

    return Starlette(routes=[Route("/emails:send", send_email, methods=["POST"]),
                             Route("/emails/operations/{operation_id}", send_result, methods=["GET"])])


class _DropAnswers:
    """Outermost ASGI layer: a request marked `acs_fake.drop` gets its connection cut instead of its answer.

    ASGI has no "close the connection" message, so this reaches uvicorn's h11 request cycle (the object whose
    bound method `send` is) for its transport, checked on every request so that a uvicorn change fails loudly.
    """

    def __init__(self, app: Starlette) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def guarded(message: Message) -> None:
            if not scope.get("acs_fake.drop"):
                await send(message)
            elif message["type"] == "http.response.start":
                cycle: Any = getattr(send, "__self__", None)
                cycle.transport.abort()
                for _ in range(200):  # until uvicorn has seen the disconnection, so it sends no 500 instead
                    if getattr(cycle, "disconnected", True):
                        break
                    await asyncio.sleep(0.005)

        if not hasattr(getattr(send, "__self__", None), "transport"):
            raise RuntimeError("uvicorn's request cycle no longer exposes its transport: cannot drop answers")
        await self.app(scope, receive, guarded)


class AcsFake:
    """The fake on `https://127.0.0.1:port` in a thread, with its own CA; a context manager."""

    def __init__(self, *, sender: str = "DoNotReply@mail.coprod.example", access_key: str | None = None,
                 host: str = "127.0.0.1") -> None:
        self._temp = tempfile.TemporaryDirectory(prefix="acs-fake-")
        self.tls: TlsFiles = make_tls_files(Path(self._temp.name), (host, "localhost"))
        self.sender = sender
        self.access_key = access_key or base64.b64encode(secrets.token_bytes(32)).decode()
        self.state = AcsEmailState(self.access_key, sender)
        # http="h11": the connection dropping in `_DropAnswers` knows that protocol's request cycle
        self._server = BackgroundServer(_DropAnswers(create_app(self.state)), host, name="acs-fake", http="h11",
                                        certfile=str(self.tls.certificate), keyfile=str(self.tls.key))
        self.url = self._server.url

    @property
    def ca_bundle(self) -> str:
        return str(self.tls.ca_bundle)

    def connection_string(self, access_key: str | None = None) -> str:
        """The resource's connection string (with another `access_key`: a wrong one)."""
        return f"endpoint={self.url}/;accesskey={access_key or self.access_key}"

    def start(self) -> AcsFake:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        self._temp.cleanup()

    def __enter__(self) -> AcsFake:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
