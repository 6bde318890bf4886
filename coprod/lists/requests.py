"""A GuestRequests row as guest access reads it, parsed from its columns.

Columns are read with `coprod.lists.fields`, which never raises on anything people type, and each once: deciding
a request, reviewing a guest and the admins' digest read the same record, so a column means one thing in each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from config import CHOICE_LENGTH, NAME_LENGTH, REASON_LENGTH, TEXT_LENGTH
from coprod.lists.fields import as_datetime, as_text, check_email

__all__ = ["GuestRequest", "parse_guest_request"]


@dataclass(frozen=True)
class GuestRequest:
    id: str
    created: str  # when the row was added (as the mirror holds it): the digest's "asked on"
    name: str  # Title: an admin's typing, or a booking's (then quoted no further than `greeting_name` allows)
    email: str | None  # the address to invite and compare; None if unusable, and `email_problem` says why
    email_shown: str  # what was typed, cut short, for a note and the digest
    email_problem: str | None
    organisation: str
    reason: str  # on one line
    decision: str  # an admin's Decision: Pending, Approved or Rejected ('' for none)
    status: str  # what the list says now ('' for none)
    user_id: str  # the person's directory id, once the service has added them
    review_by: datetime | None
    review: str  # an admin's answer to the review: Keep or Remove ('' for none)


def parse_guest_request(item_id: str, created: str, fields: dict[str, Any]) -> GuestRequest:
    email = check_email(fields.get("Email"))
    return GuestRequest(
        id=item_id, created=created, name=as_text(fields.get("Title"), NAME_LENGTH),
        email=email.address, email_shown=email.shown, email_problem=email.problem,
        organisation=as_text(fields.get("Organisation"), TEXT_LENGTH),
        reason=as_text(fields.get("Reason"), REASON_LENGTH),
        decision=as_text(fields.get("Decision"), CHOICE_LENGTH), status=as_text(fields.get("Status"), CHOICE_LENGTH),
        user_id=as_text(fields.get("UserId"), TEXT_LENGTH), review_by=as_datetime(fields.get("ReviewBy")),
        review=as_text(fields.get("Review"), CHOICE_LENGTH))
