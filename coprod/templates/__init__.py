"""Messages and pages from Jinja2 templates: HTML autoescaped, plain text beside it.

`coprod/templates/email/<name>.txt` and `<name>.html` make one message's two
parts; `coprod/templates/pages/<name>.html` a public page. Everything a
participant reads is in these files: short, friendly, plain English. The
calendar files people add to their calendars are made beside them
(`coprod/templates/calendar.py`).

Every string in them is marked for translation, `{% trans %}...{% endtrans %}`
or `_("...")` (Jinja's i18n extension, its whitespace trimmed), and each
language has environments of its own, with its catalogue and its dates
(coprod/i18n.py): `render_email(..., language="cy")` is the email in Welsh.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache, partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup, escape

from coprod import i18n
from coprod.templates.govuk import GovukFrontendLoader
from coprod.templates.weblinks import linked_html, linked_text

__all__ = ["UK", "render_email", "render_page", "uk_clock", "uk_time"]

UK = ZoneInfo("Europe/London")
_ROOT = Path(__file__).parent


def uk_clock(moment: datetime) -> str:
    """`2pm`, `10:30am` in UK time."""
    return i18n.clock(moment)


def uk_time(moment: datetime) -> str:
    """`Tuesday 1 December 2026, 2pm` in UK time (GMT or BST as the date has it)."""
    return i18n.when(moment)


def _lines(text: str) -> Markup:
    """Plain text for a page: escaped, its lines kept (a web address stays words)."""
    return Markup(str(escape(text)).replace("\n", "<br>\n"))  # noqa: S704 - built from escaped text


def _without_link(session: dict[str, Any]) -> dict[str, Any]:
    """A session's details for someone who has no place (yet): no joining link."""
    return session | {"join_url": None}


def environment(autoescape: bool, language: str = i18n.DEFAULT) -> jinja2.Environment:
    """The templates' environment for a language (its catalogue installed, its dates), made once."""
    code = i18n.language(language)
    return _environment(autoescape, code, i18n.translator(code))


@cache
def _environment(autoescape: bool, language: str, words: i18n.Translator) -> jinja2.Environment:
    # autoescape is off only for the plain-text parts of emails, which no browser renders as HTML
    # the templates, and GOV.UK Frontend's components for the pages (`govuk_frontend_jinja/...`: templates/govuk.py)
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(_ROOT), GovukFrontendLoader()])
    env = jinja2.Environment(loader=loader, autoescape=autoescape,  # noqa: S701
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, auto_reload=False,  # (no file check on each use)
                             extensions=["jinja2.ext.i18n"])
    env.policies["ext.i18n.trimmed"] = True  # a `{% trans %}` block's msgid is its words on one line
    env.install_gettext_translations(words, newstyle=True)  # type: ignore[attr-defined]
    env.globals["language"] = language
    env.globals["html_lang"] = "en-GB" if language == i18n.DEFAULT else language
    env.filters["uk_time"] = partial(i18n.when, code=language)
    env.filters["uk_end"] = partial(i18n.clock, code=language)
    env.filters["waiting"] = _without_link
    env.filters["linked"] = partial(linked_html, language=language)
    env.filters["linked_text"] = linked_text
    env.filters["lines"] = _lines
    env.filters["uk_date"] = partial(i18n.day, code=language)
    env.globals["language_link"] = None  # the public pages' link to themselves in the other language
    env.globals["contact"] = None  # the public pages give the team's number (coprod.pages.context.Contact)
    env.globals["privacy_url"] = ""  # every email's footer links the privacy notice when the sender gives it
    return env


def privacy_link(public_url: str) -> str:
    """The privacy notice's address, for every email's footer."""
    return f"{public_url.rstrip('/')}/api/pages/privacy"


def heard_link(public_url: str) -> str:
    """"What we've heard", linked from the timetable, a confirmation and the outcomes email."""
    return f"{public_url.rstrip('/')}/api/pages/heard"


def render_email(template: str, language: str = i18n.DEFAULT, **context: Any) -> tuple[str, str]:
    """(plain text, HTML) of the email template `template`, in `language`."""
    text = environment(False, language).get_template(f"email/{template}.txt").render(**context)
    html = environment(True, language).get_template(f"email/{template}.html").render(**context)
    return text, html


def render_page(template: str, language: str = i18n.DEFAULT, **context: Any) -> str:
    return environment(True, language).get_template(f"pages/{template}.html").render(**context)
