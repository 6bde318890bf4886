"""Signed links: each one's purpose, lifetime and page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

PAGES = "/api/pages"  # where the public pages are, under COPROD_PUBLIC_URL: links in emails point here


# --- links -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinkKind:
    """A signed link's purpose (a token for one purpose is refused for another), its life and its page."""

    purpose: str
    lifetime: timedelta
    page: str

    def url(self, public_url: str, token: str, page: str | None = None) -> str:
        return f"{public_url}{PAGES}/{page or self.page}?t={token}"


GUEST_CONFIRM = LinkKind("guest-confirm", timedelta(days=14), "guest/confirm")
# a cancel link lives until a day after its session ends (the messages work out how long that is)
CANCEL = LinkKind("cancel-place", timedelta(days=1), "cancel")
SUBSCRIBE_CONFIRM = LinkKind("subscribe-confirm", timedelta(days=7), "subscribe/confirm")
REJOIN = LinkKind("subscribe-rejoin", timedelta(days=7), "subscribe/rejoin")
PREFERENCES = LinkKind("preferences", timedelta(days=400), "preferences")  # in every update: over a year
UNSUBSCRIBE = LinkKind("unsubscribe", timedelta(days=400), "unsubscribe")
ONE_CLICK_PAGE = "unsubscribe/one-click"  # RFC 8058's POST target; an UNSUBSCRIBE token
MY_BOOKINGS = LinkKind("my-bookings", timedelta(days=2), "bookings/mine")  # asked for on the bookings page
FEEDBACK = LinkKind("feedback", timedelta(days=7), "feedback")  # "How was it?", once a session is over
