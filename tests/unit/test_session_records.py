"""The Sessions and Registrations records alone (no I/O): each column the jobs and pages read, whatever is in it.

A column is read once, by the record: a typed value reads as typed; a missing column, a wrong type, any Unicode
and text longer than the list holds read as a plain value ('' or None), cut where `config` says, never an error.
A column the service writes back (Status, Attended, SyncNote, JoinUrl, MeetingId) is also kept as the list holds
it, so a write is made only when the value differs.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import (
    DESCRIPTION_LENGTH,
    NAME_LENGTH,
    NEEDS_LENGTH,
    NOTE_SHOWN,
    POSTAL_LINE_LENGTH,
    POSTAL_LINES,
    REGISTRATIONS,
    ROLE_LENGTH,
    TEXT_LENGTH,
    THEME_LENGTH,
    THEME_SHOWN,
)
from coprod.lists.records import (
    address_of,
    listed_status_of,
    parse_registration,
    parse_session,
    places_held,
)
from coprod.store import MirrorItem

WRONG_TYPES = [None, True, False, 0, 7, 2.5, float("nan"), [], ["Carers"], {}, {"Value": "Carers"}]
any_value = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(),
    st.text(min_size=300, max_size=3000), st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
SESSION_COLUMNS = ["Title", "Theme", "Audience", "Description", "Facilitators", "Outcomes", "ShareOutcomes",
                   "Question", "SyncNote", "JoinUrl", "MeetingId", "Status", "StartTime", "EndTime", "Capacity",
                   "Other"]
REGISTRATION_COLUMNS = ["Title", "Email", "Status", "StatusNote", "Attended", "AccessNeeds", "Role", "Phone",
                        "PostalAddress", "ContactPreference", "Slot", "ContactMethod", "Other"]


def one_clean_line(text: str) -> bool:
    """No line break, control character or bidirectional override: what an email, a page or the report shows."""
    return text == text.strip() and not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in "\u202a\u202e"
                                            for c in text)


def reg_with(**fields: Any) -> Any:
    return parse_registration("5", "2030-01-01T00:00:00Z", fields)


def mirrored(item_id: str, **fields: Any) -> MirrorItem:
    return MirrorItem("Registrations", item_id, None, "2030-01-01T00:00:00Z", fields, "1")


class TestSession:
    def test_a_typed_session_reads_as_typed(self) -> None:
        session = parse_session("3", {
            "Title": "Planning day", "Theme": "Having choice", "Audience": ["Carers", "Professionals"],
            "Description": "Bring\r\na friend", "Facilitators": "Fac@Council.example.org; not an address",
            "Outcomes": "You said: more evenings\n\nWe did: two a month", "ShareOutcomes": "Yes",
            "SyncNote": "A note", "JoinUrl": "https://teams.example/join", "MeetingId": "MSo1"})
        assert (session.theme, session.theme_shown, session.audiences, session.description) == (
            "Having choice", "Having choice", ("Carers", "Professionals"), "Bring a friend")
        assert session.facilitators == ("fac@council.example.org",)
        assert (session.outcomes, session.share_outcomes) == ("You said: more evenings\n\nWe did: two a month", True)
        assert (session.sync_note, session.join_url, session.meeting_id, session.title_typed) == (
            "A note", "https://teams.example/join", "MSo1", "Planning day")

    def test_missing_columns_read_as_nothing(self) -> None:
        session = parse_session("3", {})
        assert (session.theme, session.theme_shown, session.audiences, session.description, session.facilitators,
                session.outcomes, session.share_outcomes) == ("", "", (), "", (), "", False)
        assert (session.sync_note, session.join_url, session.meeting_id, session.title_typed) == (None, "", "", None)

    def test_the_theme_is_cut_one_way_for_the_report_and_another_for_the_timetable(self) -> None:
        session = parse_session("3", {"Theme": "T" * 1000})
        assert (session.theme, session.theme_shown) == ("T" * THEME_LENGTH, "T" * THEME_SHOWN)
        assert parse_session("3", {"Theme": " Carers\u2028 "}).theme == "Carers"

    def test_the_description_is_one_line_cut_to_what_its_page_shows(self) -> None:
        assert parse_session("3", {"Description": "D" * 10_000}).description == "D" * DESCRIPTION_LENGTH
        assert parse_session("3", {"Description": "<b>a</b>\u202e\x00b"}).description == "<b>a</b> b"

    def test_the_question_is_one_line_cut_to_a_text_column(self) -> None:
        """Issue 30: the one question a session aims to answer, on the timetable, its page and its emails."""
        assert parse_session("3", {"Question": " What helps\u2028 you?\u202e "}).question == "What helps you?"
        assert parse_session("3", {"Question": "Q" * 1000}).question == "Q" * TEXT_LENGTH
        assert parse_session("3", {"Question": ["not", "text"]}).question == ""
        assert parse_session("3", {}).question == ""

    def test_the_welsh_title_and_description_are_clean_lines_cut_as_the_english_are(self) -> None:
        """Issue 31: the officers' own words in Welsh (TitleCy, DescriptionCy), blank when not given."""
        session = parse_session("3", {"TitleCy": " Cynllunio\u2028 <b>\u202e", "DescriptionCy": "D" * 10_000})
        assert (session.title_cy, session.description_cy) == ("Cynllunio <b>", "D" * DESCRIPTION_LENGTH)
        assert parse_session("3", {"TitleCy": "T" * 1000}).title_cy == "T" * TEXT_LENGTH
        assert (parse_session("3", {}).title_cy, parse_session("3", {"DescriptionCy": 7}).description_cy) == ("", "7")

    @pytest.mark.parametrize(("value", "language"), [
        ("Cymraeg", "cy"), ("cy", "cy"), ("CY-gb", "cy"), (" Welsh ", "cy"), ("English", "en"), ("", "en"),
        (None, "en"), ("Klingon", "en"), (["Cymraeg"], "en"), (3, "en"),
    ])
    def test_a_bookings_language_is_read_from_its_code_or_its_name(self, value: Any, language: str) -> None:
        assert parse_registration("1", "", {"Language": value}).language == language
        assert parse_registration("1", "", {}).language == "en"

    @pytest.mark.parametrize(("value", "read"), [
        (["Carers", 3, None, ["x"], "Everyone"], ("Carers", "Everyone")), ("Carers", ()), (None, ()), (7, ()),
        ({"Carers": 1}, ()), ([], ()),
    ])
    def test_the_audiences_are_the_text_values_of_a_list(self, value: Any, read: tuple[str, ...]) -> None:
        assert parse_session("3", {"Audience": value}).audiences == read

    @pytest.mark.parametrize(("value", "shared"), [
        (True, True), ("yes", True), ("1", True), (False, False), ("no", False), (1, False), (None, False),
        (["yes"], False)])
    def test_outcomes_are_shared_only_on_a_clear_yes(self, value: Any, shared: bool) -> None:
        assert parse_session("3", {"ShareOutcomes": value}).share_outcomes is shared

    def test_the_outcomes_keep_their_lines(self) -> None:
        assert parse_session("3", {"Outcomes": "a\r\n\r\n\r\nb\u2028c"}).outcomes == "a\n\nb\nc"
        assert parse_session("3", {"Outcomes": 42}).outcomes == ""

    @pytest.mark.parametrize(("value", "listed"), [
        (None, None), ("", ""), (" x\n", " x\n"), (0, ""), (False, ""), ([], ""), (5, "5"), (True, "True"),
        (["a"], "['a']"), ({"a": 1}, "{'a': 1}")])
    def test_the_sync_note_is_kept_as_the_list_holds_it(self, value: Any, listed: str | None) -> None:
        """Text as it is (never cleaned: a write is compared with it); any other value as text, which equals no
        note the service writes."""
        assert parse_session("3", {"SyncNote": value}).sync_note == listed

    @pytest.mark.parametrize(("value", "named"), [
        (None, ""), ("", ""), (0, ""), (False, ""), ([], ""), (" MSo1 ", " MSo1 "), (5, None), (True, None),
        (["MSo1"], None)])
    def test_the_meeting_columns_are_their_text_or_none_for_anything_else(self, value: Any, named: str | None) -> None:
        session = parse_session("3", {"JoinUrl": value, "MeetingId": value})
        assert (session.join_url, session.meeting_id) == (named, named)

    def test_the_title_is_also_kept_as_typed(self) -> None:
        session = parse_session("3", {"Title": "  REHEARSAL -  x\n"})
        assert (session.title, session.title_typed) == ("REHEARSAL - x", "  REHEARSAL -  x\n")
        assert parse_session("3", {"Title": 12}).title_typed == "12"


class TestRegistration:
    def test_a_typed_registration_reads_as_typed(self) -> None:
        reg = reg_with(Title="Ann Example", Status="Confirmed", StatusNote="Your place is confirmed.",
                       Attended="Yes", AccessNeeds="Step-free\naccess", Role="Carer",
                       PostalAddress="1 High St\r\n\r\nTown\n", Email="Ann@Example.org", Phone="01234")
        assert (reg.listed_status, reg.attended, reg.name_shown, reg.greeting, reg.name_typed) == (
            "Confirmed", "Yes", "Ann Example", "Ann", "Ann Example")
        assert (reg.access_needs, reg.role, reg.postal_address, reg.note_shown, reg.personal) == (
            "Step-free access", "Carer", "1 High St, Town", "Your place is confirmed.", True)

    def test_missing_columns_read_as_nothing(self) -> None:
        reg = reg_with()
        assert (reg.listed_status, reg.attended, reg.name_shown, reg.greeting, reg.name_typed, reg.access_needs,
                reg.role, reg.postal_address, reg.note_shown, reg.personal) == (
            None, None, "", "", None, "", "", "", "", False)

    def test_long_text_is_cut_where_config_says(self) -> None:
        reg = reg_with(Title="N" * 1000, AccessNeeds="A" * 10_000, Role="R" * 1000, StatusNote="S" * 1000)
        assert (reg.name_shown, reg.access_needs, reg.role, reg.note_shown) == (
            "N" * NAME_LENGTH, "A" * NEEDS_LENGTH, "R" * ROLE_LENGTH, "S" * NOTE_SHOWN)
        assert reg.name_typed == "N" * 1000  # as typed: erasure looks for the whole of it

    @pytest.mark.parametrize(("value", "listed"), [
        ("Confirmed", "Confirmed"), (" Confirmed", " Confirmed"), ("Confirmed\x00", "Confirmed\x00"),
        (None, None), ("", ""), (0, ""), (False, ""), ([], ""), (7, "7"), (True, "True"),
        (["Confirmed"], "['Confirmed']"),
    ])
    def test_the_status_and_attendance_are_kept_as_the_list_holds_them(self, value: Any, listed: str | None) -> None:
        """What the service compares with what it would write: never cleaned, so "Confirmed " is written again."""
        reg = reg_with(Status=value, Attended=value)
        assert (reg.listed_status, reg.attended) == (listed, listed)
        assert listed_status_of({"Status": value}) == listed

    def test_the_status_the_rules_decide_with_is_cleaned(self) -> None:
        reg = reg_with(Status=" Confirmed\x00")
        assert (reg.status, reg.listed_status) == ("Confirmed", " Confirmed\x00")

    @pytest.mark.parametrize(("typed", "greeted"), [
        ("Ann Example", "Ann"), ("Dr. Ann Smith", "Dr Smith"), ("<b>Ann</b>", ""), ("Ann 3", ""),
        ("https://evil.example", ""), (42, ""), (None, ""), (["Ann"], ""),
    ])
    def test_the_greeting_is_a_first_name_or_nothing(self, typed: Any, greeted: str) -> None:
        assert reg_with(Title=typed).greeting == greeted

    @pytest.mark.parametrize(("typed", "shown"), [
        ("Ann\u2028Example\x07", "Ann Example"), ("ＡＮＮ", "ANN"), ("\u202eevil\u202c", "evil"), (42, "42"),
        (True, ""), (["Ann"], ""), ({"Ann": 1}, ""),
    ])
    def test_the_name_shown_is_one_clean_line(self, typed: Any, shown: str) -> None:
        assert reg_with(Title=typed).name_shown == shown

    @pytest.mark.parametrize(("typed", "kept"), [
        ("  Ann  ", "  Ann  "), (42, "42"), (0, ""), (None, None), (["Ann"], "['Ann']"),
    ])
    def test_the_name_as_typed_is_uncleaned(self, typed: Any, kept: str | None) -> None:
        assert reg_with(Title=typed).name_typed == kept

    @pytest.mark.parametrize(("typed", "one_line"), [
        ("1 High St\nTown\n\nAB1 2CD", "1 High St, Town, AB1 2CD"), ("  1 High\x07St \r\n", "1 High St"),
        ("\n".join(f"L{n}" for n in range(15)), ", ".join(f"L{n}" for n in range(POSTAL_LINES))),
        ("P" * 500 + "\nTown", "P" * POSTAL_LINE_LENGTH + ", Town"), (None, ""), ("", ""), (0, ""), (12, "12"),
    ])
    def test_a_postal_address_is_read_on_one_line(self, typed: Any, one_line: str) -> None:
        assert reg_with(PostalAddress=typed).postal_address == one_line

    @pytest.mark.parametrize(("value", "note"), [
        ("Cancelled by phone.\nThanks", "Cancelled by phone. Thanks"), (42, "42"), (None, ""), (["x"], ""),
    ])
    def test_the_note_shown_on_the_bookings_page_is_one_clean_line(self, value: Any, note: str) -> None:
        assert reg_with(StatusNote=value).note_shown == note

    @pytest.mark.parametrize("column", sorted(REGISTRATIONS.personal))
    def test_any_personal_column_with_a_value_has_to_be_cleared(self, column: str) -> None:
        assert reg_with(**{column: "x"}).personal is True
        assert reg_with(**{column: ""}).personal is False
        assert reg_with(Status="Confirmed", StatusNote="n", Role="Carer").personal is False

    @pytest.mark.parametrize("value", WRONG_TYPES)
    def test_a_wrong_type_in_any_column_is_no_error(self, value: Any) -> None:
        reg = reg_with(**{column: value for column in REGISTRATION_COLUMNS})
        assert reg.access_needs == ("" if value is None or isinstance(value, (bool, list, dict)) else str(value))
        assert reg.email is None


class TestReadingAlone:
    """What a look through every booking reads of each, parsing none: the same as the record would."""

    @pytest.mark.parametrize("typed", [" ANN@Example.org ", "ann(at)example.org", None, 42, ["ann@example.org"]])
    def test_an_address_read_alone_is_the_records(self, typed: Any) -> None:
        assert address_of({"Email": typed}) == reg_with(Email=typed).email

    def test_the_places_a_session_holds_and_its_drop_in_times(self) -> None:
        at = "2030-01-02T10:00:00Z"
        items = [mirrored("1", Status="Confirmed", Slot=at), mirrored("2", Status="Waitlisted"),
                 mirrored("3", Status="Cancelled", Slot="2030-01-02T11:00:00Z"), mirrored("4", Status=" Confirmed"),
                 mirrored("5", Status="NeedsAttention", Slot="2030-01-02T12:00:00Z"),
                 mirrored("6", Status="Confirmed", Slot="not a time")]
        assert places_held(items) == (3, {datetime(2030, 1, 2, 10, tzinfo=UTC)})
        assert places_held([]) == (0, set())


# Any values at all, in any of the columns (and ones the lists do not have): never an error, always clean lines.

@given(st.dictionaries(st.sampled_from(SESSION_COLUMNS), any_value))
def test_any_values_in_a_session_read_as_clean_lines_within_their_limits(fields: dict[str, Any]) -> None:
    read = parse_session("1", fields)
    for text, limit in ((read.theme, THEME_LENGTH), (read.theme_shown, THEME_SHOWN),
                        (read.description, DESCRIPTION_LENGTH), (read.question, TEXT_LENGTH),
                        (read.title_cy, TEXT_LENGTH), (read.description_cy, DESCRIPTION_LENGTH)):
        assert len(text) <= limit and one_clean_line(text), (text, fields)
    assert all(isinstance(a, str) for a in read.audiences)
    assert all(a == a.lower() and a.isascii() and "@" in a for a in read.facilitators)
    assert len(read.outcomes) <= 4000 and all(one_clean_line(line) for line in read.outcomes.splitlines())
    for kept, column in ((read.sync_note, "SyncNote"), (read.title_typed, "Title")):
        if isinstance(fields.get(column), str):
            assert kept == fields[column]  # as the list holds it, to the letter
    for named, column in ((read.join_url, "JoinUrl"), (read.meeting_id, "MeetingId")):
        assert named == (fields[column] if isinstance(fields.get(column), str) else None if fields.get(column)
                         else "")


@given(st.dictionaries(st.sampled_from(REGISTRATION_COLUMNS), any_value))
def test_any_values_in_a_registration_read_as_clean_lines_within_their_limits(fields: dict[str, Any]) -> None:
    read = parse_registration("1", "", fields)
    for text, limit in ((read.name_shown, NAME_LENGTH), (read.greeting, 40), (read.access_needs, NEEDS_LENGTH),
                        (read.role, ROLE_LENGTH), (read.note_shown, NOTE_SHOWN)):
        assert len(text) <= limit and one_clean_line(text), (text, fields)
    assert one_clean_line(read.postal_address) and len(read.postal_address) <= POSTAL_LINES * (POSTAL_LINE_LENGTH + 2)
    for kept, column in ((read.listed_status, "Status"), (read.attended, "Attended"), (read.name_typed, "Title")):
        if isinstance(fields.get(column), str):
            assert kept == fields[column]  # as the list holds it, to the letter
        elif fields.get(column) is None:
            assert kept is None
        else:
            assert kept == (str(fields[column]) if fields[column] else "")
    assert read.listed_status == listed_status_of(fields) and read.email == address_of(fields)
    assert read.language in ("en", "cy")
