"""The sweep summary is one pass over a stream of sessions (it never holds them all)."""

from __future__ import annotations

from collections.abc import Iterator

from simgap.models import Reward, Role, Session, SessionStatus, Termination, Turn, UserKind
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
