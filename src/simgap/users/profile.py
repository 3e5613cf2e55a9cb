"""A behaviour profile: how a customer talks, on the same scale the USI measures it.

Each rate is the probability that one user turn carries a marker of that behaviour, where a
marker is what simgap's USI feature extractor (`simgap.annotate.features`, the paper's
lexicons) counts: a polite phrase for `politeness_rate`, a hedge for `uncertainty_rate`, an
emotion word for `emotion_rate`, and so on. So a profile fitted on people (`fit_profile`) and a
simulator driven by it (`BehaviorSimulator`) meet on the features that are scored, and fitting
the profile back from the simulator's own sessions recovers its parameters (tested).

Questionnaire answers are modelled per field as a normal distribution over the answer's
normalised position in [0, 1] (the scale the Eval dimension uses), clipped and rounded to an
option.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simgap.errors import ConfigError

Rate = float

# Profile field -> the USI feature (simgap.annotate.features) that measures it.
RATE_FEATURES: dict[str, str] = {
    "politeness": "politeness_rate",
    "uncertainty": "uncertainty_rate",
    "certainty": "certainty_rate",
    "emotion": "emotion_rate",
    "accusation": "accusation_rate",
    "clarify_q": "clarify_q_rate",
    "info_q": "info_q_rate",
    "formal_dash": "formality_rate",
}


class AnswerDist(BaseModel):
    """One questionnaire field: mean and spread of the normalised answer position."""

    model_config = ConfigDict(extra="forbid")

    mean: float = Field(ge=0.0, le=1.0)
    sd: float = Field(default=0.15, ge=0.0, le=1.0)


class BehaviorProfile(BaseModel):
    """Parameters of a parametric customer. Rates are per user turn, in [0, 1]."""

    model_config = ConfigDict(extra="forbid")

    name: str = "profile"
    synthetic: bool = True  # a fitted profile of people is still a model of them, not people
    source: str = ""  # what it was fitted on, if fitted
    politeness: Rate = Field(default=0.6, ge=0, le=1)
    uncertainty: Rate = Field(default=0.0, ge=0, le=1)
    certainty: Rate = Field(default=0.05, ge=0, le=1)
    emotion: Rate = Field(default=0.0, ge=0, le=1)
    accusation: Rate = Field(default=0.0, ge=0, le=1)
    clarify_q: Rate = Field(default=0.05, ge=0, le=1)
    info_q: Rate = Field(default=0.1, ge=0, le=1)
    formal_dash: Rate = Field(default=0.0, ge=0, le=1)
    # Probability that the opening message gives the reason and every known detail at once
    # (the paper: simulators front-load, people disclose piecemeal).
    frontload: Rate = Field(default=0.9, ge=0, le=1)
    # Probability that a confirmation is a bare acknowledgement ("ok.", "go ahead.").
    ack_only: Rate = Field(default=0.3, ge=0, le=1)
    # Turns after which the customer ends the chat even if it is not finished.
    max_turns: int = Field(default=8, ge=2, le=100)
    feedback: dict[str, AnswerDist] = Field(default_factory=dict)

    def rates(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in RATE_FEATURES}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> BehaviorProfile:
        p = Path(path)
        try:
            return cls.model_validate_json(p.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"{p}: cannot read profile ({e.strerror})") from None
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(x) for x in err["loc"]) or "(profile)"
            raise ConfigError(f"{p}: field {loc}: {err['msg']}") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"{p}:{e.lineno}: not valid JSON ({e.msg})") from None


def sample_answer_position(dist: AnswerDist, rng: np.random.Generator) -> float:
    return float(np.clip(rng.normal(dist.mean, dist.sd), 0.0, 1.0))


def nearest_option(position: float, values: Sequence[float]) -> int:
    """Index of the option whose normalised value is closest to `position` (ties: first)."""
    lo, hi = min(values), max(values)
    norm = [(v - lo) / (hi - lo) for v in values]
    return int(np.argmin([abs(n - position) for n in norm]))
