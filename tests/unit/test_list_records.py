"""The records of GuestRequests, Subscribers and Updates alone (no I/O): what each column reads as, whatever is in it.

A column is read once, by the record: a typed row reads as typed; a missing column, a wrong type, any Unicode,
text longer than the list holds and yes/no typed as words read as a plain value ('' or None), never an error.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import CHOICE_LENGTH, NAME_LENGTH, REASON_LENGTH, SUBJECT_LENGTH, TEXT_LENGTH, THEMES
from coprod.lists.mailing import Subscriber, Update, parse_subscriber, parse_update
from coprod.lists.requests import GuestRequest, parse_guest_request

WHEN = datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
WRONG_TYPES = [None, True, False, 0, 7, 2.5, float("nan"), [], ["Approved"], {}, {"Value": "Approved"}]
any_value = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(),
    st.text(min_size=300, max_size=2000), st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def one_clean_line(text: str) -> bool:
    """No line break, control character or bidirectional override: what a note, a subject or a greeting can carry."""
    return text == text.strip() and not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in "\u202a\u202e"
                                            for c in text)


class TestGuestRequest:
    def test_a_typed_row_reads_as_typed(self) -> None:
        read = parse_guest_request("7", "2030-01-01T09:00:00+00:00", {
            "Title": "Pat Example", "Email": " Pat@Example.com ", "Organisation": "Young carers' group",
            "Reason": "I co-chair\nthe carers' forum", "Decision": "Approved", "Status": "Invited",
            "UserId": "0b3c5e8a-1111-2222-3333-444455556666", "ReviewBy": "2030-01-01T10:00:00Z",
            "Review": "Keep"})
        assert read == GuestRequest(
            id="7", created="2030-01-01T09:00:00+00:00", name="Pat Example", email="pat@example.com",
            email_shown="Pat@Example.com", email_problem=None, organisation="Young carers' group",
            reason="I co-chair the carers' forum", decision="Approved", status="Invited",
            user_id="0b3c5e8a-1111-2222-3333-444455556666", review_by=WHEN, review="Keep")

    def test_a_row_with_no_columns_reads_as_nothing_typed(self) -> None:
        assert parse_guest_request("1", "", {}) == GuestRequest(
            id="1", created="", name="", email=None, email_shown="", email_problem="missing", organisation="",
            reason="", decision="", status="", user_id="", review_by=None, review="")

    @pytest.mark.parametrize("value", WRONG_TYPES)
    def test_a_wrong_type_in_any_column_is_nothing_usable(self, value: Any) -> None:
        columns = ("Title", "Email", "Organisation", "Reason", "Decision", "Status", "UserId", "ReviewBy", "Review")
        read = parse_guest_request("1", "", dict.fromkeys(columns, value))
        shown = "" if value is None or isinstance(value, (bool, list, dict)) else str(value)
        assert (read.name, read.organisation, read.reason, read.decision, read.status, read.user_id,
                read.review) == (shown,) * 7
        assert read.email is None and read.email_problem in ("missing", "invalid")
        assert read.review_by is None

    def test_a_choice_is_compared_as_the_list_offers_it_whatever_surrounds_it(self) -> None:
        read = parse_guest_request("1", "", {"Decision": " Approved\n", "Status": "Ｉｎｖｉｔｅｄ",
                                             "Review": "Remove\x00"})
        assert (read.decision, read.status, read.review) == ("Approved", "Invited", "Remove")
        assert parse_guest_request("1", "", {"Decision": "approved"}).decision == "approved"  # not Approved

    def test_text_longer_than_the_list_holds_is_cut_where_each_column_is_quoted(self) -> None:
        read = parse_guest_request("1", "", {
            "Title": "N" * 100_000, "Organisation": "O" * 100_000, "Reason": "R" * 100_000, "Decision": "D" * 1000,
            "Status": "S" * 1000, "UserId": "U" * 1000, "Review": "V" * 1000})
        assert (read.name, read.organisation, read.reason) == ("N" * NAME_LENGTH, "O" * TEXT_LENGTH,
                                                               "R" * REASON_LENGTH)
        assert (read.decision, read.status, read.review) == ("D" * CHOICE_LENGTH, "S" * CHOICE_LENGTH,
                                                             "V" * CHOICE_LENGTH)
        assert read.user_id == "U" * TEXT_LENGTH

    def test_a_long_name_is_cut_with_no_space_left_at_its_end(self) -> None:
        name = "Anne " * 40
        assert parse_guest_request("1", "", {"Title": name}).name == name[:NAME_LENGTH].rstrip()

    @pytest.mark.parametrize(("typed", "problem", "shown"), [
        ("josé@example.org", "international", "josé@example.org"),
        ("ann@example.org\nBcc: x@evil.example", "invalid", "ann@example.org Bcc: x@evil.example"),
        ("not an address", "invalid", "not an address"),
        ("a" * 300 + "@example.org", "invalid", "a" * 60),
        ("   ", "missing", ""),
    ])
    def test_an_address_that_cannot_be_used_says_why_and_shows_what_was_typed(self, typed: str, problem: str,
                                                                                shown: str) -> None:
        read = parse_guest_request("1", "", {"Email": typed})
        assert (read.email, read.email_problem, read.email_shown) == (None, problem, shown)

    def test_an_international_domain_is_compared_in_its_ascii_form(self) -> None:
        assert parse_guest_request("1", "", {"Email": "Ann@Bücher.de"}).email == "ann@xn--bcher-kva.de"

    @pytest.mark.parametrize(("value", "read"), [
        ("2030-01-01T10:00:00Z", WHEN), ("2030-01-01T10:00:00", WHEN), (" 2030-01-01T11:00:00+01:00 ", WHEN),
        ("2030-01-01T10:00:00+01:00", datetime(2030, 1, 1, 10, 0, tzinfo=timezone(timedelta(hours=1)))),
        ("9999-12-31T10:00:00Z", None), ("0001-01-01T00:00:00Z", None), ("2030-02-30T10:00:00Z", None),
        ("yesterday", None), ("", None), (20300101, None),
    ])
    def test_review_by_is_a_plausible_date_or_none(self, value: Any, read: datetime | None) -> None:
        assert parse_guest_request("1", "", {"ReviewBy": value}).review_by == read

    def test_a_request_record_cannot_be_changed_after_it_is_read(self) -> None:
        read = parse_guest_request("1", "", {"Status": "Invited"})
        with pytest.raises(dataclasses.FrozenInstanceError):
            read.status = "Removed"  # type: ignore[misc]


class TestSubscriber:
    def test_a_typed_row_reads_as_typed(self) -> None:
        read = parse_subscriber("3", {
            "Title": "Sam Example", "Email": "Sam@Example.org", "Status": "Subscribed",
            "Topics": ["Carers", "Having choice"], "ConfirmedAt": "2030-01-01T10:00:00Z", "Source": "Website"})
        assert read == Subscriber(id="3", name="Sam Example", email="sam@example.org", status="Subscribed",
                                  topics=("Having choice", "Carers"), confirmed_at=WHEN, source="Website")

    def test_a_row_with_no_columns_reads_as_nothing_typed(self) -> None:
        assert parse_subscriber("3", {}) == Subscriber(id="3", name="", email=None, status="", topics=(),
                                                       confirmed_at=None, source="")

    @pytest.mark.parametrize("value", WRONG_TYPES)
    def test_a_wrong_type_in_any_column_is_nothing_usable(self, value: Any) -> None:
        columns = ("Title", "Email", "Status", "Topics", "ConfirmedAt", "Source")
        read = parse_subscriber("3", dict.fromkeys(columns, value))
        shown = "" if value is None or isinstance(value, (bool, list, dict)) else str(value)
        assert (read.name, read.status, read.source) == (shown,) * 3
        assert (read.email, read.topics, read.confirmed_at) == (None, (), None)

    @pytest.mark.parametrize(("typed", "read"), [
        ("Subscribed", "Subscribed"), (" Unsubscribed\r\n", "Unsubscribed"), ("Ｂｏｕｎｃｉｎｇ", "Bouncing"),
        ("subscribed", "subscribed"), ("Subscribed " + "x" * 1000, "Subscribed " + "x" * (CHOICE_LENGTH - 11)),
    ])
    def test_the_status_is_read_once_the_same_way_for_every_decision(self, typed: str, read: str) -> None:
        assert parse_subscriber("3", {"Status": typed}).status == read

    @pytest.mark.parametrize(("value", "read"), [
        (["Carers", "Nonsense", "Having choice"], ("Having choice", "Carers")), ("Carers", ("Carers",)),
        ("carers", ()), (list(THEMES) * 2, THEMES), ([{"Value": "Carers"}], ()),
    ])
    def test_topics_are_the_ones_the_list_knows_in_its_order(self, value: Any, read: tuple[str, ...]) -> None:
        assert parse_subscriber("3", {"Topics": value}).topics == read

    def test_long_text_is_cut_and_a_name_is_one_line(self) -> None:
        read = parse_subscriber("3", {"Title": "Sam\u2028Example\u202e" + "x" * 1000, "Source": "S" * 1000})
        assert read.name == ("Sam Example " + "x" * 1000)[:NAME_LENGTH] and read.source == "S" * TEXT_LENGTH

    @pytest.mark.parametrize(("value", "read"), [
        ("2030-01-01T10:00:00Z", WHEN), ("2030-01-01T10:00:00", WHEN), ("9999-12-31T23:59:59Z", None),
        ("not a date", None), (1893492000, None),
    ])
    def test_confirmed_at_is_a_plausible_date_or_none(self, value: Any, read: datetime | None) -> None:
        assert parse_subscriber("3", {"ConfirmedAt": value}).confirmed_at == read


class TestUpdate:
    def test_a_typed_row_reads_as_typed(self) -> None:
        read = parse_update("5", {
            "Title": "News from the forum", "Body": "**Hello**\n\n- one\n  - nested", "Topics": ["Carers"],
            "SendAt": "2030-01-01T10:00:00Z", "Ready": True, "Status": "Scheduled"})
        assert read == Update(id="5", title="News from the forum", body="**Hello**\n\n- one\n  - nested",
                              topics=("Carers",), ready=True, send_at=WHEN, send_at_unreadable=False,
                              status="Scheduled")

    def test_a_row_with_no_columns_reads_as_not_ready_and_not_scheduled(self) -> None:
        assert parse_update("5", {}) == Update(id="5", title="", body="", topics=(), ready=False, send_at=None,
                                               send_at_unreadable=False, status="")

    @pytest.mark.parametrize(("value", "ready"), [
        (True, True), ("yes", True), ("Yes", True), (" TRUE ", True), ("1", True),
        (False, False), ("no", False), ("0", False), ("", False), ("y", False), (1, False), (None, False),
        (["yes"], False),
    ])
    def test_only_a_clear_yes_makes_an_update_ready(self, value: Any, ready: bool) -> None:
        assert parse_update("5", {"Ready": value}).ready is ready

    @pytest.mark.parametrize(("value", "send_at", "unreadable"), [
        ("2030-01-01T10:00:00Z", WHEN, False), (None, None, False), ("", None, False), (0, None, False),
        ([], None, False), ("yesterday", None, True), ("9999-12-31T10:00:00Z", None, True), (" ", None, True),
        (1893492000, None, True), (["2030-01-01T10:00:00Z"], None, True), ({"a": 1}, None, True),
    ])
    def test_a_send_at_that_is_not_a_date_is_told_from_none(self, value: Any, send_at: datetime | None,
                                                             unreadable: bool) -> None:
        read = parse_update("5", {"SendAt": value})
        assert (read.send_at, read.send_at_unreadable) == (send_at, unreadable)

    @pytest.mark.parametrize("body", [
        "    code, indented\n\n1. one\n   - nested", "<script>alert(1)</script>", "line\r\nbreaks\u2028kept",
        "x" * 100_000,
    ])
    def test_the_body_is_kept_as_typed_for_markdown_to_render(self, body: str) -> None:
        assert parse_update("5", {"Body": body}).body == body

    @pytest.mark.parametrize(("value", "body"), [(None, ""), ("", ""), (0, ""), (False, ""), (42, "42")])
    def test_a_body_that_is_not_text_is_read_as_python_writes_it(self, value: Any, body: str) -> None:
        assert parse_update("5", {"Body": value}).body == body

    def test_the_title_is_one_line_cut_to_a_subject(self) -> None:
        assert parse_update("5", {"Title": "Hello\r\nBcc: x@evil.example"}).title == "Hello Bcc: x@evil.example"
        assert parse_update("5", {"Title": "T" * 1000}).title == "T" * SUBJECT_LENGTH
        assert parse_update("5", {"Title": ["News"]}).title == ""

    @pytest.mark.parametrize(("typed", "read"), [
        ("Sent", "Sent"), ("Failed\n", "Failed"), ("Ｓｅｎｄｉｎｇ", "Sending"), (None, ""), (3, "3"),
        ("F" * 1000, "F" * CHOICE_LENGTH),
    ])
    def test_the_status_is_read_once_the_same_way_for_starting_and_settling(self, typed: Any, read: str) -> None:
        assert parse_update("5", {"Status": typed}).status == read


# Any values at all, in any of the columns (and ones the lists do not have): never an error, always clean lines.

@given(st.dictionaries(st.sampled_from(["Title", "Email", "Organisation", "Reason", "Decision", "Status", "UserId",
                                        "ReviewBy", "Review", "Other"]), any_value))
def test_any_values_in_a_guest_request_read_as_clean_lines_within_their_limits(fields: dict[str, Any]) -> None:
    read = parse_guest_request("1", "", fields)
    for text, limit in ((read.name, NAME_LENGTH), (read.organisation, TEXT_LENGTH), (read.reason, REASON_LENGTH),
                        (read.decision, CHOICE_LENGTH), (read.status, CHOICE_LENGTH), (read.user_id, TEXT_LENGTH),
                        (read.review, CHOICE_LENGTH)):
        assert len(text) <= limit and one_clean_line(text), (text, fields)
    assert len(read.email_shown) <= 60 and one_clean_line(read.email_shown.rstrip()), fields  # (cut as typed)
    assert (read.email is None) is (read.email_problem is not None)
    assert read.email is None or (read.email.isascii() and read.email == read.email.lower())


@given(st.dictionaries(st.sampled_from(["Title", "Email", "Status", "Topics", "ConfirmedAt", "Source", "Other"]),
                       any_value))
def test_any_values_in_a_subscriber_read_as_clean_lines_within_their_limits(fields: dict[str, Any]) -> None:
    read = parse_subscriber("3", fields)
    for text, limit in ((read.name, NAME_LENGTH), (read.status, CHOICE_LENGTH), (read.source, TEXT_LENGTH)):
        assert len(text) <= limit and one_clean_line(text), (text, fields)
    assert set(read.topics) <= set(THEMES) and len(set(read.topics)) == len(read.topics)


@given(st.dictionaries(st.sampled_from(["Title", "Body", "Topics", "SendAt", "Ready", "Status", "Other"]), any_value))
def test_any_values_in_an_update_read_without_an_error(fields: dict[str, Any]) -> None:
    read = parse_update("5", fields)
    for text, limit in ((read.title, SUBJECT_LENGTH), (read.status, CHOICE_LENGTH)):
        assert len(text) <= limit and one_clean_line(text), (text, fields)
    assert read.send_at is None or read.send_at.tzinfo is not None
    assert not (read.send_at is not None and read.send_at_unreadable)
    assert set(read.topics) <= set(THEMES)
