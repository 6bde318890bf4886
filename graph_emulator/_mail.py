"""Mailboxes: mail sent through Graph (sendMail), each sender's Sent Items, and per-mailbox send limits.

State and rules only. A send arrives as Graph's JSON `message` or as base64
MIME (RFC 5322); either way it becomes one `SentMessage` holding what a test
wants to read back (addresses, bodies, attachments, headers, the MIME itself)
and, unless `saveToSentItems` was false, a message in the sender's Sent Items
shaped as Graph's `message` resource. Errors are Graph's (codes and messages
as Exchange Online answers them); a send over the mailbox's limit is refused
with 429 and stores nothing.
"""

from __future__ import annotations

import base64
import binascii
import html
import math
import re
import secrets
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.utils import format_datetime, formataddr, getaddresses
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

from graph_emulator._directory import User
from graph_emulator._errors import GraphFault, bad_request

__all__ = ["MESSAGE_PROPERTIES", "SENT_ITEMS", "Mailboxes", "SentAttachment", "SentMessage", "attachment_json",
           "extended_key", "html_to_text"]

SENT_ITEMS = "sentitems"  # Graph's well-known folder name
MAX_CUSTOM_HEADERS = 5  # Graph's cap on internetMessageHeaders in a JSON message
_MIME_POLICY = policy.default.clone(linesep="\r\n")
_NO_RECIPIENTS = "At least one recipient is not valid., A message can't be sent because it contains no recipients."
_FILE_ATTACHMENT = "#microsoft.graph.fileAttachment"
_IMPORTANCE = {"low", "normal", "high"}
MESSAGE_PROPERTIES = frozenset({
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime", "sentDateTime",
    "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance", "parentFolderId", "conversationId",
    "conversationIndex", "isDeliveryReceiptRequested", "isReadReceiptRequested", "isRead", "isDraft", "webLink",
    "inferenceClassification", "body", "sender", "from", "toRecipients", "ccRecipients", "bccRecipients", "replyTo",
    "flag", "internetMessageHeaders", "uniqueBody"})


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _opaque(prefix: str, size: int = 33) -> str:
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


@dataclass(frozen=True)
class SentMessage:
    """One message a mailbox sent, as a test reads it back (`Mailboxes.sent`) and as Graph shows it.

    Addresses are as the client gave them; `names` maps a lower-cased address to its display name.
    `headers` are every header of a MIME send, or the custom (`X-`) ones of a JSON send.
    """

    id: str
    mailbox: str  # the sending mailbox's address
    from_address: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    reply_to: tuple[str, ...]
    subject: str
    text_body: str | None
    html_body: str | None
    attachments: tuple[SentAttachment, ...]
    headers: tuple[tuple[str, str], ...]
    internet_message_id: str
    extended_properties: Mapping[str, str]
    raw: bytes  # the MIME, what `$value` answers
    sent_at: float
    saved_to_sent_items: bool
    as_mime: bool  # sent as MIME (True) or as Graph's JSON message (False)
    importance: str = "normal"
    names: Mapping[str, str] = field(default_factory=dict)
    conversation_id: str = field(default_factory=lambda: _opaque("AAQkA", 30))
    change_key: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(30)).decode())
    seq: int = 0

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.to + self.cc + self.bcc

    def header(self, name: str) -> str | None:
        """The first header of that name (any case), or None."""
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag in ("br", "p", "div", "tr", "li"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """The readable text of an HTML body, as Outlook derives a preview or a text body."""
    parser = _TextOf()
    parser.feed(markup)
    parser.close()
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(parser.parts).split("\n")]
    return "\r\n".join(lines).strip()


def _text_to_html(text: str) -> str:
    body = html.escape(text).replace("\r\n", "\n").replace("\n", "<br>\r\n")
    return ('<html><head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n'
            f"</head>\r\n<body>\r\n{body}\r\n</body>\r\n</html>\r\n")


@dataclass
class _Mailbox:
    address: str
    name: str
    user_id: str
    upn: str
    folder_id: str
    messages: list[SentMessage] = field(default_factory=list)
    accepted: deque[tuple[float, int]] = field(default_factory=deque)  # (time, recipients) of sends, for limits
    refused: int = 0


class Mailboxes:
    """Sent mail of every mailbox in the tenant. Callers hold the backend's lock around changes.

    Application tests read what was sent with `sent(mailbox)` (every message, saved or not, oldest
    first) or `sent_items(mailbox)` (what Graph's Sent Items holds); `refused(mailbox)` counts the
    sends the limit turned away. `mailbox` is a `User`, or its id, UPN or address.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._boxes: dict[str, _Mailbox] = {}
        self._seq = 0
        self.set_limit(enabled=False)

    def set_limit(self, *, per_window: int = 30, window_seconds: float = 60.0, recipients_per_day: int = 10_000,
                  day_seconds: float = 86_400.0, enabled: bool = True) -> None:
        """Exchange Online's sending limits per mailbox: messages a minute, recipients a day.

        Off until set (tests send freely); `window_seconds` and `day_seconds` shrink for a compressed clock.
        """
        if per_window < 1 or recipients_per_day < 1 or window_seconds <= 0 or day_seconds <= 0:
            raise ValueError("limits must be positive")
        self.send_limit = {"per_window": per_window, "window_seconds": window_seconds,
                           "recipients_per_day": recipients_per_day, "day_seconds": day_seconds, "enabled": enabled}

    def limit_json(self) -> dict[str, Any]:
        return dict(self.send_limit)

    # --- reading back ---------------------------------------------------------
    def sent(self, mailbox: User | str) -> list[SentMessage]:
        """Every message the mailbox sent, oldest first, whether or not it was saved to Sent Items."""
        box = self._find(mailbox)
        return list(box.messages) if box else []

    def sent_items(self, mailbox: User | str) -> list[SentMessage]:
        """The messages in the mailbox's Sent Items folder, oldest first."""
        return [m for m in self.sent(mailbox) if m.saved_to_sent_items]

    def refused(self, mailbox: User | str | None = None) -> int:
        """Sends the limit refused, for one mailbox or all."""
        if mailbox is None:
            return sum(box.refused for box in self._boxes.values())
        box = self._find(mailbox)
        return box.refused if box else 0

    def sent_items_folder_id(self, user: User) -> str:
        return self._box(user).folder_id

    def message(self, user: User, message_id: str) -> SentMessage:
        """A message of the mailbox's (Sent Items holds all there is), or Graph's 404."""
        for message in self._box(user).messages:
            if message.id == message_id and message.saved_to_sent_items:
                return message
        raise GraphFault(404, "ErrorItemNotFound", "The specified object was not found in the store.")

    def _find(self, mailbox: User | str) -> _Mailbox | None:
        key = mailbox.id if isinstance(mailbox, User) else mailbox.lower()
        for box in self._boxes.values():
            if key in (box.user_id, box.upn.lower(), box.address.lower()):
                return box
        return None

    def _box(self, user: User) -> _Mailbox:
        box = self._boxes.get(user.id)
        if box is None:
            box = _Mailbox(user.mail or user.user_principal_name, user.display_name, user.id,
                           user.user_principal_name, _opaque("AAMkA", 42) + "AAAEJAAA=")
            self._boxes[user.id] = box
        return box

    # --- sending --------------------------------------------------------------
    def send_json(self, user: User, payload: Mapping[str, Any]) -> SentMessage:
        """sendMail with Graph's JSON body: `{"message": {...}, "saveToSentItems": bool}`."""
        message = payload.get("message")
        if not isinstance(message, dict):
            raise bad_request("The message parameter is missing or is not an object.", code="ErrorInvalidParameter")
        save = payload.get("saveToSentItems", True)
        if isinstance(save, str) and save.lower() in ("true", "false"):
            save = save.lower() == "true"  # Graph's own sample sends it as the string "false"
        if not isinstance(save, bool):
            raise bad_request("Cannot convert the literal to the expected type 'Edm.Boolean'.", code="RequestBodyRead")
        box = self._box(user)
        to, cc, bcc, reply_to = (_recipients(message.get(key)) for key in
                                 ("toRecipients", "ccRecipients", "bccRecipients", "replyTo"))
        names = {address.lower(): name for address, name in (*to, *cc, *bcc, *reply_to) if name}
        _check_recipients([a for a, _ in (*to, *cc, *bcc)])
        sender = _recipients([message["from"]])[0] if isinstance(message.get("from"), dict) else (box.address, box.name)
        names.setdefault(sender[0].lower(), sender[1] or sender[0])
        headers = _custom_headers(message.get("internetMessageHeaders"))
        text, markup = _body(message.get("body"))
        attachments = _json_attachments(message.get("attachments"))
        extended = _extended_properties(message.get("singleValueExtendedProperties"))
        importance = str(message.get("importance") or "normal").lower()
        if importance not in _IMPORTANCE:
            raise bad_request(f"The value '{message.get('importance')}' is not valid for enum Importance.",
                              code="RequestBodyRead")
        subject = str(message.get("subject") or "")
        imid = str(message.get("internetMessageId") or "") or self._new_message_id()
        self._admit(box, len(to) + len(cc) + len(bcc))
        now = self.clock()
        raw = _build_mime(sender, to, cc, bcc, reply_to, names, subject, text, markup, attachments, headers, imid, now)
        return self._store(box, SentMessage(
            id=_opaque("AAMkA", 60), mailbox=box.address, from_address=sender[0],
            to=tuple(a for a, _ in to), cc=tuple(a for a, _ in cc), bcc=tuple(a for a, _ in bcc),
            reply_to=tuple(a for a, _ in reply_to), subject=subject, text_body=text, html_body=markup,
            attachments=attachments, headers=tuple(headers), internet_message_id=imid, extended_properties=extended,
            raw=raw, sent_at=now, saved_to_sent_items=save, as_mime=False, importance=importance, names=names))

    def send_mime(self, user: User, body: bytes) -> SentMessage:
        """sendMail with a base64 RFC 5322 message; always saved to Sent Items, every header kept."""
        compact = b"".join(body.split())
        try:
            raw = base64.b64decode(compact, validate=True) if compact else b""
        except (binascii.Error, ValueError):
            raw = b""
        if not raw:
            raise bad_request("Invalid base64 string for MIME content.", code="ErrorMimeContentInvalidBase64String")
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        box = self._box(user)
        to, cc, bcc, reply_to = (_addresses(parsed, name) for name in ("To", "Cc", "Bcc", "Reply-To"))
        names = {address.lower(): name for address, name in (*to, *cc, *bcc, *reply_to) if name}
        _check_recipients([a for a, _ in (*to, *cc, *bcc)])
        senders = _addresses(parsed, "From")
        sender = senders[0] if senders else (box.address, box.name)
        names.setdefault(sender[0].lower(), sender[1] or sender[0])
        self._admit(box, len(to) + len(cc) + len(bcc))
        now = self.clock()
        # Exchange stamps what the client left out; what the client set (Message-ID included) it keeps.
        missing = b""
        imid = str(parsed.get("Message-ID") or "").strip()
        if not imid:
            imid = self._new_message_id()
            missing += f"Message-ID: {imid}\r\n".encode()
        if parsed.get("Date") is None:
            missing += f"Date: {format_datetime(datetime.fromtimestamp(now, UTC))}\r\n".encode()
        raw = missing + raw
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        text_part = parsed.get_body(preferencelist=("plain",))
        html_part = parsed.get_body(preferencelist=("html",))
        importance = str(parsed.get("Importance") or "").strip().lower()
        if importance not in _IMPORTANCE:
            importance = {"1": "high", "2": "high", "4": "low", "5": "low"}.get(
                str(parsed.get("X-Priority") or "3").strip()[:1], "normal")
        return self._store(box, SentMessage(
            id=_opaque("AAMkA", 60), mailbox=box.address, from_address=sender[0],
            to=tuple(a for a, _ in to), cc=tuple(a for a, _ in cc), bcc=tuple(a for a, _ in bcc),
            reply_to=tuple(a for a, _ in reply_to), subject=str(parsed.get("Subject") or ""),
            text_body=_content(text_part), html_body=_content(html_part),
            attachments=tuple(_mime_attachments(parsed)),
            headers=tuple((name, str(value).strip()) for name, value in parsed.items()),
            internet_message_id=imid, extended_properties={}, raw=raw, sent_at=now, saved_to_sent_items=True,
            as_mime=True, importance=importance, names=names))

    def _store(self, box: _Mailbox, message: SentMessage) -> SentMessage:
        self._seq += 1
        stored = replace(message, seq=self._seq)
        box.messages.append(stored)
        return stored

    @staticmethod
    def _new_message_id() -> str:
        server = "EMU" + secrets.token_hex(5).upper()
        return f"<{server}{secrets.token_hex(14).upper()}@{server}.eurprd01.prod.outlook.com>"

    # --- limits ---------------------------------------------------------------
    def _admit(self, box: _Mailbox, recipients: int) -> None:
        """Count a send against the mailbox's limits, or refuse it with 429 and a whole-second Retry-After."""
        limit = self.send_limit
        if not limit["enabled"]:
            return
        now = self.clock()
        window, day = float(limit["window_seconds"]), float(limit["day_seconds"])
        per_window, per_day = int(limit["per_window"]), int(limit["recipients_per_day"])
        while box.accepted and box.accepted[0][0] <= now - max(window, day):
            box.accepted.popleft()
        in_window = [t for t, _ in box.accepted if t > now - window]
        in_day = [(t, n) for t, n in box.accepted if t > now - day]
        wait_window = 0.0
        if len(in_window) >= per_window:
            wait_window = in_window[len(in_window) - per_window] + window - now
        wait_day = 0.0
        excess = sum(n for _, n in in_day) + recipients - per_day
        if excess > 0:
            wait_day = day  # more recipients than a whole day allows: no wait is long enough
            for t, n in in_day:
                excess -= n
                if excess <= 0:
                    wait_day = t + day - now
                    break
        if wait_window <= 0 and wait_day <= 0:
            box.accepted.append((now, recipients))
            return
        box.refused += 1
        retry_after = {"Retry-After": str(max(1, math.ceil(max(wait_window, wait_day) - 1e-9)))}
        if wait_day > 0:
            raise GraphFault(429, "ErrorExceededMessageLimit",
                             "Cannot send mail. Daily Message/Recipient limit exceeded.", retry_after)
        raise GraphFault(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.", retry_after)

    # --- Graph's shapes ---------------------------------------------------------
    def message_json(self, user: User, message: SentMessage, *, select: Iterable[str] | None = None,
                     attachments: bool = False, extended_ids: Iterable[str] | None = None,
                     body_type: str = "html") -> dict[str, Any]:
        """The message as Graph's `message` resource; `internetMessageHeaders` only when selected, as Graph does."""
        box = self._box(user)
        stamp = _iso(message.sent_at)
        body_html = message.html_body if message.html_body is not None else _text_to_html(message.text_body or "")
        body_text = message.text_body if message.text_body is not None else html_to_text(message.html_body or "")
        body = {"contentType": "text", "content": body_text} if body_type == "text" else \
            {"contentType": "html", "content": body_html}
        shown = {
            "@odata.etag": f'W/"{message.change_key}"',
            "id": message.id,
            "createdDateTime": stamp,
            "lastModifiedDateTime": stamp,
            "changeKey": message.change_key,
            "categories": [],
            "receivedDateTime": stamp,
            "sentDateTime": stamp,
            "hasAttachments": any(not a.is_inline for a in message.attachments),
            "internetMessageId": message.internet_message_id,
            "subject": message.subject,
            "bodyPreview": body_text.strip()[:255],
            "importance": message.importance,
            "parentFolderId": box.folder_id,
            "conversationId": message.conversation_id,
            "conversationIndex": base64.b64encode(uuid.UUID(int=message.seq).bytes + bytes(6)).decode(),
            "isDeliveryReceiptRequested": False,
            "isReadReceiptRequested": False,
            "isRead": True,
            "isDraft": False,
            "webLink": f"https://outlook.office365.com/owa/?ItemID={quote(message.id, safe='')}"
                       "&exvsurl=1&viewmodel=ReadMessageItem",
            "inferenceClassification": "focused",
            "body": body,
            "sender": _recipient(box.address, box.name),
            "from": _recipient(message.from_address, message.names.get(message.from_address.lower())),
            "toRecipients": [_recipient(a, message.names.get(a.lower())) for a in message.to],
            "ccRecipients": [_recipient(a, message.names.get(a.lower())) for a in message.cc],
            "bccRecipients": [_recipient(a, message.names.get(a.lower())) for a in message.bcc],
            "replyTo": [_recipient(a, message.names.get(a.lower())) for a in message.reply_to],
            "flag": {"flagStatus": "notFlagged"},
        }
        if select is not None:
            wanted = set(select)
            headers = [{"name": n, "value": v} for n, v in message.headers]
            shown = {"@odata.etag": shown["@odata.etag"], "id": message.id} | \
                {k: v for k, v in shown.items() if k in wanted} | \
                ({"internetMessageHeaders": headers} if "internetMessageHeaders" in wanted else {}) | \
                ({"uniqueBody": body} if "uniqueBody" in wanted else {})
        if attachments:
            shown["attachments"] = [attachment_json(message, a) for a in message.attachments]
        if extended_ids is not None:
            ids = {extended_key(i) for i in extended_ids}
            found = [{"id": i, "value": v} for i, v in message.extended_properties.items() if extended_key(i) in ids]
            if found:
                shown["singleValueExtendedProperties"] = found
        return shown


def extended_key(property_id: str) -> str:
    """How Exchange matches extended property ids: type and property set in any case, the `Name` as written."""
    head, sep, name = property_id.strip().partition(" Name ")
    return " ".join(head.lower().split()) + sep + name


def attachment_json(message: SentMessage, attachment: SentAttachment) -> dict[str, Any]:
    """A `fileAttachment`, with its bytes in `contentBytes`."""
    return {"@odata.type": _FILE_ATTACHMENT, "@odata.mediaContentType": attachment.content_type,
            "id": attachment.id, "lastModifiedDateTime": _iso(message.sent_at), "name": attachment.name,
            "contentType": attachment.content_type, "size": len(attachment.content), "isInline": attachment.is_inline,
            "contentId": attachment.content_id, "contentLocation": None,
            "contentBytes": base64.b64encode(attachment.content).decode()}


def _recipient(address: str, name: str | None) -> dict[str, Any]:
    return {"emailAddress": {"name": name or address, "address": address}}


# --- reading a JSON message -----------------------------------------------------
def _recipients(value: Any) -> list[tuple[str, str | None]]:
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


def _check_recipients(addresses: list[str]) -> None:
    if not addresses:
        raise GraphFault(400, "ErrorInvalidRecipients", _NO_RECIPIENTS)
    for address in addresses:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", address):
            raise GraphFault(400, "ErrorInvalidRecipients", f"At least one recipient is not valid., Recipient "
                             f"'{address}' is not resolved. All recipients must be resolved before a message can "
                             "be submitted.")


def _custom_headers(value: Any) -> list[tuple[str, str]]:
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


def _body(value: Any) -> tuple[str | None, str | None]:
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


def _json_attachments(value: Any) -> tuple[SentAttachment, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise bad_request("attachments must be an array.", code="RequestBodyRead")
    found = []
    for entry in value:
        if not isinstance(entry, dict) or entry.get("@odata.type") != _FILE_ATTACHMENT:
            kind = entry.get("@odata.type") if isinstance(entry, dict) else None
            raise bad_request(f"Attachments of type '{kind}' are not supported here; use "
                              f"'{_FILE_ATTACHMENT}'.", code="ErrorInvalidRequest")
        try:
            content = base64.b64decode(str(entry.get("contentBytes") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise bad_request("Cannot convert the literal to the expected type 'Edm.Binary'.",
                              code="RequestBodyRead") from None
        found.append(SentAttachment(_opaque("AAMkA", 60), str(entry.get("name") or "Untitled"),
                                    str(entry.get("contentType") or "application/octet-stream"), content,
                                    bool(entry.get("isInline", False)), entry.get("contentId")))
    return tuple(found)


def _extended_properties(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, list) or not all(isinstance(p, dict) and isinstance(p.get("id"), str) for p in value):
        raise bad_request("singleValueExtendedProperties must be an array of {id, value}.", code="RequestBodyRead")
    return {p["id"]: str(p.get("value") or "") for p in value}


def _build_mime(sender: tuple[str, str | None], to: list[tuple[str, str | None]], cc: list[tuple[str, str | None]],
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
def _addresses(parsed: EmailMessage, header: str) -> list[tuple[str, str | None]]:
    values = [str(v) for v in parsed.get_all(header) or []]
    return [(address, name or None) for name, address in getaddresses(values) if address]


def _content(part: MIMEPart | None) -> str | None:
    if part is None:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else bytes(content).decode("utf-8", "replace")


def _mime_attachments(parsed: EmailMessage) -> Iterable[SentAttachment]:
    for part in parsed.iter_attachments():
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        content_id = part.get("Content-ID")
        yield SentAttachment(_opaque("AAMkA", 60), part.get_filename() or "Untitled", part.get_content_type(),
                             content, part.get_content_disposition() == "inline" and content_id is not None,
                             str(content_id).strip("<>") if content_id else None)
