"""The fake OpenAI-compatible server itself: other stages' tests and the benchmark rely on it."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAIServer, FakeToolCall, Reply

# One shared client: building an httpx.Client (its SSL context) costs tens of milliseconds.
_HTTP = httpx.Client(timeout=5, limits=httpx.Limits(max_connections=128))


def _post(
    srv: FakeOpenAIServer, content: str = "hi", path: str = "/chat/completions"
) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": content}]}
    return _HTTP.post(srv.base_url + path, json=body)


def test_default_reply_echoes_and_records(fake_openai: FakeOpenAIServer) -> None:
    r = _post(fake_openai, "hello there")
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["message"]["content"] == "echo: hello there"
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["usage"]["prompt_tokens"] > 0
    assert data["usage"]["total_tokens"] == (
        data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"]
    )
    assert fake_openai.calls == 1
    assert fake_openai.requests[0]["messages"][0]["content"] == "hello there"
    assert fake_openai.records[0].reply_kind == "text"


def test_both_paths_and_unknown_route(fake_openai: FakeOpenAIServer) -> None:
    root = fake_openai.base_url.removesuffix("/v1")
    assert _HTTP.post(f"{root}/chat/completions", json={"messages": []}).status_code == 200
    assert _HTTP.post(f"{root}/v1/embeddings", json={}).status_code == 404
    assert _HTTP.get(f"{root}/v1/models").json()["data"][0]["id"] == "fake"
    assert fake_openai.calls == 1  # only chat completions are counted


def test_script_then_responder_then_default(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("first", Reply.tool_call("lookup", {"q": 1}))
    fake_openai.responder = lambda req: "from responder" if "ask" in str(req) else None
    assert _post(fake_openai).json()["choices"][0]["message"]["content"] == "first"
    msg = _post(fake_openai).json()["choices"][0]["message"]
    assert msg["tool_calls"][0]["function"] == {"name": "lookup", "arguments": '{"q": 1}'}
    assert _post(fake_openai, "ask").json()["choices"][0]["message"]["content"] == "from responder"
    assert _post(fake_openai, "x").json()["choices"][0]["message"]["content"] == "echo: x"


def test_multiple_and_invalid_tool_calls(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(
        Reply.multi_tool_call(
            [FakeToolCall("a", {"x": 1}, id="c1"), FakeToolCall("b", "not json")]
        ),
        Reply.invalid_tool_args("lookup", '{"q": '),
    )
    calls = _post(fake_openai).json()["choices"][0]["message"]["tool_calls"]
    assert [c["id"] for c in calls][0] == "c1"
    assert calls[1]["function"]["arguments"] == "not json"
    data = _post(fake_openai).json()
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    assert data["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == '{"q": '


def test_faults(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(
        Reply.rate_limited(retry_after=2),
        Reply.error(503),
        Reply.truncated(),
        Reply.garbage(),
        Reply.empty(),
    )
    r = _post(fake_openai)
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    assert r.headers["retry-after-ms"] == "2000"
    assert r.json()["error"]["type"] == "rate_limit_exceeded"
    assert _post(fake_openai).status_code == 503
    with pytest.raises(json.JSONDecodeError):
        json.loads(_post(fake_openai).content)
    assert _post(fake_openai).headers["content-type"] == "text/html"
    assert _post(fake_openai).json()["choices"][0]["message"]["content"] == ""


def test_hang_and_disconnect(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.hang(), Reply.disconnect())
    with pytest.raises(httpx.ReadTimeout):
        _post_timeout(fake_openai, 0.3)
    with pytest.raises(httpx.RemoteProtocolError):
        _post(fake_openai)
    assert fake_openai.calls == 2


def _post_timeout(srv: FakeOpenAIServer, timeout: float) -> httpx.Response:
    return _HTTP.post(srv.base_url + "/chat/completions", json={"messages": []}, timeout=timeout)


def test_fault_rate_is_seeded() -> None:
    def kinds(seed: int) -> list[str]:
        with FakeOpenAIServer(
            fault_rate=0.5, fault_kinds=("server_error", "empty"), seed=seed
        ) as s:
            for _ in range(20):
                _post(s)
            return [r.reply_kind for r in s.records]

    a, b = kinds(7), kinds(7)
    assert a == b
    assert {"server_error", "empty", "text"} <= set(a)
    with pytest.raises(ValueError, match="unknown fault kind"):
        FakeOpenAIServer(fault_rate=0.1, fault_kinds=("nope",))


def test_handles_64_concurrent_connections() -> None:
    with FakeOpenAIServer(latency_s=0.3) as srv:
        barrier = threading.Barrier(64)

        def one(i: int) -> int:
            barrier.wait()
            return _post(srv, f"m{i}").status_code

        t0 = time.monotonic()
        with ThreadPoolExecutor(64) as ex:
            codes = list(ex.map(one, range(64)))
        elapsed = time.monotonic() - t0
        assert codes == [200] * 64
        assert srv.max_in_flight >= 48  # served concurrently, not one after another
        assert elapsed < 64 * 0.3 / 4


def test_stop_releases_hanging_handlers() -> None:
    srv = FakeOpenAIServer(hang_s=60).start()
    srv.script(Reply.hang())
    t = threading.Thread(target=lambda: _swallow(lambda: _post_timeout(srv, 10)))
    t.start()
    while srv.in_flight == 0:
        time.sleep(0.01)
    t0 = time.monotonic()
    srv.stop()
    t.join(5)
    assert time.monotonic() - t0 < 5 and not t.is_alive()


def _swallow(fn: Callable[[], object]) -> None:
    with contextlib.suppress(httpx.HTTPError):
        fn()
