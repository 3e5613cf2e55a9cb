"""What the probe agent knows about a task: the gold steps and, for each, what the customer
must have said before the step may run.

The plan is made from τ²'s evaluation criteria (the gold actions, the information to
communicate) and the domain's tool types. The task's user scenario is used for one thing
only: deciding which gold argument values are the customer's to give (those the scenario
holds, matched after `disclosure.normalise`). The plan keeps those values, never the scenario's
words, and the agent is built from the plan alone: it cannot quote the scenario, it can only
check that the customer said a value it was going to use.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from simgap.agents.disclosure import normalise, said, value_text
from simgap.errors import ConfigError
from simgap.models import Task


@dataclass(frozen=True)
class Needed:
    """One value of a gold step the customer must have said: where it goes and what it is."""

    path: str  # argument path, e.g. "passengers[1].first_name"
    value: str  # canonical text (`disclosure.value_text`)
    thing: str  # what to ask for, e.g. "name", "user_id", "address", "passenger 2 name"


@dataclass(frozen=True)
class Step:
    """One gold action, in τ²'s order."""

    index: int
    name: str
    arguments: dict[str, Any]
    kind: str  # τ² tool type: read, write, think, generic
    needed: tuple[Needed, ...] = ()

    @property
    def writes(self) -> bool:
        return self.kind == "write"

    @property
    def transfers(self) -> bool:
        return self.name == "transfer_to_human_agents"

    def missing(self, disclosed: str) -> list[Needed]:
        """The needed values not in `disclosed` (normalised customer text), in order."""
        return [n for n in self.needed if not said(n.value, disclosed)]


@dataclass(frozen=True)
class ProbePlan:
    """Everything the probe agent may use: gold steps, information to communicate, policy."""

    task_key: str
    steps: tuple[Step, ...]
    communicate: tuple[str, ...] = ()
    policy: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def gated_values(self) -> int:
        return sum(len(s.needed) for s in self.steps)


# Argument names grouped into one thing to ask for (asked together, in one question).
_ADDRESS_FIELDS = frozenset({"address1", "address2", "city", "state", "country", "zip"})
_ADDRESS_TOOLS = frozenset({"modify_pending_order_address", "modify_user_address"})
_NAME_FIELDS = frozenset({"first_name", "last_name"})


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def thing_of(tool: str, path: str) -> str:
    """The thing a value is asked for by: `user_id`, `name`, `address`, `passenger 2 dob`…"""
    last = re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])
    m = re.match(r"passengers\[(\d+)\]", path)
    if m:
        who = f"passenger {int(m.group(1)) + 1}"
        return f"{who} name" if last in _NAME_FIELDS else f"{who} {last}"
    if tool in _ADDRESS_TOOLS and last in _ADDRESS_FIELDS:
        return "address"
    if last in _NAME_FIELDS:
        return "name"
    if re.match(r"payment_methods\[\d+\]", path):
        return "payment"
    return last


def scenario_text(task: Task) -> str:
    """The parts of the scenario a customer knows (reason, known info, instructions)."""
    parts = (task.reason_for_call, task.known_info, task.task_instructions)
    return normalise(" ".join(p for p in parts if p))


def customer_values(task: Task, tool: str, arguments: dict[str, Any]) -> tuple[Needed, ...]:
    """The argument values of one gold action that come from the customer's scenario."""
    known = scenario_text(task)
    out: list[Needed] = []
    seen: set[tuple[str, str]] = set()
    for path, raw in _leaves(arguments):
        canon = value_text(raw)
        if canon is None or not said(canon, known):
            continue
        thing = thing_of(tool, path)
        if (thing, canon) in seen:
            continue
        seen.add((thing, canon))
        out.append(Needed(path=path, value=canon, thing=thing))
    return tuple(out)


def make_plan(task: Task, tool_kinds: dict[str, str], policy: str = "") -> ProbePlan:
    """The probe's plan for `task`; `tool_kinds` maps the agent's tools to τ²'s tool types."""
    criteria = task.raw.get("evaluation_criteria") or {}
    steps: list[Step] = []
    for i, action in enumerate(criteria.get("actions") or []):
        requestor = action.get("requestor", "assistant")
        name = str(action["name"])
        if requestor != "assistant":
            raise ConfigError(
                f"agent probe: task {task.key} has a gold action for the customer to perform "
                f"({name}); the probe agent runs tasks whose gold actions are all the agent's "
                "(airline, retail)"
            )
        if name not in tool_kinds:
            raise ConfigError(f"agent probe: task {task.key}: gold action {name!r} is not a tool")
        args = dict(action.get("arguments") or {})
        steps.append(
            Step(
                index=i,
                name=name,
                arguments=args,
                kind=tool_kinds[name],
                needed=customer_values(task, name, args),
            )
        )
    info = tuple(str(x) for x in criteria.get("communicate_info") or [])
    return ProbePlan(task_key=task.key, steps=tuple(steps), communicate=info, policy=policy)


__all__ = ["Needed", "ProbePlan", "Step", "customer_values", "make_plan", "thing_of"]
