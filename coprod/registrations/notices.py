"""What the run tells people outside the usual emails: the link to someone's bookings (asked for on the bookings
page), and the team's daily list of people booked by phone or post, with what to tell each: all of them, or, with
GOV.UK Notify set up for how they chose to hear from us (coprod/notify), those it could not text or write to."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from config import Settings
from coprod import handoffs, i18n
from coprod.handoffs import MY_BOOKINGS, BookingsAsked, ContactDue, MailQueue, mail_keys, pending
from coprod.links import Signer
from coprod.lists.records import Registration, address_of
from coprod.store import MirrorItem, StateStore
from coprod.templates import UK, privacy_link, render_email
from graph_client import OutgoingMail


class Counts(Protocol):
    """What is queued, counted by kind (the participant messages' report)."""

    def add(self, kind: str) -> None: ...


class Source(Protocol):
    """What these notices use of the participant messages: their store, outbox, signer and settings, and how
    they show a session and a place on a waiting list."""

    store: StateStore
    outbox: MailQueue
    signer: Signer
    settings: Settings
    clock: Callable[[], float]

    def session_view(self, session_id: str) -> tuple[dict[str, Any], Any, str]: ...
    def position(self, item: MirrorItem) -> int: ...
    def record(self, item: MirrorItem) -> Registration: ...
    def name_for(self, item: MirrorItem, reg: Registration) -> str | None: ...

__all__ = ["CONTACT_WORDS", "TeamNotices", "contact_kind"]

CONTACT_WORDS = {  # what the team tells someone booked by phone or post, by the message they would have had
    "confirmed": "their place is booked",
    "promoted": "a place has come up for them",
    "waitlisted": "they're on the waiting list",
    "cancelled": "their place is cancelled",
    "changed": "the session has changed",
    "pre_reading": "there is something to read before the session (its Pre-reading, in the Sessions list)",
    "feedback": "ask how the session went (a rating from 1 to 5, and whether they felt listened to)",
}

def contact_kind(settings: Settings, reg: Registration) -> str:
    """How the messages' line counts something to tell someone booked by phone or post: for the team's list, or for
    GOV.UK Notify to send (a text or a letter)."""
    return "notify" if settings.notify_template(reg.contact) else "contact"


class TeamNotices:
    """Run by the participant messages (`Source`), on their store, outbox, signer and settings."""

    def __init__(self, messages: Source) -> None:
        self.messages = messages

    def contact_digest(self, report: Counts) -> None:
        """Once a day, the team's list of people booked by phone or post and what to tell each (to the admin
        address). What is listed is settled: tomorrow's list has only what came since. Those GOV.UK Notify is set up
        to tell are left to it (coprod/notify) unless it could not (`not_sent`: the list says why)."""
        due = pending(self.messages.store.ledger, ContactDue)
        if not due or not self.messages.settings.admin_email:
            return
        day = datetime.fromtimestamp(self.messages.clock(), UK).date().isoformat()
        key = self.messages.outbox.unused_key(mail_keys.contact_digest(day))
        if key is None:
            return  # today's went: the rest wait for tomorrow's
        people, listed = [], []
        for entry, contact in due:
            item = self.messages.store.mirror.get("Registrations", contact.registration)
            view, _, _ = self.messages.session_view(contact.session)
            if item is None:
                handoffs.settle(self.messages.store.ledger, entry, outcome="gone")
                continue
            reg = self.messages.record(item)
            if not contact.not_sent and self.messages.settings.notify_template(reg.contact):
                continue  # a text or a letter tells them (coprod/notify)
            listed.append(entry)
            people.append({"name": reg.name_shown, "how": reg.contact, "phone": reg.phone, "postal": reg.postal_address,
                           "tell": CONTACT_WORDS.get(contact.message, contact.message), "session": view,
                           "position": self.messages.position(item) if contact.message == "waitlisted" else None,
                           "why": contact.not_sent})
        if people:
            text, html = render_email("contact_digest", people=people, programme=self.messages.settings.programme_name,
                                      privacy_url=privacy_link(self.messages.settings.public_url))
            noun = "person" if len(people) == 1 else "people"
            mail = OutgoingMail(key=key, to=(self.messages.settings.admin_email,), text=text, html=html,
                                subject=f"{len(people)} {noun} to phone or write to about their booking")
            if self.messages.outbox.enqueue(mail, "contact-digest"):
                report.add("contact-digest")
        for entry in listed:
            handoffs.settle(self.messages.store.ledger, entry, outcome=f"in the digest of {day}")

    def bookings_link(self, asked: BookingsAsked, report: Counts) -> None:
        """The link to someone's bookings, asked for on the bookings page: once a day at most, and only to an
        address that has booked (the page answered the same either way)."""
        booked = any(address_of(reg.fields) == asked.address  # (every booking looked through, none parsed)
                     for reg in self.messages.store.mirror.items("Registrations"))
        if not booked:
            return
        digest = self.messages.signer.digest(asked.address)
        token = self.messages.signer.make(MY_BOOKINGS.purpose, digest, MY_BOOKINGS.lifetime.total_seconds())
        language, public = i18n.language(asked.language), self.messages.settings.public_url
        programme = self.messages.settings.programme_name
        text, html = render_email("bookings_link", language, programme=programme,
                                  privacy_url=i18n.link_in(privacy_link(public), language),
                                  link=i18n.link_in(MY_BOOKINGS.url(public, token), language),
                                  expires=datetime.fromtimestamp(self.messages.clock(), UTC) + MY_BOOKINGS.lifetime)
        subject = i18n.translator(language).gettext("Your bookings with %(programme)s") % {"programme": programme}
        mail = OutgoingMail(key=mail_keys.bookings_link(digest, asked.day), to=(asked.address,), subject=subject,
                            text=text, html=html)
        if self.messages.outbox.enqueue(mail, "bookings-link"):
            report.add("bookings-link")
