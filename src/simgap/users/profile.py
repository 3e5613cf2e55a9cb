"""A behaviour profile: how a customer talks, on the scales simgap's annotator measures.

The parametric simulator (`behavior.py`) draws every user turn from a profile, and the fitter
(`simgap.annotate.profile_fit`) estimates a profile from transcripts with the USI lexicons and
the rule-based codebook. Each parameter is defined by what the annotator can see, so a profile
fitted on people and a simulator driven by it meet on the features that are scored, and
fitting the simulator's own sessions gives its parameters back (tested).

Three kinds of parameters:

* **markers** (`MARKERS`): the probability that one *decorated* user turn (more than three
  words: not a bare acknowledgement or a bare detail) carries the marker, e.g. a polite phrase
  (the USI's `politeness_rate` lexicon) or casual writing (the codebook's `informality`);
* **moves**: how the customer discloses and answers: all details in the opening
  (`frontload`), bare answers to a request for a detail (`terse`), bare acknowledgements of a
  proposal (`ack_only`), long turns (`elaborate`), refusals to give a detail (`withhold`), and
  the reaction after an agent error or refusal (`on_error`, the codebook's `error_reaction`);
* **when it ends** (`max_turns`) and how it rates the agent (`feedback`: per questionnaire
  field, a normal over the normalised answer position in [0, 1], the scale Eval uses).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simgap.errors import ConfigError
from simgap.models import ItemKind, Questionnaire

Rate = float
PROFILE_VERSION = 2

# Marker parameters in the order the simulator draws them (changing it changes sessions).
MARKERS: tuple[str, ...] = (
    "emotion",
    "formal_dash",
    "self_correction",
    "uncertainty",
    "vague",
    "certainty",
    "accusation",
    "politeness",
    "clarify_q",
    "info_q",
    "confirm_q",
    "informal",
)
QUESTION_MARKERS = frozenset({"clarify_q", "info_q", "confirm_q"})  # never on a leaving turn
MOVES: tuple[str, ...] = ("frontload", "terse", "ack_only", "elaborate", "withhold")
ERROR_REACTIONS: tuple[str, ...] = (
    "pushes_back",
    "repeats_request",
    "pivots",
    "gives_up",
    "escalates",
)


def _rate(default: float, what: str) -> float:
    return Field(default=default, ge=0.0, le=1.0, description=what)


class ErrorReactions(BaseModel):
    """What the customer does right after the agent apologises, refuses or fails.

    Probabilities of the codebook's `error_reaction` values; the rest ("none") carries on as
    if nothing happened. Each value is recognised by the annotator's lexicon of the same name.
    """

    model_config = ConfigDict(extra="forbid")

    pushes_back: Rate = _rate(0.0, "asks 'are you sure?' / 'that can't be right'")
    repeats_request: Rate = _rate(0.0, "repeats the request: 'like I said, ...'")
    pivots: Rate = _rate(0.0, "changes course: 'what about another option instead?'")
    gives_up: Rate = _rate(0.0, "gives up and ends the chat: 'forget it'")
    escalates: Rate = _rate(0.0, "asks for a human agent or a supervisor")

    @model_validator(mode="after")
    def _at_most_one(self) -> ErrorReactions:
        if self.total() > 1.0 + 1e-9:
            raise ValueError(f"error reaction probabilities sum to {self.total():.3f} > 1")
        return self

    def total(self) -> float:
        return float(sum(getattr(self, k) for k in ERROR_REACTIONS))

    def draw(self, u: float) -> str:
        """The reaction for a uniform draw `u` in [0, 1): cumulative in `ERROR_REACTIONS`."""
        acc = 0.0
        for k in ERROR_REACTIONS:
            acc += float(getattr(self, k))
            if u < acc:
                return k
        return "none"


class AnswerDist(BaseModel):
    """One questionnaire field: mean and spread of the normalised answer position."""

    model_config = ConfigDict(extra="forbid")

    mean: float = Field(ge=0.0, le=1.0)
    sd: float = Field(default=0.15, ge=0.0, le=1.0)


class BehaviorProfile(BaseModel):
    """Parameters of a parametric customer (defaults: a cooperative, polite customer)."""

    model_config = ConfigDict(extra="forbid")

    version: int = PROFILE_VERSION
    name: str = "profile"
    synthetic: bool = True  # a profile fitted on people is a model of them, never people
    source: str = ""  # what it was fitted on, if fitted
    n_sessions: int = 0  # how many sessions it was fitted on (0: hand-written)

    # -- markers: P(a decorated turn carries it) -------------------------------------------
    politeness: Rate = _rate(0.5, "please / thank you (USI politeness_rate lexicon)")
    uncertainty: Rate = _rate(0.0, "a hedge: 'I think', 'not sure' (USI uncertainty_rate)")
    certainty: Rate = _rate(0.05, "'definitely', 'of course' (USI certainty_rate)")
    emotion: Rate = _rate(0.0, "frustration or worry: 'I am frustrated' (USI emotion_rate)")
    accusation: Rate = _rate(0.0, "blame: 'this is unacceptable' (USI accusation_rate)")
    clarify_q: Rate = _rate(0.05, "'what do you mean?' (USI clarify_q_rate lexicon)")
    info_q: Rate = _rate(0.1, "'how long will it take?' (USI info_q_rate lexicon)")
    confirm_q: Rate = _rate(0.05, "'just to be clear, ...?' (codebook asks_confirmation)")
    formal_dash: Rate = _rate(0.0, "an em dash, the paper's formality marker (formality_rate)")
    vague: Rate = _rate(0.0, "'or something like that' (codebook vague, beyond hedges)")
    informal: Rate = _rate(0.0, "lowercase, 'im', 'hey', 'ok so' (codebook informality)")
    self_correction: Rate = _rate(0.0, "'wait, no, I meant ...' (codebook self_correction)")

    # -- moves ------------------------------------------------------------------------------
    frontload: Rate = _rate(0.9, "the opening gives the reason and every known detail")
    terse: Rate = _rate(0.0, "a requested detail is given bare ('emma_kim_9957')")
    ack_only: Rate = _rate(0.1, "a proposal is accepted with a bare 'ok.' / 'yes.'")
    elaborate: Rate = _rate(0.2, "a decorated turn runs long (> 30 words) with context")
    withhold: Rate = _rate(0.0, "a requested detail is first refused ('I prefer not to ...')")
    on_error: ErrorReactions = Field(default_factory=ErrorReactions)

    # -- ending and ratings -----------------------------------------------------------------
    max_turns: int = Field(default=10, ge=2, le=100, description="ends the chat by then")
    feedback: dict[str, AnswerDist] = Field(default_factory=dict)

    def markers(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in MARKERS}

    def moves(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in MOVES}

    def summary(self) -> str:
        """One line with every rate, for the CLI."""
        parts = [f"{k} {v:.2f}" for k, v in {**self.markers(), **self.moves()}.items()]
        err = ", ".join(f"{k} {getattr(self.on_error, k):.2f}" for k in ERROR_REACTIONS)
        return f"{', '.join(parts)}; on error: {err}; max_turns {self.max_turns}"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> BehaviorProfile:
        """Read a profile JSON; errors name the file and the field."""
        p = Path(path)
        try:
            return cls.model_validate_json(p.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"{p}: cannot read profile ({e.strerror})") from None
        except ValidationError as e:
            err = e.errors()[0]
            if err["type"] == "json_invalid":
                raise ConfigError(f"{p}: not valid JSON ({err['msg']})") from None
            loc = ".".join(str(x) for x in err["loc"]) or "(profile)"
            raise ConfigError(f"{p}: field {loc}: {err['msg']}") from None
        except json.JSONDecodeError as e:  # pragma: no cover - pydantic reports it above
            raise ConfigError(f"{p}:{e.lineno}: not valid JSON ({e.msg})") from None


DEFAULT_ANSWER = AnswerDist(mean=0.8, sd=0.15)  # a field the profile says nothing about


def nearest_option(position: float, values: Sequence[float]) -> int:
    """Index of the option whose normalised value is closest to `position` (ties: first)."""
    lo, hi = min(values), max(values)
    norm = [(v - lo) / (hi - lo) for v in values]
    return int(np.argmin([abs(n - position) for n in norm]))


def sample_answers(
    profile: BehaviorProfile, q: Questionnaire, seed: int | None
) -> dict[str, int | str]:
    """Questionnaire answers drawn from the profile (seeded by the session, so reruns agree).

    Each scored field: a position ~ Normal(mean, sd) clipped to [0, 1], then the option whose
    normalised value is nearest (Likert points or ordinal order values, as Eval normalises).
    """
    rng = np.random.default_rng([seed or 0, 7])
    out: dict[str, int | str] = {}
    for item in q.scored_items:
        dist = profile.feedback.get(item.field, DEFAULT_ANSWER)
        pos = float(np.clip(rng.normal(dist.mean, dist.sd), 0.0, 1.0))
        if item.kind == ItemKind.LIKERT:
            assert item.scale_min is not None and item.scale_max is not None
            options: list[int | str] = list(range(item.scale_min, item.scale_max + 1))
            values = [float(v) for v in range(item.scale_min, item.scale_max + 1)]
        else:
            options = list(item.options)
            values = [float(v) for v in item.option_values] or [
                float(i) for i in range(len(options))
            ]
        value = item.validate_answer(options[nearest_option(pos, values)])
        assert value is not None
        out[item.field] = value
    return out
