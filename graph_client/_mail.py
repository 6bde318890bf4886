"""Mail through Graph: send a message as MIME, and find it again in the sender's Sent Items.

Every message goes as MIME (`POST /users/{sender}/sendMail`, base64 of an
RFC 5322 message): Graph's JSON form carries one body, HTML or text, and
refuses headers such as `List-Unsubscribe`; MIME carries a plain-text part
beside the HTML, calendar files, and any header. Each message has a
Message-ID made from its idempotency key, so after a lost answer the caller
can look in Sent Items before ever sending it twice.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from graph_client._client import GraphClient
from graph_client._directory import odata_string
from graph_client._models import Message, Page

__all__ = ["Attachment", "Mail", "OutgoingMail", "message_id_for"]


@dataclass(frozen=True)
class Attachment:
    """A file to attach (a calendar file is `text/calendar; method=REQUEST`)."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class OutgoingMail:
    """One message to one or more people; `key` is its idempotency key (never shown to anyone)."""

    key: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    to_name: str | None = None


def message_id_for(key: str, sender: str) -> str:
    """The Message-ID of the message with this key: stable, and revealing nothing of the key."""
    domain = sender.rsplit("@", 1)[-1] if "@" in sender else "coprod.invalid"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def to_mime(mail: OutgoingMail, sender: str, sender_name: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((sender_name or "", sender)) if sender_name else sender
    if len(mail.to) == 1 and mail.to_name:
        message["To"] = formataddr((mail.to_name, mail.to[0]))
    else:
        message["To"] = ", ".join(mail.to)
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id_for(mail.key, sender)
    for name, value in mail.headers.items():
        message[name] = value
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    for attachment in mail.attachments:
        maintype, subtype, params = _split_type(attachment.content_type)
        message.add_attachment(attachment.content, maintype=maintype, subtype=subtype,
                               filename=attachment.filename, params=params)
    return message


def _split_type(content_type: str) -> tuple[str, str, dict[str, str]]:
    maintype, _, rest = content_type.partition("/")
    subtype, *params = [p.strip() for p in rest.split(";")]
    return maintype, subtype, dict(p.split("=", 1) for p in params if "=" in p)


class Mail:
    """Sending from one mailbox (`sender`: its UPN or id)."""

    def __init__(self, client: GraphClient, sender: str, *, sender_name: str | None = None) -> None:
        self.client = client
        self.sender = sender
        self.sender_name = sender_name

    def send(self, mail: OutgoingMail) -> None:
        """Send one message. A failure that may hide a sent message (a 504, a lost answer) is not retried."""
        raw = to_mime(mail, self.sender, self.sender_name).as_bytes()
        self.client.send("send an email", "POST", f"/users/{self.sender}/sendMail",
                         content=base64.b64encode(raw), content_type="text/plain")

    def find_sent(self, key: str) -> Message | None:
        """The message sent with this key, if it is in the sender's Sent Items."""
        query = {"$filter": f"internetMessageId eq {odata_string(message_id_for(key, self.sender))}",
                 "$select": "id,subject,internetMessageId,sentDateTime"}
        page = self.client.get("look for a sent email", f"/users/{self.sender}/mailFolders/sentItems/messages",
                               Page[Message], params=query)
        return page.value[0] if page.value else None
