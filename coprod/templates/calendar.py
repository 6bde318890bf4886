"""Calendar files (.ics) for a session: the invitation a participant adds to their calendar, and its updates.

One event per session (its UID never changes); SEQUENCE goes up with each
change of time or title, so calendars replace the old entry; a cancelled
session or place is the same UID with METHOD:CANCEL. Times are in
Europe/London with its VTIMEZONE, so the hour is right across a change of
the clocks. The only attendee is the person the file is sent to: nobody
sees anyone else's address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import icalendar

from coprod import i18n
from coprod.templates import UK

__all__ = ["SessionEvent", "event_uid", "session_ics", "timetable_ics"]


def event_uid(session_id: str, sender: str) -> str:
    domain = sender.rsplit("@", 1)[-1] if "@" in sender else "coprod.invalid"
    return f"session-{session_id}@{domain}"


@dataclass(frozen=True)
class SessionEvent:
    session_id: str
    title: str
    start: datetime
    end: datetime
    join_url: str | None
    sequence: int
    location: str = ""  # where, when it is not on Teams: a place, or "By phone: we'll ring you"
    language: str = i18n.DEFAULT  # the language of the words it adds (the title is given in the person's)


def session_ics(event: SessionEvent, *, organizer: str, organizer_name: str, attendee: str,
                attendee_name: str | None, cancel: bool = False, now: datetime | None = None) -> bytes:
    """The calendar file for one person: METHOD:REQUEST (add or update) or METHOD:CANCEL."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Co-production hub//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancel else "REQUEST")
    vevent = icalendar.Event()
    vevent.add("uid", event_uid(event.session_id, organizer))
    vevent.add("dtstamp", (now or datetime.now(UTC)).astimezone(UTC))
    vevent.add("dtstart", event.start.astimezone(UK))
    vevent.add("dtend", event.end.astimezone(UK))
    vevent.add("sequence", event.sequence)
    vevent.add("summary", event.title)
    vevent.add("status", "CANCELLED" if cancel else "CONFIRMED")
    words = i18n.translator(event.language)
    if not cancel and (event.location or event.join_url):  # a place when it has one (it may have a Teams link too)
        vevent.add("location", event.location or words.gettext("Microsoft Teams (online)"))
    if event.join_url and not cancel:
        vevent.add("url", event.join_url)
        vevent.add("description", words.gettext("Join the session online: %(url)s") % {"url": event.join_url})
    organizer_prop = icalendar.vCalAddress(f"mailto:{organizer}")
    organizer_prop.params["CN"] = organizer_name
    vevent.add("organizer", organizer_prop)
    attendee_prop = icalendar.vCalAddress(f"mailto:{attendee}")
    if attendee_name:
        attendee_prop.params["CN"] = attendee_name
    attendee_prop.params.update({"ROLE": "REQ-PARTICIPANT", "PARTSTAT": "ACCEPTED", "RSVP": "FALSE"})
    vevent.add("attendee", attendee_prop)
    calendar.add_component(vevent)
    # the clock changes of the session's year and the next, not every year since 1970
    calendar.add_missing_timezones(first_date=date(max(event.start.year - 1, 1), 1, 1),
                                   last_date=date(min(event.end.year + 2, 9999), 1, 1))
    return bytes(calendar.to_ical())


def timetable_ics(events: list[SessionEvent], *, programme: str, host: str, page_url: str,
                  now: datetime | None = None) -> bytes:
    """The timetable as a subscribable feed (METHOD:PUBLISH): one event per session, with a link to its booking
    page; no attendee and no join link (those come with a booking). `page_url` has `{id}` for the session."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Co-production hub//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"{programme}: sessions")
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    for event in events:
        vevent = icalendar.Event()
        vevent.add("uid", f"timetable-{event.session_id}@{host or 'coprod.invalid'}")
        vevent.add("dtstamp", stamp)
        vevent.add("dtstart", event.start.astimezone(UK))
        vevent.add("dtend", event.end.astimezone(UK))
        vevent.add("sequence", event.sequence)
        vevent.add("summary", event.title)
        vevent.add("url", page_url.format(id=event.session_id))
        vevent.add("description", i18n.translator(event.language).gettext("To book a place: %(url)s")
                   % {"url": page_url.format(id=event.session_id)})
        calendar.add_component(vevent)
    if events:
        calendar.add_missing_timezones(first_date=date(min(e.start.year for e in events) - 1, 1, 1),
                                       last_date=date(max(e.end.year for e in events) + 2, 1, 1))
    return bytes(calendar.to_ical())
