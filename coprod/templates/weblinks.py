"""Links in what officers write (pre-reading, outcomes): named by what they lead to, in HTML and in plain text.

An officer can name a link as Markdown does, `[the draft plan](https://council.example.org/plan.pdf)`; a bare web
address is named from itself: the last part of its path in words, and the site (`plan on council.example.org`).
A link to a PDF says so, `(PDF)`, as GOV.UK's guidance asks, so nobody is surprised by a download. In an email's
HTML the name is the link; in its plain text, the name is followed by the address, which a reader can copy.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from markupsafe import Markup, escape

from coprod import i18n

__all__ = ["link_name", "linked_html", "linked_text"]

# `[name](https://...)` or a bare https?:// address (up to a space, a bracket or a quote; a full stop or comma at
# its end is the sentence's)
LINK = re.compile(r"\[(?P<name>[^\[\]\n]{1,200})\]\((?P<url>https?://[^\s()<>\"']+)\)|(?P<bare>https?://[^\s<>\"'()]+)")


def _split(match: re.Match[str]) -> tuple[str, str, str]:
    """(name given or '', address, what followed it that belongs to the sentence)."""
    if match.group("url"):
        return match.group("name").strip(), match.group("url"), ""
    url = match.group("bare")
    trail = ""
    while url and url[-1] in ".,;:!?":
        url, trail = url[:-1], url[-1] + trail
    return "", url, trail


def is_pdf(url: str) -> bool:
    return urlsplit(url).path.lower().endswith(".pdf")


def link_name(url: str, language: str = i18n.DEFAULT) -> str:
    """A bare address's name: the last part of its path in words, and the site (`carers week on example.org`), or
    the site alone."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    last = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1]) if parts.path.strip("/") else ""
    words = re.sub(r"[-_+]+", " ", re.sub(r"\.[A-Za-z0-9]{1,5}$", "", last)).strip()
    if not words:
        return host or url
    return i18n.translator(language).gettext("%(words)s on %(site)s") % {"words": words, "site": host}


def _pdf(url: str) -> str:
    return " (PDF)" if is_pdf(url) else ""


def linked_html(text: str, language: str = i18n.DEFAULT) -> Markup:
    """Plain text for an HTML email: escaped, each link named (`<a href>name</a> (PDF)`), its lines kept."""
    out, at = [], 0
    for match in LINK.finditer(text):
        name, url, trail = _split(match)
        out.append(str(escape(text[at:match.start()])))
        shown = name or link_name(url, language)
        out.append(f'<a href="{escape(url)}">{escape(shown)}</a>{_pdf(url)}{escape(trail)}')
        at = match.end()
    out.append(str(escape(text[at:])))
    return Markup("".join(out).replace("\n", "<br>\n"))  # noqa: S704 - built from escaped text


def linked_text(text: str) -> str:
    """The same for the plain-text part: a named link as `name (PDF): address`, a bare address as it is."""
    def one(match: re.Match[str]) -> str:
        name, url, trail = _split(match)
        if not name:
            return f"{url}{_pdf(url)}{trail}"
        return f"{name}{_pdf(url)}: {url}{trail}"

    return LINK.sub(one, text)
