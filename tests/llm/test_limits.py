"""Per-provider rate limits: token buckets on a fake clock, then through the fake server."""

from __future__ import annotations

import asyncio
import time

import pytest

from simgap.llm import LimiterRegistry, ModelConfig, make_client
from simgap.llm.limits import ConcurrencyGate, ProviderLimiter, TokenBucket, endpoint_key
from tests.fakes.openai_server import FakeOpenAIServer, Reply

USER = [{"role": "user", "content": "hi"}]


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


# -- buckets and limiters on a fake clock ---------------------------------------------------------
def test_token_bucket_reservations_queue_up() -> None:
    b = TokenBucket.full(rate=2.0, burst_s=1.0, now=0.0)  # 2/s, holds 2
    assert [b.reserve(1, 0.0) for _ in range(5)] == [0.0, 0.0, 0.5, 1.0, 1.5]
    b2 = TokenBucket.full(rate=1.0, burst_s=1.0, now=0.0)
    assert b2.reserve(5, 0.0) == 4.0  # an oversized request is admitted, later
    b2.adjust(2, 0.0)  # it cost less than reserved
    assert b2.reserve(1, 0.0) == 3.0


def test_requests_per_minute_order_and_spacing() -> None:
    clock = FakeClock()
    lim = ProviderLimiter("p", rpm=60, clock=clock)  # 1/s, burst of 1
    assert [lim.reserve() for _ in range(4)] == [0.0, 1.0, 2.0, 3.0]
    clock.t += 10
    assert lim.reserve() == 0.0  # refilled (but never above the burst)
    assert lim.reserve() == 1.0


def test_tokens_per_minute() -> None:
    clock = FakeClock()
    lim = ProviderLimiter("p", tpm=600, clock=clock)  # 10 tokens/s, bucket of 60
    assert lim.reserve(50) == 0.0
    assert lim.reserve(50) == pytest.approx(4.0)
    lim.record_tokens(-30)  # the first call used 30 tokens fewer than reserved
    assert lim.reserve(10) == pytest.approx(2.0)


def test_adaptive_slowdown_and_recovery() -> None:
    clock = FakeClock()
    lim = ProviderLimiter("p", rpm=600, clock=clock, recovery_s=30, decrease_interval_s=1)
    assert lim.effective_rpm == 600
    lim.on_rate_limited()
    assert lim.effective_rpm == pytest.approx(300)
    lim.on_rate_limited()  # same burst of 429s: counted once
    assert lim.effective_rpm == pytest.approx(300)
    clock.t += 2
    lim.on_rate_limited()
    assert lim.effective_rpm == pytest.approx(150 * 2 ** (2 / 30))
    clock.t += 30
    assert lim.effective_rpm == pytest.approx(300 * 2 ** (2 / 30))  # doubles per recovery_s
    clock.t += 120
    assert lim.effective_rpm == 600  # never above the configured rate
    assert lim.rate_limited == 3


def test_adaptive_without_configured_limit() -> None:
    clock = FakeClock()
    lim = ProviderLimiter("p", clock=clock, recovery_s=10)
    assert not lim.limited and lim.effective_rpm is None
    for _ in range(20):  # 20 requests within one second, then a 429
        assert lim.reserve() == 0.0
    lim.on_rate_limited(retry_after=2.0)
    assert lim.effective_rpm == pytest.approx(20 * 60 / 2)  # half the rate that got the 429
    assert lim.reserve() >= 2.0  # paused for Retry-After
    clock.t += 5
    assert lim.effective_rpm == pytest.approx(20 * 60 / 2 * 2**0.5)
    clock.t += 5
    assert lim.effective_rpm is None and not lim.limited  # recovered: unlimited again


def test_registry_shares_and_tightens() -> None:
    reg = LimiterRegistry()
    a = reg.get("http://h/v1", rpm=100)
    b = reg.get("http://h/v1", rpm=50, max_concurrency=4)
    assert a is b and a.rpm == 50 and a.max_concurrency == 4
    assert reg.get("http://other/v1") is not a
    assert endpoint_key("openai/gpt-4o", None) == "openai"
    assert endpoint_key("openai/x", "http://h/v1/") == "http://h/v1"


# -- the concurrency gate ---------------------------------------------------------------------------
async def test_gate_caps_and_hands_over_in_order() -> None:
    gate = ConcurrencyGate(2)
    active = peak = 0
    order: list[int] = []

    async def work(i: int) -> None:
        nonlocal active, peak
        taken = await gate.acquire()
        order.append(i)
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        gate.release(taken)

    await asyncio.gather(*(work(i) for i in range(8)))
    assert peak == 2 and order == list(range(8)) and gate.active == 0


async def test_gate_cancelled_waiter_does_not_leak() -> None:
    gate = ConcurrencyGate(1)
    held = await gate.acquire()
    waiter = asyncio.ensure_future(gate.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.release(held)
    assert gate.active == 0 and gate.waiting == 0
    assert await asyncio.wait_for(gate.acquire(), 1)


def test_gate_outlives_event_loops() -> None:
    gate = ConcurrencyGate(1)

    async def twice() -> None:
        for _ in range(2):
            t = await gate.acquire()
            gate.release(t)

    asyncio.run(twice())
    asyncio.run(twice())  # an asyncio.Semaphore would be bound to the first loop
    assert gate.active == 0


# -- through the fake server ------------------------------------------------------------------------
async def test_rpm_limit_spaces_requests(fake_openai: FakeOpenAIServer) -> None:
    cfg = ModelConfig(model="openai/m", api_base=fake_openai.base_url, rpm=240)  # 4/s, burst 4
    client = make_client(cfg, limits=LimiterRegistry())
    await client.complete(client.request(USER))  # warm litellm up
    await asyncio.sleep(1.0)  # the bucket is full again
    fake_openai.reset()
    start = time.monotonic()
    await asyncio.gather(*(client.complete(client.request(USER, seed=i)) for i in range(8)))
    times = sorted(r.received_at - start for r in fake_openai.records)
    assert len(times) == 8
    # A request never leaves before its reserved time; being late is always possible. So:
    # the burst of 4 goes at once, the other 4 follow at 0.25 s intervals.
    assert sum(t < 0.2 for t in times) <= 4
    assert times[-1] >= 0.9


async def test_max_concurrency(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.latency_s = 0.1
    cfg = ModelConfig(model="openai/m", api_base=fake_openai.base_url, max_concurrency=3)
    client = make_client(cfg, limits=LimiterRegistry())
    await asyncio.gather(*(client.complete(client.request(USER, seed=i)) for i in range(10)))
    assert fake_openai.calls == 10 and fake_openai.max_in_flight == 3


async def test_429_slows_down_every_client_of_the_provider(fake_openai: FakeOpenAIServer) -> None:
    reg = LimiterRegistry()
    cfg = ModelConfig(
        model="openai/m", api_base=fake_openai.base_url, backoff_base_s=0.01, backoff_max_s=0.02
    )
    agent, user = make_client(cfg, limits=reg), make_client(cfg, limits=reg)
    assert agent.limiter is user.limiter  # type: ignore[attr-defined]
    fake_openai.script(Reply.rate_limited(retry_after=0.6))
    first = asyncio.ensure_future(agent.complete(agent.request(USER, seed=1)))
    while fake_openai.calls == 0:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the 429 has come back by now
    await user.complete(user.request(USER, seed=2))
    await first
    kinds = [r.reply_kind for r in fake_openai.records]
    assert kinds[0] == "http_429"
    # The other client's request waited for the pause too (its own request never got a 429).
    assert fake_openai.records[1].received_at - fake_openai.records[0].received_at >= 0.5
    assert agent.limiter.factor < 1.0  # type: ignore[attr-defined]
    assert user.stats.rate_limited == 0 and agent.stats.rate_limited == 1
