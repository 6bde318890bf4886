"""Welsh, end to end (issue 31): a booking made in Welsh is told in Welsh; the pages at `?lang=cy`; and, in a
pseudo-language, proof that no word on a page or in an email escapes the catalogue.

The pseudo-language (`qps`) wraps every string the catalogue gives in ⟦ ⟧. A page or an email rendered in it must
have nothing else: every piece of text is either ⟦translated⟧ or the data it shows (a session's title, a name, an
address, a date, a link). A string the code or a template writes without the catalogue, or an English default of
a GOV.UK Frontend component, shows up unwrapped, and the test names it.
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from coprod import i18n
from coprod.handoffs import CANCEL, FEEDBACK, MY_BOOKINGS, PREFERENCES, SUBSCRIBE_CONFIRM, UNSUBSCRIBE
from coprod.pages.app import BASE, create_web_app
from graph_emulator.testing import AsgiTransport
from tests.support.programme import Programme, calendar_of, event_of, soon

OPEN, CLOSE = "⟦", "⟧"
SHOWN = {"alt", "title", "aria-label", "placeholder"}
# dates and times as a page shows them (English's, in the pseudo-language): data, not words to translate
DATE = re.compile(r"\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March|April|May|"
                  r"June|July|August|September|October|November|December)\b|\b\d{1,2}(:\d\d)?(am|pm)\b")
URL = re.compile(r"\S+://\S+|\S+@\S+")


class Pseudo(gettext.NullTranslations):
    """Every string from the catalogue, wrapped: ⟦Your place is booked⟧ (its placeholders kept)."""

    def gettext(self, message: str) -> str:
        return f"{OPEN}{message}{CLOSE}"

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return f"{OPEN}{singular if n == 1 else plural}{CLOSE}"

    def pgettext(self, context: str, message: str) -> str:
        return self.gettext(message)

    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        return self.ngettext(singular, plural, n)


@pytest.fixture
def pseudo() -> Iterator[str]:
    i18n.install("qps", Pseudo())
    yield "qps"
    i18n.uninstall("qps")


@pytest.fixture
def programme_settings() -> dict[str, str]:
    return {"COPROD_PUBLIC_URL": "https://coprod.example.org", "COPROD_PROGRAMME_NAME": "Having your say",
            "COPROD_CONTACT_PHONE": "01632 960000"}


def pages(programme: Programme) -> httpx.Client:
    context = programme.services.web_context()
    return httpx.Client(transport=AsgiTransport(create_web_app(lambda: context), client=("127.0.0.1", 50000)),
                        base_url=f"https://coprod.example.org{BASE}")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        self.found.extend(value for name, value in attrs if name in SHOWN and value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.found.append(data)


def escaped(pieces: list[str], data: tuple[str, ...]) -> list[str]:
    """The pieces of text with words that neither the catalogue gave nor are data. A string from the catalogue may
    span pieces (a sentence with a link in it: text, the link's text, text), so they are read together."""
    text, before = "\n".join(" ".join(p.split()) for p in pieces), ""
    while text != before:  # innermost first: a translated sentence may hold another (a link's words)
        before, text = text, re.sub(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}", " ", text)
    left = []
    for piece in text.split("\n"):
        for value in sorted(data, key=len, reverse=True):
            piece = piece.replace(value, " ")
        if re.search(r"[^\W\d_]{2,}", DATE.sub(" ", URL.sub(" ", piece))):
            left.append(piece.strip())
    return left


def html_text(html: str) -> list[str]:
    reader = _Text()
    reader.feed(html)
    return reader.found


# --- the pseudo-language: nothing escapes the catalogue ------------------------------------------------------------

DATA = ("Having your say", "Carers' forum", "Carers’ forum", "Ann", "Ann Example", "ann.example@example.org",
        "01632 960000", "Carers", "Having choice", "Being included", "Being healthy", "Other", "Cymraeg", "English",
        "Please bring the papers", "Microsoft Teams")


def test_every_page_in_the_pseudo_language_has_no_word_outside_the_catalogue(programme: Programme,
                                                                                pseudo: str) -> None:
    forum = programme.session("Carers' forum", soon(3), capacity=1, Question="Please bring the papers")
    drop_in = programme.session("Being included", soon(4), minutes=60, Kind="DropIn", SlotMinutes=30)
    programme.run()
    signer = programme.services.web_context().signer
    digest = signer.digest("ann.example@example.org")
    good = {"name": "Ann Example", "email": "ann.example@example.org", "consent": "yes"}
    with pages(programme) as client:
        seen = {
            "timetable": client.get("/sessions", params={"lang": pseudo}),
            "a session": client.get(f"/sessions/{forum}"),
            "a drop-in": client.get(f"/sessions/{drop_in}"),
            "a form with mistakes": client.post(f"/sessions/{forum}", data={"email": "not an address"}),
            "a drop-in form with mistakes": client.post(f"/sessions/{drop_in}", data=good),
            "a misspelt address": client.post(f"/sessions/{forum}", data=good | {"email": "ann@gmial.com"}),
            "booked": client.post(f"/sessions/{forum}", data=good),
            "your bookings": client.get("/bookings"),
            "your bookings, a mistake": client.post("/bookings", data={"email": ""}),
            "check your email": client.post("/bookings", data={"email": "ann.example@example.org"}),
            "my bookings": client.get("/bookings/mine", params={
                "t": signer.make(MY_BOOKINGS.purpose, digest, 3600)}),
            "an expired link": client.get("/bookings/mine", params={"t": signer.make(MY_BOOKINGS.purpose, digest, -1)}),
            "a broken link": client.get("/cancel", params={"t": "x.y"}),
            "privacy": client.get("/privacy"),
            "subscribe": client.get("/subscribe"),
            "subscribe, a mistake": client.post("/subscribe", data={"email": ""}),
            "subscribed, check your email": client.post("/subscribe", data={"email": "ann.example@example.org",
                                                                             "name": "Ann"}),
            "confirm subscribing": client.get("/subscribe/confirm", params={
                "t": signer.make(SUBSCRIBE_CONFIRM.purpose, "5:" + digest, 3600)}),
            "preferences": client.get("/preferences", params={
                "t": signer.make(PREFERENCES.purpose, "5:" + digest, 3600)}),
            "unsubscribe": client.get("/unsubscribe", params={
                "t": signer.make(UNSUBSCRIBE.purpose, "5:" + digest, 3600)}),
            "contribute": client.get("/contribute"),
            "contribute, a mistake": client.post("/contribute", data={}),
            "what we've heard": client.get("/heard"),
            "feedback": client.get("/feedback", params={
                "t": signer.make(FEEDBACK.purpose, f"1:{forum}", 3600)}),
            "no page": client.get("/nowhere"),
            "a session that isn't": client.get("/sessions/999"),
        }
    problems = {name: escaped(html_text(response.text), DATA) for name, response in seen.items()}
    assert {name: words for name, words in problems.items() if words} == {}
    assert all(f'lang="{pseudo}"' in response.text for response in seen.values())


def test_every_email_of_a_booking_in_the_pseudo_language_has_no_word_outside_the_catalogue(
        programme: Programme, pseudo: str) -> None:
    start = soon(5)
    forum = programme.session("Carers' forum", start, capacity=1, Question="Please bring the papers")
    ann = programme.register(forum, "Ann Example", Language=pseudo, AccessNeeds="A break", check=False)
    programme.register(forum, "Ben Example", Language=pseudo, check=False)  # on the waiting list
    programme.run()
    programme.edit("Sessions", forum, PreReading="Please bring the papers: https://example.org/papers")
    programme.run()
    programme.edit("Sessions", forum, StartTime=(start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   EndTime=(start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    programme.run()
    programme.clock.offset += (start - timedelta(hours=23)).timestamp() - programme.clock()
    programme.run(minutes=0)
    programme.edit("Registrations", ann, Cancel=True)
    programme.run()
    mail = programme.mail_to("ann.example@example.org") + programme.mail_to("ben.example@example.org")
    kinds = {m.subject.split(":")[0] for m in mail}
    assert len(kinds) >= 6, kinds  # booked, waiting list, pre-reading, changed, reminder, cancelled, promoted
    for message in mail:
        data = (*DATA, "Ben", "Ben Example", "ben.example@example.org", "A break")
        assert escaped([message.subject], data) == [], message.subject
        assert escaped((message.text_body or "").splitlines(), data) == [], message.subject
        assert escaped(html_text(message.html_body or ""), data) == [], (message.subject, "HTML")
        assert f'<html lang="{pseudo}">' in (message.html_body or "")


# --- Welsh ----------------------------------------------------------------------------------------------------

def welsh_booking(programme: Programme, **session: Any) -> tuple[str, str, Any]:
    start = soon(5).replace(hour=13)  # 13:00 UTC: 13:00 or 14:00 UK time
    forum = programme.session("Carers' forum", start, **session)
    ann = programme.register(forum, "Ann Example", Language="Cymraeg")
    programme.run()
    return forum, ann, start


def test_a_welsh_booking_is_confirmed_and_reminded_in_welsh(programme: Programme) -> None:
    _, _, start = welsh_booking(programme, TitleCy="Fforwm gofalwyr")
    programme.clock.offset += (start - timedelta(hours=23)).timestamp() - programme.clock()
    programme.run(minutes=0)
    confirmation, reminder = programme.mail_to("ann.example@example.org")
    assert confirmation.subject == "Mae eich lle wedi'i archebu: Fforwm gofalwyr"
    assert reminder.subject.startswith("Yn dod cyn bo hir") and reminder.subject.endswith("Fforwm gofalwyr")
    for message in (confirmation, reminder):
        text, html = message.text_body or "", message.html_body or ""
        assert '<html lang="cy">' in html
        assert text.startswith("Helo Ann Example,")
        assert i18n.when(start, "cy") in text and "Rhagfyr" in i18n.when(start.replace(month=12), "cy")
        assert re.search(r"\b\d\d:00\b", text) and "pm" not in text  # the 24-hour clock
        assert "Y tîm cydgynhyrchu" in text
        assert "lang=cy" in text  # the cancel link opens its page in Welsh
        for english in ("Your place", "Hello", "If you can't come", "UK time", "The co-production team"):
            assert english not in text, english
    event = event_of(calendar_of(confirmation))
    assert str(event["summary"]) == "Fforwm gofalwyr"
    assert "Ymunwch" in str(event.get("description", "")) or "ar-lein" in str(event.get("description", ""))


def test_without_a_welsh_title_the_english_one_is_marked_english_and_says_so(programme: Programme) -> None:
    welsh_booking(programme)
    [confirmation] = programme.mail_to("ann.example@example.org")
    assert confirmation.subject == "Mae eich lle wedi'i archebu: Carers' forum"
    assert '<h2 style="font-size:22px;line-height:1.3;margin:0 0 8px;" lang="en">Carers&#39; forum</h2>' in \
        (confirmation.html_body or "")
    assert "Saesneg" in (confirmation.text_body or "")  # "only in English for now", in Welsh


def test_an_english_booking_is_still_english(programme: Programme) -> None:
    forum = programme.session("Carers' forum", soon(5), TitleCy="Fforwm gofalwyr")
    programme.register(forum, "Ann Example")
    programme.run()
    [confirmation] = programme.mail_to("ann.example@example.org")
    assert confirmation.subject == "Your place is booked: Carers' forum"
    assert '<html lang="en-GB">' in (confirmation.html_body or "") and "Saesneg" not in (confirmation.text_body or "")


def test_the_booking_page_in_welsh_books_in_welsh(programme: Programme) -> None:
    forum = programme.session("Carers' forum", soon(5), TitleCy="Fforwm gofalwyr", DescriptionCy="Dewch i siarad")
    programme.run()
    with pages(programme) as client:
        page = client.get(f"/sessions/{forum}", params={"lang": "cy"})
        assert page.status_code == 200
        assert '<html lang="cy"' in page.text and "Fforwm gofalwyr" in page.text and "Dewch i siarad" in page.text
        assert "Archebu" in page.text or "archebu" in page.text
        assert f'href="{BASE}/sessions/{forum}?lang=en" lang="en" hreflang="en">English</a>' in page.text
        assert "lang=cy" in page.headers.get("set-cookie", "")  # the rest of the visit stays in Welsh
        booked = client.post(f"/sessions/{forum}", data={"name": "Ann Example", "email": "ann.example@example.org",
                                                          "consent": "yes"})
        assert '<html lang="cy"' in booked.text
        english = client.get(f"/sessions/{forum}", params={"lang": "en"})
        assert '<html lang="en-GB"' in english.text and "Cymraeg</a>" in english.text
    [item] = programme.backend.sharepoint.get_list(programme.site, "Registrations").items.values()
    assert item.fields["Language"] == "Cymraeg"
    programme.run()
    [confirmation] = programme.mail_to("ann.example@example.org")
    assert confirmation.subject == "Mae eich lle wedi'i archebu: Fforwm gofalwyr"
    cancel = re.search(r"https://\S+/cancel\?\S+", confirmation.text_body or "")
    assert cancel and cancel.group().endswith("lang=cy")
    assert CANCEL.page in cancel.group()
    with pages(programme) as client:  # the link to their bookings, asked for on the Welsh page, comes in Welsh
        assert '<html lang="cy"' in client.post("/bookings", data={"email": "ann.example@example.org"},
                                                params={"lang": "cy"}).text
    programme.run()
    [link] = [m for m in programme.mail_to("ann.example@example.org") if m.subject != confirmation.subject]
    assert link.subject == "Eich archebion gyda Having your say"
    assert '<html lang="cy">' in (link.html_body or "") and f"{MY_BOOKINGS.page}?t=" in (link.text_body or "")
    assert re.search(r"bookings/mine\?t=\S+&lang=cy", link.text_body or "")


@pytest.mark.parametrize("asked", ["<script>alert(1)</script>", "cy\r\nSet-Cookie: x=1", "ｃｙ", "cy" * 500, "'\"",
                                   "\u202ecy", ""])
def test_a_forged_language_is_english_and_the_cookie_holds_only_a_known_code(programme: Programme,
                                                                           asked: str) -> None:
    with pages(programme) as client:
        page = client.get("/sessions", params={"lang": asked})
    assert page.status_code == 200 and '<html lang="en-GB"' in page.text
    assert page.headers.get_list("set-cookie") == ["lang=en; Path=/api/pages; HttpOnly; SameSite=Lax; Secure"]
    assert "<script>alert" not in page.text


@pytest.mark.parametrize("cookie", ["lang=<b>cy</b>", 'lang="cy\\"; x', "lang=cy; lang=xx", "\x00\x01", "lang"])
def test_a_forged_cookie_is_english_and_no_error(programme: Programme, cookie: str) -> None:
    with pages(programme) as client:
        page = client.get("/sessions", headers={"cookie": cookie})
    assert page.status_code == 200 and '<html lang="' in page.text


def test_the_language_link_never_leaves_the_site(programme: Programme) -> None:
    """A path of `//elsewhere.example/...` (a page not found) must not become a link to another host."""
    with pages(programme) as client:
        page = client.get("https://coprod.example.org//elsewhere.example/x")
    link = re.search(r'href="([^"]*)" lang="cy"', page.text)
    assert page.status_code == 404 and link is not None
    assert link.group(1).startswith("/") and not link.group(1).startswith("//")
