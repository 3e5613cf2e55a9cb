"""LiteLLMClient through litellm and a real HTTP server (the fake), never through mocks."""

from __future__ import annotations

import socket
import time

import pytest

from simgap.errors import ConfigError
from simgap.llm import (
    EMPTY_ANSWER_RETRIES,
    LimiterRegistry,
    LLMEmptyAnswerError,
    LLMModelFault,
    LLMRequestRejectedError,
    LLMResponseError,
    LLMUnavailableError,
    ModelConfig,
    make_client,
)
from simgap.llm.client import BackendClient
from simgap.llm.litellm_client import DUMMY_API_KEY, LiteLLMClient
from tests.fakes.openai_server import FakeOpenAIServer, Reply

USER = [{"role": "user", "content": "Hello, I need help with my order."}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_order",
            "description": "Get an order by id.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]


def _client(cfg: ModelConfig, **overrides: object) -> BackendClient:
    # A private limiter registry: a 429 in one test must not slow down another.
    return make_client(cfg.model_copy(update=overrides), limits=LimiterRegistry())


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_plain_reply_with_usage(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    fake_openai.script(
        Reply.text("Sure, what is the order id?", prompt_tokens=17, completion_tokens=8)
    )
    client = _client(fake_model_config, temperature=0.3, max_tokens=64)
    resp = await client.complete(client.request(USER, seed=42))
    assert resp.content == "Sure, what is the order id?"
    assert resp.tool_calls == []
    assert resp.finish_reason == "stop"
    assert not resp.cached and resp.latency_s > 0
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (17, 8)
    assert resp.usage.calls == 1 and resp.usage.cost_usd == 0.0  # the fake model has no price
    body = fake_openai.requests[0]
    assert body["model"] == "fake-model"
    assert body["messages"] == USER
    assert (body["seed"], body["temperature"], body["max_tokens"]) == (42, 0.3, 64)
    assert fake_openai.records[0].headers["authorization"] == "Bearer sk-test"
    assert client.stats.upstream_calls == 1 and client.stats.retries == 0


async def test_tool_call(fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig) -> None:
    fake_openai.script(Reply.tool_call("get_order", {"order_id": "#W1"}, id="call_abc"))
    client = _client(fake_model_config)
    resp = await client.complete(client.request(USER, tools=TOOLS))
    assert fake_openai.requests[0]["tools"] == TOOLS
    assert fake_openai.requests[0]["tool_choice"] == "auto"
    assert resp.finish_reason == "tool_calls"
    [call] = resp.tool_calls
    assert (call.id, call.name, call.arguments, call.raw_arguments) == (
        "call_abc",
        "get_order",
        {"order_id": "#W1"},
        None,
    )


@pytest.mark.parametrize("raw", ['{"order_id": "#W1", ', "[1, 2]", "not json at all", ""])
async def test_invalid_tool_arguments_kept_verbatim(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig, raw: str
) -> None:
    fake_openai.script(Reply.invalid_tool_args("get_order", raw))
    client = _client(fake_model_config)
    resp = await client.complete(client.request(USER, tools=TOOLS))
    [call] = resp.tool_calls
    assert call.name == "get_order"
    assert call.arguments == {}
    assert call.raw_arguments == raw
    assert fake_openai.calls == 1  # a bad call is an answer, not a failure: no retry


async def test_retry_on_429_honours_retry_after(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    fake_openai.script(Reply.rate_limited(retry_after=0.5), Reply.text("finally"))
    client = _client(fake_model_config)
    assert isinstance(client, LiteLLMClient)
    resp = await client.complete(client.request(USER))
    assert resp.content == "finally"
    assert fake_openai.calls == 2
    first, second = fake_openai.records
    assert second.received_at - first.received_at >= 0.5  # backoff is 10 ms: Retry-After won
    assert client.stats.rate_limited == 1 and client.stats.retries == 1
    assert client.limiter.factor < 1.0  # the provider was slowed down


async def test_retry_on_server_errors(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    fake_openai.script(Reply.error(500), Reply.error(503), Reply.disconnect(), Reply.text("ok"))
    client = _client(fake_model_config)
    resp = await client.complete(client.request(USER))
    assert resp.content == "ok"
    assert fake_openai.calls == 4
    assert client.stats.upstream_calls == 4 and client.stats.retries == 3


async def test_litellm_and_sdk_retries_are_off(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    fake_openai.script(Reply.error(500), Reply.error(429))
    client = _client(fake_model_config, max_retries=0)
    with pytest.raises(LLMUnavailableError):
        await client.complete(client.request(USER))
    assert fake_openai.calls == 1


async def test_gives_up_after_max_retries(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    fake_openai.responder = lambda req: Reply.error(503, "upstream overloaded")
    client = _client(fake_model_config, max_retries=3)
    with pytest.raises(LLMUnavailableError) as err:
        await client.complete(client.request(USER))
    msg = str(err.value)
    assert "\n" not in msg
    assert msg == (
        f"model openai/fake-model at {fake_openai.base_url}: "
        "HTTP 503: upstream overloaded after 4 tries"
    )
    assert err.value.model == "openai/fake-model"
    assert fake_openai.calls == 4
    assert client.stats.failures == 1


async def test_unreachable_endpoint() -> None:
    base = f"http://127.0.0.1:{_closed_port()}/v1"
    cfg = ModelConfig(
        model="openai/x", api_base=base, max_retries=2, backoff_base_s=0.01, backoff_max_s=0.02
    )
    client = _client(cfg)
    with pytest.raises(LLMUnavailableError) as err:
        await client.complete(client.request(USER))
    assert str(err.value) == f"model openai/x at {base}: connection refused after 3 tries"
    assert client.stats.upstream_calls == 3


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        (
            Reply.error(401, "Incorrect API key"),
            "authentication refused (HTTP 401): Incorrect API key",
        ),
        (Reply.error(404, "model does not exist"), "not found (HTTP 404)"),
        (Reply.error(400, "bad 'temperature'"), "request refused (HTTP 400)"),
    ],
)
async def test_non_retryable_errors_raise_at_once(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig, reply: Reply, fragment: str
) -> None:
    fake_openai.script(reply, Reply.text("never reached"))
    client = _client(fake_model_config)
    with pytest.raises(LLMUnavailableError) as err:
        await client.complete(client.request(USER))
    assert fragment in str(err.value) and "\n" not in str(err.value)
    assert fake_openai.calls == 1


async def test_context_too_long_is_a_response_error(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    fake_openai.script(
        Reply.error(400, "This model's maximum context length is 8192 tokens, you asked 9000")
    )
    client = _client(fake_model_config)
    with pytest.raises(LLMRequestRejectedError, match="context window exceeded"):
        await client.complete(client.request(USER))
    assert fake_openai.calls == 1


@pytest.mark.parametrize(
    ("bad", "cause"),
    [
        (Reply.truncated, "undecodable answer"),
        (Reply.garbage, "undecodable answer"),
    ],
)
async def test_garbage_is_retried_twice_then_response_error(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig, bad: object, cause: str
) -> None:
    make = bad  # a Reply builder
    fake_openai.script(*(make() for _ in range(3)), Reply.text("too late"))  # type: ignore[operator]
    client = _client(fake_model_config, max_retries=6)
    with pytest.raises(LLMResponseError) as err:
        await client.complete(client.request(USER))
    assert cause in str(err.value) and str(err.value).endswith("after 3 tries")
    assert fake_openai.calls == 3  # two retries, not max_retries


async def test_empty_answer_is_retried_as_tau2_then_a_model_fault(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    """τ²'s generate() asks again on an empty reply DEFAULT_MAX_RETRIES (3) times, then returns
    it and the sample fails: 4 calls, then `LLMEmptyAnswerError` (a model fault, not
    infrastructure), whatever the transport's `max_retries`."""
    fake_openai.script(*(Reply.empty() for _ in range(4)), Reply.text("too late"))
    client = _client(fake_model_config, max_retries=1)
    with pytest.raises(LLMEmptyAnswerError) as err:
        await client.complete(client.request(USER))
    assert isinstance(err.value, LLMModelFault)
    assert str(err.value).endswith("empty answer (no content, no tool calls) after 4 tries")
    assert fake_openai.calls == 4 == EMPTY_ANSWER_RETRIES + 1
    fake_openai.reset()
    fake_openai.script(*(Reply.empty() for _ in range(3)), Reply.text("in time"))
    assert (await client.complete(client.request(USER))).content == "in time"


async def test_garbage_then_good_answer(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    fake_openai.script(Reply.truncated(), Reply.empty(), Reply.text("good"))
    client = _client(fake_model_config)
    resp = await client.complete(client.request(USER))
    assert resp.content == "good"
    assert resp.usage.calls == 2  # the empty answer was paid for as well
    assert fake_openai.calls == 3


async def test_timeout_is_retried(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    fake_openai.script(Reply.hang(), Reply.hang())
    client = _client(fake_model_config, timeout_s=0.3, max_retries=1)
    t0 = time.monotonic()
    with pytest.raises(
        LLMUnavailableError, match=r"no answer within 0.3s \(timeout\) after 2 tries"
    ):
        await client.complete(client.request(USER))
    assert time.monotonic() - t0 >= 0.6
    assert fake_openai.calls == 2


async def test_dummy_key_for_api_base_and_key_from_env(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = ModelConfig(model="openai/m", api_base=fake_openai.base_url)
    client = _client(cfg)
    await client.complete(client.request(USER))
    assert fake_openai.records[-1].headers["authorization"] == f"Bearer {DUMMY_API_KEY}"
    monkeypatch.setenv("SIMGAP_TEST_KEY", "sk-from-env")
    client = _client(cfg, api_key_env="SIMGAP_TEST_KEY")
    await client.complete(client.request(USER))
    assert fake_openai.records[-1].headers["authorization"] == "Bearer sk-from-env"


async def test_bare_model_name_with_api_base_is_openai_compatible(
    fake_openai: FakeOpenAIServer,
) -> None:
    client = _client(ModelConfig(model="Qwen/Qwen3-8B", api_base=fake_openai.base_url))
    resp = await client.complete(client.request(USER))
    assert resp.content and fake_openai.requests[0]["model"] == "Qwen/Qwen3-8B"


def test_unknown_provider_without_api_base_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="litellm does not know its provider"):
        make_client(ModelConfig(model="nosuchprovider-model"))


async def test_cost_from_litellm_price_table(fake_openai: FakeOpenAIServer) -> None:
    import litellm

    fake_openai.script(Reply.text("priced", prompt_tokens=1000, completion_tokens=500))
    client = _client(ModelConfig(model="openai/gpt-4o-mini", api_base=fake_openai.base_url))
    resp = await client.complete(client.request(USER))
    price = litellm.model_cost["gpt-4o-mini"]
    expected = 1000 * price["input_cost_per_token"] + 500 * price["output_cost_per_token"]
    assert resp.usage.cost_usd == pytest.approx(expected)
    assert client.stats.total().cost_usd == pytest.approx(expected)


async def test_calls_are_concurrent_without_limits(fake_openai: FakeOpenAIServer) -> None:
    import asyncio

    fake_openai.latency_s = 0.3
    client = _client(ModelConfig(model="openai/m", api_base=fake_openai.base_url))
    await asyncio.gather(*(client.complete(client.request(USER, seed=i)) for i in range(16)))
    assert fake_openai.max_in_flight == 16


async def test_missing_api_key_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    client = _client(ModelConfig(model="openai/gpt-4o-mini", max_retries=3))
    with pytest.raises(LLMUnavailableError, match="at openai API: no API key"):
        await client.complete(client.request(USER))  # the SDK refuses before any request
    assert client.stats.upstream_calls == 1 and client.stats.retries == 0
