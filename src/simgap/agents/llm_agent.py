"""τ²-bench's LLM agent (same system prompt, same tools, same text-or-tool-call protocol) on
any `LLMClient`, so the agent under test can be a hosted model or the embedded one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simgap.agents.base import Agent, AgentReply, agent_view, unique_call_ids
from simgap.domains import tau2_runtime
from simgap.llm.base import ChatRequest, LLMClient
from simgap.models import AgentSpec, Turn


def tau2_agent_system_prompt(policy: str) -> str:
    """τ²'s `LLMAgent.system_prompt`, built from τ²'s own template and instruction."""
    mod = tau2_runtime.module("tau2.agent.llm_agent")
    return str(
        mod.SYSTEM_PROMPT.format(domain_policy=policy, agent_instruction=mod.AGENT_INSTRUCTION)
    )


class LLMAgent(Agent):
    """The reference agent of τ²-bench (`tau2.agent.llm_agent.LLMAgent`) behaviour."""

    def __init__(
        self,
        spec: AgentSpec,
        client: LLMClient,
        *,
        policy: str,
        tools: list[dict[str, Any]],
    ) -> None:
        self.spec = spec
        self.client = client
        self.system_prompt = tau2_agent_system_prompt(policy)
        self.tools = tools

    def request(self, history: Sequence[Turn], *, seed: int | None = None) -> ChatRequest:
        """The model call this agent makes after `history` (also what the study app sends the
        embedded model at start-up, so the long system prompt is already processed)."""
        messages = [{"role": "system", "content": self.system_prompt}, *agent_view(history)]
        return self.client.request(messages, tools=self.tools, seed=seed)

    async def reply(self, history: Sequence[Turn], *, seed: int | None = None) -> AgentReply:
        resp = await self.client.complete(self.request(history, seed=seed))
        calls = unique_call_ids(resp.tool_calls, turn_idx=len(history))
        return AgentReply(
            content=resp.content,
            tool_calls=calls,
            usage=resp.usage,
            meta={"finish_reason": resp.finish_reason} if resp.finish_reason else {},
        )
