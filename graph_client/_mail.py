"""Mail through Graph: send a message as MIME, find it again in the sender's Sent Items, and read what came back.

Every message goes as MIME (`POST /users/{sender}/sendMail`, base64 of an
RFC 5322 message): Graph's JSON form carries one body, HTML or text, and
refuses headers such as `List-Unsubscribe`; MIME carries a plain-text part
beside the HTML, calendar files, and any header. Each message has a
Message-ID made from its idempotency key, so after a lost answer the caller
can look in Sent Items before ever sending it twice.

What comes back: Exchange puts a non-delivery report in the sender's Inbox,
from its system mailbox. `reports_since` lists them (id, sender, subject,
when) and `mime` reads one whole: its delivery-status part and the original's
Message-ID are content, which takes Mail.Read (Mail.ReadBasic.All lists a
folder but leaves out bodies and attachments: Graph's permissions reference).
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from pydantic import Field

from graph_client._client import GraphClient
from graph_client._directory import odata_string
from graph_client._models import GraphModel, Message, Page

__all__ = ["Attachment", "InboxMessage", "Mail", "OutgoingMail", "header_text", "message_hash", "message_id_for",
           "to_mime"]

# Bidirectional overrides and isolates: shown as nothing, they reorder what is shown (a name that reads as
# another address). Everything else that is not printable on one line is folded to a space.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SPACES = re.compile(r"\s+")
# What we send to: a plain ASCII addr-spec (a non-ASCII domain arrives in its IDNA `xn--` form; the application
# refuses non-ASCII local parts before anything is queued). Quoted local parts and comments are refused too.
_ADDR_SPEC = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 field name: printable ASCII but the colon


def header_text(value: str) -> str:
    """`value` as one line, fit for a header: every line or paragraph separator, control character and
    bidirectional override becomes a space (runs of spaces become one), ends trimmed.

    Python's email package refuses a header with a line break in it (and CR or LF could start a new header);
    Unicode's own separators (U+2028, U+2029, U+0085) would be taken as line ends by other readers.
    """
    if value.isascii() and value.isprintable():  # (most text: nothing to fold but runs of spaces)
        return _SPACES.sub(" ", value).strip()
    folded = "".join(" " if ch in _BIDI or unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in value)
    return _SPACES.sub(" ", folded).strip()


def _phrase(value: str) -> str:
    """Header text as a reader will show it: a literal `=?` gets an invisible word joiner, so typed text that
    looks like an RFC 2047 encoded word (`=?utf-8?q?...?=`) is shown as typed, not decoded into something else."""
    return header_text(value).replace("=?", "=\u2060?")


def checked_address(address: str) -> str:
    """The address itself if it is a plain ASCII addr-spec we can put in a header; ValueError otherwise."""
    if not _ADDR_SPEC.fullmatch(address) or len(address) > 254:
        raise ValueError("an address that cannot be put in a header (not a plain ASCII address)")
    return address


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

    def __post_init__(self) -> None:
        # Cleaned once, here, so every transport (MIME for Graph, JSON for ACS) gets the same single lines.
        object.__setattr__(self, "subject", _phrase(self.subject))
        object.__setattr__(self, "to_name", _phrase(self.to_name) if self.to_name else None)
        object.__setattr__(self, "headers", {name: header_text(value) for name, value in self.headers.items()})
        object.__setattr__(self, "attachments", tuple(
            Attachment(_phrase(a.filename) or "attachment", a.content_type, a.content) for a in self.attachments))


def message_hash(key: str) -> str:
    """What the Message-ID of the message with this key is made of, before its @: a hash of the key."""
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def message_id_for(key: str, sender: str) -> str:
    """The Message-ID of the message with this key: stable, and revealing nothing of the key."""
    domain = sender.rsplit("@", 1)[-1] if "@" in sender else "coprod.invalid"
    return f"<{message_hash(key)}@{domain}>"


def to_mime(mail: OutgoingMail, sender: str, sender_name: str | None = None) -> EmailMessage:
    """The RFC 5322 message. Recipients are structured `Address` objects, never text joined by hand: a display
    name is always one encoded phrase, so no name can add, drop or change a recipient. ValueError for an address
    that is not a plain ASCII addr-spec, or a header name that is not one."""
    if not mail.to:
        raise ValueError("a message with no recipient")
    message = EmailMessage()
    if "@" in sender:  # a mailbox named by its object id gets the From that Exchange stamps for it
        message["From"] = Address(display_name=_phrase(sender_name or ""), addr_spec=checked_address(sender))
    name = mail.to_name if len(mail.to) == 1 else None
    message["To"] = tuple(Address(display_name=name or "", addr_spec=checked_address(a)) for a in mail.to)
    if mail.subject.isascii():
        message["Subject"] = mail.subject
    else:  # encoded here: the email package's folder puts the fold in a space between two encoded words, where
        # RFC 2047 says a reader drops it ("weekly ¡ news" came back "weekly¡ news"); Header keeps spaces inside
        message.set_raw("Subject", Header(mail.subject, "utf-8", header_name="Subject").encode(linesep="\n"))
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id_for(mail.key, sender)
    for header, value in mail.headers.items():
        if not _HEADER_NAME.fullmatch(header) or header.lower() in _OURS:
            raise ValueError(f"a header that cannot be set: {header[:40]!r}")
        message[header] = value
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    for attachment in mail.attachments:
        maintype, subtype, params = _split_type(attachment.content_type)
        message.add_attachment(attachment.content, maintype=maintype, subtype=subtype,
                               filename=attachment.filename, params=params)
    return message


_OURS = frozenset({"from", "to", "cc", "bcc", "reply-to", "sender", "subject", "date", "message-id"})


def _split_type(content_type: str) -> tuple[str, str, dict[str, str]]:
    maintype, _, rest = content_type.partition("/")
    subtype, *params = [p.strip() for p in rest.split(";")]
    return maintype, subtype, dict(p.split("=", 1) for p in params if "=" in p)


class EmailAddress(GraphModel):
    name: str | None = None
    address: str | None = None


class Recipient(GraphModel):
    email_address: EmailAddress | None = None


class InboxMessage(GraphModel):
    """A message in the sender's Inbox, as much as deciding whether to read it whole takes."""

    id: str
    subject: str | None = None
    internet_message_id: str | None = None
    received_date_time: datetime | None = None
    from_: Recipient | None = Field(default=None, alias="from")

    @property
    def from_address(self) -> str:
        email = self.from_.email_address if self.from_ else None
        return (email.address or "") if email else ""


class Mail:
    """Sending from one mailbox (`sender`: its UPN or id), and reading what came back to it."""

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

    def reports_since(self, since: datetime, system_sender: str, *, page_size: int = 50) -> Iterator[InboxMessage]:
        """Messages from `system_sender` (Exchange's, whose mail is non-delivery reports) that reached the Inbox
        at `since` or later, oldest first, page by page."""
        when = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        from_ = f"from/emailAddress/address eq {odata_string(system_sender)}"
        query = {"$filter": f"receivedDateTime ge {when} and {from_}", "$orderby": "receivedDateTime",
                 "$top": str(page_size), "$select": "id,subject,from,internetMessageId,receivedDateTime"}
        for page in self.client.pages("read the mailbox's non-delivery reports",
                                      f"/users/{self.sender}/mailFolders/inbox/messages", Page[InboxMessage],
                                      params=query):
            yield from page.value

    def any_message_id(self) -> str | None:
        """The id of one message in the mailbox (any folder), or None when it holds none: one small read."""
        page = self.client.get("read the mailbox's messages", f"/users/{self.sender}/messages", Page[Message],
                               params={"$top": "1", "$select": "id"})
        return page.value[0].id if page.value else None

    def mime(self, message_id: str) -> bytes:
        """One message whole, as MIME (`$value`): Mail.Read."""
        return self.client.send("read a non-delivery report", "GET",
                                f"/users/{self.sender}/messages/{message_id}/$value").content
