"""Real-browser test helpers: headless chromium through Playwright, an ASGI app on loopback, axe-core checks.

A test module opts in with `pytest_plugins = ["tests.support.browser"]`, which gives it the `browser` fixture (one
chromium for the module's tests) and `page` (a fresh browser context per test), then:

    from tests.support.browser import assert_accessible, serve_asgi

    def test_the_page_works_for_everyone(page: Page) -> None:
        with serve_asgi(create_web_app(...)) as base_url:
            page.goto(f"{base_url}/api/pages/...")
            assert_accessible(page, "the confirmation page")

The browser is Debian's chromium (`/usr/bin/chromium`, or `COPROD_CHROMIUM`): Playwright's own browsers are never
downloaded. axe-core is the npm package pinned in package-lock.json (`npm ci` puts it in node_modules/). When either
is missing the browser tests are skipped, saying what to install; with `COPROD_REQUIRE_BROWSER=1` (as .ci/run sets)
they fail instead, so CI can never pass by silently skipping them.

PYTEST_DONT_REWRITE: test modules import these helpers before pytest reads their `pytest_plugins`, too late for
pytest to rewrite this module's asserts (it would warn); the helpers report with `pytest.fail` instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright
from starlette.types import ASGIApp

from graph_emulator.testing import BackgroundServer

__all__ = [
    "AXE_SCRIPT", "CHROMIUM", "CHROMIUM_ARGS", "WCAG_22_AA", "AxeViolation", "assert_accessible",
    "axe_violations", "browser", "browser_missing", "chromium_browser", "csp_refusals", "launch_chromium", "page",
    "require_browser", "serve_asgi",
]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("COPROD_CHROMIUM", "/usr/bin/chromium"))
# This machine refuses outside connections: nothing in the browser should try to make any.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync")
AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# axe-core's tags for WCAG 2.2 level A and AA: each WCAG version's rules are tagged with the version that added them.
WCAG_22_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
TIMEOUT_MS = 10_000  # a page on loopback answers in milliseconds; a failing wait should not take Playwright's 30 s


# --- is there a browser to test with? ---------------------------------------------------------------------------------
def browser_missing() -> list[str]:
    """What the browser tests need and this machine lacks, with how to get it; empty when all is there."""
    missing = []
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"chromium at {CHROMIUM} (apt-get install chromium, or set COPROD_CHROMIUM)")
    if not AXE_SCRIPT.is_file():
        missing.append(f"axe-core at {AXE_SCRIPT} (run `npm ci` in {ROOT})")
    return missing


def require_browser() -> None:
    """Skip the calling test (or fixture) when chromium or axe-core is missing; fail if COPROD_REQUIRE_BROWSER=1."""
    missing = browser_missing()
    if not missing:
        return
    message = "browser tests need " + " and ".join(missing)
    if os.environ.get("COPROD_REQUIRE_BROWSER", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(f"{message}; COPROD_REQUIRE_BROWSER is set, so they may not be skipped", pytrace=False)
    pytest.skip(message)


# --- chromium ---------------------------------------------------------------------------------------------------------
def launch_chromium(playwright: Playwright, **options: Any) -> Browser:
    """Debian's chromium, headless; `options` go to Playwright's `chromium.launch` (e.g. `slow_mo=250`)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS),
                                      **options)


@contextmanager
def chromium_browser(**options: Any) -> Iterator[Browser]:
    """Playwright (sync API) and one headless chromium, for as long as the block lasts; skips as `require_browser`.

    Playwright's sync API allows one instance per thread at a time, and while it runs `asyncio.run` fails in the
    same thread: in tests, use the `browser` fixture rather than opening another.
    """
    require_browser()
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright, **options)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless chromium for all the tests of a module (about 0.5 s to start).

    Not one for the whole session: while Playwright's sync API is running, its asyncio loop counts as running in
    this thread, so `asyncio.run` anywhere else (tests/unit/test_web.py, the in-process ASGI transport) would fail with
    "cannot be called from a running event loop". Scoped to the module, Playwright stops before the next module runs.
    """
    with chromium_browser() as chromium:
        yield chromium


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page in its own browser context (no cookies or history from other tests), British English, 1024x768."""
    context = browser.new_context(locale="en-GB", timezone_id="Europe/London", viewport={"width": 1024, "height": 768})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def csp_refusals(page: Page) -> list[str]:
    """A list that fills with the browser's Content-Security-Policy refusals on `page` from now on.

    Call it before `page.goto`: a stylesheet or inline style the policy blocks shows up here, while the page simply
    looks wrong.
    """
    refusals: list[str] = []

    def listen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refusals.append(message.text)

    page.on("console", listen)
    return refusals


# --- serving an ASGI app ----------------------------------------------------------------------------------------------
@contextmanager
def serve_asgi(app: ASGIApp) -> Iterator[str]:
    """Serve `app` on loopback for the block; yields its base URL (`http://127.0.0.1:<port>`, no trailing slash)."""
    with BackgroundServer(app, name="pages") as server:
        yield server.url


# --- axe-core ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AxeViolation:
    rule: str
    impact: str | None
    help: str
    help_url: str
    nodes: tuple[tuple[str, str], ...]  # (target selector, what is wrong there)

    def describe(self) -> str:
        lines = [f"- {self.rule} ({self.impact or 'no impact given'}): {self.help}  <{self.help_url}>"]
        lines += [f"    at {target}: {summary}" for target, summary in self.nodes]
        return "\n".join(lines)


@cache
def _axe_source() -> str:
    return AXE_SCRIPT.read_text(encoding="utf-8")


_RUN_AXE = """async (tags) => {
  const results = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return {version: axe.version, violations: results.violations.map((v) => ({
    rule: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => [n.target.map((t) => [].concat(t).join(" >> ")).join(" >> "),
                               (n.failureSummary || "").replace(/\\s*\\n\\s*/g, " ")]),
  }))};
}"""


def axe_violations(page: Page, tags: Sequence[str] = WCAG_22_AA) -> tuple[str, list[AxeViolation]]:
    """axe-core's version and the violations it finds in `page` as it is now, for rules tagged with any of `tags`.

    The pages send a strict Content-Security-Policy (`default-src 'none'`), which forbids every script, and rightly
    so. axe-core is not added to the page as a <script> (the policy refuses that) but evaluated through Playwright's
    `page.evaluate`, i.e. the DevTools protocol, which the page's CSP does not govern; axe itself needs no eval and
    makes no requests. The page is otherwise untouched. A context with `bypass_csp=True` would also work, but it
    switches the policy off for everything: a stylesheet or inline style the policy blocks for real users would then
    load, and axe would judge contrast and layout on a page nobody else sees.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    answer = page.evaluate(_RUN_AXE, list(tags))
    violations = [AxeViolation(v["rule"], v["impact"], v["help"], v["helpUrl"],
                               tuple((str(target), str(summary)) for target, summary in v["nodes"]))
                  for v in answer["violations"]]
    return str(answer["version"]), violations


def assert_accessible(page: Page, name: str, tags: Sequence[str] = WCAG_22_AA) -> None:
    """Fail, listing every violation (rule, impact, help, failing elements), if axe-core finds any in `page`.

    `name` says which page or state this is, for the failure message. Only what is rendered now is checked: run it
    again after anything that changes the page (an error shown, a details element opened).
    """
    require_browser()
    version, violations = axe_violations(page, tags)
    if violations:
        found = "\n".join(v.describe() for v in violations)
        pytest.fail(f"{name}: axe-core {version} found {len(violations)} accessibility problem(s) "
                    f"({', '.join(tags)}) at {page.url}:\n{found}", pytrace=False)
