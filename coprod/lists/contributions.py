"""A Contributions item as the service reads it: what someone told the programme between sessions (issue 30).

Anyone may write one on the public pages (coprod/pages/contribute.py); an officer reads it in the list and sets
Status: Published puts its text (and nothing else) on the "what we've heard" page, Hidden keeps it off. The text
is read as text, whatever an officer or a form put in the list: no control characters, no bidirectional
overrides, lines kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from config import CHOICE_LENGTH, CONTRIBUTION_LENGTH, NAME_LENGTH, THEME_LENGTH
from coprod.lists.fields import as_datetime, as_lines, as_text, check_email
from coprod.lists.records import session_of

__all__ = ["LIST", "STATUSES", "Contribution", "parse_contribution"]

LIST = "Contributions"
STATUSES = ("New", "Published", "Hidden")


@dataclass(frozen=True)
class Contribution:
    id: str
    created: datetime | None  # when it was written (the list's own record of it)
    changed: datetime | None  # when it was last changed: for a published one, near enough when it was published
    theme: str
    text: str  # with its lines
    name: str
    email: str | None  # an address to tell once it is published; None if none was left (or it is unusable)
    status: str  # New, Published or Hidden ('' for none)
    session: str  # the session it is about ('' for none)
    source: str

    @property
    def published(self) -> bool:
        return self.status == "Published"


def parse_contribution(item_id: str, created: str, fields: dict[str, Any]) -> Contribution:
    made = as_datetime(created) or as_datetime(fields.get("Created"))
    session = session_of(fields) or ""  # (the lookup as a registration's is read)
    return Contribution(
        id=item_id, created=made, changed=as_datetime(fields.get("Modified")) or made,
        theme=as_text(fields.get("Theme"), THEME_LENGTH), text=as_lines(fields.get("Text"), CONTRIBUTION_LENGTH),
        name=as_text(fields.get("Name"), NAME_LENGTH), email=check_email(fields.get("Email")).address,
        status=as_text(fields.get("Status"), CHOICE_LENGTH), session=session if session.isdigit() else "",
        source=as_text(fields.get("Source"), CHOICE_LENGTH))
