"""Hosted APIs and OpenAI-compatible servers through `litellm.acompletion`.

litellm's (and the openai SDK's) own retries are switched off: retrying is ours, because only
here do we know the provider-wide limiter to slow down on a 429, the Retry-After to honour, and
that an undecodable answer deserves two more tries, not seven. Every failure ends as an
`LLMError` with one line naming the model, the endpoint and the cause.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from typing import Any

from simgap.errors import ConfigError
from simgap.llm.base import (
    EMPTY_ANSWER_RETRIES,
    ChatRequest,
    ChatResponse,
    LLMEmptyAnswerError,
    LLMRequestRejectedError,
    LLMResponseError,
    LLMUnavailableError,
    ModelConfig,
)
from simgap.llm.cache import ResponseCache
from simgap.llm.client import BackendClient
from simgap.llm.failures import Failure, Kind, classify
from simgap.llm.limits import LimiterRegistry, ProviderLimiter, default_registry, endpoint_key
from simgap.llm.retry import MAX_RETRY_AFTER_S, Backoff
from simgap.llm.stats import CallStats
from simgap.models import ToolCall, Usage

# OpenAI-compatible local servers (vLLM, llama.cpp server, the test fake) accept any key, but
# the openai SDK refuses to send a request without one.
DUMMY_API_KEY = "sk-simgap-no-key"
# Undecodable answers are retried this many times at most: a server that answers garbage
# three times in a row is broken, not busy. (Empty answers follow τ²: EMPTY_ANSWER_RETRIES.)
MAX_BAD_ANSWER_RETRIES = 2


def _litellm() -> Any:
    """Import litellm on first use (it takes seconds) and keep it quiet on stdout."""
    import litellm

    litellm.suppress_debug_info = True
    return litellm


class _BadAnswer(Exception):
    """A 200 answer we cannot use (no choices, empty message)."""


class LiteLLMClient(BackendClient):
    """`LLMClient` over litellm: any hosted model id, or `openai/<name>` plus `api_base`."""

    def __init__(
        self,
        config: ModelConfig,
        *,
        cache: ResponseCache | None = None,
        stats: CallStats | None = None,
        limits: LimiterRegistry | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if config.is_local:
            raise ConfigError(f"model {config.model}: is the embedded model, use LocalClient")
        super().__init__(config, cache=cache, stats=stats)
        self._llm = _litellm()
        self._route_model, provider = self._resolve_provider(config)
        self._endpoint = config.api_base.rstrip("/") if config.api_base else f"{provider} API"
        registry = limits if limits is not None else default_registry
        key = endpoint_key(provider, config.api_base)
        self.limiter: ProviderLimiter = registry.get(
            key, rpm=config.rpm, tpm=config.tpm, max_concurrency=config.max_concurrency
        )
        self.backoff = Backoff(config.backoff_base_s, config.backoff_max_s, rng or random.Random())
        self._api_key = config.resolved_api_key() or (DUMMY_API_KEY if config.api_base else None)
        self._priced: bool | None = None  # learnt on the first answer: is the model in the table?

    def _resolve_provider(self, config: ModelConfig) -> tuple[str, str]:
        """(model id to send to litellm, provider name). A bare name with an api_base is
        taken to be served by an OpenAI-compatible server."""
        try:
            _, provider, _, _ = self._llm.get_llm_provider(
                model=config.model, api_base=config.api_base
            )
            return config.model, str(provider)
        except Exception:
            if config.api_base:
                return f"openai/{config.model}", "openai"
            raise ConfigError(
                f"model {config.model}: litellm does not know its provider; "
                "use a prefixed id such as openai/<name> or anthropic/<name>"
            ) from None

    @property
    def endpoint(self) -> str:
        return self._endpoint

    # -- request ---------------------------------------------------------------------------------
    def _kwargs(self, request: ChatRequest) -> dict[str, Any]:
        c = self.config
        kw: dict[str, Any] = dict(request.extra)
        model = self._route_model if request.model == c.model else request.model
        kw.update(model=model, messages=request.messages, timeout=c.timeout_s)
        # Our retry loop is the only one: litellm's wrapper and the openai SDK both retry too.
        kw.update(num_retries=0, max_retries=0, drop_params=True)
        optional = {
            "tools": request.tools,
            "tool_choice": request.tool_choice,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "top_p": request.top_p,
            "seed": request.seed,
            "response_format": request.response_format,
            "api_base": request.api_base or c.api_base,
            "api_key": self._api_key,
        }
        kw.update({k: v for k, v in optional.items() if v is not None})
        return kw

    def _estimate_tokens(self, request: ChatRequest) -> float:
        """Rough token count of a request (4 characters a token), for tokens/min budgets."""
        chars = len(json.dumps(request.messages, ensure_ascii=False))
        if request.tools:
            chars += len(json.dumps(request.tools, ensure_ascii=False))
        return chars / 4.0 + (request.max_tokens or 0)

    # -- the retry loop --------------------------------------------------------------------------
    async def _complete_uncached(self, request: ChatRequest) -> ChatResponse:
        model = request.model
        kwargs = self._kwargs(request)
        estimate = self._estimate_tokens(request) if self.limiter.tpm else 0.0
        max_tries = self.config.max_retries + 1
        max_bad = min(MAX_BAD_ANSWER_RETRIES, self.config.max_retries)
        tries = bad = empty = 0  # transport tries, undecodable answers, empty answers
        spent = Usage()  # tokens of unusable (empty) answers are paid for too
        while True:
            if tries + empty > 0:
                self.stats.record(model, retries=1)
            tries += 1
            outcome = await self._attempt(request, kwargs, estimate)
            if isinstance(outcome, ChatResponse):
                if not outcome.is_empty:
                    if estimate:
                        self.limiter.record_tokens(outcome.usage.total_tokens - estimate)
                    return outcome.model_copy(update={"usage": spent + outcome.usage})
                # An empty reply is the model's own doing, not the transport's: asked again at
                # once, exactly as often as τ²'s generate() asks (not counted against the
                # transport retries), then a model fault that τ² scores as a failed sample.
                spent = spent + outcome.usage
                self.stats.record(model, bad_answers=1)
                tries -= 1
                empty += 1
                if empty > EMPTY_ANSWER_RETRIES:
                    raise LLMEmptyAnswerError(
                        model,
                        f"empty answer (no content, no tool calls) after {empty} tries",
                        endpoint=self.endpoint,
                    )
                continue
            await self._handle_failure(outcome, model, tries, max_tries, bad, max_bad)
            if outcome.kind is Kind.GARBAGE:
                bad += 1

    async def _attempt(
        self, request: ChatRequest, kwargs: dict[str, Any], estimate: float
    ) -> ChatResponse | Failure:
        """One upstream call inside a limiter slot: the answer, or what went wrong."""
        t0 = time.perf_counter()
        try:
            async with self.limiter.slot(estimate):
                self.stats.record(request.model, upstream_calls=1)
                raw = await self._llm.acompletion(**kwargs)
            return self._to_response(raw, request, time.perf_counter() - t0)
        except asyncio.CancelledError:
            raise
        except _BadAnswer as e:
            return Failure(Kind.GARBAGE, str(e))
        except Exception as e:
            return classify(e, timeout_s=self.config.timeout_s)

    async def _handle_failure(
        self, f: Failure, model: str, tries: int, max_tries: int, bad: int, max_bad: int
    ) -> None:
        """Raise the final error, or sleep before the next try."""
        if f.kind is Kind.RATE_LIMIT:
            self.stats.record(model, rate_limited=1)
            self.limiter.on_rate_limited(f.retry_after)
        if f.kind is Kind.GARBAGE:
            self.stats.record(model, bad_answers=1)
        if f.kind is Kind.FATAL_REQUEST:
            raise LLMRequestRejectedError(model, f.cause, endpoint=self.endpoint)
        if not f.retryable:
            raise LLMUnavailableError(model, f.cause, endpoint=self.endpoint)
        if f.retry_after is not None and f.retry_after > MAX_RETRY_AFTER_S:
            raise LLMUnavailableError(
                model,
                f"{f.cause}; the server asks to wait {f.retry_after:.0f}s, giving up",
                endpoint=self.endpoint,
            )
        if f.kind is Kind.GARBAGE and bad >= max_bad:
            raise LLMResponseError(model, f"{f.cause} after {tries} tries", endpoint=self.endpoint)
        if tries >= max_tries:
            error = LLMResponseError if f.kind is Kind.GARBAGE else LLMUnavailableError
            raise error(model, f"{f.cause} after {tries} tries", endpoint=self.endpoint)
        await asyncio.sleep(self.backoff.delay(tries, f.retry_after))

    # -- response --------------------------------------------------------------------------------
    def _to_response(self, raw: Any, request: ChatRequest, latency_s: float) -> ChatResponse:
        choices = getattr(raw, "choices", None)
        if not choices:
            raise _BadAnswer("answer without choices")
        choice = choices[0]
        msg = getattr(choice, "message", None)
        if msg is None:
            raise _BadAnswer("answer without a message")
        content = msg.content if isinstance(msg.content, str) else None
        calls = [_tool_call(tc) for tc in (getattr(msg, "tool_calls", None) or [])]
        u = getattr(raw, "usage", None)
        usage = Usage(
            prompt_tokens=int(getattr(u, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(u, "completion_tokens", 0) or 0),
            calls=1,
            cost_usd=self._cost(raw),
        )
        return ChatResponse(
            content=content,
            tool_calls=calls,
            finish_reason=getattr(choice, "finish_reason", None),
            model=str(getattr(raw, "model", None) or request.model),
            usage=usage,
            latency_s=latency_s,
        )

    def _cost(self, raw: Any) -> float:
        """Cost from litellm's price table; 0.0 for models it does not price (local servers)."""
        if self._priced is False:
            return 0.0
        hidden = getattr(raw, "_hidden_params", None)
        known = hidden.get("response_cost") if isinstance(hidden, dict) else None
        if isinstance(known, int | float) and known > 0:
            return float(known)  # litellm already priced this answer while logging it
        try:
            cost = float(self._llm.completion_cost(completion_response=raw) or 0.0)
        except Exception:
            self._priced = False
            return 0.0
        self._priced = True
        return cost


def _tool_call(tc: Any) -> ToolCall:
    """OpenAI tool call -> ToolCall. Arguments that are not a JSON object are kept verbatim in
    `raw_arguments` (never repaired) so the transcript shows what the model really produced."""
    fn = getattr(tc, "function", None)
    name = str(getattr(fn, "name", None) or "")
    raw = getattr(fn, "arguments", None)
    call_id = str(getattr(tc, "id", None) or f"call_{uuid.uuid4().hex[:12]}")
    if raw is None:
        return ToolCall(id=call_id, name=name)
    if isinstance(raw, dict):
        return ToolCall(id=call_id, name=name, arguments=raw)
    text = raw if isinstance(raw, str) else json.dumps(raw)
    try:
        parsed = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        parsed = None
    if isinstance(parsed, dict):
        return ToolCall(id=call_id, name=name, arguments=parsed)
    return ToolCall(id=call_id, name=name, arguments={}, raw_arguments=text)
