"""Mail through Azure Communication Services (ACS) Email: the `MailTransport` for lists beyond Exchange's limits.

What this follows, and where it comes from (REST API version 2025-09-01, the default of the pinned
azure-communication-email 1.1.0; swagger `specification/communication/data-plane/Email/stable/2025-09-01/
CommunicationServicesEmail.json` in Azure/azure-rest-api-specs, and learn.microsoft.com "Email - Send" /
"Email - Get Send Result"):

- `POST {endpoint}/emails:send` takes `senderAddress`, `recipients.to[{address, displayName}]`,
  `content{subject, plainText, html}`, `attachments[{name, contentType, contentInBase64}]` and `headers` (a
  string-to-string map, "custom email headers to be passed"), and answers 202 with `Operation-Location`: the
  service has queued the message. That is all "sent" means here; delivery is reported later (Event Grid).
- The `Operation-Id` request header (a UUID) names the operation, "if not provided, the service will generate
  one"; `GET {endpoint}/emails/operations/{id}` answers `{id, status: NotStarted|Running|Succeeded|Failed|
  Canceled, error}`. The SDK 1.1.0 has no method for that GET, so it goes through the client's own pipeline
  (`send_request`: same HMAC signing, same transport).
- Errors are `{"error": {"code", "message"}}` with the code also in `x-ms-error-code`; throttling is a 429 with
  `Retry-After` (learn.microsoft.com "Service limits for Azure Communication Services", Email).

Exactly once: the operation id is a UUID5 of the message's key, so a resend after a lost answer carries the same
id. Microsoft does not document what ACS does with a repeated `Operation-Id` (nor how long it keeps operations),
so the outbox never relies on it alone: after a lost answer it asks `was_sent` (the operation's status) first
and resends only when ACS says it has no such operation.
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import TYPE_CHECKING, Any

from coprod.mail.outbox import MailError, MailRefused, MailThrottled, MailUncertain
from graph_client import OutgoingMail, parse_retry_after

if TYPE_CHECKING:
    from azure.communication.email import EmailClient
    from azure.core.exceptions import HttpResponseError

__all__ = ["API_VERSION", "AcsTransport", "acs_message", "operation_id_for"]

API_VERSION = "2025-09-01"  # pinned, so the send and the status check speak the same version
# Fixed forever: a message left `sending` across a deploy must be asked about under the id it was sent with.
_OPERATION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:coprod-hub:acs-email-operation")
_ADDRESS = re.compile(r"[^\s'\"<>(),;:]+@[^\s'\"<>(),;:]+")  # the rule graph_client's errors mask with
_TAKEN = frozenset({"NotStarted", "Running", "Succeeded"})


def operation_id_for(key: str) -> str:
    """The ACS operation id of the message with this key: stable across resends, revealing nothing of the key."""
    return str(uuid.uuid5(_OPERATION_NAMESPACE, key))


def acs_message(mail: OutgoingMail, sender: str) -> dict[str, Any]:
    """The `emails:send` body for one message."""
    to: list[dict[str, str]] = [{"address": address} for address in mail.to]
    if len(to) == 1 and mail.to_name:
        to[0]["displayName"] = mail.to_name
    content = {"subject": mail.subject, "plainText": mail.text}
    if mail.html is not None:
        content["html"] = mail.html
    message: dict[str, Any] = {"senderAddress": sender, "recipients": {"to": to}, "content": content}
    if mail.attachments:
        message["attachments"] = [{"name": a.filename, "contentType": a.content_type,
                                   "contentInBase64": base64.b64encode(a.content).decode()}
                                  for a in mail.attachments]
    if mail.headers:
        message["headers"] = dict(mail.headers)
    return message


def _mask(text: str) -> str:
    return _ADDRESS.sub("<address>", text)


def _header(error: HttpResponseError, name: str) -> str | None:
    headers = getattr(error.response, "headers", None)  # azure-core types `response` without its headers
    return None if headers is None else headers.get(name)


def _describe(error: HttpResponseError) -> str:
    """`HTTP 400 BadRequest: ...` from ACS's answer, addresses masked (ACS's messages may quote one)."""
    code = _header(error, "x-ms-error-code")
    message = ""
    if error.error is not None:
        code = code or error.error.code
        message = error.error.message or ""
    text = f"HTTP {error.status_code} {code or 'no error code'}"
    return f"{text}: {_mask(message)[:300]}" if message else text


class AcsTransport:
    """Send with ACS Email from `sender` (a MailFrom address of a domain connected to the resource).

    `sender_name` is accepted for parity with Graph but not sent: ACS takes the From display name from the
    sender username's configuration in the Email Communication resource; the send body has no field for it.
    `ca_bundle` is extra CA certificates to trust (a TLS proxy; the tests' fake). The SDK client is built on
    first use, so importing this module costs no Azure SDK import.
    """

    def __init__(self, connection_string: str, sender: str, *, sender_name: str | None = None,
                 ca_bundle: str | None = None, timeout: float = 30.0) -> None:
        fields = {k.strip().lower() for k, _, v in (p.partition("=") for p in connection_string.split(";")) if v}
        if not {"endpoint", "accesskey"} <= fields:
            # not the SDK's ValueError on the first send: a drain would die on it; say so at start-up instead
            raise ValueError("the ACS connection string needs endpoint=...;accesskey=...")
        self._connection_string = connection_string
        self.sender = sender
        self.sender_name = sender_name
        self.ca_bundle = ca_bundle
        self.timeout = timeout
        self._client: EmailClient | None = None

    def _email_client(self) -> EmailClient:
        if self._client is None:
            from azure.communication.email import EmailClient
            from azure.core.pipeline.policies import RetryPolicy
            from azure.core.pipeline.transport import RequestsTransport

            # No SDK retries: azure-core's default policy retries a POST on 500/503/504 and sleeps on any answer
            # with Retry-After (a 429: up to 3 times, backoff up to 120 s), which would stack on the outbox's own
            # handling. The outbox is the one bounded retry layer: a 429 pauses the whole sender until its
            # Retry-After, a 5xx or a lost answer is settled by `was_sent` before anything is resent, and a
            # refusal is retried at most MAX_ATTEMPTS times. So each call here is exactly one HTTP request.
            # trust_env off: REQUESTS_CA_BUNDLE or a proxy variable cannot silently change where mail goes.
            transport = RequestsTransport(connection_verify=self.ca_bundle or True, connection_timeout=self.timeout,
                                          read_timeout=self.timeout, use_env_settings=False)
            self._client = EmailClient.from_connection_string(self._connection_string, api_version=API_VERSION,
                                                              retry_policy=RetryPolicy(retry_total=0),
                                                              transport=transport)
        return self._client

    def send(self, mail: OutgoingMail) -> None:
        """Queue one message with ACS; returns when ACS answered 202 (taken), else raises a `MailError`."""
        from azure.core.exceptions import AzureError, HttpResponseError

        client = self._email_client()
        try:
            # polling=False: "sent" is the 202. The SDK's default poller would follow the operation (every 30 s
            # unless told otherwise) until delivery, holding the drain for minutes per message.
            client.begin_send(acs_message(mail, self.sender), operation_id=operation_id_for(mail.key),
                              polling=False)
        except HttpResponseError as error:
            self._refused(error)
        except AzureError as error:
            # A timeout, a dropped connection, or no connection at all: all `uncertain`. azure-core files some
            # failures after the request went out (a TLS EOF) as ServiceRequestError ("not sent"), and treating
            # an outage as refusals would spend each message's MAX_ATTEMPTS in minutes; `was_sent` settles it.
            raise MailUncertain(f"no answer from ACS ({type(error).__name__})") from error

    def _refused(self, error: HttpResponseError) -> None:
        status = error.status_code
        detail = _describe(error)
        # `from None`: the SDK's own message repeats ACS's text unmasked, and a logged traceback would show it
        if status is None or status < 400 or status >= 500:  # < 400: a 202 whose body was cut off
            raise MailUncertain(f"ACS answered {detail}") from None
        if status == 429:
            retry_after = parse_retry_after(_header(error, "Retry-After"))
            raise MailThrottled(f"ACS is throttling: {detail}", retry_after) from None
        if status == 409:  # ACS already has an operation with this id: the message may well be in; ask, don't resend
            raise MailUncertain(f"ACS answered {detail}") from None
        raise MailRefused(f"ACS refused the email: {detail}", final=status in (400, 401, 403, 404)) from None

    def was_sent(self, key: str) -> bool:
        """Whether ACS took the message with this key: its operation is known and not failed."""
        from azure.core.exceptions import AzureError
        from azure.core.rest import HttpRequest

        client = self._email_client()
        request = HttpRequest("GET", f"/emails/operations/{operation_id_for(key)}", params={"api-version": API_VERSION})
        try:
            response = client.send_request(request)
        except AzureError as error:
            raise MailError(f"could not ask ACS about a message: {type(error).__name__}") from error
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            code = response.headers.get("x-ms-error-code") or "no error code"
            raise MailError(f"ACS answered HTTP {response.status_code} {code} to a status check")
        try:
            result = response.json()
        except ValueError:
            result = None
        if not isinstance(result, dict) or not isinstance(result.get("status"), str):
            raise MailError("ACS's status answer was not the operation JSON")
        status = result["status"]
        if status in _TAKEN:
            return True
        problem = result.get("error")
        reason = problem.get("code") if isinstance(problem, dict) else None
        # Failed or Canceled: ACS took it and gave up (e.g. EmailDropped). A resend would not be "the same
        # operation" any more, so this is left for a person rather than answered yes or no.
        raise MailError(f"ACS's operation for a message is {status} ({reason or 'no error code'})")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
