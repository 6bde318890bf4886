"""What both halves of the mailing list share: their report."""

from __future__ import annotations

from dataclasses import dataclass

from coprod.words import count, summary

__all__ = ["ListReport"]


@dataclass
class ListReport:
    new_subscribers: int = 0
    confirmations_sent: int = 0
    subscribed: int = 0
    unsubscribed: int = 0
    bouncing: int = 0  # set Bouncing: their updates came back undelivered 3 times
    topics_changed: int = 0
    unusable: int = 0
    rejoin_asked: int = 0
    failed: int = 0  # rows or messages that met an error nobody foresaw (logged by type; the rest went on)
    campaigns_started: int = 0
    campaigns_finished: int = 0
    queued: int = 0
    writes: int = 0

    def failed_one(self, error: Exception) -> None:
        """A row or message set aside after an error nobody foresaw (`coprod.running.alone` logged it)."""
        self.failed += 1

    def line(self) -> str:
        return summary("Mailing list", (
            (self.new_subscribers, f"{count(self.new_subscribers, 'new subscriber')}"),
            (self.confirmations_sent, f"{count(self.confirmations_sent, 'confirmation request')} queued"),
            (self.subscribed, f"{self.subscribed} confirmed"),
            (self.unsubscribed, f"{self.unsubscribed} unsubscribed"),
            (self.bouncing, f"{count(self.bouncing, 'subscriber')} set to Bouncing (3 updates came back undelivered)"),
            (self.topics_changed, f"{count(self.topics_changed, 'subscriber')} changed their topics"),
            (self.unusable, f"{count(self.unusable, 'row')} with an unusable address"),
            (self.rejoin_asked, f"{count(self.rejoin_asked, 'person', 'people')} who had left asked if they want to "
                                "rejoin"),
            (self.failed, f"{count(self.failed, 'row')} skipped after an unexpected error (see the log)"),
            (self.campaigns_started, f"{count(self.campaigns_started, 'update')} started"),
            (self.queued, f"{count(self.queued, 'email')} queued for updates"),
            (self.campaigns_finished, f"{count(self.campaigns_finished, 'update')} finished")),
            otherwise="nothing new", updated=self.writes)
