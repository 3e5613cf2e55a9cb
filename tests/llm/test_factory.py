"""make_client picks the backend; CallStats add up."""

from __future__ import annotations

from simgap.llm import CallStats, LimiterRegistry, ModelConfig, make_client
from simgap.llm.litellm_client import LiteLLMClient
from simgap.llm.local import LocalClient


def test_make_client_picks_the_backend() -> None:
    assert isinstance(make_client(ModelConfig(model="local")), LocalClient)
    remote = make_client(ModelConfig(model="openai/gpt-4o-mini", api_key="sk-x"))
    assert isinstance(remote, LiteLLMClient)
    assert remote.endpoint == "openai API"


def test_clients_of_one_endpoint_share_a_limiter() -> None:
    reg = LimiterRegistry()
    cfg = ModelConfig(model="openai/a", api_base="http://127.0.0.1:1/v1", rpm=100)
    a = make_client(cfg, limits=reg)
    b = make_client(cfg.model_copy(update={"model": "openai/b", "rpm": 50}), limits=reg)
    c = make_client(cfg.model_copy(update={"api_base": "http://127.0.0.1:2/v1"}), limits=reg)
    assert isinstance(a, LiteLLMClient) and isinstance(b, LiteLLMClient)
    assert isinstance(c, LiteLLMClient)
    assert a.limiter is b.limiter and a.limiter.rpm == 50
    assert c.limiter is not a.limiter


def test_call_stats_add_up() -> None:
    shared = CallStats()
    shared.record("m1", upstream_calls=2, retries=1, prompt_tokens=10)
    shared.record("m2", upstream_calls=1, cache_hits=3, cost_usd=0.5)
    assert shared.upstream_calls == 3 and shared.cache_hits == 3 and shared.retries == 1
    other = CallStats()
    other.record("m1", upstream_calls=4)
    merged = CallStats.merged(shared, other)
    assert merged.by_model["m1"].upstream_calls == 6
    assert merged.snapshot()["m2"]["cost_usd"] == 0.5
    assert "upstream_calls=7" in repr(merged)
    client = make_client(ModelConfig(model="local"), stats=shared)
    assert client.stats is shared


def test_public_settings_leave_transport_out() -> None:
    cfg = ModelConfig(
        model="openai/x",
        api_key="sk-secret",
        rpm=10,
        tpm=1000,
        max_concurrency=2,
        backoff_base_s=0.1,
        temperature=0.2,
    )
    assert cfg.public() == {"model": "openai/x", "temperature": 0.2, "extra": {}}
