"""The public pages in a real browser (headless chromium): every page, in every state a link or a form can lead to,
passes axe-core's WCAG 2.2 AA rules under the pages' own strict CSP, and the forms work with the keyboard alone.

Needs /usr/bin/chromium and `npm ci` (axe-core); see tests/support/browser.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

import tests.support.browser
from coprod.guests.access import confirmation_subject
from coprod.handoffs import (
    CANCEL,
    FEEDBACK,
    GUEST_CONFIRM,
    MY_BOOKINGS,
    PREFERENCES,
    REJOIN,
    SUBSCRIBE_CONFIRM,
    UNSUBSCRIBE,
    records,
)
from coprod.links import Signer
from coprod.pages.app import SECURITY_HEADERS, WebContext, create_web_app
from coprod.store import MirrorItem, SqliteStore
from tests.browser import axe_table
from tests.conftest import SIGNING_KEY, offline_settings
from tests.support.browser import assert_accessible, axe_violations, csp_refusals, require_browser, serve_asgi

pytest_plugins = ["tests.support.browser"]  # the `browser` (one chromium for this module) and `page` fixtures

PROGRAMME = "Having your say"
ANN = "ann.example@example.org"
GUEST_ITEM = "7"  # a GuestRequests item
REGISTRATION = "12"  # Ann's booking for...
SESSION = "3"  # ...the Carers' forum, Friday 26 March 2027, 2pm to 4pm UK time (GMT)
DROP_IN = "6"  # a drop-in: half-hour appointments on Tuesday 30 March 2027, 11am to 1pm UK time (BST)
DROP_IN_TAKEN = "8"  # a drop-in of one half-hour, on Wednesday 31 March 2027 at 11am UK time, which Ben holds
PHONE, HOURS = "01632 960 000", "Monday to Friday, 9am to 5pm"  # the team's number, in the states that set it
SUBSCRIBER_ITEM = "5"  # Ann's row in Subscribers
SUBSCRIBER = f"{SUBSCRIBER_ITEM}:{Signer(SIGNING_KEY).digest(ANN)}"  # the subject of her mailing-list links
DAY = 86_400.0


@dataclass
class Site:
    """The pages served on loopback over a state store holding a session, Ann's booking for it, and her subscription."""

    url: str
    store: SqliteStore
    signer: Signer
    context: WebContext

    def guest_link(self, lifetime: float = 14 * DAY) -> str:
        token = self.signer.make(GUEST_CONFIRM.purpose, confirmation_subject(self.signer, GUEST_ITEM, ANN), lifetime)
        return f"{self.url}/api/pages/guest/confirm?t={token}"

    def cancel_link(self, lifetime: float = 30 * DAY, address: str = ANN) -> str:
        token = self.signer.make(CANCEL.purpose, f"{REGISTRATION}:{self.signer.digest(address)}", lifetime)
        return f"{self.url}/api/pages/cancel?t={token}"

    def cancel_link_after_cancelled(self) -> str:
        """Ann's cancel link, opened again after the sync has cancelled her place."""
        self.store.mirror.put([registration("Cancelled")])
        return self.cancel_link()

    def subscribe_url(self) -> str:
        return f"{self.url}/api/pages/subscribe"

    def list_link(self, purpose: str, path: str, lifetime: float = 400 * DAY) -> str:
        token = self.signer.make(purpose, SUBSCRIBER, lifetime)
        return f"{self.url}/api/pages/{path}?t={token}"

    def subscribe_confirm_link(self) -> str:
        return self.list_link(SUBSCRIBE_CONFIRM.purpose, "subscribe/confirm", 7 * DAY)

    def rejoin_link(self) -> str:
        return self.list_link(REJOIN.purpose, "subscribe/rejoin", 7 * DAY)

    def preferences_link(self, lifetime: float = 400 * DAY) -> str:
        return self.list_link(PREFERENCES.purpose, "preferences", lifetime)

    def unsubscribe_link(self) -> str:
        return self.list_link(UNSUBSCRIBE.purpose, "unsubscribe")

    def one_click_link(self) -> str:
        return self.list_link(UNSUBSCRIBE.purpose, "unsubscribe/one-click")

    def pages(self, path: str) -> str:
        return f"{self.url}/api/pages/{path}"

    def my_bookings_link(self) -> str:
        token = self.signer.make(MY_BOOKINGS.purpose, self.signer.digest(ANN), 2 * DAY)
        return f"{self.url}/api/pages/bookings/mine?t={token}"

    def feedback_link(self) -> str:
        token = self.signer.make(FEEDBACK.purpose, f"{REGISTRATION}:{SESSION}", 7 * DAY)
        return f"{self.url}/api/pages/feedback?t={token}"

    def recorded(self, command: str) -> bool:
        """Whether the pages recorded a mailing-list command (`subscribe-confirmed`, `unsubscribe`) for Ann."""
        return self.store.ledger.get(f"{command}:{SUBSCRIBER}") is not None

    def guest_confirmed(self) -> bool:
        subject = confirmation_subject(self.signer, GUEST_ITEM, ANN)
        return self.store.ledger.get(f"guest-confirmed:{subject}") is not None

    def cancel_requested(self) -> bool:
        return self.store.ledger.get(f"cancel-request:{REGISTRATION}") is not None


def registration(status: str = "Confirmed") -> MirrorItem:
    """Ann's booking as the registration sync mirrors it (coprod/listsync.py: fields as Graph gives them)."""
    return MirrorItem("Registrations", REGISTRATION, '"etag-12,3"', "2027-02-01T09:30:00Z", {
        "Title": "Ann Example", "Email": "Ann.Example@example.org", "SessionLookupId": SESSION, "Consent": True,
        "AccessNeeds": "Step-free access, please", "Status": status}, SESSION)


@pytest.fixture
def site(store: SqliteStore) -> Iterator[Site]:
    store.mirror.put([MirrorItem("Sessions", SESSION, '"etag-3,1"', "2027-01-10T12:00:00Z", {
        "Title": "Carers' forum", "Status": "Open", "StartTime": "2027-03-26T14:00:00Z",
        "EndTime": "2027-03-26T16:00:00Z", "Capacity": 20, "Theme": "Carers",
        "Question": "What would make evenings easier?", "Outcomes": "You said evenings were hard.\n\nWe moved two "
        "sessions to the afternoon.", "ShareOutcomes": True}), registration(),
        MirrorItem("Sessions", DROP_IN, '"etag-6,1"', "2027-01-11T12:00:00Z", {
            "Title": "Talk to us about breaks", "Status": "Open", "Kind": "DropIn", "SlotMinutes": 30,
            "StartTime": "2027-03-30T10:00:00Z", "EndTime": "2027-03-30T12:00:00Z", "Capacity": 0, "Theme": "Carers"}),
        MirrorItem("Sessions", DROP_IN_TAKEN, '"etag-8,1"', "2027-01-12T12:00:00Z", {
            "Title": "Talk to us about transport", "Status": "Open", "Kind": "DropIn", "SlotMinutes": 30,
            "StartTime": "2027-03-31T10:00:00Z", "EndTime": "2027-03-31T10:30:00Z", "Capacity": 0, "Theme": "Carers"}),
        MirrorItem("Registrations", "14", '"etag-14,2"', "2027-02-03T09:30:00Z", {
            "Title": "Ben Example", "Email": "ben.example@example.org", "SessionLookupId": DROP_IN_TAKEN,
            "Consent": True, "Slot": "2027-03-31T10:00:00Z", "ContactMethod": "Teams", "Status": "Confirmed"},
            DROP_IN_TAKEN),
        MirrorItem("Contributions", "4", '"etag-4,2"', "2027-02-02T10:00:00Z", {  # published: words that may be long
            "Title": "A carer's words", "Theme": "Carers", "Status": "Published", "Name": "Ann Example",
            "Text": "<b>Evenings</b> are hard \u202eevil\u202c " + "w" * 300 + "\n\nA second paragraph."}),
        MirrorItem("Subscribers", SUBSCRIBER_ITEM, '"etag-5,2"', "2027-01-20T08:00:00Z", {
            "Title": "Ann Example", "Email": ANN, "Status": "Subscribed", "Topics": ["Carers", "Being included"]})])
    store.ledger.put(records.outcomes(SESSION), "outcomes-shared", "done", {"at": 0, "people": 1})
    signer = Signer(SIGNING_KEY)
    settings = offline_settings(programme_name=PROGRAMME)
    context = WebContext(signer, store, settings)
    with serve_asgi(create_web_app(lambda: context)) as url:
        yield Site(url, store, signer, context)


@pytest.fixture
def refusals(page: Page) -> list[str]:
    """What the pages' Content-Security-Policy refused in this test (a blocked stylesheet, an inline style)."""
    return csp_refusals(page)


def assert_shows(page: Page, heading: str, refusals: list[str]) -> None:
    """The page is the one expected, styled as every user sees it: the strict CSP let its stylesheet through."""
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    page.wait_for_load_state()  # this document's stylesheet is in
    assert page.title().endswith(PROGRAMME) and page.title().count(PROGRAMME) == 1  # named once
    assert page.evaluate("() => getComputedStyle(document.body).fontFamily").startswith("Arial"), \
        "the stylesheet did not load, so colours and contrast are not what users see"
    # GOV.UK Frontend's stylesheet declares GDS Transport, licensed for GOV.UK alone: the council's pages never
    # fetch it (site.css sets Arial on everything)
    assert page.evaluate("() => [...document.fonts].filter((font) => font.status !== 'unloaded').length") == 0
    assert refusals == []


@contextmanager
def submitting(page: Page) -> Iterator[Any]:
    """Around what submits a form: waits for the page the POST answers with to load; `.value` is the POST's response.

    The page's `load` event, not its heading: the error page after a bad POST has the same heading as the form.
    """
    with page.expect_event("load"), page.expect_response(lambda answer: answer.request.method == "POST") as posted:
        yield posted


# --- the steps to each state of each page -------------------------------------------------------------------------
@dataclass(frozen=True)
class Open:
    link: Callable[[Site], str]

    def run(self, page: Page, site: Site) -> int | None:
        answer = page.goto(self.link(site))
        assert answer is not None
        return answer.status


@dataclass(frozen=True)
class Press:
    button: str

    def run(self, page: Page, site: Site) -> int | None:
        with submitting(page) as answer:
            page.get_by_role("button", name=self.button).click()
        return int(answer.value.status)


@dataclass(frozen=True)
class Fill:
    label: str
    value: str

    def run(self, page: Page, site: Site) -> int | None:
        page.get_by_label(self.label, exact=True).fill(self.value)
        return None


@dataclass(frozen=True)
class Tick:
    label: str

    def run(self, page: Page, site: Site) -> int | None:
        page.get_by_label(self.label, exact=True).check()
        return None


@dataclass(frozen=True)
class Follow:
    """Press a button that opens a page (a form sent by GET)."""

    button: str

    def run(self, page: Page, site: Site) -> int | None:
        with page.expect_event("load"), page.expect_response(lambda answer: answer.request.method == "GET") as got:
            page.get_by_role("button", name=self.button).click()
        return int(got.value.status)


@dataclass(frozen=True)
class WithNumber:
    """The programme gives the team's number (COPROD_CONTACT_PHONE, COPROD_CONTACT_HOURS) from here on."""

    def run(self, page: Page, site: Site) -> int | None:
        site.context.settings = site.context.settings.model_copy(update={"contact_phone": PHONE,
                                                                          "contact_hours": HOURS})
        return None


Step = Open | Press | Fill | Tick | Follow | WithNumber


def reach(page: Page, site: Site, steps: Sequence[Step]) -> int:
    """Take the steps (open a link, fill in, press a button); the HTTP status of the page they end on."""
    status = 0
    for step in steps:
        status = step.run(page, site) or status
    return status


SUBSCRIBE = f"Get updates from {PROGRAMME}"
STATES: dict[str, tuple[list[Step], int, str]] = {
    # guest access and cancelling a place
    "guest access: confirm your address": ([Open(Site.guest_link)], 200, "Confirm your email address"),
    "guest access: confirmed": ([Open(Site.guest_link), Press("Confirm my email address")], 200,
                                "Thank you, your address is confirmed"),
    "cancel your place": ([Open(Site.cancel_link)], 200, "Do you want to cancel your place?"),
    "cancel your place: done": ([Open(Site.cancel_link), Press("Yes, cancel my place")], 200,
                                "Your place is cancelled"),
    "cancel link of a place already cancelled": ([Open(Site.cancel_link_after_cancelled)], 200,
                                                 "Your place is cancelled"),
    # the mailing list
    "subscribe": ([Open(Site.subscribe_url)], 200, SUBSCRIBE),
    "subscribe: no address given": ([Open(Site.subscribe_url), Press("Subscribe")], 400, SUBSCRIBE),
    "subscribe: address not in the right format": (
        [Open(Site.subscribe_url), Fill("Email address", "ann.example@"), Press("Subscribe")], 400, SUBSCRIBE),
    "subscribe: check your email": ([Open(Site.subscribe_url), Fill("Your name (optional)", "Ann"),
                                     Fill("Email address", ANN), Tick("Carers"), Press("Subscribe")], 200,
                                    "Check your email"),
    "subscription: confirm": ([Open(Site.subscribe_confirm_link)], 200, "Confirm you'd like updates"),
    "subscription: confirmed": ([Open(Site.subscribe_confirm_link), Press("Yes, send me updates")], 200,
                                "You're subscribed"),
    "rejoin after unsubscribing: confirm": ([Open(Site.rejoin_link)], 200, "Get updates again"),
    "rejoin after unsubscribing: done": ([Open(Site.rejoin_link), Press("Yes, send me updates again")], 200,
                                         "You're subscribed"),
    "choose topics": ([Open(Site.preferences_link)], 200, "Choose what you hear about"),
    "choose topics: saved": ([Open(Site.preferences_link), Tick("Being healthy"), Press("Save my choices")], 200,
                             "Your choices are saved"),
    "unsubscribe": ([Open(Site.unsubscribe_link)], 200, f"Stop getting updates from {PROGRAMME}?"),
    "unsubscribe: done": ([Open(Site.unsubscribe_link), Press("Unsubscribe")], 200, "You've unsubscribed"),
    "one-click unsubscribe address opened in a browser": ([Open(Site.one_click_link)], 200,
                                                          f"Stop getting updates from {PROGRAMME}?"),
    # telling us something between sessions (this site has no Graph: a good one cannot be saved here)
    "contribute": ([Open(lambda s: f"{s.url}/api/pages/contribute")], 200, "Tell us what you think"),
    "contribute: nothing filled in": ([Open(lambda s: f"{s.url}/api/pages/contribute"), Press("Send")], 400,
                                      "Tell us what you think"),
    "contribute: could not be saved": (
        [Open(lambda s: f"{s.url}/api/pages/contribute"), Tick("Carers"),
         Fill("What would you like to tell us?", "Evening sessions, please."),
         Tick("I agree to what I tell you being kept for this programme, and shared without my name (how we use it)"),
         Press("Send")], 503, "We couldn't save what you told us just now"),
    # what we've heard: every theme, one theme, a theme with nothing yet
    "what we've heard": ([Open(lambda s: f"{s.url}/api/pages/heard")], 200, "What we've heard"),
    "what we've heard: one theme": ([Open(lambda s: f"{s.url}/api/pages/heard?theme=Carers")], 200,
                                    "What we've heard: Carers"),
    "what we've heard: nothing yet": ([Open(lambda s: f"{s.url}/api/pages/heard?theme=Being%20healthy")], 200,
                                      "What we've heard: Being healthy"),
    # booking: the timetable, a session's page and its form, a drop-in's, "my bookings" (this site has no Graph: a
    # good booking cannot be made here)
    "the timetable": ([Open(lambda s: s.pages("sessions"))], 200, "Sessions you can book"),
    "the timetable: nothing with these choices": (
        [Open(lambda s: s.pages("sessions?theme=Being%20healthy"))], 200, "Sessions you can book"),
    "a session's page": ([Open(lambda s: s.pages(f"sessions/{SESSION}"))], 200, "Carers' forum"),
    "a session's page: nothing filled in": (
        [Open(lambda s: s.pages(f"sessions/{SESSION}")), Press("Book my place")], 400, "Carers' forum"),
    "a session's page: booking could not be made": (
        [Open(lambda s: s.pages(f"sessions/{SESSION}")), Fill("Your name", "Ben Example"),
         Fill("Email address", "ben.example@example.org"),
         Tick("I agree to my details being kept for this programme (how we use them)"), Press("Book my place")], 503,
        "We couldn't take your booking just now"),
    "a drop-in's page": ([Open(lambda s: s.pages(f"sessions/{DROP_IN}"))], 200, "Talk to us about breaks"),
    "a drop-in with no times left": ([Open(lambda s: s.pages(f"sessions/{DROP_IN_TAKEN}"))], 200,
                                     "Talk to us about transport"),
    "a session's page: did you mean another address": (
        [Open(lambda s: s.pages(f"sessions/{SESSION}")), Fill("Your name", "Ben Example"),
         Fill("Email address", "ben.example@gmial.com"),
         Tick("I agree to my details being kept for this programme (how we use them)"), Press("Book my place")], 400,
        "Carers' forum"),
    "a drop-in's page: nothing filled in": (
        [Open(lambda s: s.pages(f"sessions/{DROP_IN}")), Press("Book my place")], 400, "Talk to us about breaks"),
    "a session that can't be booked": ([Open(lambda s: s.pages("sessions/99"))], 404,
                                       "This session can't be booked"),
    "see your bookings": ([Open(lambda s: s.pages("bookings"))], 200, "See your bookings"),
    "see your bookings: no address given": ([Open(lambda s: s.pages("bookings")), Press("Email me a link")], 400,
                                            "See your bookings"),
    "see your bookings: check your email": ([Open(lambda s: s.pages("bookings")), Fill("Email address", ANN),
                                             Press("Email me a link")], 200, "Check your email"),
    "your bookings": ([Open(Site.my_bookings_link)], 200, "Your bookings"),
    "your bookings: cancel one": ([Open(Site.my_bookings_link), Follow("Cancel my place for Carers' forum")], 200,
                                  "Do you want to cancel your place?"),
    # how was it? (feedback after a session), and the privacy notice
    "how was it": ([Open(Site.feedback_link)], 200, "How was it?"),
    "how was it: nothing chosen": ([Open(Site.feedback_link), Press("Send")], 400, "How was it?"),
    "how was it: sent": ([Open(Site.feedback_link), Tick("4: Good"), Tick("Yes"), Press("Send")], 200,
                         "Thank you for telling us"),
    "how we use your details": ([Open(lambda s: s.pages("privacy"))], 200, "How we use your details"),
    # links that cannot be used, and addresses that are no page
    "guest link expired": ([Open(lambda s: s.guest_link(lifetime=-1))], 410, "This link has expired"),
    "cancel link expired": ([Open(lambda s: s.cancel_link(lifetime=-1))], 410, "This link has expired"),
    "preferences link expired": ([Open(lambda s: s.preferences_link(lifetime=-1))], 410, "This link has expired"),
    "guest link cut short": ([Open(lambda s: s.guest_link()[:-4])], 400, "This link doesn't work"),
    "cancel link cut short": ([Open(lambda s: s.cancel_link()[:-4])], 400, "This link doesn't work"),
    "cancel link for an address no longer on the booking": (
        [Open(lambda s: s.cancel_link(address="someone.else@example.org"))], 400, "This link doesn't work"),
    "unsubscribe link cut short": ([Open(lambda s: s.unsubscribe_link()[:-4])], 400, "This link doesn't work"),
    "an address that is no page": ([Open(lambda s: f"{s.url}/api/pages/nowhere")], 404, "Page not found"),
    # with the team's number given, for people without email
    "the timetable, with the team's number": ([WithNumber(), Open(lambda s: s.pages("sessions"))], 200,
                                              "Sessions you can book"),
    "a drop-in with no times left, with the team's number": (
        [WithNumber(), Open(lambda s: s.pages(f"sessions/{DROP_IN_TAKEN}"))], 200, "Talk to us about transport"),
    "see your bookings: check your email, with the team's number": (
        [WithNumber(), Open(lambda s: s.pages("bookings")), Fill("Email address", ANN), Press("Email me a link")],
        200, "Check your email"),
    "cancel link expired, with the team's number": ([WithNumber(), Open(lambda s: s.cancel_link(lifetime=-1))], 410,
                                                    "This link has expired"),
    "how we use your details, with the team's number": ([WithNumber(), Open(lambda s: s.pages("privacy"))], 200,
                                                        "How we use your details"),
    # in Welsh (issue 31): the same pages at ?lang=cy, the language link in the header at every width
    "the timetable, in Welsh": ([Open(lambda s: s.pages("sessions?lang=cy"))], 200,
                                "Sesiynau y gallwch chi eu harchebu"),
    "a session's page, in Welsh": ([Open(lambda s: s.pages(f"sessions/{SESSION}?lang=cy"))], 200, "Carers' forum"),
    "a session's page: nothing filled in, in Welsh": (
        [Open(lambda s: s.pages(f"sessions/{SESSION}?lang=cy")), Press("Archebu fy lle")], 400, "Carers' forum"),
    "a drop-in's page, in Welsh": ([Open(lambda s: s.pages(f"sessions/{DROP_IN}?lang=cy"))], 200,
                                   "Talk to us about breaks"),
    "how we use your details, in Welsh": ([Open(lambda s: s.pages("privacy?lang=cy"))], 200,
                                          "Sut rydyn ni'n defnyddio eich manylion"),
}


def assert_no_wcag_problems(page: Page, state: str, width: int) -> None:
    """axe-core finds nothing in the page as it is now; what it found is recorded for the table of all states at
    each width (tests/browser/axe_table.py) before a problem fails the test."""
    _, violations = axe_violations(page)
    axe_table.record(state, width, violations)
    if violations:
        assert_accessible(page, f"{state}, {width} px wide")  # fails, naming each problem and where it is


@pytest.mark.parametrize("state", STATES)
def test_every_page_in_every_state_has_no_wcag_22_aa_problems(page: Page, site: Site, refusals: list[str],
                                                                state: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    steps, status, heading = STATES[state]
    assert reach(page, site, steps) == status
    assert_shows(page, heading, refusals)
    assert_no_wcag_problems(page, state, 1280)


@pytest.mark.parametrize("state", STATES)
def test_every_page_fits_a_320px_wide_screen_without_scrolling_sideways(page: Page, site: Site, refusals: list[str],
                                                                        state: str) -> None:
    """WCAG 1.4.10 Reflow: someone zoomed to 400% on a 1280px screen reads each line without panning, and axe-core
    finds nothing there either (a layout at this width can hide or overlap what the wide one shows)."""
    page.set_viewport_size({"width": 320, "height": 640})
    steps, status, heading = STATES[state]
    assert reach(page, site, steps) == status
    assert_shows(page, heading, refusals)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 320
    assert_no_wcag_problems(page, state, 320)


@pytest.fixture
def page_without_javascript(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-GB", timezone_id="Europe/London", java_script_enabled=False)
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.mark.parametrize("state", STATES)
def test_every_page_in_every_state_works_without_javascript(page_without_javascript: Page, site: Site,
                                                              state: str) -> None:
    """GOV.UK Frontend's JavaScript only helps: each link opens, each form sends, each answer is the same without it."""
    steps, status, heading = STATES[state]
    assert reach(page_without_javascript, site, steps) == status
    expect(page_without_javascript.get_by_role("heading", level=1)).to_have_text(heading)


def test_without_javascript_the_error_summary_takes_focus_and_its_link_reaches_the_field(
        page_without_javascript: Page, site: Site) -> None:
    page = page_without_javascript
    reach(page, site, [Open(Site.subscribe_url), Press("Subscribe")])
    expect(page.locator(".govuk-error-summary")).to_be_focused()  # `autofocus`
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Enter your email address")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Email address", exact=True)).to_be_focused()


def test_the_cancel_page_names_the_session_and_its_uk_time(page: Page, site: Site) -> None:
    reach(page, site, [Open(Site.cancel_link)])
    expect(page.get_by_text("Carers' forum", exact=True)).to_be_visible()
    expect(page.get_by_text("Friday 26 March 2027, 2pm (UK time)")).to_be_visible()


# --- the keyboard alone -----------------------------------------------------------------------------------------------
FORMS: dict[str, tuple[Callable[[Site], str], str, str, Callable[[Site], bool]]] = {
    "guest access": (Site.guest_link, "Confirm my email address", "Thank you, your address is confirmed",
                     Site.guest_confirmed),
    "cancel a place": (Site.cancel_link, "Yes, cancel my place", "Your place is cancelled", Site.cancel_requested),
    "confirm a subscription": (Site.subscribe_confirm_link, "Yes, send me updates", "You're subscribed",
                               lambda s: s.recorded("subscribe-confirmed")),
    "unsubscribe": (Site.unsubscribe_link, "Unsubscribe", "You've unsubscribed", lambda s: s.recorded("unsubscribe")),
}


@pytest.mark.parametrize("form", FORMS)
def test_with_the_keyboard_tab_reaches_the_skip_link_then_the_button_and_enter_submits(page: Page, site: Site,
                                                                                      form: str) -> None:
    link, button_name, done, recorded = FORMS[form]
    reach(page, site, [Open(link)])
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).not_to_be_in_viewport()  # hidden until it has focus

    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()  # and seen when it has

    page.keyboard.press("Tab")  # the language link in the header (the page in Welsh), with a visible focus too
    language = page.get_by_role("link", name="Cymraeg")
    expect(language).to_be_focused()
    expect(language).to_have_css("background-color", "rgb(255, 221, 0)")

    page.keyboard.press("Tab")
    button = page.get_by_role("button", name=button_name)
    expect(button).to_be_focused()
    # WCAG 2.4.7: focus is visible, with GOV.UK's yellow focus style
    expect(button).to_have_css("outline-style", "solid")
    expect(button).to_have_css("background-color", "rgb(255, 221, 0)")
    assert not recorded(site)

    with submitting(page):
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(done)
    assert recorded(site)


def test_with_the_keyboard_alone_a_place_is_cancelled_from_my_bookings_after_being_asked(page: Page,
                                                                                         site: Site) -> None:
    reach(page, site, [Open(Site.my_bookings_link)])
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the language link
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Cancel my place for Carers' forum")).to_be_focused()
    with page.expect_event("load"):
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Do you want to cancel your place?")
    assert not site.cancel_requested()  # asked first: nothing is changed yet
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the language link
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Yes, cancel my place")).to_be_focused()
    with submitting(page):
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your place is cancelled")
    assert site.cancel_requested()


def test_the_skip_link_takes_keyboard_focus_past_the_header_to_the_main_content(page: Page, site: Site) -> None:
    reach(page, site, [Open(Site.guest_link)])
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("main")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Confirm my email address")).to_be_focused()


def test_with_the_keyboard_a_subscriber_finds_their_mistake_from_the_error_summary_and_fixes_it(
        page: Page, site: Site) -> None:
    reach(page, site, [Open(Site.subscribe_url)])
    for _ in range(3):  # the skip link, name, email
        page.keyboard.press("Tab")
    with submitting(page) as answer:  # Enter in the email field sends the form, still empty
        page.keyboard.press("Enter")
    assert answer.value.status == 400
    expect(page).to_have_title(f"Error: {SUBSCRIBE}")  # the programme is in the heading already: named once
    email = page.get_by_label("Email address", exact=True)
    # WCAG 3.3.1: the message is tied to the field, so a screen reader reads it with the field
    expect(email).to_have_accessible_description("We'll only use this to send you updates. Error: Enter your email "
                                                 "address")

    # the error summary has focus (WCAG 3.3.1, GOV.UK's pattern: GOV.UK Frontend's JavaScript focuses it, and
    # `autofocus` does without JavaScript), so a screen reader announces it and the next Tab is its first link
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("alert")).to_contain_text("There is a problem")
    page.keyboard.press("Tab")
    summary_link = page.get_by_role("link", name="Enter your email address")
    expect(summary_link).to_be_focused()
    page.keyboard.press("Enter")
    expect(email).to_be_focused()

    page.keyboard.type(ANN)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Having choice", exact=True)).to_be_focused()
    page.keyboard.press("Space")
    for theme in ("Being included", "Being healthy", "Carers", "Other"):
        page.keyboard.press("Tab")
        expect(page.get_by_label(theme, exact=True)).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Subscribe")).to_be_focused()
    with submitting(page):
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    [asked] = site.store.ledger.list(kind="subscriber")
    assert (asked.payload["email"], asked.payload["topics"]) == (ANN, ["Having choice"])


# --- the checks themselves --------------------------------------------------------------------------------------------
def test_the_axe_check_fails_and_names_each_problem_on_a_page_under_the_same_strict_csp(page: Page) -> None:
    """Proof that a pass above means something: axe runs despite `default-src 'none'` and reports what it finds."""
    async def bad_page(request: Request) -> HTMLResponse:
        return HTMLResponse("<!DOCTYPE html><html><head><title>Bad</title></head><body><main>"
                            "<img src='data:,' id='logo'><form><input type='text' id='who'>"
                            "<button type='submit'></button></form></main></body></html>", headers=SECURITY_HEADERS)

    with serve_asgi(Starlette(routes=[Route("/bad", bad_page)])) as url:
        answer = page.goto(f"{url}/bad")
        assert answer is not None and answer.status == 200
        with pytest.raises(pytest.fail.Exception) as failure:
            assert_accessible(page, "a page made badly on purpose")
    report = str(failure.value)
    assert report.startswith("a page made badly on purpose: axe-core 4.")
    for rule, target in (("html-has-lang", "html"), ("image-alt", "#logo"), ("label", "#who"),
                         ("button-name", "button")):
        assert f"- {rule} (" in report and f"at {target}: " in report


def test_browser_tests_fail_rather_than_skip_in_ci_when_the_browser_or_axe_is_missing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tests.support.browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(tests.support.browser, "AXE_SCRIPT", tmp_path / "no-axe.min.js")
    monkeypatch.delenv("COPROD_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"^browser tests need chromium at .*no-chromium \(apt-get install "
                                                    r"chromium.* and axe-core at .*no-axe\.min\.js \(run `npm ci`"):
        require_browser()
    monkeypatch.setenv("COPROD_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="COPROD_REQUIRE_BROWSER is set, so they may not be skipped"):
        require_browser()
