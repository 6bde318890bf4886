"""Booking without a Microsoft account: the timetable, its calendar feed, a session's page and form, what a booking
does in SharePoint (at once, through Graph) and then through the usual sync, the limits, and "my bookings".

The pages run in-process on the service's own store, signer and lists; Graph is the emulator over HTTPS."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta
from typing import Any

import httpx
import icalendar
import pytest

from coprod.handoffs import MY_BOOKINGS, BookingsAsked, CancelRequest, pending
from coprod.pages.app import create_web_app
from coprod.templates import uk_clock
from graph_emulator import EmulatorServer
from graph_emulator.testing import AsgiTransport, BackgroundServer
from tests.support.fakes import FakeClock
from tests.support.programme import Programme, calendar_of, soon

BASE = "http://localhost:7071/api/pages"
GOOD = {"name": "Ann Example", "email": "ann.example@example.org", "role": "Carer", "access_needs": "Captions, please",
        "phone": "", "consent": "yes", "join_mailing_list": "", "wants_site_access": ""}


@pytest.fixture
def programme_settings() -> dict[str, str]:
    return {"COPROD_PUBLIC_URL": "https://coprod.example.org"}


def web(programme: Programme, client: str = "127.0.0.1", **limits: int) -> httpx.Client:
    """The pages on this machine, for a person at `client` (the connection's address); `limits` are the booking
    form's settings (`book_per_hour=30`)."""
    context = programme.services.web_context()
    context.settings = context.settings.model_copy(update=limits)
    return httpx.Client(transport=AsgiTransport(create_web_app(lambda: context), client=(client, 50000)),
                        base_url=BASE)


def registrations(programme: Programme) -> list[Any]:
    items = programme.backend.sharepoint.get_list(programme.site, "Registrations").items
    return [items[n] for n in sorted(items)]


@pytest.fixture
def timetable(programme: Programme) -> dict[str, str]:
    """Four sessions, as the officers set them up, read by a run."""
    made = {
        "carers": programme.session("Carers' drop-in", soon(3), capacity=3, Theme="Carers", Audience=["Carers"]),
        "choice": programme.session("Choosing my support", soon(10), capacity=0, Theme="Having choice",
                                    Audience=["Everyone"]),
        "draft": programme.session("Cooking together", soon(5), Status="Draft"),
        "past": programme.session("Last month's", soon(-30)),
    }
    programme.run()
    return made


class TestTimetable:
    def test_open_sessions_to_come_by_week_with_places_and_links(self, programme: Programme,
                                                                 timetable: dict[str, str]) -> None:
        page = web(programme).get("/sessions").text
        assert "Carers&#39; drop-in" in page and "Choosing my support" in page
        assert "Cooking together" not in page and "Last month" not in page  # a Draft, a past session
        assert f'href="/api/pages/sessions/{timetable["carers"]}"' in page
        assert "3 places left" in page and "Places available" in page
        assert re.search(r"Week beginning \w+day \d+ \w+ \d{4}", page)
        for n in range(3):
            programme.register(timetable["carers"], f"Person {n}")
        programme.run()
        assert "Full: join the waiting list" in web(programme).get("/sessions").text

    def test_filters_by_theme_and_audience(self, programme: Programme, timetable: dict[str, str]) -> None:
        client = web(programme)
        carers = client.get("/sessions", params={"theme": "Carers"}).text
        assert "Carers&#39; drop-in" in carers and "Choosing my support" not in carers
        professionals = client.get("/sessions", params={"audience": "Professionals"}).text
        assert "Choosing my support" in professionals and "drop-in" not in professionals  # "Everyone" includes them

    def test_the_calendar_feed_has_each_session_with_its_booking_page(self, programme: Programme,
                                                                      timetable: dict[str, str]) -> None:
        answer = web(programme).get("/sessions.ics")
        assert answer.headers["content-type"].startswith("text/calendar")
        feed = icalendar.Calendar.from_ical(answer.content)
        events = {str(e["summary"]): e for e in feed.walk("VEVENT")}
        assert set(events) == {"Carers' drop-in", "Choosing my support"} and feed["method"] == "PUBLISH"
        assert str(events["Choosing my support"]["url"]) == (
            f"https://coprod.example.org/api/pages/sessions/{timetable['choice']}")
        assert "attendee" not in events["Choosing my support"]  # nobody's address in a public feed


class TestBooking:
    def test_the_form_has_the_fields_other_tools_post(self, programme: Programme, timetable: dict[str, str]) -> None:
        page = web(programme).get(f"/sessions/{timetable['carers']}").text
        for name in ("name", "email", "role", "access_needs", "phone", "consent", "join_mailing_list",
                     "wants_site_access"):
            assert f'name="{name}"' in page, name
        assert 'href="/api/pages/privacy"' in page

    def test_mistakes_are_listed_and_nothing_typed_is_lost(self, programme: Programme,
                                                           timetable: dict[str, str]) -> None:
        answer = web(programme).post(f"/sessions/{timetable['carers']}",
                                     data=GOOD | {"email": "ann(at)example.org", "consent": ""})
        assert answer.status_code == 400
        page = answer.text
        assert page.count('class="govuk-list govuk-error-summary__list"') == 1
        assert '<a href="#email">Enter an email address in the correct format' in page
        assert '<a href="#consent">Tick the box' in page
        assert 'value="Ann Example"' in page and 'value="ann(at)example.org"' in page and "Captions, please" in page
        assert re.search(r'id="consent"[^>]*aria-invalid="true"', page)
        assert registrations(programme) == []

    def test_a_booking_is_in_sharepoint_before_the_page_answers_and_the_sync_confirms_it(
            self, programme: Programme, timetable: dict[str, str]) -> None:
        answer = web(programme).post(f"/sessions/{timetable['carers']}", data=GOOD)
        assert answer.status_code == 200 and "Check your email" in answer.text
        [item] = registrations(programme)
        assert {k: item.fields.get(k) for k in ("Title", "Email", "Role", "AccessNeeds", "Consent",
                                                "SessionLookupId")} == {
            "Title": "Ann Example", "Email": "ann.example@example.org", "Role": "Carer",
            "AccessNeeds": "Captions, please", "Consent": True, "SessionLookupId": timetable["carers"]}
        programme.run()
        assert programme.field("Registrations", str(item.id), "Status") == "Confirmed"
        [mail] = programme.mail_to("ann.example@example.org")
        assert mail.subject == "Your place is booked: Carers' drop-in"
        assert "https://teams.microsoft.com/l/meetup-join/" in (mail.text_body or "")
        assert [a.name for a in mail.attachments] == ["session.ics"]

    def test_a_robot_filling_the_hidden_field_books_nothing(self, programme: Programme,
                                                            timetable: dict[str, str]) -> None:
        answer = web(programme).post(f"/sessions/{timetable['carers']}", data=GOOD | {"website": "http://spam"})
        assert "Check your email" in answer.text and registrations(programme) == []

    def test_a_double_click_books_once_and_an_address_a_few_times_a_day(self, programme: Programme,
                                                                         timetable: dict[str, str]) -> None:
        programme.clock.to_uk_midday()  # "a day": not across midnight
        client = web(programme)
        for _ in range(2):
            assert "Check your email" in client.post(f"/sessions/{timetable['carers']}", data=GOOD).text
        assert len(registrations(programme)) == 1
        programme.clock.offset += 120
        for _ in range(3):  # the same address for other sessions: 3 a day at most, then silently nothing
            assert "Check your email" in client.post(f"/sessions/{timetable['choice']}", data=GOOD).text
            programme.clock.offset += 120
        assert len(registrations(programme)) == 3

    def test_a_family_books_five_people_from_one_place_and_a_flood_waits(self, programme: Programme,
                                                                         timetable: dict[str, str]) -> None:
        client = web(programme)
        answers = [client.post(f"/sessions/{timetable['choice']}",
                               data=GOOD | {"name": f"Person {n}", "email": f"person{n}@example.org"})
                   for n in range(12)]
        assert [a.status_code for a in answers] == [200] * 10 + [429, 429]
        assert "Please try again in a few minutes" in answers[-1].text
        assert len(registrations(programme)) == 10

    def test_graph_refusing_the_booking_says_nothing_was_saved(self, programme: Programme, emulator: EmulatorServer,
                                                               timetable: dict[str, str]) -> None:
        emulator.add_fault(status=403, method="POST", path="/lists/Registrations/items", count=5)
        answer = web(programme).post(f"/sessions/{timetable['carers']}", data=GOOD)
        assert answer.status_code == 503 and "nothing was saved" in answer.text

    def test_a_session_not_open_has_no_form(self, programme: Programme, timetable: dict[str, str]) -> None:
        for session in (timetable["draft"], timetable["past"], "99999"):
            answer = web(programme).get(f"/sessions/{session}")
            assert answer.status_code == 404 and "This session can't be booked" in answer.text


def test_fifty_bookings_at_once_for_ten_places(programme: Programme) -> None:
    """50 people press "Book" together: every booking is kept, and the first 10 created get the places."""
    session = programme.session("Popular", soon(4), capacity=10)
    programme.run()
    context = programme.services.web_context()
    context.settings = context.settings.model_copy(update={"book_per_client_per_minute": 100,
                                                            "book_per_hour": 1000})
    answers: list[int] = []
    with BackgroundServer(create_web_app(lambda: context), name="pages") as server:
        start = threading.Barrier(50)

        def book(n: int) -> None:  # 50 people, each from their own address (127.0.0.0/8 is all this machine)
            with httpx.Client(base_url=f"{server.url}/api/pages", timeout=60,
                              transport=httpx.HTTPTransport(local_address=f"127.0.0.{n + 2}")) as http:
                start.wait()
                answers.append(http.post(f"/sessions/{session}", data=GOOD | {
                    "name": f"Person {n}", "email": f"person{n}@example.org"}).status_code)

        threads = [threading.Thread(target=book, args=(n,)) for n in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert answers == [200] * 50
    items = registrations(programme)
    assert len(items) == 50 and len({i.fields["Email"] for i in items}) == 50
    programme.run()
    by_creation = sorted(items, key=lambda i: (i.created, i.id))
    statuses = [programme.field("Registrations", str(i.id), "Status") for i in by_creation]
    assert statuses == ["Confirmed"] * 10 + ["Waitlisted"] * 40


class TestMyBookings:
    def test_the_page_answers_the_same_and_only_a_booked_address_gets_a_link(
            self, programme: Programme, timetable: dict[str, str]) -> None:
        programme.clock.to_uk_midday()  # "once a day": not across midnight
        client = web(programme)
        client.post(f"/sessions/{timetable['carers']}", data=GOOD)
        programme.run()
        for address in ("ann.example@example.org", "nobody@example.org"):
            answer = client.post("/bookings", data={"email": address})
            assert answer.status_code == 200 and "If <strong>" in answer.text
        assert len(pending(programme.services.store.ledger, BookingsAsked)) == 2
        programme.run()
        assert programme.mail_to("nobody@example.org") == []
        [link_mail] = [m for m in programme.mail_to("ann.example@example.org") if m.subject.startswith("Your bookings")]
        link = re.search(r"https://coprod\.example\.org(/api/pages/bookings/mine\?t=\S+)", link_mail.text_body or "")
        assert link is not None
        client.post("/bookings", data={"email": "ann.example@example.org"})  # again the same day: no second email
        programme.run()
        assert len([m for m in programme.mail_to("ann.example@example.org")
                    if m.subject.startswith("Your bookings")]) == 1

        page = client.get(link.group(1).removeprefix("/api/pages")).text
        assert "Carers&#39; drop-in" in page and "Your place is booked." in page
        token = re.search(r'name="t" value="([^"]+)"', page)
        assert token is not None
        assert "cancelled" in client.post("/cancel", data={"t": token.group(1)}).text.lower()
        assert pending(programme.services.store.ledger, CancelRequest)
        programme.run()
        [item] = registrations(programme)
        assert programme.field("Registrations", str(item.id), "Status") == "Cancelled"

    def test_the_page_shows_each_booking_and_a_place_on_the_waiting_list(self, programme: Programme) -> None:
        session = programme.session("Full session", soon(4), capacity=1)
        for n in range(3):
            programme.register(session, f"Person {n}", Email=f"person{n}@example.org")
        programme.run()
        token = programme.services.signer.make(MY_BOOKINGS.purpose,
                                               programme.services.signer.digest("person2@example.org"), 3600)
        page = web(programme).get("/bookings/mine", params={"t": token}).text
        assert "Full session" in page and "You're on the waiting list: number 2." in page

    def test_a_link_for_another_purpose_or_expired_shows_nothing(self, programme: Programme,
                                                                 timetable: dict[str, str]) -> None:
        signer = programme.services.signer
        client = web(programme)
        other = signer.make("preferences", "x", 3600)
        assert client.get("/bookings/mine", params={"t": other}).status_code == 400
        old = signer.make(MY_BOOKINGS.purpose, "x", -10)
        assert client.get("/bookings/mine", params={"t": old}).status_code == 410

    def test_a_mistyped_address_is_asked_again(self, programme: Programme) -> None:
        answer = web(programme).post("/bookings", data={"email": "ann(at)example"})
        assert answer.status_code == 400 and 'aria-invalid="true"' in answer.text


def test_the_privacy_notice_says_who_how_long_and_how_to_ask(emulator: EmulatorServer, env: dict[str, str],
                                                            clock: FakeClock) -> None:
    """From the settings: the controller, the contact, the retention; linked from every page's footer and every
    email's (issue 17's notice, item 5)."""
    with Programme.open(emulator, env, clock, COPROD_PRIVACY_CONTROLLER="Towncastle Borough Council",
                        COPROD_PRIVACY_CONTACT="dataprotection@towncastle.example.org", COPROD_RETENTION_DAYS="180",
                        COPROD_PUBLIC_URL="https://coprod.example.org") as programme:
        page = web(programme).get("/privacy").text
        assert "Towncastle Borough Council is responsible" in page and "for up to 180 days after" in page
        assert "dataprotection@towncastle.example.org" in page
        assert 'href="/api/pages/privacy">How we use your details</a>' in web(programme).get("/sessions").text
        session = programme.session("Carers' drop-in", soon(3))
        programme.register(session, "Ann Example")
        programme.run()
        [mail] = programme.mail_to("ann.example@example.org")
        assert "How we use your details: https://coprod.example.org/api/pages/privacy" in (mail.text_body or "")
        assert '<a href="https://coprod.example.org/api/pages/privacy">How we use your details</a>' in (
            mail.html_body or "")


class TestAssistedBooking:
    """An officer books for someone who doesn't use email (ContactPreference Phone or Post): the sync treats it
    like any booking but emails nobody; the team's daily digest and the facilitators' brief say who to tell."""

    ADMINS = "coproduction-admins@council.example.org"

    @pytest.fixture
    def programme_settings(self) -> dict[str, str]:
        return {"COPROD_PUBLIC_URL": "https://coprod.example.org", "COPROD_ADMIN_EMAIL": self.ADMINS}

    @pytest.fixture
    def team(self, programme: Programme) -> Programme:
        """The programme, with the team's address set."""
        return programme

    def test_no_email_goes_and_the_team_gets_one_list_a_day(self, team: Programme) -> None:
        team.clock.to_uk_midday()
        session = team.session("Carers' drop-in", soon(3), capacity=1, Facilitators="fac@council.example.org")
        by_phone = team.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone="01632 960 001")
        by_post = team.register(session, "Pam Post", Email="", ContactPreference="Post",
                                PostalAddress="1 High Street\nTowncastle\nTC1 1AA")
        team.run()
        assert [team.field("Registrations", r, "Status") for r in (by_phone, by_post)] == ["Confirmed", "Waitlisted"]
        sent = team.mail()
        assert [m.to for m in sent if m.to != (self.ADMINS,)] == []  # nobody was emailed about these bookings
        [digest] = [m for m in sent if m.to == (self.ADMINS,)]
        assert digest.subject == "2 people to phone or write to about their booking"
        body = digest.text_body or ""
        assert "Pat Phone: their place is booked." in body and "Phone: 01632 960 001" in body
        assert "Pam Post: they're on the waiting list (number 1)." in body
        assert "Post to: 1 High Street, Towncastle, TC1 1AA" in body
        team.run()
        assert len([m for m in team.mail() if m.to == (self.ADMINS,)]) == 1  # once a day, and each once

    def test_a_post_booking_without_an_address_needs_attention(self, team: Programme) -> None:
        session = team.session("Carers' drop-in", soon(3))
        booking = team.register(session, "Pam Post", Email="", ContactPreference="Post")
        team.run()
        assert team.field("Registrations", booking, "Status") == "NeedsAttention"
        assert "postal address" in str(team.field("Registrations", booking, "StatusNote"))

    def test_the_facilitators_brief_lists_them_with_the_number_to_ring(self, team: Programme) -> None:
        session = team.session("Carers' drop-in", soon(1), capacity=5, Facilitators="fac@council.example.org")
        team.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone="01632 960 001")
        team.register(session, "Ann Email")
        team.run()
        [brief] = [m for m in team.mail() if m.to == ("fac@council.example.org",)]
        assert "- Pat Phone, by phone: 01632 960 001" in (brief.text_body or "")
        assert "Ann Email" not in (brief.text_body or "")


class TestDropIns:
    """A drop-in offers appointments of SlotMinutes from its start to its end: one person a time, each with how
    they'd like to talk (phone, Teams, in person)."""

    @pytest.fixture
    def drop_in(self, programme: Programme) -> str:
        start = soon(3, hour=10)  # 10am UTC; the facilitators' brief is due 48 hours before
        made = programme.session("Drop-in: a one-to-one conversation", start, minutes=60, capacity=0,
                                 Kind="DropIn", SlotMinutes=20, Facilitators="fac@council.example.org")
        programme.run()
        return made

    @staticmethod
    def slots(page: str) -> list[str]:
        return re.findall(r'name="slot" type="radio" value="([^"]+)"', page)

    def test_its_page_offers_the_free_times_and_the_ways_to_talk(self, programme: Programme, drop_in: str) -> None:
        page = web(programme).get(f"/sessions/{drop_in}").text
        assert len(self.slots(page)) == 3 and "3 times free." in page
        assert re.findall(r'name="contact_method" type="radio" value="([^"]+)"', page) == ["Phone", "Teams",
                                                                                            "In person"]
        answer = web(programme).post(f"/sessions/{drop_in}", data=GOOD | {"contact_method": "Phone"})
        assert answer.status_code == 400
        assert '<a href="#slot">Choose a time</a>' in answer.text
        assert '<a href="#phone">Enter a phone number, so we can ring you at your time</a>' in answer.text

    def test_two_people_cannot_take_one_time(self, programme: Programme, drop_in: str) -> None:
        client = web(programme)
        first_time = self.slots(client.get(f"/sessions/{drop_in}").text)[0]
        ann = client.post(f"/sessions/{drop_in}", data=GOOD | {"slot": first_time, "contact_method": "Teams"})
        ben = web(programme, client="192.0.2.20").post(f"/sessions/{drop_in}", data=GOOD | {
            "name": "Ben", "email": "ben@example.org", "slot": first_time, "contact_method": "Teams"})
        assert ann.status_code == 200 and ben.status_code == 409
        assert "Someone has just booked that time. Please choose another" in ben.text
        assert len(registrations(programme)) == 1
        programme.run()
        assert first_time not in self.slots(client.get(f"/sessions/{drop_in}").text)  # taken, as the list shows

    def test_two_bookings_for_one_time_in_the_list_keep_the_first(self, programme: Programme, drop_in: str) -> None:
        time = web(programme).get(f"/sessions/{drop_in}").text
        slot = self.slots(time)[1]
        first = programme.register(drop_in, "Ann", Slot=slot, ContactMethod="Teams")
        second = programme.register(drop_in, "Ben", Slot=slot, ContactMethod="In person")
        none = programme.register(drop_in, "Cat", ContactMethod="Teams")
        programme.run()
        assert [programme.field("Registrations", r, "Status") for r in (first, second, none)] == [
            "Confirmed", "NeedsAttention", "NeedsAttention"]
        assert "Someone booked this appointment time just before you" in str(
            programme.field("Registrations", second, "StatusNote"))

    def test_the_confirmation_names_the_time_and_the_brief_lists_each_with_how(self, programme: Programme,
                                                                              drop_in: str) -> None:
        client = web(programme)
        times = self.slots(client.get(f"/sessions/{drop_in}").text)
        client.post(f"/sessions/{drop_in}", data=GOOD | {"slot": times[2], "contact_method": "Phone",
                                                          "phone": "01632 960 002"})
        programme.register(drop_in, "Ben", Slot=times[0], ContactMethod="Teams", Phone="01632 960 003")
        programme.run()
        start = datetime.fromisoformat(times[0])
        programme.clock.offset += (start - timedelta(hours=47)).timestamp() - programme.clock()
        programme.run()  # 47 hours before the start: the brief (48 hours ahead) is due
        [confirmation] = programme.mail_to(GOOD["email"])
        body = confirmation.text_body or ""
        slot = datetime.fromisoformat(times[2])
        assert f"to {uk_clock(slot + timedelta(minutes=20))} (UK time)" in body
        assert "By phone: we'll ring you on the number you gave us at your time." in body  # (booked online)
        assert "teams.microsoft.com" not in body  # a phone appointment has no join link
        event = calendar_of(confirmation).walk("VEVENT")[0]
        assert event.decoded("dtstart") == slot and event.decoded("dtend") == slot + timedelta(minutes=20)
        [brief] = [m for m in programme.mail() if m.to == ("fac@council.example.org",)]
        text = brief.text_body or ""
        assert f"- {uk_clock(slot)} to {uk_clock(slot + timedelta(minutes=20))}: Ann Example, phone, ring " \
               "01632 960 002" in text
        assert "Ben, teams" in text and "01632 960 003" not in text  # a number only for an appointment by phone


def test_hostile_text_in_the_form_is_kept_safe_and_stored_clean(programme: Programme,
                                                                timetable: dict[str, str]) -> None:
    """Any Unicode, markup, line and paragraph separators, a bidi override: shown escaped when the form comes back
    with a mistake, and stored as one clean line (the name goes into email headers later)."""
    hostile = "Zoë <script>alert(1)</script>\u2028Bcc: x@evil.example\u202e \"O'Brien\""
    client = web(programme)
    back = client.post(f"/sessions/{timetable['carers']}", data=GOOD | {"name": hostile, "consent": ""})
    assert back.status_code == 400 and "<script>" not in back.text and "&lt;script&gt;" in back.text
    assert client.post(f"/sessions/{timetable['carers']}", data=GOOD | {"name": hostile}).status_code == 200
    [item] = registrations(programme)
    title = item.fields["Title"]
    assert "\u2028" not in title and "\u202e" not in title and "\n" not in title and title.startswith("Zoë <script>")
    forged = web(programme, client="192.0.2.30").post(f"/sessions/{timetable['carers']}", data=GOOD | {
        "slot": "2030-01-01T00:00:00Z", "email": "other@example.org"})
    assert forged.status_code == 200  # a group session ignores a slot: nothing of it is stored
    assert all("Slot" not in i.fields for i in registrations(programme))


class CountingStore:
    """The service's store, counting the reads the pages make of it."""

    def __init__(self, store: Any) -> None:
        self.store, self.reads = store, 0
        self.mirror = _Counted(self, store.mirror)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


class _Counted:
    """The mirror part, counting each method asked for as a read."""

    def __init__(self, counting: CountingStore, part: Any) -> None:
        self._counting, self._part = counting, part

    def __getattr__(self, name: str) -> Any:
        self._counting.reads += 1
        return getattr(self._part, name)


def test_a_sessions_page_is_one_store_read_however_many_sessions_there_are(programme: Programme) -> None:
    """Issue 24, LOW: every anonymous session page read every session's registrations (21 Table Storage requests
    with 2,000 registrations). Now: its own registrations, once; the list of sessions is held by the process."""
    sessions = [programme.session(f"Session {n}", soon(3 + n), capacity=50) for n in range(12)]
    for n in range(60):
        programme.register(sessions[n % 12], f"Person {n}")
    programme.run()
    context = programme.services.web_context()
    counting = CountingStore(programme.services.store)
    context.store = counting  # type: ignore[assignment]
    client = httpx.Client(transport=AsgiTransport(create_web_app(lambda: context)), base_url=BASE)
    assert client.get(f"/sessions/{sessions[5]}").status_code == 200  # the first: the sessions too
    counting.reads = 0
    for session in sessions:
        page = client.get(f"/sessions/{session}")
        assert page.status_code == 200 and "45 places left" in page.text
    assert counting.reads == len(sessions)
