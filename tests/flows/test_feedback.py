"""Issue 30, item 4: feedback after each session. Once a session is over (and Teams has said who came), each person
who had a place and did not miss it is asked "How was it?" once: by email with a seven-day link, or, booked by phone
or post, on the team's daily list. The page keeps one answer per person and session (a new one replaces it), in the
ledger; export shows it and erase deletes it."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from coprod.handoffs import FEEDBACK, Feedback
from coprod.pages.app import create_web_app
from graph_emulator.testing import AsgiTransport, BackgroundServer
from tests.support.programme import PUBLIC_URL, Programme, soon

BASE = "http://localhost:7071/api/pages"
ADMINS = "coproduction-admins@council.example.org"
SUBJECT = "How was it? Carers' forum"
LINK = re.compile(re.escape(PUBLIC_URL) + r"/api/pages/feedback\?t=(\S+)")
# Markup, a link, a line separator and a right-to-left override: kept as text, escaped wherever it is shown
HOSTILE = "<script>alert('x')</script> <b>bold</b> & \"quoted\"\u2028second line \u202eevil\u202c end"
KEPT = "<script>alert('x')</script> <b>bold</b> & \"quoted\"\nsecond line evil end"  # its lines kept; no override


@pytest.fixture
def programme_settings() -> dict[str, str]:
    return {"COPROD_PUBLIC_URL": PUBLIC_URL, "COPROD_ADMIN_EMAIL": ADMINS}


def pages(programme: Programme) -> httpx.Client:
    context = programme.services.web_context()
    return httpx.Client(transport=AsgiTransport(create_web_app(lambda: context)), base_url=BASE)


def asked(programme: Programme, address: str) -> list[Any]:
    return [m for m in programme.mail_to(address) if m.subject.startswith("How was it?")]


def answers(programme: Programme) -> list[dict[str, Any]]:
    return [e.payload for e in programme.store.ledger.list(kind=Feedback.KIND)]


def token_of(message: Any) -> str:
    found = LINK.search(message.text_body or "")
    assert found is not None, message.text_body
    return found.group(1)


def over(programme: Programme) -> dict[str, str]:
    """A session with everyone in it, run to its end, then on until Teams has said who came: Ann and Cy came, Ben
    booked and did not come, Pat booked by phone, Eve cancelled and Dee is on the waiting list. The ids by name,
    with the session's under "session"."""
    start = soon(2)
    session = programme.session("Carers' forum", start, capacity=4)
    people = {name: programme.register(session, f"{name} Example") for name in ("Ann", "Ben")}
    people["Pat"] = programme.register(session, "Pat Phone", Email="", ContactPreference="Phone",
                                       Phone="01632 960 001")
    people["Eve"] = programme.register(session, "Eve Example")
    programme.run()
    programme.edit("Registrations", people["Eve"], Cancel=True)
    programme.run()
    people |= {name: programme.register(session, f"{name} Example") for name in ("Cy", "Dee")}
    programme.run()
    assert {name: programme.status(r) for name, r in people.items()} == {
        "Ann": "Confirmed", "Ben": "Confirmed", "Pat": "Confirmed", "Eve": "Cancelled", "Cy": "Confirmed",
        "Dee": "Waitlisted"}
    [meeting] = programme.meetings()
    programme.backend.meetings.record_attendance(meeting.id, [
        {"email": "ann.example@example.org", "name": "Ann", "seconds": 3000},
        {"email": "cy.example@example.org", "name": "Cy", "seconds": 2000}])
    programme.clock.offset += (start + timedelta(minutes=65)).timestamp() - programme.clock()
    programme.run(minutes=0)  # five minutes after the end: Teams has not said who came, so nobody is asked yet
    assert [m for m in programme.mail() if m.subject == SUBJECT] == []
    lines = programme.run(minutes=30)
    assert programme.field("Registrations", people["Ben"], "Attended") == "No"
    assert any("2 feedback requests queued" in line for line in lines), lines
    return people | {"session": session}


def test_each_person_who_had_a_place_and_came_is_asked_once_by_email_or_by_the_team(programme: Programme) -> None:
    people = over(programme)
    programme.run()
    programme.run(minutes=60)  # two more runs: nobody is asked twice
    programme.store.ledger.delete(f"feedback-asked:{people['session']}")  # as if a run stopped before marking it
    programme.run()  # everyone is looked at again, and nobody is asked twice
    for name in ("ann", "cy"):
        [message] = asked(programme, f"{name}.example@example.org")
        assert message.subject == SUBJECT and message.to == (f"{name}.example@example.org",)
        text = message.text_body or ""
        assert f"Hello {name.capitalize()} Example," in text and "how was it?" in text
        assert "It takes a minute" in text and "The link works for 7 days" in text and "up to you" in text
        assert "without names, for the people who run the programme" in text and "team will read it" in text
        assert f'href="{PUBLIC_URL}/api/pages/feedback?t={token_of(message)}"' in (message.html_body or "")
    assert "Thank you for coming to Carers' forum." in (asked(programme, "ann.example@example.org")[0].text_body or "")
    for name in ("ben", "eve", "dee"):  # did not come, cancelled, never had a place
        assert asked(programme, f"{name}.example@example.org") == []
    assert programme.store.outbox.get(f"mail:feedback:registration-{people['Ben']}:session-{people['session']}") \
        is None
    due = [e.payload for e in programme.store.ledger.list(kind="contact-due") if e.payload["message"] == "feedback"]
    assert [(d["registration"], d["session"]) for d in due] == [(people["Pat"], people["session"])]
    digests = [m for m in programme.mail_to(ADMINS) if "Pat Phone: ask how the session went" in (m.text_body or "")]
    assert len(digests) == 1
    assert ("Pat Phone: ask how the session went (a rating from 1 to 5, and whether they felt listened to)."
            in (digests[0].text_body or ""))
    [done] = programme.store.ledger.list(kind="feedback-asked")
    assert done.key == f"feedback-asked:{people['session']}" and done.payload["people"] == 3


def test_a_session_that_ended_days_before_the_service_first_ran_asks_nobody(programme: Programme) -> None:
    """A service switched on for the first time asks about a session that ended yesterday, but not about one that
    ended three days before (nor about one cancelled, even after it was over)."""
    now = datetime.now(UTC)
    old = programme.session("Carers' forum", now - timedelta(days=3, hours=1))
    recent = programme.session("Having choice", now - timedelta(hours=26), Theme="Having choice")
    called_off = programme.session("Being included", now - timedelta(hours=26), Status="Cancelled")
    for session, name in ((old, "Old Example"), (recent, "Ann Example"), (called_off, "Cal Example")):
        programme.register(session, name, Status="Confirmed")
    programme.run()
    programme.run()
    assert [m.to for m in programme.mail() if m.subject.startswith("How was it?")] == [("ann.example@example.org",)]
    assert {e.key for e in programme.store.ledger.list(kind="feedback-asked")} == {f"feedback-asked:{recent}"}


def test_the_link_opens_the_form_and_an_answer_is_kept_once_and_replaced_by_a_second(programme: Programme) -> None:
    people = over(programme)
    token = token_of(asked(programme, "ann.example@example.org")[0])
    client = pages(programme)
    form = client.get(f"/feedback?t={token}")
    assert form.status_code == 200 and re.search(r"<h1[^>]*>How was it\?</h1>", form.text)
    assert "Carers&#39; forum" in form.text and "Did you feel listened to?" in form.text
    assert 'value="5">' in form.text and "5: Very good" in form.text and "1: Very poor" in form.text
    assert 'aria-describedby="comment-hint"' in form.text and re.search(r"it isn(&#39;|')t published", form.text)
    assert "replaces it" not in form.text and " checked" not in form.text
    answered = client.post("/feedback", data={"t": token, "rating": "4", "listened": "partly", "comment": "Good."})
    assert answered.status_code == 200 and "Thank you for telling us" in answered.text
    assert f'href="{BASE.removeprefix("http://localhost:7071")}/sessions"' in answered.text
    [kept] = answers(programme)
    assert kept == {"session": people["session"], "registration": people["Ann"], "rating": 4, "listened": "partly",
                    "comment": "Good.", "at": pytest.approx(programme.clock(), abs=5)}
    assert client.post("/feedback", data={"t": token, "rating": "2", "listened": "no"}).status_code == 200
    [kept] = answers(programme)
    assert (kept["rating"], kept["listened"], kept["comment"]) == (2, "no", "")
    again = client.get(f"/feedback?t={token}")
    assert 'value="2" checked' in again.text and 'value="no" checked' in again.text
    assert "your new answer replaces it" in again.text
    assert programme.store.ledger.list(kind="feedback")[0].key == (
        f"feedback:session-{people['session']}:registration-{people['Ann']}")


def test_a_tampered_or_expired_link_shows_the_link_problem_and_keeps_nothing(programme: Programme) -> None:
    over(programme)
    token = token_of(asked(programme, "ann.example@example.org")[0])
    client = pages(programme)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for answer in (client.get(f"/feedback?t={tampered}"),
                   client.post("/feedback", data={"t": tampered, "rating": "5", "listened": "yes"}),
                   client.get("/feedback")):
        assert answer.status_code == 400 and "This link doesn't work" in answer.text
        assert "Nothing has been changed." in answer.text
    programme.clock.offset += 8 * 24 * 3600
    for answer in (client.get(f"/feedback?t={token}"),
                   client.post("/feedback", data={"t": token, "rating": "5", "listened": "yes"})):
        assert answer.status_code == 410 and "This link has expired" in answer.text
    assert answers(programme) == []


def test_a_link_for_a_booking_that_moved_or_is_gone_shows_the_link_problem(programme: Programme) -> None:
    people = over(programme)
    signer = programme.services.signer
    client = pages(programme)
    for subject in (f"{people['Ann']}:{people['session']}0", f"999:{people['session']}", f"{people['Ann']}:",
                    people["Ann"]):
        token = signer.make(FEEDBACK.purpose, subject, 3600)
        answer = client.post("/feedback", data={"t": token, "rating": "5", "listened": "yes"})
        assert answer.status_code == 400 and "This link doesn't work" in answer.text
    assert answers(programme) == []


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"rating": "6", "listened": "yes"}, "rating", "Choose how the session was, from 1 to 5"),
    ({"rating": "", "listened": "yes"}, "rating", "Choose how the session was, from 1 to 5"),
    ({"rating": "4.0", "listened": "yes"}, "rating", "Choose how the session was, from 1 to 5"),
    ({"rating": "3", "listened": "maybe"}, "listened", "Choose whether you felt listened to"),
    ({"rating": "3", "listened": "yes", "comment": "x" * 1001}, "comment",
     "Your comment must be 1,000 characters or less"),
])
def test_a_mistake_is_answered_400_by_its_field_and_nothing_is_kept(programme: Programme, data: dict[str, str],
                                                                    field: str, message: str) -> None:
    over(programme)
    token = token_of(asked(programme, "ann.example@example.org")[0])
    answer = pages(programme).post("/feedback", data={"t": token} | data)
    assert answer.status_code == 400 and "<title>Error: " in answer.text
    assert f'<a href="#{field}">{message}</a>' in answer.text
    assert f'id="{field}-error"' in answer.text and 'aria-invalid="true"' in answer.text
    assert answers(programme) == []


def test_a_hostile_comment_is_kept_as_text_and_shown_escaped(programme: Programme) -> None:
    over(programme)
    token = token_of(asked(programme, "ann.example@example.org")[0])
    client = pages(programme)
    assert client.post("/feedback", data={"t": token, "rating": "3", "listened": "yes",
                                          "comment": HOSTILE}).status_code == 200
    [kept] = answers(programme)
    assert kept["comment"] == KEPT
    assert "\u202e" not in kept["comment"] and "\u2028" not in kept["comment"]
    shown = client.get(f"/feedback?t={token}").text
    assert "<script>alert" not in shown and "<b>bold" not in shown
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt; &amp; &#34;quoted&#34;" in shown


def test_several_answers_at_once_from_one_person_leave_exactly_one(programme: Programme) -> None:
    people = over(programme)
    token = token_of(asked(programme, "ann.example@example.org")[0])
    context = programme.services.web_context()
    codes: list[int] = []
    with BackgroundServer(create_web_app(lambda: context), name="pages") as server:
        start = threading.Barrier(8)

        def post(n: int) -> None:
            with httpx.Client(base_url=f"{server.url}/api/pages", timeout=60) as client:
                start.wait()
                codes.append(client.post("/feedback", data={"t": token, "rating": str(n % 5 + 1), "listened": "yes",
                                                            "comment": f"Answer {n}"}).status_code)

        threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert codes == [200] * 8
    [kept] = answers(programme)
    n = int(kept["comment"].removeprefix("Answer "))  # one of the answers, whole: its rating is its own
    assert (kept["registration"], kept["rating"]) == (people["Ann"], n % 5 + 1)


def test_an_answer_is_in_its_giver_s_export_and_erase_deletes_it(programme: Programme) -> None:
    """Data protection: an answer holds no address, so it is found by the person's bookings: each of theirs in their
    export, and deleted by erase (another person's answer stays); the link then works no more."""
    from coprod.privacy.dataprotection import export, iso
    from coprod.privacy.erasure import erase

    people = over(programme)
    later = programme.session("Having choice", soon(9), Theme="Having choice")
    again = programme.register(later, "Ann Example")  # Ann's second booking, answered about too
    programme.run()
    client = pages(programme)
    tokens = {name: token_of(asked(programme, f"{name}.example@example.org")[0]) for name in ("ann", "cy")}
    tokens["again"] = programme.services.signer.make(FEEDBACK.purpose, f"{again}:{later}", 3600)
    for token, data in ((tokens["ann"], {"rating": "5", "listened": "yes", "comment": "Ann's own words"}),
                        (tokens["cy"], {"rating": "1", "listened": "no"}),
                        (tokens["again"], {"rating": "3", "listened": "partly", "comment": "Ann again"})):
        assert client.post("/feedback", data={"t": token} | data).status_code == 200
    at = {a["registration"]: iso(a["at"]) for a in answers(programme)}  # (times in ISO 8601, UTC)
    held = export(programme.services, "ANN.example@example.org")

    def named(session: str) -> dict[str, Any]:  # each answer names its session as the export names bookings'
        fields = programme.store.mirror.get("Sessions", session).fields  # type: ignore[union-attr]
        return {"id": session, "title": fields["Title"], "start": fields["StartTime"]}

    assert sorted(held["state"]["feedback"], key=lambda a: a["comment"]) == [
        {"session": named(later), "registration": again, "rating": 3, "listened": "partly", "comment": "Ann again",
         "at": at[again]},
        {"session": named(people["session"]), "registration": people["Ann"], "rating": 5, "listened": "yes",
         "comment": "Ann's own words", "at": at[people["Ann"]]}]
    assert held["state"]["feedback"][0]["session"]["title"] in ("Having choice", "Carers' forum")
    assert export(programme.services, "dee.example@example.org")["state"]["feedback"] == []
    done = erase(programme.services, "ann.example@example.org")
    assert done.problems == [] and done.records_deleted == 2
    assert [a["registration"] for a in answers(programme)] == [people["Cy"]]  # Cy's answer stays
    told = programme.store.ledger.get(f"told:registration-{people['Ann']}")
    assert told is not None and told.payload == {"erased": True}  # the records about her were still emptied
    assert "Ann's own words" not in str([e.payload for e in programme.store.ledger.list()])
    assert export(programme.services, "ann.example@example.org")["state"]["feedback"] == []
    answer = client.get(f"/feedback?t={tokens['ann']}")
    assert answer.status_code == 400 and "This link doesn't work" in answer.text
