"""What every page works with: the context a process makes once (the store, the signer, the settings the pages
use, the forms' limits), a page opened from a signed link, and who is posting."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from starlette.requests import Request
from starlette.responses import HTMLResponse

from coprod.handoffs import LinkKind
from coprod.links import Signer
from coprod.store import StateStore

if TYPE_CHECKING:
    from graph_client import SharePointLists

__all__ = ["BookingLimits", "FormLimits", "Opened", "PageMaker", "PrivacyNotice", "WebContext", "client_of"]


@dataclass(frozen=True)
class FormLimits:
    """How many subscribe posts are taken: per client a minute, and from everyone an hour."""

    per_client_per_minute: int = 5
    per_hour: int = 100


@dataclass(frozen=True)
class BookingLimits:
    """How many bookings the form takes: from one client a minute (a family or a support worker booking for
    several people), from everyone an hour, and per address a day."""

    per_client_per_minute: int = 10
    per_hour: int = 300
    per_address_per_day: int = 3


@dataclass(frozen=True)
class PrivacyNotice:
    """What the privacy notice says beyond its fixed words (settings COPROD_PRIVACY_*, COPROD_RETENTION_DAYS)."""

    controller: str = ""  # blank: the programme's own name
    contact: str = ""  # blank: "reply to any of our emails"
    retention_days: int = 365


@dataclass
class WebContext:
    """What the pages need: made once per process, on the first request."""

    signer: Signer
    store: StateStore
    programme: str = "Co-production programme"
    site_name: str = "the programme's SharePoint site"
    limits: FormLimits = field(default_factory=FormLimits)
    booking_limits: BookingLimits = field(default_factory=BookingLimits)
    public_url: str = "http://localhost:7071"
    # the lists through Graph, for the one page that writes (a booking); made on the first booking
    lists: Callable[[], SharePointLists] | None = None
    clock: Callable[[], float] = time.time  # the store's clock: the form limits' minutes and days
    privacy: PrivacyNotice = field(default_factory=PrivacyNotice)


@dataclass(frozen=True)
class Opened:
    """A page opened from a good link: its token, whom it is about, and the form if it was a POST."""

    token: str
    subject: str
    form: Any  # starlette's FormData, or None for a GET

    @property
    def pressed(self) -> bool:
        return self.form is not None


class PageMaker(Protocol):
    """What a group of pages uses of the public pages' core (coprod.pages.app.Pages)."""

    @property
    def context(self) -> WebContext: ...

    def page(self, template: str, status: int = 200, **values: Any) -> HTMLResponse: ...

    async def opened(self, request: Request, link: LinkKind, next_step: str) -> Opened | HTMLResponse: ...


def client_of(request: Request) -> str:
    """Who is posting, as far as we can tell: the address the nearest proxy saw (the last X-Forwarded-For entry:
    Azure's front end appends it, a client can only prepend), else the socket's peer."""
    forwarded = request.headers.get("x-forwarded-for", "")
    if forwarded.strip():
        return forwarded.split(",")[-1].strip()[:64]
    return request.client.host if request.client else "unknown"
