"""Parametric customers in real τ² sessions: the normal runner, the real airline environment
and reward evaluator, a scripted agent on the fake OpenAI-compatible server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from simgap.domains import load_tasks
from simgap.models import AgentSpec, SessionStatus, Termination
from simgap.sessions import RunOptions, SweepRunner, plan_sessions
from simgap.store import Store
from simgap.users import get_preset
from tests.fakes.openai_server import FakeOpenAIServer
from tests.sessions.helpers import model_at
from tests.users.helpers import certificate_agent


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMGAP_CACHE_DIR", str(tmp_path / "cache"))


def test_parametric_customers_let_a_tau2_agent_succeed(
    tmp_path: Path, fake_openai_factory: Callable[..., FakeOpenAIServer]
) -> None:
    agent_srv = fake_openai_factory(responder=certificate_agent)
    agent_cfg = model_at(agent_srv, "agent")
    # The fake server's address (a free port) left out of the spec: it is part of the session
    # id and hence of each session's seed, and the stand-in's withholding is drawn from that
    # seed; with the port in, every run drew other seeds (seen: 3 of 4 successes now and then).
    settings = {k: v for k, v in agent_cfg.public().items() if k != "api_base"}
    spec = AgentSpec(name="llm", model=agent_cfg.model, settings=settings)
    tasks = load_tasks("airline", task_ids=["27"])
    presets = [get_preset("behavior"), get_preset("standin")]
    plans = plan_sessions(tasks, presets, agent=spec, trials=2, batch="synthetic-test")
    store = Store(tmp_path / "runs.db")

    async def go():  # type: ignore[no-untyped-def]
        runner = SweepRunner(
            store, agent_config=agent_cfg, options=RunOptions(concurrency=4, reward_workers=0)
        )
        try:
            return await runner.run(plans)
        finally:
            await runner.aclose()

    summary = asyncio.run(go())
    assert summary.done == 4 and summary.failed == 0
    assert summary.successes == 4  # the customer gave its user id from the scenario
    for p in plans:
        s = store.get_session(p.session_id)
        assert s is not None and s.status == SessionStatus.DONE
        assert s.reward is not None and s.reward.value == 1.0
        assert s.termination == Termination.USER_STOP
        assert s.meta["synthetic"] is True and s.batch.startswith("synthetic")
        assert all(t.meta.get("synthetic") for t in s.user_turns)
        said = " ".join(t.content or "" for t in s.user_turns)
        assert "ethan_martin_2396" in said  # grounded in the task's known info
        assert s.user_usage.calls == 0  # no model behind the customer
    # no simulator model was called: only the agent's server saw requests
    assert agent_srv.calls >= 8
    store.close()
