"""The agent under test: τ²-bench's LLM agent behaviour, τ²'s other registered agents, the
`probe` instrument (docs/probe.md), plugins (docs/plugins.md), and a registry of named agents."""

from simgap.agents.base import STOP_TOKEN, Agent, AgentContext, AgentReply, agent_view
from simgap.agents.llm_agent import LLMAgent, tau2_agent_system_prompt
from simgap.agents.registry import agent_names, build_agent, register_agent

__all__ = [
    "STOP_TOKEN",
    "Agent",
    "AgentContext",
    "AgentReply",
    "LLMAgent",
    "agent_names",
    "agent_view",
    "build_agent",
    "register_agent",
    "tau2_agent_system_prompt",
]
