"""`--engine ray` on a local Ray instance: same store, resumable, same content as local."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from simgap.domains import load_tasks
from simgap.models import AgentSpec, Session
from simgap.sessions import RunOptions, SweepRunner, plan_sessions
from simgap.sessions.ray_engine import RayEngine
from simgap.store import Store
from tests.fakes.openai_server import Reply
from tests.sessions.helpers import model_at, n_user_turns, user_preset

ray = pytest.importorskip("ray")


def agent_script(req: dict[str, Any]) -> Reply:
    """Deterministic agent: looks the user up once, then answers (ids fixed by the script)."""
    msgs = req["messages"]
    if not any(m["role"] == "tool" for m in msgs):
        return Reply.tool_call("get_user_details", {"user_id": "mia_li_3668"}, id="call_lookup")
    return Reply.text(f"I see your profile. We have exchanged {len(msgs)} messages.")


def customer_script(req: dict[str, Any]) -> Reply:
    k = n_user_turns(req)
    return Reply.text(
        "ok thanks ###STOP###" if k >= 2 else f"turn {k}: I need help with my booking"
    )


def _content(s: Session) -> dict[str, Any]:
    """Everything that must match across engines (timestamps and latencies excluded)."""
    return {
        "turns": [
            (
                t.idx,
                t.role,
                t.content,
                [c.model_dump() for c in t.tool_calls],
                t.tool_call_id,
                t.tool_error,
            )
            for t in s.turns
        ],
        "reward": None if s.reward is None else (s.reward.value, s.reward.breakdown),
        "termination": s.termination,
        "status": s.status,
        "seed": s.seed,
        "usage": (s.agent_usage.prompt_tokens, s.agent_usage.completion_tokens, s.user_usage.calls),
    }


def test_ray_engine_matches_local_and_resumes(tmp_path: Path, fake_openai_factory) -> None:  # type: ignore[no-untyped-def]
    agent_srv = fake_openai_factory(responder=agent_script)
    user_srv = fake_openai_factory(responder=customer_script)
    tasks = load_tasks("airline", task_ids=["20", "21", "24", "25"])
    agent_cfg = model_at(agent_srv, "agent")
    spec = AgentSpec(name="llm", model=agent_cfg.model, settings=agent_cfg.public())
    plans = plan_sessions(tasks, [user_preset(user_srv)], agent=spec, trials=2, base_seed=7)
    options = RunOptions(concurrency=4, use_cache=False)

    local = Store(tmp_path / "local.db")

    async def run_local(store: Store, which: list[Any]) -> None:
        runner = SweepRunner(store, agent_config=agent_cfg, options=options)
        try:
            await runner.run(which)
        finally:
            await runner.aclose()

    asyncio.run(run_local(local, plans))

    distributed = Store(tmp_path / "ray.db")
    asyncio.run(run_local(distributed, plans[:3]))  # a sweep interrupted after 3 sessions
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        summary = RayEngine(distributed, agent_config=agent_cfg, options=options).run(plans)
    finally:
        ray.shutdown()
    assert summary.already_done == 3 and summary.ran == len(plans) - 3
    assert summary.done == len(plans) and summary.failed == 0

    a = {s.session_id: _content(s) for s in local.iter_sessions()}
    b = {s.session_id: _content(s) for s in distributed.iter_sessions()}
    assert a.keys() == b.keys() and len(a) == len(plans)
    for sid in a:
        assert a[sid] == b[sid], sid
