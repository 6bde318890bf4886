"""The public pages: server-rendered, no JavaScript, every change behind a POST.

Served by the function app (`functions/pages.py`, through Microsoft's ASGI
adapter) and locally by `python -m coprod serve`, at `/api/pages/...`, so the
links in emails are the same either way. A GET never changes anything (mail
scanners open links); each form POSTs the signed token it was shown with.
A link that was tampered with, cut short or has expired gets a friendly page
and changes nothing. HEAD is answered as GET without a body, on every route,
and never changes anything either.

The subscribe form is open to anyone, so it has limits (per client and
overall, counted in the state store so every instance shares them); past
them it answers exactly as usual and records nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coprod.links import LinkError, Signer
from coprod.state import StateStore
from coprod.templates import render_page

if TYPE_CHECKING:
    from config import Settings

__all__ = ["BASE", "WebContext", "context_from_settings", "create_web_app"]

BASE = "/api/pages"
STATIC = Path(__file__).with_name("static")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # links carry tokens: never pass them on
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class FormLimits:
    """How many subscribe posts are taken: per client a minute, and from everyone an hour."""

    per_client_per_minute: int = 5
    per_hour: int = 100


@dataclass
class WebContext:
    """What the pages need: made once per process, on the first request."""

    signer: Signer
    store: StateStore
    programme: str = "Co-production programme"
    site_name: str = "the programme's SharePoint site"
    limits: FormLimits = field(default_factory=FormLimits)


class Pages:
    def __init__(self, context: Callable[[], WebContext]) -> None:
        self._make_context = context

    @cached_property
    def context(self) -> WebContext:
        return self._make_context()

    def page(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = render_page(template, base=BASE, programme=self.context.programme, site_name=self.context.site_name,
                           error_summary=values.pop("error_summary", None), **values)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def link_problem(self, error: LinkError, next_step: str) -> HTMLResponse:
        return self.page("link_problem", 410 if error.reason == "expired" else 400, reason=error.reason,
                         next_step=next_step)

    # --- guest access: confirm an address --------------------------------------------
    GUEST_NEXT = "If you still need access, reply to the email we sent you and we'll send a new link."

    async def guest_confirm(self, request: Request) -> Response:
        from coprod.guests import CONFIRM_PURPOSE

        token, _form = await self._token(request)
        try:
            subject = self.context.signer.read(token, CONFIRM_PURPOSE)
        except LinkError as error:
            return self.link_problem(error, self.GUEST_NEXT)
        if request.method == "GET":
            return self.page("guest_confirm", token=token)
        # a second press (or the back button) finds it recorded already, and gets the same thank-you
        self.context.store.ledger_add(f"guest-confirmed:{subject}", "guest-confirmed", {}, status="done")
        return self.page("guest_confirmed")

    # --- a participant cancels their place -----------------------------------------------
    CANCEL_NEXT = "If you still want to cancel, reply to any of our emails and we'll do it for you."

    async def cancel_place(self, request: Request) -> Response:
        from coprod.messages import CANCEL_PURPOSE

        token, _form = await self._token(request)
        try:
            subject = self.context.signer.read(token, CANCEL_PURPOSE)
        except LinkError as error:
            return self.link_problem(error, self.CANCEL_NEXT)
        registration_id, _, address = subject.partition(":")
        booking = self._booking(registration_id, address)
        if booking is None:
            return self.link_problem(LinkError("invalid"), self.CANCEL_NEXT)
        if booking["status"] == "Cancelled" or self.context.store.ledger_get(f"cancel-request:{registration_id}"):
            return self.page("cancel_done", session=booking)
        if request.method == "GET":
            return self.page("cancel_confirm", token=token, session=booking)
        self.context.store.ledger_add(f"cancel-request:{registration_id}", "cancel-request",
                                      {"registration": registration_id, "address": address})
        return self.page("cancel_done", session=booking)

    def _booking(self, registration_id: str, address: str) -> dict[str, Any] | None:
        """The registration a cancel link is for, if its address is still the one the link was sent to."""
        from coprod.meetings import meeting_record
        from coprod.rules import normalise_email, parse_session

        store = self.context.store
        item = store.mirror_get("Registrations", registration_id)
        email = normalise_email(item.fields.get("Email")) if item else None
        if item is None or email is None or self.context.signer.digest(email) != address:
            return None
        session = store.mirror_get("Sessions", item.group or "")
        record = meeting_record(store.ledger_get(f"meeting:{item.group}"))
        parsed = parse_session(session.item_id, session.fields) if session else None
        return {"status": item.fields.get("Status"), "title": parsed.title if parsed else "your session",
                "start": record.start if record else (parsed.start if parsed else None)}

    # --- the mailing list ---------------------------------------------------------------
    LIST_NEXT = "You can subscribe again from the sign-up page, or reply to any of our emails."

    async def _token(self, request: Request) -> tuple[str, Any]:
        """The signed token a page was opened with (GET) or its form carried (POST), and the form if any."""
        if request.method != "POST":
            return request.query_params.get("t", ""), None
        form = await request.form()
        return str(form.get("t", "")), form

    async def subscribe(self, request: Request) -> Response:
        from config import THEMES
        from coprod.rules import as_text, check_email

        if request.method == "GET":
            return self.page("subscribe", all_topics=THEMES, values={"name": "", "email": "", "topics": []},
                             errors={})
        form = await request.form()
        values = {"name": as_text(form.get("name"), 120), "email": as_text(form.get("email"), 320),
                  "topics": [t for t in form.getlist("topics") if t in THEMES]}
        checked = check_email(values["email"])
        address = checked.address
        if address is None:
            message = {"missing": "Enter your email address",
                       "international": "We can't yet send to an address with accented or non-English letters "
                                        "before the @. Please use another address"}.get(
                checked.problem or "", "Enter an email address in the correct format, like name@example.com")
            return self.page("subscribe", 400, all_topics=THEMES, values=values, errors={"email": message},
                             error_summary=[("email", message)])
        day = time.strftime("%Y-%m-%d", time.gmtime())
        # whether or not they are on the list already, and whether or not the form's limits were reached, the
        # same answer: nobody can test an address here, nor tell when they have been cut off
        if self._within_limits(request):
            self.context.store.ledger_add(f"subscriber:web:{address}:{day}", "subscriber",
                                          {"name": values["name"], "email": address, "topics": values["topics"],
                                           "source": "website"})
        return self.page("subscribe_sent", email=values["email"])

    def _within_limits(self, request: Request) -> bool:
        """Count this post against the client's minute and everyone's hour; False once either is spent."""
        now = time.time()
        limits, store = self.context.limits, self.context.store
        minute, hour = int(now // 60), int(now // 3600)
        client = self.context.signer.digest(_client(request))  # an IP address is personal data: kept as a digest
        per_client = store.counter_add(f"subscribe:client:{client}:{minute}", (minute + 1) * 60.0)
        if per_client > limits.per_client_per_minute:
            return False
        return store.counter_add(f"subscribe:all:{hour}", (hour + 1) * 3600.0) <= limits.per_hour

    async def subscribe_confirm(self, request: Request) -> Response:
        from coprod.mailinglist import CONFIRM_PURPOSE, PREFERENCES_PURPOSE, record

        token, _form = await self._token(request)
        try:
            subject = self.context.signer.read(token, CONFIRM_PURPOSE)
        except LinkError as error:
            return self.link_problem(error, self.LIST_NEXT)
        if request.method == "GET":
            return self.page("subscribe_confirm", token=token)
        record(self.context.store, "subscribe-confirmed", subject)
        return self.page("subscribed", preferences_token=self.context.signer.make(
            PREFERENCES_PURPOSE, subject, 400 * 86_400))

    async def subscribe_rejoin(self, request: Request) -> Response:
        """Someone who unsubscribed asked (or was asked about) rejoining: only this button puts them back."""
        from coprod.mailinglist import PREFERENCES_PURPOSE, REJOIN_PURPOSE, record

        token, _form = await self._token(request)
        try:
            subject = self.context.signer.read(token, REJOIN_PURPOSE)
        except LinkError as error:
            return self.link_problem(error, self.LIST_NEXT)
        if _form is None:
            return self.page("subscribe_rejoin", token=token)
        record(self.context.store, "rejoin-confirmed", subject)
        return self.page("subscribed", preferences_token=self.context.signer.make(
            PREFERENCES_PURPOSE, subject, 400 * 86_400))

    async def preferences(self, request: Request) -> Response:
        from config import THEMES
        from coprod.mailinglist import PREFERENCES_PURPOSE, UNSUBSCRIBE_PURPOSE, record, subscriber_topics

        token, form = await self._token(request)
        try:
            subject = self.context.signer.read(token, PREFERENCES_PURPOSE)
        except LinkError as error:
            return self.link_problem(error, self.LIST_NEXT)
        if form is not None:
            chosen = [t for t in form.getlist("topics") if t in THEMES]
            record(self.context.store, "topics", subject, {"topics": chosen})
            return self.page("preferences_saved", chosen=chosen, token=token)
        row = self.context.store.mirror_get("Subscribers", subject.partition(":")[0])
        pending = self.context.store.ledger_get(f"topics:{subject}")
        chosen = pending.payload.get("topics", []) if pending is not None and pending.status == "due" else \
            subscriber_topics(row.fields) if row else []
        return self.page("preferences", token=token, all_topics=THEMES, chosen=chosen,
                         unsubscribe_token=self.context.signer.make(UNSUBSCRIBE_PURPOSE, subject, 400 * 86_400))

    async def unsubscribe_page(self, request: Request) -> Response:
        from coprod.mailinglist import PREFERENCES_PURPOSE, UNSUBSCRIBE_PURPOSE, unsubscribe

        token, form = await self._token(request)
        try:
            subject = self.context.signer.read(token, UNSUBSCRIBE_PURPOSE)
        except LinkError as error:
            return self.link_problem(error, self.LIST_NEXT)
        if form is None:
            return self.page("unsubscribe", token=token, preferences_token=self.context.signer.make(
                PREFERENCES_PURPOSE, subject, 400 * 86_400))
        unsubscribe(self.context.store, subject)
        return self.page("unsubscribed")

    async def one_click(self, request: Request) -> Response:
        """RFC 8058: the mail client POSTs `List-Unsubscribe=One-Click` to the URI from the header."""
        from coprod.mailinglist import UNSUBSCRIBE_PURPOSE, unsubscribe

        token = request.query_params.get("t", "")
        if request.method != "POST":  # a person (or a scanner) opening the address: show the page, change nothing
            return await self.unsubscribe_page(request)
        try:
            subject = self.context.signer.read(token, UNSUBSCRIBE_PURPOSE)
        except LinkError as error:
            return PlainTextResponse(f"This unsubscribe link can't be used ({error.reason}).", 400,
                                     headers=SECURITY_HEADERS)
        unsubscribe(self.context.store, subject)
        return PlainTextResponse("You've unsubscribed.", headers=SECURITY_HEADERS)

    async def stylesheet(self, request: Request) -> Response:
        return FileResponse(STATIC / "site.css", media_type="text/css",
                            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})

    async def not_found(self, request: Request, exc: Exception) -> Response:
        return self.page("not_found", 404)


def context_from_settings(settings: Settings) -> WebContext:
    """The pages' context for a process of their own (the function app, `coprod serve`)."""
    from coprod.links import Signer
    from coprod.state import open_store

    return WebContext(Signer(settings.signing_key.get_secret_value()), open_store(settings.state),
                      settings.programme_name, settings.site_name, form_limits(settings))


def form_limits(settings: Settings) -> FormLimits:
    return FormLimits(settings.subscribe_per_client_per_minute, settings.subscribe_per_hour)


def _client(request: Request) -> str:
    """Who is posting, as far as we can tell: the address the nearest proxy saw (the last X-Forwarded-For entry:
    Azure's front end appends it, a client can only prepend), else the socket's peer."""
    forwarded = request.headers.get("x-forwarded-for", "")
    if forwarded.strip():
        return forwarded.split(",")[-1].strip()[:64]
    return request.client.host if request.client else "unknown"


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
    return HeadAsGet(Starlette(routes=[Mount(BASE, routes=[
        Route("/static/site.css", pages.stylesheet, methods=["GET"]),
        Route("/guest/confirm", pages.guest_confirm, methods=["GET", "POST"]),
        Route("/cancel", pages.cancel_place, methods=["GET", "POST"]),
        Route("/subscribe", pages.subscribe, methods=["GET", "POST"]),
        Route("/subscribe/confirm", pages.subscribe_confirm, methods=["GET", "POST"]),
        Route("/subscribe/rejoin", pages.subscribe_rejoin, methods=["GET", "POST"]),
        Route("/preferences", pages.preferences, methods=["GET", "POST"]),
        Route("/unsubscribe", pages.unsubscribe_page, methods=["GET", "POST"]),
        Route("/unsubscribe/one-click", pages.one_click, methods=["GET", "POST"]),
    ])], exception_handlers={404: pages.not_found}))
