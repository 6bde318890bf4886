"""Issue 32, for participants: a way in without email (the team's number on every booking page, "check your
email", the error pages and the help), a drop-in with no times left, asking before cancelling from "my bookings",
links to ask again, the phone field's hint, "Join the waiting list", a misspelt email domain questioned before
anything is booked, and the privacy notice's contact and the right to complain.

The pages run in-process on the service's own store, signer and lists; Graph is the emulator over HTTPS."""

from __future__ import annotations

import re
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


class TestADropInWithNoTimesLeft:
    @pytest.fixture
    def drop_ins(self, programme: Programme) -> dict[str, str]:
        """Two drop-ins: the first has one time, which Ann takes; the second has three free."""
        made = {name: programme.session(title, soon(days, hour=10), minutes=minutes, capacity=0, Kind="DropIn",
                                        SlotMinutes=20)
                for name, title, days, minutes in (("taken", "Talk about breaks", 3, 20),
                                                   ("free", "Talk about transport", 4, 60))}
        programme.run()
        [slot] = re.findall(r'name="slot" type="radio" value="([^"]+)"',
                            web(programme).get(f"/sessions/{made['taken']}").text)
        programme.register(made["taken"], "Ann", Slot=slot, ContactMethod="Teams")
        programme.run()
        return made

    def test_the_timetable_says_no_times_left_not_the_waiting_list(self, programme: Programme,
                                                                   drop_ins: dict[str, str]) -> None:
        page = web(programme).get("/sessions").text
        assert "No times left" in page and "waiting list" not in page

    def test_its_page_says_so_with_no_form_and_offers_other_drop_ins_and_the_number(
            self, programme: Programme, drop_ins: dict[str, str]) -> None:
        answer = with_number(programme).get(f"/sessions/{drop_ins['taken']}")
        assert answer.status_code == 200
        page = answer.text
        assert "there are no times left" in page and "<form" not in page
        assert f'<a class="govuk-link" href="/api/pages/sessions/{drop_ins["free"]}">Talk about transport</a>' in page
        assert "3 times left" in page and RING in page
        assert "tel:" not in web(programme).get(f"/sessions/{drop_ins['taken']}").text

    def test_a_post_for_it_answers_the_same_page_and_books_nothing(self, programme: Programme,
                                                                   drop_ins: dict[str, str]) -> None:
        before = len(registrations(programme))
        client = web(programme)
        answer = client.post(f"/sessions/{drop_ins['taken']}", data=GOOD | {"slot": "2030-01-01T10:00:00Z",
                                                                             "contact_method": "Teams"})
        assert answer.status_code == 200 and answer.text == client.get(f"/sessions/{drop_ins['taken']}").text
        assert 'href="#' not in answer.text.replace('href="#main-content"', "")  # no error linking nowhere
        assert len(registrations(programme)) == before


class TestTheForms:
    def test_cancelling_from_my_bookings_asks_first(self, programme: Programme, forum: str) -> None:
        client = web(programme)
        assert client.post(f"/sessions/{forum}", data=GOOD).status_code == 200
        programme.run()
        digest = programme.services.web_context().signer.digest(GOOD["email"])
        mine = client.get("/bookings/mine", params={"t": token(programme, MY_BOOKINGS.purpose, digest, 3600)}).text
        form = re.search(r'<form method="(\w+)" action="/api/pages/cancel"[^>]*>\s*(?:\{#.*#\}\s*)?'
                         r'<input type="hidden" name="t" value="([^"]+)">', mine)
        assert form is not None and form.group(1) == "get"  # opening the page that asks changes nothing
        asked = client.get("/cancel", params={"t": form.group(2)})
        assert "Do you want to cancel your place?" in asked.text and "Yes, cancel my place" in asked.text
        assert programme.services.web_context().store.ledger.get(f"cancel-request:{registrations(programme)[0].id}") \
            is None
        done = client.post("/cancel", data={"t": form.group(2)})
        assert "Your place is cancelled" in done.text

    def test_a_drop_ins_phone_field_says_beforehand_it_is_needed_by_phone(self, programme: Programme) -> None:
        drop_in = programme.session("Drop-in", soon(3, hour=10), capacity=0, Kind="DropIn", SlotMinutes=20)
        programme.run()
        page = web(programme).get(f"/sessions/{drop_in}").text
        field = re.search(r'<input[^>]*id="phone"[^>]*>', page)
        assert field is not None and 'aria-describedby="phone-hint"' in field.group(0)
        hint = re.search(r'id="phone-hint"[^>]*>\s*([^<]+)<', page)
        assert hint is not None and hint.group(1).strip().startswith("Needed if you choose “By phone”")

    def test_a_full_sessions_button_says_join_the_waiting_list(self, programme: Programme) -> None:
        full = programme.session("Carers' forum", soon(3), capacity=1)
        programme.register(full, "Ben")
        programme.run()
        page = web(programme).get(f"/sessions/{full}").text
        assert "Join the waiting list" in page and "Book my place" not in page

    @pytest.mark.parametrize(("typed", "meant"), [
        ("ann@gmial.com", "ann@gmail.com"), ("ann@gmail.co", "ann@gmail.com"), ("ann@hotmial.com", "ann@hotmail.com"),
        ("ann@yaho.com", "ann@yahoo.com"), ("ann@outlok.com", "ann@outlook.com"),
        ("ann@btinternt.com", "ann@btinternet.com"), ("ann@hotmal.co.uk", "ann@hotmail.co.uk")])
    def test_a_misspelt_domain_is_questioned_before_anything_is_booked(self, programme: Programme, forum: str,
                                                                       typed: str, meant: str) -> None:
        client = web(programme)
        answer = client.post(f"/sessions/{forum}", data=GOOD | {"email": typed})
        assert answer.status_code == 400 and registrations(programme) == []
        assert f'<a href="#email">Did you mean {meant}?' in answer.text  # in the error summary, linked to the field
        assert f'name="email_checked" value="{typed}"' in answer.text and f'value="{typed}"' in answer.text
        kept = client.post(f"/sessions/{forum}", data=GOOD | {"email": typed, "email_checked": typed})
        assert kept.status_code == 200 and "Check your email" in kept.text
        assert [item.fields["Email"] for item in registrations(programme)] == [typed]

    def test_a_common_domain_or_another_is_not_questioned(self, programme: Programme) -> None:
        forum = programme.session("Carers' forum", soon(3), capacity=12)
        programme.run()
        client = web(programme)
        for n, address in enumerate(("ann@gmail.com", "ben@example.org", "cat@gmx.com", "dan@council.gov.uk")):
            answer = client.post(f"/sessions/{forum}", data=GOOD | {"email": address, "name": f"Person {n}"})
            assert answer.status_code == 200, address
        assert len(registrations(programme)) == 4

    def test_a_changed_address_is_checked_again(self, programme: Programme, forum: str) -> None:
        answer = web(programme).post(f"/sessions/{forum}", data=GOOD | {"email": "ann@yaho.com",
                                                                         "email_checked": "ann@gmial.com"})
        assert answer.status_code == 400 and "Did you mean ann@yahoo.com?" in answer.text


class TestThePrivacyNotice:
    COMPLAIN = ('<a class="govuk-link" href="https://ico.org.uk/make-a-complaint/">make a complaint on the ICO\'s '
                "website</a>")

    def test_it_names_the_controllers_contact_and_the_right_to_complain_to_the_ico(self, programme: Programme) -> None:
        page = web(programme, privacy_controller="Towncastle Borough Council",
                   privacy_contact="dataprotection@towncastle.example.org", contact_phone=PHONE).get("/privacy").text
        assert "contact Towncastle Borough Council: dataprotection@towncastle.example.org." in page
        assert "Information Commissioner's Office (ICO)" in page and self.COMPLAIN in page
        assert '<a class="govuk-link" href="tel:03031231113">0303 123 1113</a>' in page

    def test_with_the_defaults_it_says_how_to_reach_the_programme_team(self, programme: Programme) -> None:
        name = programme.services.web_context().settings.programme_name
        with_phone = with_number(programme).get("/privacy").text
        assert (f'contact {name}: ring the programme team on <a class="govuk-link" href="tel:01632960000">{PHONE}</a> '
                f"({HOURS}), or reply to any of our emails.") in with_phone.replace("&#39;", "'")
        without = web(programme).get("/privacy").text
        assert f"contact {name}: contact the programme team by replying to any of our emails." in \
            without.replace("&#39;", "'")
        assert self.COMPLAIN in without


def test_the_subscribe_form_questions_a_misspelt_email_domain_and_keeps_it_if_sent_again(programme: Programme) -> None:
    from coprod.handoffs import SubscriberDue

    client = web(programme)
    asked = client.post("/subscribe", data={"name": "Ann", "email": "ann@hotmial.com"})
    assert asked.status_code == 400 and "Did you mean ann@hotmail.com?" in asked.text
    assert 'name="email_checked" value="ann@hotmial.com"' in asked.text
    assert programme.services.store.ledger.list(kind=SubscriberDue.KIND) == []  # nothing recorded yet
    typed = {"name": "Ann", "email": "ann@hotmial.com"}
    kept = client.post("/subscribe", data=typed | {"email_checked": "ann@hotmial.com"})
    assert kept.status_code == 200 and "Check your email" in kept.text
    [due] = programme.services.store.ledger.list(kind=SubscriberDue.KIND)
    assert due.payload["email"] == "ann@hotmial.com"
