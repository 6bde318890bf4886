"""Guest access: from a request (a registration's tick box, or an admin's row) to an invited guest in the group.

One run:
1. read what changed in GuestRequests (an admin's Decision, a new row);
2. turn the registration sync's hand-offs into GuestRequests rows, for the
   addresses not in the directory already (once per address);
3. decide every open row: a blocked domain is refused politely; an
   auto-approve domain is approved once the person confirms they own the
   address (a signed link, emailed); anyone else waits for an admin's
   Decision (Approved or Rejected), with a digest to the admins once a day;
4. grant what is approved (coprod/guests/grant.py: a directory lookup, one
   invitation ever per address, the guest group);
5. review the guests it added (coprod/guests/review.py: Keep or Remove,
   reminders for invitations not accepted);
6. write Status, UserId, ReviewBy and a plain note back, and save the delta link.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

from config import TEXT_LENGTH, Settings
from coprod import handoffs
from coprod.guests.grant import Granter, guest_name
from coprod.guests.review import GuestReview
from coprod.guests.rules import (
    FINAL,
    INVITE_LIMIT,
    WAITING_ADMIN,
    WAITING_CONFIRMATION,
    GuestNotes,
    GuestPolicy,
    GuestReport,
    Outcome,
)
from coprod.handoffs import GUEST_CONFIRM, GuestConfirmed, GuestRequestDue, MailQueue, RowGuard, mail_keys
from coprod.links import Signer
from coprod.lists.fields import as_text, normalise_email
from coprod.lists.mirror import ListMirror, read_changes, save_link
from coprod.lists.requests import GuestRequest, parse_guest_request
from coprod.running import alone
from coprod.store import LedgerEntry, StateStore
from coprod.templates import UK, privacy_link, render_email
from coprod.words import count
from graph_client import (
    DeltaResult,
    Directory,
    FieldUpdate,
    GraphError,
    OutgoingMail,
    SharePointLists,
)

__all__ = ["GuestAccess", "GuestNotes", "GuestPolicy", "GuestReport", "confirmation_subject"]

log = logging.getLogger("coprod.guests.access")
LIST = "GuestRequests"
RETRY_FAILED_AFTER = 3600.0  # a refused invitation is tried again after an hour (a permission may be fixed)
GROUP_LAG_LIMIT = 3600.0  # seconds a new guest may stay unknown to group membership before it is a failure


class GuestAccess:
    def __init__(self, lists: SharePointLists, directory: Directory, store: StateStore, outbox: MailQueue,
                 signer: Signer, settings: Settings, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, progress: Callable[[str], None] | None = None,
                 invite_limit: tuple[int, float] = INVITE_LIMIT) -> None:
        self.lists = lists
        self.directory = directory
        self.store = store
        self.outbox = outbox
        self.signer = signer
        self.settings = settings
        self.policy = GuestPolicy(auto_approve=settings.guest_auto_approve_domains,
                                  blocked=settings.guest_blocked_domains)
        self.clock = clock
        self.sleep = sleep
        self.progress = progress or (lambda message: None)
        self.mirror = ListMirror(store, LIST)
        self.granter = Granter(lists, directory, store, settings, clock=clock, sleep=sleep, invite_limit=invite_limit)
        self.review = GuestReview(directory, store, outbox, settings, clock=clock, site_url=self.granter.site_url)
        self._known: set[str] | None = None  # the rows' addresses, for this run's hand-offs (`_addresses`)

    # --- the run ---------------------------------------------------------------------
    def _set_aside(self, entry: LedgerEntry, error: Exception) -> None:
        """A registration's request for access that failed unforeseen: settled as failed, by the error's type."""
        handoffs.settle(self.store.ledger, entry, "failed", outcome=f"error ({type(error).__name__})")

    def run(self, changes: dict[str, DeltaResult] | None = None) -> GuestReport:
        report = GuestReport()
        delta = (changes or read_changes(self.lists, self.store, [LIST]))[LIST]
        applied = self.mirror.apply(delta)
        report.requests_read = applied.count
        self._known = None
        for entry, request in handoffs.pending(self.store.ledger, GuestRequestDue):
            with alone("Guest access: a request from a registration", partial(self._set_aside, entry)):
                self._handoff(entry, request, report)
        updates = []
        waiting_for_admin: list[GuestRequest] = []
        rows = sorted(self.mirror.items(), key=lambda r: (r.created, _number(r.item_id)))  # one reading, for
        # deciding and reviewing alike: another run may change a row meanwhile, and a row is written once a run
        read = [(row, parse_guest_request(row.item_id, row.created, row.fields)) for row in rows]
        for row, record in read:
            if record.status in FINAL:
                continue
            outcome = Outcome("Failed", GuestNotes.UNEXPECTED)  # (noted on this row if deciding it fails)
            with alone("Guest access: a request"):
                outcome = self._decide(record, report)
            self._count(outcome, report)
            if outcome is WAITING_ADMIN:
                waiting_for_admin.append(record)
            changes_ = {k: v for k, v in (("Status", outcome.status), ("StatusNote", outcome.note),
                                          ("UserId", outcome.user_id)) if v is not None and row.fields.get(k) != v}
            if changes_:
                updates.append(FieldUpdate(row.item_id, changes_, row.etag))
        reviewed, due_for_review = self.review.run(read, report)
        written = self.mirror.write(self.lists, updates + reviewed, self.progress)
        report.writes = written.written
        self._digest(waiting_for_admin, due_for_review, report)
        save_link(self.store, LIST, delta)
        return report

    @staticmethod
    def _count(outcome: Outcome, report: GuestReport) -> None:
        if outcome.status == "Rejected":
            report.rejected += 1
        elif outcome.status == "Failed":
            report.failed += 1
        elif outcome.waiting is not None:
            setattr(report, outcome.waiting, getattr(report, outcome.waiting) + 1)

    # --- hand-offs from the registration sync ------------------------------------------
    def _handoff(self, entry: LedgerEntry, request: GuestRequestDue, report: GuestReport) -> None:
        """A registration asked for site access: one GuestRequests row, unless they can sign in already."""
        address = normalise_email(request.email)
        if address is None:
            handoffs.settle(self.store.ledger, entry, outcome="unusable address")
            return
        if address in self._addresses():
            handoffs.settle(self.store.ledger, entry, outcome="request exists")
            return
        guard = RowGuard("guest-row", address, registration=request.registration)
        try:
            if self.granter.lookup(address):
                handoffs.settle(self.store.ledger, entry, outcome="in directory")
                report.already_in_directory += 1
                return
            if not guard.take(self.store.ledger, self.clock(), self.settings.recheck_seconds,
                              lambda row: self.mirror.get(row) is not None):
                return  # another run is adding it, or stopped while adding it: the next delta shows it
            item = self.lists.create_item(LIST, {
                "Title": as_text(request.name, TEXT_LENGTH) or address, "Email": address, "Decision": "Pending",
                "Reason": "Asked for access when registering for a session."}, label=LIST)
        except GraphError as error:
            log.warning("Could not add a guest request; it will be tried again next run: %s", error)
            return
        self.mirror.put([self.mirror.item(item)])
        self._addresses().add(address)
        handoffs.put(self.store.ledger, RowGuard("guest-row", address, row=item.id))
        handoffs.settle(self.store.ledger, entry, outcome="request added", row=item.id)
        report.rows_created += 1

    def _addresses(self) -> set[str]:
        """The usable addresses of the list's rows: read from the mirror at the run's first hand-off, then kept
        up to date as hand-offs add rows (each row is read once a run, however many registrations ask)."""
        if self._known is None:
            read = (parse_guest_request(row.item_id, row.created, row.fields) for row in self.mirror.items())
            self._known = {request.email for request in read if request.email is not None}
        return self._known

    # --- deciding one row ------------------------------------------------------------------
    def _decide(self, request: GuestRequest, report: GuestReport) -> Outcome:
        address = request.email
        if address is None:
            return Outcome("Failed", GuestNotes.for_address(request.email_problem, request.email_shown))
        verdict = self.policy.verdict(address)
        decision = request.decision
        if verdict == "blocked":
            return Outcome("Rejected", GuestNotes.BLOCKED.format(domain=address.rsplit("@", 1)[1]))
        if decision == "Rejected":
            return Outcome("Rejected", GuestNotes.REJECTED)
        if decision != "Approved" and not (verdict == "auto" and self._confirmed(request, address)):
            if verdict == "auto":
                report.confirmations_sent += self._ask_to_confirm(request, address)
                return WAITING_CONFIRMATION
            return WAITING_ADMIN
        return self.granter.grant(request, address, report)

    def _confirmed(self, request: GuestRequest, address: str) -> bool:
        entry = handoffs.get(self.store.ledger, GuestConfirmed(confirmation_subject(self.signer, request.id, address)))
        return entry is not None and entry.status == "done"

    def _ask_to_confirm(self, request: GuestRequest, address: str) -> int:
        """Email the confirmation link, once per row and address; returns 1 if queued now."""
        key = mail_keys.guest_confirm(request.id, self.signer.digest(address))
        if self.store.outbox.get(key) is not None:
            return 0
        token = self.signer.make(GUEST_CONFIRM.purpose, confirmation_subject(self.signer, request.id, address),
                                 GUEST_CONFIRM.lifetime.total_seconds())
        expires = datetime.fromtimestamp(self.clock(), UTC) + GUEST_CONFIRM.lifetime
        name = guest_name(self.store.ledger, request, address)
        text, html = render_email("guest_confirm", privacy_url=privacy_link(self.settings.public_url),
                                  name=name or "there", site_name=self.settings.site_name, expires=expires,
                                  link=GUEST_CONFIRM.url(self.settings.public_url, token))
        return int(self.outbox.enqueue(OutgoingMail(key=key, to=(address,), to_name=name or None, text=text, html=html,
                                                    subject="Please confirm your email address"), "guest-confirm"))

    def _shown_name(self, request: GuestRequest) -> str:
        """A row's name as the admins' digest quotes it: typed on a booking form, only once its address is
        confirmed (the digest must not carry a stranger's words to the admins either)."""
        address = request.email
        if address is not None and RowGuard("guest-row", address).made(self.store.ledger, request.id) and \
                not self._confirmed(request, address):
            return "(name not shown until they confirm their email address)"
        return request.name or "(no name)"

    # --- the admins' digest ------------------------------------------------------------------
    def _digest(self, waiting: list[GuestRequest], due: list[GuestRequest], report: GuestReport) -> None:
        """One email a day to COPROD_ADMIN_EMAIL while requests wait for a decision or guests for their review;
        none when nothing waits."""
        if not (waiting or due) or not self.settings.admin_email:
            return
        today = datetime.fromtimestamp(self.clock(), UK).date().isoformat()
        key = self.outbox.unused_key(mail_keys.guest_digest(today))
        if key is None:
            return
        try:
            list_url = self.store.checkpoints.get("url.GuestRequests")
            if not list_url:
                found = self.lists.find_list(LIST)
                list_url = found.web_url if found else None
        except GraphError as error:
            log.warning("The admins' digest waits for the next run: %s", error)
            return
        self.store.checkpoints.set("url.GuestRequests", list_url or "")
        requests = [{"name": self._shown_name(r), "email": r.email_shown, "organisation": r.organisation,
                     "reason": r.reason, "asked": _asked(r.created)} for r in waiting]
        kept = timedelta(days=self.settings.guest_review_days)
        reviews = [{"name": self._shown_name(r), "email": r.email_shown,
                    "added": _short_day(r.review_by - kept) if r.review_by else ""} for r in due]
        text, html = render_email("guest_digest", privacy_url=privacy_link(self.settings.public_url),
                                  requests=requests, reviews=reviews, list_url=list_url or "",
                                  site_name=self.settings.site_name)
        people = "person is" if len(waiting) == 1 else "people are"
        subject = (f"{len(waiting)} {people} waiting for access to the co-production site" if waiting else
                   f"{count(len(due), 'guest')} of the co-production site to review")
        report.digest_queued = self.outbox.enqueue(OutgoingMail(
            key=key, to=(self.settings.admin_email,), text=text, html=html, subject=subject), "guest-digest")


def confirmation_subject(signer: Signer, item_id: str, address: str) -> str:
    """Whom a guest confirmation link is about: the request's row and the address's keyed digest."""
    return f"{item_id}:{signer.digest(address)}"


def _number(item_id: str) -> int:
    return int(item_id) if item_id.isdigit() else 0


def _asked(created: str) -> str:
    try:
        return _short_day(datetime.fromisoformat(created))
    except ValueError:
        return ""


def _short_day(moment: datetime) -> str:
    return moment.astimezone(UK).strftime("%-d %b")
