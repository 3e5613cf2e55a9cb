"""The probe agent as an instrument: it reaches τ²'s gold when the customer says everything,
fails when a required identifier is kept back, and never runs a step before the customer has
said the values it needs (issue 16)."""

from __future__ import annotations

import random

import pytest

from simgap.agents.probe import ProbeAgent
from simgap.agents.probe_plan import ProbePlan, make_plan
from simgap.domains import DomainEnvironment, load_tasks
from simgap.models import Role, Task, Turn
from simgap.store import Store
from tests.agents.helpers import (
    PROBE,
    ScriptedCustomer,
    customer_text_before,
    probe_calls,
    redact,
    run_probe,
)

TASK_COUNTS = {"airline": 50, "retail": 114}  # τ² base split
IDENTIFIERS = ("user_id", "reservation_id", "order_id", "email", "zip", "name")


def plans(domain: str) -> list[tuple[Task, ProbePlan]]:
    tasks = load_tasks(domain)
    env = DomainEnvironment(tasks[0])
    kinds, policy = env.tool_kinds(), env.policy
    return [(t, make_plan(t, kinds, policy)) for t in tasks]


def first_identifier(plan: ProbePlan) -> tuple[int, object] | None:
    """(step index, raw value) of the first customer identifier a write depends on."""
    if not any(s.writes for s in plan.steps):
        return None
    for step in plan.steps:
        for n in step.needed:
            if n.thing in IDENTIFIERS:
                return step.index, raw_value(step.arguments, n.path)
    return None


def raw_value(args: dict[str, object], path: str) -> object:
    cur: object = args
    for part in path.replace("]", "").replace("[", ".").split("."):
        cur = cur[int(part)] if isinstance(cur, list) else cur[part]  # type: ignore[index]
    return cur


@pytest.mark.slow
@pytest.mark.parametrize("domain", ["airline", "retail"])
async def test_full_disclosure_reaches_gold_on_every_task(domain: str, tmp_path) -> None:
    """A customer who says everything (the whole scenario) and says yes to every confirmation
    gets reward 1.0 on every task of the domain: the probe's gate and protocol never stand
    between a forthcoming customer and τ²'s gold."""
    store = Store(str(tmp_path / "runs.db"))
    results: dict[str, float | None] = {}
    for task in load_tasks(domain):
        s = await run_probe(store, task, ScriptedCustomer(task))
        results[task.task_id] = None if s.reward is None else s.reward.value
    failures = {k: v for k, v in results.items() if v != 1.0}
    assert len(results) == TASK_COUNTS[domain]
    assert failures == {}


@pytest.mark.slow
@pytest.mark.parametrize("domain", ["airline", "retail"])
async def test_withholding_an_identifier_fails(domain: str, tmp_path) -> None:
    """Keep back the first identifier a write depends on: the probe keeps asking for it, never
    runs that step or any after it, and the session fails τ²'s database check."""
    store = Store(str(tmp_path / "runs.db"))
    chosen = [(t, p, first_identifier(p)) for t, p in plans(domain)]
    chosen = [(t, p, f) for t, p, f in chosen if f is not None][:8]
    assert len(chosen) == 8
    for task, plan, (step_idx, value) in chosen:
        user = ScriptedCustomer(task, keep_back=[value], patience=12)
        s = await run_probe(store, task, user)
        ran = [t.meta["probe"]["step"] for _, t in probe_calls(s)]
        assert all(i < step_idx for i in ran), (task.key, value, ran)
        assert s.reward is not None and s.reward.value == 0.0, task.key
        asked = [
            t.meta["probe"].get("thing")
            for t in s.turns
            if t.role == Role.AGENT and t.content and "probe" in t.meta
        ]
        assert asked.count(plan.steps[step_idx].needed[0].thing) >= 3  # asked, in several ways
        texts = [
            t.content
            for t in s.turns
            if t.role == Role.AGENT and t.content and t.meta.get("probe", {}).get("move") == "ask"
        ]
        assert len(set(texts)) >= min(3, len(texts))  # varied words


@pytest.mark.slow
@pytest.mark.parametrize("domain", ["airline", "retail"])
async def test_never_runs_a_step_whose_customer_values_were_not_said(domain: str, tmp_path) -> None:
    """Customers keep back a random set of identifiers. Checked without the probe's own
    matching: no tool call the probe makes holds a value that was kept back (the customer
    never said it in any form), and a write never runs without a yes just before it."""
    store = Store(str(tmp_path / "runs.db"))
    rng = random.Random(16)
    pool = [(t, p) for t, p in plans(domain) if any(s.needed for s in p.steps)]
    for task, plan in rng.sample(pool, 8):
        ids = sorted(
            {
                str(raw_value(s.arguments, n.path))
                for s in plan.steps
                for n in s.needed
                if n.thing in IDENTIFIERS
            }
        )
        kept = [v for v in ids if rng.random() < 0.5]
        s = await run_probe(store, task, ScriptedCustomer(task, keep_back=kept, patience=15))
        for idx, turn in probe_calls(s):
            said = customer_text_before(s, idx)
            for call in turn.tool_calls:
                step = plan.steps[turn.meta["probe"]["step"]]
                assert call.name == step.name and call.arguments == step.arguments
                for n in step.needed:
                    value = str(raw_value(step.arguments, n.path))
                    assert value not in kept, (task.key, call.name, value)
                    assert redact(said, value) != said or n.thing not in IDENTIFIERS, (
                        task.key,
                        value,
                    )
                if step.writes:
                    before = [t for t in s.turns[:idx] if t.role != Role.TOOL]
                    assert (
                        before[-1].role == Role.USER and "yes" in (before[-1].content or "").lower()
                    )
                    assert before[-2].meta["probe"]["move"] == "confirm"


@pytest.mark.slow
async def test_a_no_leaves_the_change_undone(tmp_path) -> None:
    """A task with one write: the customer says everything but answers no to the
    confirmation. The write never runs and τ²'s reward is 0."""
    store = Store(str(tmp_path / "runs.db"))
    task, plan = next((t, p) for t, p in plans("airline") if sum(s.writes for s in p.steps) == 1)
    s = await run_probe(store, task, ScriptedCustomer(task, answer="No, please don't do that."))
    called = [c.name for _, t in probe_calls(s) for c in t.tool_calls]
    write = next(st.name for st in plan.steps if st.writes)
    assert write not in called
    assert s.reward is not None and s.reward.value == 0.0


def converse(agent: ProbeAgent, opening: str, answer: str, *, turns: int = 40) -> list[Turn]:
    """Drive the probe directly (no environment: every tool answers `{}`)."""
    history = [Turn(idx=0, role=Role.AGENT, content="Hi! How can I help you today?")]
    history.append(Turn(idx=1, role=Role.USER, content=opening))
    for _ in range(turns):
        r = agent.next_reply(history, seed=3)
        if r.tool_calls:
            history.append(
                Turn(idx=len(history), role=Role.AGENT, tool_calls=r.tool_calls, meta=r.meta)
            )
            for c in r.tool_calls:
                history.append(
                    Turn(
                        idx=len(history),
                        role=Role.TOOL,
                        content="{}",
                        tool_call_id=c.id,
                        requestor=Role.AGENT,
                    )
                )
            continue
        history.append(Turn(idx=len(history), role=Role.AGENT, content=r.content, meta=r.meta))
        if r.meta["probe"]["move"] in ("anything_else", "refuse", "goodbye"):
            break
        history.append(Turn(idx=len(history), role=Role.USER, content=answer))
    return history


def test_unclear_answers_count_as_no_after_three_confirmations() -> None:
    """Answering "Hmm." to a confirmation: asked three times in all, then left undone."""
    task, plan = next((t, p) for t, p in plans("airline") if any(s.writes for s in p.steps))
    history = converse(ProbeAgent(PROBE, plan), task.scenario_text(), "Hmm.")
    moves = [
        t.meta["probe"]["move"] for t in history if t.role == Role.AGENT and t.content and t.meta
    ]
    assert moves.count("confirm") >= 3
    texts = [t.content for t in history if t.meta.get("probe", {}).get("move") == "confirm"]
    assert len(set(texts[:3])) == 3  # three different wordings
    first_write = next(s for s in plan.steps if s.writes)
    calls = [t.meta["probe"]["step"] for t in history if t.tool_calls]
    assert first_write.index not in calls


def test_replies_are_a_function_of_the_transcript() -> None:
    """No hidden state: any prefix of a conversation gets the same next reply from a fresh
    probe as from the one that had it (a resumed session continues exactly)."""
    task, plan = next((t, p) for t, p in plans("retail") if sum(s.writes for s in p.steps) >= 1)
    history = converse(ProbeAgent(PROBE, plan), task.scenario_text(), "Yes.")
    for cut in range(2, len(history)):
        prefix = history[:cut]
        if prefix[-1].role == Role.AGENT and not prefix[-1].tool_calls:
            continue  # the customer's turn
        a = ProbeAgent(PROBE, plan).next_reply(prefix, seed=3)
        b = ProbeAgent(PROBE, plan).next_reply(prefix, seed=3)
        assert a == b
        nxt = history[cut]
        if nxt.role == Role.AGENT:
            assert (a.content, [c.name for c in a.tool_calls]) == (
                nxt.content,
                [c.name for c in nxt.tool_calls],
            )


def test_plan_depends_on_the_scenario_only_through_its_values() -> None:
    """The probe never sees the scenario: its plan is the same for any scenario wording that
    holds the same values (here: the sentences reversed and filler added)."""
    for task, plan in plans("retail")[:20]:
        reworded = task.model_copy(
            update={
                "reason_for_call": " Filler words here. ".join(
                    reversed((task.reason_for_call or "").split(". "))
                ),
                "task_instructions": "Be brief.",
            }
        )
        env = DomainEnvironment(task)
        again = make_plan(reworded, env.tool_kinds(), env.policy)
        if task.task_instructions and any(
            n.value in (task.task_instructions or "").lower() for s in plan.steps for n in s.needed
        ):
            continue  # the instructions held a value: a different customer
        assert again == plan, task.key
