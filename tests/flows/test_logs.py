"""No personal data, token or secret in any log record, of any logger, at any level.

Azure Functions keeps the app's log records at Information (host.json) in Application Insights, where far more
people can read them than can read the lists. Finding 6: httpx logged every directory look-up's URL, the address
in its `$filter` included.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, quote_plus

import httpx
import pytest

from coprod.pages.app import create_web_app
from coprod.run import run_once
from graph_emulator import EmulatorServer
from graph_emulator.testing import AsgiTransport
from tests.conftest import SIGNING_KEY
from tests.support.fakes import FakeClock
from tests.support.programme import Programme

PUBLIC = "https://coprod.example.org"
PEOPLE = {"Ann Example": "ann.example@example.org", "Bo Guest": "bo@partner.example.org",
          "Cai Admin-Approved": "cai@elsewhere.example.com", "Dee Subscriber": "dee@example.net",
          "Eve O'Hara": "eve.o'hara@example.org"}
TOKEN = re.compile(r"\?t=([A-Za-z0-9_\-.]+)")


def forms(text: str) -> set[str]:
    """A value as it may appear in a log: plain, lower case, URL-encoded (both ways), and with quotes doubled."""
    return {text, text.lower(), quote(text), quote(text, safe=""), quote_plus(text), text.replace("'", "''"),
            quote(text.replace("'", "''"), safe="")}


def test_every_flow_at_debug_logs_no_address_name_token_or_secret(
        emulator: EmulatorServer, env: dict[str, str], clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "msal", "urllib3", "coprod", "graph_client"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    backend = emulator.backend
    with Programme.open(emulator, env, clock, COPROD_PUBLIC_URL=PUBLIC, COPROD_ADMIN_EMAIL="team@council.example.org",
                        COPROD_GUEST_AUTO_APPROVE_DOMAINS="partner.example.org") as programme:
        services, site, sp = programme.services, programme.site, backend.sharepoint
        session = sp.create_item(site, "Sessions", {"Title": "Carers' catch-up", "Status": "Open", "Capacity": 2,
                                                    "StartTime": "2030-01-01T10:00:00Z",
                                                    "EndTime": "2030-01-01T11:00:00Z",
                                                    "Facilitators": "fac@council.example.org"}).id
        for name, address in PEOPLE.items():
            sp.create_item(site, "Registrations", {"Title": name, "Email": address, "Consent": True,
                                                   "SessionLookupId": str(session), "WantsSiteAccess": True,
                                                   "JoinMailingList": True, "AccessNeeds": f"Large print for {name}"})
        sp.create_item(site, "GuestRequests", {"Title": "Cai Admin-Approved", "Email": PEOPLE["Cai Admin-Approved"],
                                               "Decision": "Approved"})
        sp.create_item(site, "Registrations", {"Title": "Faye Typo", "Email": "faye(at)example.org", "Consent": True,
                                               "SessionLookupId": str(session)})
        # faults, so that retries and refusals are logged too
        emulator.add_fault(status=429, path="/invitations", count=1, retry_after=0)
        emulator.add_fault(status=503, path="/sendMail", count=2, retry_after=0)
        emulator.add_fault(status=504, path="/sendMail", count=1)
        browser = httpx.Client(transport=AsgiTransport(create_web_app(services.web_context)), base_url=PUBLIC)
        pressed: set[str] = set()

        def press_every_link() -> None:
            """People open every link they were sent and press its button (confirm, cancel, rejoin...)."""
            for message in backend.mail.sent(backend.sender):
                for link in re.findall(rf"{re.escape(PUBLIC)}(/api/pages/[a-z/-]+\?t=[A-Za-z0-9_\-.]+)",
                                       message.text_body or ""):
                    if link in pressed or "/unsubscribe" in link:
                        continue
                    pressed.add(link)
                    action = re.search(r'<form method="post" action="([^"]+)"', browser.get(link).text)
                    if action is not None:
                        browser.post(action.group(1), data={"t": TOKEN.search(link).group(1)})  # type: ignore[union-attr]

        for _ in range(3):
            run_once(services, drain_seconds=60)
            clock.offset += 600  # past the recheck of a send whose answer was lost
            press_every_link()
        browser.post("/api/pages/subscribe", data={"name": "Gus Form", "email": "gus@example.org"})
        sp.create_item(site, "Updates", {"Title": "News for everyone", "Body": "Hello", "Ready": True})
        run_once(services, drain_seconds=60)
        for message in backend.mail.sent(backend.sender):
            for link in re.findall(rf"{re.escape(PUBLIC)}(/api/pages/unsubscribe/one-click\?t=[^\s>]+)",
                                   "\n".join(v for _, v in message.headers)):
                browser.post(link, content=b"List-Unsubscribe=One-Click")
        run_once(services, drain_seconds=60)
        browser.close()

    sent = backend.mail.sent(backend.sender)
    tokens = {t for m in sent for t in TOKEN.findall((m.text_body or "") + "\n".join(v for _, v in m.headers))}
    secrets = {env["M365_CLIENT_SECRET"], SIGNING_KEY, *backend.identity.tokens}
    personal = {*PEOPLE, *PEOPLE.values(), "Faye Typo", "faye(at)example.org", "Gus Form", "gus@example.org"}
    assert len(tokens) >= 10 and len(backend.directory.invitations) >= 2  # every flow ran
    ours = [r for r in caplog.records if not r.name.startswith(("graph_emulator", "uvicorn", "asyncio"))]
    logged = "\n".join(r.getMessage() + (f"\n{r.exc_text}" if r.exc_text else "") for r in ours)
    assert "HTTP Request: GET" in logged and "/users" in logged  # the request log is there, its queries are not
    assert any(r.levelno >= logging.WARNING for r in ours)  # and so are the warnings the faults caused
    found = sorted({value for secret in personal | tokens | secrets for value in forms(secret) if value in logged})
    assert found == []
