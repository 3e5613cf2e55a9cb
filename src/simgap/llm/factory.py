"""Build the right client for a `ModelConfig`: the embedded model or litellm."""

from __future__ import annotations

from simgap.llm.base import ModelConfig
from simgap.llm.cache import ResponseCache
from simgap.llm.client import BackendClient
from simgap.llm.limits import LimiterRegistry
from simgap.llm.litellm_client import LiteLLMClient
from simgap.llm.local import LocalClient
from simgap.llm.stats import CallStats


def make_client(
    config: ModelConfig,
    *,
    cache: ResponseCache | None = None,
    stats: CallStats | None = None,
    limits: LimiterRegistry | None = None,
) -> BackendClient:
    """A `LocalClient` for `local` / `local:/path.gguf`, else a `LiteLLMClient`.

    `cache` answers repeated requests from disk. `stats` lets several clients count into one
    `CallStats`. `limits` replaces the process-wide limiter registry, for tests and benchmarks
    that must not share quotas with anything else in the process. Neither backend loads its
    heavy dependency (litellm, llama.cpp) before it is first needed.
    """
    if config.is_local:
        return LocalClient(config, cache=cache, stats=stats)
    return LiteLLMClient(config, cache=cache, stats=stats, limits=limits)
