"""The participation report: per session and theme, by role, first-time and returning, no names or addresses."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from coprod.cli import main
from coprod.operating.report import as_csv, as_html, as_text_table, build
from tests.support.programme import Programme, soon


def test_a_term_of_sessions_in_numbers_with_nobody_named(programme: Programme) -> None:
    first_start, second_start = soon(2), soon(4)
    first = programme.session("=HYPERLINK(\"x\") forum", first_start, capacity=2)
    second = programme.session("Carers' forum, part two", second_start, capacity=5)
    choice = programme.session("Choosing my support", soon(3), Theme="Having choice")
    ann = programme.register(first, "Ann Example", Role="Carer")
    programme.register(first, "Ben Example", Role="Person who uses services")
    programme.register(first, "Cy Waiting", Role="Professional")
    programme.register(second, "Ann Example", Role="Carer")  # Ann again: returning
    programme.register(choice, "Dee New", Role="Carer")
    programme.run()
    [meeting] = [m for m in programme.meetings() if m.json.get("subject") == "=HYPERLINK(\"x\") forum"]
    programme.backend.meetings.record_attendance(meeting.id, [  # (nobody unnamed: Ben is then a no-show, not unknown)
        {"email": "ann.example@example.org", "name": "Ann", "seconds": 3000}])
    programme.clock.offset += (first_start + timedelta(hours=2)).timestamp() - programme.clock()
    programme.run(minutes=0)
    report = build(programme.services.store)
    rows = {r.label: r.counts for r in report.sessions}
    assert rows["=HYPERLINK(\"x\") forum"] == {"bookings": 3, "confirmed": 2, "waitlisted": 1, "cancelled": 0,
                                              "erased": 0, "attended": 1, "no_shows": 1}
    assert report.total.counts["bookings"] == 5 and report.themes["Having choice"].counts["confirmed"] == 1
    assert report.roles == {"Person who uses services": 1, "Carer": 3, "Professional": 1, "Other": 0}
    assert report.people == {"first time": 3, "returning": 1, "not known": 0}
    assert programme.field("Registrations", ann, "Attended") == "Yes"
    text, sheet, page = as_text_table(report), as_csv(report), as_html(report, "Co-production programme")
    for output in (text, sheet, page):
        assert "example.org" not in output and "Ann" not in output and "Ben" not in output  # nobody named
    assert "Participation report: sessions from the first session to the latest" in text
    cells = list(csv.reader(io.StringIO(sheet)))
    assert cells[1][:2] == ["session", "'=HYPERLINK(\"x\") forum"]  # a title a spreadsheet would run, made text
    assert '<svg class="chart" role="img" aria-labelledby="at-a-glance glance-desc"' in page
    assert "<caption>By session" in page
    only_later = build(programme.services.store, start=second_start.date())
    assert [r.label for r in only_later.sessions] == ["Carers' forum, part two"]


def test_the_command_refuses_a_date_it_cannot_read(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--from", "1 April"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_after_an_erasure_the_columns_add_up_and_a_session_to_come_says_not_yet(programme: Programme) -> None:
    """Issue 32: an erased booking is counted as erased (confirmed, waitlisted, cancelled and erased add up to the
    bookings), and who came to a session still to come is "not yet", not 0 (which reads as nobody came)."""
    from coprod.privacy.erasure import erase

    coming = programme.session("Carers forum", soon(5), capacity=1)
    for name in ("Ann Example", "Ben Example", "Cy Example"):
        programme.register(coming, name)
    programme.run()
    assert erase(programme.services, "ann.example@example.org").problems == []
    programme.run()
    report = build(programme.services.store)
    [row] = report.sessions
    counts = row.counts
    assert counts["erased"] == 1 and counts["bookings"] == 3
    assert counts["confirmed"] + counts["waitlisted"] + counts["cancelled"] + counts["erased"] == counts["bookings"]
    assert (row.cell("attended"), row.cell("no_shows"), row.cell("confirmed")) == ("not yet", "not yet", 1)
    text = as_text_table(report)
    assert "Erased" in text and re.search(r"Carers forum\s+3\s+1\s+1\s+0\s+1\s+not yet\s+not yet", text)
    cells = list(csv.reader(io.StringIO(as_csv(report))))
    assert cells[0][3:10] == ["bookings", "confirmed", "waitlisted", "cancelled", "erased", "attended", "no_shows"]
    assert cells[1][3:10] == ["3", "1", "1", "0", "1", "not yet", "not yet"]
    later = build(programme.services.store, now=datetime.now(UTC) + timedelta(days=30))
    assert later.sessions[0].cell("attended") == 0  # over: a figure
