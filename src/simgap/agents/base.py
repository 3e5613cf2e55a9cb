"""The agent under test: what it is given and what it must answer."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from simgap.models import AgentSpec, Role, ToolCall, Turn, Usage

STOP_TOKEN = "###STOP###"


class AgentReply(BaseModel):
    """One agent step: text for the user, or tool calls for the environment (τ² protocol)."""

    model_config = ConfigDict(extra="forbid")

    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    meta: dict[str, Any] = Field(default_factory=dict)


class Agent(ABC):
    """An agent for one session (it holds that session's policy and tools)."""

    spec: AgentSpec

    @abstractmethod
    async def reply(self, history: Sequence[Turn], *, seed: int | None = None) -> AgentReply:
        """Next agent step given the whole transcript so far."""

    def is_stop(self, reply: AgentReply) -> bool:
        """Whether this reply ends the conversation (`agent_stop`). As τ²'s `BaseAgent.is_stop`,
        never by default: τ²'s `LLMAgent` does not end a conversation, whatever it says
        (`###STOP###` included); only the user, a limit or an error does. An agent class may
        override it, as τ²'s solo agent does with `STOP_TOKEN`."""
        return False

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release per-session resources."""


def agent_view(history: Sequence[Turn]) -> list[dict[str, Any]]:
    """The transcript as the agent's model sees it (OpenAI chat format).

    As in τ² (`is_valid_agent_history_message`), the agent sees the user's words, its own
    messages and tool calls, and results of its own calls; never the user's own tool use.
    """
    out: list[dict[str, Any]] = []
    for t in history:
        if t.role == Role.USER:
            if t.tool_calls:
                continue
            out.append({"role": "user", "content": t.content or ""})
        elif t.role == Role.AGENT:
            msg: dict[str, Any] = {"role": "assistant", "content": t.content}
            if t.tool_calls:
                msg["tool_calls"] = [
                    {
                        "id": tc.id,
                        "type": "function",
                        "function": {
                            "name": tc.name,
                            "arguments": tc.raw_arguments
                            if tc.raw_arguments is not None
                            else json.dumps(tc.arguments),
                        },
                    }
                    for tc in t.tool_calls
                ]
            out.append(msg)
        elif t.requestor != Role.USER:
            out.append({"role": "tool", "tool_call_id": t.tool_call_id, "content": t.content or ""})
    return out


def unique_call_ids(calls: Sequence[ToolCall], *, turn_idx: int) -> list[ToolCall]:
    """Give every call an id unique within the session (small models often omit or repeat them)."""
    seen: set[str] = set()
    out: list[ToolCall] = []
    for k, tc in enumerate(calls):
        cid = tc.id
        if not cid or cid in seen:
            cid = f"call_{turn_idx}_{k}"
        seen.add(cid)
        out.append(tc.model_copy(update={"id": cid}))
    return out
