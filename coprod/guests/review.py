"""The guest review: nobody the service let in keeps access for ever without someone deciding so.

Every GuestRequests row whose person the service put in the guest group (Status Invited or AlreadyMember):
- gets `ReviewBy`, COPROD_GUEST_REVIEW_DAYS (default 180) after they were added. From then, until an admin
  answers, it is listed in the admins' daily digest;
- `Review` = Keep: access stays, the answer is noted and `ReviewBy` moves on by as long again (Review is
  cleared, ready for the next time);
- `Review` = Remove: out of the guest group; if the service invited the account (Status Invited) and it is in
  no other group, the account is deleted too (with User.DeleteRestore.All: without it the account stays and
  the note says so). Status becomes Removed.
- An invitation (Status Invited) still not accepted `redeem_days` (30) after it was sent gets one reminder
  email (once: its outbox key), and `redeem_days` after the reminder, the same removal. The directory is
  asked at most once a day a row (`externalUserState`), and never again once accepted.

What the review keeps per row in the ledger (`guest-review:<row>`): when the person was added, whether and
when they were reminded, whether they accepted, the day last checked. No personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from config import Settings
from coprod.guests.grant import guest_name
from coprod.guests.rules import ADDED, REDEEM_DAYS, GuestNotes, GuestReport
from coprod.handoffs import Invitation, MailQueue, mail_keys, records
from coprod.lists.requests import GuestRequest
from coprod.permissions import explain
from coprod.store import LedgerEntry, MirrorItem, StateStore
from coprod.templates import UK, privacy_link, render_email
from coprod.words import count
from graph_client import Directory, FieldUpdate, GraphError, OutgoingMail

__all__ = ["GuestReview"]

log = logging.getLogger("coprod.guests.review")
DAY = 86_400.0


class GuestReview:
    def __init__(self, directory: Directory, store: StateStore, outbox: MailQueue, settings: Settings, *,
                 clock: Callable[[], float], site_url: Callable[[], str]) -> None:
        self.directory = directory
        self.store = store
        self.outbox = outbox
        self.settings = settings
        self.clock = clock
        self.site_url = site_url
        self._records: dict[str, LedgerEntry] = {}

    def run(self, rows: list[tuple[MirrorItem, GuestRequest]], report: GuestReport
            ) -> tuple[list[FieldUpdate], list[GuestRequest]]:
        """The rows' changes to write, and the requests due for review with no answer yet (for the digest)."""
        updates: list[FieldUpdate] = []
        due: list[GuestRequest] = []
        self._records = {e.key: e for e in self.store.ledger.list(kind="guest-review")}  # one query a run
        for row, request in rows:
            if request.status not in ADDED:
                continue
            try:
                changes = self._row(request, report, due)
            except GraphError as error:  # the directory failing: this row waits for the next run
                log.warning("Guest review: a row waits for the next run: %s", error)
                continue
            if changes:
                updates.append(FieldUpdate(row.item_id, changes, row.etag))
        return updates, due

    def _row(self, request: GuestRequest, report: GuestReport, due: list[GuestRequest]) -> dict[str, Any]:
        now = self.clock()
        record = self._record(request, now)
        review_by = request.review_by
        answer = request.review
        if answer == "Remove":
            report.removed += 1
            return self._remove(request, GuestNotes.AFTER_REVIEW)
        if answer == "Keep":
            report.kept += 1
            next_review = datetime.fromtimestamp(now, UTC) + timedelta(days=self.settings.guest_review_days)
            return {"Review": None, "ReviewBy": _iso(next_review),
                    "StatusNote": GuestNotes.KEPT.format(day=_day(now), next=_day(next_review.timestamp()))}
        if review_by is None:
            return {"ReviewBy": _iso(datetime.fromtimestamp(record["added"], UTC)
                                     + timedelta(days=self.settings.guest_review_days))}
        if review_by.timestamp() <= now:
            report.review_due += 1
            due.append(request)
        if request.status == "Invited" and not record.get("accepted"):
            return self._unaccepted(request, record, now, report)
        return {}

    def _record(self, request: GuestRequest, now: float) -> dict[str, Any]:
        """The row's review record, made the first time it is seen (added: when the invitation went, else now)."""
        key = records.guest_review(request.id)
        entry = self._records.get(key)
        if entry is not None:
            return dict(entry.payload)
        address = request.email
        invitation = Invitation.entry(self.store.ledger, address) if address else None
        added = invitation.updated if invitation is not None and invitation.status == "done" else now
        self.store.ledger.add(key, "guest-review", {"added": added}, "done")
        return {"added": added}

    def _save(self, request: GuestRequest, record: dict[str, Any]) -> None:
        self.store.ledger.put(records.guest_review(request.id), "guest-review", "done", record)

    def _unaccepted(self, request: GuestRequest, record: dict[str, Any], now: float, report: GuestReport
                    ) -> dict[str, Any]:
        """An invitation not accepted: a reminder after `redeem_days`, removal as long after the reminder."""
        wait = REDEEM_DAYS * DAY
        since = record.get("reminded") or record["added"]
        if now - since < wait or record.get("checked") == _day(now):
            return {}
        record["checked"] = _day(now)
        user_id = request.user_id
        state = self.directory.get_user(user_id, what="a guest").external_user_state if user_id else None
        if state == "Accepted" or not user_id:
            record["accepted"] = True
            self._save(request, record)
            return {}
        if record.get("reminded"):
            report.removed += 1
            self._save(request, record)
            return self._remove(request, GuestNotes.NOT_ACCEPTED.format(days=2 * REDEEM_DAYS))
        address = request.email
        if address is not None:
            name = guest_name(self.store.ledger, request, address)
            text, html = render_email("guest_reminder", privacy_url=privacy_link(self.settings.public_url),
                                      name=name or "there", site_name=self.settings.site_name, link=self.site_url(),
                                      days=REDEEM_DAYS)
            report.reminded += self.outbox.enqueue(OutgoingMail(
                key=mail_keys.guest_reminder(request.id), to=(address,), to_name=name, text=text, html=html,
                subject="Your invitation to the co-production site is waiting"), "guest-reminder")
        record["reminded"] = now
        self._save(request, record)
        return {"StatusNote": GuestNotes.REMINDED.format(day=_day(now))}

    def _remove(self, request: GuestRequest, why: str) -> dict[str, Any]:
        """Out of the guest group; the account deleted if the service invited it and it has no other group."""
        now = self.clock()
        user_id = request.user_id
        account = ""
        if user_id:
            group = self.settings.guest_group_id
            self.directory.remove_from_group(group, user_id)
            others = [g for g in self.directory.member_groups(user_id) if g != group]
            if request.status != "Invited":
                account = GuestNotes.ACCOUNT_KEPT.format(why="it was in the directory before the service added it")
            elif others:
                account = GuestNotes.ACCOUNT_KEPT.format(why=f"it is in {count(len(others), 'other group')}")
            else:
                try:
                    self.directory.delete_user(user_id)
                    account = GuestNotes.ACCOUNT_DELETED
                except GraphError as error:
                    refused = explain("delete-guests", error)
                    if refused is None:
                        raise
                    account = GuestNotes.ACCOUNT_KEPT.format(
                        why="the app may not delete accounts: an admin can delete it in the Entra admin centre")
        return {"Status": "Removed", "StatusNote": GuestNotes.REMOVED.format(day=_day(now), why=why, account=account)}


def _day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UK).strftime("%-d %B %Y")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
