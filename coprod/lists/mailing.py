"""The mailing list's rows as it reads them: a subscriber (Subscribers) and an update (Updates).

Columns are read with `coprod.lists.fields`, which never raises on anything people type, and each once: the
subscribers' run, a campaign and the outbox's last check before an update goes read the same record, so a status
means one thing in each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from config import CHOICE_LENGTH, NAME_LENGTH, SUBJECT_LENGTH, TEXT_LENGTH
from coprod.lists.fields import as_bool, as_datetime, as_text, normalise_email, subscriber_topics

__all__ = ["Subscriber", "Update", "parse_subscriber", "parse_update"]


@dataclass(frozen=True)
class Subscriber:
    id: str
    name: str  # Title: typed by an admin, or on a form (then not quoted until the address is confirmed)
    email: str | None  # the address to send to and compare; None if unusable
    status: str  # Pending, Subscribed, Unsubscribed or Bouncing; '' for none, or anything an admin typed
    topics: tuple[str, ...]  # the list's own topics among the row's (none: every update)
    confirmed_at: datetime | None
    source: str  # where the row came from: Website, Registration, or whatever an import says


def parse_subscriber(item_id: str, fields: dict[str, Any]) -> Subscriber:
    return Subscriber(
        id=item_id, name=as_text(fields.get("Title"), NAME_LENGTH), email=normalise_email(fields.get("Email")),
        status=as_text(fields.get("Status"), CHOICE_LENGTH), topics=tuple(subscriber_topics(fields)),
        confirmed_at=as_datetime(fields.get("ConfirmedAt")), source=as_text(fields.get("Source"), TEXT_LENGTH))


@dataclass(frozen=True)
class Update:
    id: str
    title: str  # the subject of its emails ('' for none)
    body: str  # Markdown, kept as typed: its line breaks and indents are its meaning (rendered with HTML escaped)
    topics: tuple[str, ...]  # the list's own topics among the row's (none: every subscriber)
    ready: bool
    send_at: datetime | None
    send_at_unreadable: bool  # SendAt holds something that is not a date: nothing goes until an admin fixes it
    status: str  # Scheduled, Sending, Sent or Failed; '' for none


def parse_update(item_id: str, fields: dict[str, Any]) -> Update:
    send_at = fields.get("SendAt")
    when = as_datetime(send_at)
    return Update(
        id=item_id, title=as_text(fields.get("Title"), SUBJECT_LENGTH), body=str(fields.get("Body") or ""),
        topics=tuple(subscriber_topics(fields)), ready=as_bool(fields.get("Ready")), send_at=when,
        send_at_unreadable=bool(send_at) and when is None, status=as_text(fields.get("Status"), CHOICE_LENGTH))
