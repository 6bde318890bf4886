"""The public pages: a GET never changes anything, a POST with a good token does, a bad link gets a kind page."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import azure.functions as func
import httpx
import pytest

from coprod.links import Signer
from coprod.pages.app import WebContext, create_web_app
from coprod.store import SqliteStore
from graph_emulator.testing import AsgiTransport
from tests.conftest import SIGNING_KEY, offline_settings


@pytest.fixture
def client(store: SqliteStore) -> Iterator[httpx.Client]:
    settings = offline_settings(programme_name="Having your say")
    app = create_web_app(lambda: WebContext(Signer(SIGNING_KEY), store, settings))
    with httpx.Client(transport=AsgiTransport(app), base_url="http://localhost:7071") as http:
        yield http


def confirm_token(subject: str = "7:abc", lifetime: float = 3600) -> str:
    return Signer(SIGNING_KEY).make("guest-confirm", subject, lifetime)


def test_opening_the_link_shows_a_button_and_changes_nothing(client: httpx.Client, store: SqliteStore) -> None:
    """Mail scanners open links: the GET only shows a page with a button that POSTs."""
    page = client.get("/api/pages/guest/confirm", params={"t": confirm_token()})
    assert page.status_code == 200
    assert '<form method="post" action="/api/pages/guest/confirm"' in page.text
    assert re.search(r"<button [^>]*>\s*Confirm my email address\s*</button>", page.text)
    assert store.ledger.list(kind="guest-confirmed") == []


def test_pressing_the_button_confirms_once(client: httpx.Client, store: SqliteStore) -> None:
    token = confirm_token("7:abc")
    for _ in range(2):  # pressed twice, or the back button: the same kind answer
        page = client.post("/api/pages/guest/confirm", data={"t": token})
        assert page.status_code == 200 and "Thank you, your address is confirmed" in page.text
    assert [e.key for e in store.ledger.list(kind="guest-confirmed")] == ["guest-confirmed:7:abc"]


@pytest.mark.parametrize(("token", "status", "heading"), [
    (confirm_token()[:-4], 400, "This link doesn't work"),
    (Signer("someone-elses-key-0123456789").make("guest-confirm", "7:abc", 3600), 400, "This link doesn't work"),
    (confirm_token(lifetime=-1), 410, "This link has expired"),
])
def test_a_bad_or_expired_link_gets_a_kind_page_and_changes_nothing(client: httpx.Client, store: SqliteStore,
                                                                    token: str, status: int, heading: str) -> None:
    for answer in (client.get("/api/pages/guest/confirm", params={"t": token}),
                   client.post("/api/pages/guest/confirm", data={"t": token})):
        assert answer.status_code == status
        assert f'<h1 class="govuk-heading-l">{heading}</h1>' in answer.text
        assert "Nothing has been changed." in answer.text
    assert store.ledger.list(kind="guest-confirmed") == []


def test_pages_send_no_referrer_and_cannot_be_framed(client: httpx.Client) -> None:
    """Links carry tokens: the page must not pass its address on to anywhere it links."""
    headers = client.get("/api/pages/guest/confirm", params={"t": confirm_token()}).headers
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert client.get("/api/pages/static/site.css").headers["content-type"].startswith("text/css")


def test_an_unknown_page_is_a_plain_not_found(client: httpx.Client) -> None:
    answer = client.get("/api/pages/nowhere")
    assert answer.status_code == 404 and "Page not found" in answer.text


def test_the_function_app_serves_the_pages(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Through the Functions HTTP trigger and Microsoft's ASGI adapter, as Azure runs it."""
    from functions import pages

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    pages._middleware.cache_clear()
    handler = pages.pages.build().get_user_function()
    request = func.HttpRequest("GET", f"http://localhost:7071/api/pages/guest/confirm?t={confirm_token()}",
                               body=b"")  # Azure's request URL carries the query, and the adapter reads it there
    try:
        answer = asyncio.run(handler(request, None))
    finally:
        pages._middleware.cache_clear()
    assert answer.status_code == 200 and b"Confirm my email address" in answer.get_body()


def test_a_title_names_the_programme_once() -> None:
    """Finding: "Get updates from Having your say – Having your say"."""
    from coprod.templates import render_page

    for template, expected in (("subscribe", "Get updates from Having your say"),
                               ("privacy", "How we use your details – Having your say")):
        page = render_page(template, base="/api/pages", programme="Having your say", site_name="", values={
            "name": "", "email": "", "topics": []}, errors={}, all_topics=(), error_summary=None,
            notice=offline_settings())
        assert f"<title>{expected}</title>" in page


def test_emails_have_a_heading_a_named_cancel_link_and_a_digest_that_fits_a_phone() -> None:
    """Findings: the session title was bold text, the cancel link said only "let us know", and the admins' digest
    was a 474 px table that scrolled sideways on a phone."""
    from datetime import UTC, datetime

    from coprod.templates import render_email

    session = {"title": "Carers' drop-in", "start": datetime(2027, 3, 26, 14, tzinfo=UTC),
               "end": datetime(2027, 3, 26, 15, tzinfo=UTC), "join_url": "https://teams.example/x", "appointment": None}
    _, html = render_email("confirmed", name="Ann", session=session, cancel_link="https://x.example/c",
                           access_needs="")
    assert '<h2 style="font-size:22px;line-height:1.3;margin:0 0 8px;">Carers&#39; drop-in</h2>' in html
    assert '<a href="https://x.example/c">cancel my place</a>' in html
    waiting = [{"name": "Sam", "email": "sam@example.org", "organisation": "Carers' Trust", "reason": "",
                "asked": "today"}]
    _, digest = render_email("guest_digest", requests=waiting, reviews=[], site_name="the site",
                             list_url="https://x.example/list")
    assert "<table" not in digest and "<h2" in digest
