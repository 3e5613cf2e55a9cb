"""When the fast path may use the session's own environment, and what it does otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from simgap.domains import DomainEnvironment, gold, load_tasks, to_tau2_messages
from simgap.domains import environment as environment_mod
from simgap.domains.environment import evaluate, evaluate_tau2
from simgap.models import Role, Termination, ToolCall, Turn
from tests.domains.test_environment import _conversation


@pytest.fixture(autouse=True)
def _gold_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(gold.CACHE_ENV, str(tmp_path / "gold"))


def test_live_environment_used_when_it_ran_exactly_the_transcript() -> None:
    task = load_tasks("airline", task_ids=["19"])[0]
    env = DomainEnvironment(task)
    turns = _conversation(env, cancel=True, bad_call=True)
    assert env.replay_equivalent(to_tau2_messages(turns)) is env._env


def test_live_environment_refused_when_it_differs_from_the_transcript() -> None:
    task = load_tasks("airline", task_ids=["19"])[0]
    env = DomainEnvironment(task)
    turns = _conversation(env, cancel=True)
    # a call the transcript does not show (e.g. a crash between the call and its turn)
    env.call(ToolCall(id="x", name="get_user_details", arguments={"user_id": "a"}),
             requestor=Role.AGENT, idx=99)  # fmt: skip
    assert env.replay_equivalent(to_tau2_messages(turns)) is None
    # a transcript whose stored result was altered
    env2 = DomainEnvironment(task)
    turns2 = _conversation(env2, cancel=True)
    turns2[3] = turns2[3].model_copy(update={"content": "tampered"})
    assert env2.replay_equivalent(to_tau2_messages(turns2)) is None
    # a transcript ending on a call without its result
    env3 = DomainEnvironment(task)
    turns3 = _conversation(env3, cancel=True)[:3]
    assert env3.replay_equivalent(to_tau2_messages(turns3)) is None


def test_replayed_environment_is_usable_too() -> None:
    task = load_tasks("airline", task_ids=["19"])[0]
    turns = _conversation(DomainEnvironment(task), cancel=True)
    env = DomainEnvironment(task)
    env.replay(turns)
    assert env.replay_equivalent(to_tau2_messages(turns)) is env._env


def test_telecom_is_always_rebuilt() -> None:
    task = load_tasks("telecom", limit=1)[0]
    env = DomainEnvironment(task)
    assert env.replay_equivalent(to_tau2_messages(env.initial_turns())) is None


@pytest.mark.parametrize("cancel", [True, False])
def test_without_environment_the_transcript_is_replayed(cancel: bool) -> None:
    task = load_tasks("airline", task_ids=["19"])[0]
    turns = _conversation(DomainEnvironment(task), cancel=cancel)
    fast = evaluate(task, turns, Termination.USER_STOP)
    assert fast == evaluate_tau2(task, turns, Termination.USER_STOP)
    assert fast.value == (1.0 if cancel else 0.0)


def test_a_transcript_tau2_cannot_replay_fails_as_in_tau2() -> None:
    task = load_tasks("airline", task_ids=["19"])[0]
    env = DomainEnvironment(task)
    turns = _conversation(env, cancel=True)
    turns[3] = turns[3].model_copy(update={"content": "tampered"})
    with pytest.raises(ValueError, match="Tool call"):
        evaluate_tau2(task, turns, Termination.USER_STOP)
    with pytest.raises(ValueError, match="Tool call"):
        evaluate(task, turns, Termination.USER_STOP, env=env)


def test_premature_end_scores_zero_without_evaluating() -> None:
    task = load_tasks("airline", task_ids=["19"])[0]
    turns = [Turn(idx=0, role=Role.USER, content="hi")]
    r = evaluate(task, turns, Termination.MAX_STEPS)
    assert r.value == 0.0 and "prematurely" in r.info["note"]
    assert r == evaluate_tau2(task, turns, Termination.MAX_STEPS)


def test_switch_off_runs_tau2(monkeypatch: pytest.MonkeyPatch) -> None:
    task = load_tasks("airline", task_ids=["19"])[0]
    env = DomainEnvironment(task)
    turns = _conversation(env, cancel=True)
    monkeypatch.setenv(environment_mod.FAST_EVAL_ENV, "0")
    called: list[bool] = []
    real = environment_mod.evaluate_tau2

    def spy(*a: object, **k: object) -> object:
        called.append(True)
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(environment_mod, "evaluate_tau2", spy)
    assert evaluate(task, turns, Termination.USER_STOP, env=env).value == 1.0
    assert called == [True]
