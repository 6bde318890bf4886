"""Attended when Teams cannot name everyone (issue 27, item 4): whole runs over HTTPS against the emulator, the
attendance report made with the emulator's control call `POST /_emulator/meetings/{meeting}/attendance`.

An attendanceRecord's `emailAddress` is null for someone who joined without signing in, and has been reported
empty for people who did sign in (microsoft-graph-docs issue 13629); its `identity.id` is the user's directory id
(the attendancerecord-list reference's example). A booked person no attendee is known to be is `No` only when
every attendee is accounted for; otherwise `Unknown`.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from coprod import handoffs
from coprod.handoffs import Invitation
from graph_emulator import EmulatorServer
from tests.support.programme import Programme, soon


@pytest.fixture
def control(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=emulator.env()["M365_CA_BUNDLE"])
    with httpx.Client(verify=context, base_url=emulator.url, trust_env=False) as client:
        yield client


def held(programme: Programme, control: httpx.Client, attendees: list[dict[str, Any]],
         facilitators: str = "") -> tuple[dict[str, str | None], list[str]]:
    """Ann and Ben booked; the session takes place with these attendees; Attended of each, and the run's lines."""
    start = soon(2)
    session = programme.session("Carers' forum", start, Facilitators=facilitators)
    ann, ben = (programme.register(session, name) for name in ("Ann Example", "Ben Example"))
    programme.run()
    [meeting] = programme.meetings()
    made = control.post(f"/_emulator/meetings/{meeting.id}/attendance", json={"attendees": attendees})
    assert made.status_code == 200, made.text
    programme.clock.offset += (start + timedelta(hours=2)).timestamp() - programme.clock()
    lines = programme.run(minutes=0)
    return {"ann": programme.field("Registrations", ann, "Attended"),
            "ben": programme.field("Registrations", ben, "Attended")}, lines


def teams_line(lines: list[str]) -> str:
    [line] = [line for line in lines if line.startswith("Teams meetings")]
    return line


ANN = {"email": "ann.example@example.org", "name": "Ann Example", "seconds": 3000}


def test_someone_who_joined_without_signing_in_could_be_anyone_booked(programme: Programme,
                                                                       control: httpx.Client) -> None:
    """Ben is not seen, but the person with no address may be him: Unknown, not No."""
    attended, lines = held(programme, control, [
        ANN, {"email": None, "name": "Guest (unverified)", "seconds": 2400},
        {"email": programme.backend.organizer.mail, "name": "Organiser", "seconds": 3600, "role": "Organizer"}])
    assert attended == {"ann": "Yes", "ben": "Unknown"}
    assert ("attendance of 1 session: 1 came, 0 booked and did not come, 1 not known, 1 joined without signing in"
            in teams_line(lines))


def test_when_everyone_in_the_report_is_accounted_for_a_booked_person_not_there_did_not_come(
        programme: Programme, control: httpx.Client) -> None:
    """The organiser and the facilitators (by role, or by the address they present under) are the programme's own."""
    attended, lines = held(programme, control, [
        ANN, {"email": programme.backend.organizer.mail, "name": "Organiser", "seconds": 3600, "role": "Organizer"},
        {"email": "fac.one@council.example.org", "name": "Fac One", "seconds": 3600, "role": "Attendee"},
        {"email": "fac.two@council.example.org", "name": "Fac Two", "seconds": 3600, "role": "Presenter"}],
        facilitators="fac.one@council.example.org; fac.two@council.example.org")
    assert attended == {"ann": "Yes", "ben": "No"}
    assert "1 came, 1 booked and did not come, 0 not known, 0 joined without signing in" in teams_line(lines)


def test_someone_signed_in_under_an_address_nobody_booked_with_could_be_anyone_booked(
        programme: Programme, control: httpx.Client) -> None:
    attended, _ = held(programme, control, [{"email": "a.example@work.example", "name": "A Example", "seconds": 60}])
    assert attended == {"ann": "Unknown", "ben": "Unknown"}


def test_a_guest_the_service_invited_is_known_by_user_id_when_teams_gives_no_address(
        programme: Programme, control: httpx.Client) -> None:
    """The guest account the service invited for Ann's address (the invitation ledger keeps its id) joined, its
    address reported empty: that is Ann. Nobody else is unaccounted for, so Ben did not come."""
    guest = programme.backend.directory.add_user("Ann Example", "ann.example_example.org#EXT#@council.example.org",
                                                 mail="ann.example@example.org", user_type="Guest")
    handoffs.put(programme.services.store.ledger,
                 Invitation("ann.example@example.org", "7", user=guest.id, how="invited"))
    attended, lines = held(programme, control, [{"email": "", "name": "Ann Example", "seconds": 3000,
                                                 "user_id": guest.id}])
    assert attended == {"ann": "Yes", "ben": "No"}
    assert "1 came, 1 booked and did not come, 0 not known, 0 joined without signing in" in teams_line(lines)
