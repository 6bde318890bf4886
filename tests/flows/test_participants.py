"""Issue 32, for participants: a way in without email (the team's number on every booking page, "check your
email", the error pages and the help), a drop-in with no times left, asking before cancelling from "my bookings",
links to ask again, the phone field's hint, "Join the waiting list", a misspelt email domain questioned before
anything is booked, and the privacy notice's contact and the right to complain.

The pages run in-process on the service's own store, signer and lists; Graph is the emulator over HTTPS."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from coprod.handoffs import CANCEL, MY_BOOKINGS
from coprod.pages.app import create_web_app
from graph_emulator.testing import AsgiTransport
from tests.support.programme import Programme, soon

BASE = "http://localhost:7071/api/pages"
PHONE, HOURS = "01632 960 000", "Monday to Friday, 9am to 5pm"
RING = (f'Or ring us on <a class="govuk-link" href="tel:01632960000">{PHONE}</a> ({HOURS}) to book by phone or '
        "post.")
GOOD = {"name": "Ann Example", "email": "ann.example@example.org", "role": "Carer", "access_needs": "",
        "phone": "", "consent": "yes", "join_mailing_list": "", "wants_site_access": ""}


@pytest.fixture
def programme_settings() -> dict[str, str]:
    return {"COPROD_PUBLIC_URL": "https://coprod.example.org"}


def web(programme: Programme, **settings: Any) -> httpx.Client:
    """The pages on this machine; `settings` change the programme's (`contact_phone=...`)."""
    context = programme.services.web_context()
    context.settings = context.settings.model_copy(update=settings)
    return httpx.Client(transport=AsgiTransport(create_web_app(lambda: context), client=("127.0.0.1", 50000)),
                        base_url=BASE)


def with_number(programme: Programme) -> httpx.Client:
    return web(programme, contact_phone=PHONE, contact_hours=HOURS)


def registrations(programme: Programme) -> list[Any]:
    items = programme.backend.sharepoint.get_list(programme.site, "Registrations").items
    return [items[n] for n in sorted(items)]


def token(programme: Programme, purpose: str, subject: str, lifetime: float) -> str:
    return programme.services.web_context().signer.make(purpose, subject, lifetime)


@pytest.fixture
def forum(programme: Programme) -> str:
    made = programme.session("Carers' forum", soon(3), capacity=2)
    programme.run()
    return made


class TestAWayInWithoutEmail:
    def pages_seen(self, programme: Programme, client: httpx.Client, forum: str) -> dict[str, httpx.Response]:
        digest = programme.services.web_context().signer.digest(GOOD["email"])
        return {
            "timetable": client.get("/sessions"),
            "a session": client.get(f"/sessions/{forum}"),
            "its form, with a mistake": client.post(f"/sessions/{forum}", data=GOOD | {"name": ""}),
            "booked": client.post(f"/sessions/{forum}", data=GOOD),
            "see your bookings": client.get("/bookings"),
            "check your email": client.post("/bookings", data={"email": GOOD["email"]}),
            "your bookings": client.get("/bookings/mine", params={
                "t": token(programme, MY_BOOKINGS.purpose, digest, 3600)}),
            "a session that can't be booked": client.get("/sessions/999"),
            "no page": client.get("/nowhere"),
            "an expired link": client.get("/bookings/mine", params={
                "t": token(programme, MY_BOOKINGS.purpose, digest, -1)}),
            "a broken link": client.get("/cancel", params={"t": "x.y"}),
        }

    def test_with_a_number_every_booking_page_offers_it_to_book_by_phone_or_post(self, programme: Programme,
                                                                                  forum: str) -> None:
        for name, answer in self.pages_seen(programme, with_number(programme), forum).items():
            assert RING in answer.text, name
            assert "reply to any of our emails" not in answer.text, name
            assert (f'doesn\'t work for you, ring us on <a class="govuk-footer__link" href="tel:01632960000">'
                    f"{PHONE}</a> ({HOURS}) and tell us.") in answer.text, name
        assert "or ring us on" in with_number(programme).post(f"/sessions/{forum}", data=GOOD).text  # the help

    def test_without_a_number_they_say_contact_the_programme_team(self, programme: Programme, forum: str) -> None:
        for name, answer in self.pages_seen(programme, web(programme), forum).items():
            assert "ring us" not in answer.text and "tel:" not in answer.text, name
            assert "doesn't work for you, contact the programme team (reply to any of our emails) and tell us." in \
                answer.text, name

    def test_the_number_is_a_tel_link_keeping_an_international_plus(self, programme: Programme, forum: str) -> None:
        page = web(programme, contact_phone="+44 (0)1632 960-000").get("/sessions").text
        assert 'href="tel:+4401632960000">+44 (0)1632 960-000</a> to book by phone or post.' in page


class TestLinksToAskAgain:
    def test_an_expired_or_broken_bookings_or_cancel_link_links_to_the_bookings_page(self, programme: Programme,
                                                                                      forum: str) -> None:
        client = web(programme)
        digest = programme.services.web_context().signer.digest(GOOD["email"])
        expired = client.get("/bookings/mine", params={"t": token(programme, MY_BOOKINGS.purpose, digest, -1)})
        broken = client.get("/cancel", params={"t": token(programme, CANCEL.purpose, f"1:{digest}", 3600)[:-4]})
        for answer in (expired, broken):
            assert '<a class="govuk-link" href="/api/pages/bookings">Ask for a new link to your bookings</a>' in \
                answer.text
        assert expired.status_code == 410 and broken.status_code == 400
        unsubscribe = client.get("/unsubscribe", params={"t": "x.y"}).text  # not a link the bookings page sends
        assert "Ask for a new link to your bookings" not in unsubscribe
