"""Booking without a Microsoft account: the timetable, a session's page with its booking form, and "my bookings".

The timetable and a session's page read the mirror the sync keeps (no Graph call, so they never wait for a
token): places left are as of the last run. A booking is the one page that writes to Microsoft 365: a valid POST
creates the Registrations item through Graph before it answers, so the officers see it in SharePoint at once
and the sync applies every rule to it (duplicates, places, the waiting list, the emails). The person then reads
"check your email"; the confirmation or waiting-list email comes from the usual flow.

Abuse, without a CAPTCHA (it fails accessibility): a honeypot field hidden by the stylesheet, and the limits of
`coprod.pages.limits` (per client a minute and an hour, per mailbox a day, everyone's hour only for what is made,
each given back when nothing is made). One client (a network address) may also hold at most a third of a
session's places, so made-up addresses from one place cannot fill it. Values the list cannot hold are refused in
the form, before any count is taken or Graph is asked. Past the mailbox's limit, or for a mailbox booked on the
session already, the page answers as if booked and makes nothing, so nobody can learn from it whether an
address has booked. The booking is marked as made on the public pages (`BookedOnline`) before it is made: its
emails carry nothing the booker typed but a first name, since nobody has proved the address is theirs.

"My bookings" asks for an address and always answers the same; the next run emails that address a signed link
(at most one a day) to a page listing its bookings, each with a cancel button.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from config import CONTACT_METHODS, ROLES, THEMES
from coprod import handoffs, i18n
from coprod.handoffs import CANCEL, MY_BOOKINGS, PAGES, BookedOnline, BookingsAsked
from coprod.i18n import N_
from coprod.lists.fields import as_text, check_email
from coprod.lists.records import (
    Session,
    address_of,
    listed_status_of,
    parse_registration,
    parse_session,
    places_held,
    queue_positions,
)
from coprod.pages.booking_form import (
    LONGEST,
    METHOD_WORDS,
    ROLE_WORDS,
    appointment_problems,
    email_problem,
    in_form_order,
    problems,
    slot_value,
    slot_words,
)
from coprod.pages.context import Opened, PageGroup, client_of, page_words
from coprod.pages.language import current
from coprod.pages.limits import Allowance, mailbox_key
from coprod.pages.typos import CHECKED, question, suggestion
from coprod.store import MirrorItem
from coprod.templates import UK
from coprod.templates.calendar import SessionEvent, timetable_ics

if TYPE_CHECKING:
    from graph_client import SharePointLists

__all__ = ["AUDIENCES_SHOWN", "Bookings", "slot_value", "slot_words", "timetable"]

# who a session is for, as the timetable's filter offers it (the values: the Sessions list's Audience choices) and
# what the page says for each
AUDIENCE_WORDS = {"People who use services": N_("People who use services"), "Carers": N_("Carers"),
                  "Professionals": N_("Professionals")}
AUDIENCES_SHOWN = tuple(AUDIENCE_WORDS)
LINK_NEXT = N_("Links to your bookings work for 2 days.")



@dataclass(frozen=True)
class Listed:
    """A session as the timetable shows it."""

    id: str
    title: str
    theme: str
    audiences: tuple[str, ...]
    start: datetime
    end: datetime | None
    description: str
    places_left: int | None  # None: no limit
    slot_minutes: int = 0  # a drop-in's appointment length (0: a group session)
    free_slots: tuple[datetime, ...] = ()  # a drop-in's appointment times nobody holds (as of the last run)
    capacity: int | None = None  # a group session's places (None: no limit)
    slots: tuple[datetime, ...] = ()  # a drop-in's appointment times, free or not
    question: str = ""  # the one question the session aims to answer
    english_only: tuple[str, ...] = ()  # its title or description, shown in English for want of the page's language

    @property
    def drop_in(self) -> bool:
        return self.slot_minutes > 0

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60) if self.end else 0

    @property
    def full(self) -> bool:
        return self.places_left is not None and self.places_left <= 0


def listed(session: Session, registrations: list[MirrorItem], now: datetime) -> Listed | None:
    """A session as the timetable shows it, from its record and its registrations (places left as of the last
    run); None if it is not open to book."""
    if not _bookable(session, now):
        return None
    holding, held_slots = places_held(registrations)
    free = tuple(t for t in session.slots if t not in held_slots and t > now)
    places = len(free) if session.drop_in else (
        None if session.unlimited else max(0, (session.capacity or 0) - holding))
    words = i18n.in_language({"title": session.title, "title_cy": session.title_cy,
                              "description": session.description, "description_cy": session.description_cy}, current())
    return Listed(session.id, words["title"], session.theme_shown or "Other", session.audiences,
                  session.start or now, session.end, words["description"], places,
                  session.slot_minutes, free, None if session.unlimited else session.capacity, tuple(session.slots),
                  session.question, words.get("english_only", ()))


def _bookable(session: Session, now: datetime) -> bool:
    return session.status == "Open" and session.start is not None and session.start > now and \
        session.capacity is not None


def timetable(store: Any, now: datetime, sessions: Iterable[MirrorItem]) -> list[Listed]:
    """Open `sessions` still to come, soonest first, with the places left as of the last run."""
    shown = []
    for item in sessions:
        session = parse_session(item.item_id, item.fields)
        if not _bookable(session, now):
            continue
        # only this session's registrations: the mirror files them by session, so a page never reads them all
        found = listed(session, store.mirror.items("Registrations", group=item.item_id), now)
        if found is not None:
            shown.append(found)
    return sorted(shown, key=lambda s: (s.start, int(s.id) if s.id.isdigit() else 0))


SHARE = 3  # one client may hold at most a third of a session's places


class Bookings(PageGroup):
    """The booking pages, on the same context as the other pages (`pages`)."""

    def clock(self) -> float:
        return self.context.clock()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # --- the timetable -----------------------------------------------------------------------------
    async def sessions(self, request: Request) -> Response:
        theme = request.query_params.get("theme", "")
        audience = request.query_params.get("audience", "")
        listed = [s for s in timetable(self.context.store, self._now(), self.context.sessions().values())
                  if (not theme or s.theme == theme)
                  and (not audience or audience in s.audiences or "Everyone" in s.audiences)]
        weeks: dict[str, list[Listed]] = {}
        words, language = page_words(), current()
        for session in listed:
            local = session.start.astimezone(UK)
            monday = local - timedelta(days=local.weekday())
            week = words.gettext("Week beginning %(day)s") % {
                "day": f"{i18n.weekday(monday, language)} {i18n.day(monday, language)}"}
            weeks.setdefault(week, []).append(session)
        return self.pages.page("sessions", weeks=weeks, themes=THEMES, audiences=AUDIENCES_SHOWN, theme=theme,
                               audience=audience, count=len(listed),
                               audience_labels={a: words.gettext(AUDIENCE_WORDS[a]) for a in AUDIENCES_SHOWN})

    async def sessions_ics(self, request: Request) -> Response:
        """The timetable as an iCalendar feed (no attendees, no join links: those come with a booking)."""
        now = self._now()
        events = [SessionEvent(s.id, s.title, s.start, s.end or s.start + timedelta(hours=1), None, 0)
                  for s in timetable(self.context.store, now, self.context.sessions().values())]
        public, programme = self.context.settings.public_url, self.context.settings.programme_name
        feed = timetable_ics(events, programme=programme, host=urlsplit(public).hostname or "",
                             page_url=f"{public}{PAGES}/sessions/{{id}}", now=now)
        return Response(feed, media_type="text/calendar; charset=utf-8",
                        headers={"Content-Disposition": 'inline; filename="sessions.ics"',
                                 "X-Content-Type-Options": "nosniff"})

    # --- one session, and booking it -------------------------------------------------------------
    def _one(self, session_id: str) -> tuple[Listed | None, list[MirrorItem]]:
        """One session, with its registrations: one store read (the list of sessions comes from what the process
        holds, `WebContext.sessions`), where the whole timetable would read every session's."""
        item = self.context.sessions().get(session_id)
        if item is None:
            return None, []
        registrations = self.context.store.mirror.items("Registrations", group=session_id)
        return listed(parse_session(item.item_id, item.fields), registrations, self._now()), registrations

    async def session(self, request: Request) -> Response:
        session_id = str(request.path_params["session_id"])
        listed, registrations = self._one(session_id)
        if listed is None:
            return self.pages.page("session_closed", 404)
        if listed.drop_in and not listed.free_slots:  # no form to send: a POST (an old page) is answered the same
            return self.pages.page("session_no_times", session=listed, others=[
                s for s in timetable(self.context.store, self._now(), self.context.sessions().values())
                if s.drop_in and s.free_slots and s.id != listed.id][:5])
        blank = {"name": "", "email": "", "role": "", "access_needs": "", "phone": "", "consent": False,
                 "join_mailing_list": False, "wants_site_access": False, "slot": "", "contact_method": ""}
        if request.method != "POST":
            return self._form(listed, blank, {})
        form = await request.form()
        values = blank | {key: as_text(form.get(key), LONGEST.get(key, 320) + 1)
                          for key in ("name", "email", "role", "access_needs", "phone", "slot", "contact_method")}
        values |= {key: form.get(key) == "yes" for key in ("consent", "join_mailing_list", "wants_site_access")}
        words = page_words()
        errors = problems(values, words) | (appointment_problems(listed, values, words) if listed.drop_in else {})
        if errors:
            return self._form(listed, values, in_form_order(errors), 400)
        better = suggestion(str(values["email"]))
        if better and form.get(CHECKED) != values["email"]:  # asked before anything is booked; kept if sent again
            return self._form(listed, values, {"email": question(better, words)}, 400, suggested=better)
        if as_text(form.get("website"), 200):  # the honeypot: people never see it, form-filling robots do
            return self.pages.page("booked", email=values["email"], session=listed)
        return self._book(request, listed, values, registrations)

    def _book(self, request: Request, listed: Listed, values: dict[str, Any],
              registrations: list[MirrorItem]) -> Response:
        """Count the booking against its limits (this client's first, everyone's just before the item is made),
        make it, and give every count back if nothing was made."""
        address = check_email(values["email"]).address or ""
        allowance = self.context.allowance("book", self.context.booking_limits)
        client = client_of(request)
        if not allowance.client(client):
            return self.pages.page("busy", 429, what="bookings", who="client")
        if not allowance.mailbox(address, also=((f"twice:{listed.id}", 1, 60.0),)) or \
                _already_booked(address, registrations):
            allowance.give_back()  # the same answer as a booking: nobody learns whether an address booked
            return self.pages.page("booked", email=values["email"], session=listed)
        if not self._within_share(allowance, listed, client):
            return self.pages.page("busy", 429, what="bookings", who="share", session=listed)
        # a drop-in's time, claimed before the item is made: of two people pressing "Book" for one time together,
        # one gets it; the claim lasts 10 minutes, until a run has mirrored the booking
        if listed.drop_in and not allowance.take(f"slot:{listed.id}:{values['slot']}", 1, self.clock() + 600):
            return self._form(listed, values, {"slot": page_words().gettext(
                "Someone has just booked that time. Please choose another")}, 409)
        if not allowance.everyone():
            return self.pages.page("busy", 429, what="bookings", who="everyone")
        try:
            self._create(listed, values, address)
        except Exception:  # Graph refused or is away: nothing was saved, the person is told so, nothing is spent
            allowance.give_back()
            return self.pages.page("booking_failed", 503, session=listed)
        return self.pages.page("booked", email=values["email"], session=listed)

    def _within_share(self, allowance: Allowance, listed: Listed, client: str) -> bool:
        """One client (a network address) may hold at most a third of a session's places (of a drop-in's
        times), so made-up addresses from one place cannot fill it; a session with no limit has no share."""
        places = len(listed.slots) if listed.drop_in else listed.capacity
        if not places:
            return True
        share = max(1, -(-places // SHARE))
        end = (listed.end or listed.start).timestamp()
        return allowance.take(f"share:{listed.id}:{self.context.signer.digest(client)}", share, end)

    def _form(self, listed: Listed, values: dict[str, Any], errors: dict[str, str], status: int = 200,
              suggested: str = "") -> Response:
        words = page_words()
        return self.pages.page("session", status, session=listed, values=values, errors=errors, roles=ROLES,
                               role_labels={r: words.gettext(ROLE_WORDS[r]) if r in ROLE_WORDS else r for r in ROLES},
                               suggested=suggested,
                               methods=[(m, words.gettext(METHOD_WORDS[m])) for m in CONTACT_METHODS],
                               slots=[(slot_value(t), slot_words(t, listed.slot_minutes, current()))
                                      for t in listed.free_slots],
                               error_summary=list(errors.items()) or None)

    def _position(self, reg: Any) -> int:
        """Where someone is on their session's waiting list now (1: next to get a place), as of the last run."""
        return queue_positions(self.context.store.mirror.items("Registrations", group=reg.group)).get(reg.item_id, 0)

    def _create(self, listed: Listed, values: dict[str, Any], address: str) -> None:
        if self.context.lists is None:
            raise RuntimeError("this deployment's pages have no Graph client")
        lists: SharePointLists = self.context.lists()
        # marked before it is made: its emails quote nothing the booker typed (see BookedOnline)
        handoffs.put(self.context.store.ledger, BookedOnline(listed.id, self.context.signer.digest(address)))
        fields: dict[str, Any] = {
            "Title": values["name"], "Email": address, "SessionLookupId": listed.id, "Consent": True,
            "JoinMailingList": values["join_mailing_list"], "WantsSiteAccess": values["wants_site_access"]}
        if values["role"] in ROLES:
            fields["Role"] = values["role"]
        if listed.drop_in:
            fields |= {"Slot": values["slot"], "ContactMethod": values["contact_method"]}
        for key, column in (("access_needs", "AccessNeeds"), ("phone", "Phone")):
            if values[key]:
                fields[column] = values[key]
        if current() in i18n.LANGUAGES:  # the language the page was read in: their emails follow it
            fields["Language"] = i18n.LANGUAGES[current()]
        lists.create_item("Registrations", fields, label="Registrations")

    # --- my bookings ------------------------------------------------------------------------------
    async def bookings(self, request: Request) -> Response:
        if request.method != "POST":
            return self.pages.page("bookings", values={"email": ""}, errors={})
        form = await request.form()
        typed = as_text(form.get("email"), 320)
        checked = check_email(typed)
        if checked.address is None:
            message = email_problem(checked.problem, page_words())
            return self.pages.page("bookings", 400, values={"email": typed}, errors={"email": message},
                                   error_summary=[("email", message)])
        allowance = self.context.allowance("lookup", self.context.booking_limits)  # counted apart from booking
        if not allowance.client(client_of(request)):
            return self.pages.page("busy", 429, what="look-ups", who="client")
        day = datetime.fromtimestamp(self.clock(), UK).date().isoformat()
        asked = BookingsAsked(checked.address, day, current())
        if handoffs.get(self.context.store.ledger, asked) is not None:  # asked already today: nothing more is made
            allowance.give_back()
        elif not allowance.everyone():
            return self.pages.page("busy", 429, what="look-ups", who="everyone")
        elif not handoffs.record(self.context.store.ledger, asked):
            allowance.give_back()
        # the same answer whether or not the address has bookings: nobody learns whether an address booked
        return self.pages.page("bookings_sent", email=typed)

    async def mine(self, request: Request) -> Response:
        opened = await self.pages.opened(request, MY_BOOKINGS, LINK_NEXT)
        if not isinstance(opened, Opened):
            return opened
        now = self._now()
        sessions = {s.id: s for s in timetable(self.context.store, now, self.context.sessions().values())}
        mine: list[dict[str, Any]] = []
        for item in self.context.store.mirror.items("Registrations"):
            address = address_of(item.fields)  # (every booking looked through: only theirs are parsed)
            if address is None or self.context.signer.digest(address) != opened.subject:
                continue
            session = sessions.get(item.group or "")
            reg = parse_registration(item.item_id, item.created, item.fields)
            status = reg.listed_status or ""
            if session is None or status in ("", "Cancelled"):
                continue
            end = session.end or session.start
            lifetime = max(CANCEL.lifetime.total_seconds(), (end - now).total_seconds() + 86400)
            token = self.context.signer.make(CANCEL.purpose, f"{item.item_id}:{opened.subject}", lifetime)
            mine.append({"session": session, "status": status, "note": reg.note_shown,
                         "cancel_token": token, "position": self._position(item) if status == "Waitlisted" else 0})
        mine.sort(key=lambda booking: booking["session"].start)
        return self.pages.page("my_bookings", bookings=mine)


def _already_booked(address: str, registrations: list[MirrorItem]) -> bool:
    """The mirror holds a live booking of this mailbox (any spelling of it) for the session: no second item."""
    mailbox = mailbox_key(address)
    return any(listed_status_of(reg.fields) != "Cancelled" and (found := address_of(reg.fields)) is not None
               and mailbox_key(found) == mailbox for reg in registrations)
