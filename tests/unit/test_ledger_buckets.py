"""Where the packed ledger on Table Storage files a key in its index (coprod/store/azure/_ledger_packs.py,
`bucket_of`): keys made together share a few buckets, and no bucket grows without end."""

from __future__ import annotations

import re
from collections import Counter

from coprod.store.azure._ledger_packs import HASHED, INDEX, SPAN, bucket_of


def first_sync(registrations: range) -> list[str]:
    """The keys a first sync records: a confirmation or a waiting-list message for each booking, and a guest
    request and a subscriber for some (as coprod/handoffs writes them)."""
    keys = [f"message:{'confirmed' if n % 5 else 'waitlisted'}:registration-{n}:session-{n // 200 + 1}"
            for n in registrations]
    keys += [f"guest:person{n}@example.org" for n in registrations if n % 6 == 0]
    keys += [f"subscriber:person{n}@example.org" for n in registrations if n % 9 == 0]
    return keys


def test_a_first_syncs_keys_share_few_buckets() -> None:
    keys = first_sync(range(1, 10_001))
    buckets = Counter(map(bucket_of, keys))
    assert len(keys) == 12_777
    # confirmations and waiting-list messages: 10,000 / SPAN each; guests and subscribers: HASHED each
    assert len(buckets) <= 2 * (10_000 // SPAN + 1) + 2 * HASHED == 208


def test_no_bucket_grows_without_end() -> None:
    """Five years of bookings, 50,000 a year: a bucket of messages still holds one SPAN of registrations."""
    buckets = Counter(bucket_of(f"message:confirmed:registration-{n}:session-{n // 200}") for n in range(250_000))
    assert max(buckets.values()) == SPAN and len(buckets) == 250_000 // SPAN + 1


def test_a_bucket_is_a_row_key_table_storage_takes_whatever_the_key() -> None:
    """(Table Storage refuses / \\ # ? and control characters in a RowKey, and more than 1 KiB.)"""
    keys = ["guest:a/b#c?d\\e%41@example.org", "told:registration-1\x07", "", "x", "digest:" + "9" * 40,
            "sent-id:3f2a9c", "erased:" + "ab12" * 16, "Zoë:№7", "topics:email:ann@example.org", "a:1:2:3:4:5:6"]
    for key in keys:
        bucket = bucket_of(key)
        assert re.fullmatch(r"%k\|[0-9a-f]{8}\|(h[0-9]{2}|[0-9]{10}(\.[0-9]{10}){0,3})", bucket), (key, bucket)
        assert bucket.startswith(INDEX) and len(bucket) < 100


def test_keys_with_an_address_or_a_long_number_are_hashed_by_their_prefix() -> None:
    assert bucket_of("guest:ann1@example.org").rsplit("|", 1)[1].startswith("h")
    assert bucket_of("digest:" + "9" * 40).rsplit("|", 1)[1].startswith("h")  # (a digest, not a count)
    assert bucket_of("meeting:7") == bucket_of("meeting:255") != bucket_of("meeting:256")
    assert bucket_of("meeting:7") != bucket_of("told:registration-7")  # another shape of key
