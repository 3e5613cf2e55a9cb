"""One message of a conversation: what the user said, the agent said or called, a tool answered."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    """Timezone-aware now; every timestamp simgap writes is UTC."""
    return datetime.now(UTC)


class Role(StrEnum):
    """Who produced a turn. Tool results are their own role, as in τ²-bench."""

    USER = "user"
    AGENT = "agent"
    TOOL = "tool"


class Usage(BaseModel):
    """Tokens, calls and money spent producing something (a turn, a session, a sweep)."""

    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    cached_calls: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            calls=self.calls + other.calls,
            cached_calls=self.cached_calls + other.cached_calls,
            cost_usd=self.cost_usd + other.cost_usd,
        )


class ToolCall(BaseModel):
    """A function call requested by the agent (or by a user with tools, as in τ² telecom)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    # Set when the model produced arguments that were not a JSON object; kept verbatim so the
    # failure is visible in the transcript instead of silently repaired.
    raw_arguments: str | None = None


class Turn(BaseModel):
    """One message. `idx` is its position in the session, starting at 0."""

    model_config = ConfigDict(extra="forbid")

    idx: int = Field(ge=0)
    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    # For role=tool: the id of the call this answers, and whether the tool raised an error.
    tool_call_id: str | None = None
    tool_error: bool = False
    # Who asked for the tool (agent or user); only meaningful for role=tool.
    requestor: Role | None = None
    timestamp: datetime = Field(default_factory=utcnow)
    usage: Usage | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_tool_call(self) -> bool:
        return bool(self.tool_calls)

    @property
    def text(self) -> str:
        """The visible text of the turn ("" for pure tool calls)."""
        return self.content or ""
