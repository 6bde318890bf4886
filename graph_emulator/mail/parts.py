"""The parts of a message as a client gives them: Graph's JSON message read field by field, the MIME Exchange keeps
for it, and the addresses, bodies and attachments of a MIME message.

Errors are Graph's, as Exchange Online answers them: a recipient that is not an address (ErrorInvalidRecipients),
a custom header not named `x-...` or more than five of them (InvalidInternetMessageHeader, ...Collection), an
attachment of a type other than fileAttachment, bytes that are not base64.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, formataddr, getaddresses
from typing import Any

from graph_emulator.core.errors import GraphFault, bad_request

__all__ = ["FILE_ATTACHMENT", "SentAttachment", "addresses", "body", "build_mime", "check_recipients", "content",
           "custom_headers", "extended_properties", "json_attachments", "mime_attachments", "opaque", "recipients"]

MAX_CUSTOM_HEADERS = 5  # Graph's cap on internetMessageHeaders in a JSON message
_MIME_POLICY = policy.default.clone(linesep="\r\n")
_NO_RECIPIENTS = "At least one recipient is not valid., A message can't be sent because it contains no recipients."
FILE_ATTACHMENT = "#microsoft.graph.fileAttachment"


def opaque(prefix: str, size: int = 33) -> str:
    """An id in the look of Exchange's: base64 of bytes behind a fixed prefix."""
    return prefix + base64.urlsafe_b64encode(secrets.token_bytes(size)).decode()


@dataclass(frozen=True)
class SentAttachment:
    """A file attached to a sent message."""

    id: str
    name: str
    content_type: str
    content: bytes
    is_inline: bool = False
    content_id: str | None = None


# --- reading a JSON message -----------------------------------------------------
def recipients(value: Any) -> list[tuple[str, str | None]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request("A recipient collection must be an array.", code="RequestBodyRead")
    found = []
    for entry in value:
        email = entry.get("emailAddress") if isinstance(entry, dict) else None
        address = email.get("address") if isinstance(email, dict) else None
        if not isinstance(address, str) or not address.strip():
            raise GraphFault(400, "ErrorInvalidRecipients", "At least one recipient is not valid., Recipient '' is "
                             "not resolved. All recipients must be resolved before a message can be submitted.")
        name = email.get("name") if isinstance(email, dict) else None
        found.append((address.strip(), name if isinstance(name, str) and name else None))
    return found


def check_recipients(addresses: list[str]) -> None:
    if not addresses:
        raise GraphFault(400, "ErrorInvalidRecipients", _NO_RECIPIENTS)
    for address in addresses:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", address):
            raise GraphFault(400, "ErrorInvalidRecipients", f"At least one recipient is not valid., Recipient "
                             f"'{address}' is not resolved. All recipients must be resolved before a message can "
                             "be submitted.")


def custom_headers(value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(h, dict) for h in value):
        raise bad_request("internetMessageHeaders must be an array of {name, value}.", code="RequestBodyRead")
    headers = [(str(h.get("name") or ""), str(h.get("value") or "")) for h in value]
    for name, _ in headers:
        if not name.lower().startswith("x-"):
            raise GraphFault(400, "InvalidInternetMessageHeader",
                             f"The internet message header name '{name}' should start with 'x-' or 'X-'.")
    if len(headers) > MAX_CUSTOM_HEADERS:
        raise GraphFault(400, "InvalidInternetMessageHeaderCollection",
                         f"Maximum number of headers in one message should be less than or equal to "
                         f"{MAX_CUSTOM_HEADERS}.")
    return headers


def body(value: Any) -> tuple[str | None, str | None]:
    """(text, html) of a JSON itemBody: Exchange keeps the one form it was given."""
    if value is None:
        return "", None
    if not isinstance(value, dict):
        raise bad_request("The body must be an itemBody object.", code="RequestBodyRead")
    kind = str(value.get("contentType") or "text").lower()
    content = str(value.get("content") or "")
    if kind == "html":
        return None, content
    if kind != "text":
        raise bad_request(f"The value '{value.get('contentType')}' is not valid for enum BodyType.",
                          code="RequestBodyRead")
    return content, None


def json_attachments(value: Any) -> tuple[SentAttachment, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise bad_request("attachments must be an array.", code="RequestBodyRead")
    found = []
    for entry in value:
        if not isinstance(entry, dict) or entry.get("@odata.type") != FILE_ATTACHMENT:
            kind = entry.get("@odata.type") if isinstance(entry, dict) else None
            raise bad_request(f"Attachments of type '{kind}' are not supported here; use "
                              f"'{FILE_ATTACHMENT}'.", code="ErrorInvalidRequest")
        try:
            content = base64.b64decode(str(entry.get("contentBytes") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise bad_request("Cannot convert the literal to the expected type 'Edm.Binary'.",
                              code="RequestBodyRead") from None
        found.append(SentAttachment(opaque("AAMkA", 60), str(entry.get("name") or "Untitled"),
                                    str(entry.get("contentType") or "application/octet-stream"), content,
                                    bool(entry.get("isInline", False)), entry.get("contentId")))
    return tuple(found)


def extended_properties(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, list) or not all(isinstance(p, dict) and isinstance(p.get("id"), str) for p in value):
        raise bad_request("singleValueExtendedProperties must be an array of {id, value}.", code="RequestBodyRead")
    return {p["id"]: str(p.get("value") or "") for p in value}


def build_mime(sender: tuple[str, str | None], to: list[tuple[str, str | None]], cc: list[tuple[str, str | None]],
                bcc: list[tuple[str, str | None]], reply_to: list[tuple[str, str | None]], names: Mapping[str, str],
                subject: str, text: str | None, markup: str | None, attachments: Iterable[SentAttachment],
                headers: Iterable[tuple[str, str]], imid: str, now: float) -> bytes:
    """The MIME Exchange would hold for a JSON send, so that `$value` has something true to answer."""
    def joined(people: list[tuple[str, str | None]]) -> str:
        return ", ".join(formataddr((names.get(a.lower()) or "", a)) for a, _ in people)

    message = EmailMessage(policy=_MIME_POLICY)
    message["From"] = formataddr((sender[1] or "", sender[0]))
    for name, people in (("To", to), ("Cc", cc), ("Bcc", bcc), ("Reply-To", reply_to)):
        if people:
            message[name] = joined(people)
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    message["Message-ID"] = imid
    for name, value in headers:
        message[name] = value
    if markup is not None:
        message.set_content(markup, subtype="html")
    else:
        message.set_content(text or "")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.split(";")[0].strip().partition("/")
        message.add_attachment(attachment.content, maintype=maintype or "application",
                               subtype=subtype or "octet-stream", filename=attachment.name)
    return message.as_bytes()


# --- reading a MIME message -----------------------------------------------------
def addresses(parsed: EmailMessage, header: str) -> list[tuple[str, str | None]]:
    values = [str(v) for v in parsed.get_all(header) or []]
    return [(address, name or None) for name, address in getaddresses(values) if address]


def content(part: MIMEPart | None) -> str | None:
    if part is None:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else bytes(content).decode("utf-8", "replace")


def mime_attachments(parsed: EmailMessage) -> Iterable[SentAttachment]:
    for part in parsed.iter_attachments():
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        content_id = part.get("Content-ID")
        yield SentAttachment(opaque("AAMkA", 60), part.get_filename() or "Untitled", part.get_content_type(),
                             content, part.get_content_disposition() == "inline" and content_id is not None,
                             str(content_id).strip("<>") if content_id else None)
