"""The service against what a real tenant does: each permission withdrawn in turn (what stops, what the team is
told, and nothing doubled or lost once it is back), the Teams access policy, guest invite settings, directory
lag, delta links that forget `$expand`, and PATCH answers without an eTag. Whole runs over HTTPS."""

from __future__ import annotations

from typing import Any

import pytest

from coprod.guests.rules import GuestNotes
from coprod.lists.mirror import ListMirror, read_changes, reads_light
from coprod.lists.notes import Notes
from coprod.operating.status import status, status_lines
from coprod.run import run_held
from graph_client import FieldUpdate, etag_key, next_etag
from graph_emulator import ALL_ROLES, EmulatorServer
from tests.support.programme import Programme, soon

RUN_ROLES = [r for r in ALL_ROLES if r != "Sites.Manage.All"]  # what the runs need: provisioning is apart
GUEST = "sam.guest@partner.example.org"
BOOKED = "Your place is booked: Being included"


@pytest.fixture
def programme_settings() -> dict[str, str]:
    return {"COPROD_PUBLIC_URL": "https://coprod.example.org"}


@pytest.fixture
def programme(programme: Programme, emulator: EmulatorServer) -> Programme:
    grant(emulator, RUN_ROLES)  # provisioned with Sites.Manage.All; the runs go without it
    return programme


def grant(emulator: EmulatorServer, roles: list[str]) -> None:
    """An admin changes the app's consented permissions; the service's next token carries them."""
    emulator.backend.identity.set_roles(roles)
    emulator.backend.identity.expire_all()


def guest_request(programme: Programme) -> str:
    """An admin adds and approves a guest access request."""
    return str(programme.backend.sharepoint.create_item(programme.site, "GuestRequests", {
        "Title": "Sam Guest", "Email": GUEST, "Decision": "Approved"}).id)


def invitations(programme: Programme) -> list[Any]:
    return [i for i in programme.backend.directory.invitations if i.address == GUEST]


def in_group(programme: Programme) -> bool:
    backend = programme.backend
    return any(u.mail == GUEST for u in backend.directory.members(backend.guest_group.id))


def line(lines: list[str], name: str) -> str:
    [found] = [one for one in lines if one.startswith(name + ":")]
    return found


def everything_once(programme: Programme, session: str, row: str) -> None:
    """After the permission comes back: each thing done exactly once, and nothing left saying it is blocked."""
    assert [m.subject for m in programme.mail_to("ann.example@example.org")] == [BOOKED]
    assert len(programme.meetings()) == 1
    assert len(invitations(programme)) == 1 and in_group(programme)
    assert programme.field("GuestRequests", row, "Status") == "Invited"
    assert programme.field("Sessions", session, "JoinUrl") == programme.meetings()[0].join_web_url
    assert not programme.field("Sessions", session, "SyncNote")
    assert status(programme.services.store)["blocked"] == {}


def test_the_runs_need_nothing_beyond_the_documented_permissions(programme: Programme) -> None:
    session = programme.session("Being included", soon())
    programme.register(session, "Ann Example")
    row = guest_request(programme)
    programme.run()
    programme.run()
    everything_once(programme, session, row)


# What stops without each permission, and the words the team reads (in the run's summary, and where shown).
WITHDRAWN = {
    "Sites.ReadWrite.All": ("Lists", "read the SharePoint lists (403 accessDenied)"),
    "User.Read.All": ("Guest access", "look people up in the directory (403 Authorization_RequestDenied)"),
    "User.Invite.All": ("Guest access", "invite guests (403 Authorization_RequestDenied)"),
    "GroupMember.ReadWrite.All": ("Guest access", "add guests to the guest group (403 Authorization_RequestDenied)"),
    "Mail.Send": ("Emails", "send email as the team's mailbox (403 ErrorAccessDenied)"),
    "OnlineMeetings.ReadWrite.All": ("Teams meetings", "create Teams meetings for the organiser (403 Forbidden)"),
}


@pytest.mark.parametrize("role", sorted(WITHDRAWN))
def test_without_each_permission_that_step_waits_says_why_and_catches_up_once_it_is_back(
        programme: Programme, emulator: EmulatorServer, role: str) -> None:
    session = programme.session("Being included", soon())
    programme.register(session, "Ann Example")
    row = guest_request(programme)
    grant(emulator, [r for r in RUN_ROLES if r != role])
    lines = programme.run()
    lines += programme.run()
    name, words = WITHDRAWN[role]
    told = [one for one in lines if one.startswith(name + ":") and words in one]
    assert told and f"needs the {role} application permission" in told[0]
    assert "see https://learn.microsoft.com/graph/api/" in told[0]
    mail = [m.subject for m in programme.mail_to("ann.example@example.org")]
    if role in ("Sites.ReadWrite.All", "Mail.Send", "OnlineMeetings.ReadWrite.All"):
        assert mail == []  # the confirmation waits (for the lists, the mailbox, the meeting's join link)
    else:
        assert mail == [BOOKED]  # guest access is apart: the booking goes ahead
    if role == "Mail.Send":
        report = status(programme.services.store)
        assert "Mail.Send" in report["blocked"]["emails"]
        assert report["emails"].get("failed", 0) == 0 and report["emails"]["queued"] >= 1  # waiting, not lost
        assert any(s.startswith("Blocked (emails): Microsoft 365 would not let the app send email")
                   for s in status_lines(report))
    if role == "OnlineMeetings.ReadWrite.All":
        note = programme.field("Sessions", session, "SyncNote")
        assert "OnlineMeetings.ReadWrite.All" in note and "confirmations (which carry the join link) wait" in note
    if role in ("User.Read.All", "User.Invite.All"):
        assert programme.field("GuestRequests", row, "StatusNote") == GuestNotes.WAITING_PERMISSION
        assert invitations(programme) == []
    if role == "GroupMember.ReadWrite.All":
        assert len(invitations(programme)) == 1 and not in_group(programme)
        assert programme.field("GuestRequests", row, "Status") == "Failed"
    grant(emulator, RUN_ROLES)
    programme.run()
    programme.run()
    everything_once(programme, session, row)


def test_a_meeting_refused_for_one_session_is_not_asked_for_the_others_in_that_run(
        programme: Programme, emulator: EmulatorServer) -> None:
    for n in range(4):
        programme.session(f"Session {n}", soon(days=10 + n))
    grant(emulator, [r for r in RUN_ROLES if r != "OnlineMeetings.ReadWrite.All"])
    emulator.backend.log.clear()
    programme.run()
    asked = [e for e in emulator.backend.log.entries if "onlineMeetings" in e.path]
    assert len(asked) == 1


class TestSentItemsUnreadable:
    """Mail.ReadBasic.All settles a send whose answer was lost. Without it, the email is never sent twice."""

    def lose_the_answer(self, programme: Programme, emulator: EmulatorServer) -> str:
        session = programme.session("Being included", soon())
        emulator.add_fault(status=504, method="POST", path="/sendMail$", count=1, after=True)
        programme.register(session, "Ann Example")
        grant(emulator, [r for r in RUN_ROLES if r not in ("Mail.ReadBasic.All", "Mail.Read")])  # (Read includes it)
        programme.run()  # the confirmation goes, and its answer is lost: it stays `sending`
        return session

    def test_it_waits_says_why_and_is_settled_as_sent_once_the_permission_is_back(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        self.lose_the_answer(programme, emulator)
        emails = line(programme.run(), "Emails")
        assert "1 interrupted email not yet checked in Sent Items" in emails and "Mail.ReadBasic.All" in emails
        grant(emulator, RUN_ROLES)
        programme.run()
        assert [m.subject for m in programme.mail_to("ann.example@example.org")] == [BOOKED]
        assert programme.services.store.outbox.counts().get("sending", 0) == 0

    def test_after_a_day_uncheckable_it_is_settled_as_may_have_gone_and_never_resent(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        self.lose_the_answer(programme, emulator)
        programme.run(minutes=24 * 60 + 10)
        programme.run()  # the registration run after it notes it
        registration = "1"
        assert programme.field("Registrations", registration, "StatusNote").endswith(Notes.EMAIL_UNCERTAIN)
        grant(emulator, RUN_ROLES)
        programme.run()
        assert [m.subject for m in programme.mail_to("ann.example@example.org")] == [BOOKED]  # once, ever
        assert programme.services.store.outbox.counts() .get("sending", 0) == 0


class TestTenantPolicies:
    def test_without_a_teams_policy_confirmations_wait_and_the_session_says_why(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        session = programme.session("Being included", soon())
        for name in ("Ann Example", "Ben Example"):
            programme.register(session, name)
        emulator.backend.tenant.update({"teams_policy": False})
        lines = programme.run()
        programme.run()
        assert "No Teams application access policy" in line(lines, "Teams meetings")
        note = programme.field("Sessions", session, "SyncNote")
        assert note.startswith("No Teams application access policy lets the app create meetings for the organiser")
        assert "Grant-CsApplicationAccessPolicy" in note and programme.mail() == []
        emulator.backend.tenant.update({"teams_policy": True})
        programme.run()
        programme.run()
        assert sorted(m.subject for m in programme.mail()) == [BOOKED, BOOKED]
        assert {m.to[0] for m in programme.mail()} == {"ann.example@example.org", "ben.example@example.org"}
        assert len(programme.meetings()) == 1 and not programme.field("Sessions", session, "SyncNote")

    def test_when_nobody_may_invite_guests_the_request_waits_and_the_team_is_told(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        row = guest_request(programme)
        emulator.backend.tenant.update({"invitations": "none"})
        guests = line(programme.run(), "Guest access")
        assert "guest invite settings let nobody invite guests" in guests
        assert programme.field("GuestRequests", row, "Status") == "AwaitingDecision"
        assert programme.field("GuestRequests", row, "StatusNote") == GuestNotes.WAITING_PERMISSION
        emulator.backend.tenant.update({"invitations": "admins"})  # apps with User.Invite.All still may
        programme.run()
        assert programme.field("GuestRequests", row, "Status") == "Invited" and len(invitations(programme)) == 1

    def test_a_new_guest_the_group_cannot_see_yet_waits_then_is_added(self, programme: Programme,
                                                                       emulator: EmulatorServer) -> None:
        row = guest_request(programme)
        emulator.backend.tenant.update({"directory_delay_s": 3600})
        guests = line(programme.run(), "Guest access")
        assert "1 invited, site access to follow within minutes" in guests and "failed" not in guests
        assert programme.field("GuestRequests", row, "Status") == "AwaitingDecision"
        assert programme.field("GuestRequests", row, "StatusNote") == GuestNotes.ACCESS_SOON
        emulator.backend.tenant.update({"directory_delay_s": 0})
        programme.run()
        assert programme.field("GuestRequests", row, "Status") == "Invited"
        assert len(invitations(programme)) == 1 and in_group(programme)


class TestListHabits:
    def test_changes_that_come_without_fields_are_read_again_never_decided_blind(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        emulator.backend.tenant.update({"delta_keeps_query": False})
        session = programme.session("Being included", soon())
        programme.run()  # the first read asks for fields; the links it saves do not keep them
        registration = programme.register(session, "Ann Example")
        programme.run()
        assert programme.field("Registrations", registration, "Status") == "Confirmed"
        assert [m.subject for m in programme.mail_to("ann.example@example.org")] == [BOOKED]

    def test_a_quiet_run_is_one_request_even_though_write_answers_carry_no_etag(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        emulator.backend.tenant.update({"write_answers_etag": False})
        session = programme.session("Being included", soon())
        programme.register(session, "Ann Example")
        programme.run()
        programme.run()  # reads the echo of the first run's writes: told apart by their columns
        emulator.backend.log.clear()
        programme.run()
        assert emulator.backend.log.summary()["requests"] == 1

    def test_an_edit_made_after_our_write_is_never_overwritten_by_our_next_write(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        """Our write's answer had no eTag: the mirror foresees the next version's, so an edit in between (a later
        version still) makes our next write meet 412, never overwrite it."""
        emulator.backend.tenant.update({"write_answers_etag": False})
        session = programme.session("Being included", soon())
        lists, store = programme.services.lists, programme.services.store
        mirror = ListMirror(store, "Sessions")
        mirror.apply(lists.delta("Sessions", None))
        read = mirror.get(session).etag
        first = mirror.write(lists, [FieldUpdate(session, {"SyncNote": "ours"}, read)])
        assert first.written == 1 and mirror.get(session).etag == next_etag(read)  # the answer carried none
        assert etag_key(mirror.get(session).etag) == etag_key(lists.get_item("Sessions", session).etag)
        programme.edit("Sessions", session, Title="Being included (renamed)")  # someone edits meanwhile
        second = mirror.write(lists, [FieldUpdate(session, {"SyncNote": "ours again"}, mirror.get(session).etag)])
        assert (second.written, second.conflicts, second.conflicted) == (0, 1, {session})
        assert programme.field("Sessions", session, "Title") == "Being included (renamed)"
        assert programme.field("Sessions", session, "SyncNote") == "ours"
        third = mirror.write(lists, [FieldUpdate(session, {"SyncNote": "ours again"}, mirror.get(session).etag)])
        assert third.written == 1  # decided again on the fresh state, it goes
        assert programme.field("Sessions", session, "Title") == "Being included (renamed)"

    def test_after_a_write_bigger_than_a_page_the_echo_is_read_without_fields_and_told_by_etag(
            self, programme: Programme) -> None:
        """The run after a big write reads every item it wrote back: pages without fields, each item told by the
        eTag the mirror foresaw, nothing read from the store or written again. Then pages carry fields again,
        so a person's change costs one request."""
        services = programme.services
        services.lists.page_size = 10  # a big write: more items than a delta page holds
        session = programme.session("Being included", soon(), capacity=40)
        regs = [programme.register(session, f"Person {n}") for n in range(30)]
        programme.run()
        assert reads_light(services.store, "Registrations")
        mirror = ListMirror(services.store, "Registrations")
        before = services.graph.stats["requests"]
        echo = read_changes(services.lists, services.store, ["Registrations"])["Registrations"]
        assert services.graph.stats["requests"] - before == 3  # 3 pages of 10 ids and eTags; no fields read
        assert (len(echo.known), echo.reread) == (30, 0)
        assert not any(item.has_fields for item in echo.changed.values())
        read_whole: list[int] = []
        many = services.store.mirror.many
        services.store.mirror.many = lambda name, ids: read_whole.append(len(list(ids))) or many(
            name, ids)  # type: ignore[method-assign]
        applied = mirror.apply(echo)
        assert (applied.own_writes, applied.changed, read_whole) == (30, [], [0])
        services.store.mirror.many = many  # type: ignore[method-assign]
        programme.run()  # writes nothing: back to pages with fields
        assert not reads_light(services.store, "Registrations")
        programme.edit("Registrations", regs[4], Cancel=True)
        before = services.graph.stats["requests"]
        change = read_changes(services.lists, services.store, ["Registrations"])["Registrations"]
        assert services.graph.stats["requests"] - before == 1 and change.changed[regs[4]].has_fields

    def test_a_change_among_the_echoes_has_its_fields_read_and_is_decided(self, programme: Programme) -> None:
        programme.services.lists.page_size = 10
        session = programme.session("Being included", soon(), capacity=40)
        regs = [programme.register(session, f"Person {n}") for n in range(30)]
        programme.run()
        programme.edit("Registrations", regs[4], Cancel=True)  # a person's change among our writes' echo
        services = programme.services
        echo = read_changes(services.lists, services.store, ["Registrations"])["Registrations"]
        assert (len(echo.known), echo.reread) == (29, 1)
        assert echo.changed[regs[4]].fields["Cancel"] is True
        programme.run()
        assert programme.field("Registrations", regs[4], "Status") == "Cancelled"

    def test_an_edit_while_the_link_is_changed_keeps_the_old_link_and_is_not_missed(
            self, programme: Programme) -> None:
        services = programme.services
        services.lists.page_size = 10
        session = programme.session("Being included", soon(), capacity=40)
        regs = [programme.register(session, f"Person {n}") for n in range(30)]
        latest = services.lists.latest

        def edited_meanwhile(name: str, **kwargs: Any) -> str:
            programme.edit("Registrations", regs[7], Cancel=True)  # after the run read its changes, before now
            services.lists.latest = latest  # type: ignore[method-assign]
            return latest(name, **kwargs)

        services.lists.latest = edited_meanwhile  # type: ignore[method-assign]
        programme.run()
        assert not reads_light(services.store, "Registrations")  # the old link was kept
        programme.run()
        assert programme.field("Registrations", regs[7], "Status") == "Cancelled"


def test_status_names_what_is_blocked_in_plain_words(programme: Programme, emulator: EmulatorServer) -> None:
    session = programme.session("Being included", soon())
    programme.register(session, "Ann Example")
    grant(emulator, [r for r in RUN_ROLES if r not in ("Mail.Send", "OnlineMeetings.ReadWrite.All")])
    run_held(programme.services, drain_seconds=60)  # as the timer and the CLI run: recorded for `status`
    report = status(programme.services.store)
    assert set(report["blocked"]) == {"teams meetings"}  # no meeting, so no confirmation tried: Mail.Send unmet
    assert "OnlineMeetings.ReadWrite.All" in report["blocked"]["teams meetings"]
    grant(emulator, [r for r in RUN_ROLES if r != "Mail.Send"])
    run_held(programme.services, drain_seconds=60)
    report = status(programme.services.store)
    assert set(report["blocked"]) == {"emails"} and "Mail.Send" in report["blocked"]["emails"]
    grant(emulator, RUN_ROLES)
    run_held(programme.services, drain_seconds=60)
    assert status(programme.services.store)["blocked"] == {}
