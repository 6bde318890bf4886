"""The participation report's HTML form in a real browser: it meets the pages' accessibility bar (axe-core)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import Page

from coprod.operating.report import Report, Row, as_html
from tests.support.browser import assert_accessible

pytest_plugins = ["tests.support.browser"]  # the `browser` (one chromium for this module) and `page` fixtures


def test_the_html_report_is_accessible_and_its_charts_have_text_equivalents(page: Page, tmp_path: Path) -> None:
    report = Report(None, None)
    report.sessions = [Row("Carers' forum <b>", "9 Dec 2026", datetime(2026, 12, 9, tzinfo=UTC),
                           {"bookings": 9, "confirmed": 6, "waitlisted": 2, "cancelled": 1, "attended": 5,
                            "no_shows": 1})]
    report.themes = {"Carers": report.sessions[0]}
    report.roles = {"Person who uses services": 3, "Carer": 5, "Professional": 1, "Other": 0}
    file = tmp_path / "report.html"
    file.write_text(as_html(report, "Co-production programme"), encoding="utf-8")
    page.goto(file.as_uri())
    assert page.get_by_role("img", name="At a glance Bar chart of all sessions together").count() == 1
    by_session = page.get_by_role("table", name="By session", exact=True)
    assert by_session.get_by_role("rowheader", name="Carers' forum <b>").count() == 1
    heard = page.get_by_role("table", name="Contributions and feedback by session")
    assert heard.get_by_role("rowheader", name="Carers' forum <b>").count() == 1  # each row's header says its session
    assert heard.get_by_role("cell", name="withheld (fewer than 5 answers)").count() == 2  # the session and all
    assert_accessible(page, "the participation report")


def test_the_report_fits_320px_keeps_its_charts_in_forced_colours_and_says_not_yet(page: Page, tmp_path: Path) -> None:
    """Issue 32: at 320 px the page never scrolls sideways (a wide table scrolls inside itself); in Windows high
    contrast (forced colours) the bars and their words take the system's colours; a session still to come says
    "not yet" for who came; every table has header cells."""
    from coprod.operating.report import NOT_YET

    report = Report(None, None)
    past = Row("Carers' forum", "9 Dec 2026", datetime(2026, 12, 9, tzinfo=UTC),
               {"bookings": 9, "confirmed": 6, "waitlisted": 1, "cancelled": 1, "erased": 1, "attended": 5,
                "no_shows": 1})
    coming = Row("Having choice: what I do with my day", "9 Jan 2027", datetime(2027, 1, 9, tzinfo=UTC),
                 {"bookings": 4, "confirmed": 4, "waitlisted": 0, "cancelled": 0, "erased": 0, "attended": 0,
                  "no_shows": 0}, to_come=True)
    report.sessions = [past, coming]
    report.themes = {"Carers": past}
    report.roles = {"Person who uses services": 3, "Carer": 5, "Professional": 1, "Other": 0}
    file = tmp_path / "report.html"
    file.write_text(as_html(report, "Co-production programme"), encoding="utf-8")
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(file.as_uri())
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 320
    row = page.get_by_role("table", name="By session", exact=True).get_by_role("row", name="Having choice")
    assert row.get_by_role("cell", name=NOT_YET).count() == 2  # attended and no-shows: not yet known
    for table in page.get_by_role("table").all():
        assert table.get_by_role("columnheader").count() >= 2
    assert_accessible(page, "the participation report at 320 px")
    page.emulate_media(forced_colors="active")
    fill = page.evaluate("() => getComputedStyle(document.querySelector('.bar')).fill")
    words = page.evaluate("() => getComputedStyle(document.querySelector('svg text')).fill")
    assert fill != "rgb(29, 112, 184)" and words != "rgb(11, 12, 12)"  # the system's colours, not the page's
