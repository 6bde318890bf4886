"""The booking form's checks: what is missing or too long, a drop-in's own questions, and their order on the page
(coprod.pages.booking serves the form)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from config import CONTACT_METHODS, ROLES, TEXT_LENGTH
from coprod import i18n
from coprod.i18n import N_, Translator
from coprod.lists.fields import check_email

if TYPE_CHECKING:
    from coprod.pages.booking import Listed

__all__ = ["EMAIL_PROBLEMS", "LONGEST", "METHOD_WORDS", "ROLE_WORDS", "appointment_problems", "email_problem",
           "in_form_order", "problems", "slot_value", "slot_words"]

# What an email field says is wrong (the pages' words: each translated where it is shown, in the page's language)
EMAIL_PROBLEMS = {"missing": N_("Enter your email address"),
                  "international": N_("We can't yet send to an address with accented or non-English letters before "
                                      "the @. Please use another address")}
NOT_AN_ADDRESS = N_("Enter an email address in the correct format, like name@example.com")


def email_problem(problem: str | None, words: Translator) -> str:
    """What is wrong with an address (`check_email`'s `problem`), in the page's words."""
    return words.gettext(EMAIL_PROBLEMS.get(problem or "", NOT_AN_ADDRESS))


def appointment_problems(listed: Listed, values: dict[str, Any], words: Translator) -> dict[str, str]:
    """A drop-in's own questions: one of the free times, how to talk, and a number if by phone."""
    errors: dict[str, str] = {}
    free = {slot_value(t) for t in listed.free_slots}
    if values["slot"] not in free:
        errors["slot"] = words.gettext("Choose a time") if not values["slot"] else \
            words.gettext("That time isn't free any more. Choose another")
    if values["contact_method"] not in CONTACT_METHODS:
        errors["contact_method"] = words.gettext("Choose how you'd like to talk")
    elif values["contact_method"] == "Phone" and not values["phone"]:
        errors["phone"] = words.gettext("Enter a phone number, so we can ring you at your time")
    return errors


def slot_words(start: datetime, minutes: int, language: str = i18n.DEFAULT) -> str:
    """`10:20am to 10:40am` in UK time (`10:20 i 10:40` in Welsh)."""
    return i18n.translator(language).gettext("%(start)s to %(end)s") % {
        "start": i18n.clock(start, language), "end": i18n.clock(start + timedelta(minutes=minutes), language)}


def slot_value(moment: datetime) -> str:
    """A slot as the form and the list carry it: UTC, to the second, with Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# The longest each field may be: what its column holds (a single line of text), or, for access needs (several
# lines, which hold far more), what the facilitators can read before a session.
LONGEST = {"name": TEXT_LENGTH, "phone": TEXT_LENGTH, "access_needs": 2000}
TOO_LONG = {"name": N_("Your name must be %(n)s characters or less"),
            "phone": N_("Phone number must be %(n)s characters or less"),
            "access_needs": N_("Access needs must be %(n)s characters or less")}
# each way of talking (the radios' values, which the list keeps) and what the page says for it
METHOD_WORDS = {"Phone": N_("By phone: we'll ring you"), "Teams": N_("On Teams: we'll email you the link"),
                "In person": N_("In person: we'll email you where")}
# each role (the radios' values: the Registrations list's Role choices, kept as they are) and what the page says
ROLE_WORDS = {"Person who uses services": N_("Person who uses services"), "Carer": N_("Carer"),
              "Professional": N_("Professional"), "Other": N_("Other")}
FORM_ORDER = ("name", "email", "slot", "contact_method", "role", "access_needs", "phone", "consent")


def in_form_order(errors: dict[str, str]) -> dict[str, str]:
    """The error summary lists mistakes in the order of the form's fields."""
    return {key: errors[key] for key in sorted(errors, key=lambda k: FORM_ORDER.index(k) if k in FORM_ORDER else 99)}


def problems(values: dict[str, Any], words: Translator) -> dict[str, str]:
    """The form's errors, in the order of its fields, in GOV.UK's words (the page's language): what is missing, and
    what is longer than the list can hold (found here, before any count is taken or Graph is asked)."""
    errors: dict[str, str] = {key: words.gettext(TOO_LONG[key]) % {"n": f"{LONGEST[key]:,}"}
                              for key in ("name", "phone", "access_needs") if len(values[key]) > LONGEST[key]}
    if not values["name"]:
        errors["name"] = words.gettext("Enter your name")
    checked = check_email(values["email"])
    if checked.address is None:
        errors["email"] = email_problem(checked.problem, words)
    if values["role"] and values["role"] not in ROLES:
        errors["role"] = words.gettext("Choose one of the options, or leave it blank")
    if not values["consent"]:
        errors["consent"] = words.gettext("Tick the box to say we may keep your details, or we can't book your place")
    return errors

