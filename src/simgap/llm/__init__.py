"""Stage: llm. Every model call goes through an `LLMClient` (see `base.py`).

`make_client(config, cache=...)` gives the embedded SmolLM2 model (`local`) or a litellm client
(hosted APIs, OpenAI-compatible servers), both with the on-disk `ResponseCache`, retry with
backoff, shared per-provider rate limits and `CallStats` counters.

Importing this package is cheap: litellm (seconds to import) and llama.cpp are loaded by the
clients on first use.
"""

from simgap.llm.base import (
    EMPTY_ANSWER_RETRIES,
    LOCAL_MODEL,
    ChatRequest,
    ChatResponse,
    LLMClient,
    LLMEmptyAnswerError,
    LLMError,
    LLMModelFault,
    LLMRequestRejectedError,
    LLMResponseError,
    LLMUnavailableError,
    ModelConfig,
)
from simgap.llm.cache import ResponseCache, default_cache_path
from simgap.llm.client import BackendClient
from simgap.llm.factory import make_client
from simgap.llm.limits import LimiterRegistry, ProviderLimiter, default_registry
from simgap.llm.litellm_client import LiteLLMClient
from simgap.llm.local import LocalClient
from simgap.llm.stats import CallStats, ModelStats

__all__ = [
    "EMPTY_ANSWER_RETRIES",
    "LOCAL_MODEL",
    "BackendClient",
    "CallStats",
    "ChatRequest",
    "ChatResponse",
    "LLMClient",
    "LLMEmptyAnswerError",
    "LLMError",
    "LLMModelFault",
    "LLMRequestRejectedError",
    "LLMResponseError",
    "LLMUnavailableError",
    "LimiterRegistry",
    "LiteLLMClient",
    "LocalClient",
    "ModelConfig",
    "ModelStats",
    "ProviderLimiter",
    "ResponseCache",
    "default_cache_path",
    "default_registry",
    "make_client",
]
