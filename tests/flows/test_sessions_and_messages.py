"""Teams meetings and participant messages, end to end: lists in the emulator -> a full run over HTTPS ->
meetings, the list, and the mail in the sender's mailbox (read back, calendar files parsed with icalendar)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from coprod.pages.app import create_web_app
from graph_emulator import EmulatorServer
from graph_emulator.testing import AsgiTransport
from tests.support.programme import Programme, calendar_of, event_of, soon

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def programme_settings() -> dict[str, str]:
    return {"COPROD_PUBLIC_URL": "https://coprod.example.org", "COPROD_PROGRAMME_NAME": "Having your say"}


class TestMeetings:
    def test_every_open_session_gets_one_meeting_with_its_link_written_back(self, programme: Programme) -> None:
        session = programme.session("Being included", soon(), Facilitators="fac.one@council.example.org; "
                                                                           "Fac.Two@council.example.org")
        draft = programme.session("Being healthy", soon(12), Status="Draft")
        programme.run()
        programme.run()
        [meeting] = programme.meetings()
        assert meeting.external_id == f"session-{session}"
        body = meeting.as_json()
        assert (body["subject"], body["startDateTime"]) == ("Being included", soon().strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert body["lobbyBypassSettings"]["scope"] == "organization"  # people from outside wait in the lobby
        assert body["allowedPresenters"] == "roleIsPresenter"
        assert sorted((a["upn"], a["role"]) for a in body["participants"]["attendees"]) == [
            ("fac.one@council.example.org", "presenter"), ("fac.two@council.example.org", "presenter")]
        assert programme.field("Sessions", session, "JoinUrl") == meeting.join_web_url
        assert programme.field("Sessions", session, "MeetingId") == meeting.id
        assert programme.field("Sessions", draft, "JoinUrl") is None
        creates = [e for e in programme.backend.log.snapshot() if e.operation.endswith("/createOrGet")]
        assert len(creates) == 1  # the second run asked for nothing

    def test_a_new_time_or_title_moves_the_meeting_and_a_cancelled_session_removes_it(
            self, programme: Programme) -> None:
        session = programme.session("Carers' drop-in", soon())
        programme.run()
        programme.edit("Sessions", session, Title="Carers' catch-up", StartTime=soon(11).strftime("%Y-%m-%dT%H:%M:%SZ"),
                       EndTime=(soon(11) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        programme.run()
        [meeting] = programme.meetings()
        assert (meeting.as_json()["subject"], meeting.as_json()["startDateTime"]) == (
            "Carers' catch-up", soon(11).strftime("%Y-%m-%dT%H:%M:%SZ"))
        programme.edit("Sessions", session, Status="Cancelled")
        programme.run()
        assert programme.meetings() == []
        assert programme.field("Sessions", session, "JoinUrl") == ""

    def test_a_run_that_died_before_recording_its_meeting_makes_no_second_one(self, programme: Programme) -> None:
        """createOrGet finds the meeting by its external id: a repeat returns the same meeting."""
        session = programme.session("Being included", soon())
        real_put = programme.services.store.ledger.put

        def die_recording(key: str, kind: str, status: str, payload: dict[str, Any]) -> None:
            if key.startswith("meeting:"):
                raise KeyboardInterrupt("the host stopped the run")
            real_put(key, kind, status, payload)

        programme.services.store.ledger.put = die_recording  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            programme.run()
        programme.services.store.ledger.put = real_put  # type: ignore[method-assign]
        programme.run()
        assert len(programme.meetings()) == 1
        assert programme.field("Sessions", session, "MeetingId") == programme.meetings()[0].id

    def test_no_meeting_yet_holds_the_confirmation_and_says_why(self, programme: Programme,
                                                                 emulator: EmulatorServer) -> None:
        session = programme.session("Being included", soon())
        programme.register(session, "Ann Example")
        emulator.add_fault(status=400, rate=1.0, path="/onlineMeetings", code="BadRequest")
        lines = programme.run()
        assert "1 session could not get a meeting" in lines[2]
        assert "1 confirmation waiting for the session's Teams meeting" in lines[3]
        programme.run()  # (the run that met the failure wrote the session's note already; this one keeps it)
        assert programme.field("Sessions", session, "SyncNote") == \
            "We couldn't make the Teams meeting (Microsoft answered 400 BadRequest)."
        assert programme.mail() == []
        emulator.backend.faults.clear()
        programme.run()
        assert [m.subject for m in programme.mail_to("ann.example@example.org")] == [
            "Your place is booked: Being included"]
        programme.run()
        assert programme.field("Sessions", session, "SyncNote") == ""  # and the note goes once it works


class TestMessages:
    def test_the_confirmation_says_when_in_uk_time_how_to_join_and_cancel(self, programme: Programme) -> None:
        start = datetime(2027, 7, 1, 13, 0, tzinfo=UTC)  # 2pm in summer time
        session = programme.session("Having choice", start, minutes=90)
        programme.register(session, "Ann Example", AccessNeeds="I use a screen reader")
        programme.run()
        [message] = programme.mail_to("ann.example@example.org")
        join_url = programme.meetings()[0].join_web_url
        assert message.subject == "Your place is booked: Having choice"
        assert "When: Thursday 1 July 2027, 2pm to 3:30pm (UK time)" in message.text_body
        assert f"Join online: {join_url}" in message.text_body
        assert 'your access needs: "I use a screen reader"' in message.text_body
        assert re.search(r"https://coprod\.example\.org/api/pages/cancel\?t=\S+", message.text_body)
        assert message.html_body and "Thursday 1 July 2027, 2pm to 3:30pm" in message.html_body

    def test_the_waiting_list_hears_its_place_and_a_freed_place_is_offered(self, programme: Programme) -> None:
        session = programme.session("Carers' forum", soon(), capacity=1)
        programme.register(session, "Ann Example")
        ben = programme.register(session, "Ben Example")
        programme.register(session, "Cat Example")
        programme.run()
        assert [m.subject for m in programme.mail_to("cat.example@example.org")] == [
            "You're on the waiting list: Carers' forum"]
        assert "You're number 2." in programme.mail_to("cat.example@example.org")[0].text_body
        assert "Join online" not in programme.mail_to("ben.example@example.org")[0].text_body  # no link yet
        programme.edit("Registrations", "1", Cancel=True)
        programme.run()
        assert [m.subject for m in programme.mail_to("ben.example@example.org")][-1] == \
            "A place has come up for you: Carers' forum"
        assert programme.field("Registrations", ben, "Status") == "Confirmed"
        assert [m.subject for m in programme.mail_to("ann.example@example.org")][-1] == \
            "Your place is cancelled: Carers' forum"

    def test_calendar_files_keep_their_uid_raise_sequence_and_keep_uk_time_across_the_clock_change(
            self, programme: Programme) -> None:
        """Booked for Friday 26 March 2027, 2pm (GMT); moved to Monday 29 March, 2pm (BST); then cancelled."""
        before = datetime(2027, 3, 26, 14, 0, tzinfo=UTC)  # 2pm GMT
        after = datetime(2027, 3, 29, 13, 0, tzinfo=UTC)  # 2pm BST: the clocks went forward on the 28th
        session = programme.session("Being healthy", before)
        programme.register(session, "Ann Example")
        programme.run()
        programme.edit("Sessions", session, StartTime=after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       EndTime=(after + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        programme.run()
        programme.edit("Sessions", session, Status="Cancelled")
        programme.run()
        booked, moved, cancelled = programme.mail_to("ann.example@example.org")
        assert [booked.subject, moved.subject, cancelled.subject] == [
            "Your place is booked: Being healthy", "A session you're signed up for has changed: Being healthy",
            "Cancelled: Being healthy"]
        calendars = [calendar_of(m) for m in (booked, moved, cancelled)]
        events = [event_of(c) for c in calendars]
        assert [str(c["METHOD"]) for c in calendars] == ["REQUEST", "REQUEST", "CANCEL"]
        assert len({str(e["UID"]) for e in events}) == 1
        assert [int(e["SEQUENCE"]) for e in events] == [1, 2, 2]
        starts = [e.decoded("DTSTART") for e in events]
        assert [(s.tzinfo.key, s.hour, s.minute) for s in starts] == [("Europe/London", 14, 0)] * 3  # type: ignore[union-attr]
        assert [s.astimezone(UTC) for s in starts] == [before, after, after]
        assert "Thursday" not in moved.text_body and "Monday 29 March 2027, 2pm to 3pm (UK time)" in moved.text_body
        assert "It was: Being healthy, Friday 26 March 2027, 2pm." in moved.text_body
        assert [str(e["ATTENDEE"]) for e in events] == ["mailto:ann.example@example.org"] * 3  # only her
        assert calendars[0].walk("VTIMEZONE")[0]["TZID"] == "Europe/London"

    def test_reminders_and_the_facilitators_brief_go_once_at_their_time(self, programme: Programme) -> None:
        start = soon(5)
        session = programme.session("Being included", start, capacity=1, Facilitators="fac@council.example.org")
        programme.register(session, "Ann Example", AccessNeeds="Please send the papers a week before")
        programme.register(session, "Ben Example", AccessNeeds="Needs a BSL interpreter")  # waitlisted
        programme.run()
        programme.clock.offset += (start - timedelta(hours=47)).timestamp() - programme.clock()
        programme.run(minutes=0)
        [brief] = programme.mail_to("fac@council.example.org")
        assert brief.subject == "Your facilitator brief: Being included"
        assert "Confirmed: 1" in brief.text_body and "On the waiting list: 1" in brief.text_body
        assert "- Please send the papers a week before" in brief.text_body
        assert "BSL" not in brief.text_body  # only the needs of people coming
        assert "@example.org" not in brief.text_body  # no participant's address
        assert [m.subject for m in programme.mail_to("ann.example@example.org")] == [
            "Your place is booked: Being included"]  # too early for the reminder
        programme.clock.offset += (start - timedelta(hours=23)).timestamp() - programme.clock()
        programme.run(minutes=0)
        programme.run()
        assert [m.subject for m in programme.mail_to("ann.example@example.org")] == [
            "Your place is booked: Being included", "Coming up: Being included"]
        assert [m.subject for m in programme.mail_to("ben.example@example.org")] == [
            "You're on the waiting list: Being included"]  # no reminder without a place
        assert len(programme.mail_to("fac@council.example.org")) == 1

    def test_cancelling_from_the_link_frees_the_place(self, programme: Programme) -> None:
        session = programme.session("Carers' forum", soon(), capacity=1)
        ann = programme.register(session, "Ann Example")
        ben = programme.register(session, "Ben Example")
        programme.run()
        link = re.search(r"https://coprod\.example\.org(/api/pages/cancel\?t=\S+)",
                         programme.mail_to("ann.example@example.org")[0].text_body)
        assert link is not None
        pages = create_web_app(programme.services.web_context)
        with httpx.Client(transport=AsgiTransport(pages), base_url="https://coprod.example.org") as browser:
            page = browser.get(link.group(1))
            assert "Do you want to cancel your place?" in page.text and "Carers&#39; forum" in page.text
            programme.run()
            assert programme.field("Registrations", ann, "Status") == "Confirmed"  # opening the link changed nothing
            token = re.search(r'name="t" value="([^"]+)"', page.text)
            assert token is not None
            done = browser.post("/api/pages/cancel", data={"t": token.group(1)})
            assert "Your place is cancelled" in done.text
        programme.run()
        assert [programme.field("Registrations", r, "Status") for r in (ann, ben)] == ["Cancelled", "Confirmed"]
        assert programme.field("Registrations", ann, "Cancel") is None  # the service wrote only Status and the note
        assert [m.subject for m in programme.mail_to("ann.example@example.org")][-1] == \
            "Your place is cancelled: Carers' forum"


class TestPreReading:
    """"Staff will be asked to send anything they want to share at the meeting in advance so that carers have time
    to look at this": the Sessions column PreReading."""

    PAPERS = "The draft plan: https://council.example/plan.pdf?v=2&lang=en\nPages 3 to 5, <please>."

    def test_it_is_in_the_confirmation_with_its_link_and_lines(self, programme: Programme) -> None:
        session = programme.session("Carers' forum", soon(5), PreReading=self.PAPERS)
        programme.register(session, "Ann Example")
        programme.run()
        [booked] = programme.mail_to("ann.example@example.org")  # no separate pre-reading email: it is in here
        assert "Before the session, please have a look at this:" in (booked.text_body or "")
        assert "Pages 3 to 5, <please>." in (booked.text_body or "")
        html = booked.html_body or ""
        assert '<a href="https://council.example/plan.pdf?v=2&amp;lang=en">' in html
        assert "&lt;please&gt;" in html and "<br>" in html

    def test_added_or_changed_in_good_time_each_person_with_a_place_gets_it_once(self, programme: Programme) -> None:
        session = programme.session("Carers' forum", soon(5), capacity=2)
        people = [programme.register(session, name) for name in ("Ann Example", "Ben Example", "Cy Waiting")]
        programme.run()
        programme.edit("Sessions", session, PreReading=self.PAPERS)
        programme.run()
        programme.run()  # a rerun sends nothing twice
        subject = "Something to read before Carers' forum"
        for address in ("ann.example@example.org", "ben.example@example.org"):
            [papers] = [m for m in programme.mail_to(address) if m.subject == subject]
            assert "so you have time to look at it" in (papers.text_body or "") and "Pages 3 to 5" in (
                papers.text_body or "")
        assert [m.subject for m in programme.mail_to("cy.waiting@example.org")] == [
            "You're on the waiting list: Carers' forum"]  # no place, no papers (they come with a place)
        programme.edit("Sessions", session, PreReading=self.PAPERS + "\nAnd the minutes of last time.")
        programme.run()
        assert len([m for m in programme.mail_to("ann.example@example.org") if m.subject == subject]) == 2
        programme.edit("Registrations", people[0], Cancel=True)  # Cy gets Ann's place: the papers come with it
        programme.run()
        [offered] = [m for m in programme.mail_to("cy.waiting@example.org") if m.subject.startswith("A place")]
        assert "And the minutes of last time." in (offered.text_body or "")

    def test_someone_booked_by_phone_is_on_the_team_s_list_to_be_told(self, programme: Programme) -> None:
        session = programme.session("Carers' forum", soon(5))
        pat = programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone="01632 960 001")
        programme.run()
        programme.edit("Sessions", session, PreReading=self.PAPERS)
        programme.run()
        due = [e.payload for e in programme.services.store.ledger.list(kind="contact-due")
               if e.payload["message"] == "pre_reading"]
        assert [(d["registration"], d["session"]) for d in due] == [(pat, session)]
        assert programme.mail() == []  # nobody was emailed: Pat has no address

    def test_added_late_it_goes_in_the_reminder_instead(self, programme: Programme) -> None:
        start = soon(3)
        session = programme.session("Carers' forum", start)
        programme.register(session, "Ann Example")
        programme.run()
        programme.clock.offset += (start - timedelta(hours=30)).timestamp() - programme.clock()
        programme.edit("Sessions", session, PreReading=self.PAPERS)
        programme.run(minutes=0)
        assert [m.subject for m in programme.mail_to("ann.example@example.org")] == [
            "Your place is booked: Carers' forum"]  # 30 hours before: under the 48, so no separate email
        programme.clock.offset += (start - timedelta(hours=23)).timestamp() - programme.clock()
        programme.run(minutes=0)
        [reminder] = [m for m in programme.mail_to("ann.example@example.org") if m.subject.startswith("Coming up")]
        assert "Pages 3 to 5" in (reminder.text_body or "")


class TestAttendance:
    """After a session, Attended from the Teams meeting's attendance report: Yes, No, or Unknown."""

    def test_who_came_who_did_not_and_who_joined_anonymously(self, programme: Programme) -> None:
        start = soon(2)
        session = programme.session("Carers' forum", start, capacity=3)
        ann, ben = (programme.register(session, name) for name in ("Ann Example", "Ben Example"))
        pat = programme.register(session, "Pat Phone", Email="", ContactPreference="Phone", Phone="01632 960 001")
        cy = programme.register(session, "Cy Waiting")
        programme.run()
        [meeting] = programme.meetings()
        programme.clock.offset += (start + timedelta(minutes=70)).timestamp() - programme.clock()
        programme.run(minutes=0)  # ended ten minutes ago: Teams has had no time to make its report
        assert programme.field("Registrations", ann, "Attended") is None
        programme.backend.meetings.record_attendance(meeting.id, [
            {"email": "Ann.Example@EXAMPLE.org", "name": "Ann Example", "seconds": 3300},
            {"email": None, "name": "Someone by phone", "seconds": 1800},  # joined without signing in
            {"email": programme.backend.organizer.mail, "name": "Organiser", "seconds": 3600, "role": "Organizer"}])
        lines = programme.run()
        assert any("attendance of 1 session: 1 came, 0 booked and did not come, 2 not known, 1 joined without "
                   "signing in" in line for line in lines)
        attended = {r: programme.field("Registrations", r, "Attended") for r in (ann, ben, pat, cy)}
        # Cy had no place; Ben may be the one who joined without signing in, so not known (No needs everyone named)
        assert attended == {ann: "Yes", ben: "Unknown", pat: "Unknown", cy: None}
        programme.edit("Registrations", ben, Attended="Yes")  # the team knows better: Ben rang in
        programme.backend.log.clear()
        programme.run()
        assert programme.field("Registrations", ben, "Attended") == "Yes"  # a rerun changes no Attended value
        assert not [e for e in programme.backend.log.snapshot() if "attendance" in e.operation.lower()]

    def test_without_the_permission_the_run_says_so_and_nothing_else_waits(self, programme: Programme) -> None:
        start = soon(2)
        session = programme.session("Carers' forum", start)
        ann = programme.register(session, "Ann Example")
        programme.run()
        identity = programme.backend.identity
        identity.set_roles([r for r in identity.roles if r != "OnlineMeetingArtifact.Read.All"])
        identity.expire_all()
        programme.clock.offset += (start + timedelta(hours=2)).timestamp() - programme.clock()
        [meetings_line] = [line for line in programme.run() if line.startswith("Teams meetings")]
        assert "would not let the app read the Teams meetings' attendance reports" in meetings_line
        assert "OnlineMeetingArtifact.Read.All" in meetings_line
        assert programme.field("Registrations", ann, "Attended") is None  # waits until it is granted

    def test_no_report_within_a_day_is_unknown_for_everyone(self, programme: Programme) -> None:
        start = soon(2)
        session = programme.session("Carers' forum", start)
        ann = programme.register(session, "Ann Example")
        programme.run()
        programme.clock.offset += (start + timedelta(hours=3)).timestamp() - programme.clock()
        programme.run(minutes=0)
        assert programme.field("Registrations", ann, "Attended") is None  # still waiting for Teams
        programme.run(minutes=24 * 60)
        assert programme.field("Registrations", ann, "Attended") == "Unknown"


class TestOutcomes:
    """"Discussions and actions taken as a result of meetings will be shared with the group members": Outcomes and
    ShareOutcomes on the session."""

    SAID = "You said the forms were too long.\nWe've cut them to one page: https://council.example/form"

    def test_each_person_with_a_place_gets_one_email_that_knows_whether_they_came(self,
                                                                                 programme: Programme) -> None:
        start = soon(2)
        forum = programme.session("Carers' forum", start)
        later = programme.session("Carers' forum, part two", soon(9))
        other = programme.session("Choosing my support", soon(5), Theme="Having choice")
        ann, ben = (programme.register(forum, name) for name in ("Ann Example", "Ben Example"))
        programme.register(forum, "Pat Phone", Email="", ContactPreference="Phone", Phone="01632 960 001")
        programme.run()
        [meeting] = [m for m in programme.meetings() if m.json.get("subject") == "Carers' forum"]
        programme.backend.meetings.record_attendance(meeting.id, [{"email": "ann.example@example.org",
                                                                    "name": "Ann", "seconds": 3000}])
        programme.clock.offset += (start + timedelta(hours=2)).timestamp() - programme.clock()
        programme.run(minutes=0)
        assert [programme.field("Registrations", r, "Attended") for r in (ann, ben)] == ["Yes", "No"]
        programme.edit("Sessions", forum, Outcomes=self.SAID)
        programme.run()
        assert not [m for m in programme.mail() if m.subject.startswith("You said")]  # not shared until ticked
        programme.edit("Sessions", forum, ShareOutcomes=True)
        programme.run()
        programme.edit("Sessions", forum, Outcomes=self.SAID + "\nAnd one more thing.")
        programme.run()  # one email each, however often the outcomes are edited after
        mails = {m.to[0]: m for m in programme.mail() if m.subject == "You said, we did: Carers' forum"}
        assert sorted(mails) == ["ann.example@example.org", "ben.example@example.org"]  # Pat is told by the team
        ann_text, ben_text = (mails[a].text_body or "" for a in sorted(mails))
        assert "Thank you for coming to Carers' forum." in ann_text
        assert "We're sorry we missed you at Carers' forum." in ben_text
        assert "We've cut them to one page" in ben_text and "And one more thing" not in ben_text
        assert f"/api/pages/sessions/{later}" in ben_text and f"/api/pages/sessions/{other}" not in ben_text
        assert '<a href="https://council.example/form">' in (mails["ben.example@example.org"].html_body or "")


class TestOnceAndPrivate:
    def busy_programme(self, programme: Programme) -> list[str]:
        first = programme.session("Carers' forum", soon(), capacity=2)
        second = programme.session("Having choice", soon(3), capacity=0, Facilitators="fac@council.example.org")
        people = [programme.register(first, f"Person {n}") for n in range(4)]
        people += [programme.register(second, f"Guest {n}", AccessNeeds=f"need {n}") for n in range(3)]
        return [first, second, *people]

    def test_no_message_to_one_person_carries_anyone_elses_address(self, programme: Programme) -> None:
        first, second, *people = self.busy_programme(programme)
        programme.run()
        programme.edit("Registrations", people[0], Cancel=True)
        programme.edit("Sessions", second, Title="Having choice (moved)")
        programme.run()
        programme.edit("Sessions", first, Status="Cancelled")
        programme.clock.offset += (soon(3) - timedelta(hours=20)).timestamp() - programme.clock()
        programme.run(minutes=0)
        addresses = {str(programme.field("Registrations", r, "Email")) for r in people}
        sent = programme.mail()
        assert len(sent) >= 15  # confirmations, a waiting list, a cancellation, changes, reminders, a brief
        for message in sent:
            raw = message.raw.decode("utf-8", "replace").lower()
            others = {a for a in addresses if a not in message.to and a in raw}
            assert not others, f"{message.subject!r} to {message.to} mentions {others}"
            assert len(message.to) == 1 or message.to == ("fac@council.example.org",)

    def test_a_rerun_sends_nothing_and_a_run_stopped_half_way_sends_each_message_once(
            self, programme: Programme) -> None:
        self.busy_programme(programme)
        transport = programme.services.outbox.transport
        real_send = transport.send
        sends = 0

        def stop_after_the_fourth(mail: Any) -> None:
            nonlocal sends
            real_send(mail)  # Graph has the message...
            sends += 1
            if sends == 4:
                raise KeyboardInterrupt("...and the host stops the run before it is marked sent")

        transport.send = stop_after_the_fourth  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            programme.run()
        transport.send = real_send  # type: ignore[method-assign]
        programme.run()  # straight after: the fourth stays unsettled (it may still be filing into Sent Items)
        programme.run(minutes=10)  # later: found in Sent Items, not sent again
        programme.run()
        sent = programme.mail()
        assert len(sent) == 7  # 4 + 3 people, one message each
        assert len({(m.to, m.subject) for m in sent}) == 7
        assert programme.services.store.outbox.counts() == {"sent": 7}


def test_a_message_that_cannot_be_prepared_is_noted_and_the_others_still_go(
        programme: Programme, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """One confirmation whose preparation fails in a way nobody foresaw (here its calendar file) fails alone: the
    others are sent, its registration is told why in its note, and the log names the error's type, not its
    message (which may quote the person)."""
    import coprod.registrations.messages as messages

    session = programme.session("Being included", soon())
    ann, ben = programme.register(session, "Ann Example"), programme.register(session, "Ben Example")
    made = messages.session_ics

    def calendar_file(event: Any, **values: Any) -> str:
        if values["attendee"] == "ann.example@example.org":
            raise ValueError("ann.example@example.org has no calendar")
        return made(event, **values)

    monkeypatch.setattr(messages, "session_ics", calendar_file)
    lines = programme.run()
    programme.run()  # the registration sync notes what the last run could not send
    assert programme.mail_to("ben.example@example.org") and not programme.mail_to("ann.example@example.org")
    assert "We couldn't email you" in programme.note(ann) and "We couldn't email you" not in programme.note(ben)
    assert ("Participant messages: 1 booking confirmation queued; 1 message could not be prepared (noted on the "
            "list).") in lines, lines
    assert "A confirmed message was set aside (ValueError at" in caplog.text and "no calendar" not in caplog.text
