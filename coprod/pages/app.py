"""The public pages: server-rendered, all working without JavaScript, every change behind a POST.

Served by the function app (`functions/pages.py`, through Microsoft's ASGI
adapter) and locally by `python -m coprod serve`, at `/api/pages/...`, so the
links in emails are the same either way. A GET never changes anything (mail
scanners open links); each form POSTs the signed token it was shown with.
A link that was tampered with, cut short or has expired gets a friendly page
and changes nothing. HEAD is answered as GET without a body, on every route,
and never changes anything either.

The subscribe form is open to anyone, so it has limits (coprod.pages.limits:
per client, per mailbox a day, and everyone's hour; counted in the state
store so every instance shares them). Past a client's or everyone's limit a
page says so; past the mailbox's it answers exactly as usual and records
nothing, so nobody can test an address here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config import THEMES
from coprod import handoffs
from coprod.handoffs import (
    CANCEL,
    GUEST_CONFIRM,
    MY_BOOKINGS,
    PAGES,
    PREFERENCES,
    REJOIN,
    SUBSCRIBE_CONFIRM,
    UNSUBSCRIBE,
    CancelRequest,
    GuestConfirmed,
    LinkKind,
    ListCommand,
    MeetingRecord,
    SubscriberDue,
)
from coprod.i18n import N_
from coprod.links import LinkError
from coprod.lists.fields import as_text, check_email, subscriber_topics
from coprod.lists.records import parse_registration, parse_session
from coprod.pages.booking import Bookings
from coprod.pages.booking_form import email_problem
from coprod.pages.context import Opened, WebContext, client_of, page_words
from coprod.pages.contribute import Contributions
from coprod.pages.feedback import FeedbackPages
from coprod.pages.heard import Heard
from coprod.pages.language import ChosenLanguage, current, other_language_link
from coprod.pages.typos import CHECKED, question, suggestion
from coprod.templates import render_page

if TYPE_CHECKING:
    pass

__all__ = ["BASE", "WebContext", "create_web_app"]

BASE = PAGES
STATIC = Path(__file__).with_name("static")
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript"}
# what /static/ serves: its stylesheets and scripts, by their path under it (nothing else, and nothing outside it)
STATIC_FILES = {path.relative_to(STATIC).as_posix(): path for path in sorted(STATIC.rglob("*"))
                if path.suffix in STATIC_TYPES and path.is_file()}
SECURITY_HEADERS = {
    # font-src: GOV.UK Frontend's stylesheet declares GDS Transport, which the pages never use nor serve (site.css);
    # with no font-src, chromium reports each declared font as refused, used or not
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; font-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # links carry tokens: never pass them on
    "Cache-Control": "no-store",
}


class Pages:
    """Each page reads its link, renders, and records what the person did (a hand-off): nothing more."""

    # what a link-problem page suggests doing instead (translated where shown: `link_problem`)
    GUEST_NEXT = N_("If you still need access, reply to the email we sent you and we'll send a new link.")
    CANCEL_NEXT = N_("If you still want to cancel, ask for a new link, or contact us and we'll do it for you.")
    LIST_NEXT = N_("You can subscribe again from the sign-up page, or contact us and we'll do it for you.")

    def __init__(self, context: Callable[[], WebContext]) -> None:
        self._make_context = context

    @cached_property
    def context(self) -> WebContext:
        return self._make_context()

    def page(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = render_page(template, current(), base=BASE, programme=self.context.settings.programme_name,
                           language_link=other_language_link(),
                           site_name=self.context.settings.site_name, contact=self.context.contact,
                           error_summary=values.pop("error_summary", None), **values)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def link_problem(self, error: LinkError, next_step: str, ask_again: bool = False) -> HTMLResponse:
        """`next_step`: what to do instead, as written (a string marked N_), shown in the page's language.
        `ask_again`: a link to one's bookings, or to cancel one, which the bookings page sends anew."""
        return self.page("link_problem", 410 if error.reason == "expired" else 400, reason=error.reason,
                         next_step=page_words().gettext(next_step), ask_again=ask_again)

    async def opened(self, request: Request, link: LinkKind, next_step: str) -> Opened | HTMLResponse:
        """The link a page was opened with (GET: in the address) or its form carried (POST), read and checked;
        a kind page saying what to do instead if it is tampered with, cut short or expired."""
        form = await request.form() if request.method == "POST" else None
        token = str(form.get("t", "")) if form is not None else request.query_params.get("t", "")
        try:
            return Opened(token, self.context.signer.read(token, link.purpose), form)
        except LinkError as error:
            return self.link_problem(error, next_step, ask_again=link in (CANCEL, MY_BOOKINGS))

    def link(self, link: LinkKind, subject: str) -> str:
        """A fresh token for another page about the same person (preferences from a confirmation, ...)."""
        return self.context.signer.make(link.purpose, subject, link.lifetime.total_seconds())

    # --- guest access: confirm an address --------------------------------------------
    async def guest_confirm(self, request: Request) -> Response:
        opened = await self.opened(request, GUEST_CONFIRM, self.GUEST_NEXT)
        if not isinstance(opened, Opened):
            return opened
        if not opened.pressed:
            return self.page("guest_confirm", token=opened.token)
        # a second press (or the back button) finds it recorded already, and gets the same thank-you
        handoffs.record(self.context.store.ledger, GuestConfirmed(opened.subject), status="done")
        return self.page("guest_confirmed")

    # --- a participant cancels their place -----------------------------------------------
    async def cancel_place(self, request: Request) -> Response:
        opened = await self.opened(request, CANCEL, self.CANCEL_NEXT)
        if not isinstance(opened, Opened):
            return opened
        registration_id, _, address = opened.subject.partition(":")
        booking = self._booking(registration_id, address)
        if booking is None:
            return self.link_problem(LinkError("invalid"), self.CANCEL_NEXT, ask_again=True)
        request_ = CancelRequest(registration_id, address)
        if booking["status"] == "Cancelled" or handoffs.get(self.context.store.ledger, request_) is not None:
            return self.page("cancel_done", session=booking)
        if not opened.pressed:
            return self.page("cancel_confirm", token=opened.token, session=booking)
        handoffs.record(self.context.store.ledger, request_)
        return self.page("cancel_done", session=booking)

    def _booking(self, registration_id: str, address: str) -> dict[str, Any] | None:
        """The registration a cancel link is for, if its address is still the one the link was sent to."""
        store = self.context.store
        item = store.mirror.get("Registrations", registration_id)
        reg = parse_registration(item.item_id, item.created, item.fields) if item else None
        email = reg.email if reg else None
        if item is None or reg is None or email is None or self.context.signer.digest(email) != address:
            return None
        session = store.mirror.get("Sessions", item.group or "")
        record = MeetingRecord.of(store.ledger, item.group or "")
        parsed = parse_session(session.item_id, session.fields) if session else None
        title = parsed.title if parsed else page_words().gettext("your session")
        return {"status": reg.listed_status, "title": title,
                "start": record.start if record else (parsed.start if parsed else None)}

    # --- the mailing list ---------------------------------------------------------------
    async def subscribe(self, request: Request) -> Response:
        if request.method == "GET":
            return self.page("subscribe", all_topics=THEMES, values={"name": "", "email": "", "topics": []},
                             errors={})
        form = await request.form()
        topics = [t for t in form.getlist("topics") if t in THEMES]
        values: dict[str, Any] = {"name": as_text(form.get("name"), 120), "email": as_text(form.get("email"), 320),
                                  "topics": topics}
        checked = check_email(values["email"])
        address = checked.address
        if address is None:
            message = email_problem(checked.problem, page_words())
            return self.page("subscribe", 400, all_topics=THEMES, values=values, errors={"email": message},
                             error_summary=[("email", message)])
        better = suggestion(values["email"])
        if better and form.get(CHECKED) != values["email"]:  # asked before anything is recorded; kept if sent again
            typo = question(better, page_words())
            return self.page("subscribe", 400, all_topics=THEMES, values=values, errors={"email": typo},
                             error_summary=[("email", typo)], suggested=better)
        allowance = self.context.allowance("subscribe", self.context.subscribe_limits)
        if not allowance.client(client_of(request)):
            return self.page("busy", 429, what="sign-ups", who="client")
        day = time.strftime("%Y-%m-%d", time.gmtime(self.context.clock()))
        asked = SubscriberDue(address, values["name"], "website", topics=tuple(topics), day=day)
        # whether or not they are on the list already, the same answer: nobody can test an address here
        if not allowance.mailbox(address) or handoffs.get(self.context.store.ledger, asked) is not None:
            allowance.give_back()  # this inbox asked today already: nothing more is made
        elif not allowance.everyone():
            return self.page("busy", 429, what="sign-ups", who="everyone")
        elif not handoffs.record(self.context.store.ledger, asked):
            allowance.give_back()
        return self.page("subscribe_sent", email=values["email"])

    async def subscribe_confirm(self, request: Request) -> Response:
        return await self._list_yes(request, SUBSCRIBE_CONFIRM, "subscribe_confirm", "subscribe-confirmed")

    async def subscribe_rejoin(self, request: Request) -> Response:
        """Someone who unsubscribed asked (or was asked about) rejoining: only this button puts them back."""
        return await self._list_yes(request, REJOIN, "subscribe_rejoin", "rejoin-confirmed")

    async def _list_yes(self, request: Request, link: LinkKind, template: str, command: str) -> Response:
        """A page whose button says yes to updates (confirm, rejoin): recorded for the next run to apply."""
        opened = await self.opened(request, link, self.LIST_NEXT)
        if not isinstance(opened, Opened):
            return opened
        if not opened.pressed:
            return self.page(template, token=opened.token)
        handoffs.put(self.context.store.ledger, ListCommand(command, opened.subject), "due")
        return self.page("subscribed", preferences_token=self.link(PREFERENCES, opened.subject))

    async def preferences(self, request: Request) -> Response:
        opened = await self.opened(request, PREFERENCES, self.LIST_NEXT)
        if not isinstance(opened, Opened):
            return opened
        if opened.pressed:
            chosen = [t for t in opened.form.getlist("topics") if t in THEMES]
            handoffs.put(self.context.store.ledger, ListCommand("topics", opened.subject, tuple(chosen)), "due")
            return self.page("preferences_saved", chosen=chosen, token=opened.token)
        row = self.context.store.mirror.get("Subscribers", opened.subject.partition(":")[0])
        pending_topics = ListCommand.pending_topics(self.context.store.ledger, opened.subject)
        shown = pending_topics if pending_topics is not None else subscriber_topics(row.fields) if row else []
        return self.page("preferences", token=opened.token, all_topics=THEMES, chosen=shown,
                         unsubscribe_token=self.link(UNSUBSCRIBE, opened.subject))

    async def unsubscribe_page(self, request: Request) -> Response:
        opened = await self.opened(request, UNSUBSCRIBE, self.LIST_NEXT)
        if not isinstance(opened, Opened):
            return opened
        if not opened.pressed:
            return self.page("unsubscribe", token=opened.token,
                             preferences_token=self.link(PREFERENCES, opened.subject))
        handoffs.unsubscribe(self.context.store, opened.subject)
        return self.page("unsubscribed")

    async def one_click(self, request: Request) -> Response:
        """RFC 8058: the mail client POSTs `List-Unsubscribe=One-Click` to the URI from the header."""
        if request.method != "POST":  # a person (or a scanner) opening the address: show the page, change nothing
            return await self.unsubscribe_page(request)
        try:  # the token is in the address here (the POST's body is `List-Unsubscribe=One-Click`)
            subject = self.context.signer.read(request.query_params.get("t", ""), UNSUBSCRIBE.purpose)
        except LinkError as error:
            return PlainTextResponse(f"This unsubscribe link can't be used ({error.reason}).", 400,
                                     headers=SECURITY_HEADERS)
        handoffs.unsubscribe(self.context.store, subject)
        return PlainTextResponse("You've unsubscribed.", headers=SECURITY_HEADERS)

    async def static(self, request: Request) -> Response:
        """A file the pages load: ours for an hour; GOV.UK Frontend's for a year (its folder names its version)."""
        path = STATIC_FILES.get(request.path_params["path"])
        if path is None:
            raise HTTPException(404)
        kept = "public, max-age=31536000, immutable" if path.parent.name.startswith("govuk-frontend-") else \
            "public, max-age=3600"
        return FileResponse(path, media_type=STATIC_TYPES[path.suffix],
                            headers={"Cache-Control": kept, "X-Content-Type-Options": "nosniff"})

    async def privacy(self, request: Request) -> Response:
        return self.page("privacy", notice=self.context.settings)  # (its privacy_* and retention_days)

    async def not_found(self, request: Request, exc: Exception) -> Response:
        return self.page("not_found", 404)


class HeadAsGet:
    """HEAD is GET without a body, on every route: the same handler (which, for GET, changes nothing), the same
    status and headers, no body. Starlette would otherwise run a POST-only route's handler, or none, for it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


def create_web_app(context: Callable[[], WebContext]) -> ASGIApp:
    """The pages as an ASGI app; `context` is called once, on the first request that needs it."""
    pages = Pages(context)
    booking = Bookings(pages)
    contributions = Contributions(pages)
    heard = Heard(pages)
    return HeadAsGet(ChosenLanguage(Starlette(routes=[Mount(BASE, routes=[
        Route("/static/{path:path}", pages.static, methods=["GET"]),
        Route("/sessions", booking.sessions, methods=["GET"]),
        Route("/sessions.ics", booking.sessions_ics, methods=["GET"]),
        Route("/sessions/{session_id:int}", booking.session, methods=["GET", "POST"]),
        Route("/bookings", booking.bookings, methods=["GET", "POST"]),
        Route("/bookings/mine", booking.mine, methods=["GET"]),
        Route("/privacy", pages.privacy, methods=["GET"]),
        Route("/contribute", contributions.contribute, methods=["GET", "POST"]),
        Route("/feedback", FeedbackPages(pages).feedback, methods=["GET", "POST"]),
        Route("/heard", heard.page, methods=["GET"]),
        Route("/heard/feed", heard.feed, methods=["GET"]),
        Route("/guest/confirm", pages.guest_confirm, methods=["GET", "POST"]),
        Route("/cancel", pages.cancel_place, methods=["GET", "POST"]),
        Route("/subscribe", pages.subscribe, methods=["GET", "POST"]),
        Route("/subscribe/confirm", pages.subscribe_confirm, methods=["GET", "POST"]),
        Route("/subscribe/rejoin", pages.subscribe_rejoin, methods=["GET", "POST"]),
        Route("/preferences", pages.preferences, methods=["GET", "POST"]),
        Route("/unsubscribe", pages.unsubscribe_page, methods=["GET", "POST"]),
        Route("/unsubscribe/one-click", pages.one_click, methods=["GET", "POST"]),
    ])], exception_handlers={404: pages.not_found}), path=BASE))
