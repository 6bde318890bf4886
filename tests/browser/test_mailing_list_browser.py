"""A subscriber's whole journey in a real browser (Debian's chromium), against the service and the emulator:
subscribe -> the confirmation link read back from the sender's Sent Items -> confirm -> choose topics ->
unsubscribe, with axe-core's WCAG 2.2 AA rules checked on every page along the way."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from config import load_settings
from coprod.lists.provision import provision
from coprod.pages.app import WebContext, create_web_app
from coprod.run import run_once
from coprod.runtime import Services
from graph_emulator import EmulatorServer
from tests.support.browser import assert_accessible, serve_asgi

pytest_plugins = ["tests.support.browser"]


@pytest.fixture
def site(emulator: EmulatorServer, env: dict[str, str]) -> Iterator[tuple[str, Services]]:
    """The public pages served on loopback (as `coprod serve` does) and the service pointing its links at them."""
    holder: dict[str, Services] = {}

    def context() -> WebContext:
        return holder["services"].web_context()

    with serve_asgi(create_web_app(context)) as base:
        settings = load_settings(env | {"COPROD_PUBLIC_URL": base, "COPROD_PROGRAMME_NAME": "Having your say"})
        with Services.open(settings) as services:
            holder["services"] = services
            provision(services.lists)
            yield base, services


def sent_link(services: Services, to: str, path: str) -> str:
    """The link to `path` in the newest email to `to`, read the standard way: the sender's Sent Items."""
    sent = services.graph.get_json("read the sent emails",
                                   f"/users/{services.settings.sender}/mailFolders/sentItems/messages",
                                   params={"$select": "toRecipients,body", "$top": "50"})
    for message in sent["value"]:  # newest first
        if to in [r["emailAddress"]["address"] for r in message["toRecipients"]]:
            found = re.search(rf'href="([^"]*{re.escape(path)}\?t=[^"]+)"', message["body"]["content"])
            if found:
                return found.group(1).replace("&amp;", "&")
    raise AssertionError(f"no email to {to} with a {path} link")


def subscriber(services: Services) -> dict[str, Any]:
    [row] = services.store.mirror.items("Subscribers")
    return row.fields


def test_subscribe_confirm_choose_topics_and_unsubscribe(page: Page, site: tuple[str, Services]) -> None:
    base, services = site
    page.goto(f"{base}/api/pages/subscribe")
    assert_accessible(page, "the subscribe form")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    assert_accessible(page, "the subscribe form with an error")

    page.get_by_label("Your name (optional)").fill("Sam Taylor")
    page.get_by_label("Email address").fill("sam.taylor@example.com")
    page.get_by_label("Carers").check()
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    assert_accessible(page, "check your email")

    run_once(services, drain_seconds=60)
    assert (subscriber(services)["Status"], subscriber(services)["Topics"]) == ("Pending", ["Carers"])
    page.goto(sent_link(services, "sam.taylor@example.com", "/api/pages/subscribe/confirm"))
    assert_accessible(page, "confirm your subscription")
    page.get_by_role("button", name="Yes, send me updates").click()
    expect(page.get_by_role("heading", name="You're subscribed")).to_be_visible()
    assert_accessible(page, "you're subscribed")
    run_once(services, drain_seconds=60)
    assert subscriber(services)["Status"] == "Subscribed"

    page.get_by_role("link", name="Choose what you hear about").click()
    expect(page.get_by_label("Carers")).to_be_checked()
    assert_accessible(page, "choose what you hear about")
    page.get_by_label("Carers").uncheck()
    page.get_by_label("Having choice").check()
    page.get_by_role("button", name="Save my choices").click()
    expect(page.get_by_text("You'll hear about: Having choice.")).to_be_visible()
    assert_accessible(page, "your choices are saved")
    run_once(services, drain_seconds=60)
    assert subscriber(services)["Topics"] == ["Having choice"]

    page.get_by_role("link", name="Change them again").click()
    page.get_by_role("link", name="Unsubscribe from all updates").click()
    assert_accessible(page, "unsubscribe")
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You've unsubscribed")).to_be_visible()
    assert_accessible(page, "you've unsubscribed")
    run_once(services, drain_seconds=60)
    assert subscriber(services)["Status"] == "Unsubscribed"
