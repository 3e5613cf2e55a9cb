"""Optional LLM judge for failure attribution, through the same LLM layer as the annotator.

Why a judge on top of the rules (`annotate.attribution`): rules see words, not intent; a model
reading the scenario and the transcript can tell a customer who changed its mind from one that
contradicted its scenario. The judge answers the same closed set of reasons, with the evidence
turn, as a JSON object constrained by a JSON schema; the answer is validated (known reason,
cause consistent with the reason, an evidence turn that exists in the session). An invalid
answer is sent back with the reason up to `max_retries` times (a different request, so the
response cache never replays it); after that the judge gives up on that session and the rule
label stands, marked `judge_failed` with the judge's last error (never guessed). Endpoint
failures raise, as for the annotator.
"""

from __future__ import annotations

from typing import Any

from simgap.annotate.attribution import attribute_failure, is_failed
from simgap.annotate.llm_annotator import parse_answer
from simgap.llm.base import LLMClient, LLMResponseError
from simgap.models import (
    REASON_CAUSE,
    FailureCause,
    FailureLabel,
    FailureReason,
    Role,
    Session,
    Task,
    Usage,
)

DEFAULT_MAX_RETRIES = 2
_TURN_CHARS = 600

SYSTEM_PROMPT = """You audit a FAILED customer-service conversation between a customer (USER) \
and an AI agent (AGENT) that uses tools. Decide who caused the failure:

- "user": the customer broke its own task. Reasons: contradicted_scenario (gave details that \
contradict its scenario), leaked_goal (talked about its instructions or said it is a \
simulator), gave_up_early (gave up while the task was still doable), out_of_task_request \
(asked for something its scenario does not ask for), ended_before_agent_finished (ended the \
chat while the agent was still working or waiting for an answer), user_error (malformed \
message).
- "environment": tools or infrastructure failed. Reasons: tool_error, infra_error.
- "agent": anything else. Reasons: agent_error (wrong or missing action, policy violation, \
wrong information), turn_limit (did not finish within the step limit).

Answer with ONE JSON object: {"cause": ..., "reason": ..., "evidence_turn": <the [n] of the \
turn that shows it>, "explanation": <one sentence>}. No other text."""


def _schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "cause": {"type": "string", "enum": [c.value for c in FailureCause]},
            "reason": {"type": "string", "enum": [r.value for r in FailureReason]},
            "evidence_turn": {"type": "integer"},
            "explanation": {"type": "string"},
        },
        "required": ["cause", "reason", "evidence_turn", "explanation"],
        "additionalProperties": False,
    }


def _clip(text: str, limit: int = _TURN_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def transcript(session: Session) -> str:
    """The conversation as numbered lines: text, tool calls by name, tool errors."""
    lines: list[str] = []
    for t in session.turns:
        if t.role == Role.TOOL:
            status = "ERROR" if t.tool_error else "ok"
            lines.append(f"[{t.idx}] TOOL ({status}): {_clip(t.text, 200)}")
            continue
        who = "USER" if t.role == Role.USER else "AGENT"
        if t.text.strip():
            lines.append(f"[{t.idx}] {who}: {_clip(t.text)}")
        for c in t.tool_calls:
            lines.append(f"[{t.idx}] {who} calls {c.name}({_clip(str(c.arguments), 200)})")
    return "\n".join(lines)


class FailureJudge:
    """Labels failed sessions with a chat model (labeller "llm:<model>")."""

    def __init__(
        self,
        client: LLMClient,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_tokens: int | None = 300,
    ) -> None:
        self.client = client
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self.labeller = f"llm:{client.config.model}"
        self._response_format = {
            "type": "json_schema",
            "json_schema": {"name": "failure_attribution", "strict": True, "schema": _schema()},
        }

    def prompt(self, session: Session, task: Task | None) -> str:
        scenario = task.scenario_text() if task is not None else ""
        end = session.termination.value if session.termination is not None else "unknown"
        return (
            f"Customer's scenario:\n{scenario or '(not available)'}\n\n"
            f"The conversation ended by: {end}. The task was NOT completed (τ² reward 0).\n\n"
            f"Transcript:\n{transcript(session)}"
        )

    def check(self, session: Session, answer: Any) -> FailureLabel:
        """Validate a decoded answer; ValueError says what is wrong."""
        if not isinstance(answer, dict):
            raise ValueError("expected a JSON object")
        try:
            reason = FailureReason(str(answer.get("reason")))
            cause = FailureCause(str(answer.get("cause")))
        except ValueError as e:
            raise ValueError(f"unknown cause or reason ({e})") from None
        if REASON_CAUSE[reason] != cause:
            raise ValueError(
                f"reason {reason.value!r} belongs to cause {REASON_CAUSE[reason].value!r}, "
                f"not {cause.value!r}"
            )
        turn = answer.get("evidence_turn")
        if isinstance(turn, bool) or not isinstance(turn, int):
            raise ValueError("evidence_turn must be an integer turn number")
        if turn not in {t.idx for t in session.turns}:
            raise ValueError(f"evidence_turn {turn} is not a turn of this conversation")
        return FailureLabel(
            session_id=session.session_id,
            cause=cause,
            reason=reason,
            labeller=self.labeller,
            evidence_turn=turn,
            evidence=_clip(str(answer.get("explanation", "")), 300),
        )

    async def judge(self, session: Session, task: Task | None = None) -> FailureLabel | None:
        """The judge's label of a failed session (None when it did not fail). A session the
        judge cannot label validly keeps its rule label, marked `judge_failed`."""
        if not is_failed(session):
            return None
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": self.prompt(session, task)},
        ]
        usage = Usage()
        errors: list[str] = []
        for _attempt in range(self.max_retries + 1):
            req = self.client.request(
                messages, response_format=self._response_format, max_tokens=self.max_tokens
            )
            content: str | None = None
            try:
                resp = await self.client.complete(req)
                usage = usage + resp.usage
                content = resp.content
                label = self.check(session, parse_answer(content))
            except LLMResponseError as e:
                problem = f"unusable reply ({e})"
            except ValueError as e:
                problem = str(e)
            else:
                return label.model_copy(
                    update={"usage": usage, "meta": {"attempts": len(errors) + 1}}
                )
            errors.append(problem)
            if content:
                messages.append({"role": "assistant", "content": content})
            messages.append(
                {
                    "role": "user",
                    "content": f"That answer was invalid: {problem}. Reply again with only the "
                    "JSON object.",
                }
            )
        fallback = attribute_failure(session, task)
        assert fallback is not None  # the session failed, so the rules always give a label
        return fallback.model_copy(
            update={
                "usage": usage,
                "meta": {"judge_failed": self.labeller, "judge_errors": errors},
            }
        )

    async def aclose(self) -> None:
        await self.client.aclose()
