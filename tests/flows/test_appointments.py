"""Issue 32: a drop-in's confirmation, reminder and calendar file say how the appointment happens, as chosen: a
Teams link only for Teams; for phone, the number we will ring (quoted back only to a booking an officer made);
in person, the place (the Sessions column Location), or that we'll say where before the day. A group session in
person says where too."""

from __future__ import annotations

from datetime import timedelta

from tests.support.programme import Programme, calendar_of, event_of, soon

PLACE = "Room 2, Carers' Centre, 1 High Street, Anytown AB1 2CD"


def booked(programme: Programme, session: str, name: str, **fields: object) -> tuple[str, str]:
    """(plain text, HTML) of the confirmation `name` got; `fields` as an officer typed them."""
    programme.register(session, name, **fields)
    programme.run()
    [mail] = [m for m in programme.mail_to(name.lower().replace(" ", ".") + "@example.org")
              if m.subject.startswith("Your place")]
    return mail.text_body or "", mail.html_body or ""


def test_each_way_to_talk_is_said_as_chosen_and_only_teams_gets_a_link(programme: Programme) -> None:
    start = soon(3, hour=10)
    drop_in = programme.session("Drop-in", start, minutes=100, capacity=0, Kind="DropIn", SlotMinutes=20)
    programme.run()
    slot = lambda n: (start + timedelta(minutes=20 * n)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    phone, _ = booked(programme, drop_in, "Pat Phone", Slot=slot(0), ContactMethod="Phone", Phone="01632 960 002")
    assert "By phone: we'll ring you on 01632 960 002 at your time." in phone  # (an officer booked it)
    assert "teams.microsoft.com" not in phone and "use the link" not in phone
    nowhere, html = booked(programme, drop_in, "Ida Inperson", Slot=slot(1), ContactMethod="In person")
    assert "In person: we'll email you where to go before the day." in nowhere and "use the link" not in nowhere
    assert "reply to this email if you need to know where" not in nowhere + html
    teams, _ = booked(programme, drop_in, "Tom Teams", Slot=slot(2), ContactMethod="Teams")
    assert "On Microsoft Teams: use the link below at your time." in teams and "teams.microsoft.com" in teams
    assert "On the day, use the link to join." in teams

    programme.edit("Sessions", drop_in, Location=PLACE)
    programme.run()
    there, html = booked(programme, drop_in, "Ina Place", Slot=slot(3), ContactMethod="In person")
    assert f"In person, at {PLACE}." in there and "In person, at Room 2, Carers&#39; Centre" in html
    [mail] = [m for m in programme.mail_to("ina.place@example.org") if m.subject.startswith("Your place")]
    event = event_of(calendar_of(mail))
    assert str(event.get("location")) == PLACE and event.get("url") is None
    [pat] = [m for m in programme.mail_to("pat.phone@example.org") if m.subject.startswith("Your place")]
    assert str(event_of(calendar_of(pat)).get("location")) == "By phone: we'll ring you"


def test_a_group_session_in_person_says_where(programme: Programme) -> None:
    session = programme.session("Carers forum", soon(2), Location=PLACE)
    text, html = booked(programme, session, "Gail Group")
    assert f"Where: {PLACE}" in text and "Where: Room 2, Carers&#39; Centre" in html


def test_a_hostile_location_is_one_line_of_text_in_the_email_and_the_calendar_file(programme: Programme) -> None:
    """Anyone editing the Sessions list may type anything in Location: markup, a line separator, a bidi override.
    It reaches the email escaped, on one line, and the calendar file's LOCATION as one clean line."""
    typed = "<b>Room 2</b> & \"Hall\"\u2028Bcc: x@evil.example \u202eevil\u202c 1 High St"
    session = programme.session("Carers forum", soon(2), Location=typed)
    text, html = booked(programme, session, "Hal Hostile")
    assert "Where: <b>Room 2</b> & \"Hall\" Bcc: x@evil.example evil 1 High St" in text
    assert "&lt;b&gt;Room 2&lt;/b&gt; &amp; &#34;Hall&#34;" in html and "<b>Room 2" not in html
    assert "\u2028" not in text + html and "\u202e" not in text + html
    [mail] = [m for m in programme.mail_to("hal.hostile@example.org") if m.subject.startswith("Your place")]
    location = str(event_of(calendar_of(mail)).get("location"))
    assert "\n" not in location and "\u2028" not in location and "\u202e" not in location
    assert location.startswith('<b>Room 2</b> & "Hall" Bcc: x@evil.example')
