"""A text or a letter through GOV.UK Notify: its claim in the ledger, so that each goes once (coprod/notify)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from coprod.handoffs._keys import notify_keys
from coprod.store import LedgerEntry


@dataclass(frozen=True)
class NotifySend:
    """The text (`sms`) or letter that tells someone what one `ContactDue` says, keyed by it (`notify_keys`): the
    same key is the `reference` Notify keeps with it.

    Claimed `SENDING` before it is sent (`handoffs.claim`: of several runners, exactly one); then `SENT` with
    Notify's notification id, `REFUSED` with Notify's words (the person goes back on the team's list), or `WAITING`:
    Notify asked us to slow down, was down, refused the key, or its answer was lost, so a later run tries again
    (after `retry_at`), first looking it up by its reference if it may have been made (`check`). A claim still
    `SENDING` long after it was made is a run that stopped mid-way: it is looked up before anything is sent again."""

    KIND: ClassVar[str] = "notify"
    SENDING: ClassVar[str] = "sending"
    SENT: ClassVar[str] = "sent"
    REFUSED: ClassVar[str] = "refused"
    WAITING: ClassVar[str] = "throttled"
    contact: str  # the ContactDue's key
    channel: str  # "sms" or "letter"
    registration: str
    session: str

    @property
    def key(self) -> str:
        return notify_keys.for_contact(self.contact)

    def payload(self) -> dict[str, Any]:
        return {"contact": self.contact, "channel": self.channel, "registration": self.registration,
                "session": self.session}

    @classmethod
    def read(cls, entry: LedgerEntry) -> NotifySend:
        p = entry.payload
        return cls(str(p.get("contact") or ""), str(p.get("channel") or ""), str(p.get("registration") or ""),
                   str(p.get("session") or ""))
