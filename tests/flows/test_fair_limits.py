"""The public forms' limits, tried as an attacker would (issue 24): each action counts apart, one client can never
use up everyone's allowance, made-up addresses cannot hold a session's places, a failure spends nothing, values
the list cannot hold are refused before Graph is asked, and the client is told apart as Azure's front end sees it.

The pages run in-process on the service's own store, signer and lists; Graph is the emulator over HTTPS. Where it
matters how the client is known, requests go through Microsoft's own Functions adapter (`func.AsgiMiddleware`),
as functions/pages.py serves them in Azure."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from coprod.pages.app import create_web_app
from coprod.pages.context import without_port
from coprod.pages.limits import mailbox_key
from graph_emulator import EmulatorServer
from graph_emulator.testing import AsgiTransport
from tests.flows.test_booking import BASE, GOOD, registrations
from tests.support.fakes import FakeClock
from tests.support.functions_host import FunctionsHostTransport, front_end
from tests.support.programme import Programme, soon


@pytest.fixture
def clock(clock: FakeClock) -> FakeClock:
    clock.to_uk_midday()  # "a day": not across midnight
    return clock


@pytest.fixture
def programme_settings() -> dict[str, str]:
    return {"COPROD_PUBLIC_URL": "https://coprod.example.org"}


def hosted(programme: Programme, **limits: int) -> httpx.Client:
    """The pages as the Functions host serves them in Azure; `limits` are the forms' settings
    (`book_per_hour=30`)."""
    context = programme.services.web_context()
    context.settings = context.settings.model_copy(update=limits)
    return httpx.Client(transport=FunctionsHostTransport(create_web_app(lambda: context)), base_url=BASE)


def local(programme: Programme, client: str = "127.0.0.1", **limits: int) -> httpx.Client:
    """The pages as `python -m coprod serve` serves them: the client is the connection's address."""
    context = programme.services.web_context()
    context.settings = context.settings.model_copy(update=limits)
    return httpx.Client(transport=AsgiTransport(create_web_app(lambda: context), client=(client, 50000)),
                        base_url=BASE)


def person(n: int) -> dict[str, str]:
    return GOOD | {"name": f"Person {n}", "email": f"person{n}@example.org"}


def creates(programme: Programme) -> int:
    """Requests to make a Registrations item that reached Graph."""
    return sum(1 for e in programme.backend.log.snapshot()
               if e.operation.startswith("POST") and e.path.endswith("/lists/Registrations/items"))


class TestEachActionItsOwnLimits:
    """Finding 3: look-ups counted against booking, and one client could spend everyone's hour."""

    def test_looking_up_bookings_never_spends_booking(self, programme: Programme) -> None:
        session = programme.session("Open to all", soon(5), capacity=0)
        programme.run()
        pages = hosted(programme, book_per_client_per_minute=10, book_per_hour=30)
        for n in range(40):  # look-ups from 40 people: more than booking's whole hour
            pages.post("/bookings", data={"email": f"looker{n}@example.org"}, headers=front_end(f"198.51.100.{n}"))
        answer = pages.post(f"/sessions/{session}", data=person(1), headers=front_end("203.0.113.9"))
        assert answer.status_code == 200 and "Check your email" in answer.text
        assert len(registrations(programme)) == 1

    def test_one_client_cannot_use_up_everyones_hour_of_bookings(self, programme: Programme) -> None:
        session = programme.session("Open to all", soon(5), capacity=0)
        programme.run()
        pages = hosted(programme, book_per_client_per_minute=10, book_per_hour=40)
        flood = []
        for n in range(40):  # ten a minute, for four minutes: within its minute each time
            flood.append(pages.post(f"/sessions/{session}", data=person(n), headers=front_end("192.0.2.66")))
            programme.clock.offset += 6.1
        assert sum(a.status_code == 200 for a in flood) == 10  # a tenth of everyone's hour, then a clear page
        assert "Please try again in a few minutes" in flood[-1].text
        answer = pages.post(f"/sessions/{session}", data=person(99), headers=front_end("203.0.113.9"))
        assert answer.status_code == 200 and len(registrations(programme)) == 11

    def test_a_hundred_posts_from_one_client_leave_room_for_a_genuine_subscriber(self, programme: Programme) -> None:
        pages = hosted(programme, subscribe_per_client_per_minute=5, subscribe_per_hour=100)
        for n in range(100):
            pages.post("/subscribe", data={"email": f"bot{n}@example.org"}, headers=front_end("192.0.2.66"))
            programme.clock.offset += 13  # five a minute: within the minute's limit each time
        answer = pages.post("/subscribe", data={"email": "genuine@example.org", "name": "Gen"},
                            headers=front_end("203.0.113.9"))
        assert answer.status_code == 200
        asked = [e.payload["email"] for e in programme.services.store.ledger.list(kind="subscriber")]
        assert "genuine@example.org" in asked and len(asked) == 11

    def test_everyones_limit_says_so_in_plain_words(self, programme: Programme) -> None:
        session = programme.session("Open to all", soon(5), capacity=0)
        programme.run()
        pages = hosted(programme, book_per_client_per_minute=10, book_per_hour=3)
        answers = [pages.post(f"/sessions/{session}", data=person(n), headers=front_end(f"198.51.100.{n}"))
                   for n in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert "Please try again in an hour" in answers[-1].text and "Nothing was saved" in answers[-1].text


class TestMadeUpAddresses:
    """Finding 4: eight posts from one client filled a five-place session and all three drop-in times."""

    def test_one_client_holds_at_most_a_third_of_a_sessions_places(self, programme: Programme) -> None:
        session = programme.session("Small group", soon(5), capacity=5)
        programme.run()
        pages = hosted(programme)
        answers = [pages.post(f"/sessions/{session}", data=person(n), headers=front_end("192.0.2.66"))
                   for n in range(8)]
        assert [a.status_code for a in answers] == [200, 200] + [429] * 6
        assert "we can't take more bookings for this session from here" in answers[-1].text
        real = pages.post(f"/sessions/{session}", data=GOOD, headers=front_end("203.0.113.9"))
        assert real.status_code == 200
        programme.run()
        [ann] = [i for i in registrations(programme) if i.fields["Email"] == GOOD["email"]]
        assert programme.field("Registrations", str(ann.id), "Status") == "Confirmed"

    def test_one_client_takes_one_of_a_drop_ins_three_times(self, programme: Programme) -> None:
        drop_in = programme.session("Drop-in", soon(3, hour=10), minutes=60, capacity=0, Kind="DropIn",
                                    SlotMinutes=20)
        programme.run()
        pages = hosted(programme)
        times = ["T10:00:00Z", "T10:20:00Z", "T10:40:00Z"]
        day = soon(3, hour=10).strftime("%Y-%m-%d")
        answers = [pages.post(f"/sessions/{drop_in}", headers=front_end("192.0.2.66"),
                              data=person(n) | {"slot": day + times[n % 3], "contact_method": "Teams"})
                   for n in range(8)]
        assert [a.status_code for a in answers] == [200] + [429] * 7
        real = pages.post(f"/sessions/{drop_in}", headers=front_end("203.0.113.9"),
                          data=GOOD | {"slot": day + times[1], "contact_method": "Phone", "phone": "01632 960 001"})
        assert real.status_code == 200 and len(registrations(programme)) == 2


class TestNothingSpentOnFailure:
    """Finding 5: limits and drop-in times were spent before the item was made, and not given back."""

    def test_a_name_longer_than_the_list_holds_is_refused_inline_before_graph(self, programme: Programme) -> None:
        session = programme.session("Small group", soon(5), capacity=5)
        programme.run()
        programme.backend.log.clear()
        pages = local(programme, book_per_client_per_minute=1)
        answer = pages.post(f"/sessions/{session}", data=GOOD | {"name": "A" * 256})
        assert answer.status_code == 400
        assert '<a href="#name">Your name must be 255 characters or less</a>' in answer.text
        assert 'value="' + "A" * 256 + '"' in answer.text  # what they typed is kept, to shorten
        assert creates(programme) == 0
        assert pages.post(f"/sessions/{session}", data=GOOD | {"name": "A" * 255}).status_code == 200  # nothing spent
        assert pages.post(f"/sessions/{session}", data=GOOD | {"access_needs": "x" * 2001}).status_code == 400

    def test_a_drop_in_time_is_free_again_at_once_when_its_booking_fails(self, programme: Programme,
                                                                         emulator: EmulatorServer) -> None:
        drop_in = programme.session("Drop-in", soon(3, hour=10), minutes=60, capacity=0, Kind="DropIn",
                                    SlotMinutes=20)
        programme.run()
        slot = soon(3, hour=10).strftime("%Y-%m-%dT10:00:00Z")
        emulator.add_fault(status=403, method="POST", path="/lists/Registrations/items", count=1)
        failed = local(programme).post(f"/sessions/{drop_in}", data=GOOD | {"slot": slot, "contact_method": "Teams"})
        assert failed.status_code == 503 and "nothing was saved" in failed.text
        retry = local(programme, client="203.0.113.9").post(f"/sessions/{drop_in}", data=person(2) | {
            "slot": slot, "contact_method": "Teams"})
        assert retry.status_code == 200 and len(registrations(programme)) == 1

    def test_failed_bookings_with_someones_address_do_not_lock_them_out(self, programme: Programme,
                                                                         emulator: EmulatorServer) -> None:
        sessions = [programme.session(f"Session {n}", soon(5 + n), capacity=10) for n in range(4)]
        programme.run()
        emulator.add_fault(status=403, method="POST", path="/lists/Registrations/items", count=3)
        for n in range(3):
            assert local(programme, client=f"192.0.2.{n}").post(f"/sessions/{sessions[n]}",
                                                                data=GOOD).status_code == 503
        answer = local(programme, client="203.0.113.9").post(f"/sessions/{sessions[3]}", data=GOOD)
        assert answer.status_code == 200
        assert [i.fields["Email"] for i in registrations(programme)] == [GOOD["email"]]


class TestOneInboxManySpellings:
    """Finding 2: plus-tags got past the three-a-day limit per address (six posts, seven emails to one inbox)."""

    @pytest.mark.parametrize(("spelling", "mailbox"), [
        ("Ann+news@Example.org", "ann@example.org"), ("a.n.n+1@googlemail.com", "ann@gmail.com"),
        ("a.nn@gmail.com", "ann@gmail.com"), ("a.nn@example.org", "a.nn@example.org"),
        ("+x@example.org", "+x@example.org")])
    def test_the_mailbox_an_address_reaches(self, spelling: str, mailbox: str) -> None:
        assert mailbox_key(spelling) == mailbox

    def test_plus_tags_count_as_one_inbox_for_the_days_limit(self, programme: Programme) -> None:
        sessions = [programme.session(f"Session {n}", soon(5 + n), capacity=10) for n in range(6)]
        programme.run()
        for n, session in enumerate(sessions):
            answer = local(programme, client=f"192.0.2.{n}").post(f"/sessions/{session}", data=GOOD | {
                "email": f"ann.example+{n}@example.org"})
            assert answer.status_code == 200 and "Check your email" in answer.text  # the same answer each time
        assert len(registrations(programme)) == 3

    def test_a_second_spelling_of_an_address_booked_already_books_nothing(self, programme: Programme) -> None:
        session = programme.session("Session", soon(5), capacity=10)
        programme.run()
        local(programme).post(f"/sessions/{session}", data=GOOD)
        programme.run()
        programme.clock.offset += 120
        local(programme, client="203.0.113.9").post(f"/sessions/{session}", data=GOOD | {
            "email": "ann.example+again@example.org"})
        assert len(registrations(programme)) == 1


class TestWhoIsPosting:
    """Finding 7: under the Functions adapter every client was one ("unknown"); with `address:port` entries every
    request was a new one; locally a client could name itself in X-Forwarded-For."""

    @staticmethod
    def book_twelve(pages: httpx.Client, session: str, headers: list[dict[str, str]]) -> list[int]:
        return [pages.post(f"/sessions/{session}", data=person(n), headers=h).status_code
                for n, h in enumerate(headers)]

    @pytest.fixture
    def session(self, programme: Programme) -> str:
        made = programme.session("Open to all", soon(5), capacity=0)
        programme.run()
        return made

    def test_in_azure_twelve_people_behind_the_front_end_are_twelve_clients(self, programme: Programme,
                                                                            session: str) -> None:
        pages = hosted(programme, book_per_client_per_minute=1)
        headers = [{"Client-IP": f"198.51.100.{n}:4431{n % 10}"} for n in range(12)]
        assert self.book_twelve(pages, session, headers) == [200] * 12

    def test_in_azure_one_person_on_new_connections_is_one_client(self, programme: Programme, session: str) -> None:
        pages = hosted(programme, book_per_client_per_minute=10)
        headers = [front_end("198.51.100.7", 50000 + n) for n in range(12)]
        assert self.book_twelve(pages, session, headers) == [200] * 10 + [429] * 2

    def test_in_azure_without_client_ip_the_first_forwarded_entry_without_its_port(self, programme: Programme,
                                                                                   session: str) -> None:
        pages = hosted(programme, book_per_client_per_minute=10)
        headers = [{"X-Forwarded-For": f"[2001:db8::7]:{50000 + n}, 10.0.0.{n}"} for n in range(12)]
        assert self.book_twelve(pages, session, headers) == [200] * 10 + [429] * 2

    def test_in_azure_a_client_cannot_name_itself_past_the_front_ends_client_ip(self, programme: Programme,
                                                                               session: str) -> None:
        pages = hosted(programme, book_per_client_per_minute=10)
        headers = [{"Client-IP": "198.51.100.7:50000", "X-Forwarded-For": f"192.0.2.{n}, 198.51.100.7:50000"}
                   for n in range(12)]
        assert self.book_twelve(pages, session, headers) == [200] * 10 + [429] * 2

    def test_on_this_machine_the_connection_counts_and_forwarded_headers_are_ignored(self, programme: Programme,
                                                                                    session: str) -> None:
        pages = local(programme, book_per_client_per_minute=10)
        headers: list[dict[str, Any]] = [{"X-Forwarded-For": f"192.0.2.{n}", "Client-IP": f"192.0.2.{n}"}
                                         for n in range(12)]
        assert self.book_twelve(pages, session, headers) == [200] * 10 + [429] * 2

    @pytest.mark.parametrize("forged", ["[", "[]:80", ":", "a" * 5000, "\t", ",,,", "[::1", "0:0", "é:ü"])
    def test_in_azure_any_text_in_the_forwarded_headers_is_some_client_never_an_error(
            self, programme: Programme, session: str, forged: str) -> None:
        """Hostile input: whatever the headers hold, the booking is counted against some client and made."""
        pages = hosted(programme)
        answer = pages.post(f"/sessions/{session}", data=person(1),
                            headers={"Client-IP": forged.encode(), "X-Forwarded-For": forged.encode()})
        assert answer.status_code == 200 and len(registrations(programme)) == 1

    @pytest.mark.parametrize(("entry", "host"), [
        ("203.0.113.7:51234", "203.0.113.7"), ("203.0.113.7", "203.0.113.7"), ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"), ("[", ""), ("", "")])
    def test_a_port_is_taken_off_an_address(self, entry: str, host: str) -> None:
        assert without_port(entry) == host
