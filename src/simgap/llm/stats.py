"""Call counters every client keeps, so tests and benchmarks can assert on what really happened
(how many requests reached the server, how many were retries or cache hits) instead of on
timings or log lines.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields


@dataclass
class ModelStats:
    """Counters for one model id."""

    upstream_calls: int = 0  # requests sent to the model (every try counts)
    ok_calls: int = 0  # completions returned to the caller from upstream
    retries: int = 0  # tries after the first, whatever the cause
    cache_hits: int = 0
    rate_limited: int = 0  # 429 answers seen
    bad_answers: int = 0  # empty or undecodable answers seen
    failures: int = 0  # calls that ended in an LLMError
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, other: ModelStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class CallStats:
    """Thread-safe per-model counters; totals are properties (`stats.upstream_calls`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_model: dict[str, ModelStats] = {}

    def record(self, model: str, **increments: float) -> None:
        """Add `increments` (field name -> amount) to `model`'s counters."""
        with self._lock:
            s = self._by_model.setdefault(model, ModelStats())
            for name, amount in increments.items():
                setattr(s, name, getattr(s, name) + amount)

    @property
    def by_model(self) -> dict[str, ModelStats]:
        """A copy of the per-model counters."""
        with self._lock:
            return {m: ModelStats(**asdict(s)) for m, s in self._by_model.items()}

    def total(self) -> ModelStats:
        out = ModelStats()
        for s in self.by_model.values():
            out.add(s)
        return out

    @property
    def upstream_calls(self) -> int:
        return self.total().upstream_calls

    @property
    def ok_calls(self) -> int:
        return self.total().ok_calls

    @property
    def retries(self) -> int:
        return self.total().retries

    @property
    def cache_hits(self) -> int:
        return self.total().cache_hits

    @property
    def rate_limited(self) -> int:
        return self.total().rate_limited

    @property
    def failures(self) -> int:
        return self.total().failures

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Plain dict (model -> counters), for JSON reports."""
        return {m: asdict(s) for m, s in self.by_model.items()}

    @classmethod
    def merged(cls, *stats: CallStats) -> CallStats:
        """One CallStats summing several (e.g. the agent's and the simulator's clients)."""
        out = cls()
        for st in stats:
            for model, s in st.by_model.items():
                out.record(model, **asdict(s))
        return out

    def __repr__(self) -> str:
        t = self.total()
        return (
            f"CallStats(upstream_calls={t.upstream_calls}, retries={t.retries}, "
            f"cache_hits={t.cache_hits}, failures={t.failures})"
        )
