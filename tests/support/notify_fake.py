"""A local stand-in for GOV.UK Notify's API, for tests: plain HTTP on loopback, in a thread (started and stopped by a
fixture), reached by Notify's own Python client (notifications-python-client) exactly as the service reaches Notify.

    with NotifyFake() as notify:
        sms = notify.add_template("sms", "((message))")
        settings: COPROD_NOTIFY_API_KEY=notify.api_key, COPROD_NOTIFY_BASE_URL=notify.url, ...
        notify.state.sent  # what Notify accepted: type, reference, number or address, personalisation, words

What it follows (GOV.UK Notify's documentation, alphagov/notifications-tech-docs: source/documentation/
_api_docs.md "REST API", client_docs/_python.md "Python client", error_tables/_send_a_text_message.md; and the
client's source, notifications_python_client 13.0.0 `authentication.py`, `base.py`, `notifications.py`,
`errors.py`):

- Every request carries `Authorization: Bearer <JWT>`: HS256, `iss` the service id, `iat` the time in epoch seconds,
  signed with the secret key, the two being the API key's ids (`{key name}-{service id}-{secret}`). No header: 401
  `AuthError` "Unauthorized: authentication token must be provided"; a token not signed with the key, of another
  `iss`, or whose `iat` is more than 30 seconds from now: 403 `AuthError` ("Invalid token: API key not found",
  "Error: Your system clock must be accurate to within 30 seconds").
- `POST /v2/notifications/sms` `{phone_number, template_id, personalisation?, reference?, sms_sender_id?}`;
  `POST /v2/notifications/letter` `{template_id, personalisation, reference?}`, the address in personalisation
  (`address_line_1` to `address_line_7`, at least 3 lines, the last a real UK postcode): 201 with
  `{id, reference, content{body, from_number} or {subject, body}, uri, template{id, version, uri}}` (a letter's
  with `scheduled_for`).
- `GET /v2/notifications?reference=&template_type=&status=`: `{notifications: [...], links{current, next}}`,
  newest first, each with `id, reference, phone_number, line_1..line_7, type, status, template, body, subject,
  created_at, ...`.
- `GET /v2/templates?type=`: `{templates: [{id, name, type, created_at, updated_at, version, created_by, body,
  subject, letter_contact_block}]}`.
- Errors: `{"status_code": N, "errors": [{"error": "ValidationError", "message": "..."}]}`. A text to a number that
  is not a UK mobile: 400 `ValidationError` "phone_number Not a UK mobile number" (and "Too many digits", "Not enough
  digits", "Must not contain letters or symbols"); a letter whose last line is not a UK postcode: 400
  `ValidationError` "Last line of address must be a real UK postcode or another country"; under 3 lines: "Address
  must be at least 3 lines"; a line starting with a character Notify refuses there; a template that is not there, or
  of the other type: 400 `BadRequestError`; a placeholder the personalisation lacks: 400 `BadRequestError` "Missing
  personalisation: ..."; a text over 918 characters: 400 `BadRequestError`; too many requests: 429
  `RateLimitError`; 500 `Exception` "Internal server error".

The stand-in's own choices, not Notify's: it takes no country as the last line of an address (Notify does, for
post abroad), nor any international number; it keeps every notification (Notify, 7 days); `Retry-After` is sent on
a 429 only when a test asks for it (Notify's docs do not say it sends one); and a test can have it make a
notification and then answer 500, as if the answer were lost (`Fault("made-then-fails")`).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from graph_emulator.testing import BackgroundServer
from tests.support.recording import Recorded

__all__ = ["Fault", "NotifyError", "NotifyFake", "NotifyState", "Sent", "Served"]

BOUND = 30  # seconds a token's `iat` may be from now
MAX_SMS = 918
PLACEHOLDER = re.compile(r"\(\(([^()]+?)\)\)")
POSTCODE = re.compile(r"^(GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?[0-9][0-9A-HJKMNPR-Y]? ?[0-9][ABD-HJLNP-UW-Z]{2})$", re.I)
NOT_AT_START = tuple("@()=[]\"”\\/,<>")
_SMS_FIELDS = {"phone_number", "template_id", "personalisation", "reference", "sms_sender_id"}
_LETTER_FIELDS = {"template_id", "personalisation", "reference"}
ADDRESS_KEYS = tuple(f"address_line_{n}" for n in range(1, 8))
Operation = Literal["sms", "letter", "find", "templates"]


class NotifyError(Exception):
    """An answer in Notify's error shape."""

    def __init__(self, status: int, error: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status, self.error, self.message = status, error, message
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return JSONResponse({"status_code": self.status, "errors": [{"error": self.error, "message": self.message}]},
                            self.status, headers=self.headers)


@dataclass(frozen=True)
class Template:
    id: str
    type: str  # sms, letter, email
    name: str
    body: str
    subject: str
    version: int = 1

    @property
    def placeholders(self) -> list[str]:
        return PLACEHOLDER.findall(self.subject + " " + self.body)


@dataclass(frozen=True)
class Sent:
    """One notification the stand-in accepted (so Notify "sent" it)."""

    id: str
    type: str  # sms or letter
    reference: str | None
    template_id: str
    phone_number: str | None
    address: tuple[str, ...]
    personalisation: dict[str, Any]
    subject: str
    body: str
    created_at: str


@dataclass
class Fault:
    """Answer the next `count` requests of `operation` wrongly: 429 (`throttle`, with Retry-After if given), 500
    (`fails`), or make the notification and then answer 500 (`made-then-fails`: an answer lost)."""

    kind: Literal["throttle", "fails", "made-then-fails"]
    operation: Operation = "sms"
    count: int = 1
    retry_after: int | None = None


@dataclass(frozen=True)
class Served:
    operation: Operation
    status: int
    at: float


@dataclass
class NotifyState(Recorded["Sent", "Served"]):
    """The service's state and rules: its key, templates, notifications, and the faults a test arranges."""

    service_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    secret: str = field(default_factory=lambda: str(uuid.uuid4()))
    latency: float = 0.0  # seconds each send waits before it is made (runs that overlap, for real)

    def __post_init__(self) -> None:
        Recorded.__init__(self)
        self._templates: dict[str, Template] = {}
        self._faults: list[Fault] = []

    @property
    def api_key(self) -> str:
        return f"coprod_tests-{self.service_id}-{self.secret}"

    def add_template(self, type_: str, body: str, subject: str = "", name: str = "") -> str:
        template = Template(str(uuid.uuid4()), type_, name or f"Co-production {type_}", body, subject)
        with self._lock:
            self._templates[template.id] = template
        return template.id

    def add_fault(self, kind: Literal["throttle", "fails", "made-then-fails"], operation: Operation = "sms", *,
                  count: int = 1, retry_after: int | None = None) -> None:
        with self._lock:
            self._faults.append(Fault(kind, operation, count, retry_after))

    def take_fault(self, operation: Operation) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.operation == operation and fault.count > 0:
                    fault.count -= 1
                    return fault
        return None

    # --- the rules ----------------------------------------------------------------------------------------------
    def authorise(self, header: str | None) -> None:
        if not header:
            raise NotifyError(401, "AuthError", "Unauthorized: authentication token must be provided")
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            raise NotifyError(401, "AuthError", "Unauthorized: authentication scheme must be Bearer")
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            header_fields = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise NotifyError(403, "AuthError", "Invalid token: signature, api token not found") from None
        if header_fields.get("alg") != "HS256":
            raise NotifyError(403, "AuthError", "Invalid token: algorithm used is not HS256")
        if unverified.get("iss") != self.service_id:
            raise NotifyError(403, "AuthError", "Invalid token: service not found")
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], options={"require": ["iss", "iat"],
                                                                                 "verify_iat": False})
        except jwt.PyJWTError:
            raise NotifyError(403, "AuthError", "Invalid token: API key not found") from None
        if abs(time.time() - float(claims["iat"])) > BOUND:
            raise NotifyError(403, "AuthError", "Error: Your system clock must be accurate to within 30 seconds")

    def template(self, template_id: Any, kind: str) -> Template:
        with self._lock:
            found = self._templates.get(str(template_id))
        if found is None:
            raise NotifyError(400, "BadRequestError", "Template not found")
        if found.type != kind:
            raise NotifyError(400, "BadRequestError", f"{found.type} template is not suitable for {kind} notification")
        return found

    def sms(self, body: dict[str, Any]) -> Sent:
        _only(body, _SMS_FIELDS)
        template = self.template(body.get("template_id"), "sms")
        personalisation = _personalisation(body.get("personalisation") or {}, template.placeholders)
        phone = _uk_mobile(body.get("phone_number"))
        message = _rendered(template.body, personalisation)
        if len(message) > MAX_SMS:
            raise NotifyError(400, "BadRequestError", f"Text messages cannot be longer than {MAX_SMS} characters. "
                                                      f"Your message is {len(message)} characters long.")
        return self._made(Sent(str(uuid.uuid4()), "sms", body.get("reference"), template.id, phone, (),
                               personalisation, "", message, _now()))

    def letter(self, body: dict[str, Any]) -> Sent:
        _only(body, _LETTER_FIELDS)
        template = self.template(body.get("template_id"), "letter")
        if not isinstance(body.get("personalisation"), dict):
            raise NotifyError(400, "ValidationError", "personalisation is a required property")
        personalisation = _personalisation(body["personalisation"], template.placeholders)
        address = _address(personalisation)
        return self._made(Sent(str(uuid.uuid4()), "letter", body.get("reference"), template.id, None, address,
                               personalisation, _rendered(template.subject, personalisation),
                               _rendered(template.body, personalisation), _now()))

    def _made(self, sent: Sent) -> Sent:
        with self._lock:
            self._sent.append(sent)
        return sent

    def find(self, reference: str | None, template_type: str | None) -> list[Sent]:
        with self._lock:
            found = [s for s in self._sent if (reference is None or s.reference == reference)
                     and (template_type is None or s.type == template_type)]
        return list(reversed(found))

    def templates(self, kind: str | None) -> list[Template]:
        with self._lock:
            return [t for t in self._templates.values() if kind is None or t.type == kind]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise NotifyError(400, "ValidationError", f"Additional properties are not allowed ({unknown[0]} was "
                                                  "unexpected)")


def _personalisation(value: Any, placeholders: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise NotifyError(400, "ValidationError", "personalisation is not of type object")
    missing = [name for name in dict.fromkeys(placeholders) if name not in value]
    if missing:
        raise NotifyError(400, "BadRequestError", f"Missing personalisation: {', '.join(missing)}")
    return dict(value)


def _rendered(text: str, personalisation: dict[str, Any]) -> str:
    return PLACEHOLDER.sub(lambda m: str(personalisation.get(m.group(1), m.group(0))), text)


def _uk_mobile(value: Any) -> str:
    """Notify's check of a UK mobile number (notifications-utils, `validate_uk_phone_number`), its messages."""
    number = str(value or "")
    if re.search(r"[^\d\s()+\-.]", number):
        raise NotifyError(400, "ValidationError", "phone_number Must not contain letters or symbols")
    digits = re.sub(r"\D", "", number)
    digits = digits[4:] if digits.startswith("0044") else digits[2:] if digits.startswith("44") else digits
    digits = digits.lstrip("0")
    if not digits.startswith("7"):
        raise NotifyError(400, "ValidationError", "phone_number Not a UK mobile number")
    if len(digits) > 10:
        raise NotifyError(400, "ValidationError", "phone_number Too many digits")
    if len(digits) < 10:
        raise NotifyError(400, "ValidationError", "phone_number Not enough digits")
    return "+44" + digits


def _address(personalisation: dict[str, Any]) -> tuple[str, ...]:
    lines = tuple(str(personalisation[key]).strip() for key in ADDRESS_KEYS
                  if str(personalisation.get(key) or "").strip())
    if len(lines) < 3:
        raise NotifyError(400, "ValidationError", "Address must be at least 3 lines")
    if any(line.startswith(NOT_AT_START) for line in lines):
        raise NotifyError(400, "ValidationError", "Address lines must not start with any of the following "
                                                  "characters: @ ( ) = [ ] ” \\ / , < >")
    if not POSTCODE.match(re.sub(r"\s+", " ", lines[-1])):
        raise NotifyError(400, "ValidationError", "Last line of address must be a real UK postcode or another "
                                                  "country")
    return lines


# --- the thin HTTP layer ----------------------------------------------------------------------------------------


def _created(sent: Sent, base: str) -> dict[str, Any]:
    content = {"body": sent.body, "from_number": "CoProd"} if sent.type == "sms" else \
        {"subject": sent.subject, "body": sent.body}
    answer = {"id": sent.id, "reference": sent.reference, "content": content,
              "uri": f"{base}/v2/notifications/{sent.id}",
              "template": {"id": sent.template_id, "version": 1, "uri": f"{base}/v2/template/{sent.template_id}"}}
    return answer | ({"scheduled_for": None} if sent.type == "letter" else {})


def _listed(sent: Sent) -> dict[str, Any]:
    lines = {f"line_{n}": (sent.address[n - 1] if n <= len(sent.address) else None) for n in range(1, 8)}
    return {"id": sent.id, "reference": sent.reference, "email_address": None, "phone_number": sent.phone_number,
            **lines, "postage": "second" if sent.type == "letter" else None, "type": sent.type,
            "status": "accepted" if sent.type == "letter" else "sending",
            "template": {"version": 1, "id": sent.template_id, "uri": f"/v2/template/{sent.template_id}/1"},
            "body": sent.body, "subject": sent.subject or None, "created_at": sent.created_at,
            "created_by_name": None, "sent_at": None, "completed_at": None, "scheduled_for": None,
            "is_cost_data_ready": False, "cost_in_pounds": None, "cost_details": {}}


def create_app(state: NotifyState) -> Starlette:
    def fault_answer(fault: Fault) -> Response:
        if fault.kind == "throttle":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return NotifyError(429, "RateLimitError", "Exceeded rate limit for key type LIVE of 3000 requests per "
                                                      "60 seconds", headers).response()
        return NotifyError(500, "Exception", "Internal server error").response()

    async def answer(request: Request, operation: Operation) -> Response:
        try:
            state.authorise(request.headers.get("authorization"))
            fault = state.take_fault(operation)
            if fault is not None and fault.kind != "made-then-fails":
                return fault_answer(fault)
            base = f"{request.url.scheme}://{request.url.netloc}"
            if operation in ("sms", "letter"):
                try:
                    body = json.loads(await request.body())
                except ValueError:
                    raise NotifyError(400, "BadRequestError", "Invalid JSON supplied in POST data") from None
                if state.latency:
                    await asyncio.sleep(state.latency)
                sent = state.sms(body) if operation == "sms" else state.letter(body)
                return fault_answer(fault) if fault is not None else JSONResponse(_created(sent, base), 201)
            if operation == "find":
                params = request.query_params
                found = state.find(params.get("reference"), params.get("template_type"))
                return JSONResponse({"notifications": [_listed(s) for s in found],
                                     "links": {"current": f"{base}/v2/notifications", "next": None}})
            kind = request.query_params.get("type")
            return JSONResponse({"templates": [
                {"id": t.id, "name": t.name, "type": t.type, "created_at": _now(), "updated_at": None,
                 "version": t.version, "created_by": "team@council.example.org", "body": t.body,
                 "subject": t.subject or None, "letter_contact_block": None} for t in state.templates(kind)]})
        except NotifyError as error:
            return error.response()

    def route(operation: Operation) -> Any:
        async def handle(request: Request) -> Response:
            response = await answer(request, operation)
            state.record(Served(operation, response.status_code, time.time()))
            return response
        return handle

    return Starlette(routes=[Route("/v2/notifications/sms", route("sms"), methods=["POST"]),
                             Route("/v2/notifications/letter", route("letter"), methods=["POST"]),
                             Route("/v2/notifications", route("find"), methods=["GET"]),
                             Route("/v2/templates", route("templates"), methods=["GET"])])


class NotifyFake:
    """The stand-in on `http://127.0.0.1:port`, in a thread; a context manager."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.state = NotifyState()
        self._server = BackgroundServer(create_app(self.state), host, name="notify-fake")
        self.url = self._server.url

    @property
    def api_key(self) -> str:
        return self.state.api_key

    def add_template(self, type_: str, body: str, subject: str = "", name: str = "") -> str:
        return self.state.add_template(type_, body, subject, name)

    def start(self) -> NotifyFake:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> NotifyFake:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
