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
    assert page.get_by_role("table", name="By session").get_by_role("cell", name="Carers' forum <b>").count() == 1
    heard = page.get_by_role("table", name="Contributions and feedback by session")
    assert heard.get_by_role("rowheader", name="Carers' forum <b>").count() == 1  # each row's header says its session
    assert heard.get_by_role("cell", name="withheld (fewer than 5 answers)").count() == 2  # the session and all
    assert_accessible(page, "the participation report")
