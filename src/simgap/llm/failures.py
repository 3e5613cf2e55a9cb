"""Sort an exception from litellm into what to do about it, with a short human cause.

litellm reports a refused connection, a dropped connection and an undecodable body all as
`InternalServerError` (status 500) with a synthesized response, so the status code alone would
retry garbage as if it were an outage and hide "connection refused" behind "HTTP 500". The
exception chain (`__cause__` / `__context__`) still carries the real cause; we read that.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from simgap.llm.retry import parse_retry_after


class Kind(Enum):
    RATE_LIMIT = "rate_limit"  # 429: retry, slow the provider down
    TRANSIENT = "transient"  # 5xx, timeout, connection trouble: retry
    GARBAGE = "garbage"  # an answer that could not be decoded: retry a little, then give up
    FATAL_UNAVAILABLE = "fatal_unavailable"  # auth, unknown model, bad request: no retry
    FATAL_REQUEST = "fatal_request"  # this request can't work (context too long, policy)


@dataclass(frozen=True)
class Failure:
    kind: Kind
    cause: str  # short, one line: "connection refused", "HTTP 503: overloaded"
    status: int | None = None
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.kind in (Kind.RATE_LIMIT, Kind.TRANSIENT, Kind.GARBAGE)


_PREFIX = re.compile(
    r"^(?:litellm\.\w+:\s*)?(?:\w+(?:Error|Exception):\s*)*(?:\w+(?:Error|Exception)\s*-\s*)?", re.I
)
_RETRYABLE_STATUS = {408, 409, 425, 429}
# The SDK refuses to send without a key; litellm reports that as a (synthesized) HTTP 500.
_MISSING_KEY_HINTS = ("missing credentials", "api_key client option must be set", "no api key")
_CONTEXT_HINTS = ("context length", "context window", "maximum context", "too many tokens")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def short_message(exc: BaseException, limit: int = 160) -> str:
    """The provider's message without litellm's class-name prefixes, on one line."""
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    text = " ".join(str(text).split())
    text = _PREFIX.sub("", text).strip() or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _headers(exc: BaseException) -> Mapping[str, str] | None:
    h: Any = getattr(exc, "litellm_response_headers", None)
    if h is None:
        resp = getattr(exc, "response", None)
        h = getattr(resp, "headers", None)
    return h if isinstance(h, Mapping) or hasattr(h, "items") else None


def _names(exc: BaseException) -> set[str]:
    return {c.__name__ for c in type(exc).__mro__}


def _connection_cause(chain: list[BaseException]) -> str | None:
    for e in chain:
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, socket.gaierror):
            return "host name not resolved"
    for e in chain:
        names = _names(e)
        if "ServerDisconnectedError" in names or "RemoteProtocolError" in names:
            return "server closed the connection"
        if isinstance(e, ConnectionResetError):
            return "connection reset"
        if names & {"ConnectError", "ClientConnectorError", "ClientConnectionError", "ReadError"}:
            return "connection failed"
        if names & {"APIConnectionError", "TransportError", "NetworkError"} or isinstance(
            e, ConnectionError
        ):
            return "connection error"
    return None


def _timeout(chain: list[BaseException]) -> bool:
    for e in chain:
        names = _names(e)
        if isinstance(e, TimeoutError | asyncio.TimeoutError) or names & {
            "Timeout",
            "APITimeoutError",
            "TimeoutException",
            "ReadTimeout",
            "ConnectTimeout",
            "ServerTimeoutError",
        }:
            return True
    return False


def _garbage(chain: list[BaseException]) -> bool:
    for e in chain:
        if isinstance(e, json.JSONDecodeError | UnicodeDecodeError):
            return True
        msg = str(e)
        if "Empty or invalid response" in msg or "invalid JSON" in msg.lower():
            return True
    return False


def classify(exc: BaseException, *, timeout_s: float | None = None) -> Failure:
    """What kind of failure `exc` is (see `Kind`)."""
    chain = list(_chain(exc))
    names = _names(exc)
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    headers = _headers(exc)
    # A real HTTP answer carries headers; litellm's synthesized 500s have none.
    real_http = bool(headers) and status is not None
    msg = short_message(exc)

    if _timeout(chain):
        t = f" within {timeout_s:g}s" if timeout_s else ""
        return Failure(Kind.TRANSIENT, f"no answer{t} (timeout)", status)
    if not real_http:
        if _garbage(chain):
            return Failure(Kind.GARBAGE, f"undecodable answer ({msg})", status)
        conn = _connection_cause(chain)
        if conn is not None:
            return Failure(Kind.TRANSIENT, conn, status)
    if not real_http and any(h in msg.lower() for h in _MISSING_KEY_HINTS):
        return Failure(Kind.FATAL_UNAVAILABLE, f"no API key: {msg}", status)
    if "RateLimitError" in names or status == 429:
        return Failure(
            Kind.RATE_LIMIT, f"rate limited (HTTP 429: {msg})", 429, parse_retry_after(headers)
        )
    if "ContextWindowExceededError" in names or any(h in msg.lower() for h in _CONTEXT_HINTS):
        return Failure(Kind.FATAL_REQUEST, f"context window exceeded: {msg}", status)
    if "ContentPolicyViolationError" in names:
        return Failure(Kind.FATAL_REQUEST, f"refused by content policy: {msg}", status)
    if "AuthenticationError" in names or status in (401, 403):
        return Failure(
            Kind.FATAL_UNAVAILABLE, f"authentication refused (HTTP {status or 401}): {msg}", status
        )
    if "NotFoundError" in names or status == 404:
        return Failure(Kind.FATAL_UNAVAILABLE, f"not found (HTTP 404): {msg}", status)
    if status is not None and (status >= 500 or status in _RETRYABLE_STATUS):
        return Failure(Kind.TRANSIENT, f"HTTP {status}: {msg}", status, parse_retry_after(headers))
    if status is not None and 400 <= status < 500:
        return Failure(Kind.FATAL_UNAVAILABLE, f"request refused (HTTP {status}): {msg}", status)
    if names & {"APIConnectionError", "ServiceUnavailableError", "InternalServerError", "APIError"}:
        return Failure(Kind.TRANSIENT, msg, status)
    # Anything else (a litellm bug, an unsupported parameter) won't get better by retrying.
    return Failure(Kind.FATAL_UNAVAILABLE, f"{type(exc).__name__}: {msg}", status)
