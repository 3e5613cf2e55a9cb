"""Who caused a failed session: the agent, the user (simulator), or the environment.

A `FailureLabel` is stored as an ordinary session-level `Annotation` row (annotator
`failure:<who labelled it>`, version `FAILURE_VERSION`, codes `cause` and `reason`, the
evidence turn in `meta`). Why not a table of its own: the annotations table, its JSONL record
and every existing store already carry such rows, so stores stay readable and nothing in the
schema changes (additive only); `FailureLabel.from_annotation` reads them back.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from simgap.models.annotation import Annotation
from simgap.models.turn import Usage

FAILURE_VERSION = "failure-1"
FAILURE_PREFIX = "failure:"


class FailureCause(StrEnum):
    AGENT = "agent"
    USER = "user"  # the simulator (or person) broke the task: "simulator error" for simulators
    ENVIRONMENT = "environment"


class FailureReason(StrEnum):
    """The specific reason; each belongs to exactly one cause (`REASON_CAUSE`)."""

    # user (simulator) errors
    CONTRADICTED_SCENARIO = "contradicted_scenario"
    LEAKED_GOAL = "leaked_goal"
    GAVE_UP_EARLY = "gave_up_early"
    OUT_OF_TASK_REQUEST = "out_of_task_request"
    ENDED_BEFORE_AGENT_FINISHED = "ended_before_agent_finished"
    USER_ERROR = "user_error"  # τ² terminated on a malformed user message
    # environment / tool errors
    TOOL_ERROR = "tool_error"
    INFRA_ERROR = "infra_error"
    # agent errors
    AGENT_ERROR = "agent_error"  # wrong or missing actions, policy violations, wrong answer
    TURN_LIMIT = "turn_limit"  # the agent did not finish within the step limit


USER_REASONS = (
    FailureReason.CONTRADICTED_SCENARIO,
    FailureReason.LEAKED_GOAL,
    FailureReason.GAVE_UP_EARLY,
    FailureReason.OUT_OF_TASK_REQUEST,
    FailureReason.ENDED_BEFORE_AGENT_FINISHED,
    FailureReason.USER_ERROR,
)
REASON_CAUSE: dict[FailureReason, FailureCause] = {
    **dict.fromkeys(USER_REASONS, FailureCause.USER),
    FailureReason.TOOL_ERROR: FailureCause.ENVIRONMENT,
    FailureReason.INFRA_ERROR: FailureCause.ENVIRONMENT,
    FailureReason.AGENT_ERROR: FailureCause.AGENT,
    FailureReason.TURN_LIMIT: FailureCause.AGENT,
}


class FailureLabel(BaseModel):
    """One failed session's attribution with the turn that shows it."""

    model_config = ConfigDict(extra="forbid")

    session_id: str
    cause: FailureCause
    reason: FailureReason
    labeller: str  # "rules", "llm:<model>"
    evidence_turn: int | None = None  # Turn.idx of the evidence (None: the session as a whole)
    evidence: str = ""  # the quoted evidence or the rule's explanation, one line
    usage: Usage | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def annotator(self) -> str:
        return f"{FAILURE_PREFIX}{self.labeller}"

    def to_annotation(self) -> Annotation:
        return Annotation(
            session_id=self.session_id,
            turn_idx=None,
            annotator=self.annotator,
            codebook_version=FAILURE_VERSION,
            codes={"cause": self.cause.value, "reason": self.reason.value},
            usage=self.usage,
            meta={"evidence_turn": self.evidence_turn, "evidence": self.evidence, **self.meta},
        )

    @classmethod
    def from_annotation(cls, a: Annotation) -> FailureLabel | None:
        """The label stored in `a`, or None when `a` is not a (valid, present) failure label."""
        if not a.annotator.startswith(FAILURE_PREFIX) or a.missing or a.turn_idx is not None:
            return None
        try:
            reason = FailureReason(str(a.codes.get("reason")))
            cause = FailureCause(str(a.codes.get("cause")))
        except ValueError:
            return None
        meta = dict(a.meta)
        ev_turn = meta.pop("evidence_turn", None)
        return cls(
            session_id=a.session_id,
            cause=cause,
            reason=reason,
            labeller=a.annotator[len(FAILURE_PREFIX) :],
            evidence_turn=ev_turn if isinstance(ev_turn, int) else None,
            evidence=str(meta.pop("evidence", "")),
            usage=a.usage,
            meta=meta,
        )
