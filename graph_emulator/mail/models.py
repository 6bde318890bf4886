"""Mailboxes: mail sent through Graph (sendMail), each sender's Sent Items and Inbox, and what Exchange did next.

State and rules only. A send arrives as Graph's JSON `message` or as base64
MIME (RFC 5322); either way it becomes one `SentMessage` holding what a test
wants to read back (addresses, bodies, attachments, headers, the MIME itself)
and, unless `saveToSentItems` was false, a message in the sender's Sent Items
shaped as Graph's `message` resource. Errors are Graph's (codes and messages
as Exchange Online answers them). A send past the mailbox's limits is still
accepted: Exchange's transport (`delivery.py`) delivers it late, or puts a
non-delivery report in the sender's Inbox, as it does for an address that
bounces. A message's record and its JSON shapes are in `messages.py`.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from email.utils import format_datetime
from typing import Any

from graph_emulator.core.account import Account
from graph_emulator.core.errors import GraphFault, bad_request
from graph_emulator.mail import parts
from graph_emulator.mail.delivery import Delivery, Transport
from graph_emulator.mail.messages import IMPORTANCE, INBOX, SENT_ITEMS, Mailbox, SentMessage, message_json
from graph_emulator.mail.ndr import report_recipients
from graph_emulator.mail.parts import opaque

__all__ = ["Mailboxes"]


class Mailboxes:
    """Sent mail of every mailbox in the tenant. Callers hold the backend's lock around changes.

    Application tests read what was sent with `sent(mailbox)` (every message, saved or not, oldest
    first) or `sent_items(mailbox)` (what Graph's Sent Items holds), what arrived with `inbox(mailbox)`,
    and what Exchange did with each message with `deliveries(mailbox)`; `refused(mailbox)` counts Graph's
    429s. `mailbox` is a user (the directory's `User`), or its id, UPN or address. `transport` holds the limits
    and the bouncing addresses (`set_limit`, `bounce`).
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._boxes: dict[str, Mailbox] = {}
        self._seq = 0
        self.transport = Transport(lambda: self.clock())

    def set_limit(self, **settings: Any) -> None:
        """Exchange Online's sending limits per mailbox and Graph's request limits (`delivery.LIMIT_DEFAULTS`).

        Off until set (tests send freely); the windows shrink for a compressed clock.
        """
        self.transport.set_limit(**settings)

    def limit_json(self) -> dict[str, Any]:
        return self.transport.limit_json()

    # --- reading back ---------------------------------------------------------
    def sent(self, mailbox: Account | str) -> list[SentMessage]:
        """Every message the mailbox sent, oldest first, whether or not it was saved to Sent Items."""
        self.deliver()
        box = self._find(mailbox)
        return list(box.messages) if box else []

    def inbox(self, mailbox: Account | str) -> list[SentMessage]:
        """What the mailbox received (non-delivery reports, and what a test put there), oldest first."""
        self.deliver()
        box = self._find(mailbox)
        return list(box.received) if box else []

    def deliveries(self, mailbox: Account | str) -> list[Delivery]:
        """What became of each message the mailbox sent, for each recipient: delivered (late or not), bounced,
        or not sent (past the recipient rate limit)."""
        self.deliver()
        box = self._find(mailbox)
        return [d for d in self.transport.deliveries if box is not None and d.mailbox == box.address]

    def sent_items(self, mailbox: Account | str) -> list[SentMessage]:
        """The messages in the mailbox's Sent Items folder, oldest first."""
        return [m for m in self.sent(mailbox) if m.saved_to_sent_items]

    def waiting(self, mailbox: Account | str) -> int:
        """Messages the mailbox sent that Exchange still holds back (past the message rate: delivered late)."""
        self.deliver()
        box = self._find(mailbox)
        return self.transport.waiting(box.address) if box else 0

    def refused(self, mailbox: Account | str | None = None) -> int:
        """Mail requests Graph refused with 429 (its request rate or concurrency), for one mailbox or all."""
        if mailbox is None:
            return sum(self.transport.throttled.values())
        box = self._find(mailbox)
        return self.transport.throttled[box.address] if box else 0

    def sent_items_folder_id(self, user: Account) -> str:
        return self._box(user).folder_id

    def folder_id(self, user: Account, folder: str) -> str:
        box = self._box(user)
        return box.inbox_id if folder == INBOX else box.folder_id

    def folder(self, user: Account, folder: str | None) -> list[SentMessage]:
        """The messages in Sent Items or the Inbox (`folder`), or in the whole mailbox (None)."""
        self.deliver()
        box = self._box(user)
        saved = [m for m in box.messages if m.saved_to_sent_items]
        return saved if folder == SENT_ITEMS else list(box.received) if folder == INBOX else saved + box.received

    def message(self, user: Account, message_id: str) -> SentMessage:
        """A message of the mailbox's, in any folder, or Graph's 404."""
        for message in self.folder(user, None):
            if message.id == message_id:
                return message
        raise GraphFault(404, "ErrorItemNotFound", "The specified object was not found in the store.")

    def request(self, user: Account) -> None:
        """Graph's limits on mail requests to the mailbox: a 429 once they are reached (see `delivery.py`)."""
        self.transport.request(self._box(user).address)

    def receive(self, mailbox: Account | str, raw: bytes, at: float | None = None) -> SentMessage:
        """Put a message into the mailbox's Inbox as it arrived: its MIME, as a test (or Exchange) delivers it."""
        box = self._find(mailbox) if isinstance(mailbox, str) else self._box(mailbox)
        if box is None:
            raise GraphFault(404, "ErrorInvalidUser", f"The requested user '{mailbox}' is invalid.")
        message = self._parse(box, raw, self.clock() if at is None else at, INBOX)
        if message.header("X-MS-Exchange-Message-Is-Ndr") is not None:
            message = replace(message, to=report_recipients(raw) or message.to)  # as Graph shows an NDR
        self._seq += 1
        stored = replace(message, seq=self._seq)
        box.received.append(stored)
        return stored

    def deliver(self) -> None:
        """Hand on what Exchange's transport has delivered by now: each bounce is an NDR in its sender's Inbox."""
        for mailbox, report, at in self.transport.due():
            self.receive(mailbox, report, at)

    def _find(self, mailbox: Account | str) -> Mailbox | None:
        key = mailbox.lower() if isinstance(mailbox, str) else mailbox.id
        for box in self._boxes.values():
            if key in (box.user_id, box.upn.lower(), box.address.lower()):
                return box
        return None

    def _box(self, user: Account) -> Mailbox:
        box = self._boxes.get(user.id)
        if box is None:
            box = Mailbox(user.mail or user.user_principal_name, user.display_name, user.id,
                           user.user_principal_name, opaque("AAMkA", 42) + "AAAEJAAA=",
                           opaque("AAMkA", 42) + "AAAEMAAA=")
            self._boxes[user.id] = box
        return box

    # --- sending --------------------------------------------------------------
    def send_json(self, user: Account, payload: Mapping[str, Any]) -> SentMessage:
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
        to, cc, bcc, reply_to = (parts.recipients(message.get(key)) for key in
                                 ("toRecipients", "ccRecipients", "bccRecipients", "replyTo"))
        names = {address.lower(): name for address, name in (*to, *cc, *bcc, *reply_to) if name}
        parts.check_recipients([a for a, _ in (*to, *cc, *bcc)])
        sender = parts.recipients([message["from"]])[0] if isinstance(message.get("from"), dict) else \
            (box.address, box.name)
        names.setdefault(sender[0].lower(), sender[1] or sender[0])
        headers = parts.custom_headers(message.get("internetMessageHeaders"))
        text, markup = parts.body(message.get("body"))
        attachments = parts.json_attachments(message.get("attachments"))
        extended = parts.extended_properties(message.get("singleValueExtendedProperties"))
        importance = str(message.get("importance") or "normal").lower()
        if importance not in IMPORTANCE:
            raise bad_request(f"The value '{message.get('importance')}' is not valid for enum Importance.",
                              code="RequestBodyRead")
        subject = str(message.get("subject") or "")
        imid = str(message.get("internetMessageId") or "") or self._new_message_id()
        now = self.clock()
        raw = parts.build_mime(sender, to, cc, bcc, reply_to, names, subject, text, markup, attachments, headers, imid,
                               now)
        return self._store(box, SentMessage(
            id=opaque("AAMkA", 60), mailbox=box.address, from_address=sender[0],
            to=tuple(a for a, _ in to), cc=tuple(a for a, _ in cc), bcc=tuple(a for a, _ in bcc),
            reply_to=tuple(a for a, _ in reply_to), subject=subject, text_body=text, html_body=markup,
            attachments=attachments, headers=tuple(headers), internet_message_id=imid, extended_properties=extended,
            raw=raw, sent_at=now, saved_to_sent_items=save, as_mime=False, importance=importance, names=names))

    def send_mime(self, user: Account, body: bytes) -> SentMessage:
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
        parts.check_recipients([a for name in ("To", "Cc", "Bcc") for a, _ in parts.addresses(parsed, name)])
        now = self.clock()
        # Exchange stamps what the client left out; what the client set (Message-ID included) it keeps.
        missing = b""
        if not str(parsed.get("Message-ID") or "").strip():
            missing += f"Message-ID: {self._new_message_id()}\r\n".encode()
        if parsed.get("Date") is None:
            missing += f"Date: {format_datetime(datetime.fromtimestamp(now, UTC))}\r\n".encode()
        return self._store(box, self._parse(box, missing + raw, now, SENT_ITEMS))

    def _parse(self, box: Mailbox, raw: bytes, now: float, folder: str) -> SentMessage:
        """A message of `box` from its MIME, every header kept: one it sent as MIME, or one it received."""
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        to, cc, bcc, reply_to = (parts.addresses(parsed, name) for name in ("To", "Cc", "Bcc", "Reply-To"))
        names = {address.lower(): name for address, name in (*to, *cc, *bcc, *reply_to) if name}
        senders = parts.addresses(parsed, "From")
        sender = senders[0] if senders else (box.address, box.name)
        names.setdefault(sender[0].lower(), sender[1] or sender[0])
        text_part = parsed.get_body(preferencelist=("plain",))
        html_part = parsed.get_body(preferencelist=("html",))
        importance = str(parsed.get("Importance") or "").strip().lower()
        if importance not in IMPORTANCE:
            importance = {"1": "high", "2": "high", "4": "low", "5": "low"}.get(
                str(parsed.get("X-Priority") or "3").strip()[:1], "normal")
        return SentMessage(
            id=opaque("AAMkA", 60), mailbox=box.address, from_address=sender[0],
            to=tuple(a for a, _ in to), cc=tuple(a for a, _ in cc), bcc=tuple(a for a, _ in bcc),
            reply_to=tuple(a for a, _ in reply_to), subject=str(parsed.get("Subject") or ""),
            text_body=parts.content(text_part), html_body=parts.content(html_part),
            attachments=tuple(parts.mime_attachments(parsed)) if folder == SENT_ITEMS else (),
            headers=tuple((name, str(value).strip()) for name, value in parsed.items()),
            internet_message_id=str(parsed.get("Message-ID") or "").strip(), extended_properties={}, raw=raw,
            sent_at=now, saved_to_sent_items=folder == SENT_ITEMS, as_mime=True, importance=importance, names=names,
            folder=folder)

    def _store(self, box: Mailbox, message: SentMessage) -> SentMessage:
        """Keep a message the mailbox sent, and hand it to Exchange's transport (which may send back an NDR)."""
        self._seq += 1
        stored = replace(message, seq=self._seq)
        box.messages.append(stored)
        report = self.transport.submit(box.address, stored)
        if report is not None:
            self.receive(box.address, report)
        self.deliver()
        return stored

    @staticmethod
    def _new_message_id() -> str:
        server = "EMU" + secrets.token_hex(5).upper()
        return f"<{server}{secrets.token_hex(14).upper()}@{server}.eurprd01.prod.outlook.com>"

    # --- Graph's shapes ---------------------------------------------------------
    def message_json(self, user: Account, message: SentMessage, *, select: Iterable[str] | None = None,
                     attachments: bool = False, extended_ids: Iterable[str] | None = None,
                     body_type: str = "html") -> dict[str, Any]:
        """The message as Graph's `message` resource (`messages.message_json`), in `user`'s mailbox."""
        return message_json(self._box(user), message, select=select, attachments=attachments,
                            extended_ids=extended_ids, body_type=body_type)
