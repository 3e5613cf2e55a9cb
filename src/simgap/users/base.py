"""What a user simulator is given and what it must answer."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from simgap.models import Role, Termination, ToolCall, Turn, Usage

if TYPE_CHECKING:
    from simgap.users.registry import UserContext

# τ²'s user-simulator control tokens (tau2.user.base) and what simgap records for each.
STOP_TOKENS: dict[str, Termination] = {
    "###STOP###": Termination.USER_STOP,
    "###TRANSFER###": Termination.TRANSFER,
    "###OUT-OF-SCOPE###": Termination.OUT_OF_SCOPE,
}


def detect_stop(text: str | None) -> Termination | None:
    """The termination a user message asks for, if it carries one of τ²'s control tokens."""
    if not text:
        return None
    for token, term in STOP_TOKENS.items():
        if token in text:
            return term
    return None


def strip_control_tokens(text: str) -> str:
    """The words a person would have seen: control tokens removed (for features and display)."""
    for token in STOP_TOKENS:
        text = text.replace(token, "")
    return text.strip()


class UserReply(BaseModel):
    """One user step: words for the agent (possibly ending the chat), or calls to user tools."""

    model_config = ConfigDict(extra="forbid")

    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def stop(self) -> Termination | None:
        return None if self.tool_calls else detect_stop(self.content)


class UserSimulator(ABC):
    """A simulated customer for one session (it holds that session's scenario).

    A plugin simulator (docs/plugins.md) subclasses this, takes a `UserContext` in `__init__`
    (or overrides `for_session`) and implements `reply`. Class attributes `synthetic = True`
    (a non-LLM stand-in, labelled so everywhere) and `family` describe it on leaderboards.
    """

    name: str
    synthetic: bool = False
    family: str = "plugin"

    @classmethod
    def for_session(cls, ctx: UserContext) -> UserSimulator:
        """The simulator of one session (plugins: `cls(ctx)` unless overridden)."""
        sim = cls(ctx)  # type: ignore[call-arg]
        if not hasattr(sim, "name"):
            sim.name = ctx.preset.name if ctx.preset is not None else cls.__name__
        return sim

    @abstractmethod
    async def reply(self, history: Sequence[Turn], *, seed: int | None = None) -> UserReply:
        """Next user step given the transcript so far (the simulator sees only its own view)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release per-session resources."""


def user_view(history: Sequence[Turn]) -> list[dict[str, Any]]:
    """The transcript from the customer's side, roles flipped as in τ²'s `UserState.flip_roles`.

    The simulator's model plays `assistant`; the agent's text messages become `user` messages.
    Agent tool calls and their results are invisible to the customer.
    """
    out: list[dict[str, Any]] = []
    for t in history:
        if t.role == Role.AGENT:
            if t.tool_calls:
                continue
            out.append({"role": "user", "content": t.content or ""})
        elif t.role == Role.USER:
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
        elif t.requestor == Role.USER:
            out.append({"role": "tool", "tool_call_id": t.tool_call_id, "content": t.content or ""})
    return out
