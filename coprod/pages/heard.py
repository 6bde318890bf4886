"""`/api/pages/heard`: "what we've heard", for everyone, and a feed of it for each theme (issue 30).

For each theme: the questions sessions asked, what came of sessions whose outcomes were shared ("you said, we
did"), and the contributions an officer published: their text only, never a name or an address. Nothing New or
Hidden is ever shown, and nothing from a session that is not Open. It reads only the state store's mirror of the
lists (a run mirrors them every few minutes), so a page costs no Graph request and shows a contribution from the
first run after it is published until the first run after it is hidden.

`/api/pages/heard/feed` (and `?theme=`) is the same as an Atom feed (RFC 4287), for partners and groups who
"want to know what we are doing": each shared outcome and published contribution an entry, newest first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

from starlette.requests import Request
from starlette.responses import Response

from config import THEMES
from coprod.handoffs import PAGES, records
from coprod.lists.contributions import LIST, Contribution, parse_contribution
from coprod.lists.fields import as_text
from coprod.lists.records import Session, parse_session
from coprod.pages.context import PageGroup, page_words

__all__ = ["Heard", "HeardTheme"]

ATOM = "http://www.w3.org/2005/Atom"
FEED_ENTRIES = 50
NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # XML 1.0 refuses these


@dataclass
class HeardTheme:
    """One theme's part of the page."""

    name: str
    questions: list[Session] = field(default_factory=list)
    outcomes: list[Session] = field(default_factory=list)
    contributions: list[Contribution] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return "theme-" + (re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-") or "other")

    @property
    def empty(self) -> bool:
        return not (self.questions or self.outcomes or self.contributions)


class Heard(PageGroup):
    """The page and its feeds, on the same context as the other pages (`pages`)."""

    async def page(self, request: Request) -> Response:
        chosen = as_text(request.query_params.get("theme"), 40)
        themes = self.themes()
        if chosen and chosen not in themes:
            chosen = ""
        shown = [themes[chosen]] if chosen else [t for t in themes.values() if not t.empty]
        return self.pages.page("heard", themes=shown, theme=chosen, all_themes=list(themes),
                               feed_query=f"?theme={quote(chosen)}" if chosen else "")

    async def feed(self, request: Request) -> Response:
        chosen = as_text(request.query_params.get("theme"), 40)
        themes = self.themes()
        if chosen and chosen not in themes:
            return self.pages.page("not_found", 404)
        body = self._atom([themes[chosen]] if chosen else list(themes.values()), chosen)
        return Response(body, media_type="application/atom+xml; charset=utf-8",
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=300"})

    def themes(self) -> dict[str, HeardTheme]:
        """Every theme (the programme's, then any other an officer gave), with what may be shown of it."""
        found: dict[str, HeardTheme] = {name: HeardTheme(name) for name in THEMES}
        sessions = [parse_session(i.item_id, i.fields) for i in self.context.sessions().values()]
        shared = {e.key for e in self.context.store.ledger.list(kind="outcomes-shared")}
        far = datetime.max.replace(tzinfo=UTC)
        for session in sorted(sessions, key=lambda s: s.start or far):
            if session.status != "Open" or not session.theme:
                continue
            theme = found.setdefault(session.theme, HeardTheme(session.theme))
            if session.question:
                theme.questions.append(session)
            if session.outcomes and session.share_outcomes and records.outcomes(session.id) in shared:
                theme.outcomes.append(session)
        published = [c for c in (parse_contribution(i.item_id, i.created, i.fields)
                                 for i in self.context.store.mirror.items(LIST)) if c.published and c.text]
        for contribution in sorted(published, key=lambda c: c.changed or far, reverse=True):
            found.setdefault(contribution.theme or "Other", HeardTheme(contribution.theme or "Other")
                             ).contributions.append(contribution)
        return found

    def _atom(self, themes: list[HeardTheme], chosen: str) -> bytes:
        public = self.context.settings.public_url.rstrip("/")
        page = f"{public}{PAGES}/heard" + (f"?theme={quote(chosen)}" if chosen else "")
        words = page_words()  # the feed's own words in the language asked for (what people wrote stays as written)
        entries: list[tuple[datetime, dict[str, Any]]] = []
        for theme in themes:
            for session in theme.outcomes:
                when = session.end or session.start or datetime.now(UTC)
                title = words.gettext("You said, we did: %(title)s") % {"title": session.title}
                entries.append((when, {"id": f"{public}{PAGES}/heard#outcomes-{session.id}",
                                       "title": title, "theme": theme.name,
                                       "text": session.outcomes, "link": f"{page}#outcomes-{session.id}"}))
            told = words.gettext("Someone told us about %(theme)s") % {"theme": theme.name}
            for contribution in theme.contributions:
                when = contribution.changed or datetime.now(UTC)
                entries.append((when, {"id": f"{public}{PAGES}/heard#contribution-{contribution.id}",
                                       "title": told, "theme": theme.name,
                                       "text": contribution.text, "link": f"{page}#contribution-{contribution.id}"}))
        entries.sort(key=lambda e: e[0], reverse=True)
        entries = entries[:FEED_ENTRIES]
        name = self.context.settings.programme_name
        feed = ET.Element("feed", xmlns=ATOM)
        heard = words.gettext("What we've heard: %(theme)s") % {"theme": chosen} if chosen else \
            words.gettext("What we've heard")
        _text(feed, "title", heard)
        _text(feed, "subtitle", words.gettext(
            "What people have told %(name)s, and what has changed because of it") % {"name": name})
        _text(feed, "id", page)
        _text(feed, "updated", (entries[0][0] if entries else datetime(2000, 1, 1, tzinfo=UTC)).isoformat())
        _text(ET.SubElement(feed, "author"), "name", name)
        ET.SubElement(feed, "link", rel="alternate", type="text/html", href=page)
        ET.SubElement(feed, "link", rel="self", type="application/atom+xml",
                      href=f"{public}{PAGES}/heard/feed" + (f"?theme={quote(chosen)}" if chosen else ""))
        for when, entry in entries:
            element = ET.SubElement(feed, "entry")
            _text(element, "title", entry["title"])
            _text(element, "id", entry["id"])
            _text(element, "updated", when.astimezone(UTC).isoformat())
            ET.SubElement(element, "link", rel="alternate", type="text/html", href=entry["link"])
            ET.SubElement(element, "category", term=_xml(entry["theme"]))
            _text(element, "content", entry["text"]).set("type", "text")
        body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=False)
        return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def _xml(text: str) -> str:
    return NOT_XML.sub("", text)


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = _xml(text)
    return element
