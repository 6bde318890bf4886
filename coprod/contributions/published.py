"""The Contributions list's changes, each run: mirrored, and "your contribution has been published" sent once.

The run reads the list's changes with the others (one `$batch` for them all). What people wrote is mirrored in
the state store as it is, so the "what we've heard" page (coprod/pages/heard.py) shows what an officer published
without asking Graph, and stops showing it on the first run after they hide or delete it. The service never
writes to this list but to add an item (the contribution page).

Someone who left an address hears once that their contribution is public: the email's outbox key is the item's
(`mail_keys.contribution_published`), so publishing it again, a rerun or a crash sends nothing more. The email
quotes nothing anyone typed (the address was typed on a public form, by whoever wrote), only the theme and where
to read it. A site provisioned before the list existed reads on without it, and this line says how to add it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config import Settings
from coprod.handoffs import MailQueue, mail_keys
from coprod.lists.contributions import LIST, parse_contribution
from coprod.lists.mirror import ListMirror, save_link
from coprod.running import alone
from coprod.store import StateStore
from coprod.templates import heard_link, privacy_link, render_email
from coprod.words import count
from graph_client import DeltaResult, OutgoingMail

__all__ = ["PublishedContributions", "PublishedReport"]

SUBJECT = "What you told us is now on our “What we've heard” page"
MISSING = ("Contributions: the list isn't on the site yet, so nobody's contributions can be saved. "
           "Run `python -m coprod provision` to add it.")


@dataclass
class PublishedReport:
    new: int = 0  # contributions new to the service
    changed: int = 0  # others an officer changed (published, hidden, ...) or deleted
    told: int = 0  # "published" emails queued
    failed: int = 0
    missing: bool = False

    def line(self) -> str | None:
        if self.missing:
            return MISSING
        if not self.new and not self.changed:
            return None
        parts = [f"{self.new} new" if self.new else "", f"{self.changed} changed" if self.changed else ""]
        parts = [", ".join(p for p in parts if p)]
        if self.told:
            parts.append(f"{count(self.told, 'person', 'people')} told their contribution is published")
        if self.failed:
            parts.append(f"{count(self.failed, 'email')} could not be prepared")
        return "Contributions: " + "; ".join(parts) + "."


class PublishedContributions:
    def __init__(self, store: StateStore, outbox: MailQueue, settings: Settings) -> None:
        self.store = store
        self.outbox = outbox
        self.settings = settings
        # staged: held until the emails are queued, so a run that dies between the two reads the change again
        self.mirror = ListMirror(store, LIST, staged=True)

    def run(self, changes: dict[str, DeltaResult]) -> PublishedReport:
        report = PublishedReport()
        delta = changes.get(LIST)
        if delta is None or delta.missing:
            report.missing = delta is not None
            return report
        applied = self.mirror.apply(delta)
        report.new = sum(before is None for before, _ in applied.changed)
        report.changed = applied.count - report.new
        for _, item in applied.changed:
            contribution = parse_contribution(item.item_id, item.created, item.fields)
            if not contribution.published or contribution.email is None:
                continue
            with alone("Contributions: a published email", lambda error: self._failed(report)):
                report.told += self._tell(contribution.id, contribution.email, contribution.theme)
        self.mirror.flush()
        save_link(self.store, LIST, delta)
        return report

    @staticmethod
    def _failed(report: PublishedReport) -> None:
        report.failed += 1

    def _tell(self, contribution: str, address: str, theme: str) -> bool:
        public = self.settings.public_url.rstrip("/")
        values: dict[str, Any] = {"programme": self.settings.programme_name, "theme": theme,
                                  "heard_url": heard_link(public),
                                  "privacy_url": privacy_link(self.settings.public_url)}
        text, html = render_email("contribution_published", **values)
        mail = OutgoingMail(key=mail_keys.contribution_published(contribution), to=(address,), subject=SUBJECT,
                            text=text, html=html)
        return self.outbox.enqueue(mail, "contribution-published")
