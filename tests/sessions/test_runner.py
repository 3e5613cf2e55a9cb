"""The sweep runner end to end: fake model servers, the real τ² environment and evaluator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from simgap.domains import load_tasks
from simgap.models import AgentSpec, Role, SessionCategory, SessionStatus, Termination
from simgap.sessions import RunOptions, SweepAborted, SweepRunner, plan_sessions
from simgap.store import Store
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.sessions.helpers import (
    cancelling_agent,
    cancelling_customer,
    idle_agent,
    model_at,
    user_preset,
)


def _run(
    store: Store,
    agent_srv: FakeOpenAIServer,
    user_srv: FakeOpenAIServer,
    *,
    task_ids: list[str],
    trials: int = 1,
    concurrency: int = 4,
):  # type: ignore[no-untyped-def]
    tasks = load_tasks("airline", task_ids=task_ids)
    agent_cfg = model_at(agent_srv, "agent")
    spec = AgentSpec(name="llm", model=agent_cfg.model, settings=agent_cfg.public())
    plans = plan_sessions(tasks, [user_preset(user_srv)], agent=spec, trials=trials)

    async def go():  # type: ignore[no-untyped-def]
        runner = SweepRunner(
            store, agent_config=agent_cfg, options=RunOptions(concurrency=concurrency)
        )
        try:
            return await runner.run(plans)
        finally:
            await runner.aclose()

    return plans, asyncio.run(go())


def test_scripted_conversation_succeeds_with_tau2_reward_one(
    tmp_path: Path, fake_openai_factory
) -> None:  # type: ignore[no-untyped-def]
    agent_srv = fake_openai_factory(responder=cancelling_agent)
    user_srv = fake_openai_factory(responder=cancelling_customer)
    store = Store(tmp_path / "runs.db")
    plans, summary = _run(store, agent_srv, user_srv, task_ids=["19"])
    assert summary.done == 1 and summary.failed == 0 and summary.successes == 1
    s = store.get_session(plans[0].session_id)
    assert s is not None
    assert s.status == SessionStatus.DONE and s.termination == Termination.USER_STOP
    assert s.reward is not None and s.reward.value == 1.0 and s.reward.breakdown["DB"] == 1.0
    roles = [t.role for t in s.turns]
    assert roles == [Role.AGENT, Role.USER, Role.AGENT, Role.TOOL, Role.AGENT, Role.USER]
    assert s.turns[2].tool_calls[0].name == "cancel_reservation"
    assert '"status": "cancelled"' in (s.turns[3].content or "")
    # the agent saw τ²'s system prompt and tools; the customer never saw the tool traffic
    agent_req = agent_srv.requests[0]
    assert "<policy>" in agent_req["messages"][0]["content"] and agent_req["tools"]
    last_user_req = user_srv.requests[-1]
    assert all(m["role"] != "tool" for m in last_user_req["messages"])
    assert "Z7GOZK" not in str([m for m in last_user_req["messages"] if m["role"] == "user"][:1])
    assert s.agent_usage.calls == 2 and s.user_usage.calls == 2
    assert s.agent_usage.prompt_tokens > 0


def test_idle_agent_fails_the_task(tmp_path: Path, fake_openai_factory) -> None:  # type: ignore[no-untyped-def]
    agent_srv = fake_openai_factory(responder=idle_agent)
    user_srv = fake_openai_factory(responder=cancelling_customer)
    store = Store(tmp_path / "runs.db")
    plans, summary = _run(store, agent_srv, user_srv, task_ids=["19"])
    s = store.get_session(plans[0].session_id)
    assert s is not None and s.status == SessionStatus.DONE
    assert s.reward is not None and s.reward.value == 0.0 and s.reward.breakdown["DB"] == 0.0
    assert summary.successes == 0 and summary.rewarded == 1


def test_invalid_tool_arguments_fail_the_session_as_tau2_scores_it(
    tmp_path: Path, fake_openai_factory
) -> None:  # type: ignore[no-untyped-def]
    """τ²'s generate() raises on arguments that are not JSON: the sample fails, scored 0, in
    the denominator. Not an infrastructure error, so a rerun does not retry it."""
    agent_srv = fake_openai_factory(responder=cancelling_agent)
    agent_srv.script(Reply.invalid_tool_args("cancel_reservation", '{"reservation_id": '))
    user_srv = fake_openai_factory(responder=cancelling_customer)
    store = Store(tmp_path / "runs.db")
    plans, summary = _run(store, agent_srv, user_srv, task_ids=["19"])
    s = store.get_session(plans[0].session_id)
    assert s is not None and s.status == SessionStatus.DONE
    assert s.termination == Termination.AGENT_ERROR and s.category == SessionCategory.MODEL_FAILURE
    assert s.reward is not None and s.reward.value == 0.0
    # the offending message never entered the transcript (as in τ²); its output is kept
    assert [t.role for t in s.turns] == [Role.AGENT, Role.USER]
    failure = s.meta["model_failure"]
    assert failure["role"] == "agent" and "not a JSON object" in failure["cause"]
    assert failure["output"]["tool_calls"][0]["raw_arguments"] == '{"reservation_id": '
    assert summary.rewarded == 1 and summary.successes == 0 and summary.failed == 0
    assert summary.category(SessionCategory.MODEL_FAILURE) == 1
    _, again = _run(store, agent_srv, user_srv, task_ids=["19"])
    assert again.ran == 0 and again.already_done == 1


def test_garbage_model_fails_the_session_then_rerun_retries_it(
    tmp_path: Path, fake_openai_factory
) -> None:  # type: ignore[no-untyped-def]
    agent_srv = fake_openai_factory(responder=cancelling_agent)
    user_srv = fake_openai_factory(responder=cancelling_customer)
    # the simulator's first answer is garbage on every try (max_retries=2: 3 tries in all)
    user_srv.script(Reply.garbage(), Reply.garbage(), Reply.garbage())
    store = Store(tmp_path / "runs.db")
    plans, summary = _run(store, agent_srv, user_srv, task_ids=["19"])
    assert summary.failed == 1
    s = store.get_session(plans[0].session_id)
    assert s is not None and s.status == SessionStatus.FAILED
    assert s.termination == Termination.INFRA_ERROR and s.error and "scripted-user" in s.error
    assert "\n" not in s.error
    assert user_srv.calls == 3  # the script is used up: the responder answers properly now
    _, summary2 = _run(store, agent_srv, user_srv, task_ids=["19"])
    assert summary2.ran == 1 and summary2.failed == 0 and summary2.successes == 1
    assert store.count_sessions() == 1


def test_unreachable_endpoint_aborts_with_one_line_and_keeps_the_store(
    tmp_path: Path, fake_openai_factory
) -> None:  # type: ignore[no-untyped-def]
    user_srv = fake_openai_factory(responder=cancelling_customer)
    dead = fake_openai_factory()
    dead_url = dead.base_url
    dead.stop()  # a port nothing listens on any more

    class Dead:
        base_url = dead_url

    store = Store(tmp_path / "runs.db")
    with pytest.raises(SweepAborted) as e:
        _run(store, Dead(), user_srv, task_ids=["19", "0", "1"], concurrency=1)  # type: ignore[arg-type]
    msg = str(e.value)
    assert "\n" not in msg and dead_url in msg
    statuses = store.statuses()
    assert SessionStatus.FAILED in statuses.values() and len(statuses) >= 1


def test_rerun_skips_finished_and_the_cache_serves_a_second_store(
    tmp_path: Path, fake_openai_factory
) -> None:  # type: ignore[no-untyped-def]
    agent_srv = fake_openai_factory(responder=cancelling_agent)
    user_srv = fake_openai_factory(responder=cancelling_customer)
    store = Store(tmp_path / "a.db")
    plans, first = _run(store, agent_srv, user_srv, task_ids=["19", "0"], trials=2)
    assert first.done == 4 and len({p.session_id for p in plans}) == 4
    calls = agent_srv.calls + user_srv.calls
    _, again = _run(store, agent_srv, user_srv, task_ids=["19", "0"], trials=2)
    assert again.already_done == 4 and again.ran == 0
    assert agent_srv.calls + user_srv.calls == calls  # nothing re-run
    other = Store(tmp_path / "b.db")  # same sweep, new store: every answer comes from the cache
    _, cached = _run(other, agent_srv, user_srv, task_ids=["19", "0"], trials=2)
    assert cached.done == 4 and agent_srv.calls + user_srv.calls == calls
    assert cached.usage.calls == 0 and cached.usage.cached_calls > 0


def test_concurrency_is_bounded(tmp_path: Path, fake_openai_factory) -> None:  # type: ignore[no-untyped-def]
    agent_srv = fake_openai_factory(responder=idle_agent, latency_s=0.05)
    user_srv = fake_openai_factory(responder=cancelling_customer, latency_s=0.05)
    store = Store(tmp_path / "runs.db")
    _, summary = _run(
        store, agent_srv, user_srv, task_ids=["0", "1", "2", "3", "4", "5"], concurrency=2
    )
    assert summary.done == 6
    assert agent_srv.max_in_flight + user_srv.max_in_flight <= 2 * 2
    assert max(agent_srv.max_in_flight, user_srv.max_in_flight) <= 2
