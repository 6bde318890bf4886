"""The registration rules alone (no I/O): how each column's value is read, and who gets a place.

Readings are pinned value by value: "yes" typed in a yes/no column is yes, "10" typed as places is 10, and an
unusable value is refused with a note, never guessed at. So are the waiting list's order, a drop-in's appointments
(one person a time), bookings an officer made for someone told by phone or post, the lines of a pre-reading text
and the name an email greets someone by.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from coprod.lists.fields import (
    as_bool,
    as_datetime,
    as_int,
    as_lines,
    as_text,
    check_email,
    facilitators,
    greeting_name,
    normalise_email,
    subscriber_topics,
)
from coprod.lists.notes import Notes
from coprod.lists.records import Registration, Session, parse_registration, parse_session, queue_positions
from coprod.registrations.rules import Decision, allocate, message_kind
from coprod.store import MirrorItem

NOW = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


class TestReadingColumns:
    @pytest.mark.parametrize(("value", "read"), [
        (None, ""), ({"a": 1}, ""), (["a"], ""), (True, ""), (5, "5"), (2.5, "2.5"),
        ("  Ann  ", "Ann"), ("ＡＮＮ", "ANN"), ("a\r\nb", "a b"), ("a\u2028b\u2029c\x85d", "a b c d"),
        ("a\x00\x07b", "a b"), ("\u202eevil\u202c", "evil"), ("a \t  b", "a b"),
    ])
    def test_text_is_one_clean_line(self, value: Any, read: str) -> None:
        assert as_text(value) == read

    def test_text_is_cut_to_its_limit(self) -> None:
        assert as_text("x" * 100_000, 80) == "x" * 80
        assert as_text("x" * 100_000) == "x" * 500
        assert as_text("ab cd", 3) == "ab"  # no trailing space left where the cut fell

    @pytest.mark.parametrize(("value", "read"), [
        (True, True), (False, False), ("yes", True), (" Yes ", True), ("TRUE", True), ("1", True),
        ("no", False), ("0", False), ("", False), ("y", False), ("maybe", False), (1, False), (None, False),
        (["yes"], False),
    ])
    def test_only_a_clear_yes_is_yes(self, value: Any, read: bool) -> None:
        assert as_bool(value) is read

    @pytest.mark.parametrize(("value", "read"), [
        (10, 10), ("10", 10), (" 10 ", 10), ("10.7", 10), (3.9, 3), (0, 0), (-1, -1), ("-2", -2),
        (999_999_999, 999_999_999), (1e9, None), ("1e9", None), (-1e9, None), (True, None), ("ten", None),
        (float("nan"), None), ("nan", None), (float("inf"), None), (None, None), ([10], None),
    ])
    def test_numbers_read_as_typed_or_not_at_all(self, value: Any, read: int | None) -> None:
        assert as_int(value) == read

    @pytest.mark.parametrize(("value", "read"), [
        ("2030-01-01T10:00:00Z", datetime(2030, 1, 1, 10, tzinfo=UTC)),
        (" 2030-01-01T10:00:00Z ", datetime(2030, 1, 1, 10, tzinfo=UTC)),
        ("2030-01-01T10:00:00", datetime(2030, 1, 1, 10, tzinfo=UTC)),  # no zone: UTC, as the column says
        ("2030-06-01T10:00:00+01:00", datetime(2030, 6, 1, 10, tzinfo=timezone(timedelta(hours=1)))),
        ("2000-01-01T00:00:00Z", datetime(2000, 1, 1, tzinfo=UTC)),
        ("2199-12-31T23:59:59Z", datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("1999-12-31T23:59:59Z", None), ("2200-01-01T00:00:00Z", None), ("9999-12-31T10:00:00Z", None),
        ("2030-01-01T10:00:00z", None),
        ("0001-01-01T00:00:00Z", None), ("2030-02-30T10:00:00Z", None), ("yesterday", None), (20300101, None),
        (None, None),
    ])
    def test_dates_are_read_only_when_plausible(self, value: Any, read: datetime | None) -> None:
        assert as_datetime(value) == read

    @pytest.mark.parametrize(("typed", "address", "problem", "shown"), [
        ("ann@example.org", "ann@example.org", None, "ann@example.org"),
        ("  ANN@Example.ORG ", "ann@example.org", None, "ANN@Example.ORG"),
        ("ＡＮＮ@example.org", "ann@example.org", None, "ANN@example.org"),
        ("Ann@Bücher.de", "ann@xn--bcher-kva.de", None, "Ann@Bücher.de"),
        ("josé@example.org", None, "international", "josé@example.org"),
        ("ann(at)example.org", None, "invalid", "ann(at)example.org"),
        ("a@b", None, "invalid", "a@b"),
        ("", None, "missing", ""), (None, None, "missing", ""), (42, None, "invalid", "42"),
        ("x" * 100 + "@example.org", None, "invalid", "x" * 60),
        ("x" * 64 + "@example.org", "x" * 64 + "@example.org", None, "x" * 60),  # RFC 5321: 64 before the @
        ("x" * 65 + "@example.org", None, "invalid", "x" * 60),
    ])
    def test_addresses_are_normalised_or_refused_with_a_reason(self, typed: Any, address: str | None,
                                                               problem: str | None, shown: str) -> None:
        checked = check_email(typed)
        assert (checked.address, checked.problem, checked.shown) == (address, problem, shown)
        assert normalise_email(typed) == address


class TestParsing:
    def test_a_session_with_nothing_set_is_a_draft_with_no_limit_and_two_problems(self) -> None:
        session = parse_session("7", {})
        assert (session.title, session.status, session.capacity, session.start, session.end) == (
            "Session 7", "Draft", 0, None, None)
        assert session.problems == ("Start time is missing or not a date.", "End time is missing or not a date.")
        assert session.unlimited

    @pytest.mark.parametrize(("capacity", "read"), [(None, 0), ("", 0), (0, 0), (10, 10), ("10", 10)])
    def test_places_as_typed(self, capacity: Any, read: int) -> None:
        session = parse_session("1", {"Capacity": capacity, "Status": "Open", "StartTime": "2030-01-01T10:00:00Z",
                                      "EndTime": "2030-01-01T11:00:00Z"})
        assert (session.capacity, session.problems) == (read, ())

    @pytest.mark.parametrize("capacity", [-1, "ten", 1e12, True, [3]])
    def test_unusable_places_confirm_nobody_new_and_say_why(self, capacity: Any) -> None:
        session = parse_session("1", {"Capacity": capacity, "Status": "Open"})
        assert session.capacity is None and not session.unlimited
        assert ("Places must be a whole number, 0 for no limit. Nobody new is confirmed until it's fixed."
                in session.problems)

    def test_an_end_before_the_start_and_an_unknown_status_are_problems(self) -> None:
        session = parse_session("1", {"Status": "Opne", "StartTime": "2030-01-01T10:00:00Z",
                                      "EndTime": "2030-01-01T09:00:00Z"})
        assert session.problems == ("End time is before the start time.",
                                    "Status should be Draft, Open or Cancelled (it's “Opne”).")

    def test_an_end_at_the_start_is_a_problem_too(self) -> None:
        session = parse_session("1", {"Status": "Open", "StartTime": "2030-01-01T10:00:00Z",
                                      "EndTime": "2030-01-01T10:00:00Z"})
        assert session.problems == ("End time is before the start time.",)

    @pytest.mark.parametrize("status", ["Draft", "Open", "Cancelled"])
    def test_the_three_statuses_are_no_problem(self, status: str) -> None:
        session = parse_session("7", {"Status": status, "StartTime": "2030-01-01T10:00:00Z",
                                      "EndTime": "2030-01-01T11:00:00Z"})
        assert (session.id, session.status, session.problems) == ("7", status, ())

    def test_long_titles_and_statuses_are_cut(self) -> None:
        session = parse_session("1", {"Title": "T" * 300, "Status": "S" * 60})
        assert session.title == "T" * 255 and session.status == "S" * 40
        assert f"Status should be Draft, Open or Cancelled (it's “{'S' * 40}”)." in session.problems

    @pytest.mark.parametrize(("lookup", "session_id"), [
        (None, None), ("", None), (0, None), ("0", None), (12, "12"), (" 12 ", "12"), ("1.5", "1.5"), (2.0, None),
        (True, None), (["12"], None)])
    def test_the_session_a_registration_names(self, lookup: Any, session_id: str | None) -> None:
        assert parse_registration("1", "", {"SessionLookupId": lookup}).session_id == session_id

    def test_a_registrations_columns(self) -> None:
        reg = parse_registration("5", "2030-01-01T00:00:00Z", {
            "Title": " Ann\u2028Example ", "Email": "ANN@example.org", "Consent": "yes", "Cancel": False,
            "Status": "Confirmed", "StatusNote": 42, "WantsSiteAccess": True, "JoinMailingList": "no"})
        assert (reg.name, reg.email, reg.consent, reg.cancel, reg.status, reg.note, reg.wants_site_access,
                reg.join_mailing_list) == ("Ann Example", "ann@example.org", True, False, "Confirmed", None, True,
                                           False)

    def test_a_registrations_note_boxes_phone_and_an_unusable_address_as_typed(self) -> None:
        reg = parse_registration("5", "", {"Email": "ann(at)example.org", "Cancel": "Yes", "JoinMailingList": True,
                                           "StatusNote": "Cancelled by phone.", "Phone": "0" * 45})
        assert (reg.email, reg.email_shown, reg.email_problem, reg.cancel, reg.note, reg.join_mailing_list) == (
            None, "ann(at)example.org", "invalid", True, "Cancelled by phone.", True)
        assert reg.phone == "0" * 40  # a number is cut at 40 characters

    def test_long_values_are_cut(self) -> None:
        reg = parse_registration("1", "", {"Title": "N" * 300, "Status": "S" * 60, "SessionLookupId": "9" * 30})
        assert (reg.name, reg.status, reg.session_id) == ("N" * 255, "S" * 40, "9" * 20)

    @pytest.mark.parametrize(("value", "read"), [
        ("fac.one@council.example.org; Fac.Two@Council.example.org", ["fac.one@council.example.org",
                                                                      "fac.two@council.example.org"]),
        ("a@x.org,b@x.org\nc@x.org  a@x.org", ["a@x.org", "b@x.org", "c@x.org"]),
        ("not an address; a@x.org", ["a@x.org"]), ("", []), (None, []), (["a@x.org"], []),
    ])
    def test_facilitators_are_every_usable_address_once(self, value: Any, read: list[str]) -> None:
        assert facilitators(value) == read

    @pytest.mark.parametrize(("value", "read"), [
        (["Carers", "Nonsense", "Having choice"], ["Having choice", "Carers"]), ("Carers", ["Carers"]),
        ("carers", []), (None, []), (3, []), ([], []),
    ])
    def test_topics_are_the_ones_the_list_knows_in_its_order(self, value: Any, read: list[str]) -> None:
        assert subscriber_topics({"Topics": value}) == read
        assert subscriber_topics({}) == []

    def test_order_of_registration_is_created_time_then_item_number(self) -> None:
        regs = [parse_registration(i, created, {}) for i, created in (("10", "b"), ("9", "b"), ("11", "a"))]
        assert [r.id for r in sorted(regs, key=lambda r: r.order)] == ["11", "9", "10"]


def session(capacity: int | None = 2, *, status: str = "Open", start: datetime | None = NOW + timedelta(days=1),
            end: datetime | None = None) -> Session:
    return Session("1", "Having choice", status, start, end or (start + timedelta(hours=1) if start else None),
                   capacity)


def reg(item_id: str, email: str | None = None, *, status: str | None = None, cancel: bool = False,
        consent: bool = True, created: str | None = None, name: str = "Someone", note: str | None = None,
        problem: str | None = None) -> Registration:
    address = None if problem else email or f"p{item_id}@example.org"
    return Registration(item_id, created or f"2029-12-01T00:00:{int(item_id):02d}Z", name, address, email or "",
                        problem, "1", consent, cancel, status, note, False, False)


def decide(regs: list[Registration], the_session: Session | None = None, **kwargs: Any
           ) -> tuple[dict[str, tuple[str, str]], str | None]:
    """(status, note) of each decision; `valid` (a real booking, which hand-offs follow) is checked as it goes:
    only Confirmed, Waitlisted and a place cancelled by its owner or its session are real bookings."""
    decisions, note = allocate(session() if the_session is None else the_session, regs, NOW, **kwargs)
    for d in decisions.values():
        assert d.valid is (d.status in ("Confirmed", "Waitlisted") and not d.kept), d
    return {k: (d.status, d.note) for k, d in decisions.items()}, note


class TestPlaces:
    def test_places_go_in_order_and_the_rest_wait(self) -> None:
        decided, note = decide([reg("3"), reg("1"), reg("2"), reg("4")])
        assert decided == {"1": ("Confirmed", Notes.CONFIRMED), "2": ("Confirmed", Notes.CONFIRMED),
                           "3": ("Waitlisted", Notes.WAITLISTED), "4": ("Waitlisted", Notes.WAITLISTED)}
        assert note is None

    def test_someone_leaving_the_queue_changes_nobody_else_s_note(self) -> None:
        """A waiting-list note names no position, so one person leaving a queue of thousands writes one item."""
        queue = [reg(str(n), status="Waitlisted", note=Notes.WAITLISTED) for n in range(3, 2003)]
        full = [reg("1", status="Confirmed", note=Notes.CONFIRMED), reg("2", status="Confirmed", note=Notes.CONFIRMED)]
        before, _ = allocate(session(2), full + queue, NOW)
        after, _ = allocate(session(2), [*full, dataclasses.replace(queue[0], cancel=True), *queue[1:]], NOW)
        assert [k for k in after if after[k] != before[k]] == ["3"] and after["3"].status == "Cancelled"

    def test_people_already_confirmed_keep_their_place_ahead_of_earlier_bookings(self) -> None:
        decided, _ = decide([reg("1"), reg("2", status="Confirmed"), reg("3", status="Confirmed")])
        assert {k: v[0] for k, v in decided.items()} == {"1": "Waitlisted", "2": "Confirmed", "3": "Confirmed"}

    def test_no_limit_confirms_everyone(self) -> None:
        decided, _ = decide([reg(str(n)) for n in range(1, 6)], session(0))
        assert {v[0] for v in decided.values()} == {"Confirmed"}

    def test_unreadable_places_confirm_nobody_new_and_queue_the_rest(self) -> None:
        decided, _ = decide([reg("1", status="Confirmed"), reg("2"), reg("3")], session(None))
        assert decided == {"1": ("Confirmed", Notes.CONFIRMED), "2": ("Waitlisted", Notes.CHECKING_PLACES),
                           "3": ("Waitlisted", Notes.CHECKING_PLACES)}

    def test_fewer_places_than_people_confirmed_moves_nobody_and_tells_the_team(self) -> None:
        decided, note = decide([reg(str(n), status="Confirmed") for n in (1, 2, 3)], session(1))
        assert {v[0] for v in decided.values()} == {"Confirmed"}
        assert note == ("3 people are confirmed but there are only 1 places. Nobody has been moved; please contact "
                        "people yourself if places must be cut.")

    def test_exactly_full_is_no_problem(self) -> None:
        decided, note = decide([reg("1", status="Confirmed"), reg("2", status="Confirmed"), reg("3")], session(2))
        assert (decided["3"][0], note) == ("Waitlisted", None)


class TestProblems:
    @pytest.mark.parametrize(("registration", "note"), [
        (reg("1", name=""), Notes.NO_NAME),
        (reg("1", "", problem="missing"), Notes.NO_EMAIL),
        (reg("1", "ann(at)x", problem="invalid"), Notes.BAD_EMAIL.format(value="ann(at)x")),
        (reg("1", "josé@x.org", problem="international"), Notes.INTERNATIONAL_EMAIL.format(value="josé@x.org")),
        (reg("1", consent=False), Notes.NO_CONSENT),
    ])
    def test_each_problem_needs_attention_with_its_note(self, registration: Registration, note: str) -> None:
        decided, _ = decide([registration])
        assert decided == {"1": ("NeedsAttention", note)}

    def test_no_session_chosen_or_an_unknown_one(self) -> None:
        from dataclasses import replace

        assert decide([replace(reg("1"), session_id=None)])[0]["1"] == ("NeedsAttention", Notes.NO_SESSION)
        decisions, _ = allocate(None, [reg("1")], NOW)
        assert (decisions["1"].status, decisions["1"].note) == ("NeedsAttention", Notes.UNKNOWN_SESSION)

    def test_a_session_not_open_takes_nobody_even_those_it_held(self) -> None:
        decided, _ = decide([reg("1"), reg("2", status="Confirmed")], session(status="Draft"))
        assert decided == {"1": ("NeedsAttention", Notes.NOT_OPEN), "2": ("NeedsAttention", Notes.NOT_OPEN)}

    @pytest.mark.parametrize("the_session", [session(start=None), session(end=NOW + timedelta(days=1)),
                                             session(start=NOW + timedelta(days=1), end=NOW)])
    def test_a_session_without_a_usable_time_takes_no_new_booking_but_keeps_its_places(
            self, the_session: Session) -> None:
        decided, _ = decide([reg("1"), reg("2", status="Confirmed"), reg("3", status="Waitlisted")], the_session)
        assert decided["1"] == ("NeedsAttention", Notes.NO_TIME)
        assert (decided["2"][0], decided["3"][0]) == ("Confirmed", "Confirmed")

    def test_a_session_over_takes_no_new_booking_but_keeps_its_places(self) -> None:
        over = session(start=NOW - timedelta(hours=2))
        decided, _ = decide([reg("1"), reg("2", status="Confirmed", note=Notes.CONFIRMED)], over)
        assert decided == {"1": ("NeedsAttention", Notes.SESSION_OVER), "2": ("Confirmed", Notes.CONFIRMED)}

    def test_bookings_of_a_session_that_is_over_are_history_even_with_their_details_cleared(self) -> None:
        """After the retention period a registration's name and address are cleared: its session is over, so it
        is left as it was (no "please add your name"), and the attendance figures keep it."""
        over = session(start=NOW - timedelta(days=400))
        cleared = Registration("2", "2029-01-01T00:00:00Z", "", None, "", None, "1", True, False, "Confirmed",
                               Notes.RETAINED, False, False)
        decided, _ = decide([cleared, reg("3", status="Waitlisted", note="You're number 1")], over)
        assert decided == {"2": ("Confirmed", Notes.RETAINED), "3": ("Waitlisted", "You're number 1")}

    def test_an_erased_booking_is_left_as_it_is_and_its_place_goes_to_the_next_person(self) -> None:
        erased = Registration("1", "2029-12-01T00:00:01Z", "", None, "", None, "1", True, False, "Erased",
                              "erased", False, False)
        decided, _ = decide([erased, reg("2", status="Waitlisted")], session(capacity=1))
        assert decided == {"1": ("Erased", "erased"), "2": ("Confirmed", Notes.CONFIRMED)}

    def test_a_session_ending_now_is_not_over(self) -> None:
        decided, _ = decide([reg("1")], session(start=NOW - timedelta(hours=1), end=NOW))
        assert decided["1"][0] == "Confirmed"


class TestDuplicates:
    def test_of_two_bookings_by_one_address_the_earlier_wins(self) -> None:
        decided, _ = decide([reg("2", "ann@example.org"), reg("1", "ann@example.org")])
        assert decided["1"][0] == "Confirmed"
        assert decided["2"] == ("NeedsAttention", Notes.DUPLICATE)

    def test_the_booking_holding_a_place_wins_over_an_earlier_one(self) -> None:
        decided, _ = decide([reg("1", "ann@example.org"), reg("2", "ann@example.org", status="Confirmed")])
        assert decided["2"][0] == "Confirmed"
        assert decided["1"] == ("NeedsAttention", Notes.DUPLICATE)

    def test_a_waiting_booking_wins_over_a_new_one_but_not_over_a_confirmed_one(self) -> None:
        decided, _ = decide([reg("1", "ann@example.org"), reg("2", "ann@example.org", status="Waitlisted")],
                            session(0))
        assert (decided["1"][0], decided["2"][0]) == ("NeedsAttention", "Confirmed")
        decided, _ = decide([reg("1", "ann@example.org", status="Waitlisted"),
                             reg("2", "ann@example.org", status="Confirmed")], session(0))
        assert (decided["1"][0], decided["2"][0]) == ("NeedsAttention", "Confirmed")

    def test_a_duplicate_takes_no_place_from_anyone(self) -> None:
        decided, _ = decide([reg("1", "ann@example.org"), reg("2", "ann@example.org"), reg("3")], session(2))
        assert (decided["1"][0], decided["2"][0], decided["3"][0]) == ("Confirmed", "NeedsAttention", "Confirmed")


class TestCancelling:
    def test_a_cancelled_booking_stays_cancelled_and_keeps_its_note(self) -> None:
        decided, _ = decide([reg("1", status="Cancelled", note="Cancelled by phone."), reg("2", status="Cancelled")])
        assert decided == {"1": ("Cancelled", "Cancelled by phone."), "2": ("Cancelled", Notes.CANCELLED_BY_YOU)}
        decisions, _ = allocate(session(), [reg("1", status="Cancelled")], NOW)
        assert decisions["1"] == Decision("Cancelled", Notes.CANCELLED_BY_YOU, valid=False)  # nothing to tell

    def test_ticking_cancel_frees_the_place_for_the_first_waiting(self) -> None:
        decisions, _ = allocate(session(1), [reg("1", status="Confirmed", cancel=True),
                                             reg("2", status="Waitlisted"), reg("3", status="Waitlisted")], NOW)
        assert decisions["1"] == Decision("Cancelled", Notes.CANCELLED_BY_YOU, valid=True)
        assert (decisions["2"].status, decisions["3"].note) == ("Confirmed", Notes.WAITLISTED)

    def test_a_cancelled_session_cancels_places_and_turns_away_the_rest(self) -> None:
        decisions, _ = allocate(session(status="Cancelled"), [reg("1", status="Confirmed"),
                                                              reg("2", status="Waitlisted"), reg("3")], NOW)
        assert [(d.status, d.valid) for d in (decisions["1"], decisions["2"], decisions["3"])] == [
            ("Cancelled", True), ("Cancelled", True), ("NeedsAttention", False)]
        assert {d.note for d in decisions.values()} == {Notes.SESSION_CANCELLED}

    def test_a_deleted_session_cancels_its_places(self) -> None:
        decisions, _ = allocate(session(), [reg("1", status="Confirmed"), reg("2")], NOW, session_deleted=True)
        assert decisions["1"] == Decision("Cancelled", Notes.SESSION_GONE, valid=True)
        assert (decisions["2"].status, decisions["2"].note) == ("NeedsAttention", Notes.UNKNOWN_SESSION)


@pytest.mark.parametrize(("before", "after", "kind"), [
    (None, "Confirmed", "confirmed"), ("NeedsAttention", "Confirmed", "confirmed"),
    ("Waitlisted", "Confirmed", "promoted"), ("Confirmed", "Confirmed", None),
    (None, "Waitlisted", "waitlisted"), ("Waitlisted", "Waitlisted", None), ("Confirmed", "Waitlisted", None),
    ("Confirmed", "Cancelled", "cancelled"), ("Waitlisted", "Cancelled", "cancelled"), (None, "Cancelled", None),
    ("Confirmed", "NeedsAttention", None), (None, "NeedsAttention", None),
])
def test_which_message_a_change_of_status_calls_for(before: str | None, after: str, kind: str | None) -> None:
    assert message_kind(before, after) == kind


class TestReadingLines:
    """A text that keeps its lines (a session's pre-reading): each line cleaned, however it was broken."""

    @pytest.mark.parametrize("separator", ["\n", "\r\n", "\r", "\u2028", "\u2029", "\x0b", "\x0c", "\x85"])
    def test_every_kind_of_line_break_is_a_line_break(self, separator: str) -> None:
        assert as_lines(f"The plan{separator}Pages 3 to 5") == "The plan\nPages 3 to 5"

    def test_each_line_is_cleaned_and_blank_runs_are_one_blank_line(self) -> None:
        typed = "\n\n  The plan \x07here  \r\n\r\n\r\n\r\n Pages\u202e 3 to 5\n\nMinutes\n\n\n"
        assert as_lines(typed) == "The plan here\n\nPages 3 to 5\n\nMinutes"

    @pytest.mark.parametrize("value", [None, 42, True, ["The plan"], {"a": "b"}, "", " \n \r\n\u2028 "])
    def test_nothing_usable_is_nothing(self, value: Any) -> None:
        assert as_lines(value) == ""

    def test_a_long_line_is_kept_whole_up_to_the_limit(self) -> None:
        assert as_lines("x" * 3000) == "x" * 3000  # a pasted paragraph is longer than a one-line column's 500
        assert as_lines("x" * 5000) == "x" * 4000
        assert as_lines("abcd\nefgh", 5) == "abcd"  # no line break left dangling where the cut fell

    def test_a_huge_value_is_read_only_as_far_as_four_times_its_limit(self) -> None:
        """A value of megabytes costs no more work than four times the limit: what comes after is not read."""
        assert as_lines("\n" * 40 + "late", 10) == ""
        assert as_lines("\n" * 36 + "late", 10) == "late"


class TestGreeting:
    """An email greets someone by a first name, or by a title and a surname, only if the text reads as a name."""

    @pytest.mark.parametrize(("typed", "greeted"), [
        ("Ann Bea Cat Dee Eve Fay", "Ann"), ("Ann Bea Cat Dee Eve Fay Gus", ""),  # six words at most
        ("Dr. Ann Smith", "Dr Smith"), ("J. Smith", "J"), ("Ann .Smith", ""), ("Ann Smith.", "Ann"),
        ("अनिल शर्मा", "अनिल"),  # letters with their marks (Devanagari's vowel signs) are a name
        ("Ann 3", ""), ("Ann !", ""),
    ])
    def test_a_name_is_letters_joined_with_an_initials_full_stop_at_its_end(self, typed: str, greeted: str) -> None:
        assert greeting_name(typed) == greeted

    @pytest.mark.parametrize(("typed", "greeted"), [
        ("Mrs Smith", "Mrs Smith"), ("Mrs Jane S.", "Mrs S"), ("MRS JANE FOX", "MRS FOX"), ("Dr", "Dr"),
        ("ALEX SMITH", "ALEX"), ("A" * 40, "A" * 40), ("A" * 41, ""),
    ])
    def test_a_title_goes_with_the_surname_and_a_name_is_at_most_40_letters(self, typed: str, greeted: str) -> None:
        assert greeting_name(typed) == greeted

    def test_a_name_is_read_to_its_first_200_characters(self) -> None:
        assert greeting_name("Ann " + "B" * 195 + " 1") == "Ann"  # the digit is the 201st character: never read
        assert greeting_name("Ann " + "B" * 194 + " 1") == ""


def item(item_id: str, second: int, status: str) -> MirrorItem:
    return MirrorItem("Registrations", item_id, None, f"2029-12-01T00:00:{second:02d}Z", {"Status": status}, "1")


def test_the_waiting_list_is_numbered_from_one_in_the_order_places_are_given() -> None:
    """Created time first, then the item number as a number (9 before 12); an id that is no number goes first."""
    items = [item("12", 2, "Waitlisted"), item("9", 2, "Waitlisted"), item("7", 1, "Confirmed"),
             item("5", 3, "Waitlisted"), item("1", 2, "Waitlisted"), item("x", 2, "Waitlisted"),
             item("4", 1, "waitlisted"), item("6", 1, "NeedsAttention")]
    assert queue_positions(items) == {"x": 1, "1": 2, "9": 3, "12": 4, "5": 5}
    assert queue_positions([]) == {}


def drop_in(slot_minutes: int = 20) -> Session:
    start = NOW + timedelta(days=1)
    return Session("1", "Drop-in", "Open", start, start + timedelta(hours=1), 0, slot_minutes=slot_minutes)


def booking(item_id: str, minutes: int | None, method: str = "Teams", *, phone: str = "",
            status: str | None = None) -> Registration:
    slot = None if minutes is None else NOW + timedelta(days=1, minutes=minutes)
    return dataclasses.replace(reg(item_id, status=status), slot=slot, method=method, phone=phone)


class TestDropIns:
    @pytest.mark.parametrize(("minutes", "read"), [(5, 5), ("20", 20), (480, 480)])
    def test_a_drop_ins_appointment_length_as_typed(self, minutes: Any, read: int) -> None:
        session = parse_session("1", {"Kind": "DropIn", "SlotMinutes": minutes, "Status": "Open",
                                      "StartTime": "2030-01-01T10:00:00Z", "EndTime": "2030-01-01T11:00:00Z"})
        assert (session.slot_minutes, session.capacity, session.problems, session.drop_in) == (read, 0, (), True)
        start = datetime(2030, 1, 1, 10, tzinfo=UTC)
        assert session.slots == [start + timedelta(minutes=read * n) for n in range(60 // read)]

    @pytest.mark.parametrize("minutes", [4, 481, 0, -20, None, "twenty"])
    def test_a_drop_in_without_a_usable_length_books_nobody_new_and_says_why(self, minutes: Any) -> None:
        session = parse_session("1", {"Kind": "DropIn", "SlotMinutes": minutes, "Status": "Open",
                                      "StartTime": "2030-01-01T10:00:00Z", "EndTime": "2030-01-01T11:00:00Z"})
        assert (session.slot_minutes, session.capacity, session.drop_in) == (0, None, False)
        assert session.problems == ("A drop-in needs Minutes a drop-in appointment between 5 and 480. Nobody new "
                                    "is booked until it's set.",)

    def test_the_kind_is_a_short_column_read_only_as_far_as_four_times_its_20_characters(self) -> None:
        assert parse_session("1", {"Kind": "DropIn" + " " * 74 + "(one to one)", "SlotMinutes": 20}).drop_in
        assert not parse_session("1", {"Kind": "DropIn" + " " * 73 + "(one to one)", "SlotMinutes": 20}).drop_in

    def test_a_group_session_has_no_appointments_whatever_its_minutes_say(self) -> None:
        session = parse_session("1", {"Kind": "Group", "SlotMinutes": 20, "PreReading": "The plan\r\nPage 3"})
        assert (session.slot_minutes, session.drop_in, session.slots) == (0, False, [])
        assert session.pre_reading == "The plan\nPage 3"

    def test_each_appointment_time_goes_to_one_person_and_nobody_waits(self) -> None:
        decided, note = decide([booking("1", 0), booking("2", 0), booking("3", 20, "In person"), booking("4", None),
                                booking("5", 5), booking("6", 40, "Phone"), booking("7", 40, "Phone", phone="0123"),
                                booking("8", 60)], drop_in())
        assert decided == {"1": ("Confirmed", Notes.CONFIRMED), "2": ("NeedsAttention", Notes.SLOT_TAKEN),
                           "3": ("Confirmed", Notes.CONFIRMED), "4": ("NeedsAttention", Notes.NO_SLOT),
                           "5": ("NeedsAttention", Notes.NO_SLOT), "6": ("NeedsAttention", Notes.NO_PHONE_FOR_SLOT),
                           "7": ("Confirmed", Notes.CONFIRMED), "8": ("NeedsAttention", Notes.NO_SLOT)}
        assert note is None

    def test_the_person_confirmed_for_a_time_keeps_it_ahead_of_an_earlier_booking(self) -> None:
        decided, _ = decide([booking("1", 0), booking("2", 0, status="Confirmed")], drop_in())
        assert decided == {"1": ("NeedsAttention", Notes.SLOT_TAKEN), "2": ("Confirmed", Notes.CONFIRMED)}

    def test_of_two_new_bookings_for_one_time_the_earlier_has_it(self) -> None:
        decided, _ = decide([booking("3", 20), booking("2", 20), booking("4", 20)], drop_in())
        assert decided == {"2": ("Confirmed", Notes.CONFIRMED), "3": ("NeedsAttention", Notes.SLOT_TAKEN),
                           "4": ("NeedsAttention", Notes.SLOT_TAKEN)}


class TestAssistedBookings:
    """A booking an officer made for someone told by phone or post: no email needed, but a number or an address."""

    @pytest.mark.parametrize(("contact", "phone", "postal", "note"), [
        ("Phone", "", True, Notes.NO_PHONE), ("Post", "0123", False, Notes.NO_POSTAL),
        ("Phone", "0123", False, Notes.CONFIRMED), ("Post", "", True, Notes.CONFIRMED),
    ])
    def test_phone_needs_a_number_and_post_an_address(self, contact: str, phone: str, postal: bool,
                                                       note: str) -> None:
        assisted = dataclasses.replace(reg("1", "", problem="missing"), contact=contact, phone=phone, postal=postal)
        decided, _ = decide([assisted])
        assert decided["1"] == ("Confirmed" if note == Notes.CONFIRMED else "NeedsAttention", note)

    def test_a_registrations_assisted_columns(self) -> None:
        booked = parse_registration("1", "", {"ContactPreference": "Post", "Phone": " 01234 567890 ",
                                              "PostalAddress": "1 High Street", "Slot": "2030-01-02T10:00:00Z",
                                              "ContactMethod": "Phone"})
        assert (booked.contact, booked.phone, booked.postal, booked.slot, booked.method) == (
            "Post", "01234 567890", True, datetime(2030, 1, 2, 10, tzinfo=UTC), "Phone")
        assert parse_registration("1", "", {"ContactPreference": "Carrier pigeon"}).contact == "Email"


class TestHowToReachThem:
    """The columns an officer fills in for a booking by phone or post, as the run reads them."""

    def test_post_without_an_address_is_no_address(self) -> None:
        for value in (None, "", "   ", "\u2028", {"a": 1}):
            fields = {"Title": "Ann", "ContactPreference": "Post", "PostalAddress": value}
            assert parse_registration("1", "2029-12-01T00:00:00Z", fields).postal is False, value
        fields = {"Title": "Ann", "ContactPreference": "Post", "PostalAddress": "1 High St, Cardiff"}
        assert parse_registration("1", "2029-12-01T00:00:00Z", fields).postal is True

    @pytest.mark.parametrize(("typed", "read"), [
        ("Phone", "Phone"), (" Post ", "Post"), ("Email", "Email"), ("", "Email"), (None, "Email"),
        ("phone", "Email"), ("Pigeon", "Email"), ("Phone" + " " * 30 + "x", "Email"),
    ])
    def test_how_to_reach_them_is_phone_or_post_or_else_email(self, typed: Any, read: str) -> None:
        fields = {"Title": "Ann", "ContactPreference": typed}
        assert parse_registration("1", "2029-12-01T00:00:00Z", fields).contact == read

    def test_an_appointments_way_is_shown_to_the_facilitator_at_most_twenty_letters_long(self) -> None:
        fields = {"Title": "Ann", "ContactMethod": "In person at the library on the high street"}
        assert parse_registration("1", "2029-12-01T00:00:00Z", fields).method == "In person at the lib"
