"""Data protection: everything the service holds about one person, in one answer (a subject access request).

`python -m coprod export ADDRESS` prints it as JSON:
- `lists`: every item of the five lists that carries the address, read afresh through Graph (the mirror names
  which; Graph gives the current values), with its list, id and columns;
- `state`: what the state store holds about them: the hand-offs whose key or payload names the address or its
  keyed digest (the form links carry the digest, not the address), the emails to them in the outbox (kind,
  status, subject, when: not their bodies, which are the emails themselves, in the mailbox's Sent Items), and
  `copies`: the service's copy of any of their rows already deleted in SharePoint (erase drops those), and
  `feedback`: their answers to "How was it?" (found by their registrations: an answer holds no address);
- `directory`: the Entra accounts with that address (a guest account the service invited, say).

Times are ISO 8601 (UTC), and each booking names its session (`session`: its id, title and start, as the last
run saw it). It changes nothing. A person is found exactly (`Person`, which erasure uses too): by their normalised
address or its keyed digest as a whole value, never as a piece of a longer address (al@ is not hal@); and an item
whose Email the service cannot use (`josé@...`) by that text as typed, compared whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from coprod.handoffs import Feedback
from coprod.links import Signer
from coprod.lists.fields import normalise_email
from coprod.lists.records import session_of
from coprod.runtime import Services
from graph_client import ListItem, NotFoundError

__all__ = ["CONTRIBUTIONS", "Person", "contributions_of", "export"]

LISTS = ("Sessions", "Registrations", "GuestRequests", "Subscribers", "Updates")
OUTBOX_STATUSES = ("queued", "sending", "sent", "failed", "cancelled")
CONTRIBUTIONS = "Contributions"  # read whole through Graph, as it is now, for the items with their address
TIMES = ("at", "sent_at", "since", "expires", "started", "finished", "created", "updated")  # seconds in the store
# a whole address in a text: as many characters as an address may have on each side of its @ (so hal@x is one
# address, never al@x inside it; x.org.uk never x.org); the domain ends before a final full stop
ADDRESS = re.compile(r"[\w!#$%&'*+/=?^`{|}~.-]+@[\w-]+(?:\.[\w-]+)*")


@dataclass(frozen=True)
class Person:
    """Whom an export or an erasure is about, and how they are found: exactly, never by containment."""

    address: str | None  # normalised; None when the text typed is not an address the service could use
    text: str  # what was typed, without spaces around it, case folded: finds an item whose Email is unusable
    digest: str  # the keyed digest of the address (of the text, when there is no address)

    @classmethod
    def of(cls, typed: str, signer: Signer) -> Person:
        text = str(typed).strip().casefold()
        address = normalise_email(typed)
        if address is None and "@" not in text:
            raise ValueError("that isn't an email address: type the person's address as the lists have it")
        return cls(address, text, signer.digest(address or text))

    @property
    def shown(self) -> str:
        return self.address or self.text

    def owns(self, email: Any) -> bool:
        """Whether an Email column's value (or an email's recipient) is theirs."""
        if self.address is not None and normalise_email(email) == self.address:
            return True
        return isinstance(email, str) and email.strip().casefold() == self.text

    def among(self, recipients: Iterable[Any]) -> bool:
        return any(self.owns(to) for to in recipients)

    def named_in(self, text: str) -> bool:
        """Whether `text` (a key, a payload, an email's words) has their address or their keyed digest, whole."""
        folded = text.casefold()
        found = {m.group().lstrip(".") for m in ADDRESS.finditer(folded)}
        return bool(found & {self.address, self.text}) or re.search(
            rf"(?<![0-9a-z]){re.escape(self.digest)}(?![0-9a-z])", folded) is not None


def export(services: Services, typed: str) -> dict[str, Any]:
    """Everything held about the person at `typed` (any case, spaces around: it is normalised)."""
    person = Person.of(typed, services.signer)
    store = services.store
    found_lists, copies = [], []
    theirs = {name: {item.item_id: item for item in store.mirror.items(name) if person.owns(item.fields.get("Email"))}
              for name in LISTS}
    sessions = {item.item_id: item.fields for item in store.mirror.items("Sessions")}
    for name, mirrored in theirs.items():
        for item_id, item in services.lists.read_items(name, list(mirrored), label=name).items():
            if item is not None:
                found_lists.append({"list": name, "id": item_id, "created": str(item.created_date_time or ""),
                                    "fields": {k: v for k, v in item.fields.items() if not k.startswith("@")}}
                                   | _session(session_of(item.fields), sessions))
            else:  # deleted in SharePoint since the last run: the service's copy is still held
                copies.append({"list": name, "id": item_id, "fields": mirrored[item_id].fields})
    found_lists += [{"list": CONTRIBUTIONS, "id": item.id, "created": str(item.created_date_time or ""),
                     "fields": {k: v for k, v in item.fields.items() if not k.startswith("@")}}
                    for item in contributions_of(services, person)]
    handoffs = [{"key": entry.key, "kind": entry.kind, "status": entry.status, "payload": _iso_times(entry.payload),
                 "updated": iso(entry.updated)}
                for entry in store.ledger.list()
                if person.named_in(entry.key) or person.named_in(json.dumps(entry.payload, ensure_ascii=False))]
    emails = [{"kind": entry.kind, "status": entry.status, "subject": entry.payload.get("subject"),
               "sent_at": iso(entry.sent_at)}
              for status in OUTBOX_STATUSES for entry in store.outbox.list(status, limit=100_000)
              if person.among(entry.payload.get("to") or ())]
    accounts = [{"id": user.id, "displayName": user.display_name, "mail": user.mail,
                 "userPrincipalName": user.user_principal_name, "userType": user.user_type,
                 "externalUserState": user.external_user_state}
                for user in (services.directory.find_by_address(person.address) if person.address else [])]
    feedback = [{"session": answer.session, "registration": answer.registration, "rating": answer.rating,
                 "listened": answer.listened, "comment": answer.comment, "at": iso(answer.at)}
                | _session(answer.session, sessions)
                for answer in map(Feedback.read, store.ledger.list(kind=Feedback.KIND))
                if answer.registration in theirs["Registrations"]]  # found by their bookings: it holds no address
    return {"address": person.shown, "lists": found_lists,
            "state": {"handoffs": handoffs, "emails": emails, "copies": copies, "feedback": feedback},
            "directory": accounts}


def iso(moment: float | None) -> str | None:
    """Seconds since 1970 as ISO 8601 in UTC (`2026-12-07T16:11:51Z`); None stays None."""
    return None if moment is None else datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_times(payload: dict[str, Any]) -> dict[str, Any]:
    """A record's payload with its times (`TIMES`, as seconds) in ISO 8601."""
    return {k: iso(v) if k in TIMES and isinstance(v, (int, float)) and not isinstance(v, bool) else v
            for k, v in payload.items()}


def _session(session_id: Any, sessions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`{"session": {"id", "title", "start"}}` for a booking or an answer about a session the service knows."""
    fields = sessions.get(str(session_id or ""))
    if fields is None:
        return {}
    return {"session": {"id": str(session_id), "title": fields.get("Title"), "start": fields.get("StartTime")}}


def contributions_of(services: Services, person: Person) -> list[ListItem]:
    """What the person told us on the contribution page with their address (nothing if they left none): the
    Contributions list read whole, as Graph has it now. A site provisioned before the list existed has none."""
    try:
        return [item for item in services.lists.iter_items(CONTRIBUTIONS, label=CONTRIBUTIONS)
                if person.owns(item.fields.get("Email"))]
    except NotFoundError:
        return []
