"""The runner scores sessions through the fast path, on the environment they ran in, and gets
exactly τ²'s reward; no reward worker processes unless asked for."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from simgap.domains import evaluate_tau2, fast_eval
from simgap.models import SessionStatus
from simgap.sessions import RunOptions, SweepRunner
from simgap.sessions import runner as runner_mod
from simgap.store import Store
from tests.fakes.openai_server import FakeOpenAIServer
from tests.sessions.helpers import cancelling_agent, cancelling_customer, model_at
from tests.sessions.test_runner import _run


def test_runner_reward_is_tau2s_and_uses_the_live_environment(
    tmp_path: Path, fake_openai_factory, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    live: list[bool] = []
    real = fast_eval.evaluate_simulation_fast

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        live.append(k.get("live_env") is not None)
        return real(*a, **k)

    monkeypatch.setattr(fast_eval, "evaluate_simulation_fast", spy)
    agent_srv: FakeOpenAIServer = fake_openai_factory(responder=cancelling_agent)
    user_srv: FakeOpenAIServer = fake_openai_factory(responder=cancelling_customer)
    store = Store(tmp_path / "runs.db")
    plans, summary = _run(store, agent_srv, user_srv, task_ids=["19"], trials=2)
    assert summary.done == 2 and live == [True, True]
    from simgap.domains import load_tasks

    task = load_tasks("airline", task_ids=["19"])[0]
    for p in plans:
        s = store.get_session(p.session_id)
        assert s is not None and s.status == SessionStatus.DONE
        assert s.termination is not None and s.reward is not None
        assert s.reward == evaluate_tau2(task, s.turns, s.termination)


def test_no_reward_workers_with_the_fast_path(
    tmp_path: Path, fake_openai_factory, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    srv: FakeOpenAIServer = fake_openai_factory(responder=cancelling_agent)
    r = SweepRunner(Store(tmp_path / "r.db"), agent_config=model_at(srv, "agent"))
    assert r._reward_workers(1000) == 0
    r2 = SweepRunner(
        Store(tmp_path / "r2.db"),
        agent_config=model_at(srv, "agent"),
        options=RunOptions(reward_workers=2),
    )
    assert r2._reward_workers(1000) == 2  # asked for: kept
    monkeypatch.setenv("SIMGAP_FAST_EVAL", "0")
    if len(__import__("os").sched_getaffinity(0)) >= 2:
        assert r._reward_workers(1000) > 0  # τ²'s slow evaluator: workers as before


def test_sweep_gc_thresholds_are_restored() -> None:
    before = gc.get_threshold()
    with runner_mod._sweep_gc():
        assert gc.get_threshold() == runner_mod.SWEEP_GC_THRESHOLD
    assert gc.get_threshold() == before
