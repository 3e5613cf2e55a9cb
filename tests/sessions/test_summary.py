"""The sweep summary is one pass over a stream of sessions (it never holds them all)."""

from __future__ import annotations

from collections.abc import Iterator

from simgap.models import (
    Reward,
    Role,
    Session,
    SessionCategory,
    SessionStatus,
    Termination,
    Turn,
    UserKind,
)
from simgap.sessions import summarise_sessions


def _sessions() -> Iterator[Session]:
    def s(i: int, status: SessionStatus, reward: float | None, n_turns: int) -> Session:
        return Session(
            session_id=f"s{i}",
            task_id="19",
            domain="airline",
            user_kind=UserKind.SIMULATOR,
            user_id="u",
            status=status,
            termination=Termination.USER_STOP if status == SessionStatus.DONE else None,
            reward=None if reward is None else Reward(value=reward),
            error="boom" if status == SessionStatus.FAILED else None,
            turns=[Turn(idx=k, role=Role.USER, content="x") for k in range(n_turns)],
        )

    yield s(0, SessionStatus.DONE, 1.0, 4)
    yield s(1, SessionStatus.DONE, 0.0, 2)
    yield s(2, SessionStatus.DONE, None, 6)
    yield s(3, SessionStatus.FAILED, None, 1)


def test_one_streaming_pass_gives_the_totals() -> None:
    out = summarise_sessions(_sessions(), planned=5, ran=4, already=1, wall_s=2.0)
    assert (out.done, out.failed, out.rewarded, out.successes) == (3, 1, 2, 1)
    assert out.mean_turns == 4.0
    assert out.failures == [("s3", "boom")]
    assert out.terminations == {"user_stop": 3, "failed": 1}


def test_categories_and_the_success_rate_denominator() -> None:
    """Hand-counted: 2 completed (1 success), 1 model failure (reward 0, scored), 1 infra
    error (not scored), 1 interrupted. SR = 1 / (2 + 1)."""

    def s(i: int, status: SessionStatus, term: Termination | None, reward: float | None) -> Session:
        return Session(
            session_id=f"c{i}",
            task_id="19",
            domain="airline",
            user_kind=UserKind.SIMULATOR,
            user_id="u",
            status=status,
            termination=term,
            reward=None if reward is None else Reward(value=reward),
        )

    sessions = [
        s(0, SessionStatus.DONE, Termination.USER_STOP, 1.0),
        s(1, SessionStatus.DONE, Termination.MAX_STEPS, 0.0),
        s(2, SessionStatus.DONE, Termination.AGENT_ERROR, 0.0),
        s(3, SessionStatus.FAILED, Termination.INFRA_ERROR, None),
        s(4, SessionStatus.RUNNING, None, None),
    ]
    sessions[2].meta["model_failure"] = {"role": "agent", "cause": "empty answer"}
    out = summarise_sessions(iter(sessions), planned=5, ran=5, already=0, wall_s=1.0)
    assert out.model_failures == [("c2", "agent: empty answer")]
    assert out.categories == {
        "completed": 2,
        "model_failure": 1,
        "infra_error": 1,
        "running": 1,
    }
    assert out.category(SessionCategory.MODEL_FAILURE) == 1
    assert (out.successes, out.rewarded) == (1, 3)
    assert out.success_rate == 1 / 3
