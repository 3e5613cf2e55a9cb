"""A real, programmable OpenAI-compatible chat-completions server for tests and benchmarks.

Tests never reach the network, yet hosted models must be exercised through the very code path
production uses (litellm -> openai SDK -> HTTP). This module serves that path from a stdlib
`ThreadingHTTPServer` on 127.0.0.1 (OS-assigned port) in a background thread: one thread per
connection, listen backlog 512, so a benchmark can drive it at concurrency 32+ with latency.

Endpoints: ``POST /v1/chat/completions`` and ``POST /chat/completions`` (OpenAI format: content,
tool_calls, usage, finish_reason); ``GET /v1/models``. Anything else is a 404.

What the server answers, first match wins:

1. a *fault at a configured rate* (``fault_rate`` with a seeded RNG, kinds from ``fault_kinds``);
2. the next reply of the FIFO *script* (``server.script(Reply..., ...)``);
3. the *responder* callable ``(request_json) -> Reply | str | None`` (a str is a text reply,
   None falls through);
4. the default: a text reply ``"echo: <last message content>"``.

`Reply` builds every answer, faults included::

    Reply.text("hello")                          # content + usage, finish_reason "stop"
    Reply.tool_call("get_order", {"id": "#1"})   # one tool call, finish_reason "tool_calls"
    Reply.invalid_tool_args("get_order", '{"id": ')  # arguments that are not a JSON object
    Reply.empty()                                # no content, no tool calls
    Reply.rate_limited(retry_after=1)            # HTTP 429 with a Retry-After header
    Reply.error(500) / Reply.error(503)          # server errors (OpenAI error JSON)
    Reply.hang()                                 # never answers (until the client times out)
    Reply.truncated()                            # 200 with a JSON body cut in half
    Reply.garbage()                              # 200 with an HTML body
    Reply.disconnect()                           # closes the connection without answering
    Reply.fault("rate_limit" | "server_error" | "unavailable" | "hang" | "truncated" |
                "garbage" | "invalid_tool_args" | "empty" | "disconnect")

Every request is recorded (thread-safe): ``server.requests`` (the JSON bodies),
``server.records`` (path, headers, body, arrival time, what was answered), ``server.calls``,
``server.in_flight`` / ``server.max_in_flight`` (concurrency actually seen).

Example::

    from simgap.llm import ModelConfig, make_client
    from tests.fakes.openai_server import FakeOpenAIServer, Reply

    with FakeOpenAIServer(latency_s=0.2) as srv:
        srv.script(Reply.rate_limited(retry_after=0.1), Reply.text("hi there"))
        srv.responder = lambda req: Reply.tool_call("lookup", {"q": "x"})  # after the script
        client = make_client(ModelConfig(model="openai/fake", api_base=srv.base_url))
        resp = await client.complete(client.request([{"role": "user", "content": "hi"}]))
        assert resp.content == "hi there" and srv.calls == 2

The pytest fixtures ``fake_openai`` (a started server) and ``fake_model_config`` (a
`ModelConfig` pointing at it, with tiny backoff) live in ``tests/fakes/fixtures.py``.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULT_KINDS: tuple[str, ...] = (
    "rate_limit",
    "server_error",
    "unavailable",
    "hang",
    "truncated",
    "garbage",
    "invalid_tool_args",
    "empty",
    "disconnect",
)
# Faults a well-behaved client recovers from by retrying (used when fault_kinds is not given).
TRANSIENT_FAULTS: tuple[str, ...] = ("rate_limit", "server_error", "unavailable")


@dataclass(frozen=True)
class FakeToolCall:
    """One tool call in a reply; `arguments` may be a raw string to send invalid JSON."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Reply:
    """What the server sends for one request. Build it with the classmethods."""

    content: str | None = None
    tool_calls: tuple[FakeToolCall, ...] = ()
    finish_reason: str | None = None
    status: int = 200
    retry_after: float | None = None
    error_message: str | None = None
    raw_body: bytes | None = None  # sent verbatim instead of a JSON completion
    content_type: str = "application/json"
    truncate: bool = False  # send only the first half of the JSON completion
    hangs: bool = False  # never answer (until the server stops or hang_s passes)
    disconnects: bool = False  # close the connection without an answer
    latency_s: float | None = None  # overrides the server's latency for this reply
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    kind: str = "text"  # what the records say was answered

    # -- builders ------------------------------------------------------------------------------
    @classmethod
    def text(cls, content: str, **kw: Any) -> Reply:
        return cls(content=content, kind="text", **kw)

    @classmethod
    def tool_call(
        cls,
        name: str,
        arguments: Mapping[str, Any] | str | None = None,
        *,
        content: str | None = None,
        id: str | None = None,
        **kw: Any,
    ) -> Reply:
        call = FakeToolCall(name=name, arguments=arguments if arguments is not None else {}, id=id)
        return cls(content=content, tool_calls=(call,), kind="tool_call", **kw)

    @classmethod
    def multi_tool_call(cls, calls: Iterable[FakeToolCall], **kw: Any) -> Reply:
        return cls(tool_calls=tuple(calls), kind="tool_call", **kw)

    @classmethod
    def invalid_tool_args(cls, name: str = "lookup", raw: str = '{"query": "x", ') -> Reply:
        return cls(tool_calls=(FakeToolCall(name=name, arguments=raw),), kind="invalid_tool_args")

    @classmethod
    def empty(cls) -> Reply:
        return cls(content="", kind="empty")

    @classmethod
    def error(
        cls, status: int, message: str | None = None, *, retry_after: float | None = None
    ) -> Reply:
        return cls(
            status=status,
            error_message=message or f"injected HTTP {status}",
            retry_after=retry_after,
            kind=f"http_{status}",
        )

    @classmethod
    def rate_limited(cls, retry_after: float | None = 1.0) -> Reply:
        return cls.error(429, "Rate limit reached (injected)", retry_after=retry_after)

    @classmethod
    def hang(cls) -> Reply:
        return cls(hangs=True, kind="hang")

    @classmethod
    def truncated(cls, content: str = "this answer gets cut off") -> Reply:
        return cls(content=content, truncate=True, kind="truncated")

    @classmethod
    def garbage(cls) -> Reply:
        return cls(
            raw_body=b"<html><body>502 Bad Gateway</body></html>",
            content_type="text/html",
            kind="garbage",
        )

    @classmethod
    def disconnect(cls) -> Reply:
        return cls(disconnects=True, kind="disconnect")

    @classmethod
    def fault(cls, kind: str) -> Reply:
        """The canonical reply for a fault kind (see FAULT_KINDS)."""
        builders: dict[str, Callable[[], Reply]] = {
            "rate_limit": lambda: cls.rate_limited(retry_after=0.05),
            "server_error": lambda: cls.error(500),
            "unavailable": lambda: cls.error(503),
            "hang": cls.hang,
            "truncated": cls.truncated,
            "garbage": cls.garbage,
            "invalid_tool_args": cls.invalid_tool_args,
            "empty": cls.empty,
            "disconnect": cls.disconnect,
        }
        if kind not in builders:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
        return replace(builders[kind](), kind=kind)


Responder = Callable[[dict[str, Any]], "Reply | str | None"]


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    received_at: float  # time.monotonic()
    reply_kind: str = ""


def _estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _last_content(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    if not messages:
        return ""
    content = messages[-1].get("content")
    if isinstance(content, list):  # content parts
        content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


class FakeOpenAIServer:
    """See the module docstring. Use as a context manager, or call start()/stop()."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        responder: Responder | None = None,
        script: Iterable[Reply] = (),
        fault_rate: float = 0.0,
        fault_kinds: Iterable[str] = TRANSIENT_FAULTS,
        seed: int = 0,
        hang_s: float = 30.0,
    ) -> None:
        self.latency_s = latency_s
        self.responder = responder
        self.hang_s = hang_s
        self._lock = threading.Lock()
        self._script: deque[Reply] = deque(script)
        self._records: list[RecordedRequest] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._seq = 0
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.set_faults(fault_rate, fault_kinds, seed=seed)

    # -- configuration -------------------------------------------------------------------------
    def script(self, *replies: Reply | str) -> None:
        """Queue replies (FIFO); a str is a text reply."""
        with self._lock:
            self._script.extend(Reply.text(r) if isinstance(r, str) else r for r in replies)

    def set_faults(
        self, rate: float, kinds: Iterable[str] = TRANSIENT_FAULTS, *, seed: int = 0
    ) -> None:
        """Inject a fault into a `rate` share of requests, kinds drawn by a seeded RNG."""
        kinds = tuple(kinds)
        for k in kinds:
            Reply.fault(k)  # validates the name
        if rate > 0 and not kinds:
            raise ValueError("fault_rate > 0 needs at least one fault kind")
        with self._lock:
            self.fault_rate = rate
            self.fault_kinds = kinds
            self._rng = random.Random(seed)

    def reset(self) -> None:
        """Forget recorded requests, the script and the concurrency high-water mark."""
        with self._lock:
            self._records.clear()
            self._script.clear()
            self._max_in_flight = self._in_flight

    # -- observation ---------------------------------------------------------------------------
    @property
    def records(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._records)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """JSON bodies of the chat-completion requests received, in arrival order."""
        with self._lock:
            return [r.body for r in self._records if r.body is not None]

    @property
    def calls(self) -> int:
        """Chat-completion requests received (faulted ones included)."""
        with self._lock:
            return len(self._records)

    @property
    def pending_script(self) -> int:
        with self._lock:
            return len(self._script)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1`, what litellm wants as `api_base`."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> FakeOpenAIServer:
        if self._httpd is not None:
            return self
        self._stop.clear()
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        httpd = _Server(("127.0.0.1", 0), handler)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # releases hanging handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling (called from handler threads) ----------------------------------------
    def _choose(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
                return Reply.fault(self._rng.choice(self.fault_kinds))
            if self._script:
                return self._script.popleft()
            responder = self.responder
        if responder is not None:
            out = responder(body)
            if isinstance(out, str):
                return Reply.text(out)
            if out is not None:
                return out
        return Reply.text(f"echo: {_last_content(body)[:200]}")

    def _begin(self, record: RecordedRequest) -> None:
        with self._lock:
            self._records.append(record)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _next_id(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def completion_json(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        """The OpenAI chat.completion object for `reply` to `body`."""
        n = self._next_id()
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": tc.id or f"call_{n}_{i}",
                    "type": "function",
                    "function": {
                        "name": tc.name,
                        "arguments": tc.arguments
                        if isinstance(tc.arguments, str)
                        else json.dumps(dict(tc.arguments)),
                    },
                }
                for i, tc in enumerate(reply.tool_calls)
            ]
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        prompt_text = json.dumps(body.get("messages", []), ensure_ascii=False)
        out_text = (reply.content or "") + "".join(
            json.dumps(m["function"]) for m in message.get("tool_calls", [])
        )
        pt = (
            reply.prompt_tokens
            if reply.prompt_tokens is not None
            else _estimate_tokens(prompt_text)
        )
        ct = (
            reply.completion_tokens
            if reply.completion_tokens is not None
            else (_estimate_tokens(out_text) if out_text else 0)
        )
        return {
            "id": f"chatcmpl-fake-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model", "fake")),
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            ],
            "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # listen backlog: bursts of concurrent connects must not be refused
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAIServer  # set on the per-server subclass
    protocol_version = "HTTP/1.1"  # keep-alive, as the openai SDK's connection pool expects
    timeout = 60  # idle keep-alive connections eventually go away
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body waits for
    # the client's delayed ACK (~40 ms per request on Linux).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr access logs
        pass

    # -- helpers -------------------------------------------------------------------------------
    def _send(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True  # the client gave up (timeout); nothing to tell it

    def _send_json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode("utf-8"), headers=headers)

    # -- routes --------------------------------------------------------------------------------
    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send_json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
        else:
            self._send_json(
                404, {"error": {"message": f"no route {self.path}", "type": "not_found"}}
            )

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(
                404, {"error": {"message": f"no route {self.path}", "type": "not_found"}}
            )
            return
        try:
            body: dict[str, Any] | None = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = None
        record = RecordedRequest(
            path=path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            received_at=time.monotonic(),
        )
        fake = self.fake
        fake._begin(record)
        try:
            if body is None:
                record.reply_kind = "bad_request"
                self._send_json(
                    400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}}
                )
                return
            reply = fake._choose(body)
            record.reply_kind = reply.kind
            self._answer(body, reply)
        finally:
            fake._end()

    def _answer(self, body: dict[str, Any], reply: Reply) -> None:
        fake = self.fake
        latency = fake.latency_s if reply.latency_s is None else reply.latency_s
        if latency > 0 and fake._stop.wait(latency):
            self.close_connection = True
            return
        if reply.hangs:
            fake._stop.wait(fake.hang_s)
            self.close_connection = True
            return
        if reply.disconnects:
            self.close_connection = True
            return
        if reply.status != 200:
            headers: dict[str, str] = {}
            if reply.retry_after is not None:
                ra = reply.retry_after
                headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else f"{ra:g}"
                headers["retry-after-ms"] = str(int(ra * 1000))
            err_type = {429: "rate_limit_exceeded", 401: "invalid_api_key"}.get(
                reply.status, "server_error" if reply.status >= 500 else "invalid_request_error"
            )
            self._send_json(
                reply.status,
                {"error": {"message": reply.error_message, "type": err_type, "code": err_type}},
                headers=headers,
            )
            return
        if reply.raw_body is not None:
            self._send(200, reply.raw_body, content_type=reply.content_type)
            return
        data = json.dumps(fake.completion_json(body, reply)).encode("utf-8")
        if reply.truncate:
            data = data[: len(data) // 2]
        self._send(200, data, content_type=reply.content_type)
