"""`simgap sweep`'s estimate honours the step limit (issue 19 item 8): a sweep with
`max_steps: 5` cannot cost what a 200-step conversation costs, and measured sessions of
another limit do not calibrate it. Also: the `sweep --help` example keeps its YAML lists."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simgap.domains import load_tasks
from simgap.llm.base import ModelConfig
from simgap.models import AgentSpec, Session, SessionStatus, Usage, UserKind
from simgap.sessions import plan_sessions
from simgap.sessions.estimate import ConversationShape, assumed_agent, assumed_user, estimate_plan
from simgap.store import Store
from simgap.users import UserPreset

SHAPE = ConversationShape(
    user_turns=2,
    agent_calls_per_user_turn=2,
    message_tokens=10,
    tool_result_tokens=20,
    agent_completion_tokens=5,
    user_completion_tokens=3,
)


def test_steps_of_the_assumed_conversation_by_hand() -> None:
    # greeting 1 + per customer turn: its message 1 + 2 agent calls + 1 tool result = 4
    assert SHAPE.steps() == 1 + 2 * 4
    assert SHAPE.capped(200) is SHAPE and SHAPE.capped(9) is SHAPE
    # 5 steps leave room for (5 - 1) / 4 = 1 customer turn
    assert SHAPE.capped(5).user_turns == pytest.approx(1.0)
    agent = assumed_agent(100, SHAPE.capped(5))
    # 2 calls; history per exchange 10 + 20/2 = 20 over one exchange: 20 * 2 * 1 / 2 = 20
    assert (agent.calls, agent.prompt_tokens, agent.completion_tokens) == (2, 220, 10)
    user = assumed_user(100, SHAPE.capped(5))
    assert (user.calls, user.prompt_tokens, user.completion_tokens) == (1, 100, 3)


def _plans(n_tasks: int = 3) -> tuple[list, ModelConfig]:  # type: ignore[type-arg]
    preset = UserPreset(name="sim-a", kind="tau2", model=ModelConfig(model="gpt-4.1-mini"))
    tasks = load_tasks("airline", task_ids=[str(i) for i in range(n_tasks)])
    plans = plan_sessions(tasks, [preset], agent=AgentSpec(name="llm", model="gpt-4.1"))
    return plans, ModelConfig(model="gpt-4.1")


def test_assumed_estimate_is_cut_by_max_steps() -> None:
    plans, agent_cfg = _plans()
    full = estimate_plan(plans, agent_config=agent_cfg, shape=SHAPE)
    cut = estimate_plan(plans, agent_config=agent_cfg, shape=SHAPE, max_steps=5)
    # 3 sessions: agent 4 -> 2 calls each, user 2 -> 1 call each
    assert [x.calls for x in full.lines] == [12, 6]
    assert [x.calls for x in cut.lines] == [6, 3]
    assert cut.cost_usd < full.cost_usd


def _done(sid: str, max_steps: int | None, calls: int) -> Session:
    meta = {} if max_steps is None else {"max_steps": max_steps}
    return Session(
        session_id=sid,
        task_id="9",
        domain="airline",
        user_kind=UserKind.SIMULATOR,
        user_id="sim-a",
        agent=AgentSpec(name="llm", model="gpt-4.1"),
        status=SessionStatus.DONE,
        agent_usage=Usage(prompt_tokens=100 * calls, completion_tokens=calls, calls=calls),
        user_usage=Usage(prompt_tokens=10 * calls, completion_tokens=calls, calls=calls // 2),
        meta=meta,
    )


def test_measured_sessions_of_another_step_limit_do_not_count(tmp_path: Path) -> None:
    plans, agent_cfg = _plans()
    store = Store(tmp_path / "runs.db")
    store.save_session(_done("long", 200, 40))  # a 200-step session: 40 agent calls
    store.save_session(_done("short", 10, 4))  # run with the planned limit: 4 agent calls
    est = estimate_plan(plans, agent_config=agent_cfg, store=store, max_steps=10)
    agent, user = est.lines
    assert agent.basis == "measured (1 sessions)" and agent.calls == 3 * 4
    assert user.calls == 3 * 2
    # without a limit every measured session counts: (40 + 4) / 2 = 22 calls per session
    est_all = estimate_plan(plans, agent_config=agent_cfg, store=store)
    assert est_all.lines[0].calls == 3 * 22
    store.close()


def test_sweep_help_example_keeps_its_yaml_lists() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "simgap", "sweep", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert r.returncode == 0, r.stderr
    assert "domains: [airline, retail]" in r.stdout
    assert "users: [gpt-4o, claude-sonnet-4, llama-3.1-70b, local]" in r.stdout
