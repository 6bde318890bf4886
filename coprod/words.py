"""Small helpers for the plain English the service prints."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MESSAGE_KINDS", "count", "count_kind", "shorten", "summary"]


def summary(title: str, parts: Iterable[tuple[int | bool, str]], *, otherwise: str, updated: int) -> str:
    """A reconciler's line: `Title: a, b; 3 rows updated.`, leaving out every part whose number is 0."""
    said = ", ".join(text for n, text in parts if n) or otherwise
    return f"{title}: {said}; {count(updated, 'row')} updated."


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 item`, `2 items`, `0 items` (or the plural given)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


# What each kind of email is called in summaries: (one, many).
MESSAGE_KINDS = {
    "confirmed": ("booking confirmation", None),
    "promoted": ("place offered from the waiting list", "places offered from the waiting list"),
    "waitlisted": ("waiting-list notice", None),
    "changed": ("change notice", None),
    "cancelled_by_you": ("cancellation", None),
    "session_cancelled": ("session cancellation", None),
    "reminder": ("reminder", None),
    "pre_reading": ("pre-reading email", None),
    "outcomes": ("you said, we did email", None),
    "feedback": ("feedback request", None),
    "guest-reminder": ("reminder to accept a guest invitation", "reminders to accept a guest invitation"),
    "facilitator_brief": ("facilitator brief", None),
    "guest-confirm": ("address confirmation", None),
    "guest-digest": ("admins' digest", "admins' digests"),
    "subscribe-confirm": ("mailing-list confirmation request", None),
    "subscribe-rejoin": ("question about rejoining the mailing list", "questions about rejoining the mailing list"),
    "update": ("mailing-list update", None),
    "bookings-link": ("link to someone's bookings", "links to people's bookings"),
    "contact": ("message for the team to give by phone or post", "messages for the team to give by phone or post"),
    "contact-digest": ("list of people to phone or write to", "lists of people to phone or write to"),
    "notify": ("text or letter for GOV.UK Notify to send", "texts or letters for GOV.UK Notify to send"),
    "contribution-published": ("note that a contribution is published", "notes that a contribution is published"),
}


def count_kind(n: int, kind: str) -> str:
    """`3 booking confirmations`, `1 reminder`: an email kind, counted."""
    return count(n, *MESSAGE_KINDS.get(kind, (kind.replace("_", " "), None)))


def shorten(text: str, width: int) -> str:
    """`text` in at most `width` characters: cut at the last space that fits, with `…`, never mid-word (a single
    word longer than the width is cut, as nothing else fits)."""
    if len(text) <= width:
        return text
    cut = text[:width - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > width // 3 else cut).rstrip(" ,;:") + "…"
