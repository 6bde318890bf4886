"""`python -m coprod erase ADDRESS --dry-run`: what an erasure would do, read from the export, changing nothing.

An officer answering an erasure request sees first what the service holds and what would go: the bookings that
would be cleared (and their sessions, whose places would go to the next people waiting), the rows that would be
deleted, the records and emails that would be deleted or emptied, the answers to "How was it?", and the guest
accounts with that address. It is the export counted (coprod/privacy/dataprotection.py), so the two never
disagree about what is held.
"""

from __future__ import annotations

from typing import Any

from coprod.words import count

__all__ = ["preview"]

DELETED = ("Subscribers", "GuestRequests", "Contributions")  # the lists whose rows with their address are deleted


def preview(held: dict[str, Any], *, remove_guest: bool = False) -> list[str]:
    """The lines `erase --dry-run` prints: counts and session titles, no one's details."""
    lists: list[dict[str, Any]] = held.get("lists", [])
    state: dict[str, Any] = held.get("state", {})
    bookings = [entry for entry in lists if entry["list"] == "Registrations"]
    titles = sorted({str((entry.get("session") or {}).get("title") or "a session") for entry in bookings})
    lines = [f"Registrations: {count(len(bookings), 'booking')} would be cleared and marked Erased"
             + (f" ({'; '.join(titles)}); their places would go to the next people waiting" if bookings else "")
             + "."]
    for name in DELETED:
        rows = sum(1 for entry in lists if entry["list"] == name)
        if rows:
            lines.append(f"{name}: {count(rows, 'row')} would be deleted.")
    copies = len(state.get("copies", []))
    if copies:
        lines.append(f"{count(copies, 'copy', 'copies')} of rows already deleted in SharePoint would be dropped.")
    emails = state.get("emails", [])
    waiting = sum(1 for email in emails if email.get("status") in ("queued", "sending"))
    lines.append(f"State: {count(len(state.get('handoffs', [])), 'record')} naming them and "
                 f"{count(len(state.get('feedback', [])), 'answer')} to \"How was it?\" would be deleted or emptied; "
                 f"{count(len(emails), 'email')} to them would be emptied"
                 + (f", {waiting} not yet sent cancelled" if waiting else "") + ".")
    accounts = len(held.get("directory", []))
    if accounts:
        lines.append(f"Directory: {count(accounts, 'account')} with that address"
                     + (": taken out of the guest group (and deleted if the service invited it and it is in no "
                        "other group)." if remove_guest else "; kept (add --remove-guest to remove a guest account)."))
    lines.append("Nothing has been changed. Run the same command without --dry-run to erase.")
    return lines
