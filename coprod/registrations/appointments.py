"""How a drop-in appointment happens, as the person's emails and calendar file say it (issue 32).

At a drop-in each person chose how to talk: on Microsoft Teams (the join link, theirs alone), by phone (we ring
them: the number is quoted back only to a booking an officer made, never to one made on the public pages, where
whoever typed the address may not own it), or in person (where to go: the session's `Location`, or, until an
officer fills it in, that we'll tell them before the day). A group session in person says where too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from coprod import i18n
from coprod.lists.records import Registration, Session

__all__ = ["appointment_view", "in_person"]


def in_person(location: str, language: str = i18n.DEFAULT) -> str:
    words = i18n.translator(language)
    return (words.gettext("In person, at %(location)s.") % {"location": location} if location
            else words.gettext("In person: we'll email you where to go before the day."))


def appointment_view(view: dict[str, Any], session: Session | None, reg: Registration, *,
                     booked_online: bool) -> dict[str, Any]:
    """A session's details as one person is told them: at a drop-in, their own appointment's time and how the
    conversation happens (a Teams link only for a Teams appointment); `location` for their calendar file."""
    if session is None:
        return view
    if not session.drop_in or reg.slot is None:
        return view | {"location": session.location}
    method, slot, told = reg.method, reg.slot, i18n.translator(reg.language)
    if method == "Phone":
        number = reg.phone if reg.phone and not booked_online else ""
        words = told.gettext("By phone: we'll ring you on %(number)s at your time.") % {"number": number} if number \
            else told.gettext("By phone: we'll ring you on the number you gave us at your time.")
        where = told.gettext("By phone: we'll ring you")
    elif method == "In person":
        words, where = in_person(session.location, reg.language), session.location
    else:
        words, where = told.gettext("On Microsoft Teams: use the link below at your time."), ""
    return view | {"start": slot, "end": slot + timedelta(minutes=session.slot_minutes),
                   "join_url": view["join_url"] if method == "Teams" else None, "appointment": words,
                   "location": where}
