"""Campaigns: an Updates row with Ready, and its SendAt reached (or none), goes to every Subscribed subscriber
whose topics match (no topics on either side means everything), once each.

One outbox entry per subscriber, keyed by update and subscriber, so a campaign stopped half-way and run again
sends each once; the outbox drains it at the mailbox's rate, across runs. Status goes Scheduled -> Sending ->
Sent with SentCount (`settle`, after the outbox has sent what it could); Failed when SendAt is not a date, or
nothing could be sent. The body is Markdown (raw HTML shown as text, `javascript:` links refused); every update
carries its subscriber's own preferences and one-click unsubscribe links.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from config import Settings
from coprod import handoffs
from coprod.handoffs import ONE_CLICK_PAGE, PREFERENCES, UNSUBSCRIBE, Campaign, MailQueue, mail_keys
from coprod.links import Signer
from coprod.lists.mailing import Subscriber, Update, parse_subscriber, parse_update
from coprod.lists.mirror import ListMirror
from coprod.mailing.common import ListReport
from coprod.running import alone
from coprod.store import StateStore
from coprod.templates import UK, privacy_link, render_email
from graph_client import FieldUpdate, OutgoingMail, SharePointLists

__all__ = ["Campaigns", "markdown_as_text", "render_markdown"]



@cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    # "js-default": CommonMark with raw HTML off, so an update's HTML is shown as text, never run
    return MarkdownIt("js-default", {"linkify": False, "typographer": False})


def render_markdown(text: str) -> str:
    """An update's body as HTML: Markdown allowed, HTML escaped, javascript: links refused."""
    return str(_markdown().render(text))


def markdown_as_text(text: str) -> str:
    """An update's body for the email's plain-text part: what it says, without Markdown's marks (no `**`, no
    `[name](address)`: a link is its name and then its address in brackets); lists keep their `-` and numbers."""
    out: list[str] = []
    lists: list[list[int]] = []  # for each list open: [numbered, items so far]
    for token in _markdown().parse(text):
        kind = token.type
        if kind == "inline":
            out.append(_inline_text(token.children or []))
        elif kind in ("paragraph_close", "heading_close"):
            out.append("\n" if token.hidden else "\n\n")  # (a tight list's paragraphs are hidden)
        elif kind in ("bullet_list_open", "ordered_list_open"):
            lists.append([kind == "ordered_list_open", int(token.attrGet("start") or 1) - 1])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            out.append("" if lists else "\n")
        elif kind == "list_item_open":
            lists[-1][1] += 1
            out.append("  " * (len(lists) - 1) + (f"{lists[-1][1]}. " if lists[-1][0] else "- "))
        elif kind in ("fence", "code_block"):
            out.append(token.content + "\n")
        elif kind == "hr":
            out.append("----\n\n")
    return re.sub(r"\n{3,}", "\n\n", "".join(out)).strip()


def _inline_text(children: list[Any]) -> str:
    words: list[str] = []
    links: list[tuple[str, int]] = []  # each open link: its address, and where its words began
    for child in children:
        if child.type in ("text", "code_inline"):
            words.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            words.append("\n")
        elif child.type == "image":
            words.append(child.content or "")
        elif child.type == "link_open":
            links.append((str(child.attrGet("href") or ""), len(words)))
        elif child.type == "link_close" and links:
            href, began = links.pop()
            if href and "".join(words[began:]).strip() != href:
                words.append(f" ({href})")
    return "".join(words)


class Campaigns:
    def __init__(self, lists: SharePointLists, store: StateStore, outbox: MailQueue, signer: Signer,
                 settings: Settings, subscribers: ListMirror, updates: ListMirror, *,
                 clock: Callable[[], float] = time.time, progress: Callable[[str], None] | None = None) -> None:
        self.lists = lists
        self.store = store
        self.outbox = outbox
        self.signer = signer
        self.settings = settings
        self.subscribers = subscribers
        self.updates = updates
        self.clock = clock
        self.progress = progress or (lambda message: None)

    def run(self, report: ListReport) -> int:
        """Start the campaigns that are due and write each update's Status; returns the rows written."""
        updates = []
        for row in self.updates.items():
            wanted: dict[str, Any] = {"Status": "Failed"}  # (for its author to see, if it fails unforeseen)
            with alone("Mailing list: an update", report.failed_one):
                wanted = self._campaign(parse_update(row.item_id, row.fields), report)
            changes = {k: v for k, v in wanted.items() if row.fields.get(k) != v}
            if changes:
                updates.append(FieldUpdate(row.item_id, changes, row.etag))
        return self.updates.write(self.lists, updates, self.progress).written

    def _campaign(self, update: Update, report: ListReport) -> dict[str, Any]:
        if update.status in ("Sent", "Failed") or not update.ready:
            return {}
        if update.send_at_unreadable:
            return {"Status": "Failed"}  # SendAt is not a date: nothing sent until an admin fixes it
        now = datetime.fromtimestamp(self.clock(), UTC)
        if update.send_at is not None and update.send_at > now:
            return {"Status": "Scheduled"}
        if not Campaign.started_for(self.store.ledger, update.id):
            report.queued += self._fan_out(update)
            handoffs.put(self.store.ledger, Campaign(update.id, self.clock()))
            report.campaigns_started += 1
        return self.progress_of(update.id, report)

    def settle(self) -> int:
        """After the outbox has sent what it could: started campaigns' Status and SentCount, written back."""
        updates = []
        for row in self.updates.items():
            if not Campaign.started_for(self.store.ledger, row.item_id) or parse_update(
                    row.item_id, row.fields).status not in ("Sending", "Scheduled", ""):
                continue
            wanted = self.progress_of(row.item_id)
            changes = {k: v for k, v in wanted.items() if row.fields.get(k) != v}
            if changes:
                updates.append(FieldUpdate(row.item_id, changes, row.etag))
        return self.updates.write(self.lists, updates, self.progress).written

    def progress_of(self, update_id: str, report: ListReport | None = None) -> dict[str, Any]:
        """Status and SentCount of a started campaign, from its outbox entries."""
        tally = self.store.outbox.tally(mail_keys.campaign(update_id))
        sent, waiting = tally.get("sent", 0), tally.get("queued", 0) + tally.get("sending", 0)
        if waiting:
            return {"Status": "Sending", "SentCount": sent}
        if report is not None:
            report.campaigns_finished += 1
        return {"Status": "Failed" if tally.get("failed") and not sent else "Sent", "SentCount": sent}

    def _fan_out(self, update: Update) -> int:
        """One outbox entry per Subscribed subscriber whose topics match; returns how many were queued now."""
        wanted = set(update.topics)
        subject = update.title or f"News from {self.settings.programme_name}"
        body = update.body
        body_html, body_text = render_markdown(body), markdown_as_text(body)
        queued = 0
        for row in self.subscribers.items():
            subscriber = parse_subscriber(row.item_id, row.fields)
            address = subscriber.email
            topics = set(subscriber.topics)
            if subscriber.status != "Subscribed" or address is None:
                continue
            if wanted and topics and not wanted & topics:
                continue
            mail: OutgoingMail | None = None  # (this subscriber's copy alone, if it cannot be made; the rest go on)
            with alone("Mailing list: an update's copy for one subscriber"):
                mail = self._update_mail(mail_keys.update(update.id, subscriber.id), subscriber, address, subject,
                                         body_text, body_html, sorted(topics))
            if mail is not None:
                queued += self.outbox.enqueue(mail, "update", {"subscriber": subscriber.id})
        return queued

    def _update_mail(self, key: str, subscriber: Subscriber, address: str, subject: str, body: str, body_html: str,
                     topics: list[str]) -> OutgoingMail:
        who = f"{subscriber.id}:{self.signer.digest(address)}"
        public = self.settings.public_url
        unsubscribe_token = self.signer.make(UNSUBSCRIBE.purpose, who, UNSUBSCRIBE.lifetime.total_seconds())
        preferences_token = self.signer.make(PREFERENCES.purpose, who, PREFERENCES.lifetime.total_seconds())
        context = {"programme": self.settings.programme_name, "subject": subject, "body": body, "body_html": body_html,
                   "topics": ", ".join(topics), "since": _since(subscriber.confirmed_at),
                   "preferences_link": PREFERENCES.url(public, preferences_token),
                   "unsubscribe_link": UNSUBSCRIBE.url(public, unsubscribe_token)}
        text, html = render_email("update", privacy_url=privacy_link(public), **context)
        # RFC 8058: a mail client's one-click unsubscribe POSTs "List-Unsubscribe=One-Click" to the https URI
        headers = {"List-Unsubscribe": f"<{UNSUBSCRIBE.url(public, unsubscribe_token, ONE_CLICK_PAGE)}>, "
                                       f"<mailto:{self.settings.sender}?subject=unsubscribe>",
                   "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        return OutgoingMail(key=key, to=(address,), subject=subject, text=text, html=html, headers=headers)


def _since(moment: datetime | None) -> str:
    return f"{moment.astimezone(UK).day} {moment.astimezone(UK).strftime('%B %Y')}" if moment else ""


