"""What a text or a letter says: for each thing someone booked by phone or post must be told (a `ContactDue`), the
same news the team's daily list gives (a place booked, a place come up, the waiting list and their number, a
cancellation, a change, something to read first, "how was it?"), with the session's title, its day and time in UK
time, and how to join.

A text is one placeholder of the council's text template, `((message))`: short and plain. A letter fills the
letter template's `((subject))` and `((body))`, and its address: the person's name, then the lines of their postal
address, the postcode last (docs/notify.md).

Both are written in the booking's language (`Registration.language`): every sentence through the `texts`
catalogue (coprod/i18n.py), each a whole sentence with its named placeholders, and the day and time as that
language writes them. Why one cannot go by Notify is for the team's list, in English.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from config import Settings
from coprod import i18n
from coprod.handoffs import FEEDBACK, ContactDue, MeetingRecord
from coprod.i18n import N_, Translator
from coprod.links import Signer
from coprod.lists.records import Registration, parse_session, queue_positions
from coprod.store import StateStore

__all__ = ["TEXT_LIMIT", "Letter", "Text", "Wait", "Words"]

TEXT_LIMIT = 612  # characters a text may run to (four texts' worth; Notify's own limit is 918)
ADDRESS_LINES = 7  # Notify's most (`address_line_1` to `_7`), the person's name the first
NOT_AT_START = "@()=[]\"”\\/,<>~ "  # characters Notify refuses at the start of an address line
CANCELLED = ("Cancelled", "Deleted")
WITH_HOW = ("confirmed", "promoted", "changed")  # the news that says how to join


@dataclass(frozen=True)
class Text:
    message: str


@dataclass(frozen=True)
class Letter:
    address: tuple[str, ...]
    subject: str
    body: str


@dataclass(frozen=True)
class Wait:
    """Not yet: the session's Teams meeting, whose join link the message carries, is not made yet."""


@dataclass(frozen=True)
class _Session:
    title: str
    start: datetime | None
    status: str
    join_url: str | None
    drop_in: bool
    pre_reading: str
    location: str  # where to go in person ('' for none yet)
    title_cy: str = ""  # TitleCy: the title in Welsh ('' for none: the English is used)

    def in_language(self, code: str) -> _Session:
        """The session as someone reading `code` is told of it: its title in their language where it is given."""
        title = i18n.in_language({"title": self.title, "title_cy": self.title_cy}, code)["title"]
        return replace(self, title=title)


class Words:
    """The texts and letters of one run, from the store's records (each session read once)."""

    def __init__(self, store: StateStore, settings: Settings, signer: Signer, clock: Callable[[], float]) -> None:
        self.store, self.settings, self.signer, self.clock = store, settings, signer, clock
        self._sessions: dict[str, _Session] = {}

    def compose(self, contact: ContactDue, reg: Registration, channel: str) -> Text | Letter | Wait | str:
        """The text (`sms`) or letter telling `reg` what `contact` says, in their language; Wait; or, in words for
        the team's list (English), why it cannot go by Notify."""
        session = self._session(contact.session).in_language(reg.language)
        start = reg.slot if session.drop_in and reg.slot is not None else session.start
        if start is None:
            return "the session has no date or time yet"
        code = reg.language
        words = i18n.translator(code)
        when = words.gettext("%(when)s (UK time)") % {"when": i18n.when(start, code)}
        how = self._how(words, code, session, reg, channel)
        if contact.message in WITH_HOW and session.status not in CANCELLED and how is None:
            return Wait()
        if contact.message not in _SUBJECTS:
            return f"a text or letter has nothing to say about '{contact.message}'"
        news = _News(words, session, when, how or "", self._position(reg) if contact.message == "waitlisted" else 0,
                     self._feedback_link(reg.id, contact.session) if contact.message == "feedback" else "",
                     session.status in CANCELLED)
        phone, hours = self.settings.contact_phone, self.settings.contact_hours
        if channel == "sms":
            message = news.told(contact.message, short=True)
            if phone and contact.message in WITH_HOW:
                message += " " + words.gettext("Can't come? Ring us on %(phone)s.") % {"phone": phone}
            if len(message) > TEXT_LIMIT:
                return f"it is too long for a text ({len(message)} characters; at most {TEXT_LIMIT})"
            return Text(message)
        body = news.told(contact.message, short=False)
        greeting = words.gettext("Dear %(name)s,") % {"name": reg.name_shown} if reg.name_shown else \
            words.gettext("Hello,")
        subject = N_("Cancelled: %(title)s") if news.cancelled and contact.message == "cancelled" else \
            _SUBJECTS[contact.message]
        if phone and hours:
            ask = words.gettext("If you have any questions, or can no longer come, please ring us on %(phone)s "
                                "(%(hours)s).")
        elif phone:
            ask = words.gettext("If you have any questions, or can no longer come, please ring us on %(phone)s.")
        else:
            ask = words.gettext("If you have any questions, or can no longer come, please get in touch with us.")
        return Letter(address(reg), words.gettext(subject) % {"title": session.title},
                      f"{greeting}\n\n{body}\n\n{ask % {'phone': phone, 'hours': hours}}\n\n"
                      f"{self.settings.programme_name}")

    def _session(self, session_id: str) -> _Session:
        if session_id not in self._sessions:
            record = MeetingRecord.of(self.store.ledger, session_id)
            item = self.store.mirror.get("Sessions", session_id)
            parsed = parse_session(session_id, item.fields) if item else None
            self._sessions[session_id] = _Session(
                record.title if record else parsed.title if parsed else "the session",
                record.start if record else parsed.start if parsed else None,
                parsed.status if parsed else "Deleted", record.join_url if record and not record.deleted else None,
                bool(parsed and parsed.drop_in), parsed.pre_reading if parsed else "",
                parsed.location if parsed else "", parsed.title_cy if parsed else "")
        return self._sessions[session_id]

    @staticmethod
    def _how(words: Translator, code: str, session: _Session, reg: Registration, channel: str) -> str | None:
        """How they join (as their emails would say: a drop-in appointment as they chose it; where a session in person
        is); None when that is the Teams link, and there is none yet."""
        if session.drop_in and reg.slot is not None and reg.method == "Phone":
            return words.gettext("We'll ring you at %(time)s.") % {"time": i18n.clock(reg.slot, code)}
        if session.drop_in and reg.slot is not None and reg.method == "In person":
            if session.location:
                return words.gettext("In person, at %(place)s.") % {"place": session.location}
            return words.gettext("In person: we'll tell you where to go before the day.")
        if not session.join_url:
            return None
        values = {"place": session.location, "link": session.join_url}
        where = bool(session.location) and not session.drop_in
        if channel == "sms":
            return (words.gettext("Where: %(place)s. Or join on Microsoft Teams: %(link)s") if where else
                    words.gettext("Join on Microsoft Teams: %(link)s")) % values
        if where:
            return (words.gettext("Where: %(place)s.") % values + "\n\n" + words.gettext(
                "You can also join on Microsoft Teams, with this link on a computer, tablet or phone:") +
                f"\n{session.join_url}")
        return (words.gettext("It's on Microsoft Teams. To join, use this link on a computer, tablet or phone:") +
                f"\n{session.join_url}")

    def _position(self, reg: Registration) -> int:
        queue = queue_positions(self.store.mirror.items("Registrations", group=reg.session_id))
        return queue.get(reg.id, len(queue) or 1)

    def _feedback_link(self, registration: str, session: str) -> str:
        token = self.signer.make(FEEDBACK.purpose, f"{registration}:{session}", FEEDBACK.lifetime.total_seconds())
        return FEEDBACK.url(self.settings.public_url, token)


def address(reg: Registration) -> tuple[str, ...]:
    """A letter's address: their name, then their postal address's lines, the last (the postcode) kept last; lines
    past Notify's seven joined onto the one before the postcode, and no line starting with a character Notify
    refuses there."""
    lines = [line.lstrip(NOT_AT_START) for line in (reg.name_shown, *reg.postal_lines)]
    lines = [line for line in lines if line]
    if len(lines) > ADDRESS_LINES:
        lines = [*lines[:ADDRESS_LINES - 2], ", ".join(lines[ADDRESS_LINES - 2:-1]), lines[-1]]
    return tuple(lines)


# --- each piece of news, as a text (`short`) or a letter's body: its first sentence, then what it adds --------------
# (`session-cancelled`: the news `cancelled` when the session itself is, rather than their place)
_SHORT = {
    "confirmed": N_("Your place is booked: %(title)s, %(when)s."),
    "promoted": N_("A place has come up for you: %(title)s, %(when)s."),
    "waitlisted": N_("%(title)s, %(when)s, is full, so you're on the waiting list (number %(number)s). We'll let "
                     "you know if a place comes up."),
    "cancelled": N_("Your place at %(title)s, %(when)s, is cancelled."),
    "session-cancelled": N_("Sorry: %(title)s, %(when)s, has been cancelled. We'll let you know about other "
                            "sessions."),
    "changed": N_("%(title)s has changed. It's now %(when)s."),
    "pre_reading": N_("Before %(title)s, %(when)s, please read this:"),
}
_LONG = {
    "confirmed": N_("Your place is booked at %(title)s, on %(when)s."),
    "promoted": N_("A place has come up for you at %(title)s, on %(when)s."),
    "waitlisted": N_("%(title)s, on %(when)s, is full, so you're on the waiting list. You're number %(number)s. "
                     "We'll let you know if a place comes up."),
    "cancelled": N_("Your place at %(title)s, on %(when)s, is cancelled. Thank you for letting us know."),
    "session-cancelled": N_("We're sorry: %(title)s, on %(when)s, has been cancelled. We'll let you know about "
                            "other sessions."),
    "changed": N_("%(title)s has changed. It's now on %(when)s."),
    "pre_reading": N_("Before %(title)s, on %(when)s, please read this:"),
}
_SUBJECTS = {
    "confirmed": N_("Your place is booked: %(title)s"),
    "promoted": N_("A place has come up for you: %(title)s"),
    "waitlisted": N_("You're on the waiting list: %(title)s"),
    "cancelled": N_("Your place is cancelled: %(title)s"),
    "changed": N_("A session you're booked on has changed: %(title)s"),
    "pre_reading": N_("Something to read before %(title)s"),
    "feedback": N_("How was it? %(title)s"),
}


@dataclass(frozen=True)
class _News:
    """What one text or letter tells, in the words of one language."""

    words: Translator
    session: _Session
    when: str  # its day and time, "(UK time)"
    how: str  # how to join ('' for nothing to say)
    position: int  # their number on the waiting list
    link: str  # to say how it was
    cancelled: bool  # the session is cancelled (or gone)

    def told(self, kind: str, *, short: bool) -> str:
        s, gettext = self.session, self.words.gettext
        if kind == "feedback":
            return self._feedback(short)
        if kind == "cancelled" and self.cancelled:
            kind = "session-cancelled"
        said = gettext((_SHORT if short else _LONG)[kind]) % {"title": s.title, "when": self.when,
                                                              "number": self.position}
        if kind == "pre_reading":
            return f"{said} {' '.join(s.pre_reading.split())}" if short else f"{said}\n\n{s.pre_reading}"
        if kind not in WITH_HOW:
            return said
        if short:
            return f"{said} {self.how}".strip()
        read = "\n\n" + gettext("Before the session, please read this:") + f"\n{s.pre_reading}" \
            if s.pre_reading and kind != "changed" else ""
        return f"{said}\n\n{self.how}{read}".rstrip()

    def _feedback(self, short: bool) -> str:
        days = FEEDBACK.lifetime.days
        values = {"title": self.session.title, "link": self.link, "days": days}
        if short:
            return self.words.ngettext("How was %(title)s? Tell us in a couple of minutes: %(link)s (open for "
                                       "%(days)s day).", "How was %(title)s? Tell us in a couple of minutes: "
                                       "%(link)s (open for %(days)s days).", days) % values
        thanks = self.words.gettext("Thank you for coming to %(title)s. How was it? We'd like to know: how you'd "
                                    "rate it from 1 to 5, and whether you felt listened to.") % values
        within = self.words.ngettext("You can tell us on our website within %(days)s day:",
                                     "You can tell us on our website within %(days)s days:", days) % values
        later = self.words.gettext("Or tell us when we next see you.")
        return f"{thanks}\n\n{within}\n{self.link}\n\n{later}"
