"""The contract of the fast evaluation path: on every task of every domain, for four scripted
sessions each, its reward and reward breakdown (and every detail τ² reports) equal those of τ²'s
own `evaluate_simulation`, exactly.

The scripted sessions, run through `DomainEnvironment` as a real session runs:
* `gold`: the task's gold actions in order, then a final answer that states every
  `communicate_info` item, then the user's stop;
* `one_wrong`: the same with one gold action's first argument changed;
* `early_stop`: only the first half of the gold actions, then the stop;
* `wrong_answer`: all gold actions, then a final answer that states none of the items.

Both sides score the same transcript; the fast side gets the live environment (what the runner
gives it), τ²'s side rebuilds everything as it always does. The τ² reference is what makes this
test slow, so the cases are spread over worker processes.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import pytest

from simgap.domains import DOMAINS, FIRST_AGENT_MESSAGE, DomainEnvironment, load_tasks
from simgap.domains.environment import evaluate, evaluate_tau2
from simgap.models import Reward, Role, Task, Termination, ToolCall, Turn
from simgap.sessions.runner import SWEEP_GC_THRESHOLD

CASES = ("gold", "one_wrong", "early_stop", "wrong_answer")
STOP = Termination.USER_STOP
WRONG_ANSWER = "I am sorry, I could not find anything about that."


def _wrong(value: Any) -> Any:
    """A different value of the same kind (what a slightly wrong agent would pass)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "X"
    if isinstance(value, list):
        return value[:-1] if value else ["X"]
    if isinstance(value, dict):
        return {**value, "x": "X"}
    return "X"


def scripted_actions(task: Task, case: str) -> list[dict[str, Any]]:
    actions = [dict(a) for a in task.expected_actions]
    if case == "early_stop":
        return actions[: len(actions) // 2]
    if case == "one_wrong":
        with_args = [i for i, a in enumerate(actions) if a.get("arguments")]
        if with_args:
            i = with_args[-1]
            args = dict(actions[i]["arguments"])
            first = next(iter(args))
            args[first] = _wrong(args[first])
            actions[i] = {**actions[i], "arguments": args}
        elif actions:
            actions = actions[:-1]
    return actions


def scripted_session(task: Task, case: str) -> tuple[list[Turn], DomainEnvironment]:
    env = DomainEnvironment(task)
    turns = env.initial_turns() or [Turn(idx=0, role=Role.AGENT, content=FIRST_AGENT_MESSAGE)]
    turns.append(Turn(idx=len(turns), role=Role.USER, content="Hello, I need some help."))
    for k, a in enumerate(scripted_actions(task, case)):
        role = Role.USER if a.get("requestor") == "user" else Role.AGENT
        tc = ToolCall(id=f"call_{k}", name=a["name"], arguments=a.get("arguments") or {})
        turns.append(Turn(idx=len(turns), role=role, tool_calls=[tc]))
        turns.append(env.call(tc, requestor=role, idx=len(turns)))
    info = (task.raw.get("evaluation_criteria") or {}).get("communicate_info") or []
    answer = WRONG_ANSWER if case == "wrong_answer" else "Here you go: " + "; ".join(info)
    turns.append(Turn(idx=len(turns), role=Role.AGENT, content=answer))
    turns.append(Turn(idx=len(turns), role=Role.USER, content="Thanks. ###STOP###"))
    return turns, env


def _fake_nl_judge() -> None:
    """NL assertions need an LLM judge; both sides call τ²'s same evaluator, so a deterministic
    stand-in judge (met when the assertion's length is even) keeps this offline."""
    from simgap.domains import tau2_runtime

    ev_nl = tau2_runtime.module("tau2.evaluator.evaluator_nl_assertions")
    sim = tau2_runtime.module("tau2.data_model.simulation")

    def judge(cls: Any, trajectory: Any, nl_assertions: list[str]) -> list[Any]:
        return [
            sim.NLAssertionCheck(nl_assertion=a, met=len(a) % 2 == 0, justification="stand-in")
            for a in nl_assertions
        ]

    ev_nl.NLAssertionsEvaluator.evaluate_nl_assertions = classmethod(judge)


def compare_domain_chunk(domain: str, task_ids: list[str]) -> list[tuple[str, str, str]]:
    """Score every case of the given tasks both ways; return the mismatches (empty = equal)."""
    _fake_nl_judge()
    # Each case builds three database copies (~10⁵ objects each in airline); the default GC
    # thresholds make the collector traverse them over and over (the runner does the same).
    gc.set_threshold(*SWEEP_GC_THRESHOLD)
    out: list[tuple[str, str, str]] = []
    for task in load_tasks(domain, task_ids=task_ids):
        for case in CASES:
            turns, env = scripted_session(task, case)
            ref = outcome(lambda k=task, t=turns: evaluate_tau2(k, t, STOP))
            fast = outcome(lambda k=task, t=turns, e=env: evaluate(k, t, STOP, env=e))
            if fast != ref:
                out.append((task.task_id, case, f"fast {fast} != τ² {ref}"))
    return out


def outcome(score: Callable[[], Reward]) -> tuple[str, Any]:
    """The whole reward (value, breakdown, basis, details), or the error τ² raised: where τ²'s
    evaluator fails on a transcript (an env assertion on a missing record), the fast path
    must fail the same way, not invent a reward."""
    try:
        return ("reward", score().model_dump())
    except Exception as e:
        # τ²'s message names the replayed call with a fresh timestamp: compare up to it
        return ("error", f"{type(e).__name__}: {str(e).split('timestamp:')[0]}")


def _chunks(ids: list[str], n: int) -> Iterator[list[str]]:
    size = max(1, -(-len(ids) // n))
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


WORKERS = max(1, min(4, len(os.sched_getaffinity(0))))


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    """One set of worker processes for all domains (each imports τ² once, seconds of CPU)."""
    with ProcessPoolExecutor(max_workers=WORKERS, mp_context=get_context("spawn")) as ex:
        yield ex


@pytest.mark.parametrize("domain", DOMAINS)
def test_fast_path_equals_tau2_on_every_task(domain: str, pool: ProcessPoolExecutor) -> None:
    ids = [t.task_id for t in load_tasks(domain)]
    futures = [pool.submit(compare_domain_chunk, domain, c) for c in _chunks(ids, WORKERS * 2)]
    mismatches = [m for f in futures for m in f.result()]
    n = len(ids) * len(CASES)
    print(f"\n{domain}: {len(ids)} tasks × {len(CASES)} cases = {n} sessions, "
          f"{len(mismatches)} mismatches")  # fmt: skip
    assert not mismatches, "\n".join(f"{t} [{c}]: {d}" for t, c, d in mismatches[:5])
