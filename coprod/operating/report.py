"""The participation report for governance: numbers, never names or addresses.

`python -m coprod report [--from DATE] [--to DATE] [--format text|csv|html]` counts, for the sessions that
started in the period (UK dates, both ends included), from the state store's mirror of the lists as the last
run saw them:
- per session and per theme: bookings, confirmed, waitlisted, cancelled, erased on request (so the four add up to
  the bookings after an erasure), attended, no-shows ("not yet" for a session still to come);
- by role (people who use services, carers, professionals, other);
- first-time and returning participants (a place before, at an earlier session, with the same address; after
  the retention period clears addresses, "not known");
- guest requests made in the period and the guests invited from them;
- mailing-list joins in the period (confirmed), and how many have left the list;
- per session and per theme, and in total, what people told the programme (tables of their own; in CSV, columns):
  - contributions received: the Contributions list's items about the session, whatever their Status (New,
    Published, Hidden); one about no session counts for its theme (and the total) if it was made in the period;
  - contributions published: those of them an officer has published;
  - feedback answers: how many people answered "How was it?" about the session;
  - average rating: their rating from 1 to 5, on average, to one decimal (halves rounded up);
  - felt listened to: how many answered "yes" to "did you feel listened to?".
  A session's contributions and feedback count for its theme too. These figures are suppressed as public
  statistics are (`shown`, the one function every format uses): a count under 5 is shown as "fewer than 5", and an
  average of fewer than 5 ratings is withheld, each figure on its own count, so nobody can be picked out. Only a
  contribution's Status, Theme, session and creation time are read, and only a feedback answer's session, rating
  and "listened"; never anyone's words, name or address.
The HTML form is one page with simple bar charts drawn as SVG, each with the same figures as a table beside it
(the text equivalent), for a councillor to read at a glance or print. Its words are the public pages' catalogue's
(`as_html(..., language="cy")` is the page in Welsh; English unless asked); the text and CSV forms are English.
"""

from __future__ import annotations

import csv
import io
import textwrap
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from config import CHOICE_LENGTH, ROLES, THEMES
from coprod import i18n
from coprod.handoffs import RATINGS, Feedback
from coprod.i18n import N_, Translator
from coprod.lists.fields import as_datetime, as_text
from coprod.lists.mailing import parse_subscriber
from coprod.lists.records import Registration, parse_registration, parse_session, session_of
from coprod.lists.requests import parse_guest_request
from coprod.store import StateStore
from coprod.templates import UK, render_page

__all__ = ["COLUMNS", "HEARD_COLUMNS", "HEARD_HEADINGS", "SUPPRESSED", "Report", "as_csv", "as_html",
           "as_text_table", "build", "shown"]

COLUMNS = ("bookings", "confirmed", "waitlisted", "cancelled", "erased", "attended", "no_shows")
HEADINGS = (N_("Bookings"), N_("Confirmed"), N_("Waitlisted"), N_("Cancelled"), N_("Erased"), N_("Attended"),
            N_("No-shows"))
NOT_YET = N_("not yet")  # who came to a session still to come
BOOKED = ("Confirmed", "Waitlisted", "Cancelled", "Erased")
# what people told the programme, as counted (HEARD) and as shown, suppressed (HEARD_COLUMNS)
HEARD = ("received", "published", "answers", "rated", "rating_total", "listened")
HEARD_COLUMNS = ("contributions_received", "contributions_published", "feedback_answers", "average_rating",
                 "felt_listened_to")
HEARD_HEADINGS = (N_("Contributions received"), N_("Contributions published"), N_("Feedback answers"),
                  N_("Average rating (1-5)"), N_("Felt listened to"))
FEWEST = 5  # the smallest count shown as it is
SUPPRESSION = N_("Counts under %(fewest)s are shown as 'fewer than %(fewest)s', and averages from fewer than "
                 "%(fewest)s answers are withheld, so nobody can be picked out.")
SUPPRESSED = SUPPRESSION % {"fewest": FEWEST}
HEARD_NOTE = N_("Contributions received: what people sent about the session (or theme), whatever an officer has "
                "done with it; published: those shown on the programme's pages. Feedback: answers to \"How was "
                "it?\", their average rating from 1 to 5, and how many felt listened to.")
NO_SESSION = N_("Not about a session")
NO_THEME = N_("No theme")
ALL_SESSIONS = N_("All sessions")


@dataclass
class Row:
    label: str
    when: str = ""
    at: datetime | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLUMNS, 0))
    heard: dict[str, int] = field(default_factory=lambda: dict.fromkeys(HEARD, 0))
    asked: bool = True  # whether feedback could be given (no: contributions about no session)
    to_come: bool = False  # a session not yet over: who came is not yet known
    language: str = i18n.DEFAULT  # the language its words are shown in

    def cell(self, column: str) -> int | str:
        """A figure as every format shows it: "not yet" for who came to a session still to come."""
        if self.to_come and column in ("attended", "no_shows"):
            return i18n.translator(self.language).gettext(NOT_YET)
        return self.counts.get(column, 0)


@dataclass
class Report:
    start: date | None
    end: date | None
    sessions: list[Row] = field(default_factory=list)
    themes: dict[str, Row] = field(default_factory=dict)
    roles: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=lambda: {N_("first time"): 0, N_("returning"): 0,
                                                            N_("not known"): 0})
    guests: dict[str, int] = field(default_factory=lambda: {"requests": 0, "invited": 0})
    mailing: dict[str, int] = field(default_factory=lambda: {"joined": 0, "left (now)": 0})
    unsessioned: Row = field(default_factory=lambda: Row(NO_SESSION, asked=False))  # contributions about no session
    language: str = i18n.DEFAULT  # the language its words are shown in

    @property
    def period(self) -> str:
        words = i18n.translator(self.language)

        def day(value: date) -> str:
            return i18n.day(datetime.combine(value, time(12), tzinfo=UK), self.language)

        dates = {"start": day(self.start) if self.start else "", "end": day(self.end) if self.end else ""}
        if self.start and self.end:
            return words.gettext("%(start)s to %(end)s") % dates
        if self.end:
            return words.gettext("the first session to %(end)s") % dates
        if self.start:
            return words.gettext("%(start)s to the latest") % dates
        return words.gettext("the first session to the latest")

    @property
    def total(self) -> Row:
        row = Row(ALL_SESSIONS)
        for session in self.sessions:
            for name in COLUMNS:
                row.counts[name] += session.counts.get(name, 0)
        for counted in [*self.sessions, self.unsessioned]:
            for name in HEARD:
                row.heard[name] += counted.heard[name]
        return row


def shown(row: Row, *, short: bool = False, words: Translator | None = None) -> list[str]:
    """A row's HEARD_COLUMNS as every format shows them: a count under 5 as "fewer than 5", and an average of fewer
    than 5 ratings withheld ("withheld" alone where `short`, for a spreadsheet's cell). Feedback's cells are empty
    where nobody was asked for it (contributions about no session). In English unless `words` are given."""
    heard = row.heard
    words = words or i18n.translator(i18n.DEFAULT)
    fewer = words.gettext("fewer than %(fewest)s") % {"fewest": FEWEST}

    def count(n: int) -> str:
        return str(n) if n >= FEWEST else fewer

    if heard["rated"] >= FEWEST:
        average = str((Decimal(heard["rating_total"]) / heard["rated"]).quantize(Decimal("0.1"), ROUND_HALF_UP))
    else:
        average = words.gettext("withheld") if short else \
            words.gettext("withheld (fewer than %(fewest)s answers)") % {"fewest": FEWEST}
    feedback = [count(heard["answers"]), average, count(heard["listened"])] if row.asked else ["", "", ""]
    return [count(heard["received"]), count(heard["published"]), *feedback]


def _in(day: date | None, start: date | None, end: date | None) -> bool:
    return day is not None and (start is None or day >= start) and (end is None or day <= end)


def build(store: StateStore, start: date | None = None, end: date | None = None,
          now: datetime | None = None) -> Report:
    report = Report(start, end)
    now = now or datetime.now(UK)
    report.roles = dict.fromkeys(ROLES, 0)
    starts: dict[str, datetime] = {}
    sessions = [parse_session(item.item_id, item.fields) for item in store.mirror.items("Sessions")]
    bookings: dict[str, list[Registration]] = {}  # session -> its registrations, each parsed once
    rows: dict[str, tuple[Row, str]] = {}  # each session in the period -> its row and theme
    for item in store.mirror.items("Registrations"):
        bookings.setdefault(item.group or "", []).append(parse_registration(item.item_id, item.created, item.fields))
    for session in sessions:
        if session.start is None or not _in(session.start.astimezone(UK).date(), start, end):
            continue
        starts[session.id] = session.start
        row = Row(session.title, session.start.astimezone(UK).strftime("%-d %b %Y"), session.start,
                  to_come=(session.end or session.start) > now)
        theme = session.theme or NO_THEME
        for reg in bookings.get(session.id, []):
            status, attended = reg.listed_status, reg.attended
            if status not in BOOKED:
                continue
            row.counts["bookings"] += 1
            row.counts["confirmed"] += status == "Confirmed"
            row.counts["waitlisted"] += status == "Waitlisted"
            row.counts["cancelled"] += status == "Cancelled"
            row.counts["erased"] += status == "Erased"
            row.counts["attended"] += status == "Confirmed" and attended == "Yes"
            row.counts["no_shows"] += status == "Confirmed" and attended == "No"
            report.roles[reg.role if reg.role in ROLES else "Other"] += 1
        report.sessions.append(row)
        rows[session.id] = row, theme
    _heard(report, store, rows)
    for row, theme in rows.values():
        themed = report.themes.setdefault(theme, Row(theme))
        for name in COLUMNS:
            themed.counts[name] += row.counts[name]
        for name in HEARD:
            themed.heard[name] += row.heard[name]
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


def _heard(report: Report, store: StateStore, rows: dict[str, tuple[Row, str]]) -> None:
    """Contributions and feedback, counted for their session in the period (a contribution about no session: for
    its theme, if made in the period). Reads no one's words, name or address."""
    for item in store.mirror.items("Contributions"):
        about = session_of(item.fields)
        if about is None:
            if not _in(_day(item.created), report.start, report.end):
                continue
            theme = as_text(item.fields.get("Theme"), CHOICE_LENGTH)
            theme = theme if theme in THEMES else NO_THEME
            counted = [report.unsessioned, report.themes.setdefault(theme, Row(theme))]
        elif about in rows:
            counted = [rows[about][0]]
        else:
            continue  # about a session outside the period, or one no longer listed
        published = as_text(item.fields.get("Status"), CHOICE_LENGTH) == "Published"
        for row in counted:
            row.heard["received"] += 1
            row.heard["published"] += published
    for entry in store.ledger.list(kind=Feedback.KIND):
        answer = Feedback.read(entry)
        if answer.session not in rows:
            continue
        heard = rows[answer.session][0].heard
        heard["answers"] += 1
        if answer.rating in RATINGS:
            heard["rated"] += 1
            heard["rating_total"] += answer.rating
        heard["listened"] += answer.listened == "yes"


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
        lines.extend(f"{r.label:<{width}}  " + "  ".join(f"{r.cell(c):>10}" for c in COLUMNS) for r in rows)
        lines.append("")

    table("By session", [*report.sessions, report.total])
    themes = sorted(report.themes.values(), key=_label)
    table("By theme", themes)
    _heard_table(lines, "Contributions and feedback by session", [*report.sessions, report.unsessioned], report.total)
    _heard_table(lines, "Contributions and feedback by theme", themes, None)
    lines.extend([*textwrap.wrap(HEARD_NOTE, 100), SUPPRESSED, ""])
    for title, counts in (("Bookings by role", report.roles), ("Places taken", report.people),
                          ("Guest access", report.guests), ("Mailing list", report.mailing)):
        lines.append(title)
        lines.extend(f"  {name}: {n}" for name, n in counts.items())
        lines.append("")
    return "\n".join(lines)


def _label(row: Row) -> str:
    return row.label


def _heard_table(lines: list[str], title: str, rows: list[Row], total: Row | None) -> None:
    cells = [[r.label, *shown(r)] for r in rows] + ([["All", *shown(total)]] if total else [])
    widths = [max(len(c[i]) for c in [["", *HEARD_HEADINGS], *cells]) for i in range(len(HEARD_HEADINGS) + 1)]
    lines.append(title)
    lines.extend((f"{c[0]:<{widths[0]}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(c[1:], widths[1:], strict=True)))
                 .rstrip() for c in [["", *HEARD_HEADINGS], *cells])
    lines.append("")


def as_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["group", "name", "date", *COLUMNS, *HEARD_COLUMNS])
    for group, rows in (("session", report.sessions), ("theme", sorted(report.themes.values(), key=_label)),
                        ("no session", [report.unsessioned]), ("total", [report.total])):
        for row in rows:
            bookings = [""] * len(COLUMNS) if row is report.unsessioned else [row.cell(c) for c in COLUMNS]
            writer.writerow([group, _safe(row.label), row.when, *bookings, *shown(row, short=True)])
    for group, counts in (("role", report.roles), ("people", report.people), ("guests", report.guests),
                          ("mailing list", report.mailing)):
        for name, n in counts.items():
            writer.writerow([group, name, "", n])
    return out.getvalue()


def _safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula (a title typed as `=HYPERLINK(...)`)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def as_html(report: Report, programme: str, language: str = i18n.DEFAULT) -> str:
    """The report as one page, in `language` (English unless asked)."""
    words = i18n.translator(language)
    report = _in_language(report, language)
    headings = [words.gettext(h) for h in HEADINGS]
    totals = report.total.counts
    return render_page("report", language, programme=programme, report=report, headings=headings, columns=COLUMNS,
                       heard_headings=[words.gettext(h) for h in HEARD_HEADINGS],
                       heard_note=words.gettext(HEARD_NOTE),
                       suppressed=words.gettext(SUPPRESSION) % {"fewest": FEWEST},
                       heard_sessions=[(r, shown(r, words=words)) for r in [*report.sessions, report.unsessioned]],
                       heard_total=shown(report.total, words=words),
                       heard_themes=[(r, shown(r, words=words)) for r in sorted(report.themes.values(), key=_label)],
                       chart=_bars([(h, totals[c]) for h, c in zip(headings, COLUMNS, strict=True)]),
                       roles=_bars(list(report.roles.items())))


def _in_language(report: Report, language: str) -> Report:
    """The report with its own words in `language` (the labels it gives rows, "not yet", a session's date, who took
    places); a session's title, a theme and a role are the lists' own, as they are."""
    words = i18n.translator(language)

    def row(r: Row, own: str = "") -> Row:
        """`own`: the label the report gave the row (not a title or a theme the lists have), to translate."""
        when = i18n.day(r.at, language) if r.at and language != i18n.DEFAULT else r.when
        return replace(r, label=words.gettext(own) if own and r.label == own else r.label, when=when,
                       language=language)

    return replace(report, language=language, sessions=[row(r) for r in report.sessions],
                   themes={name: row(r, NO_THEME) for name, r in report.themes.items()},
                   unsessioned=row(report.unsessioned, NO_SESSION),
                   people={words.gettext(kind): n for kind, n in report.people.items()})


def _bars(pairs: list[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """(label, figure, bar width in pixels): the largest figure 400 wide."""
    top = max([n for _, n in pairs] + [1])
    return [(label, n, round(n * 400 / top)) for label, n in pairs]
