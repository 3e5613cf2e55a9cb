"""Builders of SYNTHETIC test fixtures: sessions that stand in for people and simulators.

Everything built here is labelled synthetic (`meta.synthetic = True`, `synthetic-` ids) as the
project requires of anything standing in for people.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from simgap.annotate.features import FEATURE_NAMES
from simgap.metrics.evaluative import answer_vector
from simgap.metrics.table import ScoredSession
from simgap.models import (
    Feedback,
    Reward,
    Role,
    Session,
    SessionStatus,
    Turn,
    UserKind,
    load_questionnaire,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def features(**values: float) -> np.ndarray:
    """A 19-feature vector: zeros except the named features."""
    unknown = set(values) - set(FEATURE_NAMES)
    assert not unknown, unknown
    return np.array([values.get(f, 0.0) for f in FEATURE_NAMES], dtype=np.float64)


def answers(**values: int | str) -> np.ndarray:
    fb = Feedback(
        session_id="synthetic",
        respondent_kind=UserKind.HUMAN,
        respondent_id="synthetic",
        answers=dict(values),
    )
    return answer_vector(fb, load_questionnaire("usi"))


def scored(
    task: str,
    *,
    feats: np.ndarray | None = None,
    success: float | None = None,
    ans: np.ndarray | None = None,
    trial: int = 0,
    batch: str = "b1",
    user: str = "synthetic-user",
    sid: str | None = None,
    failure: str | None = None,
) -> ScoredSession:
    return ScoredSession(
        session_id=sid or f"synthetic-{user}-{batch}-{task}-{trial}",
        task=task,
        trial=trial,
        user_id=user,
        batch=batch,
        features=features() if feats is None else feats,
        success=success,
        answers=ans,
        synthetic=True,
        failure=failure,
    )


def session(
    sid: str,
    user_texts: Sequence[str],
    *,
    task: str = "1",
    domain: str = "retail",
    kind: UserKind = UserKind.SIMULATOR,
    user: str = "synthetic-sim",
    batch: str = "synthetic",
    trial: int = 0,
    reward: float | None = 1.0,
    status: SessionStatus = SessionStatus.DONE,
    agent_texts: Sequence[str] | None = None,
) -> Session:
    """Agent greeting, then alternating user / agent text turns."""
    turns = [Turn(idx=0, role=Role.AGENT, content="Hi! How can I help you today?", timestamp=T0)]
    for i, text in enumerate(user_texts):
        turns.append(
            Turn(
                idx=len(turns),
                role=Role.USER,
                content=text,
                timestamp=T0 + timedelta(seconds=len(turns)),
            )
        )
        reply = agent_texts[i] if agent_texts and i < len(agent_texts) else "Okay."
        turns.append(
            Turn(
                idx=len(turns),
                role=Role.AGENT,
                content=reply,
                timestamp=T0 + timedelta(seconds=len(turns)),
            )
        )
    return Session(
        session_id=sid,
        task_id=task,
        domain=domain,
        user_kind=kind,
        user_id=user,
        batch=batch,
        trial=trial,
        status=status,
        reward=None if reward is None else Reward(value=reward),
        turns=turns,
        meta={"synthetic": True},
    )


def feedback(s: Session, **values: int | str) -> Feedback:
    return Feedback(
        session_id=s.session_id,
        respondent_kind=s.user_kind,
        respondent_id=s.user_id,
        answers=dict(values),
        meta={"synthetic": True},
    )


def by_batch(sessions: Sequence[ScoredSession]) -> Mapping[str, list[ScoredSession]]:
    out: dict[str, list[ScoredSession]] = {}
    for s in sessions:
        out.setdefault(s.batch, []).append(s)
    return out
