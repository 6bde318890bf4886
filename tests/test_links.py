"""Signed links: only the link we made, for the purpose we made it, before it expires."""

from __future__ import annotations

import pytest

from coprod.links import LinkError, Signer

KEY = "test-signing-key-0123456789abcdef"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_link_reads_back_its_subject_until_it_expires() -> None:
    clock = Clock()
    signer = Signer(KEY, clock=clock)
    token = signer.make("guest-confirm", "12:abc", lifetime=3600)
    assert signer.read(token, "guest-confirm") == "12:abc"
    clock.now += 3601
    with pytest.raises(LinkError) as caught:
        signer.read(token, "guest-confirm")
    assert caught.value.reason == "expired"


@pytest.mark.parametrize("damage", [
    lambda t: t[:-3],                                     # cut short when copied
    lambda t: t.replace(".", "x."),                       # payload edited
    lambda t: t.split(".")[0] + "." + "A" * 27,           # signature forged
    lambda t: "",                                          # nothing at all
    lambda t: "not-a-token",
])
def test_a_damaged_or_forged_link_is_invalid(damage) -> None:  # type: ignore[no-untyped-def]
    signer = Signer(KEY)
    with pytest.raises(LinkError) as caught:
        signer.read(damage(signer.make("guest-confirm", "12:abc", 3600)), "guest-confirm")
    assert caught.value.reason == "invalid"


def test_a_link_for_one_purpose_or_key_does_not_work_for_another() -> None:
    token = Signer(KEY).make("guest-confirm", "12:abc", 3600)
    with pytest.raises(LinkError):
        Signer(KEY).read(token, "unsubscribe")
    with pytest.raises(LinkError):
        Signer("another-signing-key-0123456789").read(token, "guest-confirm")


def test_links_carry_no_address() -> None:
    """Subjects are ids and hashes; the token is signed, not encrypted, so nothing personal may go in."""
    import base64

    token = Signer(KEY).make("guest-confirm", "12:9f86d081884c7d659a2f", 3600)
    payload = token.split(".")[0]
    assert b"@" not in base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
