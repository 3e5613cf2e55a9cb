"""`simgap sweep`: the plan's estimate (hand-computed), confirmation before spending, resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from simgap.cli.app import app
from simgap.domains import load_tasks
from simgap.errors import ConfigError
from simgap.llm.base import ModelConfig
from simgap.models import AgentSpec, Session, SessionStatus, Usage, UserKind
from simgap.sessions import plan_sessions
from simgap.sessions.estimate import (
    ConversationShape,
    assumed_agent,
    assumed_user,
    estimate_plan,
    price,
)
from simgap.store import Store
from simgap.users import UserPreset, register_preset
from tests.fakes.cli import run_main
from tests.sessions.helpers import cancelling_agent, cancelling_customer, model_at, user_preset

SHAPE = ConversationShape(
    user_turns=2,
    agent_calls_per_user_turn=2,
    message_tokens=10,
    tool_result_tokens=20,
    agent_completion_tokens=5,
    user_completion_tokens=3,
)


def test_assumed_agent_by_hand() -> None:
    # 4 calls; each exchange adds 10 + 20/2 = 20 tokens; history 20 * (0+1+2+3) = 120
    ps = assumed_agent(100, SHAPE)
    assert ps.calls == 4
    assert ps.prompt_tokens == 100 * 4 + 120
    assert ps.completion_tokens == 4 * 5


def test_assumed_user_by_hand() -> None:
    # 2 calls; the second sees one earlier exchange of two 10-token messages
    ps = assumed_user(100, SHAPE)
    assert ps.calls == 2
    assert ps.prompt_tokens == 100 * 2 + 20
    assert ps.completion_tokens == 2 * 3


def test_price_from_litellm_table_local_free_and_unmapped_unpriced() -> None:
    import litellm

    info = litellm.model_cost["gpt-4.1"]
    want = 1000 * info["input_cost_per_token"] + 100 * info["output_cost_per_token"]
    assert price("gpt-4.1", 1000, 100) == pytest.approx(want)
    assert want > 0
    assert price("local", 1e6, 1e6) == 0.0
    assert price("hosted_vllm/nobody/unknown-model", 1000, 100) is None


def _done_session(sid: str, task_id: str, user: str, agent_model: str) -> Session:
    return Session(
        session_id=sid,
        task_id=task_id,
        domain="airline",
        user_kind=UserKind.SIMULATOR,
        user_id=user,
        agent=AgentSpec(name="llm", model=agent_model),
        status=SessionStatus.DONE,
        agent_usage=Usage(prompt_tokens=1000, completion_tokens=100, calls=10),
        user_usage=Usage(prompt_tokens=300, completion_tokens=30, calls=4),
    )


def test_estimate_uses_measured_sessions_and_skips_done(tmp_path: Path) -> None:
    store = Store(tmp_path / "runs.db")
    agent_cfg = ModelConfig(model="gpt-4.1")
    preset = UserPreset(name="sim-a", kind="tau2", model=ModelConfig(model="gpt-4.1-mini"))
    tasks = load_tasks("airline", task_ids=["0", "1", "2"])
    spec = AgentSpec(name="llm", model="gpt-4.1")
    plans = plan_sessions(tasks, [preset], agent=spec, trials=1)
    # one planned session is already done; two other finished sessions calibrate the estimate
    store.save_session(
        _done_session(plans[0].session_id, "0", "sim-a", "gpt-4.1").model_copy(
            update={"agent": spec}
        )
    )
    store.save_session(_done_session("old-1", "5", "sim-a", "gpt-4.1"))
    est = estimate_plan(plans, agent_config=agent_cfg, store=store)
    assert est.planned == 3 and est.already_done == 1 and est.to_run == 2
    agent, user = est.lines
    assert agent.basis == "measured (2 sessions)"
    assert agent.calls == 2 * 10 and agent.prompt_tokens == 2 * 1000
    assert user.role == "user:sim-a" and user.calls == 2 * 4
    assert user.completion_tokens == 2 * 30
    assert est.calls == 28
    assert est.tokens == 2 * (1000 + 100 + 300 + 30)
    assert est.spends_money and est.unpriced == []
    store.close()


def test_parametric_simulator_costs_nothing(tmp_path: Path) -> None:
    preset = UserPreset(name="param", kind="tau2", model=None, synthetic=True)
    tasks = load_tasks("airline", task_ids=["0"])
    plans = plan_sessions(tasks, [preset], agent=AgentSpec(name="llm", model="local"))
    est = estimate_plan(plans, agent_config=ModelConfig(model="local"), store=None)
    assert est.lines[1].calls == 0 and est.lines[1].model == "none"
    assert est.lines[0].basis == "assumed" and est.lines[0].cost_usd == 0.0
    assert not est.spends_money


def _config(tmp_path: Path, agent: ModelConfig, user: str) -> Path:
    cfg = {
        "domain": "airline",
        "tasks": ["19"],
        "users": [user],
        "trials": 2,
        "agent": agent.model_dump(exclude_none=True),
        "concurrency": 2,
        "out": str(tmp_path / "sweep.db"),
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_sweep_refuses_without_terminal_then_runs_with_yes_then_resumes(
    tmp_path: Path, fake_openai_factory
) -> None:  # type: ignore[no-untyped-def]
    agent_srv = fake_openai_factory(responder=cancelling_agent)
    user_srv = fake_openai_factory(responder=cancelling_customer)
    register_preset(user_preset(user_srv, "sweep-user"))
    path = _config(tmp_path, model_at(agent_srv, "agent"), "sweep-user")
    runner = CliRunner()

    # CliRunner's stdin is not a terminal: no one to ask, so the sweep must not start
    refused = runner.invoke(app, ["sweep", str(path)], input="")
    assert isinstance(refused.exception, ConfigError), refused.output
    assert "rerun with --yes" in str(refused.exception)
    assert "unpriced models (openai/agent, openai/sweep-user)" in " ".join(refused.output.split())
    assert agent_srv.calls == 0 and user_srv.calls == 0  # nothing spent
    assert (
        not (tmp_path / "sweep.db").exists() or Store(tmp_path / "sweep.db").count_sessions() == 0
    )

    ran = runner.invoke(app, ["sweep", str(path), "--yes"])
    assert ran.exit_code == 0, ran.output
    assert "2 sessions" in ran.output and "plan" in ran.output
    store = Store(tmp_path / "sweep.db")
    sessions = list(store.iter_sessions())
    assert len(sessions) == 2 and all(s.status == SessionStatus.DONE for s in sessions)
    assert all(s.reward is not None and s.reward.value == 1.0 for s in sessions)
    store.close()

    calls = agent_srv.calls
    again = runner.invoke(app, ["sweep", str(path), "--yes"])
    assert again.exit_code == 0 and "nothing left to run" in again.output
    assert "0 of 2 sessions to run (2 already done)" in " ".join(again.output.split())
    assert agent_srv.calls == calls


def test_sweep_bad_config_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("domain: airline\ntrails: 3\n")
    line = run_main(["sweep", str(path), "--dry-run"]).one_line_error()
    assert line.startswith(f"error: {path}: field trails"), line


def test_multi_domain_sweep_plans_tasks_of_each_domain(tmp_path: Path) -> None:
    path = tmp_path / "multi.yaml"
    path.write_text("domains: [airline, retail]\ntasks: 2\nusers: [local]\nagent: {model: local}\n")
    r = CliRunner().invoke(app, ["sweep", str(path), "--dry-run", "--out", str(tmp_path / "m.db")])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "4 sessions: 4 task(s) of airline, retail" in text
    assert "$0.00" in text
