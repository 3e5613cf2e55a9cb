"""Behavioural codes and style features attached to a user turn or a whole session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from simgap.models.turn import Usage, utcnow

CodeValue = str | list[str] | bool | None


class Annotation(BaseModel):
    """What one annotator said about one user turn (`turn_idx`) or a session (`turn_idx=None`).

    `missing=True` records that the annotator could not give a valid answer (e.g. an LLM kept
    returning malformed JSON): such rows are kept so they are counted, never guessed.
    """

    model_config = ConfigDict(extra="forbid")

    session_id: str
    turn_idx: int | None = None
    annotator: str  # e.g. "rules", "llm:openai/gpt-4o-mini"
    codebook_version: str
    codes: dict[str, CodeValue] = Field(default_factory=dict)
    features: dict[str, float] = Field(default_factory=dict)
    missing: bool = False
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    usage: Usage | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
