"""Backoff policy and Retry-After parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from simgap.llm.failures import short_message
from simgap.llm.retry import Backoff, parse_retry_after


def test_full_jitter_within_exponential_ceiling() -> None:
    b = Backoff(base_s=0.5, max_s=4.0, rng=random.Random(0))
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [b.delay(retry) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8 and min(delays) < ceiling * 0.2  # spread out


def test_retry_after_wins_when_longer() -> None:
    b = Backoff(base_s=0.01, max_s=0.02, rng=random.Random(0))
    assert b.delay(1, retry_after=3.0) == 3.0
    assert Backoff(base_s=10, max_s=10, rng=random.Random(1)).delay(1, retry_after=0.0) >= 0.0
    assert Backoff(base_s=0, max_s=0).delay(5) == 0.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"Retry-After": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str] | None, expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    got = parse_retry_after({"Retry-After": format_datetime(when, usegmt=True)})
    assert got is not None and 25 <= got <= 31


def test_short_message_strips_litellm_prefixes() -> None:
    e = RuntimeError(
        "litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached\n for x"
    )
    assert short_message(e) == "Rate limit reached for x"
    assert short_message(RuntimeError("x" * 500)).endswith("…")
