"""The one retry policy, rule by rule: what may be sent again without doing it twice, and how long to wait.

A retry that resends a POST whose answer was lost would send a second email or a second invitation; a wait
shorter than Graph's Retry-After earns another 429. These pin each rule.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from graph_client import RetryPolicy, parse_retry_after
from graph_client._retry import IDEMPOTENT, RETRY_STATUSES, may_retry

NOW = 1_800_000_000.0


class TestMayRetry:
    @pytest.mark.parametrize("method", ["GET", "get", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
    def test_a_request_that_does_the_same_twice_may_always_go_again(self, method: str) -> None:
        assert may_retry(method, None, sent=True)
        assert may_retry(method, 504, sent=True)

    @pytest.mark.parametrize("status", [429, 503])
    def test_a_refused_post_may_go_again(self, status: int) -> None:
        """429 and 503: Graph did nothing with it."""
        assert may_retry("POST", status, sent=True)

    def test_a_post_whose_answer_was_lost_is_never_sent_again(self) -> None:
        """A 504 or a dropped connection after sending: the invitation or email may have gone."""
        assert not may_retry("POST", 504, sent=True)
        assert not may_retry("POST", None, sent=True)

    def test_a_post_that_never_left_may_go_again(self) -> None:
        """The connection was refused before anything was sent: nothing could have happened."""
        assert may_retry("POST", None, sent=False)

    def test_the_caller_can_say_a_post_is_safe_or_a_patch_is_not(self) -> None:
        assert may_retry("POST", 504, sent=True, idempotent=True)  # adding a group member twice changes nothing
        assert may_retry("POST", None, sent=True, idempotent=True)
        assert not may_retry("PATCH", 504, sent=True, idempotent=False)
        assert not may_retry("GET", None, sent=True, idempotent=False)

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412, 500, 502])
    def test_other_answers_are_not_retried_here(self, status: int) -> None:
        assert not may_retry("GET", status, sent=True)
        assert not may_retry("POST", status, sent=True, idempotent=True)

    def test_the_statuses_and_methods_are_graphs(self) -> None:
        assert {429, 503, 504} == RETRY_STATUSES
        assert frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"}) == IDEMPOTENT


class TestRetryAfter:
    @pytest.mark.parametrize(("header", "seconds"), [
        ("3", 3.0), (" 3 ", 3.0), ("0", 0.0), ("2.5", 2.5), ("-5", 0.0), (None, None), ("", None), ("  ", None),
        ("soon", None)])
    def test_seconds(self, header: str | None, seconds: float | None) -> None:
        assert parse_retry_after(header, lambda: NOW) == seconds

    def test_an_http_date_is_the_time_until_then(self) -> None:
        later = format_datetime(datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=90), usegmt=True)
        assert parse_retry_after(later, lambda: NOW) == 90.0

    def test_a_date_already_past_means_now(self) -> None:
        earlier = format_datetime(datetime.fromtimestamp(NOW, UTC) - timedelta(seconds=90), usegmt=True)
        assert parse_retry_after(earlier, lambda: NOW) == 0.0


class TestDelay:
    def test_retry_after_is_waited_in_full_with_at_most_a_tenth_more(self) -> None:
        policy, rng = RetryPolicy(), random.Random(7)
        waits = [policy.delay(attempt, 10.0, rng) for attempt in range(1, 50)]
        assert min(waits) >= 10.0 and max(waits) <= 11.0 and len(set(waits)) > 1

    def test_retry_after_zero_waits_no_more_than_its_jitter(self) -> None:
        assert RetryPolicy().delay(3, 0.0, random.Random(1)) == 0.0

    def test_without_retry_after_the_wait_doubles_within_half_and_whole_and_stops_at_the_cap(self) -> None:
        policy, rng = RetryPolicy(backoff_base=0.5, backoff_cap=30.0), random.Random(3)
        for attempt, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (7, 30.0), (20, 30.0)):
            waits = [policy.delay(attempt, None, rng) for _ in range(200)]
            assert ceiling / 2 <= min(waits) and max(waits) <= ceiling
            assert max(waits) - min(waits) > ceiling / 4  # jittered, so throttled clients do not march in step

    def test_the_defaults_are_bounded(self) -> None:
        policy = RetryPolicy()
        assert (policy.max_attempts, policy.max_wait, policy.backoff_base, policy.backoff_cap, policy.jitter) == (
            8, 300.0, 0.5, 30.0, 0.1)
