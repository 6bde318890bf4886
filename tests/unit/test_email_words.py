"""Emails' words (issue 32): a link in what an officer wrote is named by what it leads to, "(PDF)" where it is
one; an update's plain-text part carries no Markdown marks."""

from __future__ import annotations

import pytest

from coprod.mailing.campaigns import markdown_as_text
from coprod.templates.weblinks import link_name, linked_html, linked_text

PLAN = "https://council.example.org/docs/plan-2027.pdf"


@pytest.mark.parametrize(("url", "name"), [
    ("https://council.example.org/coproduction/carers-week", "carers week on council.example.org"),
    ("https://www.example.org/", "example.org"), ("https://example.org", "example.org"),
    ("https://example.org/a/Draft_plan%20v2.docx", "Draft plan v2 on example.org"),
    (PLAN, "plan 2027 on council.example.org")])
def test_a_bare_address_is_named_from_its_path_and_site(url: str, name: str) -> None:
    assert link_name(url) == name


def test_in_html_each_link_is_named_and_a_pdf_says_so_and_nothing_typed_is_markup() -> None:
    typed = (f"Read [the draft plan]({PLAN}) first. More: https://council.example.org/coproduction/carers-week, "
             "and <b>this</b>.\nhttps://evil.example/\"onmouseover=x")
    assert linked_html(typed) == (
        f'Read <a href="{PLAN}">the draft plan</a> (PDF) first. More: <a href="https://council.example.org/'
        'coproduction/carers-week">carers week on council.example.org</a>, and &lt;b&gt;this&lt;/b&gt;.<br>\n'
        '<a href="https://evil.example/">evil.example</a>&#34;onmouseover=x')


def test_in_plain_text_a_named_link_is_its_name_then_its_address() -> None:
    assert linked_text(f"Read [the draft plan]({PLAN}) first, or {PLAN}.") == (
        f"Read the draft plan (PDF): {PLAN} first, or {PLAN} (PDF).")


def test_an_updates_plain_text_has_no_markdown_marks() -> None:
    body = ("Thank you to everyone who came to **Giving my carers a break**.\n\nYou told us:\n\n1. Breaks need "
            "*planning* help\n2. Evenings matter\n\n## Next\n\n[Read the notes](https://council.example.org/notes) "
            "or `https://council.example.org/notes`.")
    assert markdown_as_text(body) == (
        "Thank you to everyone who came to Giving my carers a break.\n\nYou told us:\n\n1. Breaks need planning "
        "help\n2. Evenings matter\n\nNext\n\nRead the notes (https://council.example.org/notes) or "
        "https://council.example.org/notes.")
