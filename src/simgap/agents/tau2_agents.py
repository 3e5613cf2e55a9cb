"""τ²-bench's own registered agents, run inside simgap's session driver.

* `llm_agent`: τ²'s `LLMAgent` (simgap's `LLMAgent`: same prompt, tools and protocol).
* `llm_agent_gt`: τ²'s `LLMGTAgent`, the gold-informed LLM agent τ² uses to check its user
  simulators: its system prompt (τ²'s own template, instruction and resolution steps, built by
  τ²'s `make_agent_instructions_from_actions` with the function arguments, as τ² does by
  default) on any simgap model client, so it gets simgap's cache, rate limits and the
  embedded model. τ² runs it only on tasks with gold actions; so does simgap.
* `llm_agent_solo`: τ²'s `LLMSoloAgent` works a ticket with no customer. Only τ²'s telecom
  and mock tasks have tickets (airline and retail have none), and simgap's driver runs
  conversations with a customer, so simgap refuses it with one line naming the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from simgap.agents.base import Agent, AgentReply, agent_view, unique_call_ids
from simgap.domains import DomainEnvironment, tau2_runtime
from simgap.domains.tasks import tau2_task
from simgap.llm.base import LLMClient
from simgap.models import AgentSpec, Task, Turn


def gt_problem(task: Task) -> str | None:
    """τ²'s `LLMGTAgent.check_valid_task`: the task needs at least one gold action."""
    mod = tau2_runtime.module("tau2.agent.llm_agent")
    if mod.LLMGTAgent.check_valid_task(tau2_task(task)):
        return None
    return f"agent llm_agent_gt: task {task.key} has no gold action (τ² skips such tasks too)"


def solo_problem(task: Task) -> str | None:
    """Why τ²'s solo agent cannot run `task` here."""
    mod = tau2_runtime.module("tau2.agent.llm_agent")
    if not mod.LLMSoloAgent.check_valid_task(tau2_task(task)):
        return (
            f"agent llm_agent_solo: task {task.key} has no ticket; τ²'s solo agent runs only "
            "tasks with one (telecom, mock)"
        )
    return (
        f"agent llm_agent_solo: task {task.key}: τ²'s solo mode (no customer) is not run by "
        "simgap's session driver, which measures conversations with a customer"
    )


def gt_system_prompt(policy: str, task: Task) -> str:
    """τ²'s `LLMGTAgent.system_prompt`, from τ²'s own template, instruction and steps."""
    mod = tau2_runtime.module("tau2.agent.llm_agent")
    actions = tau2_task(task).evaluation_criteria.actions or []
    steps = "\n".join(
        f"[Step {i + 1}] "
        + mod.LLMGTAgent.make_agent_instructions_from_action(action=a, include_function_args=True)
        for i, a in enumerate(actions)
    )
    return str(
        mod.SYSTEM_PROMPT_GT.format(
            agent_instruction=mod.AGENT_GT_INSTRUCTION,
            domain_policy=policy,
            resolution_steps=steps,
        )
    )


class GTAgent(Agent):
    """τ²'s `LLMGTAgent` behaviour on a simgap model client."""

    def __init__(self, spec: AgentSpec, client: LLMClient, env: DomainEnvironment) -> None:
        problem = gt_problem(env.task)
        if problem is not None:
            from simgap.errors import ConfigError

            raise ConfigError(problem)
        self.spec = spec
        self.client = client
        self.system_prompt = gt_system_prompt(env.policy, env.task)
        self.tools = env.agent_tools()

    async def reply(self, history: Sequence[Turn], *, seed: int | None = None) -> AgentReply:
        messages = [{"role": "system", "content": self.system_prompt}, *agent_view(history)]
        resp = await self.client.complete(
            self.client.request(messages, tools=self.tools, seed=seed)
        )
        return AgentReply(
            content=resp.content,
            tool_calls=unique_call_ids(resp.tool_calls, turn_idx=len(history)),
            usage=resp.usage,
            meta={"finish_reason": resp.finish_reason} if resp.finish_reason else {},
        )


__all__ = ["GTAgent", "gt_problem", "gt_system_prompt", "solo_problem"]
