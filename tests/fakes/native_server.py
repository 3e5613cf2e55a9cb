"""A fake of the model providers with wire protocols of their own, for tests that must see the
request litellm really builds for them (no network, 127.0.0.1, OS-assigned port).

The OpenAI-compatible fake (`openai_server.py`) cannot show that: sent there, an Anthropic or
Gemini model id has to be rewritten to `openai/...`, and litellm's Anthropic, Gemini, Bedrock,
Vertex AI and Ollama request builders never run. This server answers each protocol's endpoint
with a minimal, valid completion whose text is `reply_text(provider)`, and records every
request (path, headers, JSON body):

* Anthropic Messages: ``POST .../v1/messages``
* Gemini / Vertex AI: ``POST .../models/<model>:generateContent`` (Vertex's path is longer)
* Bedrock Converse: ``POST .../model/<model id>/converse``
* Ollama chat: ``POST .../api/chat``
* an OAuth token endpoint, ``POST /token``, so Vertex AI's Google credentials can be
  "refreshed" here (an `authorized_user` credential whose `token_uri` points at it).

Anything else is a 404 (recorded too, so a test sees where a request went).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def reply_text(provider: str) -> str:
    return f"Hello from the fake {provider} server."


@dataclass(frozen=True)
class NativeRequest:
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any


def _answer(path: str) -> tuple[str, dict[str, Any]] | None:
    """(provider, completion JSON) for a request path, None when nothing serves it."""
    if path.endswith("/token"):
        return "oauth", {
            "access_token": "ya29.fake-token",
            "expires_in": 3600,
            "token_type": "Bearer",
        }
    if path.endswith("/v1/messages"):
        return "anthropic", {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": "fake",
            "content": [{"type": "text", "text": reply_text("anthropic")}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 11, "output_tokens": 7},
        }
    if path.endswith(":generateContent"):
        provider = "vertex_ai" if "/projects/" in path else "gemini"
        return provider, {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": reply_text(provider)}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 11,
                "candidatesTokenCount": 7,
                "totalTokenCount": 18,
            },
        }
    if path.endswith("/converse"):
        return "bedrock", {
            "output": {
                "message": {"role": "assistant", "content": [{"text": reply_text("bedrock")}]}
            },
            "stopReason": "end_turn",
            "usage": {"inputTokens": 11, "outputTokens": 7, "totalTokens": 18},
            "metrics": {"latencyMs": 5},
        }
    if path.endswith("/api/chat"):
        return "ollama_chat", {
            "model": "fake",
            "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": reply_text("ollama_chat")},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 11,
            "eval_count": 7,
        }
    return None


class NativeServer:
    """Use as a context manager; `base_url` is `http://127.0.0.1:PORT`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[NativeRequest] = []
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def records(self) -> list[NativeRequest]:
        with self._lock:
            return list(self._records)

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def _record(self, r: NativeRequest) -> None:
        with self._lock:
            self._records.append(r)

    def __enter__(self) -> NativeServer:
        handler = type("_Bound", (_Handler,), {"server_": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


class _Handler(BaseHTTPRequestHandler):
    server_: NativeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body: Any = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")  # form-encoded (the OAuth token request)
        path = self.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server_._record(NativeRequest(path, headers, body))
        found = _answer(path)
        status, payload = (200, found[1]) if found else (404, {"error": f"no route {path}"})
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
