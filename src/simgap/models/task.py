"""A task as simgap sees it: a τ²-bench task flattened to what the stages after `domains` need."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Task(BaseModel):
    """A τ²-bench task.

    `raw` keeps τ²'s own JSON so the `domains` stage can rebuild the exact `tau2` Task for the
    environment and the reward evaluator; the other fields are for people and simulators.
    """

    model_config = ConfigDict(extra="forbid")

    domain: str
    task_id: str
    reason_for_call: str | None = None
    known_info: str | None = None
    unknown_info: str | None = None
    task_instructions: str | None = None
    persona: str | None = None
    purpose: str | None = None
    expected_actions: list[dict[str, Any]] = Field(default_factory=list)
    reward_basis: list[str] = Field(default_factory=list)
    raw: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        """Unique across domains: `airline/12`."""
        return f"{self.domain}/{self.task_id}"

    def scenario_text(self) -> str:
        """The user scenario in the same sections τ² gives its user simulator."""
        parts = []
        if self.persona:
            parts.append(f"Persona:\n{self.persona}")
        if self.reason_for_call:
            parts.append(f"Reason for call:\n{self.reason_for_call}")
        if self.known_info:
            parts.append(f"Known info:\n{self.known_info}")
        if self.unknown_info:
            parts.append(f"Unknown info:\n{self.unknown_info}")
        if self.task_instructions:
            parts.append(f"Task instructions:\n{self.task_instructions}")
        return "\n\n".join(parts)
