"""Loading τ²-bench tasks as simgap `Task` records."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from simgap.domains.tau2_runtime import registry
from simgap.errors import ConfigError
from simgap.models import Task

# Domains simgap runs. `telecom` is τ²'s telecom with the manual policy (its default).
DOMAINS: tuple[str, ...] = ("airline", "retail", "telecom", "mock")
DEFAULT_SPLIT = "base"


def check_domain(domain: str) -> str:
    if domain not in DOMAINS:
        raise ConfigError(f"unknown domain {domain!r}; choose one of: {', '.join(DOMAINS)}")
    return domain


@cache
def _tau2_tasks(domain: str, split: str | None) -> tuple[Any, ...]:
    loader = registry().get_tasks_loader(domain)
    splits_loader = registry().get_task_splits_loader(domain)
    if splits_loader is None:  # e.g. mock: no splits
        return tuple(loader())
    if split is not None:
        splits = splits_loader()
        if split not in splits:
            raise ConfigError(
                f"domain {domain!r} has no task split {split!r}; splits: {', '.join(splits)}"
            )
    return tuple(loader(split))


def to_task(domain: str, t: Any) -> Task:
    """Flatten a τ² Task into simgap's record (the raw JSON is kept for the evaluator)."""
    scen = t.user_scenario
    ins = scen.instructions
    structured = not isinstance(ins, str)
    ec = t.evaluation_criteria
    return Task(
        domain=domain,
        task_id=str(t.id),
        reason_for_call=ins.reason_for_call if structured else ins,
        known_info=ins.known_info if structured else None,
        unknown_info=ins.unknown_info if structured else None,
        task_instructions=ins.task_instructions if structured else None,
        persona=scen.persona,
        purpose=t.description.purpose if t.description is not None else None,
        expected_actions=[a.model_dump(mode="json") for a in (ec.actions or [])] if ec else [],
        reward_basis=[b.value for b in ec.reward_basis] if ec else [],
        raw=t.model_dump(mode="json"),
    )


def load_tasks(
    domain: str,
    *,
    split: str | None = DEFAULT_SPLIT,
    task_ids: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[Task]:
    """Tasks of a domain, in τ²'s order; `task_ids` picks (and orders) specific ones.

    An unknown task id is an error naming it, never a silent skip.
    """
    check_domain(domain)
    tasks = [to_task(domain, t) for t in _tau2_tasks(domain, split)]
    if task_ids:
        by_id = {t.task_id: t for t in tasks}
        if split is not None and any(i not in by_id for i in task_ids):
            # A task can exist outside the chosen split: look in the full set before failing.
            by_id.update(
                {t.task_id: t for t in (to_task(domain, x) for x in _tau2_tasks(domain, None))}
            )
        missing = [i for i in task_ids if i not in by_id]
        if missing:
            raise ConfigError(
                f"domain {domain!r} has no task(s) {', '.join(map(repr, missing))} "
                f"(split {split!r} has {len(tasks)} tasks)"
            )
        tasks = [by_id[i] for i in task_ids]
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"--tasks must be at least 1, got {limit}")
        tasks = tasks[:limit]
    return tasks


def tau2_task(task: Task) -> Any:
    """The τ² Task object for a simgap Task (rebuilt from the raw JSON)."""
    Task2 = __import__("tau2.data_model.tasks", fromlist=["Task"]).Task
    return Task2.model_validate(task.raw)


def user_scenario_text(task: Task) -> str:
    """Exactly the scenario text τ² gives its own user simulator (`str(task.user_scenario)`)."""
    return str(tau2_task(task).user_scenario)
