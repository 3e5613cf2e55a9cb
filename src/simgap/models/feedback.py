"""The post-interaction questionnaire: its definition (versioned YAML) and one filled-in copy."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from simgap.models.session import UserKind
from simgap.models.turn import Usage, utcnow

Answer = int | str | None


class ItemKind(StrEnum):
    LIKERT = "likert"  # integers from scale_min to scale_max
    ORDINAL = "ordinal"  # ordered labels; normalised by position
    TEXT = "text"  # free text, never scored


class QuestionItem(BaseModel):
    """One question. `field` is the stable key stored in Feedback.answers and used by metrics."""

    model_config = ConfigDict(extra="forbid")

    field: str
    kind: ItemKind
    prompt: str
    scale_min: int | None = None
    scale_max: int | None = None
    low_label: str | None = None
    high_label: str | None = None
    options: list[str] = Field(default_factory=list)  # ordinal: worst/first ... best/last
    # Optional score of each option (same length as `options`) for scales that are not a plain
    # ranking, e.g. the paper's question_amount_preference: "Too many" = "Too few" < "About right".
    option_values: list[float] = Field(default_factory=list)
    scored: bool = True  # counted in the Eval dimension of the USI

    @model_validator(mode="after")
    def _check_scale(self) -> QuestionItem:
        if self.kind == ItemKind.LIKERT and (
            self.scale_min is None or self.scale_max is None or self.scale_max <= self.scale_min
        ):
            raise ValueError(f"item {self.field!r}: likert needs scale_min < scale_max")
        if self.kind == ItemKind.ORDINAL and len(self.options) < 2:
            raise ValueError(f"item {self.field!r}: ordinal needs at least two options")
        if self.option_values and (
            self.kind != ItemKind.ORDINAL
            or len(self.option_values) != len(self.options)
            or max(self.option_values) <= min(self.option_values)
        ):
            raise ValueError(
                f"item {self.field!r}: option_values needs one value per ordinal option, "
                "not all equal"
            )
        if self.kind == ItemKind.TEXT:
            self.scored = False
        return self

    def validate_answer(self, value: Answer) -> Answer:
        """Return the canonical answer or raise ValueError naming the field."""
        if value is None:
            return None
        if self.kind == ItemKind.LIKERT:
            try:
                iv = int(value)
            except (TypeError, ValueError):
                raise ValueError(f"{self.field}: {value!r} is not an integer") from None
            assert self.scale_min is not None and self.scale_max is not None
            if not self.scale_min <= iv <= self.scale_max:
                raise ValueError(
                    f"{self.field}: {iv} is outside {self.scale_min}..{self.scale_max}"
                )
            return iv
        if self.kind == ItemKind.ORDINAL:
            if value not in self.options:
                raise ValueError(f"{self.field}: {value!r} is not one of {self.options}")
            return value
        return str(value)

    def normalise(self, value: Answer) -> float | None:
        """Map an answer to [0, 1] by scale position, as Eval needs; None if missing."""
        if value is None or self.kind == ItemKind.TEXT:
            return None
        if self.kind == ItemKind.LIKERT:
            assert self.scale_min is not None and self.scale_max is not None
            return (int(value) - self.scale_min) / (self.scale_max - self.scale_min)
        pos = self.options.index(str(value))
        if self.option_values:
            lo, hi = min(self.option_values), max(self.option_values)
            return (self.option_values[pos] - lo) / (hi - lo)
        return pos / (len(self.options) - 1)


class Questionnaire(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    source: str  # where the items come from (paper section, or "project definition")
    items: list[QuestionItem]

    @property
    def scored_items(self) -> list[QuestionItem]:
        return [i for i in self.items if i.scored]

    def item(self, field: str) -> QuestionItem:
        for it in self.items:
            if it.field == field:
                return it
        raise KeyError(f"questionnaire {self.name}@{self.version} has no field {field!r}")

    def validate_answers(self, answers: dict[str, Answer]) -> dict[str, Answer]:
        known = {i.field for i in self.items}
        unknown = sorted(set(answers) - known)
        if unknown:
            raise ValueError(f"unknown questionnaire field(s): {', '.join(unknown)}")
        return {i.field: i.validate_answer(answers.get(i.field)) for i in self.items}


@cache
def load_questionnaire(name: str = "usi") -> Questionnaire:
    """Load a questionnaire shipped in `simgap/models/data/questionnaire_<name>.yaml`."""
    path = resources.files("simgap.models").joinpath(f"data/questionnaire_{name}.yaml")
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Questionnaire.model_validate(data)


class Feedback(BaseModel):
    """One filled-in questionnaire for one session, from the person or the simulator in it."""

    model_config = ConfigDict(extra="forbid")

    session_id: str
    respondent_kind: UserKind
    respondent_id: str
    questionnaire: str = "usi"
    questionnaire_version: str = "1"
    answers: dict[str, Answer] = Field(default_factory=dict)
    free_text: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    usage: Usage | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
