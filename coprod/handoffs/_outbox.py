"""An email handed to the outbox: how a job queues one (`MailQueue`), and the message as the outbox keeps it in the
state store: who, the subject and headers as they are; the words and attachments packed into one compressed JSON.
Rendered once, as decided, and sent exactly so (by coprod/mail/outbox.py, which drains the queue)."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Mapping
from typing import Any, Protocol

from graph_client import Attachment, OutgoingMail

__all__ = ["BLOCKED", "MailQueue", "from_payload", "readable", "to_payload"]

BLOCKED = "outbox.blocked"  # a checkpoint: why the mailbox may not send (plain words), "" once it may


class MailQueue(Protocol):
    """Where a job queues its emails: `enqueue` one under its key (False, and nothing queued, if that key was queued
    before); `unused_key` for a team email that an erasure may have withheld (see `Outbox.unused_key`)."""

    def enqueue(self, mail: OutgoingMail, kind: str, about: Mapping[str, str] | None = None) -> bool: ...
    def unused_key(self, key: str) -> str | None: ...

UTF8_JSON = json.JSONEncoder(ensure_ascii=False)  # letters beyond ASCII as themselves (an escape is six bytes)


def to_payload(mail: OutgoingMail) -> dict[str, Any]:
    """A message as the outbox keeps it: who, the subject and headers as they are; the words and attachments as
    one zlib-compressed JSON (`body`, base64), a few times smaller than the rendered text, HTML and calendar file
    (a long queue of updates or notices is that much smaller). Rendered once, as decided, sent exactly so."""
    body = {"text": mail.text, "html": mail.html,
            "attachments": [{"filename": a.filename, "content_type": a.content_type} | _content(a.content)
                            for a in mail.attachments]}
    packed = base64.b64encode(zlib.compress(UTF8_JSON.encode(body).encode(), 9)).decode()
    return {"to": list(mail.to), "to_name": mail.to_name, "subject": mail.subject, "headers": dict(mail.headers),
            "body": packed}


def _content(data: bytes) -> dict[str, str]:
    """An attachment's bytes for JSON: as text when they are UTF-8 (a calendar file: it compresses far better)."""
    try:
        return {"text": data.decode()}  # strict UTF-8, the default
    except UnicodeDecodeError:
        return {"content": base64.b64encode(data).decode()}


def readable(payload: dict[str, Any]) -> dict[str, Any]:
    """A stored message with its words unpacked (`text`, `html`, `attachments`), whichever way it was kept."""
    if isinstance(payload.get("body"), str):
        words: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(payload["body"])))
        return payload | words
    return payload  # kept whole, as the outbox did before it packed them


def from_payload(key: str, payload: dict[str, Any]) -> OutgoingMail:
    payload = readable(payload)
    return OutgoingMail(key=key, to=tuple(payload["to"]), subject=payload["subject"], text=payload["text"],
                        html=payload.get("html"), headers=dict(payload.get("headers") or {}),
                        to_name=payload.get("to_name"),
                        attachments=tuple(Attachment(a["filename"], a["content_type"], _bytes(a))
                                          for a in payload.get("attachments", [])))


def _bytes(attachment: dict[str, Any]) -> bytes:
    return attachment["text"].encode() if "text" in attachment else base64.b64decode(attachment["content"])
