"""Languages: which one a person reads, its catalogue of words, and its dates and times.

Everything a participant reads (the pages, the emails, the texts and letters) is written in English in the
templates and the code, and each string goes through a gettext catalogue: `coprod/locale/<language>/LC_MESSAGES/
<domain>.po`, one file for each part of the product (`DOMAINS`), made and kept up to date with Babel
(`python tools/translations.py`, docs/translations.md). Welsh (`cy`) is the first translation, complete: a test
fails if a string is added without one (tests/unit/test_translations.py).

A language is chosen by the person: `?lang=cy` on a page (and the language link on every page), kept on their
booking in the Registrations column `Language`, which their emails and texts then follow. Anything else, or
nothing, is English.

Dates and times follow each language's own conventions (Unicode CLDR's, through Babel): in English the GOV.UK
style, `Tuesday 1 December 2026, 2pm`; in Welsh CLDR's `cy` date with its 24-hour clock, `Dydd Mawrth 1 Rhagfyr
2026, 14:00`, as Welsh-language broadcasters and public bodies write times. Always UK time.
"""

from __future__ import annotations

import gettext
import io
import threading
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = ["DEFAULT", "DOMAINS", "LANGUAGES", "N_", "Translator", "clock", "day", "in_language", "language", "link_in",
           "translator", "when"]

UK = ZoneInfo("Europe/London")
LOCALE = Path(__file__).parent / "locale"
DEFAULT = "en"
# Each language offered, by its own name (the language link on every page names the other language in itself).
LANGUAGES = {"en": "English", "cy": "Cymraeg"}
# What a list's `Language` column, or a page's `?lang=`, may say for each: its code (any region), or its name.
_SPELLINGS = {"welsh": "cy", "cymraeg": "cy", "english": "en", "saesneg": "en"}
# The catalogues, one for each part of the product (tools/translations.py says which files feed which).
DOMAINS = ("emails", "pages", "texts")

Translator = gettext.NullTranslations


def N_(message: str) -> str:  # (gettext's own name for "mark for the catalogue, translate later")
    """A string for the catalogue, translated where it is used (`translator(language).gettext(message)`)."""
    return message


def language(value: object) -> str:
    """The language a list value or a query asks for (`cy`, `cy-GB`, `Welsh`, `Cymraeg`): one of LANGUAGES, or
    English for anything else (and for nothing)."""
    text = str(value or "").strip().lower().replace("_", "-")
    code = _SPELLINGS.get(text, text.split("-", 1)[0])
    return code if code in _installed() else DEFAULT


_extra: dict[str, gettext.NullTranslations] = {}
_lock = threading.Lock()


def _installed() -> set[str]:
    return set(LANGUAGES) | set(_extra)


def install(code: str, translations: gettext.NullTranslations) -> None:
    """Add a language made in code rather than read from a catalogue (the tests' pseudo-language)."""
    with _lock:
        _extra[code] = translations
        translator.cache_clear()


def uninstall(code: str) -> None:
    with _lock:
        _extra.pop(code, None)
        translator.cache_clear()


def _catalogue(path: Path, code: str) -> gettext.GNUTranslations:
    """A `.po` file read and compiled in memory (no compiled `.mo` files to keep in step with their sources)."""
    with path.open("rb") as source:
        catalog = read_po(source, locale=code)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)  # a string marked fuzzy (unchecked) stays in English
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@cache
def translator(code: str) -> gettext.NullTranslations:
    """The language's words: `.gettext(message)`, `.ngettext(one, many, n)`; English as written for `en`."""
    if code in _extra:
        return _extra[code]
    if code not in LANGUAGES or code == DEFAULT:
        return gettext.NullTranslations()
    first: gettext.NullTranslations | None = None
    for domain in DOMAINS:
        path = LOCALE / code / "LC_MESSAGES" / f"{domain}.po"
        if not path.exists():
            continue
        catalogue = _catalogue(path, code)
        if first is None:
            first = catalogue
        else:
            first.add_fallback(catalogue)
    return first or gettext.NullTranslations()


def _cldr(code: str) -> str:
    """The CLDR locale whose dates a language uses (a test's pseudo-language writes them as English does)."""
    return code if code in LANGUAGES else DEFAULT


def clock(moment: datetime, code: str = DEFAULT) -> str:
    """The time of day in UK time: `2pm`, `10:30am` (GOV.UK's style), `14:00` in Welsh (CLDR's `cy`)."""
    local = moment.astimezone(UK)
    if _cldr(code) == DEFAULT:
        return local.strftime("%I:%M%p").lstrip("0").replace(":00", "").lower()
    return format_time(local, "short", locale=_cldr(code))


def day(moment: datetime, code: str = DEFAULT) -> str:
    """`1 December 2026`, `1 Rhagfyr 2026`: the day in the UK."""
    local = moment.astimezone(UK)
    if _cldr(code) == DEFAULT:
        return f"{local.day} {local.strftime('%B %Y')}"
    return format_date(local, "d MMMM y", locale=_cldr(code))


def weekday(moment: datetime, code: str = DEFAULT) -> str:
    """`Tuesday`, `Dydd Mawrth`: the day of the week in the UK."""
    local = moment.astimezone(UK)
    if _cldr(code) == DEFAULT:
        return local.strftime("%A")
    return format_date(local, "EEEE", locale=_cldr(code))


def when(moment: datetime, code: str = DEFAULT) -> str:
    """`Tuesday 1 December 2026, 2pm`, `Dydd Mawrth 1 Rhagfyr 2026, 14:00`: a moment in UK time (GMT or BST as
    the date has it)."""
    return f"{weekday(moment, code)} {day(moment, code)}, {clock(moment, code)}"


def link_in(url: str, code: str) -> str:
    """A link to one of the pages, opening it in the language (`lang=cy`); as it is in English (the default)."""
    if code == DEFAULT or not url:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=f"{parts.query}&lang={code}" if parts.query else f"lang={code}"))


OWN_WORDS = ("title", "description")  # the officers' own words about a session, each given per language


def in_language(view: dict[str, Any], code: str) -> dict[str, Any]:
    """A session's details for someone reading `code`: the officers' own words in that language where they gave
    them (`title_cy` from the column TitleCy, ...), else the English, named in `english_only` so the page or
    email can mark them `lang="en"` and say they are in English only."""
    if code == DEFAULT:
        return view
    shown = dict(view)
    english: list[str] = []
    for key in OWN_WORDS:
        given = view.get(f"{key}_{code}")
        if given:
            shown[key] = given
        elif view.get(key):
            english.append(key)
    shown["english_only"] = tuple(english)
    return shown
