"""A session's Sync note says its meeting was refused in the run that met the refusal (issue 27, item 6), and the
next registration run, composing the note the same way, writes nothing over it. Whole runs over HTTPS against the
emulator, the refusal a tenant without a Teams application access policy (the emulator's `teams_policy`)."""

from __future__ import annotations

from graph_emulator import EmulatorServer
from tests.support.programme import Programme, soon

NO_POLICY = "No Teams application access policy lets the app create meetings for the organiser"
OVER = ("2 people are confirmed but there are only 1 places. Nobody has been moved; please contact people yourself "
        "if places must be cut.")


def version(programme: Programme, session: str) -> int:
    """How many times the session's row has been written (SharePoint's version)."""
    return int(programme.backend.sharepoint.get_item(programme.site, "Sessions", session)[1].version)


def line(lines: list[str], start: str) -> str:
    [found] = [each for each in lines if each.startswith(start)]
    return found


def test_the_run_that_meets_the_refusal_writes_the_note_and_the_next_writes_nothing(
        programme: Programme, emulator: EmulatorServer) -> None:
    session = programme.session("Being included", soon())
    programme.register(session, "Ann Example")
    emulator.backend.tenant.update({"teams_policy": False})
    lines = programme.run()
    assert "1 session could not get a meeting (see its Sync note)" in line(lines, "Teams meetings")
    note = programme.field("Sessions", session, "SyncNote")
    assert note.startswith(NO_POLICY) and "Grant-CsApplicationAccessPolicy" in note
    written = version(programme, session)
    programme.run()  # the registration run decides the session again: the same note, so not written again
    programme.run()
    assert version(programme, session) == written and programme.field("Sessions", session, "SyncNote") == note
    emulator.backend.tenant.update({"teams_policy": True})
    programme.run()  # the meeting is made, and the note about it goes in the same run
    assert programme.field("Sessions", session, "SyncNote") == ""
    written = version(programme, session)
    programme.run()
    assert version(programme, session) == written


def test_the_note_keeps_what_the_registrations_said_and_adds_the_refusal(programme: Programme,
                                                                          emulator: EmulatorServer) -> None:
    """Too many confirmed for the places (the registration sync's word), then the meeting's change refused: one note
    with both, in the order the registration sync writes them, and no run after rewrites it."""
    session = programme.session("Being included", soon(), capacity=2)
    for name in ("Ann Example", "Ben Example"):
        programme.register(session, name)
    programme.run()
    programme.edit("Sessions", session, Capacity=1)
    programme.run()
    assert programme.field("Sessions", session, "SyncNote") == OVER
    emulator.backend.tenant.update({"teams_policy": False})
    programme.edit("Sessions", session, Title="Being included: carers")  # the meeting must be renamed: refused
    programme.run()
    note = programme.field("Sessions", session, "SyncNote")
    assert note.startswith(OVER + " " + NO_POLICY)
    written = version(programme, session)
    programme.run()
    programme.run()
    assert version(programme, session) == written
