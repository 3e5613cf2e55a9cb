"""τ²-bench's own user simulator (prompt, guidelines, stop tokens) on any `LLMClient`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simgap.agents.base import unique_call_ids
from simgap.domains import tau2_runtime
from simgap.llm.base import LLMClient
from simgap.models import Turn
from simgap.users.base import UserReply, UserSimulator, user_view


def tau2_user_system_prompt(scenario: str, *, with_tools: bool) -> str:
    """τ²'s `UserSimulator.system_prompt`: its guidelines file plus the task's scenario."""
    mod = tau2_runtime.module("tau2.user.user_simulator")
    guidelines = mod.get_global_user_sim_guidelines(use_tools=with_tools)
    return str(
        mod.SYSTEM_PROMPT.format(global_user_sim_guidelines=guidelines, instructions=scenario)
    )


class Tau2UserSimulator(UserSimulator):
    """Same behaviour as `tau2.user.user_simulator.UserSimulator`, async and on our LLM layer.

    `extra_instructions` lets presets (persona, grounded...) add to τ²'s prompt without
    rewriting it: they are appended after the scenario.
    """

    def __init__(
        self,
        name: str,
        client: LLMClient,
        *,
        scenario: str,
        tools: list[dict[str, Any]] | None = None,
        extra_instructions: str | None = None,
    ) -> None:
        self.name = name
        self.client = client
        self.tools = tools or None
        prompt = tau2_user_system_prompt(scenario, with_tools=bool(tools))
        if extra_instructions:
            prompt = f"{prompt}\n\n{extra_instructions.strip()}"
        self.system_prompt = prompt

    async def reply(self, history: Sequence[Turn], *, seed: int | None = None) -> UserReply:
        messages = [{"role": "system", "content": self.system_prompt}, *user_view(history)]
        resp = await self.client.complete(
            self.client.request(messages, tools=self.tools, seed=seed)
        )
        return UserReply(
            content=resp.content,
            tool_calls=unique_call_ids(resp.tool_calls, turn_idx=len(history)),
            usage=resp.usage,
        )
