"""Named agents. An entry builds the agent for one session from its spec, model client and the
session's domain environment (policy + tools).

Names resolve in this order: the built-in registry (`llm`, `probe`, and τ²'s own registered
agents `llm_agent`, `llm_agent_gt`, `llm_agent_solo`), then installed `simgap.agents` entry
points, then an import path `package.module:ClassName` (see `simgap.plugins`).
"""

from __future__ import annotations

from collections.abc import Callable

from simgap.agents.base import Agent, AgentContext
from simgap.agents.llm_agent import LLMAgent
from simgap.domains import DomainEnvironment
from simgap.errors import ConfigError
from simgap.llm.base import LLMClient
from simgap.models import AgentSpec, Task
from simgap.plugins import AGENT_GROUP, entry_point_names, is_plugin_ref, load_class

AgentBuilder = Callable[[AgentSpec, LLMClient | None, DomainEnvironment], Agent]
TaskCheck = Callable[[Task], str | None]  # None when the agent can run the task, else why not

_AGENTS: dict[str, AgentBuilder] = {}
_MODEL_FREE: set[str] = set()
_TASK_CHECKS: dict[str, TaskCheck] = {}


def register_agent(
    name: str,
    builder: AgentBuilder,
    *,
    needs_model: bool = True,
    task_check: TaskCheck | None = None,
) -> None:
    """Add a named agent. `needs_model=False` for agents that call no model (the runner then
    builds no model client for them); `task_check` says which tasks the agent cannot run."""
    if name in _AGENTS:
        raise ConfigError(f"agent {name!r} is already registered")
    _AGENTS[name] = builder
    if not needs_model:
        _MODEL_FREE.add(name)
    if task_check is not None:
        _TASK_CHECKS[name] = task_check


def agent_names() -> list[str]:
    """Registered names, then installed entry points."""
    return sorted(_AGENTS) + [n for n in entry_point_names(AGENT_GROUP) if n not in _AGENTS]


def is_agent_name(name: str) -> bool:
    """Whether `name` names an agent (registered, entry point or import path), not a model."""
    return name in _AGENTS or is_plugin_ref(AGENT_GROUP, name)


def plugin_class(name: str) -> type[Agent]:
    cls: type[Agent] = load_class(name, what="agent", group=AGENT_GROUP, base=Agent)
    return cls


def check_agent(name: str) -> None:
    """Raise the one-line error a bad agent name or plugin would raise at its first session."""
    if name in _AGENTS:
        return
    if not is_plugin_ref(AGENT_GROUP, name):
        raise ConfigError(f"unknown agent {name!r}; registered: {', '.join(agent_names())}")
    plugin_class(name)


def agent_needs_model(name: str) -> bool:
    if name in _AGENTS:
        return name not in _MODEL_FREE
    return bool(plugin_class(name).needs_model)


def task_problem(name: str, task: Task) -> str | None:
    """Why agent `name` cannot run `task` (τ²'s own rule for its GT and solo agents), or None."""
    check = _TASK_CHECKS.get(name)
    return None if check is None else check(task)


def build_agent(spec: AgentSpec, client: LLMClient | None, env: DomainEnvironment) -> Agent:
    builder = _AGENTS.get(spec.name)
    if builder is not None:
        return builder(spec, client, env)
    check_agent(spec.name)
    return plugin_class(spec.name).for_session(AgentContext(spec, client, env, env.task))


def _build_llm(spec: AgentSpec, client: LLMClient | None, env: DomainEnvironment) -> Agent:
    if client is None:
        raise ConfigError(f"agent {spec.name!r} needs a model")
    return LLMAgent(spec, client, policy=env.policy, tools=env.agent_tools())


def _build_probe(spec: AgentSpec, client: LLMClient | None, env: DomainEnvironment) -> Agent:
    from simgap.agents.probe import ProbeAgent
    from simgap.agents.probe_plan import make_plan

    return ProbeAgent(spec, make_plan(env.task, env.tool_kinds(), env.policy))


def _build_gt(spec: AgentSpec, client: LLMClient | None, env: DomainEnvironment) -> Agent:
    from simgap.agents.tau2_agents import GTAgent

    if client is None:
        raise ConfigError(f"agent {spec.name!r} needs a model")
    return GTAgent(spec, client, env)


def _build_solo(spec: AgentSpec, client: LLMClient | None, env: DomainEnvironment) -> Agent:
    from simgap.agents.tau2_agents import solo_problem

    raise ConfigError(
        solo_problem(env.task) or f"agent {spec.name}: τ²'s solo mode is not run by simgap"
    )


def _gt_check(task: Task) -> str | None:
    from simgap.agents.tau2_agents import gt_problem

    return gt_problem(task)


def _solo_check(task: Task) -> str | None:
    from simgap.agents.tau2_agents import solo_problem

    return solo_problem(task)


register_agent("llm", _build_llm)
register_agent("llm_agent", _build_llm)  # τ²'s name for the same agent (tau2.agent.LLMAgent)
register_agent("llm_agent_gt", _build_gt, task_check=_gt_check)
register_agent("llm_agent_solo", _build_solo, task_check=_solo_check)
register_agent("probe", _build_probe, needs_model=False)
