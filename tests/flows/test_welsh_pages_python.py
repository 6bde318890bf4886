"""Welsh from the pages' code (issue 31): what the Python behind a page says to a person (a form's errors, the
question about a misspelt address, a link-problem page's next step, the options of a drop-in and of "How was it?",
the timetable's weeks, the feed's titles, the report's headings) comes in the page's language, through the `pages`
catalogue; the English is as it was, and the values the forms send (and the lists keep) stay English."""

from __future__ import annotations

import html
from collections.abc import Iterator

import httpx
import pytest

from coprod import i18n
from coprod.handoffs import FEEDBACK
from coprod.operating.report import as_html, build
from coprod.pages.app import BASE, create_web_app
from graph_emulator.testing import AsgiTransport
from tests.support.programme import Programme, soon

GOOD = {"name": "Ann Example", "email": "ann.example@example.org", "consent": "yes"}


@pytest.fixture
def programme_settings() -> dict[str, str]:
    return {"COPROD_PUBLIC_URL": "https://coprod.example.org", "COPROD_PROGRAMME_NAME": "Having your say"}


@pytest.fixture
def client(programme: Programme) -> Iterator[httpx.Client]:
    context = programme.services.web_context()
    app = create_web_app(lambda: context)
    with httpx.Client(transport=AsgiTransport(app, client=("127.0.0.1", 50000)),
                      base_url=f"https://coprod.example.org{BASE}") as http:
        yield http


def words(response: httpx.Response) -> str:
    """The page's text as read (its apostrophes unescaped)."""
    return html.unescape(response.text)


def test_a_form_error_on_the_bookings_page_is_in_welsh(client: httpx.Client) -> None:
    welsh = client.post("/bookings", params={"lang": "cy"}, data={"email": ""})
    assert welsh.status_code == 400
    assert "Rhowch eich cyfeiriad e-bost" in words(welsh) and "Enter your email address" not in words(welsh)
    wrong = client.post("/bookings", data={"email": "not an address"})  # the cookie keeps the visit in Welsh
    assert "Rhowch gyfeiriad e-bost yn y fformat cywir, fel enw@example.com" in words(wrong)
    english = client.post("/bookings", params={"lang": "en"}, data={"email": ""})
    assert "Enter your email address" in words(english) and "Rhowch" not in words(english)


def test_a_misspelt_address_is_questioned_in_welsh_on_every_form(programme: Programme,
                                                                  client: httpx.Client) -> None:
    forum = programme.session("Carers' forum", soon(3), capacity=5)
    programme.run()
    question = "Oeddech chi'n golygu ann@gmail.com? Os oeddech, newidiwch y cyfeiriad."
    for asked in (client.post(f"/sessions/{forum}", params={"lang": "cy"}, data=GOOD | {"email": "ann@gmial.com"}),
                  client.post("/subscribe", data={"email": "ann@gmial.com", "name": "Ann"}),
                  client.post("/contribute", data={"theme": "Carers", "text": "More evening sessions, please",
                                                   "email": "ann@gmial.com", "consent": "yes"})):
        assert asked.status_code == 400
        assert question in words(asked) and "Did you mean" not in words(asked)
    english = client.post(f"/sessions/{forum}", params={"lang": "en"}, data=GOOD | {"email": "ann@gmial.com"})
    assert ("Did you mean ann@gmail.com? If so, change it. If not, send the form again to keep what you typed"
            in words(english))


def test_the_booking_forms_errors_and_a_drop_ins_options_are_in_welsh_with_english_values(
        programme: Programme, client: httpx.Client) -> None:
    drop_in = programme.session("Being included", soon(4), minutes=60, Kind="DropIn", SlotMinutes=30)
    programme.run()
    page = client.post(f"/sessions/{drop_in}", params={"lang": "cy"}, data={"email": "ann.example@example.org"})
    text = words(page)
    for welsh in ("Rhowch eich enw", "Dewiswch amser", "Dewiswch sut yr hoffech chi siarad",
                  "Ticiwch y blwch i ddweud y cawn ni gadw eich manylion, neu allwn ni ddim archebu eich lle",
                  "Dros y ffôn: byddwn yn eich ffonio", "Ar Teams: byddwn yn anfon y ddolen atoch drwy e-bost"):
        assert welsh in text, welsh
    assert 'value="Phone"' in page.text and 'value="Teams"' in page.text  # what the form sends stays as the list has it
    times = i18n.clock(soon(4), "cy")
    assert f"{times} i " in text and "am to" not in text and "pm to" not in text  # 14:00 i 14:30
    too_long = client.post(f"/sessions/{drop_in}", data=GOOD | {"phone": "0" * 300})
    assert "Rhaid i'r rhif ffôn fod yn 255 nod neu lai" in words(too_long)


def test_the_timetable_weeks_and_a_broken_links_next_step_are_in_welsh(programme: Programme,
                                                                         client: httpx.Client) -> None:
    start = soon(3)
    programme.session("Carers' forum", start, capacity=5)
    programme.run()
    timetable = words(client.get("/sessions", params={"lang": "cy"}))
    assert "Wythnos yn dechrau Dydd Llun " in timetable and "Week beginning" not in timetable
    broken = words(client.get("/cancel", params={"t": "x.y"}))
    assert "Os ydych chi'n dal eisiau canslo, gofynnwch am ddolen newydd" in broken
    assert "If you still want to cancel" not in broken
    english = words(client.get("/sessions", params={"lang": "en"}))
    assert "Week beginning Monday " in english


def test_how_was_it_offers_its_answers_in_welsh(programme: Programme, client: httpx.Client) -> None:
    forum = programme.session("Carers' forum", soon(3), capacity=5)
    registration = programme.register(forum, "Ann Example")
    programme.run()
    link = programme.services.web_context().signer.make(FEEDBACK.purpose, f"{registration}:{forum}", 3600)
    page = client.get("/feedback", params={"t": link, "lang": "cy"})
    assert page.status_code == 200
    for welsh in ("1: Gwael iawn", "3: Iawn", "5: Da iawn", "Oeddwn", "Yn rhannol", "Nac oeddwn"):
        assert welsh in words(page), welsh
    assert 'value="partly"' in page.text
    mistakes = client.post("/feedback", data={"t": link})
    assert "Dewiswch sut oedd y sesiwn, o 1 i 5" in words(mistakes)
    assert "Dewiswch a oeddech chi'n teimlo bod rhywun yn gwrando arnoch chi" in words(mistakes)


def test_the_feed_and_the_report_say_their_own_words_in_welsh(programme: Programme, client: httpx.Client) -> None:
    programme.session("Carers' forum", soon(3), capacity=5)
    programme.run()
    feed = client.get("/heard/feed", params={"lang": "cy"}).text
    assert "<title>Beth rydyn ni wedi'i glywed</title>" in feed
    assert "Beth mae pobl wedi'i ddweud wrth Having your say" in feed
    assert "<title>What we've heard</title>" in client.get("/heard/feed", params={"lang": "en"}).text
    report = build(programme.services.store)
    welsh, english = html.unescape(as_html(report, "Having your say", "cy")), as_html(report, "Having your say")
    for heading in ("Archebion", "Wedi'u cadarnhau", "Ar y rhestr aros", "Heb ddod", "Sgôr gyfartalog (1-5)",
                    "ddechrau'r rhaglen hyd at y sesiwn ddiweddaraf", "ddim eto"):
        assert heading in welsh, heading
    assert "Confirmed" in english and "not yet" in english and "Wedi'u cadarnhau" not in english
