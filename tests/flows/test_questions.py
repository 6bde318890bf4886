"""Issue 30, item 1: a question per session ("each session will aim to answer 1 question in an hour"), shown on
the timetable, the session's page, the confirmation and the reminder, escaped wherever it is shown."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from coprod.pages.app import create_web_app
from graph_emulator.testing import AsgiTransport
from tests.support.programme import Programme, soon

BASE = "http://localhost:7071/api/pages"
# What an officer might paste: markup, quotes, an ampersand, a line separator, a right-to-left override
HOSTILE = "<b>What would \"help\" you & yours</b>\u2028 to \u202egive a day <script>alert(1)</script>?"
SHOWN = "What would"  # the start of the question as people read it
# As a plain-text email shows it: one line, without the override; markup is only text there
TYPED = '<b>What would "help" you & yours</b> to give a day <script>alert(1)</script>?'


@pytest.fixture
def programme_settings() -> dict[str, str]:
    return {"COPROD_PUBLIC_URL": "https://coprod.example.org"}


def pages(programme: Programme) -> httpx.Client:
    context = programme.services.web_context()
    return httpx.Client(transport=AsgiTransport(create_web_app(lambda: context)), base_url=BASE)


def test_the_question_is_on_the_timetable_and_the_sessions_page_escaped(programme: Programme) -> None:
    asked = programme.session("Having choice", soon(6), Question=HOSTILE)
    plain = programme.session("Being included", soon(7))
    programme.run()
    client = pages(programme)
    for page in (client.get("/sessions").text, client.get(f"/sessions/{asked}").text):
        assert SHOWN in page
        assert "<b>" not in page and "<script>alert" not in page and "&lt;b&gt;What would &#34;help&#34; you" in page
        assert "\u2028" not in page and "\u202e" not in page  # one line, and no override, however it was typed
    assert "The question" not in client.get(f"/sessions/{plain}").text  # none set: nothing said


def test_the_question_is_in_the_confirmation_and_the_reminder(programme: Programme) -> None:
    start = soon(5)
    session = programme.session("Having choice", start, Question=HOSTILE)
    other = programme.session("Being included", soon(6))
    programme.register(session, "Ann Example")
    programme.register(other, "Ben Example")
    programme.run()
    [confirmed] = programme.mail_to("ann.example@example.org")
    assert f"The question: {TYPED}\n" in (confirmed.text_body or "")
    assert "&lt;b&gt;What would" in (confirmed.html_body or "") and "<script>" not in (confirmed.html_body or "")
    [other_confirmed] = programme.mail_to("ben.example@example.org")
    assert "The question" not in (other_confirmed.text_body or "")
    programme.clock.offset += (start - timedelta(hours=23)).timestamp() - programme.clock()
    programme.run(minutes=0)
    [reminder] = [m for m in programme.mail_to("ann.example@example.org") if m.subject.startswith("Coming up")]
    assert f"The question: {TYPED}\n" in (reminder.text_body or "")
    assert "&lt;b&gt;What would" in (reminder.html_body or "")
