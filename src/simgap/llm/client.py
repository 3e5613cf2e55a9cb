"""What every concrete client shares: the response cache in front, call counters around.

Backends implement `_complete_uncached`; `complete` consults the cache first and stores only
answers worth replaying (successful, non-empty), so a rerun of a finished sweep makes no calls.
"""

from __future__ import annotations

from abc import abstractmethod

from simgap.llm.base import ChatRequest, ChatResponse, LLMClient, LLMError, ModelConfig
from simgap.llm.cache import ResponseCache
from simgap.llm.stats import CallStats


class BackendClient(LLMClient):
    """An `LLMClient` with an optional `ResponseCache` and a `CallStats` (`.stats`)."""

    def __init__(
        self,
        config: ModelConfig,
        *,
        cache: ResponseCache | None = None,
        stats: CallStats | None = None,
    ) -> None:
        self.config = config
        self.cache = cache
        self.stats = stats if stats is not None else CallStats()

    @property
    def endpoint(self) -> str:
        """Where the model is reached, as error messages name it."""
        return self.config.api_base or self.config.model

    async def complete(self, request: ChatRequest) -> ChatResponse:
        if self.cache is not None:
            hit = self.cache.get(request)
            if hit is not None:
                self.stats.record(request.model, cache_hits=1)
                return hit
        try:
            resp = await self._complete_uncached(request)
        except LLMError:
            self.stats.record(request.model, failures=1)
            raise
        self.stats.record(
            request.model,
            ok_calls=1,
            prompt_tokens=resp.usage.prompt_tokens,
            completion_tokens=resp.usage.completion_tokens,
            cost_usd=resp.usage.cost_usd,
        )
        if self.cache is not None:
            self.cache.put(request, resp)
        return resp

    @abstractmethod
    async def _complete_uncached(self, request: ChatRequest) -> ChatResponse:
        """One answer from the model itself (retries included), never from the cache."""
