"""Signed links: only the link we made, for the purpose we made it, before it expires."""

from __future__ import annotations

import pytest

from coprod.links import LinkError, Signer
from tests.support.fakes import FakeClock

KEY = "test-signing-key-0123456789abcdef"


def test_a_link_reads_back_its_subject_until_it_expires() -> None:
    clock = FakeClock()
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


def signed(signer: Signer, payload: bytes) -> str:
    """A token whose signature is good but whose payload is whatever we like (as a stolen key would allow)."""
    import base64

    text = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{text}.{signer._mac(text)}"


@pytest.mark.parametrize("payload", [
    b'["guest-confirm", "12:abc"]', b'"just a string"', b'{"p": "guest-confirm", "e": 4102444800}',
    b'{"p": "guest-confirm", "s": 12, "e": 4102444800}', b'{"p": "unsubscribe", "s": "12:abc", "e": 4102444800}',
    b'{"s": "12:abc", "e": 4102444800}', b'{"p": "guest-confirm", "s": "12:abc", "e": "4102444800"}',
    b'{"p": "guest-confirm", "s": "12:abc", "e": 4102444800.0}', b'{"p": "guest-confirm", "s": "12:abc"}',
    b"not json at all", b"\xff\xfe", b"[" * 100_000,
])
def test_a_well_signed_payload_that_is_not_ours_is_invalid(payload: bytes) -> None:
    signer = Signer(KEY)
    with pytest.raises(LinkError) as caught:
        signer.read(signed(signer, payload), "guest-confirm")
    assert caught.value.reason == "invalid"


def test_a_well_signed_payload_of_ours_reads_and_expires_at_its_second() -> None:
    clock = FakeClock()
    signer = Signer(KEY, clock=clock)
    token = signed(signer, b'{"p": "guest-confirm", "s": "12:abc", "e": 1800000100}')
    clock.now = 1_800_000_100.0
    assert signer.read(token, "guest-confirm") == "12:abc"  # good up to and including its last second
    clock.now = 1_800_000_100.5
    with pytest.raises(LinkError) as caught:
        signer.read(token, "guest-confirm")
    assert caught.value.reason == "expired"


def test_a_link_survives_the_spaces_and_line_breaks_a_mail_client_adds() -> None:
    signer = Signer(KEY)
    token = signer.make("unsubscribe", "12:abc", 3600)
    assert signer.read(f"  {token}\n", "unsubscribe") == "12:abc"


def test_tokens_are_short_and_their_lifetime_is_whole_seconds_from_now() -> None:
    import base64
    import json

    clock = FakeClock()
    token = Signer(KEY, clock=clock).make("unsubscribe", "12:abc", 400 * 86_400)
    payload = token.split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) == {
        "p": "unsubscribe", "s": "12:abc", "e": 1_800_000_000 + 400 * 86_400}
    assert len(token) < 120 and "=" not in token


def test_a_token_too_long_to_be_ours_is_refused_before_any_work() -> None:
    signer = Signer(KEY)
    token = signer.make("unsubscribe", "1" * 2000, 3600)  # signed by us, but longer than any link we send
    with pytest.raises(LinkError):
        signer.read(token, "unsubscribe")
    assert signer.read(signer.make("unsubscribe", "1" * 600, 3600), "unsubscribe") == "1" * 600


def test_the_address_digest_is_short_stable_and_keyed() -> None:
    digest = Signer(KEY).digest("ann@example.org")
    assert len(digest) == 20 and int(digest, 16) >= 0
    assert digest == Signer(KEY).digest("ann@example.org") != Signer(KEY).digest("bob@example.org")


def test_links_already_in_peoples_inboxes_keep_working_after_an_upgrade() -> None:
    """The token's format and the digest's derivation are fixed: a change would break every link already sent."""
    import hashlib
    import hmac

    signer = Signer(KEY, clock=FakeClock())
    assert signer.make("unsubscribe", "12:abc", 3600) == (
        "eyJwIjoidW5zdWJzY3JpYmUiLCJzIjoiMTI6YWJjIiwiZSI6MTgwMDAwMzYwMH0.bLxjTuFBSQcfnGvQGUojeHQPiPg")
    derived = hmac.new(hashlib.sha256(b"coprod-address\0" + KEY.encode()).digest(), b"ann@example.org",
                       hashlib.sha256).hexdigest()[:20]
    assert signer.digest("ann@example.org") == derived == "98c3381b9a45608218a1"


def test_a_token_of_exactly_the_longest_length_is_read() -> None:
    from coprod.links import MAX_TOKEN

    signer = Signer(KEY)
    short = signer.make("unsubscribe", "", 3600)
    # each 3 characters of subject add 4 to the token; pad the subject so the token is exactly MAX_TOKEN long
    subject = next(s for n in range(2000) if len(signer.make("unsubscribe", s := "1" * n, 3600)) == MAX_TOKEN)
    assert len(short) < MAX_TOKEN and signer.read(signer.make("unsubscribe", subject, 3600), "unsubscribe") == subject


def test_a_link_error_says_its_reason() -> None:
    assert (str(LinkError("expired")), LinkError("invalid").reason) == ("expired", "invalid")


def test_the_link_encoding_reads_back_any_bytes_whatever_their_length_and_last_character() -> None:
    """A token's parts are base64url without its `=` padding: every padding length (none, one, two) and every one
    of the 64 characters a part can end with reads back as the bytes it was made from."""
    from coprod.links import _b64, _unb64

    endings, paddings = set(), set()
    for length in range(1, 8):
        for last in range(256):
            data = bytes(range(40, 40 + length - 1)) + bytes([last])
            encoded = _b64(data)
            assert "=" not in encoded and _unb64(encoded) == data, data
            endings.add(encoded[-1])
            paddings.add(-len(encoded) % 4)
    assert (len(endings), paddings) == (64, {0, 1, 2})


def test_a_link_of_every_length_reads_back() -> None:
    """Subjects of every length mod 3 make payloads that need every amount of base64 padding; each reads back."""
    signer = Signer(KEY, clock=FakeClock())
    paddings = set()
    for n in range(12):
        token = signer.make("unsubscribe", "1" * n, 3600 + n)
        assert "=" not in token and signer.read(token, "unsubscribe") == "1" * n
        paddings.add(-len(token.split(".")[0]) % 4)
    assert paddings == {0, 1, 2}
