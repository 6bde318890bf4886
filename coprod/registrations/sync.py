"""The registration reconciler: from SharePoint lists to confirmed places, waiting lists and notes.

One run:
1. read what changed in Sessions and Registrations since the saved delta
   links (the whole lists on the first run, or when Graph asks for a resync)
   and apply it to the mirror in the state store;
2. for every session touched, decide each registration (`rules.allocate`);
3. record the hand-offs that the decisions call for (messages, guest requests,
   subscribers) in the ledger, once per key, before anything is written;
4. write back only the columns that change, in `$batch`es, each conditional
   on the eTag we read; an item someone changed meanwhile is read again and
   decided again;
5. save the delta links, now that their changes are processed.

Running it again with no changes in the lists writes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from coprod.handoffs import (
    BookedOnlineIndex,
    CancelRequest,
    GuestRequestDue,
    MailFailed,
    MessageDue,
    SubscriberDue,
    pending,
    record,
    record_many,
    sessions_to_decide,
    set_sessions_to_decide,
    settle,
)
from coprod.links import Signer
from coprod.lists.mirror import ListMirror, feed_line, read_changes, reads_light, relink, save_link
from coprod.lists.notes import Notes
from coprod.lists.records import (
    HELD,
    Registration,
    Session,
    address_of,
    group_of,
    listed_status_of,
    parse_registration,
    parse_session,
)
from coprod.lists.session_notes import session_note
from coprod.registrations.rosters import Roster, Rosters, entry_of, incremental
from coprod.registrations.rules import Decision, allocate, message_kind
from coprod.registrations.summary import SyncReport
from coprod.store import LedgerEntry, MirrorItem, StateStore
from graph_client import DeltaResult, FieldUpdate, SharePointLists

__all__ = ["RegistrationSync", "SyncReport"]

log = logging.getLogger("coprod.registrations")
MAX_CONFLICT_ROUNDS = 3


class RegistrationSync:
    LISTS = ("Sessions", "Registrations")

    def __init__(self, lists: SharePointLists, store: StateStore, *, now: Callable[[], datetime] | None = None,
                 progress: Callable[[str], None] | None = None, signer: Signer | None = None) -> None:
        self.lists = lists
        self.store = store
        self.signer = signer  # checks the address digest in a cancel link's request; without it none is honoured
        self.now = now or (lambda: datetime.now(UTC))
        self.progress = progress or (lambda message: None)
        self.sessions = ListMirror(store, "Sessions", staged=True)  # stored once the run has acted on them
        self.registrations = ListMirror(store, "Registrations", group_of, staged=True)
        self._cancelling: set[str] = set()  # registrations cancelled from the link in an email, this run
        self._fresh: set[str] = set()  # registrations new or changed in this run's reading: their hand-offs are due
        self._decided: dict[str, MirrorItem] = {}  # the mirrored registrations this run writes, as decided from
        self._cancel_entries: list[LedgerEntry] = []
        self._undelivered: dict[str, set[str]] = {}  # registration -> addresses an email to it failed for
        self._bounced: dict[str, set[str]] = {}  # registration -> its addresses that bounced (no more emails)
        self._doubtful: dict[str, set[str]] = {}  # registration -> addresses an email may or may not have reached
        self._session_problems: dict[str, set[str]] = {}  # session -> kinds of message that failed for it
        self._undeliverable: dict[str, set[str]] = {}  # registration -> addresses that cannot take email
        self._not_by_notify: dict[str, tuple[str, str]] = {}  # registration -> (what Notify refused, the note's words)
        self._online = BookedOnlineIndex(store.ledger, signer.digest) if signer is not None else None
        self._rosters = Rosters(store, signer.digest if signer is not None else None)
        self._changed_in: dict[str, set[str]] = {}  # session -> its registrations changed this run (in, out or gone)

    # --- reading ---------------------------------------------------------------
    def _apply_sessions(self, delta: DeltaResult, report: SyncReport) -> tuple[set[str], set[str]]:
        """Mirror the session changes; returns (sessions touched, sessions deleted)."""
        applied = self.sessions.apply(delta)
        self.progress(feed_line("Sessions", delta, applied))
        report.sessions_read += applied.count
        report.own_writes_seen += applied.own_writes
        deleted = {old.item_id for old in applied.deleted}
        return {new.item_id for _, new in applied.changed} | deleted, deleted

    def _apply_registrations(self, delta: DeltaResult, report: SyncReport) -> set[str]:
        """Mirror the registration changes; returns the session ids whose places must be decided again."""
        applied = self.registrations.apply(delta)
        self._fresh |= {new.item_id for _, new in applied.changed}
        self.progress(feed_line("Registrations", delta, applied))
        report.registrations_read += applied.count
        report.own_writes_seen += applied.own_writes
        touched: set[str] = {old.group for old in applied.deleted if old.group}
        for gone in applied.deleted:
            self._changed_in.setdefault(gone.group or "", set()).add(gone.item_id)
        for old, new in applied.changed:
            for group in {old.group if old else None, new.group} - {None}:
                self._changed_in.setdefault(group or "", set()).add(new.item_id)
            if old is not None:
                if old.group:
                    touched.add(old.group)  # the booking may have moved from this session
                if listed_status_of(old.fields) in HELD and listed_status_of(new.fields) == "Cancelled":
                    self._message_due("cancelled", new, report)  # an admin cancelled the place
                self._address_changed(old, new, report)
            if new.group:
                touched.add(new.group)
        return touched

    def _cancel_requests(self) -> set[str]:
        """Cancellations made from the link in a participant's email; returns their sessions.

        The service writes only Status and StatusNote, so the request is applied as if the person had
        ticked Cancel: their place is freed, the next person waiting gets it, and they are told.
        """
        sessions: set[str] = set()
        for entry, request in pending(self.store.ledger, CancelRequest):
            item = self.registrations.get(request.registration)
            address = address_of(item.fields) if item else None
            if (item is None or address is None or self.signer is None
                    or self.signer.digest(address) != request.address):
                settle(self.store.ledger, entry, outcome="no such booking")
                continue
            self._cancelling.add(item.item_id)
            self._cancel_entries.append(entry)
            if item.group:
                sessions.add(item.group)
        return sessions

    def _mail_failures(self) -> set[str]:
        """Messages that could not be sent (or prepared): noted on their registration or session while they
        matter. Returns the sessions to decide again because a failure is new since the last run."""
        self._undelivered, self._doubtful, self._session_problems = {}, {}, {}
        self._undeliverable, self._bounced, self._not_by_notify = {}, {}, {}
        touched: set[str] = set()
        for entry, failure in MailFailed.every(self.store.ledger):
            registration, session = failure.about.get("registration"), failure.about.get("session")
            refused = failure.notify_refused
            if registration and refused:
                words = Notes.NOT_TEXTED if refused[0] == "text" else Notes.NOT_POSTED
                self._not_by_notify[registration] = (failure.to[0] if failure.to else "",
                                                     words.format(why=refused[1].rstrip(".")))
            elif registration:
                target = self._doubtful if failure.uncertain else self._bounced if failure.bounced else \
                    self._undelivered
                target.setdefault(registration, set()).update(failure.to or ("?",))
                if (failure.undeliverable or failure.bounced) and failure.kind in ("confirmed", "promoted",
                                                                                   "waitlisted"):
                    self._undeliverable.setdefault(registration, set()).update(failure.to)
            elif session:
                self._session_problems.setdefault(session, set()).add(failure.kind)
            if entry.status == "due":
                if session:
                    touched.add(session)
                settle(self.store.ledger, entry)
        return touched

    def _released(self, item: MirrorItem, reg: Registration) -> bool:
        """A booking made on the public pages whose address cannot take email (refused as a recipient in two runs,
        or a non-delivery report said it does not exist): nobody can be told of the place, and a made-up address
        must not hold it, so it goes to the next person. An officer's booking, or one whose address was corrected
        since, keeps its place."""
        failed_to = self._undeliverable.get(item.item_id)
        address = reg.email
        if not failed_to or address is None or address not in failed_to or reg.listed_status not in HELD:
            return False
        return self._online is not None and self._online.has(item.group or "", address)

    def _note(self, reg: Registration, decision: Decision) -> str:
        """The StatusNote: the decision's, and a word if an email to this address could not be delivered (or came
        back: then no more go to it until the address is changed), or GOV.UK Notify refused the number or postal
        address it has (until it is changed)."""
        reg_id, address = reg.id, reg.email
        if decision.status == "NeedsAttention":
            return decision.note
        refused = self._not_by_notify.get(reg_id)
        if refused and refused[0] in (reg.phone, reg.postal_address):
            return f"{decision.note} {refused[1]}"
        for problems, words in ((self._bounced, Notes.BOUNCED), (self._undelivered, Notes.EMAIL_FAILED),
                                (self._doubtful, Notes.EMAIL_UNCERTAIN)):
            failed_to = problems.get(reg_id)
            if failed_to and (address in failed_to or "?" in failed_to):
                return f"{decision.note} {words}"
        return decision.note

    # --- hand-offs ---------------------------------------------------------------
    def _message_due(self, kind: str, item: MirrorItem, report: SyncReport, again: str = "") -> None:
        if record(self.store.ledger, MessageDue(kind, item.item_id, item.group or "", again)):
            report.messages_due[kind] = report.messages_due.get(kind, 0) + 1

    def _address_changed(self, old: MirrorItem, new: MirrorItem, report: SyncReport) -> None:
        """Someone corrected the address of a booking that holds a place: what the person was told goes again,
        to the new address (an email to the old one may never have arrived)."""
        status = listed_status_of(new.fields)
        before, after = address_of(old.fields), address_of(new.fields)
        if status not in HELD or listed_status_of(old.fields) != status or after is None or before == after:
            return
        # keyed by the edit (its eTag): a rerun of this run finds the same key, a later correction makes a new one
        self._message_due("confirmed" if status == "Confirmed" else "waitlisted", new, report,
                          f":address-changed-{new.etag or new.created}")

    def _handoffs(self, item: MirrorItem, reg: Registration, decision: Decision, due: list[tuple[Any, str]]) -> None:
        """What this decision hands on (collected in `due`, recorded together at the end of `_decide`)."""
        kind = message_kind(reg.status, decision.status)
        if kind:
            due.append((MessageDue(kind, item.item_id, item.group or ""), kind))
        if not decision.valid or decision.status == "Cancelled":
            return
        if reg.email is None:
            return
        if reg.wants_site_access:
            due.append((GuestRequestDue(reg.email, reg.name, item.item_id), "guest"))
        if reg.join_mailing_list:
            due.append((SubscriberDue(reg.email, reg.name, "registration", registration=item.item_id), "subscriber"))

    def _record(self, due: list[tuple[Any, str]], report: SyncReport) -> None:
        added = record_many(self.store.ledger, [handoff for handoff, _ in due])
        for handoff, what in due:
            if handoff.key not in added:
                continue
            if what == "guest":
                report.guest_requests_due += 1
            elif what == "subscriber":
                report.subscribers_due += 1
            else:
                report.messages_due[what] = report.messages_due.get(what, 0) + 1

    # --- deciding ------------------------------------------------------------------
    def _to_decide(self, session_id: str, session: Session | None, full: bool, now: datetime
                   ) -> tuple[list[MirrorItem], list[Registration], int, Roster | None]:
        """A session's registrations to decide, parsed, and how many others hold places (`aside`); with the
        roster that was used or is to be made (`coprod.registrations.rosters`), None if the session has none.

        In full: all of them. Otherwise, from its roster: those changed this run, and those their change can
        move (`Roster.plan`), unless the roster cannot be used; then in full, and the roster is made again."""
        over = session is not None and session.end is not None and session.end < now
        if session is None or not incremental(session, over):
            return *self._every(session_id), 0, None
        roster = None if full else self._rosters.get(session_id, session)
        if roster is not None:
            changed = self._changed_in.get(session_id, set())
            items = [i for i in self.registrations.many(changed).values() if i.group == session_id]
            regs = [parse_registration(i.item_id, i.created, i.fields) for i in items]
            affected, aside = roster.plan(session, changed, regs, self._rosters.digest)
            others = list(self.registrations.many(affected).values())
            if len(others) == len(affected) and roster.agrees(others, session_id):
                return (items + others, regs + [parse_registration(i.item_id, i.created, i.fields) for i in others],
                        aside, roster)
        return *self._every(session_id), 0, self._rosters.empty(session)

    def _every(self, session_id: str) -> tuple[list[MirrorItem], list[Registration]]:
        items = self.registrations.items(group=session_id)
        return items, [parse_registration(i.item_id, i.created, i.fields) for i in items]  # each once, throughout

    def _decide(self, session_ids: Iterable[str], deleted_sessions: set[str], report: SyncReport, full: set[str]
                ) -> tuple[list[FieldUpdate], list[FieldUpdate]]:
        """Decide each session's registrations: those in `full` (and deleted ones) all of them, the others from
        their roster where they have one (`_to_decide`)."""
        now = self.now()
        reg_updates: list[FieldUpdate] = []
        session_updates: list[FieldUpdate] = []
        due: list[tuple[Any, str]] = []
        session_ids = list(session_ids)
        self._rosters.read(s for s in session_ids if s not in full and s not in deleted_sessions)
        for session_id in sorted(session_ids, key=lambda s: (len(s), s)):
            mirrored = self.sessions.get(session_id)
            session: Session | None = parse_session(session_id, mirrored.fields) if mirrored else None
            gone = session_id in deleted_sessions
            items, regs, aside, roster = self._to_decide(session_id, session, gone or session_id in full, now)
            released = {i.item_id for i, r in zip(items, regs, strict=True) if self._released(i, r)}
            regs = [dataclasses.replace(r, cancel=True) if r.id in self._cancelling | released else r for r in regs]
            decisions, admin_note = allocate(session, regs, now, session_deleted=gone, aside=aside)
            self._rosters.keep(session_id, None if roster is None else roster.updated(  # (None: over, or gone...)
                self._changed_in.get(session_id, ()),
                ((r.id, entry_of(r, decisions[r.id], self._rosters.digest)) for r in regs)))
            for item, reg in zip(items, regs, strict=True):
                decision = decisions[reg.id]
                if decision.kept:
                    continue
                note = Notes.UNDELIVERABLE if reg.id in released else self._note(reg, decision)
                changes: dict[str, Any] = {}
                if reg.listed_status != decision.status:
                    changes["Status"] = decision.status
                if reg.note != note:
                    changes["StatusNote"] = note
                if item.item_id in self._fresh or reg.listed_status != decision.status:
                    self._handoffs(item, reg, decision, due)  # (untouched items handed on before)
                if changes:
                    if "Status" in changes:
                        report.decided[decision.status] = report.decided.get(decision.status, 0) + 1
                    reg_updates.append(FieldUpdate(item.item_id, changes, item.etag))
                    self._decided[item.item_id] = item
            if mirrored is not None and session is not None:  # (composed as the meeting sync composes it)
                wanted = session_note(self.store.ledger, session_id, session, admin_note, session_id in
                                      self._session_problems and (session.end is None or session.end >= now))
                if (session.sync_note or None) != wanted:
                    session_updates.append(FieldUpdate(session_id, {"SyncNote": wanted or ""}, mirrored.etag))
        self._record(due, report)
        return reg_updates, session_updates

    # --- writing -----------------------------------------------------------------
    def _write(self, mirror: ListMirror, updates: list[FieldUpdate], report: SyncReport) -> tuple[set[str], set[str]]:
        """Write updates; returns (ids that conflicted and were re-read, ids that failed)."""
        decided = self._decided if mirror is self.registrations else None
        outcome = mirror.write(self.lists, updates, self.progress, decided)
        report.writes += outcome.written
        report.conflicts += outcome.conflicts
        report.failed_writes += len(outcome.failed)
        return outcome.conflicted, outcome.failed

    # --- the run ---------------------------------------------------------------
    def run(self, changes: dict[str, DeltaResult] | None = None) -> SyncReport:
        """One run; `changes` are the lists' deltas when the caller read them (with other lists, in one request)."""
        report = SyncReport()
        self._fresh, self._decided, self._changed_in = set(), {}, {}
        self._rosters.reset()
        self.sessions.reset()  # (what an earlier run on this instance held and did not finish)
        self.registrations.reset()
        if changes is None:
            changes = read_changes(self.lists, self.store, self.LISTS)
        sessions, registrations = changes["Sessions"], changes["Registrations"]
        for name in self.LISTS:
            report.full_read = report.full_read or changes[name].full
        # `full`: sessions decided in full; the others touched, from their rosters where they can be (a session's
        # own edit too: its roster is not used if the edit moves places, `rosters.fingerprint`)
        touched, deleted_sessions = self._apply_sessions(sessions, report)
        full = set(deleted_sessions)
        touched |= self._apply_registrations(registrations, report)
        registrations.changed.clear()  # (our own writes' echo, all apply() left): decided from the mirror now
        full |= set(sessions_to_decide(self.store.checkpoints))
        if sessions.full or registrations.full:
            full |= self.registrations.groups()
            full |= {i.item_id for i in self.sessions.items()}
        full |= self._cancel_requests()
        full |= self._mail_failures()
        touched |= full

        retry_later: set[str] = set()
        light: bool | None = None
        for round_ in range(MAX_CONFLICT_ROUNDS):
            with self.store.batch():  # the decisions' hand-offs: one transaction, not one each
                reg_updates, session_updates = self._decide(touched, deleted_sessions, report,
                                                            full if round_ == 0 else touched)
            if round_ == 0:
                light = self._relink(registrations, len(reg_updates))
            conflicted, failed = self._write(self.registrations, reg_updates, report)
            self._fresh |= conflicted  # read again: changed by someone meanwhile
            s_conflicted, s_failed = self._write(self.sessions, session_updates, report)
            report.session_notes += len(session_updates) - len(s_conflicted) - len(s_failed)
            retry_later |= {self._session_of(i) for i in failed} | s_failed
            if not conflicted and not s_conflicted:
                break
            touched = {self._session_of(i) for i in conflicted} | s_conflicted
        else:
            retry_later |= touched
        retry_later.discard("")
        set_sessions_to_decide(self.store.checkpoints, retry_later)
        for session_id in retry_later:
            self._rosters.keep(session_id, None)  # (decided in full next run, and made again)
        self._rosters.save()  # before the items they were decided from (see coprod.registrations.rosters)
        self.sessions.flush()  # acted on: now stored, and then the links that led to them
        self.registrations.flush()
        for entry in self._cancel_entries:
            settle(self.store.ledger, entry)
        save_link(self.store, "Sessions", sessions)
        save_link(self.store, "Registrations", registrations, light=light)
        return report

    def _relink(self, registrations: DeltaResult, writes: int) -> bool | None:
        """Before writing: the next run reads its pages without fields if this one writes more than a page
        holds (they will be mostly our writes coming back), with them otherwise (`relink`). Returns what the
        link now reads (True: without fields), or None if it is as it was."""
        light = writes > self.lists.page_size
        if light == reads_light(self.store, "Registrations"):
            return None
        return light if relink(self.lists, "Registrations", registrations, fields=not light) else None

    def _session_of(self, registration_id: str) -> str:
        item = self.registrations.get(registration_id)
        return item.group or "" if item else ""
