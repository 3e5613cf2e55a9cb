"""τ²'s reward evaluator in worker processes, shared by the sweep runner and the study app.

Evaluating one airline session costs τ² one to two seconds of CPU (it rebuilds and hashes the
domain database twice). In the process that drives the conversations that time is taken from
every other session (the GIL); in worker processes it runs on other cores, while the
conversations go on. The evaluator itself is τ²'s, unchanged (`simgap.domains.evaluate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor

from simgap.domains import evaluate
from simgap.models import Reward, Task, Termination, Turn

log = logging.getLogger("simgap.sessions")


class RewardPool:
    """τ²'s evaluator in worker processes.

    Evaluating one airline session costs τ² one to two seconds of CPU (it reloads and hashes
    the domain database twice). In the app's own process that time is taken from every other
    participant's requests (the GIL); in a worker process it runs on another core. A broken
    pool (a worker killed) falls back to a thread for that call and is rebuilt.
    """

    def __init__(self, workers: int, *, warm_domain: str | None = None) -> None:
        self.workers = max(1, workers)
        self._ex = self._new()
        if warm_domain is not None:  # import τ² in the workers now, not on the first reward
            for _ in range(self.workers):
                self._ex.submit(_warm_worker, warm_domain)

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_background_priority,
        )

    async def evaluate(self, task: Task, turns: Sequence[Turn], termination: Termination) -> Reward:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._ex, evaluate, task, list(turns), termination)
        except BrokenExecutor:
            log.warning("reward worker died; evaluating in-process and starting a new pool")
            self._ex = self._new()
            return await asyncio.to_thread(evaluate, task, list(turns), termination)

    def shutdown(self) -> None:
        self._ex.shutdown(wait=False, cancel_futures=True)


def _background_priority() -> None:
    """Rewards are background work nobody waits for: when CPU is short, the participants'
    requests in the app process go first."""
    with contextlib.suppress(OSError):
        os.nice(10)


def _warm_worker(domain: str) -> None:
    from simgap.domains import load_tasks

    load_tasks(domain, limit=1)
