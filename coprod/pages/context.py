"""What every page works with: the context a process makes once (the store, the signer, the settings, and the
forms' limits read from them), a page opened from a signed link, and who is posting."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from starlette.requests import Request
from starlette.responses import HTMLResponse

from config import Settings
from coprod import i18n
from coprod.handoffs import LinkKind
from coprod.links import Signer
from coprod.pages.language import current
from coprod.pages.limits import ActionLimits, Allowance
from coprod.store import MirrorItem, StateStore

if TYPE_CHECKING:
    from graph_client import SharePointLists

__all__ = ["Contact", "Opened", "PageMaker", "WebContext", "client_of", "page_words"]


def page_words() -> i18n.Translator:
    """The words of the page being answered, in its language (`.gettext`, `.ngettext`): what the pages' code says
    to a person (an error, a next step, an option's label) goes through them."""
    return i18n.translator(current())


SESSIONS_FRESH = 30.0  # seconds a process holds the list of sessions for the pages (a run comes every 5 minutes)


@dataclass(frozen=True)
class Contact:
    """The programme team's phone number and when it is answered (blank: none given), for people without email: the
    pages offer it to book by phone or post, and for help (coprod/templates/pages/_contact.html)."""

    phone: str = ""
    hours: str = ""

    @property
    def tel(self) -> str:
        """The number as a `tel:` link: its digits, and a leading + if it has one."""
        digits = "".join(c for c in self.phone if c.isdigit())
        return f"tel:{'+' if self.phone.lstrip().startswith('+') else ''}{digits}"


@dataclass
class WebContext:
    """What the pages need: made once per process, on the first request."""

    signer: Signer
    store: StateStore
    settings: Settings  # the programme's name and address, the forms' limits, what the privacy notice says
    # the lists through Graph, for the one page that writes (a booking); made on the first booking
    lists: Callable[[], SharePointLists] | None = None
    clock: Callable[[], float] = time.time  # the store's clock: the form limits' minutes and days

    _sessions: tuple[float, dict[str, MirrorItem]] | None = field(default=None, repr=False)

    def sessions(self) -> dict[str, MirrorItem]:
        """The mirrored Sessions by id, held by the process for SESSIONS_FRESH seconds: they change only when a run
        mirrors the list, so a session's page need not read them again (one store read a page, not two)."""
        now, held = self.clock(), self._sessions
        if held is None or not 0 <= now - held[0] < SESSIONS_FRESH:
            held = self._sessions = (now, {item.item_id: item for item in self.store.mirror.items("Sessions")})
        return held[1]

    @property
    def contact(self) -> Contact:
        return Contact(self.settings.contact_phone.strip(), self.settings.contact_hours.strip())

    @property
    def subscribe_limits(self) -> ActionLimits:
        """The subscribe form's: per client a minute, from everyone an hour, and one request a mailbox a day (a
        confirmation email each)."""
        s = self.settings
        return ActionLimits(s.subscribe_per_client_per_minute, s.subscribe_per_hour, per_mailbox_per_day=1)

    @property
    def booking_limits(self) -> ActionLimits:
        """The booking form's: from one client a minute (a family or a support worker booking for several people),
        from everyone an hour, and per mailbox a day. "My bookings" look-ups have the same numbers, counted
        apart."""
        s = self.settings
        return ActionLimits(s.book_per_client_per_minute, s.book_per_hour, s.book_per_address_per_day)

    @property
    def contribute_limits(self) -> ActionLimits:
        """The contribution form's: from one client a minute, from everyone an hour (no mailbox limit: an address
        is optional there)."""
        s = self.settings
        return ActionLimits(s.contribute_per_client_per_minute, s.contribute_per_hour, per_mailbox_per_day=0)

    def allowance(self, action: str, limits: ActionLimits) -> Allowance:
        """The counts one request of `action` takes against `limits` (given back if nothing is made)."""
        return Allowance(self.store, action, limits, self.clock, self.signer.digest)


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


class PageGroup:
    """A group of pages (booking, contributing, feedback, what we've heard) on the public pages' core (`pages`):
    its pages, its context."""

    def __init__(self, pages: PageMaker) -> None:
        self.pages = pages

    @property
    def context(self) -> WebContext:
        return self.pages.context


def client_of(request: Request) -> str:
    """Who is posting, as far as we can tell (the forms' limits are counted per client; kept only as a keyed digest).

    - Served by the Functions host (Microsoft's ASGI adapter gives no connection: `request.client` is None), the
      address App Service's front end saw: its `Client-IP` header, which the front end sets and overwrites if a
      client sent one (Azure/app-service-linux-docs, Things_You_Should_Know/headers.md: "App Service will
      overwrite any existing header so they cannot be spoofed"); failing that, the first `X-Forwarded-For`
      entry, which the front end writes as `address:port` (so the port, new on every connection, is removed).
    - Served on this machine (`python -m coprod serve`, uvicorn): the connection's own address. No proxy stands
      in front of it, so a forwarded header could only be the client's own invention, and is ignored.
    """
    if request.client is not None:
        return request.client.host or "unknown"
    for header, first in (("client-ip", False), ("x-forwarded-for", True)):
        value = request.headers.get(header, "")
        host = without_port((value.split(",")[0] if first else value).strip())[:64]
        if host:
            return host
    return "unknown"


def without_port(entry: str) -> str:
    """`203.0.113.7:51234` -> `203.0.113.7`; `[2001:db8::1]:443` -> `2001:db8::1`; a bare IPv6 address as it is."""
    if entry.startswith("["):
        return entry[1:].split("]", 1)[0]
    if entry.count(":") == 1:
        return entry.split(":", 1)[0]
    return entry
