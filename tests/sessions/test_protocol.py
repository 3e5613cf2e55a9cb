"""Protocols by name: the paper's study loop, sampling defaults stored with every session, the
protocol chosen from `simgap run` and sweep configs. (τ²'s protocol itself is proven against
τ²'s Orchestrator in test_tau2_differential.py.)"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from simgap.domains import load_tasks
from simgap.errors import ConfigError
from simgap.llm.base import ModelConfig
from simgap.models import AgentSpec, Role, Session, SessionCategory, Termination
from simgap.sessions import RunOptions, SweepRunner, plan_sessions
from simgap.sessions.config import make_sweep_config
from simgap.sessions.protocol import PAPER, TAU2, get_protocol, tau2_reason
from simgap.store import Store
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.sessions.helpers import model_at, user_preset

CREATE = Reply.tool_call("create_task", {"user_id": "user_1", "title": "Important Meeting"})


def _run(
    tmp_path: Path,
    agent_srv: FakeOpenAIServer,
    user_srv: FakeOpenAIServer,
    *,
    protocol: str,
    domain: str = "mock",
    task_id: str = "create_task_1",
    agent_temperature: float | None = None,
) -> Session:
    (task,) = load_tasks(domain, split=None, task_ids=[task_id])
    agent_cfg = model_at(agent_srv, "agent")
    if agent_temperature is not None:
        agent_cfg = agent_cfg.model_copy(update={"temperature": agent_temperature})
    spec = AgentSpec(name="llm", model=agent_cfg.model, settings=agent_cfg.public())
    (plan,) = plan_sessions([task], [user_preset(user_srv)], agent=spec, protocol=protocol)
    store = Store(tmp_path / f"{protocol}.db")

    async def go() -> None:
        runner = SweepRunner(
            store, agent_config=agent_cfg, options=RunOptions(concurrency=1, use_cache=False)
        )
        try:
            await runner.run([plan])
        finally:
            await runner.aclose()

    asyncio.run(go())
    s = store.get_session(plan.session_id)
    assert s is not None
    return s


def _user_texts(s: Session) -> list[str]:
    return [t.content or "" for t in s.turns if t.role == Role.USER and not t.tool_calls]


def test_paper_every_ending_is_scored_and_80_user_turns_end_it(
    tmp_path: Path, fake_openai_factory: Any
) -> None:
    """The user never stops: the reply to the greeting + 80 replies, then `max_user_turns`;
    the reward is τ²'s evaluator on the transcript anyway (the gold call was made: 1.0)."""
    agent_srv = fake_openai_factory(responder=lambda _r: Reply.text("Created. Anything else?"))
    agent_srv.script(CREATE)
    user_srv = fake_openai_factory(responder=lambda _r: Reply.text("Tell me more."))
    s = _run(tmp_path, agent_srv, user_srv, protocol="paper")
    assert s.termination == Termination.MAX_USER_TURNS
    assert len(_user_texts(s)) == 81 == 1 + PAPER.max_user_turns  # type: ignore[operator]
    agent_texts = [t for t in s.turns if t.role == Role.AGENT and not t.tool_calls]
    assert len(agent_texts) == 1 + 80  # the greeting + one message per agent turn
    assert (
        s.reward is not None and s.reward.value == 1.0 and s.category == SessionCategory.COMPLETED
    )
    assert s.meta["protocol"]["name"] == "paper"
    # under τ², the same conversation never ends by itself (200 steps) and scores 0
    agent_srv.script(CREATE)
    tau2 = _run(tmp_path, agent_srv, user_srv, protocol="tau2")
    assert tau2.termination == Termination.MAX_STEPS and tau2.reward is not None
    assert tau2.reward.value == 0.0
    assert tau2.session_id != s.session_id


def test_paper_64_tool_rounds_then_the_user_gets_the_turn(
    tmp_path: Path, fake_openai_factory: Any
) -> None:
    agent_srv = fake_openai_factory(
        responder=lambda _r: Reply.tool_call("get_users", {}),  # never says anything
    )
    user_srv = fake_openai_factory(
        responder=lambda r: Reply.text(
            "Hello?" if sum(m["role"] == "assistant" for m in r["messages"]) < 2 else "###STOP###"
        )
    )
    s = _run(tmp_path, agent_srv, user_srv, protocol="paper")
    rounds: list[int] = []
    n = 0
    for t in s.turns[1:]:
        if t.role == Role.AGENT and t.tool_calls:
            n += 1
        elif t.role == Role.USER:
            rounds.append(n)
            n = 0
    assert rounds == [0, 64, 64]  # reply to greeting, then a user turn after each 64 rounds
    assert s.termination == Termination.USER_STOP


def test_paper_stop_rules_and_tool_errors(tmp_path: Path, fake_openai_factory: Any) -> None:
    """No stop in the reply to the greeting; ###TRANSFER### is no stop; invalid arguments are
    a tool error the agent sees; ###STOP### ends it."""
    agent_srv = fake_openai_factory(responder=lambda _r: Reply.text("Ok."))
    agent_srv.script(Reply.invalid_tool_args("create_task", '{"user_id": '), CREATE)
    user_srv = fake_openai_factory()
    user_srv.script(
        Reply.text("Hi ###STOP###"), Reply.text("###TRANSFER###"), Reply.text("bye ###STOP###")
    )
    s = _run(tmp_path, agent_srv, user_srv, protocol="paper")
    assert _user_texts(s) == ["Hi ###STOP###", "###TRANSFER###", "bye ###STOP###"]
    assert s.termination == Termination.USER_STOP
    bad = next(t for t in s.turns if t.role == Role.TOOL)
    assert bad.tool_error and bad.meta.get("invalid_call")
    assert s.reward is not None and s.reward.value == 1.0


def test_paper_empty_user_reply_ends_and_is_scored(
    tmp_path: Path, fake_openai_factory: Any
) -> None:
    agent_srv = fake_openai_factory(responder=lambda _r: Reply.text("Created."))
    agent_srv.script(CREATE)
    user_srv = fake_openai_factory(responder=lambda _r: Reply.empty())
    user_srv.script(Reply.text("Create my meeting task."))
    s = _run(tmp_path, agent_srv, user_srv, protocol="paper")
    assert s.termination == Termination.USER_ERROR
    assert s.category == SessionCategory.MODEL_FAILURE
    assert s.reward is not None and s.reward.value == 1.0  # scored all the same (the study did)
    # τ² scores the same failure 0
    user_srv.script(Reply.text("Create my meeting task."))
    agent_srv.script(CREATE)
    t = _run(tmp_path, agent_srv, user_srv, protocol="tau2")
    assert t.termination == Termination.USER_ERROR and tau2_reason(t.termination) == "agent_error"
    assert t.reward is not None and t.reward.value == 0.0
    assert t.meta["model_failure"]["role"] == "user"


def test_sampling_defaults_are_sent_and_stored(tmp_path: Path, fake_openai_factory: Any) -> None:
    agent_srv = fake_openai_factory(responder=lambda _r: Reply.text("Ok."))
    user_srv = fake_openai_factory(responder=lambda _r: Reply.text("###STOP###"))
    user_srv.script(Reply.text("Hello."))
    s = _run(tmp_path, agent_srv, user_srv, protocol="tau2")
    assert {r["temperature"] for r in agent_srv.requests + user_srv.requests} == {0.0}
    sampling = s.meta["sampling"]
    assert sampling["agent"]["temperature"] == 0.0 and sampling["user"]["temperature"] == 0.0
    assert sampling["agent"]["seed"] == s.seed == agent_srv.requests[0]["seed"]
    # an explicit temperature wins, and is what is stored
    agent_srv.reset()
    user_srv.script(Reply.text("Hello."))
    (tmp_path / "b").mkdir()
    s2 = _run(tmp_path / "b", agent_srv, user_srv, protocol="tau2", agent_temperature=0.7)
    assert {r["temperature"] for r in agent_srv.requests} == {0.7}
    assert s2.meta["sampling"]["agent"]["temperature"] == 0.7


def test_protocol_names_and_config_errors() -> None:
    assert get_protocol(None) is TAU2 and get_protocol("paper") is PAPER
    with pytest.raises(ConfigError, match="unknown protocol 'nope'; choose one of: tau2, paper"):
        get_protocol("nope")
    assert make_sweep_config({}).protocol == "tau2"
    assert make_sweep_config({"protocol": "paper"}).protocol == "paper"
    with pytest.raises(ConfigError, match=r"sweep.yaml: field protocol: unknown protocol"):
        make_sweep_config({"protocol": "nope"}, where="sweep.yaml")


def test_cli_run_selects_the_protocol_by_name(tmp_path: Path, fake_openai_factory: Any) -> None:
    agent_srv = fake_openai_factory(responder=lambda _r: Reply.text("Ok."))
    user_srv = fake_openai_factory(responder=lambda _r: Reply.text("###TRANSFER###"))
    out = tmp_path / "runs.db"
    base = [sys.executable, "-m", "simgap", "run", "-d", "mock", "--task-ids", "create_task_1"]
    models = [
        *("-u", "tau2", "--user-model", "openai/user", "--user-api-base", user_srv.base_url),
        *("--agent", "openai/agent", "--agent-api-base", agent_srv.base_url),
        *("-o", str(out), "--no-cache"),
    ]
    r = subprocess.run(
        [*base, *models, "--protocol", "paper"], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    assert "protocol paper" in r.stdout
    (s,) = Store(out).iter_sessions()
    assert s.meta["protocol"]["name"] == "paper"
    assert s.termination == Termination.MAX_USER_TURNS  # ###TRANSFER### is no stop in the paper
    bad = subprocess.run(
        [*base, *models, "--protocol", "nope"], capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: options: field protocol: unknown protocol 'nope'; choose one of: tau2, paper"
    ]


def test_model_config_default_is_untouched() -> None:
    """The protocol fills the temperature in, it never changes a config in place."""
    cfg = ModelConfig(model="openai/x")
    assert TAU2.sampled(cfg, role="agent").temperature == 0.0 and cfg.temperature is None
    assert TAU2.sampled(cfg.model_copy(update={"temperature": 1.0}), role="user").temperature == 1.0
