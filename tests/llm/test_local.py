"""The embedded SmolLM2-135M model, for real (small prompts, few tokens)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from simgap.errors import ConfigError
from simgap.llm import ModelConfig, ResponseCache, make_client
from simgap.llm.local import LocalClient, model_path_for, packaged_model_path

# One xdist worker runs the whole module (one loaded model for the module): tests/plugins/schedule.py.
pytestmark = pytest.mark.xdist_group("embedded-model")

SYSTEM = "You are a customer talking to a support agent. Be brief."
CHAT = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "Hi! How can I help you today?"},
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_order_details",
            "description": "Get the status of an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]


def _local(**kw: object) -> LocalClient:
    client = make_client(ModelConfig(model="local", max_tokens=24))
    assert isinstance(client, LocalClient)
    for k, v in kw.items():
        setattr(client, k, v)
    return client


@pytest.fixture(scope="module")
def local() -> Iterator[LocalClient]:
    client = _local()
    yield client
    asyncio.run(client.aclose())


def test_paths() -> None:
    assert packaged_model_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert packaged_model_path().is_file()
    assert model_path_for(f"local:{packaged_model_path()}") == packaged_model_path()
    with pytest.raises(ConfigError, match="not found"):
        make_client(ModelConfig(model="local:/nonexistent/model.gguf"))
    with pytest.raises(ConfigError):
        model_path_for("openai/gpt-4o")


SPECIAL = ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|")


def _clean_text(text: str) -> None:
    """What a caller may rely on in any reply text: no chat-template tokens, no role label the
    template should have consumed, no surrounding whitespace."""
    assert not any(tok in text for tok in SPECIAL), text
    assert text == text.strip() and text, repr(text)
    assert not text.lower().startswith(("assistant:", "assistant\n", "user:")), text


@pytest.mark.slow
async def test_real_reply(local: LocalClient) -> None:
    resp = await local.complete(local.request(CHAT, seed=3))
    assert isinstance(resp.content, str)
    _clean_text(resp.content)
    assert resp.tool_calls == []
    assert resp.model == "local" and resp.finish_reason in ("stop", "length")
    assert resp.usage.prompt_tokens > 20 and 0 < resp.usage.completion_tokens <= 24
    if resp.finish_reason == "stop":  # it ended by itself, before the token budget
        assert resp.usage.completion_tokens < 24
    assert resp.usage.calls == 1 and resp.usage.cost_usd == 0.0
    assert local.stats.upstream_calls >= 1


SCHEMA = {
    "type": "object",
    "properties": {
        "register": {"type": "string", "enum": ["formal", "casual", "terse"]},
        "polite": {"type": "boolean"},
        "words": {"type": "integer"},
    },
    "required": ["register", "polite", "words"],
    "additionalProperties": False,
}


@pytest.mark.slow
async def test_json_schema_answers_follow_the_schema(local: LocalClient) -> None:
    """`response_format` with a JSON schema constrains sampling (a grammar): whatever the
    135M model would rather say, the answer is a JSON object of exactly the schema's shape."""
    msgs = [
        {"role": "system", "content": "Describe the customer's message as JSON."},
        {"role": "user", "content": "hey can u help me with my order"},
    ]
    fmt = {"type": "json_schema", "json_schema": {"name": "style", "schema": SCHEMA}}
    for seed in (1,):
        resp = await local.complete(
            local.request(msgs, seed=seed, max_tokens=48, response_format=fmt)
        )
        assert resp.finish_reason == "stop", resp.content  # closed the object itself
        answer = json.loads(resp.content or "")
        assert set(answer) == {"register", "polite", "words"}, answer
        assert answer["register"] in ("formal", "casual", "terse")
        assert isinstance(answer["polite"], bool) and type(answer["words"]) is int


@pytest.mark.slow
async def test_seed_makes_output_reproducible(local: LocalClient) -> None:
    req = local.request(CHAT, seed=11, temperature=0.9)
    a = await local.complete(req)
    # Something else in between changes llama.cpp's KV cache; the answer must not change.
    await local.complete(local.request([*CHAT, {"role": "assistant", "content": "Hello"}], seed=2))
    b = await local.complete(req)
    fresh = _local()
    c = await fresh.complete(req)
    await fresh.aclose()
    assert a.content == b.content == c.content
    outs = {
        (await local.complete(local.request(CHAT, seed=s, temperature=0.9))).content
        for s in (1, 2, 3)
    }
    assert len(outs) >= 2  # and the seed does matter


@pytest.mark.slow
async def test_length_finish_and_default_max_tokens(local: LocalClient) -> None:
    resp = await local.complete(local.request(CHAT, seed=1, max_tokens=3))
    assert resp.finish_reason == "length" and resp.usage.completion_tokens == 3
    assert LocalClient(ModelConfig(model="local")).config.max_tokens is None  # 256 is applied


@pytest.mark.slow
async def test_tool_calls_are_emulated_and_parsed(local: LocalClient) -> None:
    """Tools by prompt: shown one earlier call in the protocol's format, the model calls the
    tool for a new order; every call it makes names an offered tool with an object of
    arguments (or is recorded as invalid, never executed), and ends the turn as a call."""
    msgs = [
        {"role": "system", "content": "You are a support agent. Use tools to look up orders."},
        {"role": "user", "content": "What is the status of order #W1?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_order_details", "arguments": '{"order_id": "#W1"}'},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "c1",
            "content": '{"order_id": "#W1", "status": "delivered"}',
        },
        {"role": "assistant", "content": "Order #W1 was delivered."},
        {"role": "user", "content": "What is the status of order #W123?"},
    ]
    calls = []
    for seed in (2,):
        resp = await local.complete(local.request(msgs, tools=TOOLS, seed=seed, max_tokens=48))
        if resp.content:
            _clean_text(resp.content)
            assert '"get_order_details"' not in resp.content  # a call is never left as text
        if resp.tool_calls:
            assert resp.finish_reason == "tool_calls"
        calls += resp.tool_calls
    assert calls, "the model made no tool call: the protocol did not reach it"
    for call in calls:
        if call.raw_arguments is None:
            assert call.name == "get_order_details", call
            assert isinstance(call.arguments.get("order_id"), str), call
        else:
            assert call.arguments == {}  # recorded as invalid, nothing to execute
    assert any(c.arguments.get("order_id") == "#W123" for c in calls), calls


@pytest.mark.slow
async def test_overlong_history_drops_oldest_messages() -> None:
    client = _local(n_ctx=256)
    filler = "I would like to talk about my order and the many items in it. " * 4
    history = [{"role": "system", "content": SYSTEM}]
    for i in range(12):
        history.append({"role": "user" if i % 2 else "assistant", "content": f"{i}: {filler}"})
    history.append({"role": "user", "content": "So, what do you want?"})
    resp = await client.complete(client.request(history, seed=1, max_tokens=16))
    assert resp.content
    assert client.dropped_messages > 0
    assert resp.usage.prompt_tokens + 16 < 256
    # One message alone longer than the context: shortened in the middle, still answered.
    giant = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": filler * 10}]
    resp = await client.complete(client.request(giant, seed=1, max_tokens=16))
    assert resp.content and resp.usage.prompt_tokens + 16 < 256
    await client.aclose()


@pytest.mark.slow
async def test_event_loop_stays_free_during_generation(local: LocalClient) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    t = asyncio.ensure_future(ticker())
    await local.complete(local.request(CHAT, seed=5, max_tokens=32))
    t.cancel()
    assert ticks >= 5


@pytest.mark.slow
async def test_cache_in_front_of_local_model(local: LocalClient, tmp_path: Path) -> None:
    local.cache = ResponseCache(tmp_path / "c.sqlite")  # the same model instance, now cached
    try:
        req = local.request(CHAT, seed=21)
        calls = local.stats.upstream_calls
        first = await local.complete(req)
        second = await local.complete(req)
    finally:
        local.cache = None
    assert not first.cached and second.cached and first.content == second.content
    assert local.stats.upstream_calls == calls + 1
