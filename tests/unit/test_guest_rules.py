"""Guest access's rules and the public forms' limits, alone (no Graph):

- which external addresses the service adds to the directory without an admin: a blocked domain (and every
  subdomain of it) is refused before anything else, an auto-approved one goes ahead once the address is
  confirmed, anything else waits for an admin; the notes people read for an address we cannot use, and the
  line the run prints;
- how many times the public forms can be used (`coprod.pages.limits`): each count allows exactly its limit and
  refuses one more, in its own minute, hour or day; one client's hour is a tenth of everyone's (never less than
  its minute); a refusal or a failure gives back every count the request took; and one inbox is one mailbox
  however its address is spelt.

The limits run on the real SQLite store with a clock the tests move."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from coprod.guests.rules import GuestNotes, GuestPolicy, GuestReport
from coprod.links import Signer
from coprod.lists.fields import INTERNATIONAL_NOTE
from coprod.pages.limits import ActionLimits, Allowance, mailbox_key
from coprod.store import SqliteStore
from tests.conftest import SIGNING_KEY
from tests.support.fakes import FakeClock

BLOCKED = GuestPolicy(auto_approve=("partner.example.org",), blocked=("example.org", "spam.test"))


class TestWhichGuestsAreAddedWithoutAnAdmin:
    @pytest.mark.parametrize("address", [
        "ann@example.org", "ann@mail.example.org", "ann@a.b.example.org", "Ann@MAIL.Example.ORG",
        "ann@spam.test", "ann@x.spam.test"])
    def test_a_blocked_domain_blocks_itself_and_every_subdomain(self, address: str) -> None:
        assert BLOCKED.verdict(address) == "blocked"

    @pytest.mark.parametrize("address", [
        "ann@notexample.org", "ann@example.org.uk", "ann@example.com", "ann@mailexample.org", "ann@test",
        "example.org@council.gov.uk"])
    def test_a_domain_that_only_looks_like_a_blocked_one_goes_to_an_admin(self, address: str) -> None:
        assert BLOCKED.verdict(address) == "admin"

    def test_blocking_wins_over_auto_approval(self) -> None:
        """partner.example.org is a subdomain of the blocked example.org: refused, though listed as approved."""
        assert BLOCKED.verdict("ann@partner.example.org") == "blocked"
        both = GuestPolicy(auto_approve=("partner.org",), blocked=("partner.org",))
        assert both.verdict("ann@partner.org") == "blocked"

    @pytest.mark.parametrize("address", ["ann@partner.org", "ann@team.partner.org", "Ann@PARTNER.org"])
    def test_an_auto_approved_domain_and_its_subdomains_need_no_admin(self, address: str) -> None:
        assert GuestPolicy(auto_approve=("partner.org", "other.org")).verdict(address) == "auto"

    @pytest.mark.parametrize("address", ["ann@notpartner.org", "ann@partner.org.example.net", "ann@gmail.com"])
    def test_any_other_domain_waits_for_an_admin(self, address: str) -> None:
        assert GuestPolicy(auto_approve=("partner.org",), blocked=("evil.test",)).verdict(address) == "admin"

    def test_with_no_domains_set_every_request_waits_for_an_admin(self) -> None:
        assert GuestPolicy().verdict("ann@example.org") == "admin"

    def test_the_domain_is_what_follows_the_last_at_sign(self) -> None:
        """A quoted local part may hold an @: the mail goes to the domain after the last one."""
        policy = GuestPolicy(auto_approve=("council.gov.uk",), blocked=("blocked.test",))
        assert policy.verdict('"ann@blocked.test"@council.gov.uk') == "auto"
        assert policy.verdict('"ann@council.gov.uk"@blocked.test') == "blocked"


class TestWhatPeopleRead:
    def test_an_address_with_non_english_letters_is_told_how_to_book_instead(self) -> None:
        assert GuestNotes.for_address("international", "josé@example.org") == INTERNATIONAL_NOTE.format(
            value="josé@example.org")
        assert "josé@example.org" in GuestNotes.for_address("international", "josé@example.org")

    def test_a_mistyped_address_is_shown_back_to_be_checked(self) -> None:
        assert GuestNotes.for_address("invalid", "ann@@example") == (
            "We couldn't use the email address “ann@@example”. Please check it for typing mistakes.")

    def test_no_address_at_all_asks_for_one(self) -> None:
        assert GuestNotes.for_address("missing", "") == "Please add the email address the person will sign in with."


class TestTheRunsLine:
    def test_nothing_to_do_says_so(self) -> None:
        assert GuestReport().line() == "Guest access: nothing waiting; 0 rows updated."

    def test_every_count_in_the_singular(self) -> None:
        report = GuestReport(rows_created=1, invited=1, already_members=1, already_in_directory=1, rejected=1,
                             awaiting_admin=1, awaiting_confirmation=1, deferred=1, access_pending=1,
                             waiting_permission=1, failed=1, review_due=1, kept=1, removed=1, reminded=1,
                             digest_queued=True, writes=1)
        assert report.line() == (
            "Guest access: 1 new request from registrations, 1 invited, 1 already had an account and got access, "
            "1 registration needed no request (already in the directory), 1 refused, 1 waiting for an admin, "
            "1 waiting for the person to confirm their address, 1 approved and queued for the next run (invitation "
            "cap), 1 invited, site access to follow within minutes, 1 approved, waiting for a permission or "
            "setting, 1 failed (see the list's notes), 1 guest due for review, 1 kept after review, 1 removed, "
            "1 reminder to accept the invitation queued, the admins' daily digest queued; 1 row updated.")

    def test_every_count_in_the_plural(self) -> None:
        report = GuestReport(rows_created=2, invited=3, already_members=4, already_in_directory=5, rejected=6,
                             awaiting_admin=7, awaiting_confirmation=8, deferred=9, access_pending=10,
                             waiting_permission=11, failed=12, review_due=13, kept=14, removed=15, reminded=16,
                             writes=17)
        assert report.line() == (
            "Guest access: 2 new requests from registrations, 3 invited, 4 already had an account and got access, "
            "5 registrations needed no request (already in the directory), 6 refused, 7 waiting for an admin, "
            "8 waiting for the person to confirm their address, 9 approved and queued for the next run (invitation "
            "cap), 10 invited, site access to follow within minutes, 11 approved, waiting for a permission or "
            "setting, 12 failed (see the list's notes), 13 guests due for review, 14 kept after review, "
            "15 removed, 16 reminders to accept the invitation queued; 17 rows updated.")

    def test_what_is_missing_follows_the_counts_each_reason_once(self) -> None:
        report = GuestReport(invited=1, blocked={"invite": "Grant User.Invite.All.", "group": "Fix the group.",
                                                 "remove": "Grant User.Invite.All."})
        assert report.line() == "Guest access: 1 invited; 0 rows updated. Grant User.Invite.All. Fix the group."


# --- the public forms' limits -------------------------------------------------------------------------------------

MINUTE, HOUR, DAY = 60, 3600, 86400
START = 20834 * DAY  # midnight UTC, 2027-01-15: the start of a minute, an hour and a day


class Forms:
    """The store every instance shares, and one request's allowance at a time."""

    def __init__(self, store: SqliteStore, clock: FakeClock) -> None:
        self.store, self.clock, self.signer = store, clock, Signer(SIGNING_KEY)

    def request(self, limits: ActionLimits, action: str = "book") -> Allowance:
        return Allowance(self.store, action, limits, self.clock, self.signer.digest)

    def clients(self, limits: ActionLimits, client: str, times: int, action: str = "book") -> list[bool]:
        return [self.request(limits, action).client(client) for _ in range(times)]

    def counts(self) -> dict[str, tuple[int, float]]:
        """What the store holds: each count's name, value and when it is forgotten."""
        with sqlite3.connect(self.store.path) as db:
            return {name: (value, expires) for name, value, expires in db.execute("SELECT * FROM counters")}


@pytest.fixture
def forms(tmp_path: Path) -> Iterator[Forms]:
    clock = FakeClock(float(START))
    store = SqliteStore(tmp_path / "state.sqlite3", clock=clock)
    yield Forms(store, clock)
    store.close()


class TestPerClient:
    def test_a_client_gets_exactly_its_minutes_worth_then_waits_for_the_next_minute(self, forms: Forms) -> None:
        limits = ActionLimits(per_client_per_minute=3, per_hour=1000)
        assert forms.clients(limits, "198.51.100.7", 4) == [True, True, True, False]
        assert forms.clients(limits, "198.51.100.8", 3) == [True, True, True]  # another client: its own minute
        forms.clock.now = START + MINUTE - 0.001
        assert forms.clients(limits, "198.51.100.7", 1) == [False]
        forms.clock.now = START + MINUTE
        assert forms.clients(limits, "198.51.100.7", 4) == [True, True, True, False]

    def test_a_client_gets_exactly_its_hours_worth_across_minutes(self, forms: Forms) -> None:
        limits = ActionLimits(per_client_per_minute=2, per_hour=50)  # an hour of 5 for one client
        said = []
        for minute in range(4):
            forms.clock.now = START + minute * MINUTE
            said += forms.clients(limits, "198.51.100.7", 2)
        assert said == [True, True, True, True, True, False, False, False]
        assert forms.clients(limits, "198.51.100.8", 2) == [True, True]
        forms.clock.now = START + HOUR - 0.001
        assert forms.clients(limits, "198.51.100.7", 1) == [False]
        forms.clock.now = START + HOUR
        assert forms.clients(limits, "198.51.100.7", 3) == [True, True, False]

    @pytest.mark.parametrize(("minute", "hour", "clients_hour"), [
        (10, 300, 30), (10, 50, 10), (10, 109, 10), (10, 110, 11), (10, 119, 11), (1, 0, 1), (5, 100, 10)])
    def test_a_clients_hour_is_a_tenth_of_everyones_but_never_less_than_its_minute(
            self, minute: int, hour: int, clients_hour: int) -> None:
        limits = ActionLimits(per_client_per_minute=minute, per_hour=hour)
        assert limits.per_client_per_hour == clients_hour
        assert type(limits.per_client_per_hour) is int

    def test_the_defaults(self) -> None:
        assert ActionLimits() == ActionLimits(per_client_per_minute=10, per_hour=300, per_mailbox_per_day=0)
        assert ActionLimits().per_client_per_hour == 30

    def test_refused_for_its_hour_a_client_spends_none_of_its_minute(self, forms: Forms) -> None:
        limits = ActionLimits(per_client_per_minute=2, per_hour=30)  # an hour of 3 for one client
        assert forms.clients(limits, "198.51.100.7", 2) == [True, True]
        forms.clock.now = START + MINUTE
        assert forms.clients(limits, "198.51.100.7", 3) == [True, False, False]
        who = forms.signer.digest("198.51.100.7")
        assert {name: value for name, (value, _) in forms.counts().items()} == {
            f"book:client-minute:{who}:{START // MINUTE + 1}": 1, f"book:client-hour:{who}:{START // HOUR}": 3}


class TestPerMailbox:
    def test_a_mailbox_gets_exactly_its_days_worth_however_it_is_spelt(self, forms: Forms) -> None:
        limits = ActionLimits(per_mailbox_per_day=3)
        spellings = ["ann.example@gmail.com", "Ann.Example+1@gmail.com", "annexample+x@googlemail.com",
                     "a.n.n.example@gmail.com"]
        assert [forms.request(limits).mailbox(a) for a in spellings] == [True, True, True, False]
        assert forms.request(limits).mailbox("bob@gmail.com")
        forms.clock.now = START + DAY - 0.001
        assert not forms.request(limits).mailbox("annexample@gmail.com")
        forms.clock.now = START + DAY
        assert [forms.request(limits).mailbox("annexample@gmail.com") for _ in range(4)] == [True, True, True, False]

    def test_an_action_without_a_mailbox_limit_never_refuses_a_mailbox(self, forms: Forms) -> None:
        assert all(forms.request(ActionLimits()).mailbox("ann@example.org") for _ in range(5))
        assert forms.counts() == {}

    def test_a_further_count_about_the_mailbox_is_its_own(self, forms: Forms) -> None:
        """A double click on one session: one booking a minute per mailbox and session."""

        def book(address: str, session: str) -> bool:
            return forms.request(ActionLimits()).mailbox(address, also=((f"twice:{session}", 1, 60.0),))

        assert [book("ann@example.org", "s1"), book("ann+2@example.org", "s1")] == [True, False]
        assert book("ann@example.org", "s2") and book("bob@example.org", "s1")
        forms.clock.now = START + MINUTE
        assert book("ann@example.org", "s1")

    def test_every_further_count_and_the_day_must_allow_it(self, forms: Forms) -> None:
        limits = ActionLimits(per_mailbox_per_day=2)
        also = (("session", 5, 60.0), ("slot", 1, 600.0))
        assert forms.request(limits).mailbox("ann@example.org", also=also)
        assert not forms.request(limits).mailbox("ann@example.org", also=also)  # the slot's count
        forms.clock.now = START + 600
        assert forms.request(limits).mailbox("ann@example.org", also=also)
        forms.clock.now = START + 1200
        assert not forms.request(limits).mailbox("ann@example.org", also=also)  # the day's count


class TestEveryonesHour:
    def test_everyone_gets_exactly_the_hours_worth_then_waits_for_the_next_hour(self, forms: Forms) -> None:
        limits = ActionLimits(per_hour=3)
        assert [forms.request(limits).everyone() for _ in range(4)] == [True, True, True, False]
        forms.clock.now = START + HOUR - 0.001
        assert not forms.request(limits).everyone()
        forms.clock.now = START + HOUR
        assert [forms.request(limits).everyone() for _ in range(4)] == [True, True, True, False]

    def test_each_action_counts_apart(self, forms: Forms) -> None:
        limits = ActionLimits(per_client_per_minute=1, per_hour=1, per_mailbox_per_day=1)
        for action in ("book", "lookup", "subscribe"):
            allowance = forms.request(limits, action)
            assert allowance.client("198.51.100.7") and allowance.mailbox("ann@example.org") and allowance.everyone()
        assert not forms.request(limits, "book").everyone()


class TestGivingBack:
    def test_refused_for_everyones_hour_a_request_spends_none_of_the_clients_counts(self, forms: Forms) -> None:
        limits = ActionLimits(per_client_per_minute=2, per_hour=1, per_mailbox_per_day=2)
        first = forms.request(limits)
        assert first.client("198.51.100.7") and first.mailbox("ann@example.org") and first.everyone()
        for _ in range(3):
            refused = forms.request(limits)
            assert refused.client("198.51.100.7") and refused.mailbox("ann@example.org")
            assert not refused.everyone()
        last = forms.request(limits)
        assert last.client("198.51.100.7") and last.mailbox("ann@example.org")  # the second of each, still
        assert not forms.request(limits).client("198.51.100.7")

    def test_a_request_that_made_nothing_gives_back_exactly_what_it_took(self, forms: Forms) -> None:
        limits = ActionLimits(per_client_per_minute=2, per_hour=2, per_mailbox_per_day=2)
        kept = forms.request(limits)
        assert kept.client("198.51.100.7") and kept.mailbox("ann@example.org") and kept.everyone()
        before = forms.counts()
        failed = forms.request(limits)
        assert failed.client("198.51.100.7") and failed.mailbox("ann@example.org") and failed.everyone()
        failed.give_back()
        failed.give_back()  # twice: nothing more, so the kept request stays counted
        assert forms.counts() == before
        assert {value for value, _ in before.values()} == {1}

    def test_a_refusal_gives_back_the_counts_taken_before_it(self, forms: Forms) -> None:
        forms.request(ActionLimits(per_hour=1)).everyone()
        allowance = forms.request(ActionLimits(per_hour=1))
        assert allowance.take("slot:s1:10:00", 1, START + 600)
        assert not allowance.everyone()
        assert forms.request(ActionLimits()).take("slot:s1:10:00", 1, START + 600)  # the time is free again


class TestWhatTheStoreKeeps:
    def test_each_count_under_its_action_and_window_digests_not_addresses_until_its_window_ends(
            self, forms: Forms) -> None:
        """Every instance shares the counts (and one of a newer version during a deploy): their names are fixed."""
        allowance = forms.request(ActionLimits(per_mailbox_per_day=3), "book")
        forms.clock.now = START + 2 * HOUR + 5 * MINUTE + 30
        assert allowance.client("198.51.100.7") and allowance.mailbox("Ann+x@Example.org") and allowance.everyone()
        client, mailbox = forms.signer.digest("198.51.100.7"), forms.signer.digest("ann@example.org")
        minute, hour, day = (START + 2 * HOUR + 5 * MINUTE) // MINUTE, (START + 2 * HOUR) // HOUR, START // DAY
        assert forms.counts() == {
            f"book:client-minute:{client}:{minute}": (1, START + 2 * HOUR + 6 * MINUTE),
            f"book:client-hour:{client}:{hour}": (1, START + 3 * HOUR),
            f"book:mailbox-day:{mailbox}:{day}": (1, START + DAY),
            f"book:everyone-hour:{hour}": (1, START + 3 * HOUR)}
        forms.clock.now = START + 3 * HOUR
        forms.request(ActionLimits()).everyone()
        assert set(forms.counts()) == {f"book:mailbox-day:{mailbox}:{day}", f"book:everyone-hour:{hour + 1}"}


class TestOneInboxOneMailbox:
    @pytest.mark.parametrize(("spelling", "mailbox"), [
        ("Ann+news@Example.org", "ann@example.org"), ("ann+news+more@example.org", "ann@example.org"),
        ("ann@example.org", "ann@example.org"), ("a.n.n+1@googlemail.com", "ann@gmail.com"),
        ("A.Nn@GMAIL.com", "ann@gmail.com"), ("a.nn@example.org", "a.nn@example.org"),
        ("a.nn@gmail.co.uk", "a.nn@gmail.co.uk"), ("+x@example.org", "+x@example.org"),
        ("STRASSE@example.org", "strasse@example.org"), ("Straße@example.org", "strasse@example.org"),
        ('"a.b@c"+x@gmail.com', '"ab@c"@gmail.com')])
    def test_the_mailbox_an_address_reaches(self, spelling: str, mailbox: str) -> None:
        assert mailbox_key(spelling) == mailbox
