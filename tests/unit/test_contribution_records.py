"""A Contributions item as the service reads it (coprod/lists/contributions.py): only `Published` is published,
what people wrote is kept as text with its lines, and an address or session that cannot be used is none."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from config import CONTRIBUTION_LENGTH
from coprod.lists.contributions import parse_contribution

CREATED = "2027-02-02T10:00:00Z"


def test_every_column_is_read_as_typed() -> None:
    read = parse_contribution("4", CREATED, {
        "Theme": "Carers", "Text": "Evenings, please.\n\nAnd a phone number.", "Name": "Ann Example",
        "Email": " Ann@Example.org ", "Status": "Published", "SessionLookupId": 12, "Source": "website",
        "Modified": "2027-02-03T09:00:00Z"})
    assert (read.id, read.theme, read.name, read.email, read.status, read.session, read.source) == (
        "4", "Carers", "Ann Example", "ann@example.org", "Published", "12", "website")
    assert read.text == "Evenings, please.\n\nAnd a phone number." and read.published
    assert read.created == datetime(2027, 2, 2, 10, tzinfo=UTC)
    assert read.changed == datetime(2027, 2, 3, 9, tzinfo=UTC)


@pytest.mark.parametrize(("status", "published"), [
    ("Published", True), ("Published ", True), ("New", False), ("Hidden", False), ("", False), ("published", False),
    (None, False), (["Published"], False)])
def test_only_published_as_an_officer_sets_it_is_published(status: object, published: bool) -> None:
    assert parse_contribution("4", CREATED, {"Text": "words", "Status": status}).published is published


def test_what_cannot_be_used_is_none_and_text_stays_text() -> None:
    read = parse_contribution("4", "", {"Email": "not an address", "SessionLookupId": "12; DROP",
                                        "Text": "a\u202eb\u2028c\x00d" + "x" * (CONTRIBUTION_LENGTH + 50)})
    assert (read.email, read.session, read.created, read.changed) == (None, "", None, None)
    assert read.text.startswith("a b\nc d") and len(read.text) == CONTRIBUTION_LENGTH


def test_each_column_is_cut_to_the_length_the_list_allows_and_a_missing_creation_time_is_read_from_created() -> None:
    from config import CHOICE_LENGTH, NAME_LENGTH, THEME_LENGTH

    long = {"Theme": "T" * 500, "Name": "N" * 500, "Status": "S" * 500, "Source": "W" * 500,
            "SessionLookupId": "1" * 25, "Created": "2027-02-01T08:00:00Z"}
    read = parse_contribution("4", "", long)
    assert (len(read.theme), len(read.name), len(read.status), len(read.source)) == (
        THEME_LENGTH, NAME_LENGTH, CHOICE_LENGTH, CHOICE_LENGTH)
    assert read.session == "1" * 20  # a lookup id is never longer
    assert read.created == datetime(2027, 2, 1, 8, tzinfo=UTC)  # the list's own Created, when the mirror has none
