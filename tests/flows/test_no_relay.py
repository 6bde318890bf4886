"""The public forms cannot relay a stranger's words from the council's mailbox (issue 24, finding 2).

Anyone can type any address into the booking or subscribe form, so the first emails to that address must carry
nothing the booker typed but a first name: no full name, no access needs quoted, no display name or calendar
file made of their words, and a way to cancel a booking they did not make. The admins' digest quotes a name typed
on a booking form only once its address is confirmed. Bookings keep their flow: Confirmed or Waitlisted at once.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from coprod.lists.fields import greeting_name
from graph_emulator import EmulatorServer
from tests.flows.test_booking import GOOD, registrations, web
from tests.support.programme import Programme, calendar_of, soon

SPAM_NAME = "Win a prize at prize-draw.example now"
SPAM_NEEDS = "Call 0800 000 000 or visit https://prize-draw.example to claim your £500"
ADMINS = "coproduction-admins@council.example.org"


@pytest.fixture
def programme_settings() -> dict[str, str]:
    return {"COPROD_PUBLIC_URL": "https://coprod.example.org", "COPROD_ADMIN_EMAIL": ADMINS}


def everything_in(mail: Any) -> str:
    """All a recipient sees of an email: its subject, both bodies, its display names and its attachments."""
    parts = [mail.subject, mail.text_body or "", mail.html_body or "", " ".join(mail.names.values())]
    parts += [a.content.decode("utf-8", "replace") for a in mail.attachments]
    return "\n".join(parts)


def booked_online(programme: Programme, session: str, client: str = "127.0.0.1", **typed: str) -> Any:
    answer = web(programme, client=client).post(f"/sessions/{session}", data=GOOD | typed)
    assert answer.status_code == 200 and "Check your email" in answer.text
    programme.run()
    [mail] = programme.mail_to(typed.get("email", GOOD["email"]))
    return mail


@pytest.mark.parametrize(("typed", "greeted"), [
    ("Ann Example", "Ann"), ("Zoë O'Brien-Smith", "Zoë"), ("Mrs Jane Smith", "Mrs Smith"), ("李小龙", "李小龙"),
    (SPAM_NAME, ""), ("<b>Ann</b>", ""), ("Ann\u2028Example", "Ann"), ("www.example.org", ""), ("Ann2", ""),
    ("A" * 41, ""), ("Ann Bea Cat Dee Eve Fay Gus", "")])
def test_a_greeting_is_a_first_name_or_nothing(typed: str, greeted: str) -> None:
    assert greeting_name(typed) == greeted


class TestBookingEmails:
    def test_the_confirmation_carries_no_more_than_a_first_name(self, programme: Programme) -> None:
        session = programme.session("Carers' drop-in", soon(3), capacity=5)
        programme.run()
        mail = booked_online(programme, session, name="Ann Example-Spammer Visitprizes")
        seen = everything_in(mail)
        assert "Hello Ann," in (mail.text_body or "") and mail.names[GOOD["email"]] == "Ann"
        assert "Spammer" not in seen and "Visitprizes" not in seen
        event = calendar_of(mail).walk("VEVENT")[0]
        assert str(event["summary"]) == "Carers' drop-in" and event["attendee"].params.get("CN") == "Ann"

    def test_words_that_are_more_than_a_name_are_not_in_it_at_all(self, programme: Programme) -> None:
        session = programme.session("Carers' drop-in", soon(3), capacity=5)
        programme.run()
        mail = booked_online(programme, session, name=SPAM_NAME, access_needs=SPAM_NEEDS)
        seen = everything_in(mail)
        assert "prize" not in seen.lower() and "0800" not in seen
        assert "Hello there," in (mail.text_body or "")
        assert "Thank you for telling us about your access needs. The facilitators will have them" in seen

    def test_it_says_didnt_book_this_with_a_link_to_cancel(self, programme: Programme) -> None:
        session = programme.session("Carers' drop-in", soon(3), capacity=1)
        programme.run()
        confirmed = booked_online(programme, session)
        waitlisted = booked_online(programme, session, "192.0.2.2", email="bea@example.org", name="Bea")
        for mail in (confirmed, waitlisted):
            text = mail.text_body or ""
            assert "Didn't book this?" in text, mail.subject
            link = re.search(r"Didn't book this\?[^\n]*\n(https://coprod\.example\.org/api/pages/cancel\?t=\S+)",
                             text)
            assert link is not None
            page = web(programme).get(link.group(1).removeprefix("https://coprod.example.org/api/pages")).text
            assert "Cancel your place" in page or "cancel" in page.lower()
        assert waitlisted.subject.startswith("You're on the waiting list")  # still at once, no extra step

    def test_the_facilitators_still_get_the_access_needs(self, programme: Programme) -> None:
        session = programme.session("Carers' drop-in", soon(3), capacity=5, Facilitators="fac@council.example.org")
        programme.run()
        booked_online(programme, session, access_needs="Captions, please")
        programme.clock.offset += 2 * 86400  # the brief is due 48 hours before
        programme.run()
        [brief] = [m for m in programme.mail() if m.to == ("fac@council.example.org",)]
        assert "Captions, please" in (brief.text_body or "")

    def test_a_booking_the_team_entered_is_quoted_as_before(self, programme: Programme) -> None:
        session = programme.session("Carers' drop-in", soon(3), capacity=5)
        programme.register(session, "Ann Example", AccessNeeds="Captions, please")
        programme.run()
        [mail] = programme.mail_to("ann.example@example.org")
        text = mail.text_body or ""
        assert "Hello Ann Example," in text and '"Captions, please"' in text and "Didn't book this?" not in text

    def test_a_reminder_to_a_public_booking_greets_by_the_first_name_too(self, programme: Programme) -> None:
        start = (datetime.now(UTC) + timedelta(hours=30)).replace(second=0, microsecond=0)  # (not soon(): its
        session = programme.session("Carers' drop-in", start, capacity=5)  # 2pm start is nearer or further by the hour)
        programme.run()
        booked_online(programme, session, name="Ann Example")
        programme.clock.offset += 10 * 3600  # 20 hours before the start: the reminder is due
        programme.run()
        [reminder] = [m for m in programme.mail_to(GOOD["email"]) if m.subject.startswith("Coming up")]
        assert "Example" not in everything_in(reminder) and "Hello Ann," in (reminder.text_body or "")


class TestOtherForms:
    def test_the_subscribe_confirmation_quotes_nothing_typed(self, programme: Programme) -> None:
        answer = web(programme).post("/subscribe", data={"email": "sam@example.org", "name": SPAM_NAME})
        assert answer.status_code == 200
        programme.run()
        [mail] = programme.mail_to("sam@example.org")
        assert "prize" not in everything_in(mail).lower() and (mail.text_body or "").startswith("Hello,")

    def test_joining_the_list_from_a_booking_quotes_nothing_typed_either(self, programme: Programme) -> None:
        session = programme.session("Carers' drop-in", soon(3), capacity=5)
        programme.run()
        web(programme).post(f"/sessions/{session}", data=GOOD | {"name": SPAM_NAME, "join_mailing_list": "yes"})
        programme.run()
        programme.run()
        [question] = [m for m in programme.mail_to(GOOD["email"]) if m.subject.startswith("Please confirm")]
        assert "prize" not in everything_in(question).lower()

    def test_the_admins_digest_quotes_a_typed_name_only_once_the_address_is_confirmed(
            self, programme: Programme) -> None:
        session = programme.session("Carers' drop-in", soon(3), capacity=5)
        programme.run()
        web(programme).post(f"/sessions/{session}", data=GOOD | {"name": SPAM_NAME, "wants_site_access": "yes"})
        programme.clock.to_uk_midday()
        for _ in range(3):  # the booking, then its guest request, then the digest
            programme.run()
        [digest] = programme.mail_to(ADMINS)
        body = digest.text_body or ""
        assert GOOD["email"] in body and "prize" not in body.lower()
        assert "name not shown until they confirm their email address" in body
        assert len(registrations(programme)) == 1


    def test_an_invitation_an_admin_approves_carries_no_more_than_a_first_name(self, programme: Programme) -> None:
        """The invitation Microsoft sends for the tenant (its display name and message) and the reminder come
        from the row the service made from the booking: nobody proved that address typed the name."""
        session = programme.session("Carers' drop-in", soon(3), capacity=5)
        programme.run()
        web(programme).post(f"/sessions/{session}", data=GOOD | {"name": "Ann " + SPAM_NAME.split()[0] + "-Prizes",
                                                                 "wants_site_access": "yes"})
        programme.run()
        programme.run()
        [row] = programme.backend.sharepoint.get_list(programme.site, "GuestRequests").items.values()
        programme.edit("GuestRequests", str(row.id), Decision="Approved")  # an admin approves, as the digest asks
        programme.run()
        [invitation] = programme.backend.directory.invitations
        assert invitation.display_name == "Ann" and "Prizes" not in (invitation.message_body or "")
        assert (invitation.message_body or "").startswith("Hello Ann.")


class TestAnAddressThatCannotTakeEmail:
    """Issue 24, deliver 2: an address that bounces gives its public-page booking's place to the next person (the
    outbox records Graph refusing the recipient, ErrorInvalidRecipients, as a bounce does)."""

    def refuse(self, emulator: EmulatorServer, times: int) -> None:
        """Graph refuses the recipient of the next `times` sends (each run sends the email once)."""
        emulator.add_fault(status=400, code="ErrorInvalidRecipients", method="POST", path="/sendMail$",
                           count=times, retry_after=None)

    def book(self, programme: Programme, session: str, email: str, client: str, name: str = "Ann") -> str:
        web(programme, client=client).post(f"/sessions/{session}", data=GOOD | {"email": email, "name": name})
        return str(next(i.id for i in registrations(programme) if i.fields["Email"] == email))

    def test_a_public_bookings_place_goes_to_the_next_person(self, programme: Programme,
                                                             emulator: EmulatorServer) -> None:
        session = programme.session("Carers' drop-in", soon(3), capacity=1)
        programme.run()
        made_up = self.book(programme, session, "made.up@example.org", "192.0.2.1")
        for _ in range(2):  # its confirmation, refused in two runs
            self.refuse(emulator, 1)
            programme.run()
        assert programme.field("Registrations", made_up, "Status") == "Confirmed"
        bea = self.book(programme, session, "bea@example.org", "192.0.2.2", "Bea")  # would be on the waiting list
        programme.run()
        assert programme.field("Registrations", made_up, "Status") == "Cancelled"
        assert "couldn't email this address" in str(programme.field("Registrations", made_up, "StatusNote"))
        assert programme.field("Registrations", bea, "Status") == "Confirmed"
        assert [m.subject for m in programme.mail_to("bea@example.org")] == ["Your place is booked: Carers' drop-in"]

    def test_a_public_booking_whose_address_bounces_gives_its_place_to_the_next_person(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        """Exchange takes the email (202), then a non-delivery report says the address does not exist (5.1.1): as
        definite as Graph refusing the recipient twice, so the place goes at once (coprod/mail/bounces.py)."""
        emulator.backend.mail.transport.bounce("made.up@example.org", "5.1.1")
        session = programme.session("Carers' drop-in", soon(3), capacity=1)
        programme.run()
        made_up = self.book(programme, session, "made.up@example.org", "192.0.2.1")
        programme.run()  # confirmed; its confirmation goes, and comes back undelivered
        assert programme.field("Registrations", made_up, "Status") == "Confirmed"
        bea = self.book(programme, session, "bea@example.org", "192.0.2.2", "Bea")  # would be on the waiting list
        for _ in range(2):  # the reports are looked for once what was sent is a quarter of an hour old
            programme.run(minutes=20)
            emulator.backend.offset = programme.clock.offset  # (the tenant's clock keeps up)
        programme.run()
        assert programme.field("Registrations", made_up, "Status") == "Cancelled"
        assert programme.field("Registrations", bea, "Status") == "Confirmed"
        assert [m.subject for m in programme.mail_to("bea@example.org")] == ["Your place is booked: Carers' drop-in"]

    def test_a_recipient_refused_once_is_tried_again_and_keeps_its_place(self, programme: Programme,
                                                                         emulator: EmulatorServer) -> None:
        """Graph has been reported to refuse a good recipient once (msgraph-sdk-dotnet issue 1891)."""
        session = programme.session("Carers' drop-in", soon(3), capacity=1)
        programme.run()
        ann = self.book(programme, session, "ann.example@example.org", "192.0.2.1")
        self.refuse(emulator, 1)
        for _ in range(3):
            programme.run()
        assert programme.field("Registrations", ann, "Status") == "Confirmed"
        assert [m.subject for m in programme.mail_to("ann.example@example.org")] == [
            "Your place is booked: Carers' drop-in"]

    def test_a_booking_the_team_entered_keeps_its_place(self, programme: Programme, emulator: EmulatorServer) -> None:
        session = programme.session("Carers' drop-in", soon(3), capacity=1)
        booking = programme.register(session, "Ann Example")
        for _ in range(3):
            self.refuse(emulator, 1)
            programme.run()
        assert programme.field("Registrations", booking, "Status") == "Confirmed"
        assert "We couldn't email you at this address" in str(programme.field("Registrations", booking, "StatusNote"))
