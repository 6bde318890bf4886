"""Guest access: from a request (a registration's tick box, or an admin's row) to an invited guest in the group.

One run:
1. read what changed in GuestRequests (an admin's Decision, a new row);
2. turn the registration sync's hand-offs into GuestRequests rows, for the
   addresses not in the directory already (once per address);
3. decide every open row: a blocked domain is refused politely; an
   auto-approve domain is approved once the person confirms they own the
   address (a signed link, emailed); anyone else waits for an admin's
   Decision (Approved or Rejected), with a digest to the admins once a day;
4. grant what is approved: look the address up in the directory (mail,
   otherMails, the guest UPN form); found means AlreadyMember, else an
   invitation; then membership of the guest group ("already a member" is fine);
5. write Status, UserId and a plain note back, and save the delta link.

An invitation happens once per address: the ledger key `invite:<address>`
is written `sending` before `POST /invitations` and `done` after. A run that
dies between the two leaves `sending`; the next run finds the invited user
in the directory and carries on, rather than inviting again. At most
COPROD_MAX_INVITES_PER_RUN invitations go in a run, and never more than the
invitations API's 150 per 5 seconds; the rest wait for the next run.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from coprod import handoffs
from coprod.guests.rules import (
    FINAL,
    QUEUED,
    WAITING_ADMIN,
    WAITING_CONFIRMATION,
    GuestNotes,
    GuestPolicy,
    Outcome,
)
from coprod.handoffs import GUEST_CONFIRM, GuestConfirmed, GuestRequestDue, Invitation, RowGuard, mail_keys
from coprod.links import Signer
from coprod.lists.fields import as_text, check_email, normalise_email
from coprod.lists.mirror import ListMirror, read_changes, save_link
from coprod.mail.outbox import Outbox
from coprod.store import LedgerEntry, MirrorItem, StateStore
from coprod.templates import UK, render_email
from coprod.words import count, summary
from graph_client import (
    DeltaResult,
    Directory,
    FieldUpdate,
    GraphError,
    GraphResponseError,
    OutgoingMail,
    SharePointLists,
    ThrottledError,
    User,
)

__all__ = ["GuestAccess", "GuestConfig", "GuestNotes", "GuestPolicy", "GuestReport", "confirmation_subject"]

log = logging.getLogger("coprod.guests.access")
LIST = "GuestRequests"
RETRY_FAILED_AFTER = 3600.0  # a refused invitation is tried again after an hour (a permission may be fixed)


@dataclass(frozen=True)
class GuestConfig:
    group_id: str
    public_url: str  # where the pages are: links in emails point at {public_url}/api/pages/...
    policy: GuestPolicy = field(default_factory=GuestPolicy)
    max_invites: int = 50
    invites_per_window: int = 150  # the invitations API's own limit, per tenant ...
    invite_window: float = 5.0  # ... per this many seconds
    admin_email: str | None = None
    recheck_after: float = 300.0  # seconds before an unfinished invitation is checked against the directory
    site_name: str = "the co-production programme's SharePoint site"


@dataclass
class GuestReport:
    requests_read: int = 0
    rows_created: int = 0
    already_in_directory: int = 0  # registrations asking for access who can sign in already: no row needed
    invited: int = 0
    already_members: int = 0
    rejected: int = 0
    awaiting_admin: int = 0
    awaiting_confirmation: int = 0
    deferred: int = 0  # approved, left for the next run by the per-run cap
    failed: int = 0
    confirmations_sent: int = 0
    digest_queued: bool = False
    writes: int = 0

    def line(self) -> str:
        return summary("Guest access", (
            (self.rows_created, f"{count(self.rows_created, 'new request')} from registrations"),
            (self.invited, f"{self.invited} invited"),
            (self.already_members, f"{self.already_members} already had an account and got access"),
            (self.already_in_directory,
             f"{count(self.already_in_directory, 'registration')} needed no request (already in the directory)"),
            (self.rejected, f"{self.rejected} refused"),
            (self.awaiting_admin, f"{self.awaiting_admin} waiting for an admin"),
            (self.awaiting_confirmation,
             f"{self.awaiting_confirmation} waiting for the person to confirm their address"),
            (self.deferred, f"{self.deferred} approved and queued for the next run (invitation cap)"),
            (self.failed, f"{self.failed} failed (see the list's notes)"),
            (self.digest_queued, "the admins' daily digest queued")),
            otherwise="nothing waiting", updated=self.writes)


class GuestAccess:
    def __init__(self, lists: SharePointLists, directory: Directory, store: StateStore, outbox: Outbox,
                 signer: Signer, config: GuestConfig, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, progress: Callable[[str], None] | None = None) -> None:
        self.lists = lists
        self.directory = directory
        self.store = store
        self.outbox = outbox
        self.signer = signer
        self.config = config
        self.clock = clock
        self.sleep = sleep
        self.progress = progress or (lambda message: None)
        self.mirror = ListMirror(store, LIST)
        self._invites_left = config.max_invites
        self._invite_times: deque[float] = deque()
        self._site_url: str | None = None

    # --- the run ---------------------------------------------------------------------
    def run(self, changes: dict[str, DeltaResult] | None = None) -> GuestReport:
        report = GuestReport()
        delta = (changes or read_changes(self.lists, self.store, [LIST]))[LIST]
        applied = self.mirror.apply(delta)
        report.requests_read = applied.count
        for entry, request in handoffs.pending(self.store, GuestRequestDue):
            try:
                self._handoff(entry, request, report)
            except Exception as error:  # this request alone is set aside (and logged by type); the rest go on
                log.warning("Guest access: a request from a registration was set aside (%s)", type(error).__name__)
                handoffs.settle(self.store, entry, "failed", outcome=f"error ({type(error).__name__})")
        updates = []
        waiting_for_admin: list[MirrorItem] = []
        for row in sorted(self.mirror.items(), key=lambda r: (r.created, _number(r.item_id))):
            if row.fields.get("Status") in FINAL:
                continue
            try:
                outcome = self._decide(row, report)
            except Exception as error:  # noted on this row; the other requests go on
                log.warning("Guest access: a request met an unexpected error (%s)", type(error).__name__)
                outcome = Outcome("Failed", GuestNotes.UNEXPECTED)
            self._count(outcome, report)
            if outcome is WAITING_ADMIN:
                waiting_for_admin.append(row)
            changes_ = {k: v for k, v in (("Status", outcome.status), ("StatusNote", outcome.note),
                                          ("UserId", outcome.user_id)) if v is not None and row.fields.get(k) != v}
            if changes_:
                updates.append(FieldUpdate(row.item_id, changes_, row.etag))
        written = self.mirror.write(self.lists, updates, self.progress)
        report.writes = written.written
        self._digest(waiting_for_admin, report)
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
            handoffs.settle(self.store, entry, outcome="unusable address")
            return
        if self._row_for(address) is not None:
            handoffs.settle(self.store, entry, outcome="request exists")
            return
        guard = RowGuard("guest-row", address, registration=request.registration)
        try:
            if self._lookup(address):
                handoffs.settle(self.store, entry, outcome="in directory")
                report.already_in_directory += 1
                return
            if not guard.take(self.store, self.clock(), self.config.recheck_after):
                return  # another run is adding it, or stopped while adding it: the next delta shows it
            item = self.lists.create_item(LIST, {
                "Title": as_text(request.name, 255) or address, "Email": address, "Decision": "Pending",
                "Reason": "Asked for access when registering for a session."}, label=LIST)
        except GraphError as error:
            log.warning("Could not add a guest request; it will be tried again next run: %s", error)
            return
        self.mirror.put([self.mirror.item(item)])
        handoffs.put(self.store, RowGuard("guest-row", address, row=item.id))
        handoffs.settle(self.store, entry, outcome="request added", row=item.id)
        report.rows_created += 1

    def _row_for(self, address: str) -> MirrorItem | None:
        return next((row for row in self.mirror.items() if normalise_email(row.fields.get("Email")) == address), None)

    # --- deciding one row ------------------------------------------------------------------
    def _decide(self, row: MirrorItem, report: GuestReport) -> Outcome:
        fields = row.fields
        email = check_email(fields.get("Email"))
        address = email.address
        if address is None:
            return Outcome("Failed", GuestNotes.for_address(email.problem, email.shown))
        verdict = self.config.policy.verdict(address)
        decision = as_text(fields.get("Decision"), 40)
        if verdict == "blocked":
            return Outcome("Rejected", GuestNotes.BLOCKED.format(domain=address.rsplit("@", 1)[1]))
        if decision == "Rejected":
            return Outcome("Rejected", GuestNotes.REJECTED)
        if decision != "Approved" and not (verdict == "auto" and self._confirmed(row, address)):
            if verdict == "auto":
                report.confirmations_sent += self._ask_to_confirm(row, address)
                return WAITING_CONFIRMATION
            return WAITING_ADMIN
        return self._grant(row, address, report)

    def _confirmed(self, row: MirrorItem, address: str) -> bool:
        entry = handoffs.get(self.store, GuestConfirmed(confirmation_subject(self.signer, row.item_id, address)))
        return entry is not None and entry.status == "done"

    def _ask_to_confirm(self, row: MirrorItem, address: str) -> int:
        """Email the confirmation link, once per row and address; returns 1 if queued now."""
        key = mail_keys.guest_confirm(row.item_id, self.signer.digest(address))
        if self.store.outbox_get(key) is not None:
            return 0
        token = self.signer.make(GUEST_CONFIRM.purpose, confirmation_subject(self.signer, row.item_id, address),
                                 GUEST_CONFIRM.lifetime.total_seconds())
        expires = datetime.fromtimestamp(self.clock(), UTC) + GUEST_CONFIRM.lifetime
        name = as_text(row.fields.get("Title"), 80) or "there"
        text, html = render_email("guest_confirm", name=name, site_name=self.config.site_name, expires=expires,
                                  link=GUEST_CONFIRM.url(self.config.public_url, token))
        return int(self.outbox.enqueue(OutgoingMail(key=key, to=(address,), to_name=name, text=text, html=html,
                                                    subject="Please confirm your email address"), "guest-confirm"))

    # --- granting access ----------------------------------------------------------------------
    def _lookup(self, address: str) -> User | None:
        """Who in the directory has this address (a member first, then a guest)."""
        found = self.directory.find_by_address(address)
        return min(found, key=lambda u: u.user_type != "Member") if found else None

    def _grant(self, row: MirrorItem, address: str, report: GuestReport) -> Outcome:
        seen = Invitation.entry(self.store, address)
        status, before = (seen.status, Invitation.read(seen)) if seen is not None else (None, None)
        since = self.clock() - (seen.updated if seen is not None else 0.0)
        try:
            if before is not None and status == "done":
                user_id, how = str(before.user), str(before.how)
            elif before is not None and status == "failed" and since < RETRY_FAILED_AFTER:
                return Outcome("Failed", GuestNotes.INVITE_FAILED.format(reason=before.error or ""))
            else:
                user = self._lookup(address)
                if user is not None:
                    # found: someone already had an account, or our invitation went before a run stopped
                    how = "invited" if status == "sending" else "member"
                    user_id = user.id
                elif status == "sending" and since < self.config.recheck_after:
                    return QUEUED  # the directory may not show it yet
                else:
                    if self._invites_left <= 0:
                        return QUEUED
                    user_id, how = self._invite(row, address, seen), "invited"
                handoffs.put(self.store, Invitation(address, row.item_id, user=user_id, how=how))
                if how == "invited":
                    report.invited += 1
                else:
                    report.already_members += 1
        except _Unsure:
            return QUEUED
        except GraphResponseError as error:
            return Outcome("Failed", GuestNotes.INVITE_FAILED.format(reason=_reason(error)))
        except GraphError as error:  # Graph unreachable: nothing happened, try next run
            log.warning("Guest access: %s", error)
            return QUEUED
        try:
            self.directory.add_to_group(self.config.group_id, user_id)
        except GraphError as error:
            return Outcome("Failed", GuestNotes.GROUP_FAILED.format(reason=_reason(error)), user_id)
        return Outcome("Invited" if how == "invited" else "AlreadyMember",
                       GuestNotes.INVITED if how == "invited" else GuestNotes.ALREADY_MEMBER, user_id)

    def _invite(self, row: MirrorItem, address: str, seen: LedgerEntry | None) -> str:
        """Invite, once: the ledger entry is claimed `sending` first (as it was seen: absent, or a try that
        stopped), so of two runners that get here at once only one sends the invitation."""
        self._pace()
        if not handoffs.claim(self.store, Invitation(address, row.item_id), seen):
            raise _Unsure()  # another run is inviting them now
        name = as_text(row.fields.get("Title"), 255) or address
        message = (f"Hello {name}. You asked for access to {self.config.site_name}. Accept this invitation to get in. "
                   "If you didn't ask for this, you can ignore this email.")
        self._invites_left -= 1
        try:
            invitation = self.directory.invite(address, name, self._redirect_url(), message)
            self._invite_times.append(self.clock())  # timed at the answer: later than Graph counted it
        except ThrottledError:
            # refused, so not sent: a later run tries again
            handoffs.put(self.store, Invitation(address, row.item_id), "throttled")
            raise _Unsure() from None
        except GraphResponseError as error:
            if error.status >= 500:
                raise _Unsure() from None  # it may have gone: stays `sending`, settled by a lookup next run
            handoffs.put(self.store, Invitation(address, row.item_id, error=_reason(error)), "failed")
            raise
        except GraphError:
            raise _Unsure() from None
        return invitation.invited_user.id

    def _pace(self) -> None:
        """Stay under the invitations API's 150 requests per 5 seconds (Graph would answer 429)."""
        window, limit = self.config.invite_window, self.config.invites_per_window
        now = self.clock()
        while self._invite_times and self._invite_times[0] <= now - window:
            self._invite_times.popleft()
        if len(self._invite_times) >= limit:
            self.sleep(self._invite_times[-limit] + window - now)
            self._invite_times.popleft()

    def _redirect_url(self) -> str:
        if self._site_url is None:
            self._site_url = self.store.get_checkpoint("url.site") or self.lists.site().web_url or ""
            self.store.set_checkpoint("url.site", self._site_url)
        return self._site_url

    # --- the admins' digest ------------------------------------------------------------------
    def _digest(self, waiting: list[MirrorItem], report: GuestReport) -> None:
        """One email a day to COPROD_ADMIN_EMAIL while requests wait for a decision; none when nothing waits."""
        if not waiting or not self.config.admin_email:
            return
        today = datetime.fromtimestamp(self.clock(), UK).date().isoformat()
        key = mail_keys.guest_digest(today)
        if self.store.outbox_get(key) is not None:
            return
        try:
            list_url = self.store.get_checkpoint("url.GuestRequests")
            if not list_url:
                found = self.lists.find_list(LIST)
                list_url = found.web_url if found else None
        except GraphError as error:
            log.warning("The admins' digest waits for the next run: %s", error)
            return
        self.store.set_checkpoint("url.GuestRequests", list_url or "")
        requests = [{"name": as_text(r.fields.get("Title"), 80) or "(no name)",
                     "email": as_text(r.fields.get("Email"), 120),
                     "organisation": as_text(r.fields.get("Organisation")),
                     "reason": as_text(r.fields.get("Reason"), 300), "asked": _asked(r.created)} for r in waiting]
        text, html = render_email("guest_digest", requests=requests, list_url=list_url or "",
                                  site_name=self.config.site_name)
        people = "person is" if len(waiting) == 1 else "people are"
        report.digest_queued = self.outbox.enqueue(OutgoingMail(
            key=key, to=(self.config.admin_email,), text=text, html=html,
            subject=f"{len(waiting)} {people} waiting for access to the co-production site"), "guest-digest")


class _Unsure(Exception):
    """An invitation whose fate is unknown (or that was refused for now): decided on a later run."""


def confirmation_subject(signer: Signer, item_id: str, address: str) -> str:
    """Whom a guest confirmation link is about: the request's row and the address's keyed digest."""
    return f"{item_id}:{signer.digest(address)}"


def _number(item_id: str) -> int:
    return int(item_id) if item_id.isdigit() else 0


def _reason(error: GraphError) -> str:
    """Short enough for a list note; enough for the team to search for."""
    if isinstance(error, GraphResponseError):
        return f"Microsoft answered {error.status} {error.code or ''}".strip()
    return "Microsoft could not be reached"


def _asked(created: str) -> str:
    try:
        return datetime.fromisoformat(created).astimezone(UK).strftime("%-d %b")
    except ValueError:
        return ""
