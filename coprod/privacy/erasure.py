"""Erasure: `python -m coprod erase ADDRESS` removes one person from every list and store (a right-to-erasure
request answered in one command).

The person is found exactly (`coprod.privacy.dataprotection.Person`): by their normalised address or its keyed
digest as a whole value, never inside a longer address (erasing al@ leaves hal@ alone); text the service cannot use
as an address (`josé@...`) finds the items whose Email is that text, compared whole.

What it does, in order, holding the run's lease (so no run works meanwhile):
1. Finds their items: the mirror's, and any the lists' change feed shows since the last run (read, not saved:
   the next run still sees those changes), each read afresh through Graph and kept only if its Email is theirs.
   The mirror's copy of one Graph says is gone (deleted in SharePoint since the last run) is dropped, and counted.
2. Registrations: the personal columns (`config.REGISTRATIONS.personal`) are cleared and Status becomes
   `Erased`, conditional on the item's eTag (read again and retried on 412). Their sessions are decided again,
   so the place goes to the next person waiting, as after a cancellation.
3. Subscribers, GuestRequests and Contributions rows with their address are deleted.
4. The ledger: records keyed by their address (the guards against a second row or invitation for them), and
   their answers to "How was it?" (by their registrations), are deleted; records about their registrations or
   rows, or naming them, keep their key (ids and keyed digests, what exactly-once needs) with the payload
   emptied, and a due one is settled `erased`.
5. The outbox: every email to them, or naming them, keeps its key, kind, status and counts (so nothing goes
   twice) and loses its payload; one not yet sent is cancelled. An email to the team not yet sent that quotes
   them (a facilitators' brief with their access needs and phone) is withheld the same way.
6. With `remove_guest`, their guest account leaves the guest group and, if the service invited it and it is
   in no other group, is deleted.
7. One record, `erased:<keyed digest>`, says when, and which accounts the service had invited (so a later
   `--remove-guest` can still tell). On SQLite, the write-ahead log is then emptied into the file, whose freed
   space is zeros: nothing erased stays in either.

Rerunning finds nothing more to do. What stays outside the service's reach (copies of sent emails in the
mailbox's Sent Items, and the directory account without `--remove-guest`) is listed in what it prints and in
docs/data-protection.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from config import REGISTRATIONS
from coprod.handoffs import Feedback, Invitation, decide_again, mail_keys, readable, records
from coprod.lists.fields import as_text
from coprod.lists.mirror import mirror_item, read_changes
from coprod.lists.notes import Notes
from coprod.lists.records import NO_SESSION, group_of, listed_status_of
from coprod.lists.requests import parse_guest_request
from coprod.permissions import explain
from coprod.privacy.dataprotection import CONTRIBUTIONS, Person, contributions_of
from coprod.running.lease import RunLease
from coprod.runtime import Services
from coprod.store import MirrorItem, OutboxEntry
from coprod.templates import UK
from coprod.words import count
from graph_client import FieldUpdate, GraphError, ListItem

__all__ = ["Busy", "Erasure", "erase"]

QUOTED = ("Title", "Phone", "AccessNeeds", "PostalAddress")  # their details a team email may show
TEAM_KINDS = ("facilitator_brief", "contact-digest", "guest-digest")  # emails to the team that list people

LISTS = ("Registrations", "Subscribers", "GuestRequests")
# ledger kinds whose key is the address itself: guards that exist only for this person's own rows
ADDRESS_KEYED = ("guest-request", "subscriber", "bookings-asked", "invitation", "guest-row", "subscriber-row")
OUTBOX_STATUSES = ("queued", "sending", "sent", "failed", "cancelled")
TRIES = 3  # an item edited while we erase it is read again and erased again, up to this many times


class Busy(Exception):
    """A run holds the lease: erasing now would race it."""


@dataclass
class Erasure:
    """What one erasure did (counts and ids; the address only in `address`, for the command's own output)."""

    address: str
    registrations: list[str] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)
    rows: dict[str, int] = field(default_factory=dict)
    records_deleted: int = 0
    records_emptied: int = 0
    emails_cancelled: int = 0
    emails_emptied: int = 0
    emails_sent: int = 0
    team_withheld: int = 0  # queued emails to the team that quoted them (a facilitators' brief): never sent
    copies: dict[str, int] = field(default_factory=dict)  # the service's copies of rows deleted in SharePoint
    accounts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.registrations or any(self.rows.values()) or self.records_deleted or self.records_emptied
                    or self.emails_emptied or self.accounts or any(self.copies.values()))

    def lines(self) -> list[str]:
        lines = [f"Registrations: {count(len(self.registrations), 'booking')} cleared and marked Erased"
                 + (f" (sessions {', '.join(sorted(self.sessions))}); their places go to the next people waiting"
                    if self.sessions else "") + "."]
        lines += [f"{name}: {count(n, 'row')} deleted." for name, n in self.rows.items()]
        lines += [f"{name}: {count(n, 'copy', 'copies')} of a row already deleted in SharePoint "
                  f"{'was' if n == 1 else 'were'} dropped from the service's records."
                  for name, n in self.copies.items()]
        lines.append(f"State: {count(self.records_deleted, 'record')} deleted, {self.records_emptied} emptied; "
                     f"{count(self.emails_cancelled, 'queued email')} cancelled, "
                     f"{count(self.emails_emptied, 'email record')} emptied.")
        if self.team_withheld:
            lines.append(f"Team emails: {count(self.team_withheld, 'queued email')} that quoted them (a facilitators' "
                         f"brief, say) {'was' if self.team_withheld == 1 else 'were'} withheld and won't go; the "
                         "next run makes them again without them, for everyone else on them.")
        lines += self.accounts
        if self.emails_sent:
            lines.append(f"Left: copies of the {count(self.emails_sent, 'email')} sent to them stay in the sending "
                         "mailbox's Sent Items; docs/data-protection.md says how to clear them.")
        lines += self.problems
        return lines


def erase(services: Services, typed: str, *, remove_guest: bool = False,
          progress: Callable[[str], None] = lambda message: None) -> Erasure:
    """Erase the person at `typed`: found by its normalised address, exactly (see `Person`); text the service
    cannot use as an address finds the items whose Email is that text. Raises Busy while a run holds the lease."""
    person = Person.of(typed, services.signer)
    with RunLease(services.store, seconds=services.settings.lease_seconds, clock=services.clock) as lease:
        if not lease.held:
            raise Busy(lease.says_busy())
        return _Eraser(services, person, progress).run(remove_guest)


class _Eraser:
    def __init__(self, services: Services, person: Person, progress: Callable[[str], None]) -> None:
        self.services = services
        self.store = services.store
        self.person = person
        self.address = person.address
        self.digest = person.digest
        self.progress = progress
        self.done = Erasure(person.shown)
        self.names: set[str] = set()  # the names on their items: the team's emails may quote them
        self.quoted: set[str] = set()  # every personal value on their items, as an email may show it
        self.booked: set[str] = set()  # sessions they were confirmed for: those sessions' briefs list them
        self.registration_ids: set[str] = set()  # their registrations, erased here or already deleted
        self.decide: set[str] = set()  # sessions to decide again
        self.subscriber_rows: set[str] = set()
        self.invited: set[str] = set()  # accounts the service invited for them

    def run(self, remove_guest: bool) -> Erasure:
        found = self._find()
        previous = self.store.ledger.get(records.erased(self.digest))
        if previous is not None:
            self.invited.update(str(u) for u in previous.payload.get("invited") or [])
        self._registrations(found["Registrations"])
        guests = [parse_guest_request(i.id, "", i.fields) for i in found["GuestRequests"]]  # (when made: not needed)
        self.invited.update(g.user_id for g in guests if g.status == "Invited" and g.user_id)
        invitation = Invitation.entry(self.store.ledger, self.address) if self.address else None
        if invitation is not None and invitation.payload.get("how") == "invited" and invitation.payload.get("user"):
            self.invited.add(str(invitation.payload["user"]))
        for name in ("Subscribers", "GuestRequests"):
            self._delete_rows(name, found[name])
        told = contributions_of(self.services, self.person)  # (their words go with them: deleted, not kept)
        if told:  # (no email quotes a contribution: nothing of it to remember, and its Title is its words)
            self._delete(CONTRIBUTIONS, told)
        self._ledger()
        self._outbox()
        self._accounts(remove_guest)
        if self.done.sessions or self.decide:
            decide_again(self.store.checkpoints, self.done.sessions | self.decide)
        self.store.ledger.put(records.erased(self.digest), "erased", "done",
                              {"at": self.services.clock(), "invited": sorted(self.invited)})
        self.store.forget_freed()  # no older copy of what was erased stays where the store keeps one
        return self.done

    # --- the lists ---------------------------------------------------------------------
    def _theirs(self, fields: dict[str, Any]) -> bool:
        return self.person.owns(fields.get("Email"))

    def _find(self) -> dict[str, list[ListItem]]:
        """Their items in the three lists with an Email column, as Graph has them now."""
        changes = read_changes(self.services.lists, self.store, LISTS)
        found: dict[str, list[ListItem]] = {}
        for name in LISTS:
            mirrored = {i.item_id: i for i in self.store.mirror.items(name) if self._theirs(i.fields)}
            ids = [*mirrored, *(item.id for item in changes[name].changed.values() if self._theirs(item.fields))]
            fresh = self.services.lists.read_items(name, ids, label=name)
            found[name] = [item for item in fresh.values() if item is not None and self._theirs(item.fields)]
            self.progress(f"{name}: {count(len(found[name]), 'item')} with that address")
            self._drop_copies(name, [item for item_id, item in mirrored.items() if fresh.get(item_id) is None])
        return found

    def _drop_copies(self, name: str, copies: list[MirrorItem]) -> None:
        """Their rows deleted in SharePoint since the last run (Graph says they are gone): the service's copy is all
        that is left of them, so it goes too. A deleted booking's session is decided again, as the next run would."""
        for item in copies:
            self._remember(item.fields)
            if name == "Registrations":
                self.registration_ids.add(item.item_id)
                if item.group and item.group != NO_SESSION:
                    self.decide.add(item.group)
            if name == "Subscribers":
                self.subscriber_rows.add(item.item_id)
        if copies:
            self.store.mirror.delete(name, [item.item_id for item in copies])
            self.done.copies[name] = len(copies)

    def _remember(self, fields: dict[str, Any]) -> None:
        """Their name and personal values as an email to the team may show them (cleaned and cut as the emails
        cut them), to find the team's emails that quote them."""
        self.names.add(str(fields.get("Title") or "").strip())
        self.names = {name for name in self.names if len(name) >= 3}
        for column in QUOTED:
            value = fields.get(column)
            if isinstance(value, str):
                lines = [value, *value.splitlines()]
                self.quoted.update(as_text(line, limit) for line in lines for limit in (40, 80, 120, 500))
        self.quoted = {value for value in self.quoted if len(value) >= 3}

    def _registrations(self, items: list[ListItem]) -> None:
        day = datetime.fromtimestamp(self.services.clock(), UK).strftime("%-d %B %Y")
        cleared = {column: "" for column in REGISTRATIONS.personal} | {
            "Status": "Erased", "StatusNote": Notes.ERASED.format(day=day)}
        lists = self.services.lists
        for item in items:
            self._remember(item.fields)
            self.registration_ids.add(item.id)
            if listed_status_of(item.fields) == "Confirmed" and group_of(item.fields) != NO_SESSION:
                self.booked.add(group_of(item.fields))
            current: ListItem | None = item
            for _try in range(TRIES):
                if current is None or not self._theirs(current.fields):
                    break  # deleted, or its address changed meanwhile: not theirs any more
                answer = lists.update_fields("Registrations", [FieldUpdate(current.id, cleared, current.etag)],
                                             label="Registrations")[current.id]
                if answer.ok:
                    fresh = lists.get_item("Registrations", current.id, label="Registrations")
                    self.store.mirror.put([mirror_item("Registrations", fresh, group_of(fresh.fields))])
                    self.done.registrations.append(current.id)
                    if group_of(current.fields) != "-":
                        self.done.sessions.add(group_of(current.fields))
                    break
                if answer.status != 412:
                    self._problem("Registrations", current.id, answer)
                    break
                current = lists.read_items("Registrations", [current.id], label="Registrations")[current.id]
            else:
                self.done.problems.append(f"Registrations item {item.id} kept changing while it was erased: "
                                          "run erase again.")

    def _problem(self, name: str, item_id: str, answer: Any) -> None:
        try:
            self.services.lists.client.raise_for_entry(f"erase a {name} item", answer)
        except GraphError as error:
            self.done.problems.append(f"{name} item {item_id} was not erased: "
                                      f"{explain('lists-write', error) or error}")

    def _delete_rows(self, name: str, items: list[ListItem]) -> None:
        """Their rows deleted, once what a team email may quote of them is remembered."""
        for item in items:
            self._remember(item.fields)
        self._delete(name, items)

    def _delete(self, name: str, items: list[ListItem]) -> None:
        for item in items:
            self.services.lists.delete_item(name, item.id, label=name)
            self.store.mirror.delete(name, [item.id])
            if name == "Subscribers":
                self.subscriber_rows.add(item.id)
        self.done.rows[name] = len(items)

    # --- the state store -----------------------------------------------------------------
    def _names_them(self, text: str, *, by_name: bool) -> bool:
        """Whether `text` has their address or its keyed digest, or (`by_name`) one of their names as words: only
        where emptying a record that merely shares a name costs nothing (sent emails, settled records)."""
        if self.person.named_in(text):
            return True
        return by_name and _quoted(text, self.names)

    def _about_their_items(self, key: str, payload: dict[str, Any]) -> bool:
        """Whether a record or email is about one of their registrations, or their Subscribers row."""
        registrations = set(re.findall(r"registration-(\d+)", key)) | set(re.findall(r"^cancel-request:(\d+)$", key))
        if payload.get("registration") is not None:
            registrations.add(str(payload["registration"]))
        rows = set(re.findall(r"^rejoin-asked:(\d+)$", key))
        return bool(registrations & self.registration_ids) or bool(rows & self.subscriber_rows)

    def _ledger(self) -> None:
        for entry in self.store.ledger.list():
            if entry.kind == "erased" or entry.payload == {"erased": True}:
                continue
            if entry.kind == Feedback.KIND and Feedback.read(entry).registration in self.registration_ids:
                self.store.ledger.delete(entry.key)  # their answer to "How was it?", comment and all
                self.done.records_deleted += 1
                continue
            if entry.kind in ADDRESS_KEYED and self.person.named_in(entry.key):
                self.store.ledger.delete(entry.key)
                self.done.records_deleted += 1
                continue
            text = entry.key + " " + json.dumps(entry.payload, ensure_ascii=False)
            if self._names_them(text, by_name=entry.status != "due") or \
                    self._about_their_items(entry.key, entry.payload):
                status = "erased" if entry.status in ("due", "sending", "throttled") else entry.status
                self.store.ledger.scrub(entry.key, status, {"erased": True})
                self.done.records_emptied += 1

    def _outbox(self) -> None:
        """Every email to them, about their items, or naming their address or digest, is emptied (and cancelled,
        if it has not gone). So is an email to the team (a facilitators' brief, the phone-or-post list, the admins'
        digest) that quotes them: their name, phone, access needs or postal address as whole words, or the brief
        of a session they were confirmed for. One still to go is withheld whole (nothing of them can go), and the
        next run makes it again from the lists, without them (`Outbox.unused_key`). Another person's email still
        to go is not touched for a name it shares with them; one already settled is emptied for it, as that costs
        nothing."""
        for status in OUTBOX_STATUSES:
            for entry in self.store.outbox.list(status, limit=1_000_000):
                if not entry.payload:
                    continue
                message = readable(entry.payload)  # the words unpacked
                to_them, unsent = self._to_them(entry), entry.status in ("queued", "sending")
                team = entry.kind in TEAM_KINDS and not to_them
                values = self.quoted if team else set() if unsent else self.names
                if to_them or self._about_their_items(entry.key, {}) or \
                        self.person.named_in(entry.key + " " + json.dumps(message, ensure_ascii=False)) or \
                        (team and self._briefed(entry.key)) or _quoted(_words(message), values):
                    self.done.emails_sent += entry.status == "sent" and to_them
                    self.done.team_withheld += unsent and team
                    self.done.emails_cancelled += unsent and not team
                    self.store.outbox.scrub(entry.key, cancel=True)
                    self.done.emails_emptied += 1
                    if unsent and entry.kind == "contact-digest":
                        self._list_again(entry.key)

    def _list_again(self, key: str) -> None:
        """The team's phone-or-post list was withheld: everyone else it listed goes on the next one (made again
        without them: `Outbox.unused_key`), instead of being settled as told."""
        day = mail_keys.contact_digest_day(key)
        for entry in self.store.ledger.list(kind="contact-due", status="done"):
            if entry.payload.get("outcome") == f"in the digest of {day}" and \
                    str(entry.payload.get("registration")) not in self.registration_ids:
                self.store.ledger.set(entry.key, "due")

    def _briefed(self, key: str) -> bool:
        """Whether an email is the facilitators' brief of a session they were confirmed for (it lists them)."""
        return mail_keys.brief_session(key) in self.booked

    def _to_them(self, entry: OutboxEntry) -> bool:
        return self.person.among(entry.payload.get("to") or ())

    # --- the directory -------------------------------------------------------------------
    def _accounts(self, remove_guest: bool) -> None:
        directory, group = self.services.directory, self.services.settings.guest_group_id
        if self.address is None:
            return  # no account can have an address the service cannot use
        try:
            accounts = [u for u in directory.find_by_address(self.address) if u.user_type == "Guest"]
        except GraphError as error:
            self.done.problems.append(f"The directory could not be searched: {explain('users', error) or error}")
            return
        for user in accounts:
            if not remove_guest:
                self.done.accounts.append(f"Directory: their guest account ({user.id}) is still there; "
                                          "erase again with --remove-guest to take it out.")
                continue
            try:
                left = bool(group) and directory.remove_from_group(str(group), user.id)
                others = [g for g in directory.member_groups(user.id) if g != group]
                if user.id in self.invited and not others:
                    directory.delete_user(user.id)
                    self.done.accounts.append(f"Directory: their guest account ({user.id}) "
                                              f"{'left the guest group and ' if left else ''}was deleted "
                                              "(Entra can restore it for 30 days).")
                else:
                    why = "the service did not invite it" if user.id not in self.invited else \
                        f"it is in {count(len(others), 'other group')}"
                    self.done.accounts.append(f"Directory: their guest account ({user.id}) "
                                              f"{'left the guest group' if left else 'is not in the guest group'}; "
                                              f"it was kept because {why}.")
            except GraphError as error:
                step = "delete-guests" if "delete" in error.operation else "group"
                self.done.problems.append(f"Directory: their guest account ({user.id}) was not removed: "
                                          f"{explain(step, error) or error}")


def _words(message: dict[str, Any]) -> str:
    """An email's words, each part on its own lines: subject, recipients, text, HTML, attachments' text."""
    parts = [str(message.get(name) or "") for name in ("subject", "to_name", "text", "html")]
    parts += [str(to) for to in message.get("to") or ()]
    parts += [str(a.get("text") or "") for a in message.get("attachments") or () if isinstance(a, dict)]
    return "\n".join(parts)


def _quoted(text: str, values: set[str]) -> bool:
    """Whether any of `values` is in `text` as whole words."""
    return any(re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text) for value in values)
