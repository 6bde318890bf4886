"""Building an email from what people typed: no name, subject or filename can reach another recipient or header.

Names and subjects come from SharePoint rows anyone may fill in. The message as Exchange would read it (parsed
with Python's RFC 5322 parser, as the emulator does) must have exactly the one intended recipient, and building
it must never raise for anything the rules let through.
"""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from email.utils import getaddresses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coprod.lists.fields import check_email
from graph_client import Attachment, OutgoingMail, header_text
from graph_client._mail import to_mime

SENDER = "coproduction@council.example.org"

hostile_text = st.one_of(
    st.text(max_size=80),
    st.sampled_from([
        "José <attacker@evil.example>",
        "Zoë: a@x.example, b@y.example;",
        'Ann "the boss" <ann@evil.example>, Bob',
        "=?utf-8?q?attacker=40evil.example?= <attacker@evil.example>",
        "Line\r\nBcc: attacker@evil.example",
        "Para\u2029Bcc: attacker@evil.example",
        "Next\x85Cc: attacker@evil.example",
        "Sep\u2028To: attacker@evil.example",
        "\u202eelpmaxe.live@rekcatta",
        "(comment) name <a@b>",
        "x" * 2000,
    ]),
)
# Addresses as people type them: ASCII, upper case, spaces around, non-ASCII domains, and plain junk.
typed_addresses = st.one_of(
    st.emails(),
    st.emails().map(lambda a: f"  {a.upper()} "),
    st.sampled_from(["ann@bücher.de", "ＡＮＮ@example.org", "josé@example.org", "a@b", "a@b>, c@d",
                     '"a b"@example.org', "ann@example.org\nBcc: x@evil.example", "ann@exa mple.org"]),
    st.text(max_size=40),
)


def parsed(mail: OutgoingMail) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    raw = to_mime(mail, SENDER, "Having your say").as_bytes()
    message = BytesParser(policy=policy.default).parsebytes(raw)
    headers: dict[str, list[str]] = {}
    for name, value in message.items():
        headers.setdefault(name.lower(), []).append(str(value))
    recipients = getaddresses([str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name) or []])
    return recipients, headers


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=hostile_text, subject=hostile_text, filename=hostile_text, typed=typed_addresses)
def test_the_only_recipient_is_the_intended_address_whatever_the_name(name: str, subject: str, filename: str,
                                                                        typed: str) -> None:
    """Property: any name, subject and attachment name; any address the rules accept: one To, that address."""
    address = check_email(typed).address
    if address is None:
        return  # the rules refuse it with a note (tested with the rules); nothing is ever built for it
    mail = OutgoingMail(key="mail:test:1", to=(address,), to_name=name, subject=subject, text="Hello",
                        html="<p>Hello</p>", headers={"List-Unsubscribe": f"<https://x.example/u?t={subject}>"},
                        attachments=(Attachment(filename, "text/calendar; method=REQUEST", b"BEGIN:VCALENDAR"),))
    recipients, headers = parsed(mail)
    assert [a for _, a in recipients] == [address]
    assert {n: len(v) for n, v in headers.items() if n in ("to", "cc", "bcc", "from", "subject", "reply-to")} == {
        "to": 1, "from": 1, "subject": 1}
    assert headers["subject"] == [header_text(subject).replace("=?", "=\u2060?")]  # shown as typed, on one line


def test_a_name_that_looks_like_an_address_stays_a_name() -> None:
    """Finding: `José <attacker@evil.example>` as a name sent the confirmation to the attacker."""
    recipients, _ = parsed(OutgoingMail(key="k", to=("ann@example.org",), subject="Your place is booked",
                                        text="Hi", to_name="José <attacker@evil.example>"))
    assert recipients == [("José <attacker@evil.example>", "ann@example.org")]


def test_a_name_with_a_group_in_it_drops_nobody() -> None:
    """Finding: `Zoë: a@x.example, b@y.example;` dropped the real address."""
    recipients, _ = parsed(OutgoingMail(key="k", to=("ann@example.org",), subject="Hi", text="Hi",
                                        to_name="Zoë: a@x.example, b@y.example;"))
    assert [a for _, a in recipients] == ["ann@example.org"]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\r\n", "\x0b", "\x00"])
def test_line_separators_in_a_title_fold_to_a_space(separator: str) -> None:
    """Finding: U+2028 in a session title raised ValueError on the Subject and stopped every run."""
    _, headers = parsed(OutgoingMail(key="k", to=("ann@example.org",), subject=f"Carers{separator}Bcc: x@evil.example",
                                     text="Hi"))
    assert headers["subject"] == ["Carers Bcc: x@evil.example"]
    assert "bcc" not in headers


def test_a_non_ascii_domain_is_sent_in_its_idna_form() -> None:
    address = check_email("Ann@Bücher.de").address
    assert address == "ann@xn--bcher-kva.de"
    recipients, _ = parsed(OutgoingMail(key="k", to=(address,), subject="Hi", text="Hi"))
    assert [a for _, a in recipients] == ["ann@xn--bcher-kva.de"]


@pytest.mark.parametrize("typed", ["josé@example.org", "名前@example.org"])
def test_a_non_ascii_local_part_is_refused_before_anything_is_built(typed: str) -> None:
    assert (check_email(typed).address, check_email(typed).problem) == (None, "international")


@pytest.mark.parametrize("address", ["josé@example.org", "a@b>, c@d", '"a b"@example.org', "no-at-sign"])
def test_building_refuses_an_address_that_is_not_a_plain_ascii_addr_spec(address: str) -> None:
    """Whatever slips past the rules cannot reach a header: ValueError, which the outbox records as a failure."""
    mail = OutgoingMail(key="k", to=(address,), subject="Hi", text="Hi")
    with pytest.raises(ValueError, match="cannot be put in a header"):
        to_mime(mail, SENDER)


def test_a_header_name_cannot_be_smuggled_in() -> None:
    mail = OutgoingMail(key="k", to=("ann@example.org",), subject="Hi", text="Hi", headers={"Bcc": "x@evil.example"})
    with pytest.raises(ValueError, match="header that cannot be set"):
        to_mime(mail, SENDER)


@pytest.mark.parametrize("subject", ["0000000000¡¡𐀀𐀀𐀀𐀀𐀀𐀀𐀀 ¡ ¡", "Carers’ week: what we heard " * 6,
                                     "Diwali: दीपावली की शुभकामनाएं, and a session " * 3])
def test_spaces_in_a_long_non_ascii_subject_survive_folding(subject: str) -> None:
    """Found by the property above: the email package folded at a space between two encoded words, and readers
    drop such a space (RFC 2047), so "𐀀 ¡" arrived as "𐀀¡"."""
    mail = OutgoingMail(key="mail:test:1", to=("ann@example.org",), subject=subject, text="Hello")
    _, headers = parsed(mail)
    assert headers["subject"] == [header_text(subject)]
