"""The participation report for governance: numbers, never names or addresses.

`python -m coprod report [--from DATE] [--to DATE] [--format text|csv|html]` counts, for the sessions that
started in the period (UK dates, both ends included), from the state store's mirror of the lists as the last
run saw them:
- per session and per theme: bookings, confirmed, waitlisted, cancelled, attended, no-shows;
- by role (people who use services, carers, professionals, other);
- first-time and returning participants (a place before, at an earlier session, with the same address; after
  the retention period clears addresses, "not known");
- guest requests made in the period and the guests invited from them;
- mailing-list joins in the period (confirmed), and how many have left the list.
The HTML form is one page with simple bar charts drawn as SVG, each with the same figures as a table beside it
(the text equivalent), for a councillor to read at a glance or print.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from config import ROLES
from coprod.lists.fields import as_datetime
from coprod.lists.mailing import parse_subscriber
from coprod.lists.records import Registration, parse_registration, parse_session
from coprod.lists.requests import parse_guest_request
from coprod.store import StateStore
from coprod.templates import UK, render_page

__all__ = ["COLUMNS", "Report", "as_csv", "as_html", "as_text_table", "build"]

COLUMNS = ("bookings", "confirmed", "waitlisted", "cancelled", "attended", "no_shows")
HEADINGS = ("Bookings", "Confirmed", "Waitlisted", "Cancelled", "Attended", "No-shows")
BOOKED = ("Confirmed", "Waitlisted", "Cancelled", "Erased")


@dataclass
class Row:
    label: str
    when: str = ""
    at: datetime | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLUMNS, 0))


@dataclass
class Report:
    start: date | None
    end: date | None
    sessions: list[Row] = field(default_factory=list)
    themes: dict[str, Row] = field(default_factory=dict)
    roles: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=lambda: {"first time": 0, "returning": 0, "not known": 0})
    guests: dict[str, int] = field(default_factory=lambda: {"requests": 0, "invited": 0})
    mailing: dict[str, int] = field(default_factory=lambda: {"joined": 0, "left (now)": 0})

    @property
    def period(self) -> str:
        start = self.start.strftime("%-d %B %Y") if self.start else "the first session"
        end = self.end.strftime("%-d %B %Y") if self.end else "the latest"
        return f"{start} to {end}"

    @property
    def total(self) -> Row:
        row = Row("All sessions")
        for session in self.sessions:
            for name in COLUMNS:
                row.counts[name] += session.counts[name]
        return row


def _in(day: date | None, start: date | None, end: date | None) -> bool:
    return day is not None and (start is None or day >= start) and (end is None or day <= end)


def build(store: StateStore, start: date | None = None, end: date | None = None) -> Report:
    report = Report(start, end)
    report.roles = dict.fromkeys(ROLES, 0)
    starts: dict[str, datetime] = {}
    sessions = [parse_session(item.item_id, item.fields) for item in store.mirror.items("Sessions")]
    bookings: dict[str, list[Registration]] = {}  # session -> its registrations, each parsed once
    for item in store.mirror.items("Registrations"):
        bookings.setdefault(item.group or "", []).append(parse_registration(item.item_id, item.created, item.fields))
    for session in sessions:
        if session.start is None or not _in(session.start.astimezone(UK).date(), start, end):
            continue
        starts[session.id] = session.start
        row = Row(session.title, session.start.astimezone(UK).strftime("%-d %b %Y"), session.start)
        theme = session.theme or "No theme"
        for reg in bookings.get(session.id, []):
            status, attended = reg.listed_status, reg.attended
            if status not in BOOKED:
                continue
            row.counts["bookings"] += 1
            row.counts["confirmed"] += status == "Confirmed"
            row.counts["waitlisted"] += status == "Waitlisted"
            row.counts["cancelled"] += status == "Cancelled"
            row.counts["attended"] += status == "Confirmed" and attended == "Yes"
            row.counts["no_shows"] += status == "Confirmed" and attended == "No"
            report.roles[reg.role if reg.role in ROLES else "Other"] += 1
        report.sessions.append(row)
        themed = report.themes.setdefault(theme, Row(theme))
        for name in COLUMNS:
            themed.counts[name] += row.counts[name]
    report.sessions.sort(key=lambda r: (r.at or datetime.min.replace(tzinfo=UK), r.label))
    _people(report, {s.id: s.start for s in sessions}, bookings, starts)
    for item in store.mirror.items("GuestRequests"):
        if _in(_day(item.created), start, end):
            report.guests["requests"] += 1
            report.guests["invited"] += parse_guest_request(item.item_id, item.created, item.fields).status in (
                "Invited", "AlreadyMember")
    for sub in (parse_subscriber(item.item_id, item.fields) for item in store.mirror.items("Subscribers")):
        report.mailing["joined"] += sub.status == "Subscribed" and _in(_day(sub.confirmed_at), start, end)
        report.mailing["left (now)"] += sub.status == "Unsubscribed"
    return report


def _day(value: Any) -> date | None:
    moment = as_datetime(value)
    return moment.astimezone(UK).date() if moment else None


def _people(report: Report, every: dict[str, datetime | None], bookings: dict[str, list[Registration]],
            starts: dict[str, datetime]) -> None:
    """First-time or returning: each confirmed place in the period, against every earlier session's places."""
    first_seen: dict[str, datetime] = {}
    for group, regs in bookings.items():
        for reg in regs:
            address, began = reg.email, every.get(group)
            if reg.listed_status == "Confirmed" and address and began and (
                    address not in first_seen or began < first_seen[address]):
                first_seen[address] = began
    for session_id, began in starts.items():
        for reg in bookings.get(session_id, []):
            if reg.listed_status != "Confirmed":
                continue
            address = reg.email
            kind = "not known" if address is None else "returning" if first_seen[address] < began else "first time"
            report.people[kind] += 1


def as_text_table(report: Report) -> str:
    lines = [f"Participation report: sessions from {report.period}", ""]
    width = max([len(r.label) for r in [*report.sessions, *report.themes.values()]] + [20])
    head = f"{'':<{width}}  " + "  ".join(f"{h:>10}" for h in HEADINGS)

    def table(title: str, rows: list[Row]) -> None:
        lines.extend([title, head])
        lines.extend(f"{r.label:<{width}}  " + "  ".join(f"{r.counts[c]:>10}" for c in COLUMNS) for r in rows)
        lines.append("")

    table("By session", [*report.sessions, report.total])
    table("By theme", sorted(report.themes.values(), key=lambda r: r.label))
    for title, counts in (("Bookings by role", report.roles), ("Places taken", report.people),
                          ("Guest access", report.guests), ("Mailing list", report.mailing)):
        lines.append(title)
        lines.extend(f"  {name}: {n}" for name, n in counts.items())
        lines.append("")
    return "\n".join(lines)


def as_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["group", "name", "date", *COLUMNS])
    for group, rows in (("session", report.sessions), ("theme", list(report.themes.values())),
                        ("total", [report.total])):
        for row in rows:
            writer.writerow([group, _safe(row.label), row.when, *(row.counts[c] for c in COLUMNS)])
    for group, counts in (("role", report.roles), ("people", report.people), ("guests", report.guests),
                          ("mailing list", report.mailing)):
        for name, n in counts.items():
            writer.writerow([group, name, "", n])
    return out.getvalue()


def _safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula (a title typed as `=HYPERLINK(...)`)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def as_html(report: Report, programme: str) -> str:
    totals = report.total.counts
    return render_page("report", programme=programme, report=report, headings=HEADINGS, columns=COLUMNS,
                       chart=_bars([(h, totals[c]) for h, c in zip(HEADINGS, COLUMNS, strict=True)]),
                       roles=_bars(list(report.roles.items())))


def _bars(pairs: list[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """(label, figure, bar width in pixels): the largest figure 400 wide."""
    top = max([n for _, n in pairs] + [1])
    return [(label, n, round(n * 400 / top)) for label, n in pairs]
