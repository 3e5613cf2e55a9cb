"""The contract of the fast evaluation path: on the tasks of every split of every domain, for
four scripted sessions each, its reward and reward breakdown (and every detail τ² reports)
equal those of τ²'s own `evaluate_simulation`, exactly.

The scripted sessions, run through `DomainEnvironment` as a real session runs:
* `gold`: the task's gold actions in order, then a final answer that states every
  `communicate_info` item, then the user's stop;
* `one_wrong`: the same with one gold action's first argument changed;
* `early_stop`: only the first half of the gold actions, then the stop;
* `wrong_answer`: all gold actions, then a final answer that states none of the items.

The two sides share nothing but the transcript (τ² messages):
* fast: `simgap.domains.evaluate` with its switches pinned on (`SIMGAP_FAST_EVAL`,
  `SIMGAP_FAST_ENV`, `SIMGAP_COW_DB` = 1, whatever the caller's environment says), given the
  live environment the session ran in, as the runner gives it; the test checks it really took
  the fast path (copy-on-access database, live environment reused);
* reference: τ²'s `evaluate_simulation` on τ²'s own Task object (from τ²'s task loader) and
  τ²'s own registered environment constructor (`airline`, not simgap's pickled-database
  `simgap-fast:airline`), so a fault in simgap's constructor cannot hide on both sides.

An error τ² raises on a transcript must be raised by the fast path too (never an invented
reward), but errors are counted: every gold case must be *rewarded* 1.0 on both sides, so a
scripting bug that made τ² fail or score 0 everywhere fails here.

Splits: every split τ²'s registry ships for a domain (the names `load_tasks(split=...)`
accepts), each task compared once. Every split is compared in full except telecom's `full`
(2,285 generated tasks): by default a seeded sample of `MAX_NEW_PER_SPLIT` of those in no
other split (all of them cost ~10 min of CPU; `SIMGAP_EQUIVALENCE_ALL=1` compares them all).
The τ² reference is what makes this test slow (~3 s of CPU per airline task, 0.3 s per
telecom task), so the cases are spread over worker processes.
"""

from __future__ import annotations

import gc
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from multiprocessing import get_context
from typing import Any

import pytest

from simgap.domains import DOMAINS, FIRST_AGENT_MESSAGE, DomainEnvironment, load_tasks
from simgap.domains.environment import _to_reward, evaluate, to_tau2_messages
from simgap.domains.tasks import to_task
from simgap.models import Reward, Role, Task, Termination, ToolCall, Turn
from simgap.sessions.runner import SWEEP_GC_THRESHOLD
from tests.plugins.counts import report

# One xdist worker runs the whole module (one pool of τ² worker processes for every domain): tests/plugins/schedule.py.
pytestmark = pytest.mark.xdist_group("fast-eval-equivalence")

CASES = ("gold", "one_wrong", "early_stop", "wrong_answer")
STOP = Termination.USER_STOP
WRONG_ANSWER = "I am sorry, I could not find anything about that."
# The fast path's switches, pinned in every worker whatever the caller's environment holds.
PINNED = {"SIMGAP_FAST_EVAL": "1", "SIMGAP_FAST_ENV": "1", "SIMGAP_COW_DB": "1"}
# Domains whose sessions run on a copy-on-access database that the evaluator reuses as is.
LIVE_ENV_DOMAINS = {"airline", "retail", "mock"}
# Tasks whose gold actions cannot earn the reward: the one gold case not required to score 1.0.
GOLD_UNREACHABLE = {
    ("mock", "update_task_with_history_and_env_assertions"): "no gold actions, yet an env "
    "assertion wants task_2 completed",
}
LARGE_SPLIT = 200  # a split with more tasks is sampled (telecom's generated `full`: 2,285)
MAX_NEW_PER_SPLIT = 20  # tasks sampled from a large split, among those in no smaller one
ALL = os.environ.get("SIMGAP_EQUIVALENCE_ALL") == "1"


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


def _pin_switches() -> None:
    """Worker initializer: the fast path on, whatever the environment of the test run says."""
    os.environ.update(PINNED)


def check_fast_path_is_on(domain: str) -> None:
    """The switches really select the fast path in this process (not τ² against itself)."""
    from simgap.domains.environment import fast_eval_enabled
    from simgap.domains.fast_env import PREFIX, cow_enabled, env_domain_name

    assert fast_eval_enabled(), "SIMGAP_FAST_EVAL is off: the test would compare τ² with itself"
    assert env_domain_name(domain) == PREFIX + domain, "SIMGAP_FAST_ENV is off"
    assert cow_enabled(domain) == (domain in LIVE_ENV_DOMAINS), "SIMGAP_COW_DB is off"


def tau2_reference(t2task: Any, domain: str, turns: list[Turn]) -> Reward:
    """τ²'s own `evaluate_simulation` on τ²'s own task object and environment constructor."""
    from simgap.domains import tau2_runtime

    sim_mod = tau2_runtime.module("tau2.data_model.simulation")
    ev_mod = tau2_runtime.module("tau2.evaluator.evaluator")
    constructor = tau2_runtime.registry().get_env_constructor(domain)
    own = getattr(constructor, "func", constructor)  # telecom's is a functools.partial
    assert own.__module__.startswith("tau2."), constructor  # τ²'s, not simgap's
    now = "2025-01-01T00:00:00"
    sim = sim_mod.SimulationRun(
        id="reference",
        task_id=t2task.id,
        start_time=now,
        end_time=now,
        duration=0.0,
        termination_reason=sim_mod.TerminationReason.USER_STOP,
        messages=to_tau2_messages(turns),
    )
    nl = "NL_ASSERTION" in [b.value for b in (t2task.evaluation_criteria.reward_basis or [])]
    info = ev_mod.evaluate_simulation(
        simulation=sim,
        task=t2task,
        evaluation_type=(
            ev_mod.EvaluationType.ALL_WITH_NL_ASSERTIONS if nl else ev_mod.EvaluationType.ALL
        ),
        solo_mode=False,
        domain=domain,
    )
    return _to_reward(info)


@dataclass(frozen=True)
class CaseResult:
    task_id: str
    case: str
    fast: tuple[str, Any]
    ref: tuple[str, Any]
    live_env: bool  # the fast side scored the environment the session ran in

    @property
    def match(self) -> bool:
        return self.fast == self.ref

    @property
    def rewarded(self) -> bool:
        return self.fast[0] == "reward" and self.ref[0] == "reward"

    @property
    def value(self) -> float | None:
        return self.ref[1]["value"] if self.ref[0] == "reward" else None


@cache
def tau2_tasks(domain: str) -> dict[str, Any]:
    """τ²'s own Task objects of every split, by id, straight from τ²'s loader."""
    from simgap.domains import tau2_runtime

    return {str(t.id): t for t in tau2_runtime.registry().get_tasks_loader(domain)(None)}


def compare_domain_chunk(domain: str, task_ids: list[str]) -> list[CaseResult]:
    """Score every case of the given tasks both ways (runs in a worker process)."""
    check_fast_path_is_on(domain)
    _fake_nl_judge()
    # Each case builds three database copies (~10⁵ objects each in airline); the default GC
    # thresholds make the collector traverse them over and over (the runner does the same).
    gc.set_threshold(*SWEEP_GC_THRESHOLD)
    out: list[CaseResult] = []
    for task_id in task_ids:
        t2 = tau2_tasks(domain)[task_id]
        # simgap's record of the task, as `load_tasks` makes it (a copy: the sides share nothing)
        task = to_task(domain, t2.model_copy(deep=True))
        for case in CASES:
            turns, env = scripted_session(task, case)
            live = env.replay_equivalent(to_tau2_messages(turns)) is not None
            ref = outcome(lambda t=turns, k=t2: tau2_reference(k, domain, t))
            fast = outcome(lambda k=task, t=turns, e=env: evaluate(k, t, STOP, env=e))
            out.append(CaseResult(task.task_id, case, fast, ref, live))
    return out


def outcome(score: Callable[[], Reward]) -> tuple[str, Any]:
    """The whole reward (value, breakdown, basis, details), or the error τ² raised: where τ²'s
    evaluator fails on a transcript (an env assertion on a missing record), the fast path
    must fail the same way, not invent a reward."""
    try:
        return ("reward", score().model_dump())
    except AssertionError:
        raise  # the test's own checks
    except Exception as e:
        # τ²'s message names the replayed call with a fresh timestamp: compare up to it
        return ("error", f"{type(e).__name__}: {str(e).split('timestamp:')[0]}")


def tasks_by_split(domain: str) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """The task ids to compare (every split's, each once) and, per split, (tasks compared,
    tasks in the split). Splits are those τ²'s registry ships (the names `load_tasks(split=)`
    accepts); a domain without splits (mock) is one split, `None`."""
    from simgap.domains import tau2_runtime

    loader = tau2_runtime.registry().get_task_splits_loader(domain)
    by_split: dict[str | None, list[str]] = (
        {s: [str(i) for i in ids] for s, ids in loader().items()}
        if loader is not None
        else {None: list(tau2_tasks(domain))}
    )
    for s, ids in by_split.items():  # simgap loads each split as τ² lists it
        if len(ids) <= LARGE_SPLIT:  # (converting telecom's 2,285 would cost seconds)
            assert sorted(t.task_id for t in load_tasks(domain, split=s)) == sorted(ids), s
    chosen: list[str] = []
    seen: set[str] = set()
    for s in sorted(by_split, key=lambda s: len(by_split[s])):  # small splits first, in full
        new = [i for i in by_split[s] if i not in seen]
        if not ALL and len(by_split[s]) > LARGE_SPLIT and len(new) > MAX_NEW_PER_SPLIT:
            new = random.Random(f"{domain}/{s}").sample(new, MAX_NEW_PER_SPLIT)
        chosen += new
        seen.update(new)
    counts = {str(s): (sum(1 for i in ids if i in seen), len(ids)) for s, ids in by_split.items()}
    return chosen, counts


def _chunks(ids: list[str], n: int) -> Iterator[list[str]]:
    size = max(1, -(-len(ids) // n))
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


WORKERS = max(1, min(4, len(os.sched_getaffinity(0))))


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    """One set of worker processes for all domains (each imports τ² once, seconds of CPU)."""
    with ProcessPoolExecutor(
        max_workers=WORKERS, mp_context=get_context("spawn"), initializer=_pin_switches
    ) as ex:
        yield ex


@pytest.mark.parametrize("domain", DOMAINS)
def test_fast_path_equals_tau2_on_every_split(domain: str, pool: ProcessPoolExecutor) -> None:
    ids, splits = tasks_by_split(domain)
    futures = [pool.submit(compare_domain_chunk, domain, c) for c in _chunks(ids, WORKERS * 2)]
    results = [r for f in futures for r in f.result()]
    assert len(results) == len(ids) * len(CASES)
    mismatches = [r for r in results if not r.match]
    rewarded = Counter(r.case for r in results if r.rewarded)
    errors = Counter(r.case for r in results if not r.rewarded)
    ones = Counter(r.case for r in results if r.rewarded and r.value == 1.0)
    live = sum(r.live_env for r in results)
    report(
        f"{domain}: {len(ids)} tasks × {len(CASES)} cases = {len(results)} sessions; "
        f"splits (compared/in split): {splits}; rewarded {dict(rewarded)}, reward 1.0 "
        f"{dict(ones)}, errors {dict(errors)}; live environment reused {live}; "
        f"{len(mismatches)} mismatches"
    )
    assert not mismatches, "\n".join(
        f"{r.task_id} [{r.case}]: fast {r.fast} != τ² {r.ref}" for r in mismatches[:5]
    )
    # every split is covered, each in full unless it is a large generated one
    for split, (compared, total) in splits.items():
        assert compared == total or (not ALL and total > LARGE_SPLIT), (split, compared, total)
    # the gold script earns the full reward on every task, on both sides
    gold = [r for r in results if r.case == "gold" and (domain, r.task_id) not in GOLD_UNREACHABLE]
    assert len(gold) >= len(ids) - len(GOLD_UNREACHABLE)
    bad_gold = [
        (r.task_id, r.ref if r.ref[0] == "error" else r.value) for r in gold if r.value != 1.0
    ]
    assert not bad_gold, f"gold cases without reward 1.0: {bad_gold[:5]}"
    # the other scripts are scored too (not all errors), and the wrong ones do fail somewhere
    for case in CASES:
        assert rewarded[case] > 0, f"no {case} case was rewarded"
    for case in ("one_wrong", "early_stop"):  # the broken scripts do lose rewards
        assert ones[case] < rewarded[case], f"every {case} case scored 1.0"
    # the fast side really reused the live environment where the runner does
    if domain in LIVE_ENV_DOMAINS:
        assert live == len(results), f"only {live} of {len(results)} reused the live environment"
