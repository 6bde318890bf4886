"""The mailing list: double opt-in, topics, unsubscribing, and campaigns from the Updates list.

Subscribers come from registrations that tick "Join the mailing list", from
the public subscribe page, and from rows admins add. A new one is Pending
and gets a confirmation email (a signed link, 7 days); only the press of the
button on the page it opens makes them Subscribed, with ConfirmedAt. Rows an
admin imports as Subscribed (people who consented before) are kept as they
are. Nobody Pending, Unsubscribed or Bouncing gets an update: a row is set
Bouncing when updates to its address have come back undelivered 3 times
(coprod/mail/bounces.py); asking to join again (a form, a booking) sends it a
confirmation like anyone's.

Someone who unsubscribed (or whom an admin unsubscribed) is never put back
by a form anyone can fill in: asking again sends at most one "do you want to
rejoin?" email in 30 days, and only the button on the page its link opens
subscribes them again.

Updates rows become campaigns (`coprod.mailing.campaigns`), run as part of
this reconciler since they go to the subscribers it keeps. Unsubscribing
withdraws that person's queued updates at once (the page does it, not the
next run), and the outbox asks `still_subscribed` right before each update.

The service writes Subscribers' Status and ConfirmedAt, and Updates' Status
and SentCount; and Topics only when the subscriber changes their own on the
preferences page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from config import TEXT_LENGTH, THEMES, Settings
from coprod import handoffs
from coprod.handoffs import (
    REJOIN,
    SUBSCRIBE_CONFIRM,
    LinkKind,
    ListCommand,
    MailQueue,
    RejoinAsked,
    RowGuard,
    SubscriberDue,
    mail_keys,
)
from coprod.links import Signer
from coprod.lists.fields import as_text, normalise_email
from coprod.lists.mailing import Subscriber, parse_subscriber
from coprod.lists.mirror import ListMirror, read_changes, save_link
from coprod.mailing.campaigns import Campaigns
from coprod.mailing.common import ListReport
from coprod.running import alone
from coprod.store import LedgerEntry, OutboxEntry, StateStore
from coprod.templates import UK, privacy_link, render_email
from graph_client import FieldUpdate, GraphError, OutgoingMail, SharePointLists

__all__ = ["MailingList"]

log = logging.getLogger("coprod.mailing.subscribers")
STATUSES = ("Pending", "Subscribed", "Unsubscribed", "Bouncing")
STOPPED = ("Unsubscribed", "Bouncing")  # rows whose queued updates are withdrawn
# Rows the service made from what someone typed on a form (the subscribe page, a booking): their name is quoted
# only once the address is confirmed (issue 24: the council's mailbox must not carry a stranger's words)
TYPED_SOURCES = ("Website", "Registration")
REJOIN_EVERY = timedelta(days=30)  # at most one "do you want to rejoin?" email to a row in this time


class MailingList:
    LISTS = ("Subscribers", "Updates")

    def __init__(self, lists: SharePointLists, store: StateStore, outbox: MailQueue, signer: Signer,
                 settings: Settings, *, clock: Callable[[], float] = time.time,
                 progress: Callable[[str], None] | None = None) -> None:
        self.lists = lists
        self.store = store
        self.outbox = outbox
        self.signer = signer
        self.settings = settings
        self.clock = clock
        self.progress = progress or (lambda message: None)
        self.subscribers = ListMirror(store, "Subscribers")
        self.updates = ListMirror(store, "Updates")
        self._asked: set[str] = set()  # rows whose person asked to join in this run: they get a confirmation
        self._rejoin: set[str] = set()  # Unsubscribed rows whose address asked to join again: asked if they mean it
        self._known: dict[str, Subscriber] | None = None  # the rows by address, for this run's hand-offs
        self.campaigns = Campaigns(lists, store, outbox, signer, settings, self.subscribers, self.updates, clock=clock,
                                   progress=self.progress)

    # --- the run ------------------------------------------------------------------------
    def run(self, changes: dict[str, Any] | None = None) -> ListReport:
        report = ListReport()
        changes = changes or read_changes(self.lists, self.store, self.LISTS)
        self.subscribers.apply(changes["Subscribers"])  # (every row is decided on its Status each run)
        self.updates.apply(changes["Updates"])
        self._asked, self._rejoin, self._known = set(), set(), None
        for entry, request in handoffs.pending(self.store.ledger, SubscriberDue):
            with alone("Mailing list: a request to join", partial(self._set_aside, entry, report)):
                self._handoff(entry, request, report)
        report.writes += self.subscribers.write(self.lists, self._subscriber_updates(report), self.progress).written
        report.writes += self.campaigns.run(report)
        save_link(self.store, "Subscribers", changes["Subscribers"])
        save_link(self.store, "Updates", changes["Updates"])
        return report

    def _set_aside(self, entry: LedgerEntry, report: ListReport, error: Exception) -> None:
        """A request to join that failed unforeseen: counted, and settled as failed by the error's type."""
        report.failed_one(error)
        handoffs.settle(self.store.ledger, entry, "failed", outcome=f"error ({type(error).__name__})")

    def settle(self) -> int:
        """After the outbox has sent what it could: the updates' Status and SentCount, written back."""
        return self.campaigns.settle()

    def still_subscribed(self, entry: OutboxEntry) -> bool:
        """Asked by the outbox right before an update goes: is its subscriber's row still Subscribed?"""
        subscriber = (entry.payload.get("about") or {}).get("subscriber")
        if not subscriber:
            return True  # not an update for a subscriber row
        row = self.subscribers.get(str(subscriber))
        return row is not None and parse_subscriber(row.item_id, row.fields).status == "Subscribed"

    # --- subscribers ------------------------------------------------------------------------
    def _by_address(self) -> dict[str, Subscriber]:
        """Each usable address's row (the first, if two share one): read from the mirror at the run's first
        hand-off, then kept up to date as hand-offs add rows (each row is read once a run, however many ask)."""
        if self._known is None:
            self._known = {}
            for row in self.subscribers.items():
                subscriber = parse_subscriber(row.item_id, row.fields)
                if subscriber.email is not None:
                    self._known.setdefault(subscriber.email, subscriber)
        return self._known

    def _handoff(self, entry: LedgerEntry, request: SubscriberDue, report: ListReport) -> None:
        """Someone asked to join (a registration's tick box, or the subscribe page): a Pending row, once."""
        address = normalise_email(request.email)
        if address is None:
            handoffs.settle(self.store.ledger, entry, outcome="unusable address")
            return
        subscriber = self._by_address().get(address)
        if subscriber is not None:
            if subscriber.status == "Unsubscribed":
                self._rejoin.add(subscriber.id)  # never put back by a form: asked whether they mean it
            elif subscriber.status != "Subscribed":
                self._asked.add(subscriber.id)  # Pending, and asking again: a new confirmation
            handoffs.settle(self.store.ledger, entry, outcome="on the list", row=subscriber.id)
            return
        guard = RowGuard("subscriber-row", address)
        if not guard.take(self.store.ledger, self.clock(), self.settings.recheck_seconds,
                          lambda row: self.subscribers.get(row) is not None):
            return  # another run is adding it, or stopped while adding it: the next delta shows it
        topics = [t for t in request.topics if t in THEMES]
        try:
            item = self.lists.create_item("Subscribers", {
                "Title": as_text(request.name, TEXT_LENGTH) or address, "Email": address, "Topics": topics,
                "Status": "Pending", "Source": "Website" if request.source == "website" else "Registration"},
                label="Subscribers")
        except GraphError as error:
            log.warning("Could not add a subscriber; tried again next run: %s", error)
            return
        added = self.subscribers.item(item)
        self.subscribers.put([added])
        self._by_address()[address] = parse_subscriber(added.item_id, added.fields)
        handoffs.put(self.store.ledger, RowGuard("subscriber-row", address, row=item.id))
        handoffs.settle(self.store.ledger, entry, outcome="added", row=item.id)
        self._asked.add(item.id)
        report.new_subscribers += 1

    def _subscriber_updates(self, report: ListReport) -> list[FieldUpdate]:
        """Apply what people did (confirm, unsubscribe, choose topics) and what admins added, row by row.

        The pages record commands; each is applied once, then the list's Status is the truth (so an admin
        may still unsubscribe someone, and an old confirmation link cannot undo an unsubscribe).
        """
        updates = []
        commands = ListCommand.pending_by_subject(self.store.ledger)
        for row in self.subscribers.items():
            wanted: dict[str, Any] = {}  # (a row that fails unforeseen waits for a fix)
            with alone("Mailing list: a subscriber's row", report.failed_one):
                wanted = self._subscriber_row(parse_subscriber(row.item_id, row.fields), commands, report)
            if wanted:
                updates.append(FieldUpdate(row.item_id, wanted, row.etag))
        return updates

    def _subscriber_row(self, subscriber: Subscriber, commands: dict[str, dict[str, LedgerEntry]],
                        report: ListReport) -> dict[str, Any]:
        address = subscriber.email
        if address is None:
            report.unusable += 1
            return {}
        subject = f"{subscriber.id}:{self.signer.digest(address)}"
        status = subscriber.status
        wanted: dict[str, Any] = {}
        unsubscribe_, confirm = commands["unsubscribe"].get(subject), commands["subscribe-confirmed"].get(subject)
        rejoin, bouncing = commands["rejoin-confirmed"].get(subject), commands["bouncing"].get(subject)
        if unsubscribe_ is not None:
            if status != "Unsubscribed":
                wanted["Status"] = "Unsubscribed"
                report.unsubscribed += 1
        elif bouncing is not None and status in ("Subscribed", "Pending"):  # 3 hard bounces: no more updates
            wanted["Status"] = "Bouncing"
            report.bouncing += 1
        elif ((confirm is not None and status in ("", "Pending"))
              or (rejoin is not None and status == "Unsubscribed")):  # "rejoin": the button its email's link opened
            wanted |= {"Status": "Subscribed", "ConfirmedAt": _iso(self.clock())}
            report.subscribed += 1
        elif status == "Unsubscribed" and subscriber.id in self._rejoin:
            report.rejoin_asked += self._ask_to_rejoin(subscriber, address, subject)
        elif status not in STATUSES or subscriber.id in self._asked:  # an admin's new row (or a status we do not
            # know: they have not confirmed with us), or someone asking (again)
            if status != "Pending":
                wanted["Status"] = "Pending"
            report.confirmations_sent += self._ask_to_confirm(subscriber, address, subject)
        if status in STOPPED or wanted.get("Status") in STOPPED:
            self.store.outbox.cancel(mail_keys.UPDATE, f"-{subscriber.id}")  # nothing queued still goes
        topics_command = commands["topics"].get(subject)
        if topics_command is not None:
            topics = [t for t in topics_command.payload.get("topics", []) if t in THEMES]
            if tuple(topics) != subscriber.topics:
                wanted["Topics"] = topics
                report.topics_changed += 1
        for command in (unsubscribe_, confirm, rejoin, topics_command, bouncing):
            if command is not None:
                handoffs.settle(self.store.ledger, command)
        return wanted

    def _ask_to_rejoin(self, subscriber: Subscriber, address: str, subject: str) -> int:
        """At most one "do you want to rejoin?" email a row in REJOIN_EVERY; returns 1 if one was queued now."""
        asked = RejoinAsked.last(self.store.ledger, subscriber.id)
        if asked is not None and self.clock() - asked < REJOIN_EVERY.total_seconds():
            return 0
        queued = self._ask(subscriber, address, subject, "subscribe-rejoin", REJOIN,
                           f"Do you want updates from {self.settings.programme_name} again?")
        handoffs.put(self.store.ledger, RejoinAsked(subscriber.id, self.clock()))
        return queued

    def _ask_to_confirm(self, subscriber: Subscriber, address: str, subject: str) -> int:
        return self._ask(subscriber, address, subject, "subscribe-confirm", SUBSCRIBE_CONFIRM,
                         f"Please confirm: updates from {self.settings.programme_name}")

    def _ask(self, subscriber: Subscriber, address: str, subject: str, kind: str, link: LinkKind, title: str
             ) -> int:
        """Email a link to a page whose button says yes (confirm, rejoin); one a day at most per row and address,
        so nobody's inbox can be filled by someone typing their address in the form. 1 if queued now."""
        key = mail_keys.list_question(kind, subject, datetime.fromtimestamp(self.clock(), UK).date().isoformat())
        if self.store.outbox.get(key) is not None:
            return 0
        token = self.signer.make(link.purpose, subject, link.lifetime.total_seconds())
        name = subscriber.name
        if link is SUBSCRIBE_CONFIRM and subscriber.source in TYPED_SOURCES:
            name = ""  # typed by whoever filled in a form, for an address not yet confirmed: not quoted
        text, html = render_email(kind.replace("-", "_"), privacy_url=privacy_link(self.settings.public_url),
                                  name=name if name and name != address else "",
                                  programme=self.settings.programme_name,
                                  expires=datetime.fromtimestamp(self.clock(), UTC) + link.lifetime,
                                  link=link.url(self.settings.public_url, token))
        return int(self.outbox.enqueue(OutgoingMail(key=key, to=(address,), text=text, html=html, subject=title),
                                       kind))

def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


