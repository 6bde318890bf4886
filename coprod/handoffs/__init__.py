"""Hand-offs: every kind of record that one part of the service leaves in the ledger for another, typed.

The ledger is how the parts talk without calling each other: the registration
sync decides a message is due and a later step queues it; a page records
that someone pressed "unsubscribe" and the next run applies it. Each kind is
a small frozen type here, with its key (what makes it happen once), its
payload (what is stored) and how it is read back. Nothing outside this module
spells a ledger key, an email's outbox key, or a link's purpose.

    kind              key                                       written by          read by
    message           message:<kind>:registration-<id>:...      registrations       messages
    guest-request     guest:<address>                           registrations       guests
    subscriber        subscriber:<address> (or :web:...:<day>)  registrations, page mailing list
    cancel-request    cancel-request:<registration>             cancel page         registrations
    bookings-asked    bookings-asked:<address>:<day>            bookings page       messages
    booked-online     booked-online:<session>:<digest>          booking page        messages, guests
    contact-due       contact:<message>:registration-<id>:...   messages            messages (the team's digest),
                                                                                    texts and letters
    notify            notify:<contact-due key>                  texts and letters   texts and letters (each once)
    session-change    session-changed:<session>:v<version>      meetings            messages
    pre-reading       pre-reading:<session>:v<version>          messages            messages (pre-reading emails)
    meeting           meeting:<session>                         meetings            messages, registrations, pages
    guest-confirmed   guest-confirmed:<row>:<digest>            guest page          guests
    told              told:registration-<id>                    messages            messages
    invitation        invite:<address>                          guests              guests
    guest-row,        guest-row:<address>,                      guests,             (guards against a second
    subscriber-row    subscriber-row:<address>                  mailing list         row after a crash)
    campaign          campaign:<update>                         mailing list        mailing list
    unsubscribe, subscribe-confirmed, rejoin-confirmed, topics
                      <command>:<row>:<digest>                  mailing-list pages  mailing list
    mail-failed       mail-failed:<outbox key>                  outbox, messages,   registrations
                      (or <notify key>)                         bounces, texts
                                                                and letters
    sent-id           sent-id:<Message-ID hash>                 outbox              bounces
    bounce-report     bounce-report:<report digest>             bounces             bounces (each report once)
    bounced           bounced:<address digest>                  bounces             bounces, the outbox's check
    bouncing          bouncing:<row>:<digest>                   bounces             mailing list
    rejoin-asked      rejoin-asked:<row>                        mailing list        mailing list
    feedback          feedback:session-<id>:registration-<id>   feedback page       report, export, erase, retention
    guest-review      guest-review:<row> (a fact, in `records`) guest review        guest review
    erased            erased:<address digest> (in `records`)    erase               erase

Statuses: `due` (to do), `done`, and for side effects in flight `sending`,
`failed`, `throttled`. A key is written once (`record`) or overwritten on
purpose (`put`); the ledger itself is in `coprod.store`.

Emails are handed on the same way: a job queues one in the outbox (`MailQueue`, in the form `to_payload` makes),
and the mail job (coprod/mail) sends it; `BLOCKED` is the outbox's word on why the mailbox may not send.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from coprod.handoffs._base import H, Handoff, Readable, claim
from coprod.handoffs._bounces import AddressBounces, BounceReport, SentId
from coprod.handoffs._feedback import LISTENED, RATINGS, Feedback
from coprod.handoffs._guests import GuestConfirmed, Invitation, RowGuard
from coprod.handoffs._keys import mail_keys, notify_keys, records
from coprod.handoffs._links import (
    CANCEL,
    FEEDBACK,
    GUEST_CONFIRM,
    MY_BOOKINGS,
    ONE_CLICK_PAGE,
    PAGES,
    PREFERENCES,
    REJOIN,
    SUBSCRIBE_CONFIRM,
    UNSUBSCRIBE,
    LinkKind,
)
from coprod.handoffs._mailing import COMMANDS, Campaign, ListCommand, RejoinAsked
from coprod.handoffs._meetings import MeetingRecord, PreReadingDue, SessionChanged
from coprod.handoffs._notify import NotifySend
from coprod.handoffs._outbox import BLOCKED, MailQueue, from_payload, readable, to_payload
from coprod.handoffs._registrations import (
    BookedOnline,
    BookedOnlineIndex,
    BookingsAsked,
    CancelRequest,
    ContactDue,
    GuestRequestDue,
    MailFailed,
    MessageDue,
    SubscriberDue,
    Told,
    decide_again,
    sessions_to_decide,
    set_sessions_to_decide,
)
from coprod.store import LedgerEntry, LedgerPart, StateStore

__all__ = [
    "BLOCKED",
    "CANCEL",
    "COMMANDS",
    "FEEDBACK",
    "GUEST_CONFIRM",
    "LISTENED",
    "MY_BOOKINGS",
    "ONE_CLICK_PAGE",
    "PAGES",
    "PREFERENCES",
    "RATINGS",
    "REJOIN",
    "SUBSCRIBE_CONFIRM",
    "UNSUBSCRIBE",
    "AddressBounces",
    "BookedOnline",
    "BookedOnlineIndex",
    "BookingsAsked",
    "BounceReport",
    "Campaign",
    "CancelRequest",
    "ContactDue",
    "Feedback",
    "GuestConfirmed",
    "GuestRequestDue",
    "Handoff",
    "Invitation",
    "LinkKind",
    "ListCommand",
    "MailFailed",
    "MailQueue",
    "MeetingRecord",
    "MessageDue",
    "NotifySend",
    "PreReadingDue",
    "Readable",
    "RejoinAsked",
    "RowGuard",
    "SentId",
    "SessionChanged",
    "SubscriberDue",
    "Told",
    "claim",
    "decide_again",
    "from_payload",
    "get",
    "mail_keys",
    "notify_keys",
    "pending",
    "put",
    "readable",
    "record",
    "record_many",
    "records",
    "sessions_to_decide",
    "set_sessions_to_decide",
    "settle",
    "to_payload",
    "unsubscribe",
]


def record(ledger: LedgerPart, handoff: Handoff, status: str = "due") -> bool:
    """Record a hand-off once; False (and nothing changes) if its key was recorded before."""
    return ledger.add(handoff.key, handoff.KIND, handoff.payload(), status)


def record_many(ledger: LedgerPart, many: Iterable[Handoff], status: str = "due") -> set[str]:
    """`record` of many hand-offs in one go (one transaction, or a few requests); returns the keys recorded now."""
    return ledger.add_many([(h.key, h.KIND, h.payload(), status) for h in many])


def put(ledger: LedgerPart, handoff: Handoff, status: str = "done") -> None:
    """Record a hand-off with this status, whether or not it was recorded before."""
    ledger.put(handoff.key, handoff.KIND, status, handoff.payload())


def get(ledger: LedgerPart, handoff: Handoff) -> LedgerEntry | None:
    return ledger.get(handoff.key)


def pending(ledger: LedgerPart, kind: type[H]) -> list[tuple[LedgerEntry, H]]:
    """Every hand-off of this kind still `due`, oldest first, with its entry (to settle it)."""
    return [(entry, kind.read(entry)) for entry in ledger.list(kind=kind.KIND, status="due")]


def settle(ledger: LedgerPart, entry: LedgerEntry, status: str = "done", **outcome: Any) -> None:
    """Mark a hand-off dealt with; `outcome` (words, ids: no personal data) is kept beside its payload."""
    ledger.set(entry.key, status, entry.payload | outcome if outcome else None)


def unsubscribe(store: StateStore, subject: str) -> None:
    """Record an unsubscribe (from the page or a one-click POST) and withdraw their queued updates now."""
    put(store.ledger, ListCommand("unsubscribe", subject), "due")
    store.outbox.cancel(mail_keys.UPDATE, f"-{subject.partition(':')[0]}")

