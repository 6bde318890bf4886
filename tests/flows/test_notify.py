"""Issue 31, item 1: people booked by phone or post are texted or written to through GOV.UK Notify, each message once,
end to end: the lists in the Graph emulator, Notify's own Python client, and a stand-in for Notify's API over HTTP on
loopback (tests/support/notify_fake.py) that checks every request's JWT and refuses what Notify refuses."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from coprod.handoffs import notify_keys
from coprod.lists.notes import Notes
from coprod.notify.client import Notify
from coprod.notify.send import NotifyReport, TextsAndLetters
from coprod.notify.words import Words
from coprod.pages.app import create_web_app
from coprod.run import run_once
from coprod.run.jobs import NotifyJob
from coprod.runtime import Services
from coprod.templates import uk_clock, uk_time
from graph_emulator import EmulatorServer
from graph_emulator.testing import AsgiTransport
from tests.support.notify_fake import NotifyError, NotifyFake, Sent
from tests.support.programme import Programme, soon

PUBLIC = "https://coprod.example.org"
ADMINS = "coproduction-admins@council.example.org"
MOBILE = "07700 900123"  # Ofcom's drama range: a UK mobile that is nobody's
LANDLINE = "01632 960 001"  # a landline: Notify cannot text it
ADDRESS = "1 High Street\nTowncastle\nTC1 1AA"


@pytest.fixture
def notify() -> Iterator[NotifyFake]:
    """The stand-in for GOV.UK Notify, with the two templates docs/notify.md says to make."""
    with NotifyFake() as fake:
        fake.add_template("sms", "((message))", name="Co-production text")
        fake.add_template("letter", "((body))", "((subject))", name="Co-production letter")
        yield fake


def template(notify: NotifyFake, kind: str) -> str:
    [found] = [t.id for t in notify.state.templates(kind)]
    return found


@pytest.fixture
def programme_settings(notify: NotifyFake) -> dict[str, str]:
    return {"COPROD_PUBLIC_URL": PUBLIC, "COPROD_ADMIN_EMAIL": ADMINS, "COPROD_NOTIFY_API_KEY": notify.api_key,
            "COPROD_NOTIFY_BASE_URL": notify.url, "COPROD_NOTIFY_SMS_TEMPLATE_ID": template(notify, "sms"),
            "COPROD_NOTIFY_LETTER_TEMPLATE_ID": template(notify, "letter")}


def texts(notify: NotifyFake) -> list[Sent]:
    return [s for s in notify.state.sent if s.type == "sms"]


def letters(notify: NotifyFake) -> list[Sent]:
    return [s for s in notify.state.sent if s.type == "letter"]


def team_lists(programme: Programme) -> list[Any]:
    return [m for m in programme.mail() if m.to == (ADMINS,)]


def line(lines: list[str]) -> str | None:
    found = [text for text in lines if text.startswith("Texts and letters:")]
    return found[0] if found else None


def meeting_link(programme: Programme) -> str:
    [meeting] = programme.meetings()
    return str(meeting.join_web_url)


def times_asked(notify: NotifyFake, operation: str) -> int:
    """How many requests of `operation` (sms, letter, find, templates) Notify was sent."""
    return len([s for s in notify.state.log if s.operation == operation])


@contextlib.contextmanager
def texts_and_letters(programme: Programme) -> Iterator[TextsAndLetters]:
    """The texts and letters of one run, alone, on the programme's store, settings and clock (Notify reached as a run
    reaches it)."""
    s = programme.services
    with Notify(s.settings) as client:
        yield TextsAndLetters(s.store, client, s.settings, s.signer, clock=s.clock)


def test_a_phone_booking_is_texted_and_a_post_booking_written_to_each_once(programme: Programme,
                                                                          notify: NotifyFake) -> None:
    start = soon(5)
    session = programme.session("Carers' forum", start, capacity=1)
    pat = programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    pam = programme.register(session, "Pam Post", Email="", ContactPreference="Post", PostalAddress=ADDRESS)
    lines = programme.run()
    assert line(lines) == "Texts and letters: 1 text sent, 1 letter sent."
    [text] = texts(notify)
    assert text.phone_number == "+447700900123" and text.template_id == template(notify, "sms")
    assert text.body == (f"Your place is booked: Carers' forum, {uk_time(start)} (UK time). Join on Microsoft "
                         f"Teams: {meeting_link(programme)}")
    assert text.reference == notify_keys.for_contact(f"contact:confirmed:registration-{pat}:session-{session}:v0")
    [letter] = letters(notify)
    assert letter.address == ("Pam Post", "1 High Street", "Towncastle", "TC1 1AA")  # name first, postcode last
    assert letter.subject == "You're on the waiting list: Carers' forum"
    assert letter.body.startswith("Dear Pam Post,\n\nCarers' forum, on ")
    assert "You're number 1." in letter.body and letter.body.endswith("Co-production programme")
    for sent in (text, letter):  # Notify's reference holds ids only, no personal data
        assert sent.reference and "Pat" not in sent.reference and "Pam" not in sent.reference
    assert programme.mail() == []  # nobody emailed, and nobody left for the team's list
    assert line(programme.run()) is None  # a rerun sends nothing
    assert len(notify.state.sent) == 2
    programme.edit("Registrations", pat, Cancel=True)  # Pat cancels: Pam gets the place, and both hear of it
    assert line(programme.run()) == "Texts and letters: 1 text sent, 1 letter sent."
    assert texts(notify)[-1].body == f"Your place at Carers' forum, {uk_time(start)} (UK time), is cancelled."
    assert letters(notify)[-1].subject == "A place has come up for you: Carers' forum"
    assert meeting_link(programme) in letters(notify)[-1].body
    programme.run()
    assert len(notify.state.sent) == 4 and programme.mail() == []
    assert programme.status(pam) == "Confirmed"


def test_an_appointment_by_phone_a_long_address_and_pre_reading_too_long_for_a_text(programme: Programme,
                                                                                    notify: NotifyFake) -> None:
    programme.clock.to_uk_midday()
    start = soon(4, hour=10)
    drop_in = programme.session("Drop-in", start, minutes=60, capacity=0, Kind="DropIn", SlotMinutes=20,
                                Location="Towncastle Library, Room 2")
    pat_at, pam_at = start + timedelta(minutes=20), start + timedelta(minutes=40)
    programme.register(drop_in, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE,
                       Slot=pat_at.strftime("%Y-%m-%dT%H:%M:%SZ"), ContactMethod="Phone")
    lines = [f"Line {n}" for n in range(1, 9)]
    programme.register(drop_in, "(Pam) Post", Email="", ContactPreference="Post", ContactMethod="In person",
                       PostalAddress="\n".join([*lines, "tc1 1aa"]), Slot=pam_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    programme.run()
    [text] = texts(notify)
    assert text.body == (f"Your place is booked: Drop-in, {uk_time(pat_at)} (UK time). We'll ring you at "
                         f"{uk_clock(pat_at)}.")
    [letter] = letters(notify)  # at most 7 lines, the name first, the postcode last, no "(" to start a line
    assert letter.address == ("Pam) Post", "Line 1", "Line 2", "Line 3", "Line 4", "Line 5, Line 6, Line 7, Line 8",
                              "tc1 1aa")
    assert f"Drop-in, on {uk_time(pam_at)} (UK time).\n\nIn person, at Towncastle Library, Room 2." in letter.body
    programme.edit("Sessions", drop_in, PreReading="Please read the plan. " * 40)  # 880 characters
    assert line(programme.run()) == "Texts and letters: 1 letter sent; 1 could not go by GOV.UK Notify (back on the " \
                                    "team's list)."
    assert "Please read the plan. Please read" in letters(notify)[-1].body and len(texts(notify)) == 1
    programme.run()
    [digest] = team_lists(programme)
    body = digest.text_body or ""
    assert "Pat Phone: there is something to read before the session" in body and "(Pam) Post" not in body
    assert "On this list because it is too long for a text (" in body


def test_a_session_in_a_place_says_where_and_still_gives_the_teams_link(programme: Programme,
                                                                        notify: NotifyFake) -> None:
    """... and with the team's number set (COPROD_CONTACT_PHONE), how to say they can't come."""
    programme.services.settings = programme.services.settings.model_copy(update={
        "contact_phone": "01632 960 999", "contact_hours": "Monday to Friday, 9am to 5pm"})
    start = soon(5)
    session = programme.session("Carers' forum", start, Location="Town Hall, Room 2")
    programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    programme.register(session, "Pam Post", Email="", ContactPreference="Post", PostalAddress=ADDRESS)
    programme.run()
    [text] = texts(notify)
    assert text.body == (f"Your place is booked: Carers' forum, {uk_time(start)} (UK time). Where: Town Hall, Room 2. "
                         f"Or join on Microsoft Teams: {meeting_link(programme)} Can't come? Ring us on 01632 960 999.")
    [letter] = letters(notify)
    assert "(UK time).\n\nWhere: Town Hall, Room 2.\n\nYou can also join on Microsoft Teams" in letter.body
    assert letter.body.endswith("please ring us on 01632 960 999 (Monday to Friday, 9am to 5pm).\n\nCo-production "
                                "programme")


def test_how_was_it_by_text_carries_a_link_that_opens_the_feedback_page(programme: Programme,
                                                                         notify: NotifyFake) -> None:
    start = soon(2)
    session = programme.session("Carers' forum", start)
    programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    programme.run()
    programme.clock.offset += (start + timedelta(hours=26)).timestamp() - programme.clock()  # Teams said nothing
    programme.run(minutes=0)
    asked = texts(notify)[-1].body
    assert asked.startswith("How was Carers' forum? Tell us in a couple of minutes: ") and "(open for 7 days)." in asked
    link = re.search(r"(https://\S+)", asked)
    assert link is not None and link.group(1).startswith(f"{PUBLIC}/api/pages/feedback?t=")
    context = programme.services.web_context()
    with httpx.Client(transport=AsgiTransport(create_web_app(lambda: context)), base_url=PUBLIC) as client:
        page = client.get(link.group(1).removeprefix(PUBLIC))
    assert page.status_code == 200 and "Carers' forum" in page.text.replace("&#39;", "'")
    assert len(texts(notify)) == 2 and line(programme.run()) is None


def test_a_run_that_stopped_after_sending_and_before_noting_it_does_not_send_again(
        programme: Programme, notify: NotifyFake, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed between Notify's answer and settling its claim: the next runs find the claim `sending`; once it is
    older than COPROD_RECHECK_SECONDS (a run in progress would be done by then), Notify is asked by reference, and
    the text it made is noted instead of sent again."""
    session = programme.session("Carers' forum", soon(5))
    programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    programme.register(session, "Pam Post", Email="", ContactPreference="Post", PostalAddress=ADDRESS)
    ledger_type = type(programme.store.ledger)
    settle = ledger_type.set

    class Killed(Exception):
        pass

    def dies_before_noting(self: Any, key: str, status: str, payload: dict[str, Any] | None = None) -> None:
        if key.startswith(notify_keys.PREFIX) and status == "sent":
            raise Killed  # the process died here: Notify made the text, the ledger still says `sending`
        settle(self, key, status, payload)

    monkeypatch.setattr(ledger_type, "set", dies_before_noting)
    programme.run()
    monkeypatch.setattr(ledger_type, "set", settle)
    assert len(texts(notify)) == 1 and len(letters(notify)) == 1
    claimed = programme.store.ledger.list(kind="notify")
    assert [c.status for c in claimed] == ["sending", "sending"]
    assert line(programme.run(minutes=1)) == "Texts and letters: 2 being sent by another run."
    finds = len([s for s in notify.state.log if s.operation == "find"])
    assert finds == 0 and len(notify.state.sent) == 2  # too soon to look: they may still be in flight
    assert line(programme.run(minutes=5)) == "Texts and letters: 2 found already sent (a run had stopped before " \
                                             "noting it)."
    assert len([s for s in notify.state.log if s.operation == "find"]) == 2
    assert len(texts(notify)) == 1 and len(letters(notify)) == 1  # not sent again
    assert [programme.store.ledger.get(c.key).status for c in claimed] == ["sent", "sent"]  # type: ignore[union-attr]
    assert line(programme.run(minutes=10)) is None and len(notify.state.sent) == 2
    assert team_lists(programme) == []


def test_what_notify_refuses_goes_back_on_the_team_s_list_with_its_reason_and_a_note(
        programme: Programme, notify: NotifyFake, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    programme.clock.to_uk_midday()
    session = programme.session("Carers' forum", soon(5))
    pat = programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=LANDLINE)
    pam = programme.register(session, "Pam Post", Email="", ContactPreference="Post",
                             PostalAddress="1 High Street\nTowncastle TC1 1AA")  # the postcode not on a line of its own
    assert line(programme.run()) == "Texts and letters: 2 refused (back on the team's list)."
    assert notify.state.sent == [] and team_lists(programme) == []  # (today's list goes with the next run)
    programme.run()
    [digest] = team_lists(programme)
    assert digest.subject == "2 people to phone or write to about their booking"
    body = digest.text_body or ""
    assert "Pat Phone: their place is booked." in body and f"Phone: {LANDLINE}" in body
    assert "On this list because GOV.UK Notify couldn't text this number (Not a UK mobile number)." in body
    assert "Pam Post: their place is booked." in body
    assert ("On this list because GOV.UK Notify couldn't post a letter to this address (Last line of address must be "
            "a real UK postcode or another country).") in body
    assert "On this list because GOV.UK Notify couldn&#39;t text this number" in (digest.html_body or "")
    assert programme.note(pat).endswith(Notes.NOT_TEXTED.format(why="Not a UK mobile number"))
    assert programme.note(pam).endswith(Notes.NOT_POSTED.format(
        why="Last line of address must be a real UK postcode or another country"))
    for _ in range(2):  # each told once: no second list, nothing sent
        assert line(programme.run()) is None
    assert len(team_lists(programme)) == 1 and notify.state.sent == []
    programme.edit("Registrations", pat, Phone=MOBILE)  # the officer puts the number right: the note goes
    programme.run()
    assert "GOV.UK Notify" not in programme.note(pat) and "GOV.UK Notify" in programme.note(pam)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for personal in ("Pat Phone", "Pam Post", "01632", "960 001", "High Street", "TC1 1AA", notify.state.secret):
        assert personal not in logged


def test_a_text_throttled_by_notify_goes_on_a_later_run_once(programme: Programme, notify: NotifyFake,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    session = programme.session("Carers' forum", soon(5))
    programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    programme.register(session, "Pam Post", Email="", ContactPreference="Post", PostalAddress=ADDRESS)
    notify.state.add_fault("throttle", "sms", retry_after=120)
    assert line(programme.run()) == ("Texts and letters: 2 waiting: GOV.UK Notify asked us to slow down; a later run "
                                     "sends them.")
    assert notify.state.sent == [] and team_lists(programme) == []  # the letter too waits: nothing more this run
    assert ("coprod.notify", logging.WARNING, "GOV.UK Notify asked us to slow down (429); texts and letters wait for "
            "a later run") in caplog.record_tuples
    asked = len(notify.state.log)
    assert line(programme.run(minutes=1)) == ("Texts and letters: 2 waiting: GOV.UK Notify asked us to slow down; a "
                                              "later run sends them.")
    assert len(notify.state.log) == asked  # Retry-After said 2 minutes: nothing is asked of Notify for them
    assert line(programme.run(minutes=5)) == "Texts and letters: 1 text sent, 1 letter sent."
    assert len(texts(notify)) == 1 and len(letters(notify)) == 1
    assert line(programme.run()) is None and len(notify.state.sent) == 2


def test_an_answer_lost_to_a_server_error_is_looked_up_before_it_is_sent_again(
        programme: Programme, notify: NotifyFake, caplog: pytest.LogCaptureFixture) -> None:
    session = programme.session("Carers' forum", soon(5))
    programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    notify.state.add_fault("made-then-fails", "sms")
    assert line(programme.run()) == ("Texts and letters: 1 waiting: GOV.UK Notify did not answer (500); a later run "
                                     "looks whether it went, and sends it if not.")
    assert len(texts(notify)) == 1  # made, though the answer said otherwise
    assert ("coprod.notify", logging.WARNING, "GOV.UK Notify did not answer (500); texts and letters wait") in \
        caplog.record_tuples
    assert line(programme.run()) == "Texts and letters: 1 found already sent (a run had stopped before noting it)."
    assert len(texts(notify)) == 1
    notify.state.add_fault("fails", "sms")  # a 500 that made nothing: looked up, then sent
    programme.edit("Sessions", session, Title="Carers' forum (moved)", StartTime=soon(6).strftime(
        "%Y-%m-%dT%H:%M:%SZ"), EndTime=soon(6, hour=15).strftime("%Y-%m-%dT%H:%M:%SZ"))
    programme.run()
    assert line(programme.run()) == "Texts and letters: 1 text sent."
    assert len(texts(notify)) == 2 and texts(notify)[-1].body.startswith("Carers' forum (moved) has changed. It's now")


def test_a_refused_key_is_named_and_nothing_is_lost(programme: Programme, notify: NotifyFake,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    right = programme.services.settings
    wrong = f"coprod_tests-{notify.state.service_id}-00000000-0000-4000-8000-000000000000"
    programme.services.settings = right.model_copy(update={"notify_api_key": SecretStr(wrong)})
    session = programme.session("Carers' forum", soon(5))
    programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    programme.register(session, "Pam Post", Email="", ContactPreference="Post", PostalAddress=ADDRESS)
    said = line(programme.run()) or ""
    assert said == ("Texts and letters: 2 waiting: GOV.UK Notify refused the key (403): check COPROD_NOTIFY_API_KEY "
                    "(a live key of the Notify service, not revoked) and this machine's clock; they are sent once it "
                    "is put right, and nobody is left out.")
    assert wrong not in said and notify.state.sent == [] and team_lists(programme) == []
    assert ("coprod.notify", logging.ERROR, "GOV.UK Notify refused COPROD_NOTIFY_API_KEY (403); texts and letters "
            "wait") in caplog.record_tuples
    programme.services.settings = right  # put right
    assert line(programme.run()) == "Texts and letters: 1 text sent, 1 letter sent."
    assert line(programme.run()) is None and len(notify.state.sent) == 2


class TestWithoutNotify:
    @pytest.fixture
    def programme_settings(self) -> dict[str, str]:
        return {"COPROD_PUBLIC_URL": PUBLIC, "COPROD_ADMIN_EMAIL": ADMINS}

    def test_the_team_s_list_is_as_it_was_and_notify_is_never_called(self, programme: Programme,
                                                                      notify: NotifyFake) -> None:
        programme.clock.to_uk_midday()
        session = programme.session("Carers' forum", soon(5))
        programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
        lines = programme.run()
        assert line(lines) is None and notify.state.log == []
        assert any("1 message for the team to give by phone or post" in text for text in lines)
        [digest] = team_lists(programme)
        assert "Pat Phone: their place is booked." in (digest.text_body or "")
        assert "On this list because" not in (digest.text_body or "")


def test_two_runs_at_once_send_each_once(programme: Programme, notify: NotifyFake,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runners with no lease between them (as if each believed it held it), at the same text or letter at the
    same moment (each has looked in the ledger and found it unclaimed): the claim keeps each single."""
    session = programme.session("Carers' forum", soon(5), capacity=20)
    phones = [f"07700 9001{n:02d}" for n in range(6)]
    for n, phone in enumerate(phones):
        programme.register(session, f"Phone Person {n}", Email="", ContactPreference="Phone", Phone=phone)
    for n in range(3):
        programme.register(session, f"Post Person {n}", Email="", ContactPreference="Post",
                           PostalAddress=f"{n} High Street\nTowncastle\nTC1 1AA")
    monkeypatch.setattr(NotifyJob, "wanted", lambda self, context: False)
    programme.run()  # the messages hand on what to tell (the texts and letters job held back)
    monkeypatch.undo()
    assert notify.state.sent == []
    notify.state.latency = 0.1
    together = threading.Barrier(2)
    compose = Words.compose

    def in_step(self: Words, *args: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            together.wait(timeout=5)  # both runners have found this one unclaimed: both now try to claim it
        return compose(self, *args)

    monkeypatch.setattr(Words, "compose", in_step)
    ready = threading.Barrier(2)
    lines: list[list[str]] = []
    failures: list[BaseException] = []

    def runner() -> None:
        try:
            with Services.open(programme.services.settings, clock=programme.clock) as services:
                ready.wait()
                lines.append(run_once(services, drain_seconds=60))
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    monkeypatch.undo()
    assert failures == [] and not together.broken
    assert Counter(s.phone_number for s in texts(notify)) == Counter(f"+44{p.replace(' ', '')[1:]}" for p in phones)
    assert sorted(s.address[0] for s in letters(notify)) == [f"Post Person {n}" for n in range(3)]
    assert len(notify.state.sent) == 9
    said = " ".join(line(each) or "" for each in lines)
    numbers = {what: sum(int(n) for n in re.findall(rf"(-?\d+) {what}", said))
               for what in ("texts? sent", "letters? sent", "being sent by another run")}
    assert numbers == {"texts? sent": 6, "letters? sent": 3, "being sent by another run": 9}  # each: one won, one not
    programme.run()
    assert len(notify.state.sent) == 9 and team_lists(programme) == []


def test_a_template_notify_refuses_is_quoted_in_the_run_s_line_and_nobody_s_number_is_blamed(
        programme: Programme, notify: NotifyFake) -> None:
    """The service's set-up, not the person's number: the run's line quotes Notify (at most 200 characters of it) and
    points at the check; the team's list says Notify refused it; no note on the registration."""
    programme.clock.to_uk_midday()
    fields = [f"the_{n}_thing_the_council_template_asks_for_but_the_service_never_fills_in" for n in range(4)]
    broken = notify.add_template("sms", "((message)) " + " ".join(f"(({f}))" for f in fields))
    programme.services.settings = programme.services.settings.model_copy(update={"notify_sms_template_id": broken})
    session = programme.session("Carers' forum", soon(5))
    pat = programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    said = f"Missing personalisation: {', '.join(fields)}"
    assert len(said) > 200
    assert line(programme.run()) == (f"Texts and letters: 1 refused (back on the team's list): GOV.UK Notify said "
                                     f"\"{said[:200]}\"; `python -m coprod check` checks the templates.")
    assert notify.state.sent == []
    assert line(programme.run()) is None  # not tried again
    [digest] = team_lists(programme)
    body = digest.text_body or ""
    assert "Pat Phone: their place is booked." in body
    assert "On this list because GOV.UK Notify refused it (Missing personalisation: the_0_thing" in body
    assert "couldn't text this number" not in body
    assert "GOV.UK Notify" not in programme.note(pat)


def test_texts_and_letters_wait_for_the_session_s_teams_meeting_then_go(programme: Programme, notify: NotifyFake,
                                                                        emulator: EmulatorServer) -> None:
    session = programme.session("Carers' forum", soon(5))
    programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    programme.register(session, "Pam Post", Email="", ContactPreference="Post", PostalAddress=ADDRESS)
    emulator.add_fault(status=400, rate=1.0, path="/onlineMeetings", code="BadRequest")
    assert line(programme.run()) == "Texts and letters: 2 waiting for the session's Teams meeting."
    assert notify.state.sent == [] and team_lists(programme) == []
    emulator.backend.faults.clear()
    assert line(programme.run()) == "Texts and letters: 1 text sent, 1 letter sent."
    assert meeting_link(programme) in texts(notify)[0].body and meeting_link(programme) in letters(notify)[0].body


def test_each_message_too_long_for_a_text_is_counted_and_goes_on_the_team_s_list(programme: Programme,
                                                                                  notify: NotifyFake) -> None:
    programme.clock.to_uk_midday()
    session = programme.session("Carers' forum", soon(5))
    programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    programme.register(session, "Phil Phone", Email="", ContactPreference="Phone", Phone="07700 900124")
    programme.run()
    programme.edit("Sessions", session, PreReading="Please read the plan. " * 40)
    assert line(programme.run()) == "Texts and letters: 2 could not go by GOV.UK Notify (back on the team's list)."
    assert len(texts(notify)) == 2  # only the confirmations
    programme.run()
    [digest] = team_lists(programme)
    body = digest.text_body or ""
    assert "Pat Phone: there is something to read" in body and "Phil Phone: there is something to read" in body


def test_an_unexpected_error_puts_each_back_on_the_team_s_list_saying_so(
        programme: Programme, notify: NotifyFake, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A fault nobody foresaw while a text or a letter is written (before anything is claimed, so nothing can have
    gone): each is counted, logged by its type, and goes on the team's list; the rest of the run goes on."""
    caplog.set_level(logging.WARNING)
    programme.clock.to_uk_midday()
    session = programme.session("Carers' forum", soon(5))
    programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    programme.register(session, "Pam Post", Email="", ContactPreference="Post", PostalAddress=ADDRESS)

    def broken(self: Words, *args: Any) -> Any:
        raise LookupError("a fault nobody foresaw")

    monkeypatch.setattr(Words, "compose", broken)
    lines = programme.run()
    monkeypatch.undo()
    assert line(lines) == ("Texts and letters: 2 stopped by an unexpected error (back on the team's list, or looked "
                           "at again by a later run if it may have gone).")
    logged = [r.getMessage() for r in caplog.records if r.name == "coprod.run"]
    assert len([m for m in logged if m.startswith("A text or a letter was set aside (LookupError at ")]) == 2
    assert notify.state.log == []  # Notify never asked
    assert line(programme.run()) is None  # not tried again: the team's list has them
    [digest] = team_lists(programme)
    body = digest.text_body or ""
    assert body.count("On this list because it could not be prepared (LookupError).") == 2
    assert "Pat Phone: their place is booked." in body and "Pam Post: their place is booked." in body
    assert notify.state.sent == []


def test_a_booking_deleted_before_its_text_went_is_passed_over(programme: Programme, notify: NotifyFake,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Today's team list has gone, so nothing settles the text of a booking deleted since: the texts and letters pass
    it over, and send the others."""
    session = programme.session("Carers' forum", soon(5))
    gone = programme.register(session, "Gus Gone", Email="", ContactPreference="Phone", Phone="07700 900124")
    programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    monkeypatch.setattr(NotifyJob, "wanted", lambda self, context: False)
    programme.run()  # the messages hand on what to tell (the texts and letters job held back)
    monkeypatch.undo()
    programme.delete("Registrations", gone)
    programme.sync()
    assert programme.store.mirror.get("Registrations", gone) is None
    with texts_and_letters(programme) as texting:
        report = texting.run()
    assert report.line() == "Texts and letters: 1 text sent."
    [text] = texts(notify)
    assert text.phone_number == "+447700900123"


def test_those_waiting_for_tomorrow_s_team_list_do_not_hold_up_the_texts_after_them(programme: Programme,
                                                                                     notify: NotifyFake) -> None:
    """Today's list has gone: a booking Notify refused since, and one by post with no letter template set up, wait
    (still due) for tomorrow's list; a later booking's text goes all the same, and Notify is asked for no letter."""
    programme.clock.to_uk_midday()
    programme.services.settings = programme.services.settings.model_copy(update={"notify_letter_template_id": None})
    session = programme.session("Carers' forum", soon(5), capacity=20)
    programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=LANDLINE)
    assert line(programme.run()) == "Texts and letters: 1 refused (back on the team's list)."
    programme.run()
    assert len(team_lists(programme)) == 1  # today's list
    phil = programme.register(session, "Phil Phone", Email="", ContactPreference="Phone", Phone="01632 960 002")
    assert line(programme.run()) == "Texts and letters: 1 refused (back on the team's list)."
    pam = programme.register(session, "Pam Post", Email="", ContactPreference="Post", PostalAddress=ADDRESS)
    programme.register(session, "Quinn Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    assert line(programme.run()) == "Texts and letters: 1 text sent."
    assert [t.phone_number for t in texts(notify)] == ["+447700900123"]
    assert times_asked(notify, "letter") == 0
    assert len(team_lists(programme)) == 1
    waiting = [e.payload["registration"] for e in programme.store.ledger.list(kind="contact-due", status="due")]
    assert waiting == [phil, pam]  # for tomorrow's list


def test_a_run_that_stopped_before_settling_what_notify_did_settles_it_without_asking_again(
        programme: Programme, notify: NotifyFake, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed after noting Notify's answer (a text sent, a letter refused) and before the hand-off was settled: the
    next run settles it from the note, asking Notify nothing. What the ledger keeps: Notify's id of what it sent,
    and each hand-off settled as sent by Notify."""
    programme.clock.to_uk_midday()
    session = programme.session("Carers' forum", soon(5))
    pat = programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    pam = programme.register(session, "Pam Post", Email="", ContactPreference="Post",
                             PostalAddress="1 High Street\nTowncastle TC1 1AA")  # the postcode not on a line of its own
    sam = programme.register(session, "Sam Post", Email="", ContactPreference="Post", PostalAddress=ADDRESS)
    monkeypatch.setattr(NotifyJob, "wanted", lambda self, context: False)
    programme.run()  # the messages hand on what to tell (the texts and letters job held back)
    monkeypatch.undo()
    contact = {e.payload["registration"]: e.key for e in programme.store.ledger.list(kind="contact-due")}
    ledger_type = type(programme.store.ledger)
    settle = ledger_type.set

    class Killed(Exception):
        pass

    def dies_before_settling(self: Any, key: str, status: str, payload: dict[str, Any] | None = None) -> None:
        if key in (contact[pat], contact[pam]):
            raise Killed  # the process died here: Notify's answer noted, the hand-off still due
        settle(self, key, status, payload)

    monkeypatch.setattr(ledger_type, "set", dies_before_settling)
    programme.run()
    monkeypatch.undo()
    [text], [letter] = texts(notify), letters(notify)  # Pat's, Sam's
    noted = {e.key: e.payload for e in programme.store.ledger.list(kind="notify")}
    assert noted[notify_keys.for_contact(contact[pat])]["notification"] == text.id  # Notify's id of each
    assert noted[notify_keys.for_contact(contact[sam])]["notification"] == letter.id
    before = list(notify.state.log)
    assert line(programme.run()) is None
    assert notify.state.log == before  # Notify asked nothing
    settled = {e.key: (e.status, e.payload.get("outcome"), e.payload.get("not_sent"))
               for e in programme.store.ledger.list(kind="contact-due")}
    assert settled[contact[pat]] == ("done", "sent by GOV.UK Notify (sms)", None)
    assert settled[contact[sam]] == ("done", "sent by GOV.UK Notify (letter)", None)
    assert settled[contact[pam]] == ("due", None, "GOV.UK Notify couldn't post a letter to this address (Last line "
                                                  "of address must be a real UK postcode or another country)")
    programme.run()
    [digest] = team_lists(programme)
    body = digest.text_body or ""
    assert "Pam Post: their place is booked." in body and "Pat Phone" not in body and "Sam Post" not in body
    assert "On this list because GOV.UK Notify couldn't post a letter to this address (Last line of address" in body
    assert len(notify.state.sent) == 2


def test_a_refused_address_is_noted_until_it_is_put_right_though_a_phone_number_is_given_too(
        programme: Programme, notify: NotifyFake) -> None:
    session = programme.session("Carers' forum", soon(5))
    pam = programme.register(session, "Pam Post", Email="", ContactPreference="Post", Phone=MOBILE,
                             PostalAddress="1 High Street\nTowncastle TC1 1AA")
    programme.run()
    programme.run()
    assert programme.note(pam).endswith(Notes.NOT_POSTED.format(
        why="Last line of address must be a real UK postcode or another country"))
    programme.edit("Registrations", pam, PostalAddress=ADDRESS)  # the officer puts the address right
    programme.run()
    assert "GOV.UK Notify" not in programme.note(pam)
    assert texts(notify) == []  # (she asked for post: no text, though her number is there)


def test_notify_not_answering_at_all_is_said_and_what_may_have_gone_is_looked_up_first(
        programme: Programme, notify: NotifyFake, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    right = programme.services.settings
    with NotifyFake() as gone:
        nowhere = gone.url  # stopped: nothing answers there any more
    programme.services.settings = right.model_copy(update={"notify_base_url": nowhere})
    session = programme.session("Carers' forum", soon(5))
    programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    programme.register(session, "Pam Post", Email="", ContactPreference="Post", PostalAddress=ADDRESS)
    assert line(programme.run()) == ("Texts and letters: 2 waiting: GOV.UK Notify did not answer (no answer); a later "
                                     "run looks whether it went, and sends it if not.")
    assert "GOV.UK Notify did not answer (no answer); texts and letters wait" in [
        r.getMessage() for r in caplog.records if r.name == "coprod.notify"]
    programme.services.settings = right
    assert line(programme.run()) == "Texts and letters: 1 text sent, 1 letter sent."
    assert times_asked(notify, "find") == 1  # the text, which may have gone, was looked for first (not the letter)
    assert len(notify.state.sent) == 2


def test_a_lost_answer_is_still_looked_up_after_notify_asks_us_to_slow_down_on_the_look_up(
        programme: Programme, notify: NotifyFake) -> None:
    session = programme.session("Carers' forum", soon(5))
    programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    notify.state.add_fault("made-then-fails", "sms")
    programme.run()
    notify.state.add_fault("throttle", "find")
    assert line(programme.run()) == ("Texts and letters: 1 waiting: GOV.UK Notify asked us to slow down; a later run "
                                     "sends them.")
    assert line(programme.run()) == "Texts and letters: 1 found already sent (a run had stopped before noting it)."
    assert len(texts(notify)) == 1 and times_asked(notify, "find") == 2


def test_a_text_another_run_was_told_to_hold_is_not_sent_by_this_one(programme: Programme, notify: NotifyFake,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runners with no lease between them: this one has looked for Notify's Retry-After and found none; before it
    comes to the text, the other is told by Notify to slow down sending it. This one holds the text back too."""
    session = programme.session("Carers' forum", soon(5))
    programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    programme.register(session, "Pam Post", Email="", ContactPreference="Post", PostalAddress=ADDRESS)
    monkeypatch.setattr(NotifyJob, "wanted", lambda self, context: False)
    programme.run()  # the messages hand on what to tell (the texts and letters job held back)
    monkeypatch.undo()
    with texts_and_letters(programme) as this, texts_and_letters(programme) as other:
        notify.state.add_fault("throttle", "sms", retry_after=120)
        notify.state.add_fault("throttle", "letter", retry_after=120)
        ledger_type = type(programme.store.ledger)
        listed = ledger_type.list
        reports: list[NotifyReport] = []

        def the_other_runs_first(self: Any, kind: str | None = None, status: str | None = None) -> Any:
            if kind == "contact-due" and not reports:
                monkeypatch.undo()  # (the other runner's own reads, as they are)
                reports.append(other.run())  # the other runner, at the text first
            return listed(self, kind, status)

        monkeypatch.setattr(ledger_type, "list", the_other_runs_first)
        mine = this.run()
        monkeypatch.undo()
    slow_down = "Texts and letters: 2 waiting: GOV.UK Notify asked us to slow down; a later run sends them."
    assert reports[0].line() == slow_down
    assert mine.line() == slow_down  # the text held for the other's Retry-After; the letter, for its own 429
    assert notify.state.sent == [] and times_asked(notify, "sms") == 1  # the text asked for once, by the other


def test_notify_refusing_the_look_up_is_no_refusal_of_the_text_which_is_looked_up_again(
        programme: Programme, notify: NotifyFake, monkeypatch: pytest.MonkeyPatch) -> None:
    """An answer lost (the text may have gone), then Notify answers the look-up by reference with a 400: that says
    nothing of the text or the number, so nobody goes on the team's list or gets a note; a later run looks again,
    finds it, and sends nothing twice."""
    programme.clock.to_uk_midday()
    session = programme.session("Carers' forum", soon(5))
    pat = programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=MOBILE)
    notify.state.add_fault("made-then-fails", "sms")
    programme.run()

    def refuses(reference: str | None, template_type: str | None) -> list[Sent]:
        raise NotifyError(400, "ValidationError", "reference is not valid")  # Notify's words of a bad look-up

    monkeypatch.setattr(notify.state, "find", refuses)
    assert line(programme.run()) == ("Texts and letters: 1 waiting: GOV.UK Notify did not answer (400); a later run "
                                     "looks whether it went, and sends it if not.")
    monkeypatch.undo()
    assert line(programme.run()) == "Texts and letters: 1 found already sent (a run had stopped before noting it)."
    assert len(texts(notify)) == 1 and times_asked(notify, "find") == 2
    programme.run()
    assert team_lists(programme) == [] and "GOV.UK Notify" not in programme.note(pat)


def test_a_run_that_stopped_just_after_notify_refused_a_number_still_notes_it(
        programme: Programme, notify: NotifyFake, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed after Notify's refusal was kept and before the person went back on the team's list: the note for the
    officer on the registration was made first, so it is not lost; the next run puts them on the list, once."""
    session = programme.session("Carers' forum", soon(5))
    pat = programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone=LANDLINE)
    ledger_type = type(programme.store.ledger)
    settle = ledger_type.set

    class Killed(Exception):
        pass

    def dies_noting_the_refusal(self: Any, key: str, status: str, payload: dict[str, Any] | None = None) -> None:
        if status == "due" and payload and payload.get("not_sent"):
            raise Killed  # the process died here: the refusal kept, the person not yet back on the team's list
        settle(self, key, status, payload)

    monkeypatch.setattr(ledger_type, "set", dies_noting_the_refusal)
    with contextlib.suppress(Killed):
        programme.run()
    monkeypatch.setattr(ledger_type, "set", settle)
    programme.run()
    programme.run()
    assert programme.note(pat).endswith(Notes.NOT_TEXTED.format(why="Not a UK mobile number"))
    [digest] = team_lists(programme)
    assert "Pat Phone: their place is booked." in (digest.text_body or "")
    assert notify.state.sent == []
