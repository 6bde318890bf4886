"""Guest access end to end: GuestRequests rows and registrations in the emulator -> the reconciler over HTTPS ->
the directory, the guest group, the list's notes and the emails."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from coprod.guests.access import GuestAccess
from coprod.guests.rules import INVITE_LIMIT, GuestNotes
from coprod.run import run_once
from coprod.runtime import Services
from graph_client import Directory
from graph_emulator import EmulatorServer
from tests.support.fakes import FakeClock
from tests.support.programme import Programme

AUTO = "partner.example.org"
BLOCKED = "blocked.example.com"
pytestmark = pytest.mark.clock(waits=True)  # sleeps for real: the emulator's invitation throttle counts real seconds


class Guests(Programme):
    """A programme whose `run` is one guest-access run alone, with admins editing GuestRequests."""

    def __init__(self, emulator: EmulatorServer, services: Services, clock: FakeClock) -> None:
        super().__init__(emulator, services, clock)
        self.directory = emulator.backend.directory

    def request(self, name: str, email: str, **fields: Any) -> str:
        """Someone (an admin, or a form) adds a GuestRequests row."""
        values = {"Title": name, "Email": email, "Decision": "Pending"} | fields
        return str(self.backend.sharepoint.create_item(self.site, "GuestRequests", values, check=False).id)

    def decide(self, item_id: str, decision: str) -> None:
        self.edit("GuestRequests", item_id, Decision=decision)

    def run(self, invite_limit: tuple[int, float] = INVITE_LIMIT, **settings: Any) -> Any:  # type: ignore[override]
        """One guest-access run; `settings` override the programme's (a lower cap), `invite_limit` the
        invitations API's (a tighter one)."""
        return GuestAccess(self.services.lists, self.services.directory, self.services.store, self.services.outbox,
                           self.services.signer, self.services.settings.model_copy(update=settings),
                           clock=self.clock, sleep=self.clock.sleep, invite_limit=invite_limit).run()

    def row(self, item_id: str) -> dict[str, Any]:
        return self.fields(item_id, "GuestRequests")

    def state(self, item_id: str) -> tuple[Any, Any]:
        row = self.row(item_id)
        return row.get("Status"), row.get("StatusNote")

    def invited(self) -> list[str]:
        return [i.address for i in self.directory.invitations]

    def group_members(self) -> list[str]:
        return [u.mail or u.user_principal_name for u in self.directory.members(self.backend.guest_group.id)]


@pytest.fixture
def guests(emulator: EmulatorServer, env: dict[str, str], clock: FakeClock) -> Iterator[Guests]:
    with Guests.open(emulator, env, clock, COPROD_GUEST_AUTO_APPROVE_DOMAINS=AUTO,
                     COPROD_GUEST_BLOCKED_DOMAINS=f"{BLOCKED}, spam.example.net",
                     COPROD_PUBLIC_URL="https://coprod.example.org") as made:
        yield made


class TestAnAdminDecides:
    def test_a_request_waits_for_an_admin_then_an_approval_invites_and_grants_access(self, guests: Guests) -> None:
        row = guests.request("Ann Example", "ann@example.com", Organisation="Carers' forum")
        guests.run()
        assert guests.state(row) == ("AwaitingDecision", GuestNotes.WAITING_ADMIN)
        assert guests.invited() == []
        guests.decide(row, "Approved")
        report = guests.run()
        guest = guests.directory.users_with_address("ann@example.com")[0]
        assert (report.invited, guests.invited()) == (1, ["ann@example.com"])
        assert guests.state(row) == ("Invited", GuestNotes.INVITED) and guests.row(row)["UserId"] == guest.id
        assert (guest.user_type, guest.external_user_state) == ("Guest", "PendingAcceptance")
        assert guests.group_members() == ["ann@example.com"]
        invitation = guests.directory.invitations[0]
        assert invitation.redirect_url == guests.backend.site.web_url and invitation.display_name == "Ann Example"
        assert invitation.message_body is not None and "Ann Example" in invitation.message_body

    def test_a_rejection_is_recorded_politely_and_nobody_is_invited(self, guests: Guests) -> None:
        row = guests.request("Ben Example", "ben@example.com", Decision="Rejected")
        guests.run()
        assert guests.state(row) == ("Rejected", GuestNotes.REJECTED) and guests.invited() == []

    def test_a_finished_request_is_left_alone(self, guests: Guests) -> None:
        """Invited rows are final: a later edit to Decision changes nothing and invites nobody again."""
        row = guests.request("Ann Example", "ann@example.com", Decision="Approved")
        guests.run()
        guests.decide(row, "Rejected")
        guests.run()
        assert guests.state(row)[0] == "Invited" and len(guests.invited()) == 1


class TestPolicy:
    def test_a_blocked_domain_is_refused_with_a_polite_note_saying_why(self, guests: Guests) -> None:
        row = guests.request("Cat Example", "cat@BLOCKED.example.com", Decision="Approved")
        guests.run()
        assert guests.state(row) == ("Rejected", GuestNotes.BLOCKED.format(domain=BLOCKED))
        assert guests.invited() == []

    def test_an_unusable_address_gets_a_note_saying_what_to_fix(self, guests: Guests) -> None:
        row = guests.request("Dan Example", "dan(at)example.org", Decision="Approved")
        guests.run()
        assert guests.state(row) == ("Failed", GuestNotes.BAD_EMAIL.format(value="dan(at)example.org"))

    def test_an_auto_approve_domain_waits_for_the_person_to_confirm_their_address(self, guests: Guests) -> None:
        row = guests.request("Eve Example", f"eve@{AUTO}")
        report = guests.run()
        assert guests.state(row) == ("AwaitingDecision", GuestNotes.CONFIRM_SENT)
        assert (report.confirmations_sent, guests.invited()) == (1, [])
        guests.run()
        assert len(guests.services.store.outbox.list("queued")) == 1  # the link is emailed once, not every run


class TestTheDirectory:
    def test_someone_already_in_the_directory_gets_access_without_an_invitation(self, guests: Guests) -> None:
        member = guests.directory.add_user("Fay Officer", "fay.officer@council.example.org")
        row = guests.request("Fay Officer", "Fay.Officer@council.example.org", Decision="Approved")
        guests.run()
        assert guests.state(row) == ("AlreadyMember", GuestNotes.ALREADY_MEMBER)
        assert guests.row(row)["UserId"] == member.id and guests.invited() == []
        assert guests.group_members() == ["fay.officer@council.example.org"]

    def test_already_in_the_group_counts_as_success(self, guests: Guests) -> None:
        """Graph answers "already exist" when the member is there: that is what we wanted."""
        member = guests.directory.add_user("Gus Guest", "gus_example.org#EXT#@councilcoprod.onmicrosoft.com",
                                           mail="gus@example.org", user_type="Guest")
        guests.directory.add_member(guests.backend.guest_group.id, member.id)
        row = guests.request("Gus Guest", "gus@example.org", Decision="Approved")
        guests.run()
        assert guests.state(row)[0] == "AlreadyMember" and guests.group_members() == ["gus@example.org"]

    @pytest.mark.parametrize("address", ["o'brien@example.org", "a'or'1'eq'1@example.org"])
    def test_addresses_with_quotes_are_found_exactly(self, guests: Guests, address: str) -> None:
        """Quotes are doubled in $filter: the right person is found, and nobody else."""
        for n in range(3):
            guests.directory.add_user(f"Other {n}", f"other{n}@example.org")
        person = guests.directory.add_user("Quote Person", "qp@council.example.org", mail=address)
        row = guests.request("Quote Person", address, Decision="Approved")
        guests.run()
        assert guests.state(row)[0] == "AlreadyMember" and guests.row(row)["UserId"] == person.id
        assert guests.invited() == []

    def test_an_injection_shaped_address_matches_nobody_else(self, guests: Guests) -> None:
        """The look-up itself, with a text that would widen an unescaped filter to everyone."""
        for n in range(3):
            guests.directory.add_user(f"Other {n}", f"other{n}@example.org")
        lookup = Directory(guests.services.graph)
        assert lookup.find_by_address("x' or 1 eq 1 or mail eq 'y@example.org") == []
        found = guests.directory.add_user("Odd", "odd@council.example.org", mail="x' or 1 eq 1@example.org")
        assert [u.id for u in lookup.find_by_address("x' or 1 eq 1@example.org")] == [found.id]

    def test_an_address_in_another_guest_form_is_found(self, guests: Guests) -> None:
        """A guest whose mail is empty is still found by otherMails, or by the #EXT# form of their address."""
        by_other = guests.directory.add_user("Hal", "hal@elsewhere.example.org", mail="",
                                             other_mails=["hal@example.org"], user_type="Guest")
        by_upn = guests.directory.add_user("Ida", "ida_example.org#EXT#@councilcoprod.onmicrosoft.com", mail="",
                                           user_type="Guest")
        lookup = Directory(guests.services.graph)
        assert [u.id for u in lookup.find_by_address("hal@example.org")] == [by_other.id]
        assert [u.id for u in lookup.find_by_address("ida@example.org")] == [by_upn.id]


class TestExactlyOnce:
    @staticmethod
    def crash_after_inviting(guests: Guests, row: str) -> None:
        """Run, and stop the run (as the host would) after POST /invitations and before anything is written."""
        store = guests.services.store
        real_put = store.ledger.put

        def die_after_inviting(key: str, kind: str, status: str, payload: dict[str, Any]) -> None:
            if key.startswith("invite:") and status == "done":
                raise KeyboardInterrupt("the function host stopped the run")
            real_put(key, kind, status, payload)

        store.ledger.put = die_after_inviting  # type: ignore[method-assign]
        try:
            with pytest.raises(KeyboardInterrupt):
                guests.run()
        finally:
            store.ledger.put = real_put  # type: ignore[method-assign]
        assert guests.invited() == ["jo@example.com"] and guests.row(row).get("Status") is None

    def test_a_run_stopped_after_the_invitation_and_before_the_write_back_invites_once(self, guests: Guests) -> None:
        row = guests.request("Jo Example", "jo@example.com", Decision="Approved")
        self.crash_after_inviting(guests, row)
        guests.run()
        guest = guests.directory.users_with_address("jo@example.com")[0]
        assert guests.invited() == ["jo@example.com"]
        assert guests.state(row) == ("Invited", GuestNotes.INVITED) and guests.row(row)["UserId"] == guest.id
        assert guests.group_members() == ["jo@example.com"]

    def test_while_the_directory_lags_behind_the_invitation_it_waits_rather_than_invite_again(
            self, guests: Guests) -> None:
        """Entra's look-ups can trail a new guest by a little: a rerun then waits, and invites nobody twice."""
        row = guests.request("Jo Example", "jo@example.com", Decision="Approved")
        self.crash_after_inviting(guests, row)
        guest = guests.directory.users_with_address("jo@example.com")[0]
        hidden = guests.directory.users.pop(guest.id)  # not yet visible to $filter
        guests.run()
        assert guests.state(row) == ("AwaitingDecision", GuestNotes.QUEUED) and guests.invited() == ["jo@example.com"]
        guests.directory.users[hidden.id] = hidden
        guests.clock.offset += 600
        guests.run()
        assert guests.state(row)[0] == "Invited" and guests.invited() == ["jo@example.com"]

    def test_two_requests_for_one_address_invite_once(self, guests: Guests) -> None:
        first = guests.request("Kit Example", "kit@example.com", Decision="Approved")
        second = guests.request("Kit Example", " KIT@example.com ", Decision="Approved")
        guests.run()
        assert [guests.state(first)[0], guests.state(second)[0]] == ["Invited", "Invited"]
        assert guests.invited() == ["kit@example.com"]


class TestLimits:
    def test_no_more_than_the_cap_a_run_and_the_rest_go_next_run(self, guests: Guests) -> None:
        rows = [guests.request(f"Person {n}", f"person{n}@example.com", Decision="Approved") for n in range(3)]
        report = guests.run(max_invites_per_run=2)
        assert (report.invited, report.deferred) == (2, 1)
        assert [guests.state(r)[0] for r in rows] == ["Invited", "Invited", "AwaitingDecision"]
        assert guests.state(rows[2])[1] == GuestNotes.QUEUED
        guests.run(max_invites_per_run=2)
        assert guests.state(rows[2])[0] == "Invited" and len(guests.invited()) == 3


    def test_invitations_keep_under_the_invitation_apis_own_limit(self, guests: Guests) -> None:
        """Graph allows 150 invitations per 5 s per tenant (here 3 per second): paced, 7 go and none is refused."""
        guests.directory.set_limit(per_window=3, window_seconds=1.0)
        for n in range(7):
            guests.request(f"Person {n}", f"person{n}@example.com", Decision="Approved")
        started = time.monotonic()
        report = guests.run(invite_limit=(3, 1.0))
        assert report.invited == 7 and len(guests.invited()) == 7
        invitations = [e for e in guests.backend.log.snapshot() if e.operation == "POST /invitations"]
        assert [e.status for e in invitations] == [201] * 7  # no 429 met
        assert time.monotonic() - started >= 2.0  # 7 at 3 a second take two waits


class TestFromRegistrations:
    def test_a_registration_asking_for_access_becomes_a_request_unless_already_in_the_directory(
            self, guests: Guests) -> None:
        guests.directory.add_user("Lee Member", "lee@council.example.org")
        store = guests.services.store
        store.ledger.add("guest:mo@example.com", "guest-request", {"name": "Mo Example", "email": "mo@example.com",
                                                                  "registration": "4"})
        store.ledger.add("guest:lee@council.example.org", "guest-request",
                         {"name": "Lee Member", "email": "lee@council.example.org", "registration": "5"})
        report = guests.run()
        rows = guests.backend.sharepoint.get_list(guests.site, "GuestRequests").items.values()
        assert [(r.fields["Title"], r.fields["Email"], r.fields["Decision"]) for r in rows] == [
            ("Mo Example", "mo@example.com", "Pending")]
        assert (report.rows_created, report.already_in_directory) == (1, 1)
        assert {e.key: e.status for e in store.ledger.list(kind="guest-request")} == {
            "guest:mo@example.com": "done", "guest:lee@council.example.org": "done"}
        row = str(next(iter(rows)).id)
        assert guests.state(row) == ("AwaitingDecision", GuestNotes.WAITING_ADMIN)  # decided in the same run
        guests.run()
        assert len(rows) == 1  # not added twice


def test_the_whole_run_registers_then_requests_access_end_to_end(guests: Guests) -> None:
    """A registration ticking WantsSiteAccess, through run_once: sync, then a GuestRequests row, then the admin."""
    sp, site = guests.backend.sharepoint, guests.site
    session = sp.create_item(site, "Sessions", {"Title": "Being included", "Status": "Open", "Capacity": 5,
                                                "StartTime": "2030-01-01T10:00:00Z", "EndTime": "2030-01-01T11:00:00Z"})
    sp.create_item(site, "Registrations", {"Title": "Nia Example", "Email": "nia@example.com", "Consent": True,
                                           "SessionLookupId": str(session.id), "WantsSiteAccess": True})
    lines = run_once(guests.services, drain_seconds=0)
    assert lines[1].startswith("Guest access: 1 new request from registrations")
    row = str(next(iter(sp.get_list(site, "GuestRequests").items)))
    guests.decide(row, "Approved")
    run_once(guests.services, drain_seconds=0)
    assert guests.state(row)[0] == "Invited" and guests.invited() == ["nia@example.com"]


class TestEmails:
    def sent(self, guests: Guests) -> list[Any]:
        return guests.backend.mail.sent(guests.backend.sender)

    def test_confirming_the_address_from_the_email_leads_to_the_invitation(self, guests: Guests) -> None:
        """The link in the email, opened (nothing changes), then the button pressed: the next run invites."""
        import re

        import httpx

        from coprod.pages.app import create_web_app
        from graph_emulator.testing import AsgiTransport

        row = guests.request("Eve Example", f"Eve@{AUTO}")
        run_once(guests.services, drain_seconds=0)
        [email] = self.sent(guests)
        assert (email.to, email.subject) == ((f"eve@{AUTO}",), "Please confirm your email address")
        assert "Hello Eve Example," in email.text_body and "<p>Hello Eve Example,</p>" in (email.html_body or "")
        link = re.search(r"https://coprod\.example\.org(/api/pages/guest/confirm\?t=\S+)", email.text_body)
        assert link is not None
        assert AUTO not in link.group(1) and "eve" not in link.group(1).lower()  # no address in the URL
        pages = create_web_app(guests.services.web_context)
        with httpx.Client(transport=AsgiTransport(pages), base_url="https://coprod.example.org") as browser:
            opened = browser.get(link.group(1))
            assert opened.status_code == 200
            assert re.search(r">\s*Confirm my email address\s*</button>", opened.text)
            run_once(guests.services, drain_seconds=0)
            assert guests.invited() == []  # a mail scanner opening the link confirms nothing
            token = re.search(r'name="t" value="([^"]+)"', opened.text)
            assert token is not None
            assert browser.post("/api/pages/guest/confirm", data={"t": token.group(1)}).status_code == 200
        run_once(guests.services, drain_seconds=0)
        assert guests.state(row)[0] == "Invited" and guests.invited() == [f"eve@{AUTO}"]
        assert len(self.sent(guests)) == 1  # and the confirmation went once

    def test_admins_get_one_digest_a_day_while_requests_wait_and_none_when_none_do(self, guests: Guests) -> None:
        guests.services.settings = guests.services.settings.model_copy(
            update={"admin_email": "officers@council.example.org"})
        run_once(guests.services, drain_seconds=0)
        assert self.sent(guests) == []  # nothing waits: no digest
        guests.request("Pat Example", "pat@example.com", Organisation="Young carers' group",
                       Reason="I co-chair the carers' forum")
        guests.request("Ray Example", "ray@example.com")
        run_once(guests.services, drain_seconds=0)
        run_once(guests.services, drain_seconds=0)
        [digest] = self.sent(guests)
        assert digest.to == ("officers@council.example.org",)
        assert digest.subject == "2 people are waiting for access to the co-production site"
        assert "Pat Example (pat@example.com), Young carers' group" in digest.text_body
        assert "Reason: I co-chair the carers' forum" in digest.text_body
        assert "Young carers&#39; group" in (digest.html_body or "")  # escaped in HTML
        assert "/Lists/GuestRequests" in digest.text_body
        guests.clock.offset += 86_400
        run_once(guests.services, drain_seconds=0)
        assert len(self.sent(guests)) == 2  # the next day, still waiting: another


class TestGuestReview:
    """Nobody the service let in keeps access for ever: a review after COPROD_GUEST_REVIEW_DAYS (Keep or Remove in
    the list), and an invitation never accepted is reminded once, then taken back."""

    ADMINS = "coproduction-admins@council.example.org"

    @pytest.fixture
    def team(self, emulator: EmulatorServer, env: dict[str, str], clock: FakeClock) -> Iterator[Guests]:
        with Guests.open(emulator, env, clock, COPROD_PUBLIC_URL="https://coprod.example.org",
                         COPROD_ADMIN_EMAIL=self.ADMINS, COPROD_GUEST_REVIEW_DAYS="180") as made:
            yield made

    @staticmethod
    def run(team: Guests, days: float = 0) -> list[str]:
        team.clock.offset += days * 86_400 + 300
        return run_once(team.services, drain_seconds=600)

    def sent_to(self, team: Guests, address: str) -> list[Any]:
        return [m for m in team.backend.mail.sent(team.backend.sender) if m.to == (address,)]

    def test_the_admins_keep_one_guest_and_remove_another_after_the_review_period(self, team: Guests) -> None:
        team.clock.to_uk_midday()
        ann = team.request("Ann Example", "ann@example.com", Decision="Approved")
        team.directory.add_user("Bo Member", "bo_example.com#EXT#@council.example.org", mail="bo@example.com",
                                user_type="Guest")
        bo = team.request("Bo Member", "bo@example.com", Decision="Approved")
        self.run(team)
        assert [team.state(r)[0] for r in (ann, bo)] == ["Invited", "AlreadyMember"]
        [ann_user] = team.directory.users_with_address("ann@example.com")
        team.directory.accept_invitation(ann_user.id)
        self.run(team)
        review_by = str(team.row(ann)["ReviewBy"])
        assert review_by[:10] == time.strftime("%Y-%m-%d", time.gmtime(team.clock() + 180 * 86_400))

        lines = self.run(team, days=181)
        assert any("2 guests due for review" in line for line in lines)
        [digest] = self.sent_to(team, self.ADMINS)
        assert digest.subject == "2 guests of the co-production site to review"
        assert "Ann Example (ann@example.com)" in (digest.text_body or "") and "set Review decision to Keep or " \
            "Remove" in (digest.text_body or "")

        team.backend.sharepoint.update_fields(team.site, "GuestRequests", ann, {"Review": "Remove"})
        team.backend.sharepoint.update_fields(team.site, "GuestRequests", bo, {"Review": "Keep"})
        lines = self.run(team)
        assert any("1 kept after review, 1 removed" in line for line in lines)
        assert team.state(ann)[0] == "Removed" and "The guest account was deleted." in team.state(ann)[1]
        assert team.directory.users_with_address("ann@example.com") == []
        assert team.group_members() == ["bo@example.com"]  # kept, and still in the group
        assert team.state(bo)[0] == "AlreadyMember" and "Access kept after review" in team.state(bo)[1]
        assert not team.row(bo).get("Review") and str(team.row(bo)["ReviewBy"]) > review_by  # the next review
        assert not any("due for review" in line for line in self.run(team, days=1))

    def test_an_invitation_never_accepted_is_reminded_once_then_taken_back(self, team: Guests) -> None:
        team.clock.to_uk_midday()
        cy = team.request("Cy Example", "cy@example.com", Decision="Approved")
        self.run(team)
        self.run(team)
        assert team.state(cy)[0] == "Invited" and self.sent_to(team, "cy@example.com") == []
        self.run(team, days=31)
        [reminder] = self.sent_to(team, "cy@example.com")
        assert reminder.subject == "Your invitation to the co-production site is waiting"
        assert "invites@microsoft.com" in (reminder.text_body or "")
        assert team.backend.site.web_url in (reminder.text_body or "")
        assert "We reminded you on" in team.state(cy)[1]
        self.run(team, days=1)
        assert len(self.sent_to(team, "cy@example.com")) == 1  # one reminder only
        lines = self.run(team, days=30)
        assert any("1 removed" in line for line in lines)
        assert team.state(cy)[0] == "Removed" and "wasn't accepted within 60 days" in team.state(cy)[1]
        assert team.directory.users_with_address("cy@example.com") == [] and team.group_members() == []
