"""The sweep engine: many sessions at once (asyncio, bounded), resumable, with progress.

Rerunning a sweep skips sessions already `done`, continues `running` ones from their stored
turns and starts `failed` ones again, so Ctrl-C or a crash never costs finished work.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from simgap.agents import Agent, build_agent
from simgap.agents.registry import agent_needs_model
from simgap.domains import DomainEnvironment
from simgap.domains.environment import fast_eval_enabled
from simgap.domains.fast_env import env_domain_name
from simgap.errors import SimgapError
from simgap.llm.base import (
    ChatRequest,
    ChatResponse,
    LLMClient,
    LLMError,
    LLMUnavailableError,
    ModelConfig,
)
from simgap.llm.cache import ResponseCache
from simgap.llm.factory import make_client
from simgap.models import (
    AgentSpec,
    Session,
    SessionCategory,
    SessionStatus,
    Termination,
    Usage,
    UserKind,
)
from simgap.sessions.driver import SessionDriver
from simgap.sessions.plan import SessionPlan, preset_identity
from simgap.sessions.protocol import Protocol as ConversationProtocol
from simgap.sessions.protocol import get_protocol
from simgap.sessions.reward_pool import RewardPool
from simgap.sessions.simulate import simulate
from simgap.store import SessionFilter, Store
from simgap.users import UserContext, build_user

# A sweep summary names this many model failures (the count covers them all).
MAX_LISTED_MODEL_FAILURES = 5

# Below this many sessions to run, worker processes for rewards cost more than they save.
MIN_SESSIONS_FOR_REWARD_POOL = 32


_heap_settled = False


def _settle_heap(domain: str) -> None:
    """Load what every session shares (τ², litellm, the domain's pristine database), then move it
    out of the garbage collector's sight (`gc.freeze`), once per process.

    Each session allocates a database copy of ~10⁵ objects, so full collections are frequent,
    and each one used to traverse the hundreds of thousands of long-lived objects of τ² and
    litellm as well. Frozen objects are still freed by reference counting; only cycles among
    them would never be collected, and these are module-level objects that live as long as
    the process anyway.
    """
    global _heap_settled
    if _heap_settled:
        return
    env_domain_name(domain)
    gc.collect()
    gc.freeze()
    _heap_settled = True


# Young-generation size during a sweep (CPython's default is 700 allocations). See _sweep_gc.
SWEEP_GC_THRESHOLD = (100_000, 20, 100)


@contextlib.contextmanager
def _sweep_gc() -> Iterator[None]:
    """Fewer garbage collections while a sweep runs, restored afterwards.

    Every live session holds a database copy of ~10⁵ objects (airline), so with CPython's
    default thresholds the collector keeps traversing all of them: measured on airline with 8
    sessions alive, building and hashing one environment cost 0.53 s with the defaults, 0.28 s
    with these thresholds and 0.24 s with no collection at all. Reference counting still frees
    everything that is not in a cycle at once; cycles wait for the next, rarer, collection.
    """
    old = gc.get_threshold()
    gc.set_threshold(*SWEEP_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*old)


class SweepAborted(SimgapError):
    """A failure every remaining session would hit too (endpoint unreachable, bad key)."""


@dataclass
class RunOptions:
    concurrency: int = 4
    # τ²'s limits; None: the session's protocol's (`tau2`: 200 steps, 10 tool errors).
    max_steps: int | None = None
    max_errors: int | None = None
    use_cache: bool = True
    cache_path: Path | None = None
    # Processes running τ²'s reward evaluator. None: none with the fast evaluation path (the
    # default: a thread of this process scores the live environment); with SIMGAP_FAST_EVAL=0,
    # one per core when the machine has several cores and the sweep has enough sessions to
    # repay their start-up (a few seconds); 0: a thread of this process.
    reward_workers: int | None = None


@dataclass
class SessionOutcome:
    session_id: str
    status: SessionStatus
    termination: Termination | None
    reward: float | None
    n_turns: int
    usage: Usage
    error: str | None = None


class ProgressSink(Protocol):
    """What the runner reports while it works (the CLI draws a progress bar from it)."""

    def sweep_started(
        self, total: int, already_done: int, *, continuing: int = 0, retrying: int = 0
    ) -> None: ...

    def session_finished(self, outcome: SessionOutcome) -> None: ...


@dataclass
class SweepSummary:
    """Everything the plan covers (sessions finished earlier included)."""

    planned: int
    already_done: int
    ran: int
    done: int
    failed: int
    successes: int
    rewarded: int
    mean_turns: float
    usage: Usage
    wall_s: float
    failures: list[tuple[str, str]] = field(default_factory=list)
    terminations: dict[str, int] = field(default_factory=dict)
    # Sessions per `SessionCategory` (completed, model_failure, infra_error, running).
    categories: dict[str, int] = field(default_factory=dict)
    # Engines that spread sessions (`--engine ray`): sessions run now per node, and what
    # happened to the workers (lost nodes, sessions re-queued).
    per_node: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # (session id, who failed: cause) of model failures, the first few (scored 0, not retried).
    model_failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def success_rate(self) -> float | None:
        """Successes over every scored session: completed ones and model failures (scored 0
        as τ² scores them). Infrastructure errors are not in it: they have no reward yet and
        are retried on rerun (`categories` counts them)."""
        return None if self.rewarded == 0 else self.successes / self.rewarded

    def category(self, c: SessionCategory) -> int:
        return self.categories.get(c.value, 0)


class _TrackedClient(LLMClient):
    """Counts successful calls, so a failure can be told apart from a dead endpoint."""

    def __init__(self, inner: LLMClient) -> None:
        self.inner = inner
        self.config = inner.config
        self.ok_calls = 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        resp = await self.inner.complete(request)
        self.ok_calls += 1
        return resp

    async def aclose(self) -> None:
        await self.inner.aclose()


class SweepRunner:
    """Runs planned sessions against one agent configuration."""

    def __init__(
        self,
        store: Store,
        *,
        agent_config: ModelConfig,
        agent_name: str = "llm",
        options: RunOptions | None = None,
        client_factory: Callable[[ModelConfig, ResponseCache | None], LLMClient] | None = None,
    ) -> None:
        self.store = store
        self.agent_config = agent_config
        self.agent_spec = AgentSpec(
            name=agent_name, model=agent_config.model, settings=agent_config.public()
        )
        self.options = options or RunOptions()
        self._factory = client_factory or (lambda cfg, cache: make_client(cfg, cache=cache))
        self._cache = ResponseCache(self.options.cache_path) if self.options.use_cache else None
        self._clients: dict[tuple[str, str], _TrackedClient] = {}
        self._reward_pool: RewardPool | None = None

    def client(self, role: str, config: ModelConfig) -> _TrackedClient:
        """One client per (role, model): shared by sessions, separate per role so the local
        model keeps one KV cache for the agent's prompt and one for the simulator's."""
        key = (role, config.model_dump_json())
        if key not in self._clients:
            self._clients[key] = _TrackedClient(self._factory(config, self._cache))
        return self._clients[key]

    async def aclose(self) -> None:
        for c in self._clients.values():
            await c.aclose()
        self._clients.clear()
        if self._reward_pool is not None:
            self._reward_pool.shutdown()
            self._reward_pool = None

    def _reward_workers(self, n_sessions: int) -> int:
        if self.options.reward_workers is not None:
            return max(0, self.options.reward_workers)
        if fast_eval_enabled():
            # The fast path scores the environment the session ran in, in this process (one
            # database hash, ~10 ms in airline); a worker would have to rebuild it first.
            return 0
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        return min(cores, 8) if cores >= 2 and n_sessions >= MIN_SESSIONS_FOR_REWARD_POOL else 0

    # -- one session --------------------------------------------------------------------------
    def protocol(self, plan: SessionPlan) -> ConversationProtocol:
        """The plan's protocol with this run's limits (`--max-steps/--max-errors`) applied."""
        return get_protocol(plan.protocol).with_limits(
            max_steps=self.options.max_steps, max_errors=self.options.max_errors
        )

    def model_configs(self, plan: SessionPlan) -> tuple[ModelConfig, ModelConfig | None]:
        """(agent, simulator) model configs with the protocol's sampling defaults filled in
        where the configs leave them unset (τ²: temperature 0.0 for both)."""
        p = get_protocol(plan.protocol)
        agent = p.sampled(self.agent_config, role="agent")
        model = plan.preset.model
        return agent, None if model is None else p.sampled(model, role="user")

    def new_session(self, plan: SessionPlan) -> Session:
        preset = plan.preset
        protocol = self.protocol(plan)
        agent_cfg, user_cfg = self.model_configs(plan)
        return Session(
            session_id=plan.session_id,
            task_id=plan.task.task_id,
            domain=plan.task.domain,
            user_kind=UserKind.SIMULATOR,
            user_id=preset.name,
            agent=plan.agent,
            batch=plan.batch,
            trial=plan.trial,
            seed=plan.seed,
            meta={
                "user_preset": preset_identity(preset),
                "user_family": preset.family,
                "synthetic": preset.synthetic,
                "protocol": protocol.describe(),
                "max_steps": protocol.max_steps,
                "max_errors": protocol.max_errors,
                "sampling": {
                    "agent": _sampling(agent_cfg, plan.seed)
                    if agent_needs_model(plan.agent.name)
                    else None,
                    "user": None if user_cfg is None else _sampling(user_cfg, plan.seed),
                },
            },
        )

    async def run_one(self, plan: SessionPlan) -> SessionOutcome:
        agent_cfg, user_cfg = self.model_configs(plan)
        # a model-free agent (the probe, a plugin that says so) gets no client at all
        agent_client = (
            self.client("agent", agent_cfg) if agent_needs_model(plan.agent.name) else None
        )
        user_client = self.client("user", user_cfg) if user_cfg is not None else None

        def make_agent(env: DomainEnvironment) -> Agent:
            return build_agent(plan.agent, agent_client, env)

        driver = await SessionDriver.open(
            self.store,
            self.new_session(plan),
            plan.task,
            make_agent,
            protocol=self.protocol(plan),
        )
        driver.reward_pool = self._reward_pool
        if not driver.done:
            user = build_user(
                plan.preset,
                UserContext(plan.task, driver.env, user_client, plan.seed, preset=plan.preset),
            )
            try:
                await simulate(driver, user)
            except LLMError as e:
                await driver.finish(Termination.INFRA_ERROR, error=str(e))
                failed_client = _client_of(e, agent_client, user_client)
                if (
                    isinstance(e, LLMUnavailableError)
                    and failed_client is not None
                    and failed_client.ok_calls == 0
                ):
                    raise SweepAborted(str(e)) from None
            except SimgapError as e:
                await driver.finish(Termination.INFRA_ERROR, error=str(e))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a bug: keep the session, record the cause, go on
                where = traceback.extract_tb(e.__traceback__)[-1]
                at = f"{Path(where.filename).name}:{where.lineno}"
                msg = f"internal error: {type(e).__name__}: {e} ({at})"
                await driver.finish(Termination.INFRA_ERROR, error=msg.splitlines()[0])
            finally:
                await user.aclose()
        s = driver.session
        return SessionOutcome(
            session_id=s.session_id,
            status=s.status,
            termination=s.termination,
            reward=None if s.reward is None else s.reward.value,
            n_turns=len(s.turns),
            usage=s.usage,
            error=s.error,
        )

    # -- a sweep ------------------------------------------------------------------------------
    async def run(
        self, plans: Sequence[SessionPlan], progress: ProgressSink | None = None
    ) -> SweepSummary:
        t0 = time.perf_counter()
        statuses = self.store.statuses([p.session_id for p in plans])
        todo = [p for p in plans if statuses.get(p.session_id) != SessionStatus.DONE]
        already = len(plans) - len(todo)
        workers = self._reward_workers(len(todo))
        if todo:
            await asyncio.to_thread(_settle_heap, todo[0].task.domain)
        with _sweep_gc():
            return await self._run(plans, todo, already, statuses, workers, progress, t0)

    async def _run(
        self,
        plans: Sequence[SessionPlan],
        todo: list[SessionPlan],
        already: int,
        statuses: dict[str, SessionStatus],
        workers: int,
        progress: ProgressSink | None,
        t0: float,
    ) -> SweepSummary:
        if workers and self._reward_pool is None:
            domain = todo[0].task.domain
            self._reward_pool = RewardPool(workers, warm_domain=domain)
        if progress:
            vals = [statuses.get(p.session_id) for p in todo]
            progress.sweep_started(
                len(plans),
                already,
                continuing=sum(1 for v in vals if v == SessionStatus.RUNNING),
                retrying=sum(1 for v in vals if v == SessionStatus.FAILED),
            )
        sem = asyncio.Semaphore(max(1, self.options.concurrency))

        async def guarded(p: SessionPlan) -> SessionOutcome:
            async with sem:
                out = await self.run_one(p)
            if progress:
                progress.session_finished(out)
            return out

        tasks = [asyncio.create_task(guarded(p)) for p in todo]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return self.summarise(
            plans, ran=len(todo), already=already, wall_s=time.perf_counter() - t0
        )

    def summarise(
        self, plans: Sequence[SessionPlan], *, ran: int, already: int, wall_s: float
    ) -> SweepSummary:
        ids = [p.session_id for p in plans]
        sessions = self.store.iter_sessions(SessionFilter(session_ids=ids))
        return summarise_sessions(
            sessions, planned=len(plans), ran=ran, already=already, wall_s=wall_s
        )


def summarise_sessions(
    sessions: Iterable[Session], *, planned: int, ran: int, already: int, wall_s: float
) -> SweepSummary:
    """Totals of a sweep in one pass over its sessions, holding none of them: a sweep of
    10,000 sessions is summarised in the memory of one (the store streams them)."""
    usage = Usage()
    terms: dict[str, int] = {}
    cats: dict[str, int] = {c.value: 0 for c in SessionCategory}
    model_failures: list[tuple[str, str]] = []
    failures: list[tuple[str, str]] = []
    done = rewarded = successes = done_turns = 0
    for s in sessions:
        usage = usage + s.usage
        key = s.termination.value if s.termination else s.status.value
        terms[key] = terms.get(key, 0) + 1
        cats[s.category.value] += 1
        mf = s.meta.get("model_failure")
        listed = len(model_failures) < MAX_LISTED_MODEL_FAILURES
        if listed and s.category == SessionCategory.MODEL_FAILURE and isinstance(mf, dict):
            model_failures.append((s.session_id, f"{mf.get('role')}: {mf.get('cause')}"))
        if s.status == SessionStatus.FAILED:
            failures.append((s.session_id, s.error or "unknown error"))
        if s.status == SessionStatus.DONE:
            done += 1
            done_turns += len(s.turns)
            if s.reward is not None:
                rewarded += 1
                successes += 1 if s.reward.success else 0
    return SweepSummary(
        planned=planned,
        already_done=already,
        ran=ran,
        done=done,
        failed=len(failures),
        successes=successes,
        rewarded=rewarded,
        mean_turns=(done_turns / done) if done else 0.0,
        usage=usage,
        wall_s=wall_s,
        failures=failures,
        terminations=terms,
        categories=cats,
        model_failures=model_failures,
    )


def _sampling(config: ModelConfig, seed: int | None) -> dict[str, Any]:
    """The sampling parameters a model is called with (stored with every session)."""
    return {
        "model": config.model,
        "temperature": config.temperature,
        "top_p": config.top_p,
        "max_tokens": config.max_tokens,
        "seed": seed,
    }


def _client_of(
    e: LLMError, agent: _TrackedClient | None, user: _TrackedClient | None
) -> _TrackedClient | None:
    if agent is not None and e.model == agent.config.model:
        return agent
    if user is not None and e.model == user.config.model:
        return user
    return None


def run_sweep(
    store: Store,
    plans: Sequence[SessionPlan],
    *,
    agent_config: ModelConfig,
    options: RunOptions | None = None,
    progress: ProgressSink | None = None,
    **kwargs: Any,
) -> SweepSummary:
    """Blocking convenience wrapper around `SweepRunner.run` (library and CLI entry point)."""

    async def _go() -> SweepSummary:
        runner = SweepRunner(store, agent_config=agent_config, options=options, **kwargs)
        try:
            return await runner.run(plans, progress)
        finally:
            await runner.aclose()

    return asyncio.run(_go())
