"""The on-disk response cache, alone and in front of a client talking to the fake server."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from simgap.errors import ConfigError
from simgap.llm import (
    ChatRequest,
    ChatResponse,
    LimiterRegistry,
    LLMResponseError,
    ModelConfig,
    ResponseCache,
    default_cache_path,
    make_client,
)
from simgap.models import ToolCall, Usage
from tests.fakes.openai_server import FakeOpenAIServer, Reply

USER = [{"role": "user", "content": "What is my balance?"}]


def _req(seed: int = 1, content: str = "hi") -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "user", "content": content}], seed=seed)


def _resp(content: str | None = "answer") -> ChatResponse:
    return ChatResponse(
        content=content,
        tool_calls=[ToolCall(id="c1", name="f", arguments={"a": 1})],
        finish_reason="stop",
        model="m",
        usage=Usage(prompt_tokens=10, completion_tokens=5, calls=1, cost_usd=0.01),
        latency_s=1.5,
    )


async def test_second_identical_request_makes_no_upstream_call(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig, tmp_path: Path
) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    client = make_client(fake_model_config, cache=cache, limits=LimiterRegistry())
    fake_openai.script(Reply.text("Your balance is $10.", prompt_tokens=9, completion_tokens=6))
    first = await client.complete(client.request(USER, seed=7))
    second = await client.complete(client.request(USER, seed=7))
    assert fake_openai.calls == 1
    assert not first.cached and first.usage.calls == 1 and first.usage.prompt_tokens == 9
    assert second.cached and second.content == first.content
    assert second.usage == Usage(cached_calls=1)  # no tokens, no cost, no call
    assert client.stats.upstream_calls == 1 and client.stats.cache_hits == 1
    # Anything that can change the answer is part of the key.
    await client.complete(client.request(USER, seed=8))
    await client.complete(client.request(USER, seed=7, temperature=0.5))
    assert fake_openai.calls == 3
    # A rerun with a fresh client (a new process, say) is free too.
    again = make_client(fake_model_config, cache=ResponseCache(tmp_path / "c.sqlite"))
    assert (await again.complete(again.request(USER, seed=7))).cached
    assert again.stats.upstream_calls == 0


async def test_failures_and_empty_answers_are_not_cached(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig, tmp_path: Path
) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    client = make_client(fake_model_config, cache=cache, limits=LimiterRegistry())
    fake_openai.script(*(Reply.empty() for _ in range(4)))
    with pytest.raises(LLMResponseError):
        await client.complete(client.request(USER))
    assert len(cache) == 0
    assert not cache.put(_req(), _resp(content=None).model_copy(update={"tool_calls": []}))
    assert len(cache) == 0


def test_roundtrip_keeps_the_answer(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    assert cache.get(_req()) is None
    assert cache.put(_req(), _resp())
    hit = cache.get(_req())
    assert hit is not None and hit.cached
    assert hit.content == "answer" and hit.tool_calls == _resp().tool_calls
    assert hit.finish_reason == "stop" and hit.model == "m"
    assert cache.get(_req(seed=2)) is None
    assert not cache.put(_req(), hit)  # a hit is never stored back
    cache.close()
    assert ResponseCache(tmp_path / "c.sqlite").get(_req()) is not None  # persisted


def test_default_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SIMGAP_CACHE_DIR", str(tmp_path / "cachedir"))
    assert default_cache_path() == tmp_path / "cachedir" / "llm-cache.sqlite"
    cache = ResponseCache()
    assert cache.path == tmp_path / "cachedir" / "llm-cache.sqlite" and cache.path.exists()
    monkeypatch.delenv("SIMGAP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "simgap" / "llm-cache.sqlite"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_path() == Path.home() / ".cache" / "simgap" / "llm-cache.sqlite"


def test_unreadable_row_is_a_miss_and_bad_file_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    cache.put(_req(), _resp())
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE responses SET response = '{\"bogus\": 1}'")
    assert cache.get(_req()) is None
    bad = tmp_path / "not-a-db.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError, match=r"not-a-db\.sqlite"):
        ResponseCache(bad)


def test_threads_and_processes_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    cache = ResponseCache(path)
    script = textwrap.dedent(
        f"""
        from simgap.llm import ChatRequest, ChatResponse, ResponseCache
        c = ResponseCache({str(path)!r})
        for i in range(100):
            req = ChatRequest(model="m", messages=[{{"role": "user", "content": "p%d" % i}}])
            c.put(req, ChatResponse(content="x%d" % i))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])

    def writer(t: int) -> None:
        for i in range(50):
            cache.put(_req(seed=t * 1000 + i), _resp(f"t{t}-{i}"))
            assert cache.get(_req(seed=t * 1000 + i)) is not None

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert proc.wait(timeout=60) == 0
    assert len(cache) == 4 * 50 + 100
    other = ChatRequest(model="m", messages=[{"role": "user", "content": "p42"}])
    hit = cache.get(other)
    assert hit is not None and hit.content == "x42"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
