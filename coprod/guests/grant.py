"""Granting an approved guest request: a directory lookup, one invitation ever per address, the guest group.

Look the address up (mail, otherMails, the guest UPN form): found means
AlreadyMember, else an invitation; then membership of the guest group
("already a member" is fine).

An invitation happens once per address: the ledger key `invite:<address>`
is written `sending` before `POST /invitations` and `done` after. A run that
dies between the two leaves `sending`; the next run finds the invited user
in the directory and carries on, rather than inviting again. At most
COPROD_MAX_INVITES_PER_RUN invitations go in a run, and never more than the
invitations API's 150 per 5 seconds; the rest wait for the next run.

A 403 (a missing permission, or a tenant whose guest invite settings let
nobody invite) is the tenant's, not the row's: the first one met stops that
kind of call for the rest of the run, the rows say they wait for a setting
on our side, and the run's summary names what is missing. A new guest the
directory does not show to the group yet (Entra's replicas catch up within
minutes: 404) waits as AwaitingDecision, "access follows within minutes",
and is added on a later run; only after GROUP_LAG_LIMIT is it a failure.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from config import Settings
from coprod import handoffs
from coprod.guests.rules import INVITE_LIMIT, QUEUED, WAITING_PERMISSION, GuestNotes, GuestReport, Outcome
from coprod.handoffs import Invitation, RowGuard
from coprod.lists.fields import greeting_name
from coprod.lists.requests import GuestRequest
from coprod.permissions import explain
from coprod.store import LedgerEntry, LedgerPart, StateStore
from graph_client import (
    BadRequestError,
    Directory,
    ForbiddenError,
    GraphError,
    GraphResponseError,
    NotFoundError,
    SharePointLists,
    ThrottledError,
    User,
)

__all__ = ["GROUP_LAG_LIMIT", "RETRY_FAILED_AFTER", "Granter"]

log = logging.getLogger("coprod.guests.grant")
RETRY_FAILED_AFTER = 3600.0  # a refused invitation is tried again after an hour (a permission may be fixed)
GROUP_LAG_LIMIT = 3600.0  # seconds a new guest may stay unknown to group membership before it is a failure



def guest_name(ledger: LedgerPart, request: GuestRequest, address: str) -> str:
    """The name to write to a guest by (an email, the invitation): as an admin typed it into the list, or, for a
    row the service made from a booking (typed by whoever booked, for an address nobody has proved is theirs),
    no more than a first name, so the tenant never carries a stranger's words to an inbox ('' for none)."""
    if RowGuard("guest-row", address).made(ledger, request.id):
        return greeting_name(request.name)
    return request.name

class Granter:
    """One run's granting: it counts the run's invitations and paces them."""

    def __init__(self, lists: SharePointLists, directory: Directory, store: StateStore, settings: Settings, *,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 invite_limit: tuple[int, float] = INVITE_LIMIT) -> None:
        self.lists = lists
        self.directory = directory
        self.store = store
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.invite_limit = invite_limit  # (invitations, per this many seconds)
        self._invites_left = settings.max_invites_per_run
        self._invite_times: deque[float] = deque()
        self._site_url: str | None = None

    def lookup(self, address: str) -> User | None:
        """Who in the directory has this address (a member first, then a guest)."""
        found = self.directory.find_by_address(address)
        return min(found, key=lambda u: u.user_type != "Member") if found else None

    def grant(self, request: GuestRequest, address: str, report: GuestReport) -> Outcome:
        """Give an approved request access: look the address up, invite it once if need be, add it to the group."""
        seen = Invitation.entry(self.store.ledger, address)
        status, before = (seen.status, Invitation.read(seen)) if seen is not None else (None, None)
        since = self.clock() - (seen.updated if seen is not None else 0.0)
        try:
            if before is not None and status == "done":
                user_id, how = str(before.user), str(before.how)
            elif before is not None and status == "failed" and since < RETRY_FAILED_AFTER:
                return Outcome("Failed", GuestNotes.INVITE_FAILED.format(reason=before.error or ""))
            else:
                user = self._checked_lookup(address, report)
                if user is not None:
                    # found: someone already had an account, or our invitation went before a run stopped
                    how = "invited" if status == "sending" else "member"
                    user_id = user.id
                elif status == "sending" and since < self.settings.recheck_seconds:
                    return QUEUED  # the directory may not show it yet
                else:
                    if self._invites_left <= 0:
                        return QUEUED
                    self._may("invite", report)
                    user_id, how = self._invite(request, address, seen, report), "invited"
                handoffs.put(self.store.ledger, Invitation(address, request.id, user=user_id, how=how))
                if how == "invited":
                    report.invited += 1
                else:
                    report.already_members += 1
        except _Unsure:
            return QUEUED
        except _Refused:
            return WAITING_PERMISSION
        except GraphResponseError as error:
            return Outcome("Failed", GuestNotes.INVITE_FAILED.format(reason=_reason(error)))
        except GraphError as error:  # Graph unreachable: nothing happened, try next run
            log.warning("Guest access: %s", error)
            return QUEUED
        try:
            self._may("group", report)
            self.directory.add_to_group(self.settings.guest_group_id, user_id)
        except _Refused:
            return Outcome("Failed", GuestNotes.GROUP_FAILED.format(reason="a permission is missing"), user_id)
        except GraphError as error:
            if _not_replicated(error) and self._invited_lately(address):
                return Outcome("AwaitingDecision", GuestNotes.ACCESS_SOON, user_id, waiting="access_pending")
            if self._refused("group", error, report):
                return Outcome("Failed", GuestNotes.GROUP_FAILED.format(reason="a permission is missing"), user_id)
            return Outcome("Failed", GuestNotes.GROUP_FAILED.format(reason=_reason(error)), user_id)
        return Outcome("Invited" if how == "invited" else "AlreadyMember",
                       GuestNotes.INVITED if how == "invited" else GuestNotes.ALREADY_MEMBER, user_id)

    def _may(self, step: str, report: GuestReport) -> None:
        """Refused once this run, refused for every row: no request is spent finding it out again."""
        if step in report.blocked:
            raise _Refused()

    @staticmethod
    def _refused(step: str, error: GraphError, report: GuestReport) -> bool:
        """Whether `error` is the tenant refusing `step` (403); if so the run's summary will say what is missing."""
        words = explain(step, error)
        if words is None:
            return False
        log.warning("Guest access: %s", error)
        report.blocked[step] = words
        return True

    def _checked_lookup(self, address: str, report: GuestReport) -> User | None:
        self._may("users", report)
        try:
            return self.lookup(address)
        except GraphError as error:
            if self._refused("users", error, report):
                raise _Refused() from None
            raise

    def _invited_lately(self, address: str) -> bool:
        """Whether our invitation of `address` is recent enough that the directory may not show it everywhere yet."""
        entry = Invitation.entry(self.store.ledger, address)
        return entry is not None and self.clock() - entry.updated < GROUP_LAG_LIMIT

    def _invite(self, request: GuestRequest, address: str, seen: LedgerEntry | None, report: GuestReport) -> str:
        """Invite, once: the ledger entry is claimed `sending` first (as it was seen: absent, or a try that
        stopped), so of two runners that get here at once only one sends the invitation."""
        self._pace()
        if not handoffs.claim(self.store.ledger, Invitation(address, request.id), seen):
            raise _Unsure()  # another run is inviting them now
        name = guest_name(self.store.ledger, request, address) or address
        message = (f"Hello {name}. You asked for access to {self.settings.site_name}. Accept this invitation to get "
                   "in. If you didn't ask for this, you can ignore this email.")
        self._invites_left -= 1
        try:
            invitation = self.directory.invite(address, name, self.site_url(), message)
            self._invite_times.append(self.clock())  # timed at the answer: later than Graph counted it
        except ThrottledError:
            # refused, so not sent: a later run tries again
            handoffs.put(self.store.ledger, Invitation(address, request.id), "throttled")
            raise _Unsure() from None
        except ForbiddenError as error:  # the tenant's refusal, not this address's: nothing sent, tried next run
            handoffs.put(self.store.ledger, Invitation(address, request.id), "throttled")
            self._invites_left += 1
            if self._refused("invite", error, report):
                raise _Refused() from None
            raise
        except GraphResponseError as error:
            if error.status >= 500:
                raise _Unsure() from None  # it may have gone: stays `sending`, settled by a lookup next run
            handoffs.put(self.store.ledger, Invitation(address, request.id, error=_reason(error)), "failed")
            raise
        except GraphError:
            raise _Unsure() from None
        return invitation.invited_user.id

    def _pace(self) -> None:
        """Stay under the invitations API's 150 requests per 5 seconds (Graph would answer 429)."""
        limit, window = self.invite_limit
        now = self.clock()
        while self._invite_times and self._invite_times[0] <= now - window:
            self._invite_times.popleft()
        if len(self._invite_times) >= limit:
            self.sleep(self._invite_times[-limit] + window - now)
            self._invite_times.popleft()

    def site_url(self) -> str:
        if self._site_url is None:
            self._site_url = self.store.checkpoints.get("url.site") or self.lists.site().web_url or ""
            self.store.checkpoints.set("url.site", self._site_url)
        return self._site_url


class _Unsure(Exception):
    """An invitation whose fate is unknown (or that was refused for now): decided on a later run."""


class _Refused(Exception):
    """The tenant refuses a step (403): the row waits for the permission or setting, named in the summary."""


def _not_replicated(error: GraphError) -> bool:
    """Entra's answer while a new object has not reached every replica: 404 Request_ResourceNotFound, or
    (group-post-members, beta reference) 400 "...do not exist"."""
    if isinstance(error, NotFoundError):
        return True
    return isinstance(error, BadRequestError) and "do not exist" in error.message


def _reason(error: GraphError) -> str:
    """Short enough for a list note; enough for the team to search for."""
    if isinstance(error, GraphResponseError):
        return f"Microsoft answered {error.status} {error.code or ''}".strip()
    return "Microsoft could not be reached"
