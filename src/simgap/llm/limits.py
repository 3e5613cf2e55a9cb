"""Per-provider rate limits: requests/min, tokens/min, requests in flight; adaptive on 429.

Quotas belong to an account at a provider, not to a client: the agent's and the simulator's
clients (and every session of a sweep) share one `ProviderLimiter` per endpoint, keyed by the
`api_base` or, for hosted APIs, the litellm provider prefix (`openai`, `anthropic`, ...).

The limiter is adaptive: a 429 halves the allowed request rate of that provider (once per
`decrease_interval_s`, so a burst of 429s from requests already in flight counts once) and
pauses it for the server's Retry-After; the rate then recovers gradually, doubling every
`recovery_s` without a 429. With no configured limit the rate that got us a 429 is measured
and used as the base, and the limit disappears again once fully recovered.

Nothing here is bound to an event loop: state sits behind a `threading.Lock` held for
microseconds, waits are `asyncio.sleep` in the caller's loop, and the concurrency gate wakes
waiters with `call_soon_threadsafe`. With no limit configured and no 429 seen, acquiring a
slot never waits and never serializes calls.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

Clock = Callable[[], float]

REQUEST_BURST_S = 1.0  # a request bucket holds one second's worth (at least one request)
TOKEN_BURST_S = 6.0  # a token bucket holds a tenth of the minute's tokens
RATE_WINDOW_S = 10.0  # how far back the observed request rate is measured (learned limits)


@dataclass
class TokenBucket:
    """A token bucket that lets reservations overdraw it: a caller takes what it needs now and
    waits until the level would have refilled to zero. Waits come out first-come first-served
    and an oversized request (more than the capacity) is still admitted, just later."""

    rate: float  # units per second
    capacity: float
    level: float
    stamp: float

    @classmethod
    def full(cls, rate: float, burst_s: float, now: float, minimum: float = 1.0) -> TokenBucket:
        cap = max(minimum, rate * burst_s)
        return cls(rate=rate, capacity=cap, level=cap, stamp=now)

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def reserve(self, amount: float, now: float) -> float:
        """Take `amount`; return how long to wait before using it (0 when available now)."""
        self._refill(now)
        self.level -= amount
        return 0.0 if self.level >= 0 else -self.level / self.rate

    def adjust(self, amount: float, now: float) -> None:
        """Give back (positive) or take more (negative) once the true cost is known."""
        self._refill(now)
        self.level = min(self.capacity, self.level + amount)

    def set_rate(self, rate: float, burst_s: float, now: float, minimum: float = 1.0) -> None:
        self._refill(now)
        self.rate = rate
        self.capacity = max(minimum, rate * burst_s)
        self.level = min(self.level, self.capacity)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class ConcurrencyGate:
    """A counting semaphore usable from any thread and any event loop (asyncio.Semaphore is
    bound to the first loop that waits on it, and limiters outlive loops in tests and CLIs).

    A released slot is handed directly to the oldest waiter, so waiters are served in order.
    """

    def __init__(self, limit: int | None) -> None:
        self._lock = threading.Lock()
        self._limit = limit
        self._active = 0
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    @property
    def limit(self) -> int | None:
        return self._limit

    @property
    def active(self) -> int:
        return self._active

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def set_limit(self, limit: int | None) -> None:
        with self._lock:
            self._limit = limit
            while self._waiters and (limit is None or self._active < limit):
                self._handover_locked(count=True)

    def _handover_locked(self, *, count: bool) -> bool:
        """Give one slot to the oldest live waiter; False if there was none."""
        while self._waiters:
            loop, fut = self._waiters.popleft()
            try:
                loop.call_soon_threadsafe(_wake, fut)
            except RuntimeError:  # its loop is closed: that waiter is gone
                continue
            if count:
                self._active += 1
            return True
        return False

    async def acquire(self) -> bool:
        """Wait for a slot. Returns whether one was taken (pass that to `release`)."""
        with self._lock:
            if self._limit is None:
                return False
            if self._active < self._limit and not self._waiters:
                self._active += 1
                return True
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, fut))
        try:
            await fut
        except asyncio.CancelledError:
            with self._lock:
                try:
                    self._waiters.remove((loop, fut))
                    granted = False
                except ValueError:
                    granted = True  # the slot was handed over as we were cancelled
            if granted:
                self.release(True)
            raise
        return True

    def release(self, taken: bool) -> None:
        if not taken:
            return
        with self._lock:
            if self._limit is not None and self._active > self._limit:
                self._active -= 1  # the limit was lowered: shrink instead of handing over
            elif not self._handover_locked(count=False):
                self._active -= 1


class ProviderLimiter:
    """Limits for one provider endpoint. Use `async with limiter.slot(tokens): <call>`."""

    def __init__(
        self,
        key: str,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        max_concurrency: int | None = None,
        clock: Clock = time.monotonic,
        recovery_s: float = 30.0,
        decrease_interval_s: float = 1.0,
        min_factor: float = 1 / 16,
    ) -> None:
        self.key = key
        self._clock = clock
        self._lock = threading.Lock()
        self.recovery_s = recovery_s
        self.decrease_interval_s = decrease_interval_s
        self.min_factor = min_factor
        self._rpm = rpm
        self._tpm = tpm
        self._gate = ConcurrencyGate(max_concurrency)
        now = clock()
        self._req: TokenBucket | None = None
        self._tok: TokenBucket | None = None
        # Adaptive state: factor after the last decrease, when that was, and a learned base rate
        # (requests/s) for providers with no configured rpm.
        self._factor0 = 1.0
        self._decreased_at: float | None = None
        self._learned_rps: float | None = None
        self._paused_until = 0.0
        self._recent: deque[float] = deque()
        self.rate_limited = 0  # 429s reported
        self._sync_buckets(now)

    # -- configuration ---------------------------------------------------------------------------
    @property
    def rpm(self) -> float | None:
        return self._rpm

    @property
    def tpm(self) -> float | None:
        return self._tpm

    @property
    def max_concurrency(self) -> int | None:
        return self._gate.limit

    def tighten(
        self, rpm: float | None = None, tpm: float | None = None, max_concurrency: int | None = None
    ) -> None:
        """Merge another client's limits: each limit becomes the stricter of the two."""

        def stricter(a: float | None, b: float | None) -> float | None:
            return b if a is None else a if b is None else min(a, b)

        with self._lock:
            self._rpm = stricter(self._rpm, rpm)
            self._tpm = stricter(self._tpm, tpm)
            self._sync_buckets(self._clock())
        mc = stricter(self._gate.limit, max_concurrency)
        self._gate.set_limit(None if mc is None else int(mc))

    # -- adaptive factor -------------------------------------------------------------------------
    def _factor(self, now: float) -> float:
        if self._decreased_at is None:
            return 1.0
        grown: float = self._factor0 * 2.0 ** ((now - self._decreased_at) / self.recovery_s)
        return min(1.0, grown)

    def _base_rps(self) -> float | None:
        if self._rpm is not None:
            return self._rpm / 60.0
        return self._learned_rps

    def _sync_buckets(self, now: float) -> None:
        """Point the buckets at the current effective rates (called under the lock)."""
        f = self._factor(now)
        if f >= 1.0 and self._rpm is None:
            self._learned_rps = None  # fully recovered: no learned limit any more
        base = self._base_rps()
        if base is None:
            self._req = None
        elif self._req is None:
            self._req = TokenBucket.full(base * f, REQUEST_BURST_S, now)
        else:
            self._req.set_rate(base * f, REQUEST_BURST_S, now)
        if self._tpm is None:
            self._tok = None
        elif self._tok is None:
            self._tok = TokenBucket.full(self._tpm / 60.0 * f, TOKEN_BURST_S, now)
        else:
            self._tok.set_rate(self._tpm / 60.0 * f, TOKEN_BURST_S, now)

    @property
    def factor(self) -> float:
        """The share of the base rate currently allowed (1.0 = not slowed down)."""
        with self._lock:
            return self._factor(self._clock())

    @property
    def effective_rpm(self) -> float | None:
        """Requests per minute currently allowed; None when unlimited."""
        with self._lock:
            now = self._clock()
            self._sync_buckets(now)
            return None if self._req is None else self._req.rate * 60.0

    @property
    def limited(self) -> bool:
        """Whether this provider has anything that can make a caller wait."""
        with self._lock:
            return (
                self._req is not None
                or self._tok is not None
                or self._gate.limit is not None
                or self._paused_until > self._clock()
            )

    # -- the protocol ----------------------------------------------------------------------------
    def reserve(self, tokens: float = 0.0) -> float:
        """Take one request (and `tokens` tokens) from the budget; return the wait in seconds."""
        with self._lock:
            now = self._clock()
            self._recent.append(now)
            while self._recent and self._recent[0] < now - RATE_WINDOW_S:
                self._recent.popleft()
            self._sync_buckets(now)
            wait = max(0.0, self._paused_until - now)
            if self._req is not None:
                wait = max(wait, self._req.reserve(1.0, now))
            if self._tok is not None and tokens > 0:
                wait = max(wait, self._tok.reserve(tokens, now))
            return wait

    def record_tokens(self, delta: float) -> None:
        """Correct a reservation by `delta` = actual tokens - reserved tokens."""
        if delta == 0:
            return
        with self._lock:
            if self._tok is not None:
                self._tok.adjust(-delta, self._clock())

    def on_rate_limited(self, retry_after: float | None = None) -> None:
        """A 429 from this provider: pause it for `retry_after` and halve its rate."""
        with self._lock:
            now = self._clock()
            self.rate_limited += 1
            if retry_after:
                self._paused_until = max(self._paused_until, now + retry_after)
            if (
                self._decreased_at is not None
                and now - self._decreased_at < self.decrease_interval_s
            ):
                return
            if self._rpm is None and self._learned_rps is None:
                span = max(1.0, now - self._recent[0]) if self._recent else 1.0
                # Floor of 1 request/s: with little traffic the estimate is noise, and one 429
                # must not throttle a provider to a request every few seconds.
                self._learned_rps = max(1.0, len(self._recent) / span)
            self._factor0 = max(self.min_factor, self._factor(now) / 2.0)
            self._decreased_at = now
            self._sync_buckets(now)

    async def acquire(self, tokens: float = 0.0) -> bool:
        """Wait for a concurrency slot and for the rate budget. Returns the gate token."""
        taken = await self._gate.acquire()
        try:
            wait = self.reserve(tokens)
            if wait > 0:
                await asyncio.sleep(wait)
        except BaseException:
            self._gate.release(taken)
            raise
        return taken

    def release(self, taken: bool) -> None:
        self._gate.release(taken)

    @asynccontextmanager
    async def slot(self, tokens: float = 0.0) -> AsyncIterator[None]:
        """Hold a request slot for the duration of one upstream call."""
        taken = await self.acquire(tokens)
        try:
            yield
        finally:
            self.release(taken)

    def __repr__(self) -> str:
        return (
            f"ProviderLimiter({self.key!r}, rpm={self._rpm}, tpm={self._tpm}, "
            f"max_concurrency={self._gate.limit}, factor={self.factor:.3f})"
        )


class LimiterRegistry:
    """One `ProviderLimiter` per endpoint key, created on first use."""

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._limiters: dict[str, ProviderLimiter] = {}

    def get(
        self,
        key: str,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        max_concurrency: int | None = None,
    ) -> ProviderLimiter:
        """The limiter for `key`, tightened with these limits (stricter one wins)."""
        with self._lock:
            lim = self._limiters.get(key)
            if lim is None:
                lim = ProviderLimiter(
                    key, rpm=rpm, tpm=tpm, max_concurrency=max_concurrency, clock=self._clock
                )
                self._limiters[key] = lim
                return lim
        lim.tighten(rpm, tpm, max_concurrency)
        return lim

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._limiters

    def clear(self) -> None:
        with self._lock:
            self._limiters.clear()


# Process-wide: every client of the same endpoint shares its quota.
default_registry = LimiterRegistry()


def endpoint_key(model: str, api_base: str | None) -> str:
    """What a quota is attached to: the api_base, else the provider prefix of the model id."""
    if api_base:
        return api_base.rstrip("/")
    return model.split("/", 1)[0] if "/" in model else model
