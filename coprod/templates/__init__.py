"""Messages and pages from Jinja2 templates: HTML autoescaped, plain text beside it.

`coprod/templates/email/<name>.txt` and `<name>.html` make one message's two
parts; `coprod/templates/pages/<name>.html` a public page. Everything a
participant reads is in these files: short, friendly, plain English. The
calendar files people add to their calendars are made beside them
(`coprod/templates/calendar.py`).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup, escape

from coprod.templates.govuk import GovukFrontendLoader
from coprod.templates.weblinks import linked_html, linked_text

__all__ = ["UK", "render_email", "render_page", "uk_clock", "uk_time"]

UK = ZoneInfo("Europe/London")
_ROOT = Path(__file__).parent


def uk_clock(moment: datetime) -> str:
    """`2pm`, `10:30am` in UK time."""
    return moment.astimezone(UK).strftime("%I:%M%p").lstrip("0").replace(":00", "").lower()


def uk_time(moment: datetime) -> str:
    """`Tuesday 1 December 2026, 2pm` in UK time (GMT or BST as the date has it)."""
    local = moment.astimezone(UK)
    return f"{local.strftime('%A')} {local.day} {local.strftime('%B %Y')}, {uk_clock(moment)}"


def uk_date(moment: datetime) -> str:
    """`1 December 2026`, the day in the UK."""
    local = moment.astimezone(UK)
    return f"{local.day} {local.strftime('%B %Y')}"


def _lines(text: str) -> Markup:
    """Plain text for a page: escaped, its lines kept (a web address stays words)."""
    return Markup(str(escape(text)).replace("\n", "<br>\n"))  # noqa: S704 - built from escaped text


def _without_link(session: dict[str, Any]) -> dict[str, Any]:
    """A session's details for someone who has no place (yet): no joining link."""
    return session | {"join_url": None}


@cache
def _environment(autoescape: bool) -> jinja2.Environment:
    # autoescape is off only for the plain-text parts of emails, which no browser renders as HTML
    # the templates, and GOV.UK Frontend's components for the pages (`govuk_frontend_jinja/...`: templates/govuk.py)
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(_ROOT), GovukFrontendLoader()])
    env = jinja2.Environment(loader=loader, autoescape=autoescape,  # noqa: S701
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, auto_reload=False)  # (no file check on each use)
    env.filters["uk_time"] = uk_time
    env.filters["uk_end"] = uk_clock
    env.filters["waiting"] = _without_link
    env.filters["linked"] = linked_html
    env.filters["linked_text"] = linked_text
    env.filters["lines"] = _lines
    env.filters["uk_date"] = uk_date
    env.globals["contact"] = None  # the public pages give the team's number (coprod.pages.context.Contact)
    env.globals["privacy_url"] = ""  # every email's footer links the privacy notice when the sender gives it
    return env


def privacy_link(public_url: str) -> str:
    """The privacy notice's address, for every email's footer."""
    return f"{public_url.rstrip('/')}/api/pages/privacy"


def heard_link(public_url: str) -> str:
    """"What we've heard", linked from the timetable, a confirmation and the outcomes email."""
    return f"{public_url.rstrip('/')}/api/pages/heard"


def render_email(template: str, **context: Any) -> tuple[str, str]:
    """(plain text, HTML) of the email template `template`."""
    text = _environment(False).get_template(f"email/{template}.txt").render(**context)
    html = _environment(True).get_template(f"email/{template}.html").render(**context)
    return text, html


def render_page(template: str, **context: Any) -> str:
    return _environment(True).get_template(f"pages/{template}.html").render(**context)
