"""Named agents. An entry builds the agent for one session from its spec, model client and the
session's domain environment (policy + tools)."""

from __future__ import annotations

from collections.abc import Callable

from simgap.agents.base import Agent
from simgap.agents.llm_agent import LLMAgent
from simgap.domains import DomainEnvironment
from simgap.errors import ConfigError
from simgap.llm.base import LLMClient
from simgap.models import AgentSpec

AgentBuilder = Callable[[AgentSpec, LLMClient, DomainEnvironment], Agent]

_AGENTS: dict[str, AgentBuilder] = {}


def register_agent(name: str, builder: AgentBuilder) -> None:
    if name in _AGENTS:
        raise ConfigError(f"agent {name!r} is already registered")
    _AGENTS[name] = builder


def agent_names() -> list[str]:
    return sorted(_AGENTS)


def build_agent(spec: AgentSpec, client: LLMClient, env: DomainEnvironment) -> Agent:
    try:
        builder = _AGENTS[spec.name]
    except KeyError:
        raise ConfigError(
            f"unknown agent {spec.name!r}; registered: {', '.join(agent_names())}"
        ) from None
    return builder(spec, client, env)


register_agent(
    "llm",
    lambda spec, client, env: LLMAgent(spec, client, policy=env.policy, tools=env.agent_tools()),
)


def _build_probe(spec: AgentSpec, client: LLMClient, env: DomainEnvironment) -> Agent:
    from simgap.agents.probe import ProbeAgent
    from simgap.agents.probe_plan import make_plan

    return ProbeAgent(spec, make_plan(env.task, env.tool_kinds(), env.policy))


register_agent("probe", _build_probe)
