"""A session: one conversation between a user (person or simulator) and the agent under test."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from simgap.models.turn import Role, Turn, Usage


class UserKind(StrEnum):
    HUMAN = "human"
    SIMULATOR = "simulator"


class Termination(StrEnum):
    """Why a conversation ended. The first seven are τ²-bench's own reasons, same spelling."""

    USER_STOP = "user_stop"
    AGENT_STOP = "agent_stop"
    JUDGE_STOP = "judge_stop"
    MAX_STEPS = "max_steps"
    TOO_MANY_ERRORS = "too_many_errors"
    AGENT_ERROR = "agent_error"
    USER_ERROR = "user_error"
    # simgap's own: the user asked for a human agent / said the scenario does not cover it,
    # a person left the study, or infrastructure (model endpoint, crash) ended it.
    TRANSFER = "transfer"
    OUT_OF_SCOPE = "out_of_scope"
    ABANDONED = "abandoned"
    INFRA_ERROR = "infra_error"
    # the paper's study protocol: the user's turn limit (80 replies after the greeting's)
    MAX_USER_TURNS = "max_user_turns"


# Terminations after which τ²'s evaluator computes a real reward (everything else scores 0).
REWARDED_TERMINATIONS = frozenset(
    {Termination.USER_STOP, Termination.AGENT_STOP, Termination.TRANSFER, Termination.OUT_OF_SCOPE}
)


class SessionStatus(StrEnum):
    """Life cycle in the store; `done` sessions are skipped on resume, the others are continued."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# Terminations by which a model under test failed the conversation as τ²-bench counts it
# (see `SessionCategory.MODEL_FAILURE`).
MODEL_FAILURE_TERMINATIONS = frozenset({Termination.AGENT_ERROR, Termination.USER_ERROR})


class SessionCategory(StrEnum):
    """What a stored session counts as in a success rate (docs/protocol.md, "Categories").

    * `completed`: ended by a stop or a limit; τ²'s reward; in the denominator.
    * `model_failure`: the agent's or the simulator's model failed as τ² counts it (an empty
      reply after τ²'s retries, tool-call arguments that are not a JSON object, a context
      overflow, a protocol violation): scored 0 exactly as τ² scores it, in the denominator,
      and not retried (τ² would not retry it either). Termination `agent_error` or
      `user_error` (who failed), the cause in `meta["model_failure"]`.
    * `infra_error`: the transport failed after retries (provider unreachable, rate limited
      for good, undecodable answers, the embedded model's worker crashed): no reward, left
      out of the denominator but always counted and shown, retried on rerun.
    * `running`: interrupted; continued on rerun.
    """

    COMPLETED = "completed"
    MODEL_FAILURE = "model_failure"
    INFRA_ERROR = "infra_error"
    RUNNING = "running"


class Reward(BaseModel):
    """The τ² evaluator's verdict. `value` is 0/1 in practice; `breakdown` has its parts."""

    model_config = ConfigDict(extra="forbid")

    value: float
    breakdown: dict[str, float] = Field(default_factory=dict)
    basis: list[str] = Field(default_factory=list)
    info: dict[str, Any] = Field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.value >= 1.0 - 1e-9


class AgentSpec(BaseModel):
    """Which agent, on which model, with which settings: part of a session's identity."""

    model_config = ConfigDict(extra="forbid")

    name: str = "llm"
    model: str = "local"
    settings: dict[str, Any] = Field(default_factory=dict)


class Session(BaseModel):
    """One conversation on one task, with everything needed to score it."""

    model_config = ConfigDict(extra="forbid")

    session_id: str
    task_id: str
    domain: str
    user_kind: UserKind
    user_id: str  # participant id, or the simulator preset name
    agent: AgentSpec = Field(default_factory=AgentSpec)
    batch: str = "default"
    trial: int = 0
    seed: int | None = None
    status: SessionStatus = SessionStatus.RUNNING
    termination: Termination | None = None
    reward: Reward | None = None
    error: str | None = None  # one line: the cause when status is failed
    started_at: datetime | None = None
    ended_at: datetime | None = None
    agent_usage: Usage = Field(default_factory=Usage)
    user_usage: Usage = Field(default_factory=Usage)
    turns: list[Turn] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def success(self) -> bool | None:
        return None if self.reward is None else self.reward.success

    @property
    def category(self) -> SessionCategory:
        """Which `SessionCategory` this session counts in."""
        if self.status == SessionStatus.FAILED:
            return SessionCategory.INFRA_ERROR
        if self.status == SessionStatus.RUNNING:
            return SessionCategory.RUNNING
        if self.termination in MODEL_FAILURE_TERMINATIONS:
            return SessionCategory.MODEL_FAILURE
        return SessionCategory.COMPLETED

    @property
    def user_turns(self) -> list[Turn]:
        """The user's text turns, in order: what annotation and USI features look at."""
        return [t for t in self.turns if t.role == Role.USER and t.content]

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def usage(self) -> Usage:
        return self.agent_usage + self.user_usage
