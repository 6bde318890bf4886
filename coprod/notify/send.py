"""Each `ContactDue` for someone Notify can tell, sent once: a text for Phone, a letter for Post.

For each one still due (oldest first) whose person chose a way Notify is set up for (`Settings.notify_template`):

1. it is composed (coprod/notify/words.py); a confirmation waits for its session's Teams meeting, and one that
   cannot go by Notify (too long for a text, a session with no time) goes back on the team's list, saying why;
2. it is claimed in the ledger (`NotifySend`, `handoffs.claim`): of several runners, exactly one gets it;
3. if a claim before this one may have reached Notify (a run that stopped after sending and before noting the
   answer, or an answer that was lost), Notify is asked first whether it has a notification with its reference;
4. it is sent, with its key as Notify's `reference`, and settled `sent` with Notify's notification id; its
   `ContactDue` is done.

Notify refusing it (400): a number it cannot text, an address it cannot post to, or the service's set-up (a
template) is noted with Notify's words, and the person goes back on the team's daily list saying why; a refused
number or address is also noted on the registration (a `MailFailed`, which the registration sync writes in its
StatusNote). Too many requests (429), Notify down (5xx), no answer: it stays due and a later run tries again, after
Retry-After when Notify gives it; nothing more is sent this run. A refused key (403): the same, and the run's line
names COPROD_NOTIFY_API_KEY. Nothing is ever sent twice: a claim is only taken over once it is older than
COPROD_RECHECK_SECONDS, and only after Notify has been asked about it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from config import Settings
from coprod import handoffs
from coprod.handoffs import ContactDue, MailFailed, NotifySend, claim, pending
from coprod.links import Signer
from coprod.lists.records import Registration, parse_registration
from coprod.notify.client import Busy, KeyRefused, NotifyError, Refused, Template
from coprod.notify.words import Letter, Text, Wait, Words
from coprod.running import alone
from coprod.store import LedgerEntry, StateStore
from coprod.words import count

__all__ = ["NotifyApi", "NotifyReport", "TextsAndLetters"]

log = logging.getLogger("coprod.notify")
WHAT = {"sms": "text this number", "letter": "post a letter to this address"}
SLOW_DOWN = "GOV.UK Notify asked us to slow down; a later run sends them"


class NotifyApi(Protocol):
    """What the sending uses of GOV.UK Notify (`coprod.notify.client.Notify`)."""

    def text(self, phone: str, template: str, message: str, reference: str) -> str: ...
    def letter(self, template: str, address: tuple[str, ...], subject: str, body: str, reference: str) -> str: ...
    def find(self, reference: str) -> str | None: ...
    def templates(self) -> list[Template]: ...


@dataclass
class NotifyReport:
    """A run's texts and letters, in numbers (no personal data)."""

    texts: int = 0
    letters: int = 0
    found: int = 0  # already at Notify: a run had stopped before noting it
    refused: int = 0  # back on the team's list, with Notify's words
    set_up: str = ""  # what Notify said when it refused the service's set-up (a template), not a person's details
    not_by_notify: int = 0  # could not go by Notify (too long for a text, no time): back on the team's list
    waiting_for_meeting: int = 0
    held: int = 0  # Notify asked us to wait, was down or refused the key: tried again on a later run
    busy: str = ""  # why they are held
    in_hand: int = 0  # another run is sending them
    failed: int = 0

    def line(self) -> str | None:
        sent = [f"{count(n, noun)} sent" for n, noun in ((self.texts, "text"), (self.letters, "letter")) if n]
        parts = [", ".join(sent)] if sent else []
        if self.found:
            parts.append(f"{self.found} found already sent (a run had stopped before noting it)")
        if self.refused:
            parts.append(f"{self.refused} refused (back on the team's list)" + (
                f": GOV.UK Notify said \"{self.set_up}\"; `python -m coprod check` checks the templates"
                if self.set_up else ""))
        if self.not_by_notify:
            parts.append(f"{self.not_by_notify} could not go by GOV.UK Notify (back on the team's list)")
        if self.waiting_for_meeting:
            parts.append(f"{self.waiting_for_meeting} waiting for the session's Teams meeting")
        if self.held:
            parts.append(f"{self.held} waiting: {self.busy}")
        if self.in_hand:
            parts.append(f"{self.in_hand} being sent by another run")
        if self.failed:
            parts.append(f"{self.failed} stopped by an unexpected error (back on the team's list, or looked at again "
                         "by a later run if it may have gone)")
        return "Texts and letters: " + "; ".join(parts) + "." if parts else None


class TextsAndLetters:
    """One run's texts and letters, through `notify`, on the store's hand-offs."""

    def __init__(self, store: StateStore, notify: NotifyApi, settings: Settings, signer: Signer, *,
                 clock: Callable[[], float]) -> None:
        self.store, self.notify, self.settings, self.clock = store, notify, settings, clock
        self.words = Words(store, settings, signer, clock)
        self.stopped = ""  # why nothing more goes this run (Notify asked us to wait, or refused the key)

    def run(self) -> NotifyReport:
        report = NotifyReport()
        now = self.clock()
        if any(float(e.payload.get("retry_at") or 0) > now
               for e in self.store.ledger.list(kind=NotifySend.KIND, status=NotifySend.WAITING)):
            self.stopped = SLOW_DOWN  # Notify's Retry-After is for the whole service (its key), not one message
        for entry, contact in pending(self.store.ledger, ContactDue):
            if contact.not_sent:
                continue  # on the team's list
            item = self.store.mirror.get("Registrations", contact.registration)
            reg = parse_registration(item.item_id, item.created, item.fields) if item else None
            template = self.settings.notify_template(reg.contact) if reg else None
            if reg is None or template is None:
                continue  # gone, or not for Notify: the team's list has it
            if self.stopped:
                report.held += 1
                continue
            claimed: list[bool] = []

            def failed(error: Exception, entry: LedgerEntry = entry, contact: ContactDue = contact,
                       claimed: list[bool] = claimed) -> None:
                report.failed += 1
                if not claimed:  # (once claimed, it may have gone: the claim is looked up by a later run)
                    self._back(entry, contact, f"it could not be prepared ({type(error).__name__})")

            with alone("A text or a letter", failed):
                self._one(entry, contact, reg, template, report, claimed)
        report.busy = self.stopped
        return report

    def _one(self, entry: LedgerEntry, contact: ContactDue, reg: Registration, template: str, report: NotifyReport,
             claimed: list[bool]) -> None:
        ledger, now = self.store.ledger, self.clock()
        send = NotifySend(entry.key, "sms" if reg.contact == "Phone" else "letter", reg.id, contact.session)
        seen = ledger.get(send.key)
        if seen is not None and seen.status == NotifySend.SENT:
            handoffs.settle(ledger, entry, outcome=f"sent by GOV.UK Notify ({send.channel})")
            return  # a run settled the text or letter, and stopped before its hand-off
        if seen is not None and seen.status == NotifySend.REFUSED:
            self._back(entry, contact, str(seen.payload.get("reason") or "GOV.UK Notify refused it"))
            return
        if seen is not None and seen.status == NotifySend.SENDING and now - seen.updated < \
                self.settings.recheck_seconds:
            report.in_hand += 1  # another run is sending it now (or stopped moments ago: looked at later)
            return
        if seen is not None and seen.status == NotifySend.WAITING and now < float(seen.payload.get("retry_at") or 0):
            report.held += 1  # another run was told to wait, since this one began: for the whole service, so
            self.stopped = SLOW_DOWN  # nothing more goes this run either (and the run's line says why)
            return
        message = self.words.compose(contact, reg, send.channel)
        if isinstance(message, Wait):
            report.waiting_for_meeting += 1
            return
        if isinstance(message, str):
            report.not_by_notify += 1
            self._back(entry, contact, message)
            return
        check = seen is not None and (seen.status == NotifySend.SENDING or bool(seen.payload.get("check")))
        if not claim(ledger, send, seen):
            report.in_hand += 1  # another runner took it first
            return
        claimed.append(True)  # pragma: no mutate - only whether the list is empty is read (None or False alike)
        try:
            found = self._find(send.key) if check else None  # made, by a run that stopped before noting it?
            made = found or self._send(send.key, reg, template, message)
        except NotifyError as error:
            self._failed(entry, contact, send, reg, error, check, report)
            return
        ledger.set(send.key, NotifySend.SENT, send.payload() | {"notification": made})
        handoffs.settle(ledger, entry, outcome=f"sent by GOV.UK Notify ({send.channel})")
        if found:
            report.found += 1
        elif send.channel == "sms":
            report.texts += 1
        else:
            report.letters += 1

    def _find(self, reference: str) -> str | None:
        """Notify's id of the notification made with this reference, if any. Notify refusing the look-up is no
        refusal of the message (which may have gone): it is looked up again later."""
        try:
            return self.notify.find(reference)
        except Refused as error:
            raise Busy(error.status, error.words, None, may_be_made=True) from None

    def _send(self, reference: str, reg: Registration, template: str, message: Text | Letter) -> str:
        if isinstance(message, Text):
            return self.notify.text(reg.phone, template, message.message, reference)
        return self.notify.letter(template, message.address, message.subject, message.body, reference)

    def _failed(self, entry: LedgerEntry, contact: ContactDue, send: NotifySend, reg: Registration,
                error: NotifyError, check: bool, report: NotifyReport) -> None:
        ledger = self.store.ledger
        if isinstance(error, Refused):
            reason = f"GOV.UK Notify couldn't {WHAT[send.channel]} ({error.words})" if error.about_them else \
                f"GOV.UK Notify refused it ({error.words})"
            if error.about_them:  # noted first: a run that stops after this still has the note (it is kept once)
                to = reg.phone if send.channel == "sms" else reg.postal_address
                what = "text" if send.channel == "sms" else "letter"
                handoffs.record(ledger, MailFailed(send.key, contact.message, f"{MailFailed.NOTIFY_REFUSED}{what}: "
                                                   f"{error.words}", {"registration": reg.id,
                                                                      "session": contact.session}, (to,)))
            else:
                report.set_up = error.words[:200]
            ledger.set(send.key, NotifySend.REFUSED, send.payload() | {"reason": reason[:200]})
            self._back(entry, contact, reason)
            report.refused += 1
            return
        wait = error.retry_after if isinstance(error, Busy) and error.retry_after is not None else 0.0
        may_be_made = check or (isinstance(error, Busy) and error.may_be_made)
        ledger.set(send.key, NotifySend.WAITING, send.payload() | {"retry_at": self.clock() + wait,
                                                                   "check": may_be_made})
        report.held += 1
        if isinstance(error, KeyRefused):
            self.stopped = (f"GOV.UK Notify refused the key ({error.status}): check COPROD_NOTIFY_API_KEY (a live "
                            "key of the Notify service, not revoked) and this machine's clock; they are sent once it "
                            "is put right, and nobody is left out")
            log.error("GOV.UK Notify refused COPROD_NOTIFY_API_KEY (%s); texts and letters wait", error.status)
        elif error.status == 429:
            self.stopped = SLOW_DOWN
            log.warning("GOV.UK Notify asked us to slow down (429); texts and letters wait for a later run")
        else:
            self.stopped = (f"GOV.UK Notify did not answer ({error.status or 'no answer'}); a later run looks "
                            "whether it went, and sends it if not")
            log.warning("GOV.UK Notify did not answer (%s); texts and letters wait", error.status or "no answer")

    def _back(self, entry: LedgerEntry, contact: ContactDue, reason: str) -> None:
        """Back on the team's daily list, saying why Notify did not tell them."""
        self.store.ledger.set(entry.key, "due", replace(contact, not_sent=reason).payload())
