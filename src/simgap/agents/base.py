"""The agent under test: what it is given and what it must answer."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from simgap.models import AgentSpec, Role, Task, ToolCall, Turn, Usage

if TYPE_CHECKING:
    from simgap.domains import DomainEnvironment
    from simgap.llm.base import LLMClient

STOP_TOKEN = "###STOP###"


class AgentReply(BaseModel):
    """One agent step: text for the user, or tool calls for the environment (τ² protocol)."""

    model_config = ConfigDict(extra="forbid")

    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    meta: dict[str, Any] = Field(default_factory=dict)


@dataclass
class AgentContext:
    """Everything an agent may use for one session."""

    spec: AgentSpec  # its name (and model, settings) as stored with the session
    client: LLMClient | None  # the model client (None for agents that need no model)
    env: DomainEnvironment  # the session's τ² environment (its tools run through the driver)
    task: Task  # the τ² task (scenario included: an agent under test should not read it)

    @property
    def policy(self) -> str:
        return self.env.policy

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The agent's tools as OpenAI function schemas (τ²'s own)."""
        return self.env.agent_tools()


class Agent(ABC):
    """An agent for one session (it holds that session's policy and tools).

    A plugin agent (docs/plugins.md) subclasses this, takes an `AgentContext` in `__init__`
    (or overrides `for_session`), implements `reply`, and sets `needs_model = False` when it
    calls no model.
    """

    spec: AgentSpec
    needs_model: bool = True

    @classmethod
    def for_session(cls, ctx: AgentContext) -> Agent:
        """The agent of one session (plugins: `cls(ctx)` unless overridden)."""
        agent = cls(ctx)  # type: ignore[call-arg]
        if not hasattr(agent, "spec"):
            agent.spec = ctx.spec
        return agent

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
