"""The mailing list end to end: lists in the emulator, the public pages in-process, full runs over HTTPS,
and what each person received, read back from the sender's mailbox."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from coprod.handoffs import UNSUBSCRIBE
from coprod.links import Signer
from coprod.pages.app import create_web_app
from coprod.runtime import Services
from graph_emulator import EmulatorServer
from graph_emulator.testing import AsgiTransport
from tests.conftest import SIGNING_KEY
from tests.support.fakes import FakeClock
from tests.support.programme import Programme

PUBLIC = "https://coprod.example.org"


class MailingList(Programme):
    """A programme with the public pages in-process (`browser`), and the mailing list's people and updates."""

    def __init__(self, emulator: EmulatorServer, services: Services, clock: FakeClock) -> None:
        super().__init__(emulator, services, clock)
        self.browser = httpx.Client(transport=AsgiTransport(create_web_app(services.web_context)), base_url=PUBLIC)

    def close(self) -> None:
        self.browser.close()

    def subscriber(self, name: str, email: str, **fields: Any) -> str:
        return self.add("Subscribers", Title=name, Email=email, **fields)

    def imported(self, name: str, email: str, **fields: Any) -> str:
        """An admin's import of someone who agreed before: Subscribed, with ConfirmedAt."""
        return self.subscriber(name, email, **{"Status": "Subscribed", "ConfirmedAt": "2025-03-01T10:00:00Z"} | fields)

    def update(self, title: str = "News from the programme", body: str = "Hello **everyone**.", **fields: Any) -> str:
        return self.add("Updates", **{"Title": title, "Body": body, "Ready": True} | fields)

    def link(self, address: str, path: str) -> str:
        """The newest link to `path` in what `address` received (from the plain-text part)."""
        for message in reversed(self.mail_to(address)):
            found = re.search(rf"{re.escape(PUBLIC)}({re.escape(path)}\?t=\S+)", message.text_body)
            if found:
                return found.group(1)
        raise AssertionError(f"no {path} link sent to {address}")

    def press(self, link: str, **form: Any) -> httpx.Response:
        """Open the link, then press the page's button."""
        page = self.browser.get(link)
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        token = re.search(r'name="t" value="([^"]+)"', page.text)
        assert action is not None and token is not None, page.text
        return self.browser.post(action.group(1), data={"t": token.group(1)} | form)


@pytest.fixture
def mailing(emulator: EmulatorServer, env: dict[str, str], clock: FakeClock) -> Iterator[MailingList]:
    with MailingList.open(emulator, env, clock, COPROD_PUBLIC_URL=PUBLIC,
                          COPROD_PROGRAMME_NAME="Having your say") as made:
        yield made


class TestDoubleOptIn:
    def test_a_new_subscriber_is_pending_until_they_press_the_button(self, mailing: MailingList) -> None:
        row = mailing.subscriber("Ann Example", "ann@example.org")
        mailing.run()
        assert mailing.fields(row, "Subscribers")["Status"] == "Pending"
        [ask] = mailing.mail_to("ann@example.org")
        assert ask.subject == "Please confirm: updates from Having your say"
        link = mailing.link("ann@example.org", "/api/pages/subscribe/confirm")
        assert re.search(r">\s*Yes, send me updates\s*</button>", mailing.browser.get(link).text)
        mailing.update()
        mailing.run()
        assert mailing.fields(row, "Subscribers")["Status"] == "Pending"  # opening the link changed nothing
        assert len(mailing.mail_to("ann@example.org")) == 1  # and Pending people get no updates
        assert "You're subscribed" in mailing.press(link).text
        mailing.run()
        fields = mailing.fields(row, "Subscribers")
        assert fields["Status"] == "Subscribed"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", fields["ConfirmedAt"])

    def test_an_admins_import_of_people_who_agreed_before_is_kept_as_it_is(self, mailing: MailingList) -> None:
        row = mailing.imported("Val Imported", "val@example.com")
        mailing.update(title="Our first update")
        mailing.run()
        assert mailing.fields(row, "Subscribers")["Status"] == "Subscribed"
        assert [m.subject for m in mailing.mail_to("val@example.com")] == ["Our first update"]  # no confirmation

    def test_a_registration_joining_the_list_asks_once_and_a_rejoin_asks_whether_they_mean_it(
            self, mailing: MailingList) -> None:
        """Someone an admin unsubscribed is never put back by a form: asking again sends one "rejoin?" email in 30
        days, the row stays Unsubscribed, and only the button on the page its link opens subscribes them again."""
        store = mailing.services.store
        store.ledger.add("subscriber:ann@example.org", "subscriber",
                         {"name": "Ann Example", "email": "ann@example.org", "source": "registration"})
        mailing.run()
        mailing.run()
        [row] = [r for r in store.mirror.items("Subscribers")]
        assert (row.fields["Source"], row.fields["Status"]) == ("Registration", "Pending")
        assert len(mailing.mail_to("ann@example.org")) == 1
        mailing.press(mailing.link("ann@example.org", "/api/pages/subscribe/confirm"))
        mailing.run()
        mailing.backend.sharepoint.update_fields(mailing.site, "Subscribers", row.item_id, {"Status": "Unsubscribed"})
        mailing.run()
        store.ledger.add("subscriber:web:ann@example.org:later", "subscriber",
                         {"email": "ann@example.org", "source": "website"})
        mailing.run(minutes=60 * 24)
        assert mailing.fields(row.item_id, "Subscribers")["Status"] == "Unsubscribed"  # the form changed nothing
        [_, rejoin] = mailing.mail_to("ann@example.org")
        assert rejoin.subject == "Do you want updates from Having your say again?"
        for days, source in ((1, "website"), (3, "registration")):  # asked again within the month: no email
            store.ledger.add(f"subscriber:{source}:ann@example.org:again", "subscriber",
                             {"email": "ann@example.org", "source": source})
            mailing.run(minutes=60 * 24 * days)
        assert len(mailing.mail_to("ann@example.org")) == 2
        old_confirmation = mailing.link("ann@example.org", "/api/pages/subscribe/confirm")
        mailing.press(old_confirmation)  # the first confirmation link cannot undo the unsubscribe
        mailing.run()
        assert mailing.fields(row.item_id, "Subscribers")["Status"] == "Unsubscribed"
        assert "You're subscribed" in mailing.press(mailing.link("ann@example.org", "/api/pages/subscribe/rejoin")).text
        mailing.run()
        assert mailing.fields(row.item_id, "Subscribers")["Status"] == "Subscribed"


class TestSubscribePage:
    def test_a_missing_or_wrong_address_gets_the_error_summary_and_nothing_happens(self,
                                                                                     mailing: MailingList) -> None:
        for typed, message in (("", "Enter your email address"),
                               ("ann(at)example.org", "Enter an email address in the correct format, like "
                                                      "name@example.com")):
            page = mailing.browser.post("/api/pages/subscribe", data={"email": typed, "topics": ["Carers"]})
            assert page.status_code == 400
            assert "<title>Error: Get updates from Having your say" in page.text
            assert f'<a href="#email">{message}</a>' in page.text  # the error summary's link to the field
            error = rf'<span class="govuk-visually-hidden">Error:</span> {re.escape(message)}\s*</p>'  # at the field
            assert re.search(error, page.text)
            assert 'value="Carers" checked' in page.text  # what they chose is kept
        assert mailing.services.store.ledger.list(kind="subscriber") == []

    def test_signing_up_sends_one_confirmation_and_never_says_who_is_on_the_list(self, mailing: MailingList) -> None:
        mailing.imported("Val Imported", "val@example.com")
        answers = [mailing.browser.post("/api/pages/subscribe",
                                        data={"name": "Sam", "email": email, "topics": ["Carers", "Nonsense"]})
                   for email in ("sam@example.com", "sam@example.com", "val@example.com")]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert all("Check your email" in a.text for a in answers)
        mailing.run()
        rows = {r.fields["Email"]: r.fields for r in mailing.services.store.mirror.items("Subscribers")}
        assert (rows["sam@example.com"]["Status"], rows["sam@example.com"]["Topics"],
                rows["sam@example.com"]["Source"]) == ("Pending", ["Carers"], "Website")
        assert len(mailing.mail_to("sam@example.com")) == 1  # twice in a day: asked once
        assert mailing.mail_to("val@example.com") == []  # already subscribed: nothing


class TestTopicsAndCampaigns:
    def test_an_update_reaches_only_the_subscribers_whose_topics_match(self, mailing: MailingList) -> None:
        mailing.imported("Carer", "carer@example.com", Topics=["Carers"])
        mailing.imported("Choice", "choice@example.com", Topics=["Having choice"])
        mailing.imported("Everything", "all@example.com")  # no topics: everything
        mailing.subscriber("Pending", "pending@example.com")
        mailing.imported("Gone", "gone@example.com", Status="Unsubscribed")
        update = mailing.update(title="Carers' week", Topics=["Carers"])
        mailing.run()
        assert [bool(mailing.mail_to(a)) for a in ("carer@example.com", "choice@example.com", "all@example.com",
                                                     "gone@example.com")] == [True, False, True, False]
        assert [m.subject for m in mailing.mail_to("pending@example.com")] == [
            "Please confirm: updates from Having your say"]
        sent = mailing.fields(update, "Updates")
        assert (sent["Status"], sent["SentCount"]) == ("Sent", 2)

    def test_scheduled_until_its_time_and_nothing_until_ready(self, mailing: MailingList) -> None:
        mailing.imported("Carer", "carer@example.com")
        later = mailing.update(SendAt=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mailing.clock() + 86_400)))
        draft = mailing.update(title="Not ready", Ready=False)
        mailing.run()
        assert mailing.fields(later, "Updates")["Status"] == "Scheduled" and mailing.mail_to("carer@example.com") == []
        assert mailing.fields(draft, "Updates").get("Status") is None
        mailing.run(minutes=24 * 60)
        assert mailing.fields(later, "Updates")["Status"] == "Sent"
        assert [m.subject for m in mailing.mail_to("carer@example.com")] == ["News from the programme"]

    def test_choosing_topics_on_the_preferences_page_is_written_to_the_list_and_used(self,
                                                                                      mailing: MailingList) -> None:
        row = mailing.imported("Ann", "ann@example.org", Topics=["Carers"])
        mailing.update(title="First", Topics=["Carers"])
        mailing.run()
        preferences = mailing.link("ann@example.org", "/api/pages/preferences")
        page = mailing.browser.get(preferences)
        assert 'value="Carers" checked' in page.text and 'value="Having choice">' in page.text
        token = re.search(r'name="t" value="([^"]+)"', page.text)
        assert token is not None
        saved = mailing.browser.post("/api/pages/preferences", data={"t": token.group(1), "topics": ["Having choice"]})
        assert "You'll hear about: Having choice." in saved.text
        mailing.run()
        assert mailing.fields(row, "Subscribers")["Topics"] == ["Having choice"]
        mailing.update(title="Second", Topics=["Carers"])
        mailing.update(title="Third", Topics=["Having choice"])
        mailing.run()
        assert [m.subject for m in mailing.mail_to("ann@example.org")] == ["First", "Third"]


class TestTheUpdateItself:
    def test_the_body_is_markdown_with_html_escaped_and_a_footer_that_says_why(self, mailing: MailingList) -> None:
        mailing.imported("Ann", "ann@example.org", Topics=["Carers"])
        mailing.update(title="What we heard", body="Thank you **all**.\n\n<script>alert(1)</script>\n\n"
                                                   "[notes](https://council.example.org/notes) "
                                                   "[bad](javascript:alert(1))")
        mailing.run()
        [message] = mailing.mail_to("ann@example.org")
        html = message.html_body or ""
        assert "<strong>all</strong>" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert '<a href="https://council.example.org/notes">notes</a>' in html
        assert 'href="javascript' not in html  # refused as a link: it stays text
        assert "You're getting this because you joined the Having your say mailing list on 1 March 2025, " \
               "for news about Carers." in message.text_body
        # the plain-text part says what they wrote, without Markdown's marks (a link: its name, then its address)
        assert message.text_body.startswith("Thank you all.\n\n<script>alert(1)</script>\n\nnotes "
                                            "(https://council.example.org/notes) [bad](javascript:alert(1))\n")

    def test_every_update_carries_one_click_unsubscribe_headers(self, mailing: MailingList) -> None:
        mailing.imported("Ann", "ann@example.org")
        mailing.update()
        mailing.run()
        [message] = mailing.mail_to("ann@example.org")
        header = message.header("List-Unsubscribe")
        assert re.fullmatch(rf"<{re.escape(PUBLIC)}/api/pages/unsubscribe/one-click\?t=[^>]+>, "
                            rf"<mailto:{re.escape(mailing.services.settings.sender)}\?subject=unsubscribe>", header)
        assert message.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"


class TestLeaving:
    def one_click_url(self, mailing: MailingList, address: str) -> str:
        [message] = mailing.mail_to(address)[-1:]
        found = re.search(rf"<{re.escape(PUBLIC)}(/api/pages/unsubscribe/one-click\?t=[^>]+)>",
                          message.header("List-Unsubscribe"))
        assert found is not None
        return found.group(1)

    def test_one_click_unsubscribe_by_post_and_a_get_changes_nothing(self, mailing: MailingList) -> None:
        row = mailing.imported("Ann", "ann@example.org")
        mailing.update(title="First")
        mailing.run()
        url = self.one_click_url(mailing, "ann@example.org")
        assert re.search(r">\s*Unsubscribe\s*</button>", mailing.browser.get(url).text)  # a page, no change
        mailing.run()
        assert mailing.fields(row, "Subscribers")["Status"] == "Subscribed"
        answer = mailing.browser.post(url, content=b"List-Unsubscribe=One-Click",
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200
        mailing.update(title="Second")
        mailing.run()
        assert mailing.fields(row, "Subscribers")["Status"] == "Unsubscribed"
        assert [m.subject for m in mailing.mail_to("ann@example.org")] == ["First"]

    @pytest.mark.parametrize(("purpose", "lifetime", "status"), [("unsubscribe", -10, 410), ("preferences", 3600, 400)])
    def test_a_tampered_or_expired_link_gets_a_kind_page_and_changes_nothing(
            self, mailing: MailingList, purpose: str, lifetime: float, status: int) -> None:
        row = mailing.imported("Ann", "ann@example.org")
        mailing.run()
        token = Signer(SIGNING_KEY, clock=mailing.clock).make(purpose, f"{row}:whatever", lifetime)
        for answer in (mailing.browser.get("/api/pages/unsubscribe", params={"t": token}),
                       mailing.browser.post("/api/pages/unsubscribe", data={"t": token}),
                       mailing.browser.post("/api/pages/unsubscribe/one-click", params={"t": token + "x"},
                                            content=b"List-Unsubscribe=One-Click")):
            assert answer.status_code in (status, 400) and "Traceback" not in answer.text
        mailing.run()
        assert mailing.fields(row, "Subscribers")["Status"] == "Subscribed"

    def test_a_campaign_stopped_half_way_and_run_again_reaches_everyone_once_and_no_leaver(
            self, mailing: MailingList) -> None:
        people = [f"person{n}@example.org" for n in range(10)]
        for n, address in enumerate(people):
            mailing.imported(f"Person {n}", address)
        mailing.imported("Left", "left@example.org", Status="Unsubscribed")
        update = mailing.update(title="The big news")
        transport = mailing.services.outbox.transport
        real_send, sends = transport.send, []

        def host_stops_after_three(mail: Any) -> None:
            real_send(mail)
            sends.append(mail.to)
            if len(sends) == 3:
                raise KeyboardInterrupt("the function host stopped the run")

        transport.send = host_stops_after_three  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            mailing.run()
        transport.send = real_send  # type: ignore[method-assign]
        assert mailing.fields(update, "Updates")["Status"] == "Sending"  # written before the drain began
        leaver = "person9@example.org"
        assert mailing.mail_to(leaver) == []  # not reached yet, and now they unsubscribe (one click)
        row9 = next(r for r in mailing.services.store.mirror.items("Subscribers") if r.fields["Email"] == leaver)
        signer = mailing.services.signer
        token = signer.make(UNSUBSCRIBE.purpose, f"{row9.item_id}:{signer.digest(leaver)}", 3600)
        assert mailing.browser.post("/api/pages/unsubscribe/one-click", params={"t": token},
                                    content=b"List-Unsubscribe=One-Click").status_code == 200
        mailing.run(minutes=10)  # later: the third (taken by Graph, unmarked) is found in Sent Items
        mailing.run()
        received = {a: len(mailing.mail_to(a)) for a in [*people, "left@example.org"]}
        assert received == {**{a: 1 for a in people[:9]}, leaver: 0, "left@example.org": 0}
        sent = mailing.fields(update, "Updates")
        assert (sent["Status"], sent["SentCount"]) == ("Sent", 9)
