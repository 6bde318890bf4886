"""The participation report's contributions and feedback (issue 30): counted per session and theme, and suppressed
as public statistics are (a count under 5 is "fewer than 5", an average of fewer than 5 answers withheld), the same
in text, CSV and HTML, and never a word, name or address of anyone's."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import date
from typing import Any

import pytest

from coprod import handoffs
from coprod.handoffs import Feedback
from coprod.operating.report import SUPPRESSED, Report, as_csv, as_html, as_text_table, build
from coprod.store import MirrorItem, StateStore

DECEMBER = date(2026, 12, 1), date(2026, 12, 31)
FEWER, WITHHELD = "fewer than 5", "withheld (fewer than 5 answers)"
TABLES = {"session": "Contributions and feedback by session", "theme": "Contributions and feedback by theme",
          "no session": "Contributions and feedback by session", "total": "Contributions and feedback by session"}
TOTAL = {"text": "All", "html": "All", "csv": "All sessions"}


def session(store: StateStore, item_id: str, title: str, day: int, theme: str = "Carers") -> str:
    store.mirror.put([MirrorItem("Sessions", item_id, None, "2026-11-01T09:00:00Z", {
        "Title": title, "Theme": theme, "Status": "Open", "StartTime": f"2026-12-{day:02d}T10:00:00Z",
        "EndTime": f"2026-12-{day:02d}T12:00:00Z"})])
    return item_id


def contributions(store: StateStore, statuses: list[str], about: str | None = None, theme: str = "Carers",
                  created: str = "2026-12-05T12:00:00Z", **words: str) -> None:
    start = len(store.mirror.ids("Contributions"))
    fields: dict[str, Any] = {"Theme": theme, "Title": "Their words", "Text": "Their words", "Source": "website",
                              **words}
    if about is not None:
        fields["SessionLookupId"] = about
    store.mirror.put([MirrorItem("Contributions", str(start + n), f'"{start + n},1"', created,
                                 {**fields, "Status": status}) for n, status in enumerate(statuses)])


def feedback(store: StateStore, about: str, ratings: list[int], listened: list[str] | None = None,
             comment: str = "") -> None:
    start = len(store.ledger.list(kind=Feedback.KIND))
    for n, rating in enumerate(ratings):
        heard = listened[n] if listened else "yes"
        handoffs.put(store.ledger, Feedback(about, f"r{about}-{start + n}", rating, heard, comment, 1.0))


def figures(report: Report, group: str, label: str) -> dict[str, list[str]]:
    """One row's five contribution and feedback cells, as text, CSV and HTML each show them."""
    text_label = html_label = TOTAL["text"] if group == "total" else label
    lines = as_text_table(report).splitlines()
    table = lines[lines.index(TABLES[group]):]
    line = next(line for line in table if line.startswith(text_label + "  "))
    text = re.split(r"\s{2,}", line)[1:]
    text += [""] * (5 - len(text))  # a line ends at its last figure: empty cells at its end leave no mark
    sheet = list(csv.reader(io.StringIO(as_csv(report))))
    first = sheet[0].index("contributions_received")
    [row] = [r for r in sheet if r[:2] == [group, TOTAL["csv"] if group == "total" else label]]
    page = as_html(report, "Co-production programme")
    part = page[page.index(f"<caption>{TABLES[group]}</caption>"):]
    part = part[:part.index("</table>")]
    [found] = [cells for cells in ([html.unescape(re.sub("<[^>]+>", "", c)) for c in
                                    re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr)]
                                   for tr in re.findall(r"<tr>(.*?)</tr>", part, re.S)) if cells[0] == html_label]
    skip = 2 if TABLES[group].endswith("session") else 1  # the session table has a Date column
    return {"text": text, "csv": row[first:first + 5], "html": found[skip:]}


def shows(report: Report, group: str, label: str, cells: list[str]) -> None:
    """The row shows these five cells in every format (an average withheld says just "withheld" in CSV)."""
    got = figures(report, group, label)
    assert got["text"] == cells and got["html"] == cells, got
    assert got["csv"] == ["withheld" if cell == WITHHELD else cell for cell in cells], got


@pytest.fixture
def forum(store: StateStore) -> str:
    return session(store, "11", "Carers' forum", 9)


def test_feedback_from_two_people_is_fewer_than_5_answers_and_its_average_withheld(store: StateStore,
                                                                                    forum: str) -> None:
    feedback(store, forum, [5, 1])
    report = build(store, *DECEMBER)
    shows(report, "session", "Carers' forum", [FEWER, FEWER, FEWER, WITHHELD, FEWER])
    assert SUPPRESSED in as_text_table(report) and SUPPRESSED in html.unescape(as_html(report, "Programme"))
    assert "3.0" not in as_text_table(report) + as_csv(report) + as_html(report, "Programme")


def test_feedback_from_six_people_is_shown_with_its_exact_average(store: StateStore, forum: str) -> None:
    feedback(store, forum, [5, 4, 4, 3, 5, 2], ["yes", "yes", "partly", "yes", "yes", "yes"])
    report = build(store, *DECEMBER)
    shows(report, "session", "Carers' forum", [FEWER, FEWER, "6", "3.8", "5"])  # 23 / 6; five said "yes"
    shows(report, "total", "", [FEWER, FEWER, "6", "3.8", "5"])


def test_five_answers_are_shown_and_four_are_not(store: StateStore, forum: str) -> None:
    other = session(store, "12", "Having choice", 16, theme="Having choice")
    feedback(store, forum, [5, 5, 4, 4, 3], ["yes", "yes", "yes", "yes", "no"])
    feedback(store, other, [5, 5, 4, 4], ["yes", "yes", "yes", "yes"])
    report = build(store, *DECEMBER)
    shows(report, "session", "Carers' forum", [FEWER, FEWER, "5", "4.2", FEWER])  # four said "yes"
    shows(report, "session", "Having choice", [FEWER, FEWER, FEWER, WITHHELD, FEWER])


def test_an_average_halfway_between_is_rounded_up(store: StateStore, forum: str) -> None:
    feedback(store, forum, [5, 5, 4, 3, 3, 2, 2, 2])  # 26 / 8 = 3.25
    shows(build(store, *DECEMBER), "session", "Carers' forum", [FEWER, FEWER, "8", "3.3", "8"])


def test_contributions_received_count_every_status_and_published_only_the_published(store: StateStore,
                                                                                     forum: str) -> None:
    few = session(store, "12", "Having choice", 16, theme="Having choice")
    contributions(store, ["Published", "New", "Hidden"], about=few)
    contributions(store, ["Published"] * 5 + ["Hidden", "New"], about=forum)
    report = build(store, *DECEMBER)
    shows(report, "session", "Having choice", [FEWER, FEWER, FEWER, WITHHELD, FEWER])
    shows(report, "session", "Carers' forum", ["7", "5", FEWER, WITHHELD, FEWER])
    shows(report, "total", "", ["10", "6", FEWER, WITHHELD, FEWER])


def test_only_sessions_in_the_period_and_contributions_made_in_it_are_counted(store: StateStore, forum: str) -> None:
    before = session(store, "13", "November's forum", 1)  # 1 December: the period starts on the 2nd
    contributions(store, ["Published"] * 5, about=forum)
    contributions(store, ["Published"] * 3, about=before)
    feedback(store, forum, [4] * 5)
    feedback(store, before, [1] * 2)
    contributions(store, ["Published"] * 5, theme="Being included")  # about no session, made in the period
    contributions(store, ["Published"] * 3, theme="Being included", created="2026-11-30T12:00:00Z")
    report = build(store, date(2026, 12, 2), DECEMBER[1])
    assert [row.label for row in report.sessions] == ["Carers' forum"]
    shows(report, "theme", "Carers", ["5", "5", "5", "4.0", "5"])
    shows(report, "theme", "Being included", ["5", "5", FEWER, WITHHELD, FEWER])
    shows(report, "no session", "Not about a session", ["5", "5", "", "", ""])  # nobody is asked for feedback
    shows(report, "total", "", ["10", "10", "5", "4.0", "5"])


def test_a_theme_adds_up_its_sessions(store: StateStore, forum: str) -> None:
    second = session(store, "12", "Carers' forum, part two", 16)
    feedback(store, forum, [5, 4], ["yes", "no"])
    feedback(store, second, [3, 3, 4, 2], ["yes", "yes", "yes", "yes"])
    contributions(store, ["Published"] * 3, about=forum, theme="Being healthy")  # counted for its session's theme
    contributions(store, ["Published"] * 2, about=second)
    report = build(store, *DECEMBER)
    shows(report, "session", "Carers' forum", [FEWER, FEWER, FEWER, WITHHELD, FEWER])
    shows(report, "session", "Carers' forum, part two", [FEWER, FEWER, FEWER, WITHHELD, FEWER])
    shows(report, "theme", "Carers", ["5", "5", "6", "3.5", "5"])  # 21 / 6; five said "yes"
    assert "Being healthy" not in report.themes


class Guarded(dict[str, Any]):
    """A contribution's columns that fail the test if the report reads anyone's words, name or address."""

    def __getitem__(self, key: str) -> Any:
        assert key not in ("Text", "Name", "Email", "Title"), key
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        assert key not in ("Text", "Name", "Email", "Title"), key
        return super().get(key, default)


def test_the_report_shows_no_ones_words_name_or_address(store: StateStore, forum: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    feedback(store, forum, [5, 4, 4, 3, 5, 2], comment="Zanzibar marmalade was awful")
    contributions(store, ["Published"] * 6, about=forum, Text="Quixotic porcupine words", Name="Ottoline Vexhurst",
                  Email="ottoline.vexhurst@example.net", Title="Quixotic porcupine words")
    contributions(store, ["New"] * 5, theme="Being included", Text="Quixotic porcupine words",
                  Name="Ottoline Vexhurst", Email="ottoline.vexhurst@example.net")
    items = store.mirror.items
    monkeypatch.setattr(store.mirror, "items", lambda name: [
        MirrorItem(i.list_name, i.item_id, i.etag, i.created, Guarded(i.fields), i.group) if name == "Contributions"
        else i for i in items(name)])
    report = build(store, *DECEMBER)
    shows(report, "session", "Carers' forum", ["6", "6", "6", "3.8", "6"])
    for output in (as_text_table(report), as_csv(report), as_html(report, "Co-production programme")):
        for secret in ("Zanzibar", "marmalade", "Quixotic", "porcupine", "Ottoline", "Vexhurst", "example.net"):
            assert secret not in output
