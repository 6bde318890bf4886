"""Issue 32: a link in what an officer wrote reaches people named by what it leads to, "(PDF)" where it is one, in
the HTML and the plain text of the emails that quote it (a confirmation's pre-reading; "you said, we did")."""

from __future__ import annotations

from tests.support.programme import Programme, soon

PLAN = "https://council.example.org/docs/plan-2027.pdf"
READING = f"Please read [the draft plan]({PLAN}) and https://council.example.org/coproduction/carers-week."


def test_pre_reading_and_outcomes_links_are_named_and_a_pdf_says_so(programme: Programme) -> None:
    session = programme.session("Carers forum", soon(1), PreReading=READING)
    programme.register(session, "Ann Example")
    programme.run()
    [confirmed] = [m for m in programme.mail_to("ann.example@example.org") if m.subject.startswith("Your place")]
    html, text = confirmed.html_body or "", confirmed.text_body or ""
    assert f'<a href="{PLAN}">the draft plan</a> (PDF)' in html
    assert ('<a href="https://council.example.org/coproduction/carers-week">carers week on council.example.org</a>.'
            in html)
    assert f"Please read the draft plan (PDF): {PLAN} and https://council.example.org/coproduction/carers-week." in text
    assert "[the draft plan]" not in html + text and f">{PLAN}<" not in html

    programme.clock.offset += 2 * 86_400
    programme.edit("Sessions", session, ShareOutcomes=True, Outcomes=f"We wrote [a summary]({PLAN}).")
    programme.run()
    [outcomes] = [m for m in programme.mail_to("ann.example@example.org") if m.subject.startswith("You said")]
    assert f'<a href="{PLAN}">a summary</a> (PDF).' in (outcomes.html_body or "")
    assert f"We wrote a summary (PDF): {PLAN}." in (outcomes.text_body or "")
