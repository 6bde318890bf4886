"""The booking form's checks: what is missing or too long, a drop-in's own questions, and their order on the page
(coprod.pages.booking serves the form)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from config import CONTACT_METHODS, ROLES, TEXT_LENGTH
from coprod.lists.fields import check_email
from coprod.templates import uk_clock

if TYPE_CHECKING:
    from coprod.pages.booking import Listed

__all__ = ["EMAIL_PROBLEMS", "LONGEST", "METHOD_WORDS", "appointment_problems", "in_form_order", "problems",
           "slot_value", "slot_words"]

EMAIL_PROBLEMS = {"missing": "Enter your email address",
                  "international": "We can't yet send to an address with accented or non-English letters before "
                                   "the @. Please use another address"}


def appointment_problems(listed: Listed, values: dict[str, Any]) -> dict[str, str]:
    """A drop-in's own questions: one of the free times, how to talk, and a number if by phone."""
    errors: dict[str, str] = {}
    free = {slot_value(t) for t in listed.free_slots}
    if values["slot"] not in free:
        errors["slot"] = "Choose a time" if not values["slot"] else "That time isn't free any more. Choose another"
    if values["contact_method"] not in CONTACT_METHODS:
        errors["contact_method"] = "Choose how you'd like to talk"
    elif values["contact_method"] == "Phone" and not values["phone"]:
        errors["phone"] = "Enter a phone number, so we can ring you at your time"
    return errors


def slot_words(start: datetime, minutes: int) -> str:
    """`10:20am to 10:40am` in UK time."""
    return f"{uk_clock(start)} to {uk_clock(start + timedelta(minutes=minutes))}"


def slot_value(moment: datetime) -> str:
    """A slot as the form and the list carry it: UTC, to the second, with Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# The longest each field may be: what its column holds (a single line of text), or, for access needs (several
# lines, which hold far more), what the facilitators can read before a session.
LONGEST = {"name": TEXT_LENGTH, "phone": TEXT_LENGTH, "access_needs": 2000}
FIELD_WORDS = {"name": "Your name", "phone": "Phone number", "access_needs": "Access needs"}
METHOD_WORDS = {"Phone": "By phone: we'll ring you", "Teams": "On Teams: we'll email you the link",
                "In person": "In person: we'll email you where"}
FORM_ORDER = ("name", "email", "slot", "contact_method", "role", "access_needs", "phone", "consent")


def in_form_order(errors: dict[str, str]) -> dict[str, str]:
    """The error summary lists mistakes in the order of the form's fields."""
    return {key: errors[key] for key in sorted(errors, key=lambda k: FORM_ORDER.index(k) if k in FORM_ORDER else 99)}


def problems(values: dict[str, Any]) -> dict[str, str]:
    """The form's errors, in the order of its fields, in GOV.UK's words: what is missing, and what is longer than
    the list can hold (found here, before any count is taken or Graph is asked)."""
    errors: dict[str, str] = {key: f"{FIELD_WORDS[key]} must be {LONGEST[key]:,} characters or less"
                              for key in ("name", "phone", "access_needs") if len(values[key]) > LONGEST[key]}
    if not values["name"]:
        errors["name"] = "Enter your name"
    checked = check_email(values["email"])
    if checked.address is None:
        errors["email"] = EMAIL_PROBLEMS.get(checked.problem or "",
                                             "Enter an email address in the correct format, like name@example.com")
    if values["role"] and values["role"] not in ROLES:
        errors["role"] = "Choose one of the options, or leave it blank"
    if not values["consent"]:
        errors["consent"] = "Tick the box to say we may keep your details, or we can't book your place"
    return errors

