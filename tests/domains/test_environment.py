"""The τ² adapter: tools run in the real τ² environment, τ²'s evaluator gives the reward."""

from __future__ import annotations

import pytest

from simgap.domains import (
    FIRST_AGENT_MESSAGE,
    DomainEnvironment,
    evaluate,
    load_tasks,
    to_tau2_messages,
)
from simgap.errors import ConfigError
from simgap.models import Role, Termination, ToolCall, Turn


def _conversation(env: DomainEnvironment, *, cancel: bool, bad_call: bool = False) -> list[Turn]:
    """Airline task 19 (cancel Z7GOZK): optionally an invalid call, then the cancel."""
    turns = [
        Turn(idx=0, role=Role.AGENT, content=FIRST_AGENT_MESSAGE),
        Turn(idx=1, role=Role.USER, content="Please cancel reservation Z7GOZK"),
    ]
    if bad_call:
        call = ToolCall(id="bad", name="cancel_reservation", raw_arguments='{"reservation_id": ')
        turns.append(Turn(idx=len(turns), role=Role.AGENT, tool_calls=[call]))
        turns.append(env.call(call, requestor=Role.AGENT, idx=len(turns)))
    if cancel:
        call = ToolCall(id="c1", name="cancel_reservation", arguments={"reservation_id": "Z7GOZK"})
        turns.append(Turn(idx=len(turns), role=Role.AGENT, tool_calls=[call]))
        turns.append(env.call(call, requestor=Role.AGENT, idx=len(turns)))
    turns.append(Turn(idx=len(turns), role=Role.AGENT, content="Done, it is cancelled."))
    turns.append(Turn(idx=len(turns), role=Role.USER, content="Thanks ###STOP###"))
    return turns


def test_tau2_reward_one_when_the_expected_action_happens() -> None:
    task = load_tasks("airline", task_ids=["19"])[0]
    env = DomainEnvironment(task)
    turns = _conversation(env, cancel=True)
    assert turns[3].role == Role.TOOL and not turns[3].tool_error
    reward = evaluate(task, turns, Termination.USER_STOP)
    assert reward.value == 1.0
    assert reward.breakdown["DB"] == 1.0


def test_tau2_reward_zero_without_it_and_on_premature_end() -> None:
    task = load_tasks("airline", task_ids=["19"])[0]
    env = DomainEnvironment(task)
    assert evaluate(task, _conversation(env, cancel=False), Termination.USER_STOP).value == 0.0
    env = DomainEnvironment(task)
    premature = evaluate(task, _conversation(env, cancel=True), Termination.MAX_STEPS)
    assert premature.value == 0.0 and "prematurely" in premature.info["note"]


def test_invalid_call_is_recorded_but_never_reaches_tau2() -> None:
    task = load_tasks("airline", task_ids=["19"])[0]
    env = DomainEnvironment(task)
    turns = _conversation(env, cancel=True, bad_call=True)
    bad = turns[3]
    assert bad.role == Role.TOOL and bad.tool_error and bad.meta["invalid_call"]
    assert "not a JSON object" in (bad.content or "")
    msgs = to_tau2_messages(turns)
    assert all(getattr(m, "id", None) != "bad" for m in msgs)
    assert evaluate(task, turns, Termination.USER_STOP).value == 1.0
    # a fresh environment replays the stored turns and reaches the same state
    env2 = DomainEnvironment(task)
    env2.replay(turns)
    look = ToolCall(id="c2", name="get_reservation_details", arguments={"reservation_id": "Z7GOZK"})
    details = env2.call(look, requestor=Role.AGENT, idx=99)
    assert '"status": "cancelled"' in (details.content or "")
    fresh = DomainEnvironment(task).call(look, requestor=Role.AGENT, idx=99)
    assert '"status": "cancelled"' not in (fresh.content or "")


def test_unknown_task_and_domain_are_named() -> None:
    with pytest.raises(ConfigError, match="'nope'"):
        load_tasks("airline", task_ids=["nope"])
    with pytest.raises(ConfigError, match="unknown domain 'airlines'"):
        load_tasks("airlines")


def test_tool_schemas_are_tau2s_and_each_caller_gets_its_own_copy() -> None:
    """Built once per toolkit class, equal to τ²'s `openai_schema`s, and a caller that edits
    its list (an agent adding a field) changes no other session's."""
    task = load_tasks("airline", task_ids=["19"])[0]
    a, b = DomainEnvironment(task), DomainEnvironment(task)
    tau2_schemas = [t.openai_schema for t in a._env.get_tools()]
    first = a.agent_tools()
    assert first == tau2_schemas and len(first) == 14
    first[0]["function"]["name"] = "edited"
    first.pop()
    assert b.agent_tools() == tau2_schemas
    assert a.user_tools() == []
