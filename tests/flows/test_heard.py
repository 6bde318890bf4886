"""Issue 30, item 3 and the end of item 2: an officer publishes a contribution, and "what we've heard" shows its
words (escaped, never a name or an address) with the questions asked and the outcomes shared, as a page and a
feed per theme; the writer hears once; nothing New or Hidden is ever shown."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import httpx
import pytest

from coprod.pages.app import create_web_app
from graph_emulator.testing import AsgiTransport
from tests.support.programme import Programme, soon

BASE = "http://localhost:7071/api/pages"
ATOM = "{http://www.w3.org/2005/Atom}"
# Markup, a quote, a line separator, a bidi override and a very long word
HOSTILE = ("<script>alert('x')</script> <b>bold</b> \"quoted\" & more\u2028next line \u202eevil\u202c "
           + "w" * 500)


@pytest.fixture
def programme_settings() -> dict[str, str]:
    return {"COPROD_PUBLIC_URL": "https://coprod.example.org"}


def pages(programme: Programme) -> httpx.Client:
    context = programme.services.web_context()
    return httpx.Client(transport=AsgiTransport(create_web_app(lambda: context), client=("127.0.0.1", 50000)),
                        base_url=BASE)


def contribute(client: httpx.Client, text: str, **more: str) -> None:
    answer = client.post("/contribute", data={"theme": "Carers", "text": text, "consent": "yes"} | more)
    assert answer.status_code == 200, answer.text


def item_of(programme: Programme, text_start: str) -> str:
    listed = programme.backend.sharepoint.get_list(programme.site, "Contributions")
    return next(str(i) for i, item in listed.items.items() if str(item.fields["Text"]).startswith(text_start))


def published_mail(programme: Programme, address: str) -> list[object]:
    return [m for m in programme.mail_to(address) if "What we've heard" in m.subject]


def test_hostile_words_are_shown_escaped_once_published_and_never_before(programme: Programme) -> None:
    client = pages(programme)
    contribute(client, HOSTILE, name="Ann Example", email="ann@example.org")
    contribute(client, "Quiet words nobody published")
    assert "Contributions: 2 new." in programme.run()
    for body in (client.get("/heard").text, client.get("/heard/feed").text, client.get("/heard?theme=Carers").text):
        assert "alert" not in body and "Quiet words" not in body  # New: never shown
    assert published_mail(programme, "ann@example.org") == []

    hostile = item_of(programme, "<script>")
    programme.edit("Contributions", hostile, Status="Published")
    lines = programme.run()
    assert "Contributions: 1 changed; 1 person told their contribution is published." in lines
    page = client.get("/heard?theme=Carers")
    assert page.status_code == 200
    shown = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt; &#34;quoted&#34; &amp; more"
    assert shown in page.text
    assert "<script>" not in page.text and "<b>bold" not in page.text and "\u202e" not in page.text
    assert page.text.count("alert(") == 1 and "w" * 500 in page.text and "next line" in page.text
    assert "Ann Example" not in page.text and "ann@example.org" not in page.text and "Quiet words" not in page.text
    feed = client.get("/heard/feed?theme=Carers")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(feed.content)  # noqa: S314 - our own feed; well-formed, whatever was written
    [entry] = root.findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}content").startswith("<script>alert('x')</script>")
    assert "Ann" not in feed.text and "ann@example.org" not in feed.text

    [told] = published_mail(programme, "ann@example.org")  # once: the writer left an address
    assert "alert" not in (told.text_body or "") + (told.html_body or "")  # it quotes nothing anyone typed
    assert "https://coprod.example.org/api/pages/heard" in (told.text_body or "")
    programme.run()
    programme.edit("Contributions", hostile, Status="Hidden")
    programme.run()
    assert "alert" not in client.get("/heard").text and "alert" not in client.get("/heard/feed").text
    programme.edit("Contributions", hostile, Status="Published")  # published again: no second email
    programme.run()
    assert "alert(" in client.get("/heard").text
    assert len(published_mail(programme, "ann@example.org")) == 1


def test_questions_and_shared_outcomes_are_heard_by_theme_and_nothing_else(programme: Programme) -> None:
    asked = programme.session("Evening support", soon(3), Theme="Carers", Question="What would make evenings easier?")
    programme.session("Draft idea", soon(4), Theme="Carers", Status="Draft", Question="A draft's question")
    past = programme.session("Respite", soon(1), Theme="Being included", Question="What does a good break look like?")
    kept = programme.session("Not yet shared", soon(-2), Theme="Being included", Outcomes="Private notes")
    programme.register(past, "Bea Carer")
    programme.run()
    programme.clock.offset += 2 * 86_400  # the session is over; its facilitator shares what came of it
    programme.edit("Sessions", past, ShareOutcomes=True,
                   Outcomes="You said breaks were hard to find.\n\nWe have listed every respite service.")
    programme.run()
    client = pages(programme)
    everything = client.get("/heard").text
    assert "What would make evenings easier?" in everything and "What does a good break look like?" in everything
    assert "A draft&#39;s question" not in everything and "Private notes" not in everything
    assert "We have listed every respite service." in everything and f'id="outcomes-{past}"' in everything
    assert "Bea" not in everything
    carers = client.get("/heard?theme=Carers").text
    assert "evenings easier" in carers and "respite service" not in carers
    assert 'href="/api/pages/heard/feed?theme=Carers"' in carers
    included = ET.fromstring(client.get("/heard/feed?theme=Being included").content)  # noqa: S314 - our own
    [entry] = included.findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == "You said, we did: Respite"
    assert client.get("/heard/feed?theme=Nonsense").status_code == 404
    [outcomes] = [m for m in programme.mail_to("bea.carer@example.org") if m.subject.startswith("You said")]
    assert "https://coprod.example.org/api/pages/heard" in (outcomes.text_body or "")
    assert asked and kept


def test_the_timetable_and_a_confirmation_link_to_what_we_have_heard(programme: Programme) -> None:
    session = programme.session("Evening support", soon(3))
    programme.register(session, "Cal Carer")
    programme.run()
    assert 'href="/api/pages/heard"' in pages(programme).get("/sessions").text
    notice = pages(programme).get("/privacy").text  # what is kept of a contribution and of feedback, and how long
    assert "never who wrote them" in notice and "we email you once when we do" in notice
    assert "we may ask you how it went" in notice and "deleted 365 days after the session" in notice
    [confirmation] = programme.mail_to("cal.carer@example.org")
    assert "https://coprod.example.org/api/pages/heard" in (confirmation.text_body or "")


def test_a_site_without_the_contributions_list_runs_on_and_says_how_to_add_it(programme: Programme) -> None:
    site = programme.backend.sharepoint.site(programme.site)
    [gone] = [key for key, lst in site.lists.items() if lst.display_name == "Contributions"]
    del site.lists[gone]
    session = programme.session("Evening support", soon(3))
    booked = programme.register(session, "Dee Carer")
    lines = programme.run()
    assert programme.status(booked) == "Confirmed"  # the other lists' work goes on
    assert any("Contributions: the list isn't on the site yet" in line and "coprod provision" in line
               for line in lines), lines
    assert pages(programme).get("/heard").status_code == 200


def test_retention_clears_a_contributors_name_and_address_and_old_feedback_comments(programme: Programme) -> None:
    """After the retention period (30 days here): a contribution keeps its words (it is what the programme heard)
    but loses the name and address it was left with; an answer to "How was it?" loses its comment, keeping its
    rating; a newer contribution and a newer answer are untouched."""
    from coprod import handoffs
    from coprod.handoffs import Feedback
    from tests.support.store_scan import raw_text

    programme.services.settings = programme.services.settings.model_copy(update={"retention_days": 30})
    programme.clock.to_uk_midday()
    over = programme.session("Long over", soon(-1))
    client = pages(programme)
    contribute(client, "Old words", name="Old Writer", email="old.writer@example.org")
    ledger = programme.services.store.ledger
    handoffs.put(ledger, Feedback(over, "7", 4, "yes", "Old comment about Old Writer", at=programme.clock()))
    programme.run()
    programme.clock.offset += 34 * 86_400
    programme.backend.sharepoint.create_item(  # (written today, by the test's clock)
        programme.site, "Contributions", {"Title": "New words", "Text": "New words", "Name": "New Writer",
                                          "Email": "new.writer@example.org", "Status": "New", "Theme": "Carers"},
        created=programme.clock())
    handoffs.put(ledger, Feedback("99", "8", 2, "no", "A newer comment", at=programme.clock()))
    lines = programme.run()
    [retention] = [line for line in lines if line.startswith("Retention")]
    assert "names and addresses of 1 contribution cleared, 1 feedback comment removed" in retention
    old = programme.fields(item_of(programme, "Old words"), "Contributions")
    assert (old.get("Name") or "", old.get("Email") or "", old["Text"]) == ("", "", "Old words")
    new = programme.fields(item_of(programme, "New words"), "Contributions")
    assert (new["Name"], new["Email"]) == ("New Writer", "new.writer@example.org")
    answers = {Feedback.read(e).registration: Feedback.read(e) for e in ledger.list(kind=Feedback.KIND)}
    assert (answers["7"].rating, answers["7"].listened, answers["7"].comment) == (4, "yes", "")
    assert answers["8"].comment == "A newer comment"
    store_text = raw_text(programme.services.store)
    assert "Old Writer" not in store_text and "old.writer@example.org" not in store_text
    quiet = programme.run(minutes=24 * 60)
    assert not any("contribution" in line for line in quiet if line.startswith("Retention"))


def test_erasing_a_published_contributor_leaves_nothing_of_them_in_the_list_the_store_or_the_pages(
        programme: Programme) -> None:
    from coprod.privacy.erasure import erase
    from tests.support.store_scan import raw_text

    client = pages(programme)
    contribute(client, "Zoë's own published words", name="Zoë Example", email="zoe@example.org")
    contribute(client, "Someone else's published words", email="someone.else@example.org")
    for text in ("Zoë's", "Someone else's"):
        programme.edit("Contributions", item_of(programme, text), Status="Published")
    programme.run()
    assert "Zoë&#39;s own published words" in client.get("/heard").text
    assert len(published_mail(programme, "zoe@example.org")) == 1
    assert "Zoë" in raw_text(programme.services.store)  # the mirror, and the email in the outbox

    done = erase(programme.services, "zoe@example.org")
    assert done.rows.get("Contributions") == 1 and done.problems == []
    for body in (client.get("/heard").text, client.get("/heard/feed").text):
        assert "Zoë" not in body and "Someone else&#39;s published words" in body.replace("'", "&#39;")
    store_text = raw_text(programme.services.store)
    assert "Zoë" not in store_text and "zoe@example.org" not in store_text
    listed = programme.backend.sharepoint.get_list(programme.site, "Contributions")
    assert not [item for item in listed.items.values() if "Zoë" in str(item.fields)]
    programme.run()  # the deletion coming back through the change feed brings nothing back
    assert "Zoë" not in client.get("/heard").text and "Zoë" not in raw_text(programme.services.store)
