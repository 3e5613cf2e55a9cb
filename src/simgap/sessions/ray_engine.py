"""`--engine ray`: the same sweep spread over a Ray cluster.

Each Ray actor is a small async runner (a `SweepRunner` of its own) that takes sessions one by
one and writes them to the same store as the local engine, so resume, summaries and scoring
work unchanged. On a multi-node cluster the store must be a database URL every node reaches
(PostgreSQL); a SQLite file is only shared by the processes of one machine.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Sequence
from typing import Any

from simgap.errors import ConfigError
from simgap.llm.base import ModelConfig
from simgap.models import SessionStatus
from simgap.sessions.plan import SessionPlan
from simgap.sessions.runner import (
    ProgressSink,
    RunOptions,
    SessionOutcome,
    SweepAborted,
    SweepRunner,
    SweepSummary,
)
from simgap.store import Store


class _Worker:
    """Body of the Ray actor (wrapped with `ray.remote` at run time, so importing this module
    never needs Ray)."""

    def __init__(
        self, store_url: str, agent_config: dict[str, Any], agent_name: str, options: RunOptions
    ) -> None:
        self.runner = SweepRunner(
            Store(store_url),
            agent_config=ModelConfig.model_validate(agent_config),
            agent_name=agent_name,
            options=options,
        )

    async def run_one(self, plan: SessionPlan) -> SessionOutcome:
        return await self.runner.run_one(plan)

    async def close(self) -> None:
        await self.runner.aclose()


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--engine ray needs Ray: pip install 'simgap[ray]' (or 'ray[default]')"
        ) from None
    return ray


def init_ray(address: str | None = None, *, num_cpus: int | None = None) -> Any:
    """Connect to `address` (or $RAY_ADDRESS), else start a local Ray instance."""
    ray = _ray()
    if not ray.is_initialized():
        addr = address or os.environ.get("RAY_ADDRESS") or None
        kwargs: dict[str, Any] = {
            "ignore_reinit_error": True,
            "include_dashboard": False,
            "log_to_driver": False,
        }
        if addr is None and num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
        try:
            ray.init(address=addr, **kwargs)
        except Exception as e:
            where = addr or "a local instance"
            raise ConfigError(f"cannot start Ray at {where}: {str(e).splitlines()[0]}") from None
    return ray


class RayEngine:
    """Runs `SessionPlan`s on Ray actors; same store, same resume rules as the local engine."""

    def __init__(
        self,
        store: Store,
        *,
        agent_config: ModelConfig,
        agent_name: str = "llm",
        options: RunOptions | None = None,
        address: str | None = None,
        workers: int | None = None,
    ) -> None:
        self.store = store
        self.agent_config = agent_config
        self.agent_name = agent_name
        self.options = options or RunOptions()
        self.address = address
        self.workers = workers

    def _check_store(self, ray: Any) -> None:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        if self.store.is_sqlite and len(nodes) > 1:
            raise ConfigError(
                f"--engine ray on {len(nodes)} nodes needs a store every node reaches: "
                "pass a PostgreSQL URL to --out instead of a SQLite file"
            )

    def run(
        self, plans: Sequence[SessionPlan], progress: ProgressSink | None = None
    ) -> SweepSummary:
        ray = init_ray(self.address)
        self._check_store(ray)
        t0 = time.perf_counter()
        statuses = self.store.statuses([p.session_id for p in plans])
        todo = [p for p in plans if statuses.get(p.session_id) != SessionStatus.DONE]
        already = len(plans) - len(todo)
        if progress:
            vals = [statuses.get(p.session_id) for p in todo]
            progress.sweep_started(
                len(plans),
                already,
                continuing=sum(1 for v in vals if v == SessionStatus.RUNNING),
                retrying=sum(1 for v in vals if v == SessionStatus.FAILED),
            )
        if todo:
            self._dispatch(ray, todo, progress)
        runner = SweepRunner(self.store, agent_config=self.agent_config, options=self.options)
        return runner.summarise(
            plans, ran=len(todo), already=already, wall_s=time.perf_counter() - t0
        )

    def _dispatch(
        self, ray: Any, todo: Sequence[SessionPlan], progress: ProgressSink | None
    ) -> None:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        n_workers = max(1, min(self.workers or cpus, len(todo)))
        per_worker = max(1, math.ceil(self.options.concurrency / n_workers))
        actor_cls = ray.remote(num_cpus=0.01, max_concurrency=per_worker)(_Worker)
        agent_cfg = self.agent_config.model_dump()
        actors = [
            actor_cls.remote(self.store.url, agent_cfg, self.agent_name, self.options)
            for _ in range(n_workers)
        ]
        pending = [actors[i % n_workers].run_one.remote(p) for i, p in enumerate(todo)]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                try:
                    outcome = ray.get(done[0])
                except Exception as e:
                    cause = getattr(e, "cause", None)
                    if isinstance(cause, SweepAborted):
                        raise SweepAborted(str(cause)) from None
                    raise
                if progress:
                    progress.session_finished(outcome)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            # best effort: the actors are killed next anyway
            with contextlib.suppress(Exception):
                ray.get([a.close.remote() for a in actors], timeout=30)
            for a in actors:
                ray.kill(a)
