"""The whole booking journey in a real browser (headless chromium), as someone without a Microsoft account takes it:
the timetable, a session, the form's errors, booked, the confirmation email (join link, calendar file), my bookings,
cancel. Every page passes axe-core's WCAG 2.2 AA rules, also at 320 px wide. Graph is the emulator over HTTPS.

Needs /usr/bin/chromium and `npm ci` (axe-core); see tests/support/browser.py.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from coprod.pages.app import create_web_app
from graph_emulator import EmulatorServer
from tests.support.browser import assert_accessible, serve_asgi
from tests.support.programme import Programme, soon

pytest_plugins = ["tests.support.browser"]

ADDRESS = "sam.example@example.org"


@pytest.fixture
def programme_settings() -> dict[str, str]:
    return {"COPROD_PUBLIC_URL": "https://coprod.example.org"}


def test_book_see_and_cancel_a_place_without_a_microsoft_account(page: Page, programme: Programme) -> None:
    session = programme.session("Carers' drop-in", soon(3), capacity=5, Theme="Carers", Audience=["Carers"],
                                Description="A relaxed hour to talk about breaks.")
    programme.run()
    context = programme.services.web_context()
    with serve_asgi(create_web_app(lambda: context)) as url:
        pages = f"{url}/api/pages"
        page.goto(f"{pages}/sessions")
        expect(page.get_by_role("heading", level=1)).to_have_text("Sessions you can book")
        expect(page.get_by_text("5 places left")).to_be_visible()
        assert_accessible(page, "the timetable")
        page.get_by_role("link", name="Carers' drop-in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Carers' drop-in")
        assert_accessible(page, "a session's page")

        page.get_by_role("button", name="Book my place").click()  # nothing filled in
        expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        assert_accessible(page, "the form with its errors")
        page.set_viewport_size({"width": 320, "height": 640})
        assert_accessible(page, "the form with its errors, 320 px wide")
        page.get_by_label("Your name").fill("Sam Example")
        page.get_by_label("Email address").fill(ADDRESS)
        page.get_by_label("Carer", exact=True).check()
        page.get_by_label("I agree to my details being kept").check()
        page.get_by_role("button", name="Book my place").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
        assert_accessible(page, "booked")

        programme.run()
        [confirmation] = programme.mail_to(ADDRESS)
        assert confirmation.subject == "Your place is booked: Carers' drop-in"
        assert "https://teams.microsoft.com/l/meetup-join/" in (confirmation.text_body or "")
        assert [a.name for a in confirmation.attachments] == ["session.ics"]

        page.goto(f"{pages}/bookings")
        page.get_by_label("Email address").fill(ADDRESS)
        page.get_by_role("button", name="Email me a link").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
        programme.run()
        [link_mail] = [m for m in programme.mail_to(ADDRESS) if m.subject.startswith("Your bookings")]
        link = re.search(r"https://coprod\.example\.org(/api/pages/bookings/mine\?t=\S+)", link_mail.text_body or "")
        assert link is not None
        page.goto(url + link.group(1))
        expect(page.get_by_role("heading", level=1)).to_have_text("Your bookings")
        expect(page.get_by_text("Your place is booked.")).to_be_visible()
        assert_accessible(page, "my bookings, 320 px wide")
        page.get_by_role("button", name="Cancel my place for Carers' drop-in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Do you want to cancel your place?")  # asked first
        page.get_by_role("button", name="Yes, cancel my place").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("cancelled")
    programme.run()
    assert [m.subject for m in programme.mail_to(ADDRESS)][-1] == "Your place is cancelled: Carers' drop-in"
    assert session


def test_after_a_mistake_the_summary_has_focus_and_each_link_shows_its_label(page: Page,
                                                                             programme: Programme) -> None:
    """Findings (issue 15): without GOV.UK's JavaScript, focus stayed at the top after a failed submit, and an error
    link scrolled the field's label and error out of view at 320 px; an empty required field had no
    aria-invalid; a focused checkbox's yellow ring was 1.35:1 on white."""
    programme.session("Carers' drop-in", soon(3), capacity=5)
    programme.run()
    context = programme.services.web_context()
    with serve_asgi(create_web_app(lambda: context)) as url:
        page.set_viewport_size({"width": 320, "height": 640})
        page.goto(f"{url}/api/pages/sessions/1")
        page.get_by_label("Your name").fill("Sam")
        page.get_by_role("button", name="Book my place").click()
        expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        assert page.evaluate("() => document.activeElement.classList.contains('govuk-error-summary')")
        assert page.get_attribute("#email", "aria-invalid") == "true"
        assert page.get_attribute("#consent", "aria-invalid") == "true"
        assert page.get_attribute("#name", "aria-invalid") is None
        for field, label in (("email", "Email address"), ("consent", "I agree to my details")):
            page.locator(f'.govuk-error-summary__list a[href="#{field}"]').click()
            box = page.locator("label", has_text=label).bounding_box()
            assert box is not None and box["y"] >= 0, f"the label of {field} is above the screen"
        page.locator("#join_mailing_list").focus()
        # GOV.UK Frontend draws the box as its label's ::before: focused, its border is 4px of #0b0c0c (19:1 on
        # white) inside the yellow ring
        box = page.evaluate("() => { const s = getComputedStyle(document.activeElement.labels[0], '::before');"
                            " return [s.borderTopWidth, s.borderTopColor]; }")
        assert box == ["4px", "rgb(11, 12, 12)"]


def test_every_booking_page_in_every_state_passes_axe_at_320_px(page: Page, programme: Programme,
                                                                emulator: EmulatorServer) -> None:
    """The new pages and their states, each checked by axe-core (WCAG 2.2 AA) at 320 px wide: a drop-in's page
    and its errors, the bookings form and its error, its answer, my bookings with nothing booked, the privacy
    notice, a session that can't be booked, the busy and the failed answers."""
    drop_in = programme.session("Drop-in: a one-to-one conversation", soon(4, hour=10), minutes=60, capacity=0,
                                Kind="DropIn", SlotMinutes=20)
    programme.run()
    context = programme.services.web_context()
    context.settings = context.settings.model_copy(update={"book_per_client_per_minute": 3})
    page.set_viewport_size({"width": 320, "height": 640})
    with serve_asgi(create_web_app(lambda: context)) as url:
        pages = f"{url}/api/pages"
        page.goto(f"{pages}/sessions/{drop_in}")
        assert_accessible(page, "a drop-in's page")
        page.get_by_role("button", name="Book my place").click()
        expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        assert_accessible(page, "a drop-in's errors")
        for path, name in (("/privacy", "the privacy notice"), ("/sessions/999", "a session that can't be booked"),
                           ("/bookings", "the bookings form")):
            page.goto(pages + path)
            assert_accessible(page, name)
        page.get_by_role("button", name="Email me a link").click()
        expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        assert_accessible(page, "the bookings form's error")
        page.get_by_label("Email address").fill("nobody@example.org")
        page.get_by_role("button", name="Email me a link").click()
        assert_accessible(page, "the bookings form's answer")
        signer = programme.services.signer
        from coprod.handoffs import MY_BOOKINGS

        page.goto(f"{pages}/bookings/mine?t={signer.make(MY_BOOKINGS.purpose, 'nobody', 3600)}")
        expect(page.get_by_text("You have no sessions booked")).to_be_visible()
        assert_accessible(page, "my bookings, none")
        emulator.add_fault(status=503, method="POST", path="/lists/Registrations/items", count=20, retry_after=0)
        page.goto(f"{pages}/sessions/{drop_in}")
        page.get_by_label("Your name").fill("Sam")
        page.get_by_label("Email address").fill("sam@example.org")
        page.locator("#slot").check()
        page.locator("#contact_method-2").check()  # Teams
        page.get_by_label("I agree to my details being kept").check()
        page.get_by_role("button", name="Book my place").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("We couldn't take your booking just now")
        assert_accessible(page, "a booking Microsoft 365 refused")
        emulator.backend.faults.clear()
        for heading in ("Check your email",  # the failed booking spent nothing: the same time can be booked now
                        "Sorry, we can't take more bookings for this session from here"):  # one of three: its share
            page.goto(f"{pages}/sessions/{drop_in}")
            page.get_by_label("Your name").fill("Sam")
            page.get_by_label("Email address").fill("sam@example.org" if heading.startswith("Check") else
                                                    "sam2@example.org")
            page.locator("#slot").check()
            page.locator("#contact_method-2").check()
            page.get_by_label("I agree to my details being kept").check()
            page.get_by_role("button", name="Book my place").click()
            expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        assert_accessible(page, "a session's share from one place taken")
        programme.clock.offset += 65 - programme.clock() % 60  # 5 s into a minute: the 4 look-ups share one
        for n in range(4):  # past the per-client limit of 3 look-ups a minute
            page.goto(f"{pages}/bookings")
            page.get_by_label("Email address").fill(f"nobody{n}@example.org")
            page.get_by_role("button", name="Email me a link").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Please try again in a few minutes")
        assert_accessible(page, "too many look-ups from one place")


def test_with_the_keyboard_alone_someone_books_a_place(page: Page, programme: Programme) -> None:
    programme.session("Carers' drop-in", soon(3), capacity=5)
    programme.run()
    context = programme.services.web_context()
    with serve_asgi(create_web_app(lambda: context)) as url:
        page.goto(f"{url}/api/pages/sessions/1")
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Cymraeg")).to_be_focused()  # the page in Welsh, in the header
        page.keyboard.press("Tab")
        expect(page.get_by_label("Your name")).to_be_focused()
        page.keyboard.type("Sam Example")
        page.keyboard.press("Tab")
        expect(page.get_by_label("Email address")).to_be_focused()
        page.keyboard.type(ADDRESS)
        page.keyboard.press("Tab")
        expect(page.get_by_label("Person who uses services")).to_be_focused()
        page.keyboard.press("ArrowDown")  # radios: the arrow keys choose within the group
        expect(page.get_by_label("Carer", exact=True)).to_be_checked()
        for label in ("Anything that would help you take part?", "Phone number (optional)"):
            page.keyboard.press("Tab")
            expect(page.get_by_label(label)).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.get_by_label("I agree to my details being kept")).to_be_focused()
        page.keyboard.press("Space")
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="how we use them")).to_be_focused()  # the privacy notice, in the label
        for _ in range(3):  # the mailing list, site access, then the button (the hidden field is never reached)
            page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="Book my place")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    items = programme.backend.sharepoint.get_list(programme.site, "Registrations").items
    [booking] = items.values()
    assert (booking.fields["Title"], booking.fields["Role"], booking.fields["Consent"]) == ("Sam Example", "Carer",
                                                                                           True)
