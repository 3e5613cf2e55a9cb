"""`--engine ray`: the same sweep spread over a Ray cluster.

Placement: one worker actor per `worker_cpus` CPUs of every live node, pinned to its node
(hard node affinity), so every node works; a node with no CPU (a head started with
`--num-cpus=0`) gets none. Each worker is a small async runner (a `SweepRunner` of its own)
that writes to the same store as the local engine, so resume, summaries and scoring work
unchanged. On a multi-node cluster the store must be a database every node reaches
(PostgreSQL); a SQLite file is only shared by the processes of one machine, and is refused.

Balance: the driver holds the queue of sessions and gives each worker its next one when it
finishes one (at most `ceil(concurrency / workers)` at a time each), so a slow node takes
fewer sessions instead of holding the sweep up.

Failure: a worker that dies (its node lost, its process killed) has its sessions in flight put
back at the front of the queue for the survivors; they continue from their stored turns, as a
rerun would, so nothing is lost or stored twice (turns are keyed by session and index). With no
worker left the sweep stops with a summary and the resume hint (`ClusterLost`). A failure every
session would hit (unreachable endpoint, bad config) stops the sweep with the local engine's
one-line error. Ctrl-C cancels the work in flight (cooperatively: `ray.cancel` without
`force`, which Ray refuses for actor tasks) and leaves it resumable.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from simgap.errors import ConfigError, SimgapError
from simgap.llm.base import ModelConfig
from simgap.models import SessionStatus
from simgap.sessions.plan import SessionPlan
from simgap.sessions.ray_cluster import (
    LOCAL_THREADS_ENV,
    Slot,
    connect,
    node_label,
    plan_slots,
    worker_environment,
)
from simgap.sessions.runner import (
    ProgressSink,
    RunOptions,
    SessionOutcome,
    SweepAborted,
    SweepRunner,
    SweepSummary,
    summarise_sessions,
)
from simgap.store import SessionFilter, Store

# How long workers may take to start (import simgap and τ², open the store) before the sweep
# goes on without them.
WORKER_START_TIMEOUT_S = 300.0
# How long a cancelled worker gets to close its clients before it is killed.
WORKER_CLOSE_TIMEOUT_S = 15.0


def init_ray(address: str | None = None, *, num_cpus: int | None = None) -> Any:
    """Connect to `address` (or $RAY_ADDRESS), else start a local Ray instance."""
    return connect(address, num_cpus=num_cpus)


class ClusterLost(SimgapError):
    """Every worker was lost before the sweep finished; `summary` says what is stored."""

    def __init__(self, message: str, summary: SweepSummary) -> None:
        super().__init__(message)
        self.summary = summary


class RayWorkerError(SimgapError):
    """A worker failed outside any session (a defect or a broken installation on a node)."""


@dataclass(frozen=True)
class _Abort:
    """A worker's report of a failure every session would hit (returned, not raised, so no
    exception has to survive pickling and Ray prints no traceback)."""

    kind: str  # "aborted" | "config" | "error"
    message: str


class _Worker:
    """Body of the Ray actor (wrapped with `ray.remote` at run time, so importing this module
    never needs Ray). `secrets` are set in this process's environment before any client is
    built; they arrive as a constructor argument because Ray logs runtime environments."""

    def __init__(
        self,
        store_url: str,
        agent_config: dict[str, Any],
        agent_name: str,
        options: RunOptions,
        secrets: dict[str, str],
    ) -> None:
        import os

        os.environ.update(secrets)
        self.runner = SweepRunner(
            Store(store_url),
            agent_config=ModelConfig.model_validate(agent_config),
            agent_name=agent_name,
            options=options,
        )

    def node(self) -> str:
        import ray

        return str(ray.get_runtime_context().get_node_id())

    async def run_one(self, plan: SessionPlan) -> SessionOutcome | _Abort:
        try:
            return await self.runner.run_one(plan)
        except SweepAborted as e:
            return _Abort("aborted", str(e))
        except ConfigError as e:
            return _Abort("config", str(e))
        except SimgapError as e:
            return _Abort("error", str(e))

    async def close(self) -> None:
        await self.runner.aclose()
        self.runner.store.close()


@dataclass
class _Live:
    actor: Any
    slot: Slot  # where the worker runs (checked against its own report when it starts)
    inflight: int = 0


def _lost_errors(ray: Any) -> tuple[type[BaseException], ...]:
    """Errors that mean the worker (or its node) is gone, not that the session failed."""
    ex = ray.exceptions
    names = ("RayActorError", "WorkerCrashedError", "ObjectLostError", "NodeDiedError")
    return tuple(getattr(ex, n) for n in names if hasattr(ex, n))


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines() or [type(e).__name__])[0][:300]


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
        worker_cpus: float = 1.0,
        start_timeout_s: float = WORKER_START_TIMEOUT_S,
    ) -> None:
        if worker_cpus <= 0:
            raise ConfigError(f"Ray worker CPUs must be > 0, got {worker_cpus}")
        self.store = store
        self.agent_config = agent_config
        self.agent_name = agent_name
        self.options = options or RunOptions()
        self.address = address
        self.workers = workers
        self.worker_cpus = worker_cpus
        self.start_timeout_s = start_timeout_s
        self.per_node: Counter[str] = Counter()
        self.notes: list[str] = []

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
        lost: str | None = None
        if todo:
            lost = self._dispatch(ray, todo, progress)
        summary = self._summary(plans, ran=len(todo), already=already, t0=t0)
        if lost is not None:
            raise ClusterLost(lost, summary)
        return summary

    def _summary(
        self, plans: Sequence[SessionPlan], *, ran: int, already: int, t0: float
    ) -> SweepSummary:
        ids = [p.session_id for p in plans]
        s = summarise_sessions(
            self.store.iter_sessions(SessionFilter(session_ids=ids)),
            planned=len(plans),
            ran=ran,
            already=already,
            wall_s=time.perf_counter() - t0,
        )
        s.per_node = dict(sorted(self.per_node.items()))
        s.notes = list(self.notes)
        return s

    # -- workers ----------------------------------------------------------------------------
    def _model_configs(self, todo: Iterable[SessionPlan]) -> list[ModelConfig]:
        configs = [self.agent_config]
        seen: set[str] = set()
        for p in todo:
            m = p.preset.model
            if m is not None and (key := m.model_dump_json()) not in seen:
                seen.add(key)
                configs.append(m)
        return configs

    def _start_workers(self, ray: Any, todo: Sequence[SessionPlan], per_worker: int) -> list[_Live]:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        slots = plan_slots(ray.nodes(), worker_cpus=self.worker_cpus, max_workers=self.workers)
        slots = slots[: len(todo)] if len(slots) > len(todo) else slots
        if not slots:
            raise ConfigError(
                f"the Ray cluster has no live node with {self.worker_cpus:g} CPU(s) for a "
                "worker (a head started with --num-cpus=0 runs none): add a node or lower "
                "--ray-worker-cpus"
            )
        settings, secrets = worker_environment(self._model_configs(todo))
        settings[LOCAL_THREADS_ENV] = str(max(1, math.floor(self.worker_cpus)))
        actor_cls = ray.remote(_Worker)
        agent_cfg = self.agent_config.model_dump()
        live: list[_Live] = []
        for slot in slots:
            actor = actor_cls.options(
                num_cpus=self.worker_cpus,
                max_concurrency=per_worker + 2,  # + the readiness probe and close()
                max_restarts=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(slot.node_id, soft=False),
                runtime_env={"env_vars": settings},
            ).remote(self.store.url, agent_cfg, self.agent_name, self.options, secrets)
            live.append(_Live(actor, slot))
        labels = {str(n["NodeID"]): node_label(n) for n in ray.nodes()}
        probes = {w.actor.node.remote(): w for w in live}
        ready, _ = ray.wait(list(probes), num_returns=len(probes), timeout=self.start_timeout_s)
        started: list[_Live] = []
        problems: list[str] = []
        for ref, w in probes.items():
            if ref not in ready:
                wait = f"not started after {self.start_timeout_s:g} s"
                problems.append(f"{w.slot.node_label}: {wait}")
                ray.kill(w.actor, no_restart=True)
                continue
            try:
                node_id = ray.get(ref)
            except Exception as e:
                problems.append(f"{w.slot.node_label}: {_first_line(e)}")
                continue
            # Count sessions where the worker really runs (its own report), not where it was
            # asked to go: the summary's per-node counts are evidence of placement.
            if node_id != w.slot.node_id:
                w.slot = Slot(node_id=node_id, node_label=labels.get(node_id, node_id[:8]))
            started.append(w)
        if not started:
            raise ConfigError(f"no Ray worker started: {problems[0] if problems else 'unknown'}")
        if problems:
            self.notes.append(f"{len(problems)} worker(s) did not start ({problems[0]})")
        return started

    def _stop_workers(self, ray: Any, workers: Iterable[_Live], inflight: Iterable[Any]) -> None:
        """Cancel what runs (cooperatively), let the workers close their clients, kill them."""
        workers = list(workers)
        for ref in inflight:
            with contextlib.suppress(Exception):
                ray.cancel(ref)
        closing = []
        for w in workers:
            with contextlib.suppress(Exception):
                closing.append(w.actor.close.remote())
        if closing:
            with contextlib.suppress(Exception):
                ray.wait(closing, num_returns=len(closing), timeout=WORKER_CLOSE_TIMEOUT_S)
        for w in workers:
            with contextlib.suppress(Exception):
                ray.kill(w.actor, no_restart=True)

    # -- the queue ----------------------------------------------------------------------------
    def _dispatch(
        self, ray: Any, todo: Sequence[SessionPlan], progress: ProgressSink | None
    ) -> str | None:
        """Run every plan of `todo`; returns why the sweep stopped early (all workers lost)."""
        lost_errors = _lost_errors(ray)
        guess = plan_slots(ray.nodes(), worker_cpus=self.worker_cpus, max_workers=self.workers)
        n_guess = max(1, min(len(guess) or 1, len(todo)))
        per_worker = max(1, math.ceil(self.options.concurrency / n_guess))
        workers = self._start_workers(ray, todo, per_worker)
        queue: deque[SessionPlan] = deque(todo)
        inflight: dict[Any, tuple[_Live, SessionPlan]] = {}
        requeued: Counter[str] = Counter()
        lost: dict[str, str] = {}  # node label -> error type, in the order they were lost
        try:
            while queue or inflight:
                for w in workers:  # live workers only: a lost one is removed at once
                    while queue and w.inflight < per_worker:
                        plan = queue.popleft()
                        inflight[w.actor.run_one.remote(plan)] = (w, plan)
                        w.inflight += 1
                if not inflight:
                    break  # sessions left and no worker to take them
                refs = list(inflight)
                done, _ = ray.wait(refs, num_returns=1, timeout=5.0)
                if done and len(refs) > 1:  # and every other one ready now: one pass for all
                    done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
                for ref in done:
                    w, plan = inflight.pop(ref)
                    w.inflight -= 1
                    try:
                        out = ray.get(ref)
                    except lost_errors as e:
                        if w in workers:
                            workers.remove(w)
                            lost.setdefault(w.slot.node_label, type(e).__name__)
                            with contextlib.suppress(Exception):
                                ray.kill(w.actor, no_restart=True)
                        requeued[w.slot.node_label] += 1
                        queue.appendleft(plan)
                        continue
                    except Exception as e:
                        raise RayWorkerError(
                            f"a Ray worker on {w.slot.node_label} failed: {_first_line(e)}"
                        ) from None
                    if isinstance(out, _Abort):
                        if out.kind == "aborted":
                            raise SweepAborted(out.message)
                        if out.kind == "config":
                            raise ConfigError(out.message)
                        raise RayWorkerError(out.message)
                    self.per_node[w.slot.node_label] += 1
                    if progress:
                        progress.session_finished(out)
        finally:
            for label, err in lost.items():
                self.notes.append(
                    f"worker on {label} lost ({err}): {requeued[label]} session(s) it had in "
                    "flight went back to the queue"
                )
            self._stop_workers(ray, workers, list(inflight))
        if queue:
            n_done = len(todo) - len(queue)
            return (
                f"every Ray worker was lost ({', '.join(lost) or 'none started'}); {n_done} of "
                f"{len(todo)} sessions ran, the others are stored as they stopped: rerun the "
                "same command to resume"
            )
        return None
