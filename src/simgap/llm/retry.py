"""Backoff policy: exponential with full jitter, and the server's Retry-After when it gives one.

Full jitter (delay uniform in [0, min(cap, base * 2**n)]) spreads the retries of many
concurrent sessions that failed together, instead of having them hit the endpoint again in
lock-step (AWS architecture blog, "Exponential Backoff And Jitter").
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# A Retry-After longer than this means "quota exhausted", not "slow down": give up instead of
# sleeping for an hour per try.
MAX_RETRY_AFTER_S = 300.0


@dataclass
class Backoff:
    base_s: float = 1.0
    max_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to sleep before retry number `retry` (1 = the first retry)."""
        ceiling = min(self.max_s, self.base_s * 2.0 ** max(0, retry - 1))
        jitter = self.rng.uniform(0.0, ceiling) if ceiling > 0 else 0.0
        if retry_after is not None:
            return max(retry_after, jitter)
        return jitter


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from `retry-after-ms` (OpenAI, Azure) or `Retry-After` (seconds or HTTP date)."""
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
