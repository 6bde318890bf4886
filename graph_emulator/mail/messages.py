"""A message as the mail service keeps it (`SentMessage`, in a `Mailbox`) and as Graph shows it (`message_json`,
`attachment_json`): the JSON shapes of the `message` resource and its `fileAttachment`s."""

from __future__ import annotations

import base64
import html
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

from graph_emulator.core.dates import iso
from graph_emulator.mail.parts import FILE_ATTACHMENT, SentAttachment, opaque

__all__ = ["IMPORTANCE", "INBOX", "MESSAGE_PROPERTIES", "SENT_ITEMS", "Mailbox", "SentAttachment", "SentMessage",
           "attachment_json", "extended_key", "html_to_text", "message_json"]

SENT_ITEMS = "sentitems"  # Graph's well-known folder names
INBOX = "inbox"
IMPORTANCE = {"low", "normal", "high"}
MESSAGE_PROPERTIES = frozenset({
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime", "sentDateTime",
    "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance", "parentFolderId", "conversationId",
    "conversationIndex", "isDeliveryReceiptRequested", "isReadReceiptRequested", "isRead", "isDraft", "webLink",
    "inferenceClassification", "body", "sender", "from", "toRecipients", "ccRecipients", "bccRecipients", "replyTo",
    "flag", "internetMessageHeaders", "uniqueBody"})


@dataclass(frozen=True)
class SentMessage:
    """One message a mailbox sent (or, in its Inbox, received), as a test reads it back (`Mailboxes.sent`,
    `Mailboxes.inbox`) and as Graph shows it.

    Addresses are as the client gave them; `names` maps a lower-cased address to its display name.
    `headers` are every header of a MIME message, or the custom (`X-`) ones of a JSON send.
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
    conversation_id: str = field(default_factory=lambda: opaque("AAQkA", 30))
    change_key: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(30)).decode())
    seq: int = 0
    folder: str = SENT_ITEMS  # Sent Items, or the Inbox for a message the mailbox received

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
class Mailbox:
    """One mailbox: its address and names, its two folders' ids, and the messages in each."""

    address: str
    name: str
    user_id: str
    upn: str
    folder_id: str
    inbox_id: str
    messages: list[SentMessage] = field(default_factory=list)
    received: list[SentMessage] = field(default_factory=list)


def message_json(box: Mailbox, message: SentMessage, *, select: Iterable[str] | None = None,
                 attachments: bool = False, extended_ids: Iterable[str] | None = None,
                 body_type: str = "html") -> dict[str, Any]:
    """The message as Graph's `message` resource; `internetMessageHeaders` only when selected, as Graph does."""
    body_html = message.html_body if message.html_body is not None else _text_to_html(message.text_body or "")
    body_text = message.text_body if message.text_body is not None else html_to_text(message.html_body or "")
    body = {"contentType": "text", "content": body_text} if body_type == "text" else \
        {"contentType": "html", "content": body_html}
    shown = _every_property(box, message, body, body_text)
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


def _every_property(box: Mailbox, message: SentMessage, body: dict[str, str], body_text: str) -> dict[str, Any]:
    """The message's properties as GET shows them without `$select`."""
    stamp = iso(message.sent_at)
    return {
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
        "parentFolderId": box.inbox_id if message.folder == INBOX else box.folder_id,
        "conversationId": message.conversation_id,
        "conversationIndex": base64.b64encode(uuid.UUID(int=message.seq).bytes + bytes(6)).decode(),
        "isDeliveryReceiptRequested": False,
        "isReadReceiptRequested": False,
        "isRead": message.folder != INBOX,
        "isDraft": False,
        "webLink": f"https://outlook.office365.com/owa/?ItemID={quote(message.id, safe='')}"
                   "&exvsurl=1&viewmodel=ReadMessageItem",
        "inferenceClassification": "focused",
        "body": body,
        "sender": _recipient(box.address, box.name) if message.folder != INBOX else
        _recipient(message.from_address, message.names.get(message.from_address.lower())),
        "from": _recipient(message.from_address, message.names.get(message.from_address.lower())),
        "toRecipients": [_recipient(a, message.names.get(a.lower())) for a in message.to],
        "ccRecipients": [_recipient(a, message.names.get(a.lower())) for a in message.cc],
        "bccRecipients": [_recipient(a, message.names.get(a.lower())) for a in message.bcc],
        "replyTo": [_recipient(a, message.names.get(a.lower())) for a in message.reply_to],
        "flag": {"flagStatus": "notFlagged"},
    }


def extended_key(property_id: str) -> str:
    """How Exchange matches extended property ids: type and property set in any case, the `Name` as written."""
    head, sep, name = property_id.strip().partition(" Name ")
    return " ".join(head.lower().split()) + sep + name


def attachment_json(message: SentMessage, attachment: SentAttachment) -> dict[str, Any]:
    """A `fileAttachment`, with its bytes in `contentBytes`."""
    return {"@odata.type": FILE_ATTACHMENT, "@odata.mediaContentType": attachment.content_type,
            "id": attachment.id, "lastModifiedDateTime": iso(message.sent_at), "name": attachment.name,
            "contentType": attachment.content_type, "size": len(attachment.content), "isInline": attachment.is_inline,
            "contentId": attachment.content_id, "contentLocation": None,
            "contentBytes": base64.b64encode(attachment.content).decode()}


def _recipient(address: str, name: str | None) -> dict[str, Any]:
    return {"emailAddress": {"name": name or address, "address": address}}
